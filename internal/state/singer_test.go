package state_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/state"
)

const (
	deA = "DE00000000000000000000000000000001"
	deB = "DE00000000000000000000000000000002"
)

func TestSingerRoundTrip(t *testing.T) {
	tests := []struct {
		name                      string
		partitionKey, cursorField string
		set                       [][2]string
		want                      string
	}{
		{
			name:         "empty",
			partitionKey: "account_sid", cursorField: "start_date",
			want: `{"partitions":[]}`,
		},
		{
			name:         "accounts out of order",
			partitionKey: "account_sid", cursorField: "start_date",
			set: [][2]string{{acB, "2026-02-01"}, {acA, "2026-01-01"}},
			want: `{"partitions":[` +
				`{"context":{"account_sid":"` + acA + `"},"replication_key":"start_date","replication_key_value":"2026-01-01"},` +
				`{"context":{"account_sid":"` + acB + `"},"replication_key":"start_date","replication_key_value":"2026-02-01"}]}`,
		},
		{
			name:         "sims",
			partitionKey: "sim_sid", cursorField: "period_start",
			set: [][2]string{{deA, "2026-03-01T00:00:00Z"}},
			want: `{"partitions":[` +
				`{"context":{"sim_sid":"` + deA + `"},"replication_key":"period_start","replication_key_value":"2026-03-01T00:00:00Z"}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := state.NewStream(tc.partitionKey, tc.cursorField)
			want := map[string]string{}
			for _, kv := range tc.set {
				s.Set(kv[0], kv[1])
				want[kv[0]] = kv[1]
			}
			got := s.Singer()
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("Singer() (-want +got):\n%s", diff)
			}
			back, err := state.FromSinger(got, tc.partitionKey, tc.cursorField)
			if err != nil {
				t.Fatalf("FromSinger(Singer()): %v", err)
			}
			if diff := cmp.Diff(want, cursors(back)); diff != "" {
				t.Errorf("cursors after a round trip (-want +got):\n%s", diff)
			}
			// The Airbyte and Singer encodings carry the same cursors.
			viaAirbyte, err := state.FromAirbyte(back.Airbyte(), tc.partitionKey, tc.cursorField)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(got), string(viaAirbyte.Singer())); diff != "" {
				t.Errorf("Singer → Airbyte → Singer changed the state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromSinger(t *testing.T) {
	tests := []struct {
		name     string
		bookmark string
		want     map[string]string
		wantErr  string // substring; empty means no error
	}{
		{name: "absent", bookmark: "", want: map[string]string{}},
		{name: "null", bookmark: "null", want: map[string]string{}},
		{name: "empty object", bookmark: "{}", want: map[string]string{}},
		{
			name: "Meltano SDK extras are ignored",
			bookmark: `{"partitions":[{"context":{"account_sid":"` + acA + `"},"replication_key":"start_date",` +
				`"replication_key_value":"2026-01-05","replication_key_signpost":"2026-01-06","progress_markers":{"Note":"x"}}]}`,
			want: map[string]string{acA: "2026-01-05"},
		},
		{
			name:     "a partition without a bookmark yet",
			bookmark: `{"partitions":[{"context":{"account_sid":"` + acA + `"}},{"context":{"account_sid":"` + acB + `"},"replication_key":"start_date","replication_key_value":"2026-01-02"}]}`,
			want:     map[string]string{acB: "2026-01-02"},
		},
		{
			name:     "other replication key",
			bookmark: `{"partitions":[{"context":{"account_sid":"` + acA + `"},"replication_key":"end_date","replication_key_value":"2026-01-05"}]}`,
			wantErr:  `partitions[0] (` + acA + `): replication_key is "end_date", want "start_date"`,
		},
		{
			name:     "context without the partition key",
			bookmark: `{"partitions":[{"context":{"sim_sid":"` + deA + `"},"replication_key":"start_date","replication_key_value":"2026-01-05"}]}`,
			wantErr:  `partitions[0]: context has no "account_sid"`,
		},
		{
			name:     "unpartitioned bookmark",
			bookmark: `{"replication_key":"start_date","replication_key_value":"2026-01-05"}`,
			wantErr:  "one per account_sid",
		},
		{
			name:     "numeric value",
			bookmark: `{"partitions":[{"context":{"account_sid":"` + acA + `"},"replication_key":"start_date","replication_key_value":20260105}]}`,
			wantErr:  "replication_key_value must be a non-empty string",
		},
		{name: "not an object", bookmark: `[1]`, wantErr: `not an object with a "partitions" array`},
		{name: "partitions not an array", bookmark: `{"partitions":{}}`, wantErr: `"partitions" is not an array`},
		{name: "other keys only", bookmark: `{"foo":1}`, wantErr: `no "partitions" array`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := state.FromSinger(json.RawMessage(tc.bookmark), "account_sid", "start_date")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, cursors(s)); diff != "" {
				t.Errorf("cursors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeSinger(t *testing.T) {
	usage := `{"partitions":[]}`
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{name: "empty file", in: " \n", want: map[string]string{}},
		{name: "null", in: "null", want: map[string]string{}},
		{name: "empty object", in: "{}", want: map[string]string{}},
		{name: "bookmarks", in: `{"bookmarks":{"usage_records":` + usage + `}}`, want: map[string]string{"usage_records": usage}},
		{name: "a STATE message", in: `{"type":"STATE","value":{"bookmarks":{"usage_records":` + usage + `}}}`, want: map[string]string{"usage_records": usage}},
		{name: "Meltano's stored form", in: `{"singer_state":{"bookmarks":{"usage_records":` + usage + `}}}`, want: map[string]string{"usage_records": usage}},
		{name: "an array", in: `[]`, wantErr: "state must be a JSON object"},
		{name: "an Airbyte state", in: `[{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{}}}]`, wantErr: "looks like an Airbyte state"},
		{name: "an Airbyte state message", in: `{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{}}}`, wantErr: "looks like an Airbyte state message"},
		{name: "bookmarks not an object", in: `{"bookmarks":[1]}`, wantErr: `"bookmarks" is not an object`},
		{name: "not JSON", in: `{"bookmarks":`, wantErr: "state must be a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := state.DecodeSinger([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, v := range b {
				got[k] = string(v)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("bookmarks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeSinger(t *testing.T) {
	tests := []struct {
		name string
		in   state.Bookmarks
		want string
	}{
		{name: "none", in: nil, want: `{"bookmarks":{}}`},
		{
			name: "sorted and compacted",
			in: state.Bookmarks{
				"usage_records":     json.RawMessage("{\n  \"partitions\": []\n}"),
				"sim_usage_records": json.RawMessage(`{"partitions":[]}`),
			},
			want: `{"bookmarks":{"sim_usage_records":{"partitions":[]},"usage_records":{"partitions":[]}}}`,
		},
		{name: "empty bookmark", in: state.Bookmarks{"x": nil}, want: `{"bookmarks":{"x":{}}}`},
		{name: "broken bookmark", in: state.Bookmarks{"x": json.RawMessage(`{"a":`)}, want: `{"bookmarks":{"x":{}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := state.EncodeSinger(tc.in)
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("EncodeSinger (-want +got):\n%s", diff)
			}
			back, err := state.DecodeSinger(got)
			if err != nil || len(back) != len(tc.in) {
				t.Errorf("DecodeSinger(EncodeSinger) = %v, %v", back, err)
			}
		})
	}
}
