// Package airbyte encodes protocol messages as Airbyte protocol v0 JSON
// lines, one AirbyteMessage per line, and decodes what Airbyte passes back
// in: configured catalogs and STREAM state.
package airbyte

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/protocol"
)

// Writer writes Airbyte messages to an io.Writer. It is safe for
// concurrent use. Every line passes through a redactor: a secret given to
// NewWriter never reaches the output, whatever message carries it.
type Writer struct {
	mu       sync.Mutex
	out      *bufio.Writer
	now      func() time.Time
	redactor protocol.Redactor
	err      error
}

// NewWriter returns a Writer on w. secrets are byte strings replaced by
// "**********" wherever they would appear.
func NewWriter(w io.Writer, secrets ...string) *Writer {
	aw := &Writer{out: bufio.NewWriterSize(w, 1<<20), now: time.Now, redactor: protocol.NewRedactor(secrets...)}
	return aw
}

// Write encodes m as one line. Records are buffered; every other message
// flushes, so a STATE is on the wire as soon as it is written, after the
// records it covers.
func (w *Writer) Write(m protocol.Message) error {
	var line []byte
	var err error
	if r, ok := m.(protocol.Record); ok {
		buf := linePool.Get().(*[]byte)
		defer linePool.Put(buf)
		line, err = appendRecord((*buf)[:0], r)
		*buf = line
	} else {
		line, err = w.encode(m)
	}
	if err != nil {
		return err
	}
	line = w.redactor.Redact(line)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.out.Write(line)
	w.out.WriteByte('\n')
	if _, isRecord := m.(protocol.Record); !isRecord {
		w.err = w.out.Flush()
	}
	return w.err
}

// Flush writes any buffered records.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.out.Flush()
	}
	return w.err
}

type streamDescriptor struct {
	Name string `json:"name"`
}

func (w *Writer) encode(m protocol.Message) ([]byte, error) {
	now := w.now().UnixMilli()
	var msg map[string]any
	switch m := m.(type) {
	case protocol.Record:
		return appendRecord(nil, m)
	case protocol.State:
		msg = map[string]any{"type": "STATE", "state": map[string]any{
			"type": "STREAM",
			"stream": map[string]any{
				"stream_descriptor": streamDescriptor{m.Stream},
				"stream_state":      m.Data,
			},
			"sourceStats": map[string]any{"recordCount": json.Number(fmt.Sprintf("%d.0", m.RecordCount))},
		}}
	case protocol.StreamStatus:
		msg = trace(now, "STREAM_STATUS", "stream_status", map[string]any{
			"stream_descriptor": streamDescriptor{m.Stream},
			"status":            m.Status,
		})
	case protocol.Estimate:
		msg = trace(now, "ESTIMATE", "estimate", map[string]any{
			"name": m.Stream, "type": "STREAM", "row_estimate": m.Rows,
		})
	case protocol.Error:
		e := map[string]any{"message": m.Message, "failure_type": m.Failure}
		if m.Internal != "" {
			e["internal_message"] = m.Internal
		}
		if m.Stream != "" {
			e["stream_descriptor"] = streamDescriptor{m.Stream}
		}
		msg = trace(now, "ERROR", "error", e)
	case protocol.Log:
		msg = map[string]any{"type": "LOG", "log": map[string]any{"level": protocol.LevelName(m.Level), "message": m.Message}}
	case protocol.ConnectionStatus:
		status := map[string]any{"status": "FAILED", "message": m.Message}
		if m.Succeeded {
			status["status"] = "SUCCEEDED"
		}
		msg = map[string]any{"type": "CONNECTION_STATUS", "connectionStatus": status}
	case protocol.Spec:
		spec := map[string]any{
			"connectionSpecification": m.ConnectionSpecification,
			"supportsIncremental":     m.SupportsIncremental,
		}
		if m.DocumentationURL != "" {
			spec["documentationUrl"] = m.DocumentationURL
		}
		msg = map[string]any{"type": "SPEC", "spec": spec}
	case protocol.Catalog:
		msg = map[string]any{"type": "CATALOG", "catalog": map[string]any{"streams": m.Streams}}
	default:
		return nil, fmt.Errorf("airbyte: cannot encode message of type %T", m)
	}
	return json.Marshal(msg)
}

// linePool recycles the buffers records are encoded into: a read writes
// millions of them.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendRecord appends the RECORD message of r, built by hand: the data
// is already JSON and may be large.
func appendRecord(b []byte, r protocol.Record) ([]byte, error) {
	if len(bytes.TrimSpace(r.Data)) == 0 {
		return nil, fmt.Errorf("airbyte: record of stream %s has no data", r.Stream)
	}
	b = append(b, `{"type":"RECORD","record":{"stream":`...)
	b = strconv.AppendQuote(b, r.Stream) // stream names are plain ASCII
	b = append(b, `,"data":`...)
	if bytes.IndexByte(r.Data, '\n') >= 0 || bytes.IndexByte(r.Data, '\r') >= 0 {
		// One message per line: indented data is compacted.
		var c bytes.Buffer
		if err := json.Compact(&c, r.Data); err != nil {
			return nil, fmt.Errorf("airbyte: record of stream %s: %w", r.Stream, err)
		}
		b = append(b, c.Bytes()...)
	} else {
		b = append(b, r.Data...)
	}
	b = append(b, `,"emitted_at":`...)
	b = strconv.AppendInt(b, r.EmittedAt.UnixMilli(), 10)
	return append(b, "}}"...), nil
}

func trace(now int64, kind, key string, body any) map[string]any {
	return map[string]any{"type": "TRACE", "trace": map[string]any{
		"type": kind, "emitted_at": now, key: body,
	}}
}

// LogHandler is a slog.Handler that writes each log record as an Airbyte
// LOG message, with its attributes appended as key=value.
type LogHandler struct {
	w     protocol.Writer
	level slog.Leveler
	attrs []slog.Attr
	group string
}

// NewLogHandler returns a handler writing to w at or above level.
func NewLogHandler(w protocol.Writer, level slog.Leveler) *LogHandler {
	return &LogHandler{w: w, level: level}
}

func (h *LogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *LogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(group string) func(slog.Attr) bool {
		return func(a slog.Attr) bool {
			if a.Equal(slog.Attr{}) {
				return true
			}
			fmt.Fprintf(&b, " %s=%s", qualify(group, a.Key), quoteIfNeeded(a.Value.Resolve().String()))
			return true
		}
	}
	for _, a := range h.attrs {
		write("")(a) // qualified when added
	}
	r.Attrs(write(h.group))
	return h.w.Write(protocol.Log{Level: r.Level, Message: b.String()})
}

func qualify(group, key string) string {
	if group == "" {
		return key
	}
	return group + "." + key
}

func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = slices.Clip(h.attrs)
	for _, a := range attrs {
		a.Key = qualify(h.group, a.Key)
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

func (h *LogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = qualify(h.group, name)
	return &h2
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
