// Package singer encodes protocol messages as Singer messages for Meltano
// and other Singer runners, and speaks the Singer side of discovery:
// the catalog a tap prints for --discover and the catalog a runner passes
// back to select streams.
//
// On stdout go SCHEMA, RECORD and STATE messages, one JSON object per
// line. Singer has no log, status or error messages: those go to stderr
// as plain lines. A stream's SCHEMA precedes its first RECORD; every
// STATE carries the whole Singer state, {"bookmarks": {stream: …}}, in
// the Meltano SDK's shape for partitioned streams (see internal/state).
package singer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/state"
)

// Writer writes Singer messages to stdout and everything else to
// stderr. It is safe for concurrent use. Every line on either stream
// passes through a redactor: a secret given to NewWriter never reaches
// the output.
type Writer struct {
	mu       sync.Mutex
	out      *bufio.Writer
	errOut   io.Writer
	now      func() time.Time
	redactor protocol.Redactor
	streams  map[string]*stream
	marks    state.Bookmarks // the whole Singer state so far
	err      error
}

type stream struct {
	sel        Selection
	schemaLine []byte // nil until built
	schemaSent bool
}

// NewWriter returns a Writer for the selected streams. bookmarks is the
// state the tap started from: streams this run does not touch keep their
// bookmarks in every STATE it writes. secrets are replaced by
// "**********" wherever they would appear.
func NewWriter(stdout, stderr io.Writer, streams []Selection, bookmarks state.Bookmarks, secrets ...string) *Writer {
	w := &Writer{
		out:      bufio.NewWriterSize(stdout, 64<<10),
		errOut:   stderr,
		now:      time.Now,
		streams:  map[string]*stream{},
		marks:    state.Bookmarks{},
		redactor: protocol.NewRedactor(secrets...),
	}
	for _, sel := range streams {
		w.streams[sel.Stream.Name] = &stream{sel: sel}
	}
	for name, b := range bookmarks {
		w.marks[name] = b
	}
	return w
}

// Write encodes m. Records are buffered; a STATE flushes stdout, so it is
// on the wire as soon as it is written, after the records it covers.
func (w *Writer) Write(m protocol.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	switch m := m.(type) {
	case protocol.Record:
		s, err := w.stream(m.Stream)
		if err != nil {
			return err
		}
		if err := w.sendSchema(s); err != nil {
			return err
		}
		line, err := encodeRecord(s, m)
		if err != nil {
			return err
		}
		return w.stdout(line, false)
	case protocol.State:
		s, err := w.stream(m.Stream)
		if err != nil {
			return err
		}
		if s.sel.Stream.Cursor == "" {
			// A stream without a cursor has nothing to bookmark; its
			// checkpoint still puts its records on the wire.
			w.err = w.out.Flush()
			return w.err
		}
		st, err := state.FromAirbyte(m.Data, s.sel.Stream.PartitionKey, s.sel.Stream.Cursor)
		if err != nil {
			return fmt.Errorf("singer: state of stream %s: %w", m.Stream, err)
		}
		w.marks[m.Stream] = st.Singer()
		var b bytes.Buffer
		b.WriteString(`{"type":"STATE","value":`)
		b.Write(state.EncodeSinger(w.marks))
		b.WriteByte('}')
		return w.stdout(b.Bytes(), true)
	case protocol.StreamStatus:
		if s, ok := w.streams[m.Stream]; ok && m.Status == protocol.StatusStarted {
			// Targets create a stream's table from its SCHEMA, so a
			// stream without records still gets one.
			if err := w.sendSchema(s); err != nil {
				return err
			}
		}
		w.stderr(slog.LevelInfo, fmt.Sprintf("stream %s: %s", m.Stream, m.Status))
		return nil
	case protocol.Estimate:
		w.stderr(slog.LevelInfo, fmt.Sprintf("stream %s: about %d records to read", m.Stream, m.Rows))
		return nil
	case protocol.Log:
		w.stderr(m.Level, m.Message)
		return nil
	case protocol.Error:
		msg := m.Message
		if m.Internal != "" && !strings.Contains(msg, m.Internal) {
			msg += " (" + m.Internal + ")"
		}
		if m.Stream != "" {
			msg = "stream " + m.Stream + ": " + msg
		}
		w.stderr(slog.LevelError, msg)
		return nil
	default:
		return fmt.Errorf("singer: cannot encode message of type %T", m)
	}
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

// State returns the whole Singer state written so far (or passed to
// NewWriter): {"bookmarks": {…}}.
func (w *Writer) State() json.RawMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return state.EncodeSinger(w.marks)
}

