package state_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/state"
)

const (
	acA = "AC00000000000000000000000000000001"
	acB = "AC00000000000000000000000000000002"
	acC = "AC00000000000000000000000000000003"
)

// cursors lists a stream's partitions and cursors.
func cursors(s *state.Stream) map[string]string {
	out := map[string]string{}
	for _, p := range s.Partitions() {
		out[p], _ = s.Cursor(p)
	}
	return out
}

func TestStreamCursors(t *testing.T) {
	s := state.NewStream("account_sid", "start_date")
	if _, ok := s.Cursor(acA); ok {
		t.Error("new stream has a cursor")
	}
	s.Set(acB, "2026-01-02")
	s.Set(acA, "2026-01-01")
	s.Set(acB, "2026-01-03")
	if got, ok := s.Cursor(acB); !ok || got != "2026-01-03" {
		t.Errorf("Cursor(%s) = %q, %v; want 2026-01-03, true", acB, got, ok)
	}
	if diff := cmp.Diff([]string{acA, acB}, s.Partitions()); diff != "" {
		t.Errorf("Partitions (-want +got):\n%s", diff)
	}

	c := s.Clone()
	c.Set(acC, "2026-02-01")
	c.Set(acA, "2026-02-01")
	if diff := cmp.Diff(map[string]string{acA: "2026-01-01", acB: "2026-01-03"}, cursors(s)); diff != "" {
		t.Errorf("changing a clone changed the original (-want +got):\n%s", diff)
	}
	if c.PartitionKey != "account_sid" || c.CursorField != "start_date" {
		t.Errorf("clone keys = %q, %q", c.PartitionKey, c.CursorField)
	}
}

