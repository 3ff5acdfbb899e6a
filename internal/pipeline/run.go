package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/raw"
	"github.com/twilio-elt/twilio-elt/transforms"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// Destination is what Load and Sync need of a warehouse.
type Destination interface {
	Store
	Setup(ctx context.Context, tables []warehouse.Table) error
	CreateViews(ctx context.Context, views []warehouse.View) error
	States(ctx context.Context, account string) (map[string]json.RawMessage, error)
	Meta(ctx context.Context) (map[string]string, error)
}

// Load reads Airbyte messages from r, one per line, and loads them into
// dest. opts.OnCommitted receives each STATE once it is committed.
func Load(ctx context.Context, r io.Reader, dest Destination, opts Options) (Stats, error) {
	if err := setup(ctx, dest, &opts); err != nil {
		return Stats{}, err
	}
	l := NewLoader(dest, opts)
	err := readAirbyte(ctx, r, func(m protocol.Message) error { return l.Handle(ctx, m) })
	if err != nil {
		l.Abort()
		return l.Stats(), err
	}
	err = l.Finish(ctx)
	return l.Stats(), err
}

// readAirbyte decodes Airbyte messages from r and passes the ones the
// loader cares about to fn. A record's Data is valid until fn returns.
func readAirbyte(ctx context.Context, r io.Reader, fn func(protocol.Message) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	d := newAirbyteDecoder()
	for n := 1; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it whole.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(bytes.TrimSpace(line)) > 0 {
			m, derr := d.decode(line)
			if derr != nil {
				return fmt.Errorf("input line %d: %w", n, derr)
			}
			if m != nil {
				if herr := fn(m); herr != nil {
					return herr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
	}
}

// airbyteDecoder decodes Airbyte messages, one line at a time, with
// valyala/fastjson: a line is validated (strictly, as encoding/json
// would), then parsed by a parser reused from line to line. It replaced
// goccy/go-json, which panicked on some malformed lines (found by
// FuzzDecodeAirbyte); the speed is the same (measured with BenchmarkLoad),
// with fewer allocations.
type airbyteDecoder struct {
	p    fastjson.Parser
	data []byte // the last record's data; reused
	// strings interns the envelope's strings (types, stream names), so
	// a record allocates none.
	strings map[string]string
}

func newAirbyteDecoder() *airbyteDecoder {
	return &airbyteDecoder{strings: map[string]string{}}
}

// decode returns the message of line, or nil for one the loader ignores.
// A record's Data is valid until the next call.
func (d *airbyteDecoder) decode(line []byte) (protocol.Message, error) {
	if err := transforms.ValidateJSON(line); err != nil {
		return nil, fmt.Errorf("not an Airbyte message: %w", err)
	}
	v, err := d.p.ParseBytes(line)
	if err != nil {
		return nil, errors.New("not an Airbyte message: malformed JSON")
	}
	if v.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("not an Airbyte message: a JSON %s, not an object", v.Type())
	}
	typ, err := d.str(v, "type")
	if err != nil {
		return nil, fmt.Errorf("not an Airbyte message: %w", err)
	}
	switch typ {
	case "RECORD":
		rec := object(v, "record")
		stream, err := d.str(rec, "stream")
		if err != nil {
			return nil, fmt.Errorf("RECORD: %w", err)
		}
		data := member(rec, "data")
		if rec == nil || stream == "" || data == nil {
			return nil, errors.New("RECORD without stream or data")
		}
		var emitted int64
		if e := member(rec, "emitted_at"); e != nil && e.Type() != fastjson.TypeNull {
			if emitted, err = e.Int64(); err != nil {
				return nil, fmt.Errorf("RECORD: emitted_at %s is not milliseconds since the epoch", e)
			}
		}
		d.data = data.MarshalTo(d.data[:0])
		return protocol.Record{Stream: stream, Data: d.data, EmittedAt: time.UnixMilli(emitted).UTC()}, nil
	case "STATE":
		st := object(v, "state")
		stType, err := d.str(st, "type")
		if err != nil {
			return nil, fmt.Errorf("STATE: %w", err)
		}
		stream := object(st, "stream")
		if st == nil || stream == nil || (stType != "" && stType != "STREAM") {
			return nil, errors.New("STATE is not of type STREAM; only per-stream state is supported")
		}
		name, err := d.str(object(stream, "stream_descriptor"), "name")
		if err != nil {
			return nil, fmt.Errorf("STATE: stream_descriptor: %w", err)
		}
		if name == "" {
			return nil, errors.New("STATE without stream_descriptor.name")
		}
		s := protocol.State{Stream: name, Data: json.RawMessage("null")}
		if blob := member(stream, "stream_state"); blob != nil {
			s.Data = blob.MarshalTo(nil)
		}
		if stats := object(st, "sourceStats"); stats != nil {
			if c := member(stats, "recordCount"); c != nil && c.Type() != fastjson.TypeNull {
				n, err := c.Float64()
				if err != nil {
					return nil, fmt.Errorf("STATE: sourceStats.recordCount %s is not a number", c)
				}
				s.RecordCount = int64(n)
			}
		}
		return s, nil
	case "TRACE":
		tr := object(v, "trace")
		e := object(tr, "error")
		if t, _ := d.str(tr, "type"); t != "ERROR" || e == nil {
			return nil, nil
		}
		msg, _ := d.str(e, "message")
		failure, _ := d.str(e, "failure_type")
		out := protocol.Error{Message: msg, Failure: protocol.FailureType(failure)}
		out.Stream, _ = d.str(object(e, "stream_descriptor"), "name")
		return out, nil
	case "LOG":
		lg := object(v, "log")
		if lg == nil {
			return nil, nil
		}
		lvl, _ := d.str(lg, "level")
		msg, _ := d.str(lg, "message")
		level := slog.LevelInfo
		switch lvl {
		case "ERROR", "FATAL":
			level = slog.LevelError
		case "WARN":
			level = slog.LevelWarn
		case "DEBUG", "TRACE":
			level = slog.LevelDebug
		}
		return protocol.Log{Level: level, Message: msg}, nil
	}
	return nil, nil
}

// member returns v's member key, nil when v is not an object or has no
// such member; of a key given twice the last counts, as in encoding/json
// (fastjson's Get takes the first).
func member(v *fastjson.Value, key string) *fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	o, _ := v.Object()
	var m *fastjson.Value
	o.Visit(func(k []byte, val *fastjson.Value) {
		if string(k) == key {
			m = val
		}
	})
	return m
}