func (w *Writer) stream(name string) (*stream, error) {
	s, ok := w.streams[name]
	if !ok {
		return nil, fmt.Errorf("singer: stream %s was not selected", name)
	}
	return s, nil
}

func (w *Writer) sendSchema(s *stream) error {
	if s.schemaSent {
		return nil
	}
	if s.schemaLine == nil {
		line, err := schemaMessage(s.sel)
		if err != nil {
			return err
		}
		s.schemaLine = line
	}
	s.schemaSent = true
	return w.stdout(s.schemaLine, true)
}

// stdout writes one line, redacted; w.mu is held.
func (w *Writer) stdout(line []byte, flush bool) error {
	line = w.redactor.Redact(line)
	w.out.Write(line)
	w.out.WriteByte('\n')
	if flush {
		w.err = w.out.Flush()
	}
	return w.err
}

// stderr writes one log line, redacted; w.mu is held. A failing stderr
// does not fail the run.
func (w *Writer) stderr(level slog.Level, msg string) {
	msg = strings.ReplaceAll(msg, "\n", "; ")
	line := fmt.Sprintf("%s %s %s\n", w.now().UTC().Format(time.RFC3339), protocol.LevelName(level), msg)
	w.errOut.Write(w.redactor.Redact([]byte(line)))
}

// timeLayout is RFC 3339 in UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func encodeRecord(s *stream, m protocol.Record) ([]byte, error) {
	data := bytes.TrimSpace(m.Data)
	if len(data) == 0 {
		return nil, fmt.Errorf("singer: record of stream %s has no data", m.Stream)
	}
	var b bytes.Buffer
	b.Grow(len(data) + len(m.Stream) + 90)
	b.WriteString(`{"type":"RECORD","stream":`)
	name, _ := json.Marshal(m.Stream)
	b.Write(name)
	b.WriteString(`,"record":`)
	if len(s.sel.Deselected) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("singer: record of stream %s: %w", m.Stream, err)
		}
		for _, p := range s.sel.Deselected {
			delete(obj, p)
		}
		data, _ = json.Marshal(obj) // raw messages from a decoded object re-encode
	}
	if bytes.ContainsAny(data, "\n\r") {
		// One message per line: indented data is compacted.
		if err := json.Compact(&b, data); err != nil {
			return nil, fmt.Errorf("singer: record of stream %s: %w", m.Stream, err)
		}
	} else {
		b.Write(data)
	}
	b.WriteString(`,"time_extracted":"`)
	b.WriteString(m.EmittedAt.UTC().Format(timeLayout))
	b.WriteString(`"}`)
	return b.Bytes(), nil
}

func schemaMessage(sel Selection) ([]byte, error) {
	schema, err := singerSchema(sel)
	if err != nil {
		return nil, err
	}
	msg := struct {
		Type               string          `json:"type"`
		Stream             string          `json:"stream"`
		Schema             json.RawMessage `json:"schema"`
		KeyProperties      []string        `json:"key_properties"`
		BookmarkProperties []string        `json:"bookmark_properties,omitempty"`
	}{
		Type:               "SCHEMA",
		Stream:             sel.Stream.Name,
		Schema:             schema,
		KeyProperties:      sel.Stream.PrimaryKey,
		BookmarkProperties: sel.bookmarkProperties(),
	}
	if msg.KeyProperties == nil {
		msg.KeyProperties = []string{}
	}
	return json.Marshal(msg)
}
