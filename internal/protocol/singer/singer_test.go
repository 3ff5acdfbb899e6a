package singer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/state"
)

// now is the writer's clock in these tests.
var now = time.Date(2026, time.January, 2, 3, 4, 5, 678_000_000, time.UTC)

const (
	acA = "AC00000000000000000000000000000001"
	deA = "DE00000000000000000000000000000001"
)

func selection(t *testing.T, name string, mode catalog.SyncMode, deselected ...string) Selection {
	t.Helper()
	s, ok := connector.Catalog().Lookup(name)
	if !ok {
		t.Fatalf("no stream %s", name)
	}
	return Selection{Configured: catalog.Configured{Stream: s, SyncMode: mode}, Deselected: deselected}
}

func newTestWriter(stdout, stderr *bytes.Buffer, sels []Selection, marks state.Bookmarks, secrets ...string) *Writer {
	w := NewWriter(stdout, stderr, sels, marks, secrets...)
	w.now = func() time.Time { return now }
	return w
}

// decodeLines decodes every stdout line as a JSON object, keeping numbers
// as written.
func decodeLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line is not a JSON object: %v\n%s", err, sc.Bytes())
		}
		msgs = append(msgs, m)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	return msgs
}

// summary keeps what a test compares of a message: a SCHEMA's schema is
// checked on its own.
func summary(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != "schema" {
			out[k] = v
		}
	}
	return out
}