// object returns v's member key if it is an object, else nil.
func object(v *fastjson.Value, key string) *fastjson.Value {
	if v == nil {
		return nil
	}
	m := member(v, key)
	if m == nil || m.Type() != fastjson.TypeObject {
		return nil
	}
	return m
}

// str returns v's member key, a string ("" when v is nil or the member
// absent or null); any other type is an error naming the key.
func (d *airbyteDecoder) str(v *fastjson.Value, key string) (string, error) {
	if v == nil {
		return "", nil
	}
	m := member(v, key)
	if m == nil || m.Type() == fastjson.TypeNull {
		return "", nil
	}
	b, err := m.StringBytes()
	if err != nil {
		return "", fmt.Errorf("%s is a JSON %s, not a string", key, m.Type())
	}
	if s, ok := d.strings[string(b)]; ok {
		return s, nil
	}
	s := string(b)
	if len(d.strings) < 1024 {
		d.strings[s] = s
	}
	return s, nil
}

// Source reads Twilio: connector.Connector.
type Source interface {
	Read(ctx context.Context, streams []catalog.Configured, blobs state.Blobs, w protocol.Writer) error
}

// Sync reads every stream with src, resuming from the states stored in
// dest, and loads what it reads into dest. The states go back into dest
// with the data, so the next Sync is incremental by itself.
func Sync(ctx context.Context, src Source, dest Destination, opts Options) (Stats, error) {
	return SyncWith(ctx, src, dest, opts, nil)
}

// SyncWith is Sync with a hook that receives the Loader before the read
// starts (for progress reports).
func SyncWith(ctx context.Context, src Source, dest Destination, opts Options, started func(*Loader)) (Stats, error) {
	if err := setup(ctx, dest, &opts); err != nil {
		return Stats{}, err
	}
	stored, err := dest.States(ctx, opts.MainAccountSID)
	if err != nil {
		return Stats{}, err
	}
	if err := forgetLostStates(ctx, dest, stored, opts); err != nil {
		return Stats{}, err
	}
	l := NewLoader(dest, opts)
	if started != nil {
		started(l)
	}
	readErr := src.Read(ctx, connector.Catalog().All(), state.Blobs(stored), l.Writer(ctx))
	if readErr != nil && ctx.Err() != nil {
		l.Abort()
		return l.Stats(), readErr
	}
	// What was read before a failure is safe to commit: cursors only
	// moved past complete windows.
	finishErr := l.Finish(ctx)
	if readErr != nil && errors.Is(readErr, finishErr) {
		// The read failed because the loader refused a record.
		return l.Stats(), readErr
	}
	return l.Stats(), errors.Join(readErr, finishErr)
}

// forgetLostStates drops from stored the state of every incremental
// stream whose tables hold no row at all though its state says partitions
// were read: the tables were dropped or emptied behind the loader's back,
// and a state kept would re-read only the lookback. The stream is read
// from start_date again, with a WARN. (A table empty for one partition
// only is not taken as lost: an account with no usage at all stores no
// row, and would be read from start_date on every sync.)
func forgetLostStates(ctx context.Context, dest Destination, stored map[string]json.RawMessage, opts Options) error {
	log := opts.Log
	if log == nil {
		log = discardLogger
	}
	for _, s := range connector.Streams() {
		blob, ok := stored[s.Name]
		if !ok || s.Cursor == nil {
			continue
		}
		st, err := state.FromAirbyte(blob, s.PartitionKey, s.Stream.Cursor)
		if err != nil || len(st.Partitions()) == 0 {
			continue // the read reports a bad state
		}
		empty := true
		for _, t := range s.Tables {
			found, err := hasRows(ctx, dest, t.Name)
			if err != nil {
				return err
			}
			empty = empty && !found
		}
		if empty {
			log.Warn("the stream's tables hold no row, though its state says partitions were read (were they dropped?): reading it from start_date again",
				"stream", s.Name, "partitions", len(st.Partitions()))
			delete(stored, s.Name)
		}
	}
	return nil
}