func TestAirbyteRoundTrip(t *testing.T) {
	tests := []struct {
		name         string
		partitionKey string
		cursorField  string
		set          [][2]string // in the order Set is called
		want         string
	}{
		{
			name:         "empty",
			partitionKey: "account_sid",
			cursorField:  "start_date",
			want:         `{"states":[]}`,
		},
		{
			name:         "accounts out of order",
			partitionKey: "account_sid",
			cursorField:  "start_date",
			set:          [][2]string{{acC, "2026-03-01"}, {acA, "2026-01-01"}, {acB, "2026-02-01"}},
			want: `{"states":[` +
				`{"partition":{"account_sid":"` + acA + `"},"cursor":{"start_date":"2026-01-01"}},` +
				`{"partition":{"account_sid":"` + acB + `"},"cursor":{"start_date":"2026-02-01"}},` +
				`{"partition":{"account_sid":"` + acC + `"},"cursor":{"start_date":"2026-03-01"}}]}`,
		},
		{
			name:         "sims",
			partitionKey: "sim_sid",
			cursorField:  "period_start",
			set:          [][2]string{{"DE2", "2026-01-02T00:00:00Z"}, {"DE1", "2026-01-01T00:00:00Z"}},
			want: `{"states":[` +
				`{"partition":{"sim_sid":"DE1"},"cursor":{"period_start":"2026-01-01T00:00:00Z"}},` +
				`{"partition":{"sim_sid":"DE2"},"cursor":{"period_start":"2026-01-02T00:00:00Z"}}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.NewStream(tt.partitionKey, tt.cursorField)
			for _, kv := range tt.set {
				s.Set(kv[0], kv[1])
			}
			blob := s.Airbyte()
			if diff := cmp.Diff(tt.want, string(blob)); diff != "" {
				t.Errorf("Airbyte() (-want +got):\n%s", diff)
			}

			back, err := state.FromAirbyte(blob, tt.partitionKey, tt.cursorField)
			if err != nil {
				t.Fatalf("FromAirbyte: %v", err)
			}
			if diff := cmp.Diff(cursors(s), cursors(back)); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			// Equal states encode to equal bytes, whatever the history.
			if again := back.Airbyte(); string(again) != string(blob) {
				t.Errorf("re-encoded blob differs:\n%s\n%s", blob, again)
			}
		})
	}
}

func TestFromAirbyteEmpty(t *testing.T) {
	for _, blob := range []string{"", "null", "{}", ` { } `, `{"states": []}`} {
		s, err := state.FromAirbyte(json.RawMessage(blob), "account_sid", "start_date")
		if err != nil {
			t.Errorf("FromAirbyte(%q): %v", blob, err)
			continue
		}
		if got := s.Partitions(); len(got) != 0 {
			t.Errorf("FromAirbyte(%q) has partitions %v", blob, got)
		}
		if s.PartitionKey != "account_sid" || s.CursorField != "start_date" {
			t.Errorf("FromAirbyte(%q) keys = %q, %q", blob, s.PartitionKey, s.CursorField)
		}
		// An empty state is usable.
		s.Set(acA, "2026-01-01")
	}
}

func TestFromAirbyteAcceptsExtraFields(t *testing.T) {
	blob := `{"states": [{"partition": {"account_sid": "` + acA + `", "region": "us1"}, "cursor": {"start_date": "2026-01-05", "other": "x"}}], "use_global_cursor": false}`
	s, err := state.FromAirbyte(json.RawMessage(blob), "account_sid", "start_date")
	if err != nil {
		t.Fatalf("FromAirbyte: %v", err)
	}
	if diff := cmp.Diff(map[string]string{acA: "2026-01-05"}, cursors(s)); diff != "" {
		t.Errorf("cursors (-want +got):\n%s", diff)
	}
}

func TestFromAirbyteRejects(t *testing.T) {
	tests := []struct {
		name string
		blob string
		want string
	}{
		{"not JSON", `{"states": [`, `not an object with a "states" array`},
		{"array", `[]`, `not an object with a "states" array`},
		{"string", `"2026-01-01"`, `not an object with a "states" array`},
		{"legacy cursor object", `{"start_date": "2026-01-01"}`, `no "states" array`},
		{"states not array", `{"states": {}}`, `not an object with a "states" array`},
		{"missing partition", `{"states": [{"cursor": {"start_date": "2026-01-01"}}]}`, `states[0]: partition has no "account_sid"`},
		{"wrong partition key", `{"states": [{"partition": {"sim_sid": "DE1"}, "cursor": {"start_date": "2026-01-01"}}]}`, `states[0]: partition has no "account_sid"`},
		{"empty partition", `{"states": [{"partition": {"account_sid": ""}, "cursor": {"start_date": "2026-01-01"}}]}`, `states[0]: partition has no "account_sid"`},
		{"missing cursor", `{"states": [{"partition": {"account_sid": "` + acA + `"}}]}`, `states[0] (` + acA + `): cursor has no "start_date"`},
		{"wrong cursor field", `{"states": [{"partition": {"account_sid": "` + acA + `"}, "cursor": {"end_date": "2026-01-01"}}]}`, `cursor has no "start_date"`},
		{"empty cursor", `{"states": [{"partition": {"account_sid": "` + acA + `"}, "cursor": {"start_date": ""}}]}`, `cursor has no "start_date"`},
		{
			"second entry bad",
			`{"states": [{"partition": {"account_sid": "` + acA + `"}, "cursor": {"start_date": "2026-01-01"}}, {"partition": {"account_sid": "` + acB + `"}, "cursor": {}}]}`,
			`states[1] (` + acB + `): cursor has no "start_date"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := state.FromAirbyte(json.RawMessage(tt.blob), "account_sid", "start_date")
			if err == nil {
				t.Fatalf("FromAirbyte succeeded with %v", cursors(s))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeAirbyte(t *testing.T) {
	usage := `{"states":[{"partition":{"account_sid":"` + acA + `"},"cursor":{"start_date":"2026-01-01"}}]}`
	sims := `{"states":[]}`
	tests := []struct {
		name string
		data string
		want state.Blobs
	}{
		{"empty file", "", state.Blobs{}},
		{"whitespace", " \n\t", state.Blobs{}},
		{"empty array", "[]", state.Blobs{}},
		{"null", "null", state.Blobs{}},
		{
			"state messages",
			`[{"type": "STREAM", "stream": {"stream_descriptor": {"name": "usage_records"}, "stream_state": ` + usage + `}},
			  {"type": "STREAM", "stream": {"stream_descriptor": {"name": "sim_usage_records", "namespace": "x"}, "stream_state": ` + sims + `}, "sourceStats": {"recordCount": 3.0}}]`,
			state.Blobs{"usage_records": json.RawMessage(usage), "sim_usage_records": json.RawMessage(sims)},
		},
		{
			"whole Airbyte messages",
			`[{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "usage_records"}, "stream_state": ` + usage + `}}}]`,
			state.Blobs{"usage_records": json.RawMessage(usage)},
		},
		{
			"mixed forms",
			`[{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "usage_records"}, "stream_state": ` + usage + `}}},
			  {"type": "STREAM", "stream": {"stream_descriptor": {"name": "sim_usage_records"}, "stream_state": ` + sims + `}}]`,
			state.Blobs{"usage_records": json.RawMessage(usage), "sim_usage_records": json.RawMessage(sims)},
		},
		{
			"stream without state",
			`[{"type": "STREAM", "stream": {"stream_descriptor": {"name": "usage_records"}}}]`,
			state.Blobs{"usage_records": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.DecodeAirbyte([]byte(tt.data))
			if err != nil {
				t.Fatalf("DecodeAirbyte: %v", err)
			}
			// Compare blobs as JSON values: the encoder may compact them.
			if diff := cmp.Diff(decodeBlobs(t, tt.want), decodeBlobs(t, got)); diff != "" {
				t.Errorf("DecodeAirbyte (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeAirbyteNamesWhatItGot(t *testing.T) {
	singer := `{"bookmarks":{"usage_records":{"partitions":[]}}}`
	tests := []struct {
		name, data, want string
	}{
		{"a Singer state", singer, "looks like a Singer state"},
		{"a Singer STATE message", `{"type":"STATE","value":` + singer + `}`, "looks like a Singer state"},
		{"Meltano's stored Singer state", `{"singer_state":` + singer + `}`, "looks like a Singer state"},
		{"one Airbyte state message", `{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{}}}`, "put it in a JSON array"},
		{"something else", `{"a":1}`, "state must be a JSON array of STREAM state messages: json: cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := state.DecodeAirbyte([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func decodeBlobs(t *testing.T, b state.Blobs) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range b {
		if v == nil {
			out[k] = nil
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			t.Fatalf("blob of %s: %v", k, err)
		}
		out[k] = x
	}
	return out
}

func TestDecodeAirbyteThenFromAirbyte(t *testing.T) {
	s := state.NewStream("account_sid", "start_date")
	s.Set(acB, "2026-02-02")
	s.Set(acA, "2026-01-01")
	file := `[{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":` + string(s.Airbyte()) + `}}]`
	blobs, err := state.DecodeAirbyte([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	back, err := state.FromAirbyte(blobs["usage_records"], "account_sid", "start_date")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cursors(s), cursors(back)); diff != "" {
		t.Errorf("state through a state file (-want +got):\n%s", diff)
	}
}

func TestDecodeAirbyteRejects(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"invalid JSON", `[{"type": "STREAM"`, []string{"state must be a JSON array"}},
		{"object", `{"type": "STREAM", "stream": {"stream_descriptor": {"name": "usage_records"}}}`, []string{"state must be a JSON array"}},
		{"element not object", `["STREAM"]`, []string{"state[0]"}},
		{"global", `[{"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": []}}]`, []string{`state[0]: type "GLOBAL" is not supported`, "STREAM"}},
		{"legacy", `[{"type": "LEGACY", "data": {"usage_records": {}}}]`, []string{`state[0]: type "LEGACY" is not supported`}},
		{"no type", `[{"data": {"usage_records": {}}}]`, []string{`state[0]: type "" is not supported`}},
		{"global inside an Airbyte message", `[{"type": "STATE", "state": {"type": "GLOBAL", "global": {"stream_states": []}}}]`, []string{`state[0]: type "GLOBAL" is not supported`}},
		{"unknown type", `[{"type": "PER_STREAM"}]`, []string{`state[0]: unknown state type "PER_STREAM"`}},
		{"missing descriptor name", `[{"type": "STREAM", "stream": {"stream_descriptor": {}, "stream_state": {}}}]`, []string{"state[0]: stream.stream_descriptor.name is missing"}},
		{"missing descriptor", `[{"type": "STREAM", "stream": {"stream_state": {}}}]`, []string{"stream.stream_descriptor.name is missing"}},
		{"missing stream", `[{"type": "STREAM"}]`, []string{"stream.stream_descriptor.name is missing"}},
		{
			"second message bad",
			`[{"type": "STREAM", "stream": {"stream_descriptor": {"name": "usage_records"}}}, {"type": "GLOBAL"}]`,
			[]string{`state[1]: type "GLOBAL"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.DecodeAirbyte([]byte(tt.data))
			if err == nil {
				t.Fatalf("DecodeAirbyte succeeded with %v", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
