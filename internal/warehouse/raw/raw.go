// Package raw is the landing archive: every record a load receives, as
// received, in one Parquet file per stream per run, so the tables can be
// rebuilt without asking Twilio again.
//
// A run's files are <dir>/<run>/<stream>.parquet, run being a sortable
// UTC timestamp, and <dir>/<run>/states.jsonl: the stream states the run
// committed, one JSON object {"stream", "state"} per line, in order, so a
// rebuild restores the cursors with the data. A file is written as
// <name>.partial and renamed when the run closes it; a process killed
// outright leaves .partial files that Runs, Read and States ignore (its
// committed records are re-read by the next run only for the lookback, so
// rebuild from a fresh sync after a kill).
package raw

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Row is one record as received.
type Row struct {
	Stream    string `parquet:"stream,dict"`
	EmittedAt int64  `parquet:"emitted_at,timestamp(millisecond:utc)"`
	Data      string `parquet:"data,json,zstd"`
}

// RunID returns the run name of a run started at t.
func RunID(t time.Time) string { return t.UTC().Format("20060102T150405.000000Z") }

// Writer archives one run: Append buffers records as they arrive, and
// FlushTo writes those before a Mark once the batch they end is
// committed. It is safe for concurrent use: the loader appends the next
// batch's records while the one before it commits.
type Writer struct {
	mu      sync.Mutex
	dir     string
	streams map[string]*streamFile
	states  []stateLine // committed, not yet written
	stateF  *os.File    // states.jsonl.partial, once a state came
}

// StatesFile is the name of a run's file of committed states.
const StatesFile = "states.jsonl"

// stateLine is one line of StatesFile.
type stateLine struct {
	Stream string          `json:"stream"`
	State  json.RawMessage `json:"state"`
}

type streamFile struct {
	path string
	f    *os.File
	w    *parquet.GenericWriter[Row]
	buf  []Row
	// written counts the rows written; buf holds the rows after them.
	written int
}

// NewWriter returns a Writer of run under dir. Files are created on the
// first record of each stream.
func NewWriter(dir, run string) *Writer {
	return &Writer{dir: filepath.Join(dir, run), streams: map[string]*streamFile{}}
}

// Append archives one record.
func (w *Writer) Append(stream string, emittedAt time.Time, data string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	sf, ok := w.streams[stream]
	if !ok {
		if err := os.MkdirAll(w.dir, 0o755); err != nil {
			return fmt.Errorf("raw archive: %w", err)
		}
		path := filepath.Join(w.dir, stream+".parquet")
		f, err := os.Create(path + ".partial")
		if err != nil {
			return fmt.Errorf("raw archive: %w", err)
		}
		sf = &streamFile{path: path, f: f, w: parquet.NewGenericWriter[Row](f)}
		w.streams[stream] = sf
	}
	sf.buf = append(sf.buf, Row{Stream: stream, EmittedAt: emittedAt.UnixMilli(), Data: data})
	return nil
}

// write writes the first n buffered rows.
func (sf *streamFile) write(n int) error {
	if n == 0 {
		return nil
	}
	if _, err := sf.w.Write(sf.buf[:n]); err != nil {
		return fmt.Errorf("raw archive %s: %w", sf.path, err)
	}
	rest := copy(sf.buf, sf.buf[n:])
	clear(sf.buf[rest:])
	sf.buf = sf.buf[:rest]
	return nil
}

// Mark is a point in the records appended to a Writer.
type Mark map[string]int

// Mark returns the point after the records appended so far.
func (w *Writer) Mark() Mark {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := Mark{}
	for name, sf := range w.streams {
		m[name] = sf.written + len(sf.buf)
	}
	return m
}

// AppendState archives a stream state that is committed with every
// record before it. Give it only committed states (the loader's
// OnCommitted): the archive must never hold a cursor ahead of its records.
func (w *Writer) AppendState(stream string, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !json.Valid(data) {
		return fmt.Errorf("raw archive: state of %s is not JSON", stream)
	}
	w.states = append(w.states, stateLine{Stream: stream, State: json.RawMessage(bytes.Clone(data))})
	return nil
}