// LoadRaw rebuilds dest's tables from a raw archive: each archived run is
// loaded as its own run, oldest first, so every run replaces the groups
// it read, as it did when it ran, and commits the last states it had
// committed, so the next sync goes on from where the last archived run
// stopped. A missing or empty archive fails before dest is touched.
func LoadRaw(ctx context.Context, dir string, dest Destination, opts Options) (Stats, error) {
	runs, err := raw.Runs(dir)
	if err != nil {
		return Stats{}, err
	}
	if len(runs) == 0 {
		return Stats{}, fmt.Errorf("load from raw archive %s: no runs found", dir)
	}
	// Say what the archive holds before anything is set up: a run an
	// older version left unreadable fails the rebuild, unless skipped.
	log := opts.Log
	if log == nil {
		log = discardLogger
	}
	var unreadable []string
	skip := map[string]bool{}
	for _, run := range runs {
		info, err := raw.Inspect(dir, run)
		if err != nil {
			return Stats{}, err
		}
		switch {
		case len(info.Unreadable) > 0 && opts.SkipUnreadableRuns:
			log.Warn("skipping a run of the raw archive that an older version left unreadable (the process was killed); the rebuild lacks what it committed",
				"run", run, "files", strings.Join(info.Unreadable, ", "))
			skip[run] = true
		case len(info.Unreadable) > 0:
			unreadable = append(unreadable, fmt.Sprintf("%s (%s)", run, strings.Join(info.Unreadable, ", ")))
		case !info.Finished:
			log.Warn("a run of the raw archive did not finish (the process was killed): replaying the records it committed", "run", run, "records", info.Records)
		}
	}
	if len(unreadable) > 0 {
		return Stats{}, fmt.Errorf("load from raw archive %s: %d runs left unfinished by an older version cannot be read (Parquet keeps its index at the end of a file): %s; "+
			"pass --skip-unreadable to rebuild without them, then sync to re-read what they held",
			dir, len(unreadable), strings.Join(unreadable, "; "))
	}
	if err := setup(ctx, dest, &opts); err != nil {
		return Stats{}, err
	}
	order := connector.Catalog().Names()
	total := Stats{Rows: map[string]int64{}}
	opts.Archive = nil
	var stateless []string
	for _, run := range runs {
		if skip[run] {
			continue
		}
		streams, err := raw.Streams(dir, run, order)
		if err != nil {
			return total, err
		}
		// Each run starts from the accounts the runs before it loaded.
		if opts.Accounts, err = costmodel.ReadAccounts(ctx, dest); err != nil {
			return total, err
		}
		states, ok, err := raw.States(dir, run)
		if err != nil {
			return total, fmt.Errorf("load run %s from raw archive: %w", run, err)
		}
		if !ok && len(streams) > 0 {
			stateless = append(stateless, run)
		}
		l := NewLoader(dest, opts)
		for _, stream := range streams {
			err := raw.Read(ctx, dir, run, stream, func(r raw.Row) error {
				return l.Handle(ctx, protocol.Record{Stream: r.Stream, Data: json.RawMessage(r.Data), EmittedAt: time.UnixMilli(r.EmittedAt)})
			})
			if err != nil {
				l.Abort()
				return total, fmt.Errorf("load run %s from raw archive: %w", run, err)
			}
		}
		// The run committed each of these with every record archived
		// before it: they go in with the records, as they did then.
		for _, stream := range slices.Sorted(maps.Keys(states)) {
			if err := l.Handle(ctx, protocol.State{Stream: stream, Data: states[stream]}); err != nil {
				l.Abort()
				return total, fmt.Errorf("load run %s from raw archive: state of %s: %w", run, stream, err)
			}
		}
		if err := l.Finish(ctx); err != nil {
			return total, fmt.Errorf("load run %s from raw archive: %w", run, err)
		}
		s := l.Stats()
		total.Records += s.Records
		total.Commits += s.Commits
		total.States += s.States
		for k, v := range s.Rows {
			total.Rows[k] += v
		}
	}
	if len(stateless) > 0 && opts.Log != nil {
		opts.Log.Warn(fmt.Sprintf("%d archived runs hold no stream states (archived before twilio-elt kept them): "+
			"their cursors are not restored, so a stream none of the later runs checkpointed is read again from start_date by the next sync",
			len(stateless)), "first", stateless[0], "last", stateless[len(stateless)-1])
	}
	return total, nil
}
