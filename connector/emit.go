package connector

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/protocol"
)

// emitter is the one writer of a read. Partitions hand it their work —
// a window's records, the cursor move they allow and the state that
// follows — and go back to Twilio; one goroutine writes the work in the
// order it was handed over. So no STATE can overtake the records it
// covers, however many partitions run at once, and a consumer that reads
// slowly for a moment (a pipe to Airbyte, say) holds up the writing, not
// the requests.
//
// The queue is bounded: when the consumer stays slow, handing over work
// waits, and memory stays bounded by the queue's depth in windows.
type emitter struct {
	w     protocol.Writer
	now   func() time.Time
	queue chan func() error
	done  chan struct{}

	mu  sync.Mutex
	err error // the first failure to write

	// Owned by the writing goroutine.
	counts  map[string]int64 // records per stream since its last STATE
	running map[string]bool
	stated  map[string]time.Time // when each stream's last STATE was written
}

// newEmitter starts an emitter on w that holds up to depth pieces of work
// not yet written. close must be called to finish it.
func newEmitter(w protocol.Writer, now func() time.Time, depth int) *emitter {
	e := &emitter{
		w: w, now: now,
		queue:  make(chan func() error, depth),
		done:   make(chan struct{}),
		counts: map[string]int64{}, running: map[string]bool{}, stated: map[string]time.Time{},
	}
	go e.write()
	return e
}

func (e *emitter) write() {
	defer close(e.done)
	for work := range e.queue {
		if e.failure() != nil {
			continue // nothing more can be written; let senders go
		}
		if err := work(); err != nil {
			e.mu.Lock()
			e.err = err
			e.mu.Unlock()
		}
	}
}

func (e *emitter) failure() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// do queues work. It returns the first failure to write, if one happened
// already: the read should stop.
func (e *emitter) do(work func() error) error {
	if err := e.failure(); err != nil {
		return err
	}
	e.queue <- work
	return nil
}

// close writes everything queued and returns the first failure to write.
func (e *emitter) close() error {
	close(e.queue)
	<-e.done
	return e.failure()
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
	return e.do(func() error { return e.w.Write(protocol.StreamStatus{Stream: stream, Status: s}) })
}

func (e *emitter) estimate(stream string, rows int64) error {
	return e.do(func() error { return e.w.Write(protocol.Estimate{Stream: stream, Rows: rows}) })
}

// checkpoint queues rows of stream, then advance (which moves a cursor)
// and the stream's state as blob returns it. advance and blob run on the
// writing goroutine, after the rows are written, so the cursors they
// touch belong to it once the partitions have started. When throttled,
// the STATE is written only if stateInterval has passed since the
// stream's last one. arena, if not nil, holds the rows and is freed once
// they are written.
func (e *emitter) checkpoint(stream string, rows []json.RawMessage, arena *rowArena, advance func(), blob func() json.RawMessage, throttled bool) error {
	return e.do(func() error {
		err := e.records(stream, rows)
		if arena != nil {
			arena.free()
		}
		if err != nil {
			return err
		}
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
	})
}

// records writes rows of stream; the first record of a stream is
// preceded by its RUNNING status.
func (e *emitter) records(stream string, rows []json.RawMessage) error {
	if len(rows) == 0 {
		return nil
	}
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
