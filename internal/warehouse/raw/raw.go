// Package raw is the landing archive: every record a load commits, as
// received, in Parquet files per stream per run, so the tables can be
// rebuilt without asking Twilio again.
//
// A run (a sortable UTC timestamp) is a folder <dir>/<run> of:
//
//   - <stream>.<seq>.parquet: the stream's records of one commit, a
//     complete Parquet file, written under a temporary name and renamed
//     once whole, seq counting from 000001;
//   - states.jsonl(.partial): the stream states the run committed, one
//     JSON object {"stream", "state"} per line, in order, so a rebuild
//     restores the cursors with the data; .partial until the run closes;
//   - done: written when the run closed.
//
// A process killed outright leaves a run without done: its segments and
// the whole lines of its states hold exactly what it committed, and are
// read like a finished run's. Runs archived by versions before segments
// (one <stream>.parquet per run) are read too; such a version's killed
// run left a <stream>.parquet.partial that no reader can open (Parquet
// keeps its index at the end), reported by Inspect.
package raw

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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
// FlushTo writes those before a Mark, as a segment per stream, once the
// batch they end is committed. It is safe for concurrent use: the loader
// appends the next batch's records while the one before it commits.
type Writer struct {
	mu      sync.Mutex
	dir     string
	streams map[string]*streamFile
	states  []stateLine // committed, not yet written
	stateF  *os.File    // states.jsonl.partial, once a state came
}

// Names of a run's files.
const (
	StatesFile = "states.jsonl"
	DoneFile   = "done"
)

// stateLine is one line of StatesFile.
type stateLine struct {
	Stream string          `json:"stream"`
	State  json.RawMessage `json:"state"`
}

type streamFile struct {
	name string
	buf  []Row
	// written counts the rows written; buf holds the rows after them.
	written int
	seq     int // segments written
}

// NewWriter returns a Writer of run under dir. The run's folder is created
// on its first flush.
func NewWriter(dir, run string) *Writer {
	return &Writer{dir: filepath.Join(dir, run), streams: map[string]*streamFile{}}
}

// Append archives one record.
func (w *Writer) Append(stream string, emittedAt time.Time, data string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	sf, ok := w.streams[stream]
	if !ok {
		sf = &streamFile{name: stream}
		w.streams[stream] = sf
	}
	sf.buf = append(sf.buf, Row{Stream: stream, EmittedAt: emittedAt.UnixMilli(), Data: data})
	return nil
}

// write writes the first n buffered rows as the stream's next segment.
func (sf *streamFile) write(dir string, n int) error {
	if n == 0 {
		return nil
	}
	sf.seq++
	path := filepath.Join(dir, segmentName(sf.name, sf.seq))
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("raw archive: %w", err)
	}
	pw := parquet.NewGenericWriter[Row](f)
	_, err = pw.Write(sf.buf[:n])
	err = errors.Join(err, pw.Close(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("raw archive %s: %w", path, err)
	}
	rest := copy(sf.buf, sf.buf[n:])
	clear(sf.buf[rest:])
	sf.buf = sf.buf[:rest]
	sf.written += n
	return nil
}

func segmentName(stream string, seq int) string { return fmt.Sprintf("%s.%06d.parquet", stream, seq) }

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

// Flush writes every record appended so far, and the states archived
// since the last flush.
func (w *Writer) Flush() error { return w.FlushTo(w.Mark()) }

// FlushTo writes the records appended before m, a segment per stream, and
// the states archived since the last flush; later records stay buffered.
// The loader calls it after each commit with the mark of the batch's end,
// so the archive holds committed records only, and memory stays bounded
// by two batches.
func (w *Writer) FlushTo(m Mark) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writeStates(); err != nil {
		return err
	}
	// Each mark counts rows appended when it was taken; rows written
	// since by an earlier FlushTo are gone from the buffer.
	for _, name := range slices.Sorted(maps.Keys(w.streams)) {
		sf := w.streams[name]
		n := min(m[name]-sf.written, len(sf.buf))
		if n <= 0 {
			continue
		}
		if err := os.MkdirAll(w.dir, 0o755); err != nil {
			return fmt.Errorf("raw archive: %w", err)
		}
		if err := sf.write(w.dir, n); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the run: its states file gets its final name and the run its
// done file. Records appended since the last flush are dropped: they were
// not committed.
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
	wrote := false
	for _, sf := range w.streams {
		wrote = wrote || sf.seq > 0
		sf.buf = nil
	}
	w.streams = map[string]*streamFile{}
	if _, err := os.Stat(w.dir); err == nil || wrote {
		errs = append(errs, os.WriteFile(filepath.Join(w.dir, DoneFile), nil, 0o644))
	}
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
		name, ok := strings.CutSuffix(e.Name(), ".parquet")
		if !ok || e.IsDir() {
			continue
		}
		if stream, seq, ok := strings.Cut(name, "."); ok && isSeq(seq) {
			name = stream
		}
		have = append(have, name)
	}
	slices.Sort(have)
	have = slices.Compact(have)
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

