package airbyte

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/spec"
)

// now is the writer's clock in these tests: 2026-01-02T03:04:05.678Z.
var now = time.Date(2026, time.January, 2, 3, 4, 5, 678_000_000, time.UTC)

const nowMillis = "1767323045678"

func newTestWriter(out *bytes.Buffer, secrets ...string) *Writer {
	w := NewWriter(out, secrets...)
	w.now = func() time.Time { return now }
	return w
}

// lines splits output into lines, failing unless it ends with a newline.
func lines(t *testing.T, out []byte) [][]byte {
	t.Helper()
	if len(out) == 0 {
		return nil
	}
	if out[len(out)-1] != '\n' {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	return bytes.Split(out[:len(out)-1], []byte("\n"))
}

// decode decodes one line keeping numbers as written.
func decode(t *testing.T, line []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, line)
	}
	if dec.More() {
		t.Fatalf("line holds more than one JSON value: %s", line)
	}
	return v
}

func TestEncode(t *testing.T) {
	usageRecord := `{"account_sid":"AC1","category":"sms","start_date":"2026-01-01","price":-0.00750,"usage":498.84515}`
	stateBlob := `{"states":[{"partition":{"account_sid":"AC1"},"cursor":{"start_date":"2026-01-01"}}]}`
	tests := []struct {
		name string
		msg  protocol.Message
		want string // the expected message, as JSON (numbers compared as written)
	}{
		{
			name: "record",
			msg:  protocol.Record{Stream: "usage_records", Data: json.RawMessage(usageRecord), EmittedAt: time.Date(2026, 1, 1, 0, 0, 0, 123_456_789, time.UTC)},
			want: `{"type":"RECORD","record":{"stream":"usage_records","data":` + usageRecord + `,"emitted_at":1767225600123}}`,
		},
		{
			name: "record with a stream name that needs escaping",
			msg:  protocol.Record{Stream: `a"b`, Data: json.RawMessage(`{}`), EmittedAt: now},
			want: `{"type":"RECORD","record":{"stream":"a\"b","data":{},"emitted_at":` + nowMillis + `}}`,
		},
		{
			// Data is usually compact, but the line must stay one line
			// whatever JSON the caller hands over.
			name: "record with indented data",
			msg:  protocol.Record{Stream: "sims", Data: json.RawMessage("{\n  \"sid\": \"DE1\",\r\n  \"n\": 1\n}"), EmittedAt: now},
			want: `{"type":"RECORD","record":{"stream":"sims","data":{"sid":"DE1","n":1},"emitted_at":` + nowMillis + `}}`,
		},
		{
			name: "state",
			msg:  protocol.State{Stream: "usage_records", Data: json.RawMessage(stateBlob), RecordCount: 1234},
			want: `{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":` + stateBlob + `},"sourceStats":{"recordCount":1234.0}}}`,
		},
		{
			name: "state with no records",
			msg:  protocol.State{Stream: "sims", Data: json.RawMessage(`{}`)},
			want: `{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"sims"},"stream_state":{}},"sourceStats":{"recordCount":0.0}}}`,
		},
		{
			name: "state blob not compact",
			msg:  protocol.State{Stream: "sims", Data: json.RawMessage("{\n  \"states\": []\n}"), RecordCount: 1},
			want: `{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"sims"},"stream_state":{"states":[]}},"sourceStats":{"recordCount":1.0}}}`,
		},
		{
			name: "stream status started",
			msg:  protocol.StreamStatus{Stream: "accounts", Status: protocol.StatusStarted},
			want: `{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":` + nowMillis + `,"stream_status":{"stream_descriptor":{"name":"accounts"},"status":"STARTED"}}}`,
		},
		{
			name: "stream status running",
			msg:  protocol.StreamStatus{Stream: "accounts", Status: protocol.StatusRunning},
			want: `{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":` + nowMillis + `,"stream_status":{"stream_descriptor":{"name":"accounts"},"status":"RUNNING"}}}`,
		},
		{
			name: "stream status complete",
			msg:  protocol.StreamStatus{Stream: "accounts", Status: protocol.StatusComplete},
			want: `{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":` + nowMillis + `,"stream_status":{"stream_descriptor":{"name":"accounts"},"status":"COMPLETE"}}}`,
		},
		{
			name: "stream status incomplete",
			msg:  protocol.StreamStatus{Stream: "sims", Status: protocol.StatusIncomplete},
			want: `{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":` + nowMillis + `,"stream_status":{"stream_descriptor":{"name":"sims"},"status":"INCOMPLETE"}}}`,
		},
		{
			name: "estimate",
			msg:  protocol.Estimate{Stream: "usage_records", Rows: 250_000},
			want: `{"type":"TRACE","trace":{"type":"ESTIMATE","emitted_at":` + nowMillis + `,"estimate":{"name":"usage_records","type":"STREAM","row_estimate":250000}}}`,
		},
		{
			name: "error with everything",
			msg:  protocol.Error{Message: "Twilio refused the credentials", Internal: "GET /x: HTTP 401", Failure: protocol.ConfigError, Stream: "usage_records"},
			want: `{"type":"TRACE","trace":{"type":"ERROR","emitted_at":` + nowMillis + `,"error":{"message":"Twilio refused the credentials","internal_message":"GET /x: HTTP 401","failure_type":"config_error","stream_descriptor":{"name":"usage_records"}}}}`,
		},
		{
			name: "system error",
			msg:  protocol.Error{Message: "bug", Failure: protocol.SystemError},
			want: `{"type":"TRACE","trace":{"type":"ERROR","emitted_at":` + nowMillis + `,"error":{"message":"bug","failure_type":"system_error"}}}`,
		},
		{
			name: "transient error",
			msg:  protocol.Error{Message: "Twilio is down", Failure: protocol.TransientError, Stream: "sims"},
			want: `{"type":"TRACE","trace":{"type":"ERROR","emitted_at":` + nowMillis + `,"error":{"message":"Twilio is down","failure_type":"transient_error","stream_descriptor":{"name":"sims"}}}}`,
		},
		{
			name: "log",
			msg:  protocol.Log{Level: slog.LevelInfo, Message: "line one\nline two"},
			want: `{"type":"LOG","log":{"level":"INFO","message":"line one\nline two"}}`,
		},
		{
			name: "connection succeeded",
			msg:  protocol.ConnectionStatus{Succeeded: true},
			want: `{"type":"CONNECTION_STATUS","connectionStatus":{"status":"SUCCEEDED","message":""}}`,
		},
		{
			name: "connection failed",
			msg:  protocol.ConnectionStatus{Message: "HTTP 401"},
			want: `{"type":"CONNECTION_STATUS","connectionStatus":{"status":"FAILED","message":"HTTP 401"}}`,
		},
		{
			name: "spec",
			msg:  protocol.Spec{DocumentationURL: "https://example.com/docs", ConnectionSpecification: json.RawMessage(`{"type":"object"}`), SupportsIncremental: true},
			want: `{"type":"SPEC","spec":{"documentationUrl":"https://example.com/docs","connectionSpecification":{"type":"object"},"supportsIncremental":true}}`,
		},
		{
			name: "spec without documentation",
			msg:  protocol.Spec{ConnectionSpecification: json.RawMessage(`{"type":"object"}`)},
			want: `{"type":"SPEC","spec":{"connectionSpecification":{"type":"object"},"supportsIncremental":false}}`,
		},
		{
			name: "catalog",
			msg:  protocol.Catalog{Streams: []json.RawMessage{json.RawMessage(`{"name":"a","json_schema":{},"supported_sync_modes":["full_refresh"]}`)}},
			want: `{"type":"CATALOG","catalog":{"streams":[{"name":"a","json_schema":{},"supported_sync_modes":["full_refresh"]}]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := newTestWriter(&out)
			if err := w.Write(tt.msg); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			ls := lines(t, out.Bytes())
			if len(ls) != 1 {
				t.Fatalf("got %d lines, want 1:\n%s", len(ls), out.Bytes())
			}
			validateMessage(t, ls[0])
			if diff := cmp.Diff(decode(t, []byte(tt.want)), decode(t, ls[0])); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEncodeRealSpecAndCatalog checks the connector's own spec and
// catalog against the protocol schema.
func TestEncodeRealSpecAndCatalog(t *testing.T) {
	var streams []json.RawMessage
	for _, s := range connector.Catalog() {
		streams = append(streams, s.AirbyteStream())
	}
	var out bytes.Buffer
	w := newTestWriter(&out)
	for _, m := range []protocol.Message{
		protocol.Spec{DocumentationURL: "https://example.com", ConnectionSpecification: spec.ConnectionSpecification(), SupportsIncremental: true},
		protocol.Catalog{Streams: streams},
	} {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	ls := lines(t, out.Bytes())
	if len(ls) != 2 {
		t.Fatalf("got %d lines, want 2", len(ls))
	}
	for _, l := range ls {
		validateMessage(t, l)
	}
	var got struct {
		Catalog struct {
			Streams []struct {
				Name string `json:"name"`
			} `json:"streams"`
		} `json:"catalog"`
	}
	if err := json.Unmarshal(ls[1], &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Catalog.Streams) != len(streams) {
		t.Errorf("catalog has %d streams, want %d", len(got.Catalog.Streams), len(streams))
	}
}

func TestLogLevels(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "DEBUG"},
		{slog.LevelDebug, "DEBUG"},
		{slog.LevelInfo - 1, "DEBUG"},
		{slog.LevelInfo, "INFO"},
		{slog.LevelInfo + 2, "INFO"},
		{slog.LevelWarn, "WARN"},
		{slog.LevelError, "ERROR"},
		{slog.LevelError + 4, "ERROR"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		w := newTestWriter(&out)
		if err := w.Write(protocol.Log{Level: tt.level, Message: "m"}); err != nil {
			t.Fatal(err)
		}
		ls := lines(t, out.Bytes())
		if len(ls) != 1 {
			t.Fatalf("%v: %d lines", tt.level, len(ls))
		}
		validateMessage(t, ls[0])
		want := decode(t, []byte(`{"type":"LOG","log":{"level":"`+tt.want+`","message":"m"}}`))
		if diff := cmp.Diff(want, decode(t, ls[0])); diff != "" {
			t.Errorf("level %v (-want +got):\n%s", tt.level, diff)
		}
	}
}

func TestWriteNilMessage(t *testing.T) {
	var out bytes.Buffer
	w := newTestWriter(&out)
	if err := w.Write(nil); err == nil {
		t.Error("Write(nil) succeeded")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("Write(nil) wrote %q", out.String())
	}
}

func TestRedaction(t *testing.T) {
	const (
		secret = "Zq9SecretValueXq7"
		sidKey = "SK0123456789abcdef0123456789abcdef"
	)
	creds := sidKey + ":" + secret
	msgs := []protocol.Message{
		protocol.Record{Stream: "accounts", Data: json.RawMessage(`{"sid":"AC1","note":"token ` + secret + ` here","nested":{"k":["` + creds + `"]}}`), EmittedAt: now},
		protocol.State{Stream: "usage_records", Data: json.RawMessage(`{"states":[{"partition":{"account_sid":"` + secret + `"},"cursor":{"start_date":"x"}}]}`)},
		protocol.StreamStatus{Stream: secret, Status: protocol.StatusRunning},
		protocol.Estimate{Stream: secret, Rows: 1},
		protocol.Log{Level: slog.LevelWarn, Message: "GET /x?auth=" + secret},
		protocol.Error{Message: "failed with " + secret, Internal: "Basic " + creds, Failure: protocol.SystemError, Stream: "s" + secret},
		protocol.ConnectionStatus{Message: "bad " + creds},
		protocol.Spec{ConnectionSpecification: json.RawMessage(`{"default":"` + secret + `"}`)},
		protocol.Catalog{Streams: []json.RawMessage{json.RawMessage(`{"name":"` + secret + `","json_schema":{},"supported_sync_modes":["full_refresh"]}`)}},
	}
	var out bytes.Buffer
	// The empty secret must be ignored, not replace everything.
	w := newTestWriter(&out, secret, "", creds)
	for _, m := range msgs {
		if err := w.Write(m); err != nil {
			t.Fatalf("Write(%T): %v", m, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	ls := lines(t, out.Bytes())
	if len(ls) != len(msgs) {
		t.Fatalf("got %d lines, want %d:\n%s", len(ls), len(msgs), out.Bytes())
	}
	for i, l := range ls {
		validateMessage(t, l)
		if bytes.Contains(l, []byte(secret)) {
			t.Errorf("%T: secret in output: %s", msgs[i], l)
		}
		if !bytes.Contains(l, []byte("**********")) {
			t.Errorf("%T: no redaction mark in output: %s", msgs[i], l)
		}
	}
	// Everything that is not a secret stays.
	if !bytes.Contains(ls[0], []byte(`"sid":"AC1"`)) || !bytes.Contains(ls[4], []byte("GET /x?auth=")) {
		t.Errorf("redaction removed more than the secrets:\n%s", out.Bytes())
	}
}

func TestNoSecretsNoChange(t *testing.T) {
	msg := protocol.Log{Level: slog.LevelInfo, Message: "hello"}
	var plain, withEmpty bytes.Buffer
	if err := newTestWriter(&plain).Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := newTestWriter(&withEmpty, "", "").Write(msg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(plain.String(), withEmpty.String()); diff != "" {
		t.Errorf("empty secrets changed the output (-want +got):\n%s", diff)
	}
}

// writeRecorder records what reaches the underlying writer.
type writeRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
	err error
}

func (r *writeRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	return r.buf.Write(p)
}

func (r *writeRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

func TestRecordsBufferedUntilState(t *testing.T) {
	var rec writeRecorder
	w := NewWriter(&rec)
	for i := range 3 {
		if err := w.Write(protocol.Record{Stream: "sims", Data: json.RawMessage(fmt.Sprintf(`{"sid":"DE%d"}`, i)), EmittedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.String(); got != "" {
		t.Errorf("records reached the output before a STATE: %q", got)
	}
	if err := w.Write(protocol.State{Stream: "sims", Data: json.RawMessage(`{}`), RecordCount: 3}); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, l := range lines(t, []byte(rec.String())) {
		var m struct {
			Type   string `json:"type"`
			Record struct {
				Data struct{ SID string } `json:"data"`
			} `json:"record"`
		}
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		types = append(types, m.Type+m.Record.Data.SID)
	}
	if diff := cmp.Diff([]string{"RECORDDE0", "RECORDDE1", "RECORDDE2", "STATE"}, types); diff != "" {
		t.Errorf("output after STATE (-want +got):\n%s", diff)
	}

	// Flush writes pending records without any other message.
	if err := w.Write(protocol.Record{Stream: "sims", Data: json.RawMessage(`{"sid":"DE9"}`), EmittedAt: now}); err != nil {
		t.Fatal(err)
	}
	before := len(lines(t, []byte(rec.String())))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if after := len(lines(t, []byte(rec.String()))); after != before+1 {
		t.Errorf("Flush: %d lines, want %d", after, before+1)
	}
}

func TestEveryNonRecordMessageFlushes(t *testing.T) {
	msgs := []protocol.Message{
		protocol.StreamStatus{Stream: "s", Status: protocol.StatusStarted},
		protocol.Estimate{Stream: "s", Rows: 1},
		protocol.Log{Level: slog.LevelInfo, Message: "m"},
		protocol.Error{Message: "m", Failure: protocol.SystemError},
		protocol.ConnectionStatus{Succeeded: true},
		protocol.Spec{ConnectionSpecification: json.RawMessage(`{}`)},
		protocol.Catalog{},
	}
	for _, m := range msgs {
		var rec writeRecorder
		w := NewWriter(&rec)
		if err := w.Write(protocol.Record{Stream: "s", Data: json.RawMessage(`{}`), EmittedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		if n := len(lines(t, []byte(rec.String()))); n != 2 {
			t.Errorf("%T: %d lines on the wire, want 2", m, n)
		}
	}
}

func TestWriteErrorSticks(t *testing.T) {
	boom := errors.New("disk full")
	rec := writeRecorder{err: boom}
	w := NewWriter(&rec)
	if err := w.Write(protocol.Record{Stream: "s", Data: json.RawMessage(`{}`), EmittedAt: now}); err != nil {
		t.Fatalf("buffered record: %v", err)
	}
	if err := w.Write(protocol.State{Stream: "s", Data: json.RawMessage(`{}`)}); !errors.Is(err, boom) {
		t.Errorf("State write error = %v, want %v", err, boom)
	}
	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	if err := w.Write(protocol.Log{Level: slog.LevelInfo, Message: "m"}); !errors.Is(err, boom) {
		t.Errorf("write after a failure = %v, want %v", err, boom)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Errorf("Flush after a failure = %v, want %v", err, boom)
	}
}

func TestConcurrentWritesStayWhole(t *testing.T) {
	var out bytes.Buffer
	w := newTestWriter(&out)
	big := strings.Repeat("x", 10_000)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				var m protocol.Message = protocol.Record{Stream: "s", Data: json.RawMessage(fmt.Sprintf(`{"g":%d,"i":%d,"pad":%q}`, g, i, big)), EmittedAt: now}
				if i%10 == 9 {
					m = protocol.State{Stream: "s", Data: json.RawMessage(`{}`), RecordCount: 9}
				}
				if err := w.Write(m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	ls := lines(t, out.Bytes())
	if len(ls) != 200 {
		t.Fatalf("got %d lines, want 200", len(ls))
	}
	for _, l := range ls {
		if !json.Valid(l) {
			t.Fatalf("interleaved line: %.200s", l)
		}
	}
}

// logLines runs f with a logger over a LogHandler at level and returns the
// LOG messages written, as level and message.
func logLines(t *testing.T, level slog.Level, f func(*slog.Logger)) [][2]string {
	t.Helper()
	var out bytes.Buffer
	w := newTestWriter(&out, "Zq9SecretValueXq7")
	f(slog.New(NewLogHandler(w, level)))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	for _, l := range lines(t, out.Bytes()) {
		validateMessage(t, l)
		var m struct {
			Type string `json:"type"`
			Log  struct {
				Level   string `json:"level"`
				Message string `json:"message"`
			} `json:"log"`
		}
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "LOG" {
			t.Errorf("type = %q, want LOG", m.Type)
		}
		got = append(got, [2]string{m.Log.Level, m.Log.Message})
	}
	return got
}

func TestLogHandler(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		log   func(*slog.Logger)
		want  [][2]string
	}{
		{
			name:  "levels below the threshold are dropped",
			level: slog.LevelInfo,
			log: func(l *slog.Logger) {
				l.Debug("hidden")
				l.Info("shown")
				l.Warn("careful")
				l.Error("broken")
			},
			want: [][2]string{{"INFO", "shown"}, {"WARN", "careful"}, {"ERROR", "broken"}},
		},
		{
			name:  "debug enabled",
			level: slog.LevelDebug,
			log:   func(l *slog.Logger) { l.Debug("retrying", "attempt", 2) },
			want:  [][2]string{{"DEBUG", "retrying attempt=2"}},
		},
		{
			name:  "attributes",
			level: slog.LevelInfo,
			log: func(l *slog.Logger) {
				l.Info("page read", "path", "/2010-04-01/Accounts.json", "rows", 1000, "ok", true, "took", 1500*time.Millisecond)
			},
			want: [][2]string{{"INFO", "page read path=/2010-04-01/Accounts.json rows=1000 ok=true took=1.5s"}},
		},
		{
			name:  "values that need quoting",
			level: slog.LevelInfo,
			log: func(l *slog.Logger) {
				l.Warn("skipped", "reason", "not found", "empty", "", "eq", "a=b", "quote", `say "hi"`)
			},
			want: [][2]string{{"WARN", `skipped reason="not found" empty="" eq="a=b" quote="say \"hi\""`}},
		},
		{
			name:  "With attributes come first",
			level: slog.LevelInfo,
			log: func(l *slog.Logger) {
				l2 := l.With("stream", "usage_records")
				l2.Info("partition done", "account", "AC1")
				l.Info("no stream")
			},
			want: [][2]string{{"INFO", "partition done stream=usage_records account=AC1"}, {"INFO", "no stream"}},
		},
		{
			name:  "groups qualify keys",
			level: slog.LevelInfo,
			log:   func(l *slog.Logger) { l.WithGroup("http").WithGroup("resp").Info("answer", "status", 500) },
			want:  [][2]string{{"INFO", "answer http.resp.status=500"}},
		},
		{
			name:  "attributes added before a group are not qualified by it",
			level: slog.LevelInfo,
			log:   func(l *slog.Logger) { l.With("stream", "sims").WithGroup("http").Info("answer", "status", 429) },
			want:  [][2]string{{"INFO", "answer stream=sims http.status=429"}},
		},
		{
			name:  "empty attributes are dropped",
			level: slog.LevelInfo,
			log:   func(l *slog.Logger) { l.Info("m", slog.Attr{}, "k", "v") },
			want:  [][2]string{{"INFO", "m k=v"}},
		},
		{
			name:  "secrets in attributes are redacted",
			level: slog.LevelInfo,
			log:   func(l *slog.Logger) { l.Error("request failed", "url", "https://u:Zq9SecretValueXq7@h/") },
			want:  [][2]string{{"ERROR", "request failed url=https://u:**********@h/"}},
		},
		{
			name:  "LogValuer is resolved",
			level: slog.LevelInfo,
			log:   func(l *slog.Logger) { l.Info("m", "v", lazy("resolved")) },
			want:  [][2]string{{"INFO", "m v=resolved"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := logLines(t, tt.level, tt.log)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LOG messages (-want +got):\n%s", diff)
			}
		})
	}
}

type lazy string

func (l lazy) LogValue() slog.Value { return slog.StringValue(string(l)) }

func TestLogHandlerEnabled(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	h := NewLogHandler(NewWriter(&bytes.Buffer{}), &lv)
	ctx := context.Background()
	if h.Enabled(ctx, slog.LevelInfo) || !h.Enabled(ctx, slog.LevelWarn) {
		t.Error("Enabled does not follow the level")
	}
	lv.Set(slog.LevelDebug)
	if !h.Enabled(ctx, slog.LevelDebug) {
		t.Error("Enabled does not follow a changed LevelVar")
	}
}
