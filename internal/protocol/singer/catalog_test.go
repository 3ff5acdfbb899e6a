package singer

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
)

// picked is what a test compares of a selection.
type picked struct {
	Name       string
	Mode       catalog.SyncMode
	Deselected []string
}

func pick(sels []Selection) []picked {
	var out []picked
	for _, s := range sels {
		out = append(out, picked{s.Stream.Name, s.SyncMode, s.Deselected})
	}
	return out
}

func TestDiscover(t *testing.T) {
	raw, err := Discover(connector.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Streams []struct {
			TapStreamID   string   `json:"tap_stream_id"`
			Stream        string   `json:"stream"`
			KeyProperties []string `json:"key_properties"`
			Schema        struct {
				Properties map[string]any `json:"properties"`
			} `json:"schema"`
			Metadata []metadataEntry `json:"metadata"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	type top struct {
		Method, Key, Forced string
		Keys, ValidKeys     []any
		Selected            bool
		Inclusion           string
	}
	got := map[string]top{}
	for _, s := range doc.Streams {
		if s.TapStreamID != s.Stream {
			t.Errorf("tap_stream_id %q != stream %q", s.TapStreamID, s.Stream)
		}
		st, _ := connector.Catalog().Lookup(s.Stream)
		props := map[string]string{}
		for _, m := range s.Metadata {
			switch len(m.Breadcrumb) {
			case 0:
				key, _ := m.Metadata["replication-key"].(string)
				forced, _ := m.Metadata["forced-replication-method"].(string)
				valid, _ := m.Metadata["valid-replication-keys"].([]any)
				got[s.Stream] = top{
					Method: m.Metadata["replication-method"].(string), Key: key, Forced: forced,
					Keys: m.Metadata["table-key-properties"].([]any), ValidKeys: valid,
					Selected: m.Metadata["selected"] == true, Inclusion: m.Metadata["inclusion"].(string),
				}
			case 2:
				props[m.Breadcrumb[1]] = m.Metadata["inclusion"].(string)
			default:
				t.Errorf("%s: unexpected breadcrumb %v", s.Stream, m.Breadcrumb)
			}
		}
		// Every property has its metadata; keys and the cursor are automatic.
		for p := range s.Schema.Properties {
			want := "available"
			if slices.Contains(st.PrimaryKey, p) || p == st.Cursor {
				want = "automatic"
			}
			if props[p] != want {
				t.Errorf("%s.%s: inclusion %q, want %q", s.Stream, p, props[p], want)
			}
		}
		if len(props) != len(s.Schema.Properties) {
			t.Errorf("%s: metadata for %d properties, schema has %d", s.Stream, len(props), len(s.Schema.Properties))
		}
		for _, k := range s.KeyProperties {
			if _, ok := s.Schema.Properties[k]; !ok {
				t.Errorf("%s: key property %s is not in the schema", s.Stream, k)
			}
		}
	}
	want := map[string]top{
		"accounts":          {Method: FullTable, Forced: FullTable, Keys: []any{"sid"}, Selected: true, Inclusion: "available"},
		"usage_records":     {Method: Incremental, Key: "start_date", Keys: []any{"account_sid", "category", "start_date"}, ValidKeys: []any{"start_date"}, Selected: true, Inclusion: "available"},
		"sims":              {Method: FullTable, Forced: FullTable, Keys: []any{"sid"}, Selected: true, Inclusion: "available"},
		"sim_usage_records": {Method: Incremental, Key: "period_start", Keys: []any{"sim_sid", "period_start"}, ValidKeys: []any{"period_start"}, Selected: true, Inclusion: "available"},
		"super_sims":        {Method: FullTable, Forced: FullTable, Keys: []any{"sid"}, Selected: true, Inclusion: "available"},
		"super_sim_usage_records": {Method: Incremental, Key: "period_start", Keys: []any{"account_sid", "sim_sid", "period_start"},
			ValidKeys: []any{"period_start"}, Selected: true, Inclusion: "available"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stream metadata (-want +got):\n%s", diff)
	}

	// The discovered catalog, passed back unchanged, selects every stream.
	sels, err := ParseCatalog(raw, connector.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pick(All(connector.Catalog())), pick(sels)); diff != "" {
		t.Errorf("ParseCatalog(Discover()) (-want +got):\n%s", diff)
	}
}

func TestParseCatalog(t *testing.T) {
	meta := func(selected any, extra string) string {
		s := `{"breadcrumb":[],"metadata":{"selected":` + mustJSONString(selected)
		if extra != "" {
			s += "," + extra
		}
		return s + "}}"
	}
	stream := func(name string, metadata ...string) string {
		return `{"tap_stream_id":"` + name + `","stream":"` + name + `","schema":{},"metadata":[` + strings.Join(metadata, ",") + `]}`
	}
	cat := func(streams ...string) string { return `{"streams":[` + strings.Join(streams, ",") + `]}` }
	tests := []struct {
		name    string
		in      string
		want    []picked
		wantErr []string // substrings, all in one error
	}{
		{
			name: "selected streams, replication methods",
			in: cat(
				stream("accounts", meta(true, "")),
				stream("usage_records", meta(true, `"replication-method":"FULL_TABLE"`)),
				stream("sims", meta(false, "")),
				stream("sim_usage_records", meta(true, `"replication-method":"INCREMENTAL","replication-key":"period_start"`)),
			),
			want: []picked{
				{"accounts", catalog.FullRefresh, nil},
				{"usage_records", catalog.FullRefresh, nil},
				{"sim_usage_records", catalog.Incremental, nil},
			},
		},
		{
			name: "no method: incremental where possible",
			in:   cat(stream("usage_records", meta(true, ""))),
			want: []picked{{"usage_records", catalog.Incremental, nil}},
		},
		{
			name: "legacy selected on the stream and replication_method",
			in:   `{"streams":[{"tap_stream_id":"usage_records","selected":true,"replication_method":"FULL_TABLE","schema":{}},{"stream":"sims","schema":{"selected":true}}]}`,
			want: []picked{{"usage_records", catalog.FullRefresh, nil}, {"sims", catalog.FullRefresh, nil}},
		},
		{
			name: "selected-by-default when selected is absent",
			in:   cat(stream("sims", `{"breadcrumb":[],"metadata":{"selected-by-default":true}}`), stream("accounts")),
			want: []picked{{"sims", catalog.FullRefresh, nil}},
		},
		{
			name: "deselected properties, but never keys or the replication key",
			in: cat(stream("usage_records", meta(true, ""),
				`{"breadcrumb":["properties","price"],"metadata":{"selected":false}}`,
				`{"breadcrumb":["properties","uri"],"metadata":{"inclusion":"available","selected-by-default":false}}`,
				`{"breadcrumb":["properties","usage"],"metadata":{"selected":true}}`,
				`{"breadcrumb":["properties","start_date"],"metadata":{"selected":false}}`,
				`{"breadcrumb":["properties","account_sid"],"metadata":{"selected":false}}`,
				`{"breadcrumb":["properties","data","properties","x"],"metadata":{"selected":false}}`,
			)),
			want: []picked{{"usage_records", catalog.Incremental, []string{"price", "uri"}}},
		},
		{
			name: "an unknown stream that is not selected is ignored",
			in:   cat(stream("calls", meta(false, "")), stream("sims", meta(true, ""))),
			want: []picked{{"sims", catalog.FullRefresh, nil}},
		},
		{
			name: "every problem at once",
			in: cat(
				stream("calls", meta(true, "")),
				stream("accounts", meta(true, `"replication-method":"INCREMENTAL"`)),
				stream("usage_records", meta(true, `"replication-method":"LOG_BASED"`)),
				stream("sim_usage_records", meta(true, `"replication-key":"period_end"`)),
				stream("sims", meta("yes", "")),
				`{"schema":{}}`,
			),
			wantErr: []string{
				"streams[0] (calls): unknown stream; the streams are accounts, usage_records, sims, sim_usage_records",
				"streams[1] (accounts): metadata replication-method INCREMENTAL is not supported",
				`streams[2] (usage_records): metadata replication-method "LOG_BASED" is not supported`,
				`streams[3] (sim_usage_records): metadata replication-key "period_end" is not supported`,
				`streams[4] (sims): metadata "selected" must be true or false`,
				"streams[5]: tap_stream_id is missing",
			},
		},
		{
			name:    "a stream twice",
			in:      cat(stream("sims", meta(true, "")), stream("sims", meta(true, ""))),
			wantErr: []string{"streams[1] (sims): stream listed twice"},
		},
		{name: "nothing selected", in: cat(stream("sims", meta(false, ""))), wantErr: []string{"selects no stream"}},
		{name: "no streams key", in: `{}`, wantErr: []string{`no "streams" array`}},
		{name: "not JSON", in: `{"streams":`, wantErr: []string{"not a Singer catalog"}},
		{name: "bad metadata", in: cat(`{"stream":"sims","metadata":[1]}`), wantErr: []string{"streams[0] (sims): metadata[0] is not"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sels, err := ParseCatalog([]byte(tc.in), connector.Catalog())
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; selections %v", pick(sels))
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not mention %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, pick(sels)); diff != "" {
				t.Errorf("selections (-want +got):\n%s", diff)
			}
		})
	}
}

func mustJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