func isSeq(s string) bool {
	return len(s) == 6 && strings.Trim(s, "0123456789") == ""
}

// files returns stream's files in run, in order: a single file of an
// older version's run, then the segments.
func files(dir, run, stream string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, run))
	if err != nil {
		return nil, fmt.Errorf("raw archive %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, stream+".")
		if !ok || e.IsDir() {
			continue
		}
		if rest == "parquet" {
			out = append([]string{name}, out...)
		} else if seq, ok := strings.CutSuffix(rest, ".parquet"); ok && isSeq(seq) {
			out = append(out, name)
		}
	}
	return out, nil
}

// Read calls fn with every archived record of stream in run, in order.
func Read(ctx context.Context, dir, run, stream string, fn func(Row) error) error {
	names, err := files(dir, run, stream)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := readFile(ctx, filepath.Join(dir, run, name), fn); err != nil {
			return err
		}
	}
	return nil
}

func readFile(ctx context.Context, path string, fn func(Row) error) error {
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
//
// A killed run's states file is read as far as its last whole line.
func States(dir, run string) (map[string]json.RawMessage, bool, error) {
	path := filepath.Join(dir, run, StatesFile)
	partial := false
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		path += ".partial"
		partial = true
		f, err = os.Open(path)
	}
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
	var bad error
	for n := 1; sc.Scan(); n++ {
		if bad != nil {
			return nil, true, bad // a bad line before the last
		}
		var st stateLine
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil || st.Stream == "" || len(st.State) == 0 {
			bad = fmt.Errorf("raw archive %s line %d: not a {\"stream\", \"state\"} object", path, n)
			continue
		}
		out[st.Stream] = st.State
	}
	if bad != nil && !partial {
		return nil, true, bad
	}
	if err := sc.Err(); err != nil {
		return nil, true, fmt.Errorf("raw archive %s: %w", path, err)
	}
	return out, true, nil
}

// RunInfo is what Inspect finds of a run.
type RunInfo struct {
	Run string
	// Finished: the run closed its archive. A run without it was killed;
	// its segments still hold every record it committed.
	Finished bool
	// Records counts the records archived, from the files' metadata.
	Records int64
	// Unreadable lists files an older version's killed run left, which no
	// reader can open (Parquet keeps its index at the end).
	Unreadable []string
}

// Inspect describes run.
func Inspect(dir, run string) (RunInfo, error) {
	info := RunInfo{Run: run}
	entries, err := os.ReadDir(filepath.Join(dir, run))
	if err != nil {
		return info, fmt.Errorf("raw archive %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == DoneFile || name == StatesFile:
			// An older version's finished run has no done file but a
			// states file, or final Parquet files and no .partial.
			info.Finished = true
		case strings.HasSuffix(name, ".parquet.partial"):
			info.Unreadable = append(info.Unreadable, name)
		case strings.HasSuffix(name, ".parquet"):
			f, err := os.Open(filepath.Join(dir, run, name))
			if err != nil {
				return info, fmt.Errorf("raw archive: %w", err)
			}
			st, err := f.Stat()
			if err == nil {
				var pf *parquet.File
				if pf, err = parquet.OpenFile(f, st.Size()); err == nil {
					info.Records += pf.NumRows()
				}
			}
			f.Close()
			if err != nil {
				return info, fmt.Errorf("raw archive %s: %w", filepath.Join(dir, run, name), err)
			}
		}
	}
	if len(info.Unreadable) > 0 {
		info.Finished = false
	} else if !info.Finished {
		// Older versions wrote no done file: a run with only final files
		// finished.
		legacy := true
		for _, e := range entries {
			if _, seq, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".parquet"), "."); ok && isSeq(seq) {
				legacy = false
			}
		}
		info.Finished = legacy && len(entries) > 0
	}
	return info, nil
}
