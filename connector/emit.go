package connector

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/protocol"
)

// emitter is the one writer of a read. Its lock makes "write a window's
// records, move the cursor, emit the state" one step, so no STATE can
// overtake the records it covers, however many partitions run at once.
type emitter struct {
	mu      sync.Mutex
	w       protocol.Writer
	now     func() time.Time
	counts  map[string]int64 // records per stream since its last STATE
	running map[string]bool
	stated  map[string]time.Time // when each stream's last STATE was written
}

func newEmitter(w protocol.Writer, now func() time.Time) *emitter {
	return &emitter{w: w, now: now, counts: map[string]int64{}, running: map[string]bool{}, stated: map[string]time.Time{}}
}

// A stream's state carries every partition's cursor, so a STATE per
// finished window costs O(partitions) bytes each time: fine for hundreds
// of accounts, quadratic for a fleet of many thousand SIMs. Streams with
// more partitions than this write a STATE at most every stateInterval.
// Cursors still move only after their records, so a run killed between
// two STATEs resumes from the earlier one and re-reads what followed it.
const (
	manyPartitions = 500
	stateInterval  = time.Second
)

func (e *emitter) status(stream string, s protocol.Status) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.w.Write(protocol.StreamStatus{Stream: stream, Status: s})
}

func (e *emitter) estimate(stream string, rows int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.w.Write(protocol.Estimate{Stream: stream, Rows: rows})
}

// records writes rows of stream; the first record of a stream is
// preceded by its RUNNING status.
func (e *emitter) records(stream string, rows []json.RawMessage) error {
	if len(rows) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.running[stream] {
		e.running[stream] = true
		if err := e.w.Write(protocol.StreamStatus{Stream: stream, Status: protocol.StatusRunning}); err != nil {
			return err
		}
	}
	at := e.now()
	for _, row := range rows {
		if err := e.w.Write(protocol.Record{Stream: stream, Data: row, EmittedAt: at}); err != nil {
			return err
		}
	}
	e.counts[stream] += int64(len(rows))
	return nil
}

// checkpoint writes rows, then runs advance (which moves a cursor) and
// writes the stream's state as blob returns it, all under one lock. When
// throttled, the STATE is written only if stateInterval has passed since
// the stream's last one.
func (e *emitter) checkpoint(stream string, rows []json.RawMessage, advance func(), blob func() json.RawMessage, throttled bool) error {
	if err := e.records(stream, rows); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if advance != nil {
		advance()
	}
	if throttled && time.Since(e.stated[stream]) < stateInterval {
		return nil
	}
	e.stated[stream] = time.Now()
	n := e.counts[stream]
	e.counts[stream] = 0
	return e.w.Write(protocol.State{Stream: stream, Data: blob(), RecordCount: n})
}