// writeStates appends the states archived since the last call.
func (w *Writer) writeStates() error {
	if len(w.states) == 0 {
		return nil
	}
	if w.stateF == nil {
		if err := os.MkdirAll(w.dir, 0o755); err != nil {
			return fmt.Errorf("raw archive: %w", err)
		}
		f, err := os.Create(filepath.Join(w.dir, StatesFile+".partial"))
		if err != nil {
			return fmt.Errorf("raw archive: %w", err)
		}
		w.stateF = f
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, st := range w.states {
		if err := enc.Encode(st); err != nil {
			return fmt.Errorf("raw archive: state of %s: %w", st.Stream, err)
		}
	}
	if _, err := w.stateF.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("raw archive: %w", err)
	}
	w.states = w.states[:0]
	return nil
}

// Flush writes every record appended so far as row groups, and the
// states archived since the last Flush.
func (w *Writer) Flush() error { return w.FlushTo(w.Mark()) }

// FlushTo writes the records appended before m as row groups, and the
// states archived since the last flush; later records stay buffered. The
// loader calls it after each commit with the mark of the batch's end, so
// the archive holds committed records only, and memory stays bounded by
// two batches.
func (w *Writer) FlushTo(m Mark) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writeStates(); err != nil {
		return err
	}
	// Each mark counts rows buffered when it was taken; rows written
	// since by an earlier FlushTo are gone from the buffer.
	for name, sf := range w.streams {
		n := min(m[name]-sf.written, len(sf.buf))
		if n <= 0 {
			continue
		}
		if err := sf.write(n); err != nil {
			return err
		}
		sf.written += n
		if err := sf.w.Flush(); err != nil {
			return fmt.Errorf("raw archive %s: %w", sf.path, err)
		}
	}
	return nil
}

// Close finishes every file and gives it its final name. Records
// appended since the last Flush are dropped: they were not committed.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	errs := []error{w.writeStates()}
	if w.stateF != nil {
		err := w.stateF.Close()
		errs = append(errs, err)
		if err == nil {
			errs = append(errs, os.Rename(w.stateF.Name(), filepath.Join(w.dir, StatesFile)))
		}
		w.stateF = nil
	}
	for _, sf := range w.streams {
		sf.buf = nil
		err := sf.w.Close()
		errs = append(errs, err, sf.f.Close())
		if err == nil {
			errs = append(errs, os.Rename(sf.f.Name(), sf.path))
		}
	}
	w.streams = map[string]*streamFile{}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("raw archive: close: %w", err)
	}
	return nil
}

// Runs returns the runs archived under dir, oldest first.
func Runs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("raw archive %s: %w", dir, err)
	}
	var runs []string
	for _, e := range entries {
		if e.IsDir() {
			runs = append(runs, e.Name())
		}
	}
	slices.Sort(runs)
	return runs, nil
}

// Streams returns the streams archived in run, in the given order first
// (streams not in order follow, sorted).
func Streams(dir, run string, order []string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, run))
	if err != nil {
		return nil, fmt.Errorf("raw archive %s: %w", dir, err)
	}
	var have []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".parquet"); ok && !e.IsDir() {
			have = append(have, name)
		}
	}
	slices.Sort(have)
	var out []string
	for _, s := range order {
		if slices.Contains(have, s) {
			out = append(out, s)
		}
	}
	for _, s := range have {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Read calls fn with every archived record of stream in run, in order.
func Read(ctx context.Context, dir, run, stream string, fn func(Row) error) error {
	path := filepath.Join(dir, run, stream+".parquet")
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("raw archive: %w", err)
	}
	defer f.Close()
	r := parquet.NewGenericReader[Row](f)
	defer r.Close()
	buf := make([]Row, 1024)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		for _, row := range buf[:n] {
			if err := fn(row); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("raw archive %s: %w", path, err)
		}
	}
}

// States returns the last state of each stream that run committed, and
// whether the run archived states at all (runs archived by versions
// before states were archived did not).
func States(dir, run string) (map[string]json.RawMessage, bool, error) {
	path := filepath.Join(dir, run, StatesFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("raw archive: %w", err)
	}
	defer f.Close()
	out := map[string]json.RawMessage{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20) // a state carries a cursor per partition
	for n := 1; sc.Scan(); n++ {
		var st stateLine
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil || st.Stream == "" || len(st.State) == 0 {
			return nil, true, fmt.Errorf("raw archive %s line %d: not a {\"stream\", \"state\"} object", path, n)
		}
		out[st.Stream] = st.State
	}
	if err := sc.Err(); err != nil {
		return nil, true, fmt.Errorf("raw archive %s: %w", path, err)
	}
	return out, true, nil
}