func TestWriterMessages(t *testing.T) {
	usageBlob := `{"states":[{"partition":{"account_sid":"` + acA + `"},"cursor":{"start_date":"2026-01-01"}}]}`
	usageMark := map[string]any{"partitions": []any{map[string]any{
		"context": map[string]any{"account_sid": acA}, "replication_key": "start_date", "replication_key_value": "2026-01-01",
	}}}
	simMark := `{"partitions":[{"context":{"sim_sid":"` + deA + `"},"replication_key":"period_start","replication_key_value":"2025-12-01T00:00:00Z"}]}`
	var stdout, stderr bytes.Buffer
	w := newTestWriter(&stdout, &stderr,
		[]Selection{selection(t, "accounts", catalog.FullRefresh), selection(t, "usage_records", catalog.Incremental)},
		// A stream this run does not read keeps its bookmark.
		state.Bookmarks{"sim_usage_records": json.RawMessage(simMark)})
	for _, m := range []protocol.Message{
		protocol.StreamStatus{Stream: "usage_records", Status: protocol.StatusStarted},
		protocol.Estimate{Stream: "usage_records", Rows: 10},
		protocol.Record{Stream: "usage_records", Data: json.RawMessage(`{"account_sid":"` + acA + `","category":"sms","start_date":"2026-01-01","price":0.10}`), EmittedAt: now},
		protocol.Record{Stream: "usage_records", Data: json.RawMessage("{\n \"account_sid\": \"" + acA + "\",\n \"category\": \"calls\",\n \"start_date\": \"2026-01-01\"}"), EmittedAt: now},
		protocol.State{Stream: "usage_records", Data: json.RawMessage(usageBlob), RecordCount: 2},
		protocol.StreamStatus{Stream: "usage_records", Status: protocol.StatusComplete},
		protocol.Record{Stream: "accounts", Data: json.RawMessage(`{"sid":"` + acA + `"}`), EmittedAt: now.Add(time.Second)},
		protocol.State{Stream: "accounts", Data: json.RawMessage(`{}`), RecordCount: 1},
		protocol.Log{Level: slog.LevelWarn, Message: "two\nlines"},
		protocol.Error{Message: "it broke", Internal: "dial tcp: refused", Failure: protocol.TransientError, Stream: "accounts"},
	} {
		if err := w.Write(m); err != nil {
			t.Fatalf("Write(%#v): %v", m, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	msgs := decodeLines(t, stdout.Bytes())
	var got []map[string]any
	for _, m := range msgs {
		got = append(got, summary(m))
	}
	want := []map[string]any{
		{"type": "SCHEMA", "stream": "usage_records", "key_properties": []any{"account_sid", "category", "start_date"}, "bookmark_properties": []any{"start_date"}},
		{"type": "RECORD", "stream": "usage_records", "time_extracted": "2026-01-02T03:04:05.678Z",
			"record": map[string]any{"account_sid": acA, "category": "sms", "start_date": "2026-01-01", "price": json.Number("0.10")}},
		{"type": "RECORD", "stream": "usage_records", "time_extracted": "2026-01-02T03:04:05.678Z",
			"record": map[string]any{"account_sid": acA, "category": "calls", "start_date": "2026-01-01"}},
		{"type": "STATE", "value": map[string]any{"bookmarks": map[string]any{
			"usage_records":     usageMark,
			"sim_usage_records": decodeAny(t, simMark),
		}}},
		// accounts is read as a full table: no bookmark_properties, and its
		// checkpoint writes no STATE.
		{"type": "SCHEMA", "stream": "accounts", "key_properties": []any{"sid"}},
		{"type": "RECORD", "stream": "accounts", "time_extracted": "2026-01-02T03:04:06.678Z", "record": map[string]any{"sid": acA}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if !strings.Contains(stdout.String(), `"price":0.10`) {
		t.Errorf("a number was not kept as written:\n%s", stdout.String())
	}
	wantErr := strings.Join([]string{
		"2026-01-02T03:04:05Z INFO stream usage_records: STARTED",
		"2026-01-02T03:04:05Z INFO stream usage_records: about 10 records to read",
		"2026-01-02T03:04:05Z INFO stream usage_records: COMPLETE",
		"2026-01-02T03:04:05Z WARN two; lines",
		"2026-01-02T03:04:05Z ERROR stream accounts: it broke (dial tcp: refused)",
		"",
	}, "\n")
	if diff := cmp.Diff(wantErr, stderr.String()); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(decodeAny(t, `{"bookmarks":{"sim_usage_records":`+simMark+`,"usage_records":`+mustJSON(t, usageMark)+`}}`), decodeAny(t, string(w.State()))); diff != "" {
		t.Errorf("State() (-want +got):\n%s", diff)
	}
}

func decodeAny(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Many partitions write at once: every RECORD still follows its stream's
// one SCHEMA, and every line is whole.
func TestWriterConcurrentStreams(t *testing.T) {
	var stdout, stderr bytes.Buffer
	streams := []string{"usage_records", "sim_usage_records"}
	w := newTestWriter(&stdout, &stderr, []Selection{
		selection(t, streams[0], catalog.Incremental), selection(t, streams[1], catalog.Incremental),
	}, nil)
	const perWorker = 200
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := streams[i%2]
			for j := range perWorker {
				rec := fmt.Sprintf(`{"n":%d,"worker":%d}`, j, i)
				if err := w.Write(protocol.Record{Stream: name, Data: json.RawMessage(rec), EmittedAt: now}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	w.Flush()
	schemas := map[string]int{}
	records := 0
	for i, m := range decodeLines(t, stdout.Bytes()) {
		name := m["stream"].(string)
		switch m["type"] {
		case "SCHEMA":
			schemas[name]++
		case "RECORD":
			records++
			if schemas[name] != 1 {
				t.Fatalf("line %d: RECORD of %s before its SCHEMA", i+1, name)
			}
		}
	}
	if diff := cmp.Diff(map[string]int{streams[0]: 1, streams[1]: 1}, schemas); diff != "" {
		t.Errorf("SCHEMA messages per stream (-want +got):\n%s", diff)
	}
	if records != 8*perWorker {
		t.Errorf("%d records, want %d", records, 8*perWorker)
	}
}

func TestWriterRedactsSecrets(t *testing.T) {
	const token, keySecret = "s3cr3tT0ken", "k3ySecret"
	var stdout, stderr bytes.Buffer
	w := newTestWriter(&stdout, &stderr, []Selection{selection(t, "accounts", catalog.FullRefresh)}, nil, token, "", keySecret)
	for _, m := range []protocol.Message{
		protocol.Record{Stream: "accounts", Data: json.RawMessage(`{"sid":"x","auth_token":"` + token + `"}`), EmittedAt: now},
		protocol.Log{Level: slog.LevelInfo, Message: "request with " + keySecret},
		protocol.Error{Message: "failed", Internal: "401 for " + token},
	} {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	for _, out := range []struct {
		name string
		b    []byte
	}{{"stdout", stdout.Bytes()}, {"stderr", stderr.Bytes()}} {
		for _, s := range []string{token, keySecret} {
			if bytes.Contains(out.b, []byte(s)) {
				t.Errorf("%s contains secret %q:\n%s", out.name, s, out.b)
			}
		}
		if !bytes.Contains(out.b, []byte(protocol.Redacted)) {
			t.Errorf("%s has no %s where the secret was:\n%s", out.name, protocol.Redacted, out.b)
		}
	}
}

func TestWriterRejects(t *testing.T) {
	tests := []struct {
		name    string
		msg     protocol.Message
		wantErr string
	}{
		{"record of an unselected stream", protocol.Record{Stream: "sims", Data: json.RawMessage(`{}`)}, "stream sims was not selected"},
		{"state of an unselected stream", protocol.State{Stream: "sims", Data: json.RawMessage(`{}`)}, "stream sims was not selected"},
		{"record without data", protocol.Record{Stream: "usage_records", Data: json.RawMessage(" ")}, "has no data"},
		{"state the stream cannot read", protocol.State{Stream: "usage_records", Data: json.RawMessage(`{"states":[{"partition":{},"cursor":{}}]}`)}, "state of stream usage_records"},
		{"an Airbyte-only message", protocol.Spec{}, "cannot encode message of type protocol.Spec"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			w := newTestWriter(&stdout, &stderr, []Selection{selection(t, "usage_records", catalog.Incremental)}, nil)
			err := w.Write(tc.msg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestWriterDropsDeselectedProperties(t *testing.T) {
	var stdout, stderr bytes.Buffer
	// start_date is the replication key and account_sid a key property:
	// ParseCatalog never deselects those, so only price and uri go.
	w := newTestWriter(&stdout, &stderr, []Selection{selection(t, "usage_records", catalog.Incremental, "price", "uri")}, nil)
	err := w.Write(protocol.Record{Stream: "usage_records", EmittedAt: now,
		Data: json.RawMessage(`{"account_sid":"` + acA + `","category":"sms","start_date":"2026-01-01","price":1.5,"uri":"/x"}`)})
	if err != nil {
		t.Fatal(err)
	}
	w.Flush()
	msgs := decodeLines(t, stdout.Bytes())
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want SCHEMA and RECORD", len(msgs))
	}
	props := msgs[0]["schema"].(map[string]any)["properties"].(map[string]any)
	for _, p := range []string{"price", "uri"} {
		if _, ok := props[p]; ok {
			t.Errorf("SCHEMA still has deselected property %s", p)
		}
	}
	if _, ok := props["usage"]; !ok {
		t.Error("SCHEMA lost a selected property")
	}
	want := map[string]any{"account_sid": acA, "category": "sms", "start_date": "2026-01-01"}
	if diff := cmp.Diff(want, msgs[1]["record"]); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
}

func TestSchemaInlinesReferences(t *testing.T) {
	got, err := singerSchema(selection(t, "sim_usage_records", catalog.Incremental))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte(`"$ref"`)) || bytes.Contains(got, []byte(`"definitions"`)) {
		t.Errorf("schema still has references:\n%s", got)
	}
	var doc struct {
		Properties map[string]struct {
			Properties map[string]struct {
				Properties map[string]any `json:"properties"`
				Items      struct {
					Properties map[string]any `json:"properties"`
				} `json:"items"`
			} `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	data := doc.Properties["data"].Properties
	if _, ok := data["home"].Properties["billed"]; !ok {
		t.Errorf("data.home was not inlined: %v", data["home"])
	}
	if _, ok := data["international_roaming"].Items.Properties["country"]; !ok {
		t.Errorf("data.international_roaming.items was not inlined: %v", data["international_roaming"])
	}

	bad := selection(t, "sims", catalog.FullRefresh)
	bad.Stream.Schema = json.RawMessage(`{"properties":{"x":{"$ref":"#/definitions/missing"}}}`)
	if _, err := singerSchema(bad); err == nil || !strings.Contains(err.Error(), "#/definitions/missing") {
		t.Errorf("an unresolvable $ref gave %v", err)
	}
}
