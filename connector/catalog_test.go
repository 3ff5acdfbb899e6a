package connector_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
)

type jsonSchema struct {
	Type       any                        `json:"type"`
	Required   []string                   `json:"required"`
	Properties map[string]json.RawMessage `json:"properties"`
}

func decodeSchema(t *testing.T, s catalog.Stream) jsonSchema {
	t.Helper()
	if !json.Valid(s.Schema) {
		t.Fatalf("%s: schema is not valid JSON", s.Name)
	}
	var js jsonSchema
	if err := json.Unmarshal(s.Schema, &js); err != nil {
		t.Fatalf("%s: schema: %v", s.Name, err)
	}
	return js
}

func TestStreamsAreConsistent(t *testing.T) {
	streams := connector.Catalog()
	var names []string
	for _, s := range streams {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{connector.Accounts, connector.UsageRecords, connector.SIMs, connector.SIMUsageRecords, connector.SuperSIMs, connector.SuperSIMUsageRecords}, names); diff != "" {
		t.Errorf("stream names (-want +got):\n%s", diff)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
		t.Errorf("stream names are not unique: %v", names)
	}

	for _, s := range streams {
		t.Run(s.Name, func(t *testing.T) {
			js := decodeSchema(t, s)
			if js.Type != "object" {
				t.Errorf("schema type = %v, want object", js.Type)
			}
			if len(s.PrimaryKey) == 0 {
				t.Error("no primary key")
			}
			for _, k := range s.PrimaryKey {
				if _, ok := js.Properties[k]; !ok {
					t.Errorf("primary key %q is not a schema property", k)
				}
				if !slices.Contains(js.Required, k) {
					t.Errorf("primary key %q is not required by the schema", k)
				}
			}
			if len(s.SyncModes) == 0 || !s.Supports(catalog.FullRefresh) {
				t.Errorf("sync modes %v lack full_refresh", s.SyncModes)
			}
			incremental := s.Supports(catalog.Incremental)
			if incremental != (s.Cursor != "") {
				t.Errorf("incremental = %v but cursor = %q", incremental, s.Cursor)
			}
			if s.Cursor != "" {
				if _, ok := js.Properties[s.Cursor]; !ok {
					t.Errorf("cursor %q is not a schema property", s.Cursor)
				}
				if !slices.Contains(js.Required, s.Cursor) {
					t.Errorf("cursor %q is not required by the schema", s.Cursor)
				}
			}
			if s.PartitionKey != "" {
				if _, ok := js.Properties[s.PartitionKey]; !ok {
					t.Errorf("partition key %q is not a schema property", s.PartitionKey)
				}
				if !slices.Contains(s.PrimaryKey, s.PartitionKey) {
					t.Errorf("partition key %q is not part of the primary key %v", s.PartitionKey, s.PrimaryKey)
				}
			}
			// Key and cursor fields are plain top-level properties with a
			// type of their own, not $refs a destination must resolve.
			keys := append(slices.Clone(s.PrimaryKey), s.Cursor, s.PartitionKey)
			for _, k := range keys {
				if k == "" {
					continue
				}
				var prop map[string]any
				if err := json.Unmarshal(js.Properties[k], &prop); err != nil {
					t.Errorf("property %q: %v", k, err)
					continue
				}
				if _, ok := prop["$ref"]; ok || prop["type"] == nil {
					t.Errorf("property %q = %v, want a typed property without $ref", k, prop)
				}
			}
			// The schema is a valid JSON Schema whose $refs resolve.
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.Schema))
			if err != nil {
				t.Fatal(err)
			}
			c := jsonschema.NewCompiler()
			if err := c.AddResource(s.Name+".json", doc); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Compile(s.Name + ".json"); err != nil {
				t.Errorf("schema does not compile: %v", err)
			}
			if _, ok := js.Properties["auth_token"]; ok {
				t.Error("schema has an auth_token property: secrets must never be emitted")
			}

			got, ok := connector.Catalog().Lookup(s.Name)
			if !ok || got.Name != s.Name {
				t.Errorf("Lookup(%q) = %v, %v", s.Name, got.Name, ok)
			}
		})
	}

	if _, ok := connector.Catalog().Lookup("calls"); ok {
		t.Error(`Lookup("calls") found a stream`)
	}

	// Streams returns a copy: changing it does not change the catalog.
	streams[0].Name = "changed"
	if connector.Catalog()[0].Name == "changed" {
		t.Error("Streams() returns the package's slice")
	}
}

func TestStreamContract(t *testing.T) {
	// The table of DESIGN.md §4.
	type contract struct {
		PrimaryKey   []string
		Cursor       string
		SyncModes    []catalog.SyncMode
		PartitionKey string
	}
	want := map[string]contract{
		"accounts":          {[]string{"sid"}, "", []catalog.SyncMode{catalog.FullRefresh}, ""},
		"usage_records":     {[]string{"account_sid", "category", "start_date"}, "start_date", []catalog.SyncMode{catalog.FullRefresh, catalog.Incremental}, "account_sid"},
		"sims":              {[]string{"sid"}, "", []catalog.SyncMode{catalog.FullRefresh}, ""},
		"sim_usage_records": {[]string{"sim_sid", "period_start"}, "period_start", []catalog.SyncMode{catalog.FullRefresh, catalog.Incremental}, "sim_sid"},
		"super_sims":        {[]string{"sid"}, "", []catalog.SyncMode{catalog.FullRefresh}, ""},
		"super_sim_usage_records": {[]string{"account_sid", "sim_sid", "period_start"}, "period_start",
			[]catalog.SyncMode{catalog.FullRefresh, catalog.Incremental}, "account_sid"},
	}
	got := map[string]contract{}
	for _, s := range connector.Catalog() {
		got[s.Name] = contract{s.PrimaryKey, s.Cursor, s.SyncModes, s.PartitionKey}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("streams (-want +got):\n%s", diff)
	}
}

func TestAirbyteStream(t *testing.T) {
	type airbyteStream struct {
		Name                    string          `json:"name"`
		JSONSchema              json.RawMessage `json:"json_schema"`
		SupportedSyncModes      []string        `json:"supported_sync_modes"`
		SourceDefinedPrimaryKey [][]string      `json:"source_defined_primary_key"`
		SourceDefinedCursor     *bool           `json:"source_defined_cursor"`
		DefaultCursorField      []string        `json:"default_cursor_field"`
		IsResumable             *bool           `json:"is_resumable"`
	}
	yes, no := true, false
	tests := []struct {
		name string
		want airbyteStream
	}{
		{connector.Accounts, airbyteStream{
			Name:                    "accounts",
			SupportedSyncModes:      []string{"full_refresh"},
			SourceDefinedPrimaryKey: [][]string{{"sid"}},
			IsResumable:             &no,
		}},
		{connector.UsageRecords, airbyteStream{
			Name:                    "usage_records",
			SupportedSyncModes:      []string{"full_refresh", "incremental"},
			SourceDefinedPrimaryKey: [][]string{{"account_sid"}, {"category"}, {"start_date"}},
			SourceDefinedCursor:     &yes,
			DefaultCursorField:      []string{"start_date"},
			IsResumable:             &yes,
		}},
		{connector.SIMs, airbyteStream{
			Name:                    "sims",
			SupportedSyncModes:      []string{"full_refresh"},
			SourceDefinedPrimaryKey: [][]string{{"sid"}},
			IsResumable:             &no,
		}},
		{connector.SIMUsageRecords, airbyteStream{
			Name:                    "sim_usage_records",
			SupportedSyncModes:      []string{"full_refresh", "incremental"},
			SourceDefinedPrimaryKey: [][]string{{"sim_sid"}, {"period_start"}},
			SourceDefinedCursor:     &yes,
			DefaultCursorField:      []string{"period_start"},
			IsResumable:             &yes,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := connector.Catalog().Lookup(tt.name)
			if !ok {
				t.Fatalf("no stream %s", tt.name)
			}
			raw := s.AirbyteStream()
			if !json.Valid(raw) {
				t.Fatalf("AirbyteStream() is not valid JSON: %s", raw)
			}
			var got airbyteStream
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			var gotSchema, wantSchema any
			if err := json.Unmarshal(got.JSONSchema, &gotSchema); err != nil {
				t.Fatalf("json_schema: %v", err)
			}
			if err := json.Unmarshal(s.Schema, &wantSchema); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantSchema, gotSchema); diff != "" {
				t.Errorf("json_schema (-want +got):\n%s", diff)
			}
			got.JSONSchema = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AirbyteStream() (-want +got):\n%s", diff)
			}
		})
	}
}

func configuredCatalog(entries ...string) string {
	return `{"streams": [` + strings.Join(entries, ",") + `]}`
}

func entry(name, mode string, extra ...string) string {
	s := `{"stream": {"name": "` + name + `", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}, "sync_mode": "` + mode + `", "destination_sync_mode": "append"`
	for _, e := range extra {
		s += ", " + e
	}
	return s + "}"
}

func TestParseConfigured(t *testing.T) {
	type sel struct {
		Name string
		Mode catalog.SyncMode
	}
	tests := []struct {
		name string
		doc  string
		want []sel
	}{
		{
			name: "one stream",
			doc:  configuredCatalog(entry("accounts", "full_refresh")),
			want: []sel{{"accounts", catalog.FullRefresh}},
		},
		{
			name: "every stream, in the given order",
			doc: configuredCatalog(
				entry("sim_usage_records", "incremental", `"cursor_field": ["period_start"]`),
				entry("usage_records", "incremental"),
				entry("sims", "full_refresh"),
				entry("accounts", "full_refresh", `"primary_key": [["sid"]]`),
			),
			want: []sel{
				{"sim_usage_records", catalog.Incremental},
				{"usage_records", catalog.Incremental},
				{"sims", catalog.FullRefresh},
				{"accounts", catalog.FullRefresh},
			},
		},
		{
			name: "incremental stream read in full",
			doc:  configuredCatalog(entry("usage_records", "full_refresh", `"cursor_field": ["anything"]`)),
			want: []sel{{"usage_records", catalog.FullRefresh}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := connector.Catalog().ParseConfigured([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParseConfigured: %v", err)
			}
			var gotSel []sel
			for _, c := range got {
				gotSel = append(gotSel, sel{c.Stream.Name, c.SyncMode})
				want, _ := connector.Catalog().Lookup(c.Stream.Name)
				if diff := cmp.Diff(want.PrimaryKey, c.Stream.PrimaryKey); diff != "" || c.Stream.Cursor != want.Cursor {
					t.Errorf("%s: configured stream differs from the catalog's", c.Stream.Name)
				}
			}
			if diff := cmp.Diff(tt.want, gotSel); diff != "" {
				t.Errorf("ParseConfigured (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfiguredRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"invalid JSON", `{"streams": [`, []string{"not a configured catalog"}},
		{"not an object", `[]`, []string{"not a configured catalog"}},
		{"missing streams array", `{}`, []string{`no "streams" array`}},
		{"streams null", `{"streams": null}`, []string{`no "streams" array`}},
		{"empty selection", `{"streams": []}`, []string{"selects no stream"}},
		{"unknown stream", configuredCatalog(entry("calls", "full_refresh")), []string{"streams[0] (calls): unknown stream", "accounts, usage_records, sims, sim_usage_records"}},
		{"incremental on accounts", configuredCatalog(entry("accounts", "incremental")), []string{`streams[0] (accounts): sync_mode "incremental" is not supported`}},
		{"incremental on sims", configuredCatalog(entry("sims", "incremental")), []string{`streams[0] (sims): sync_mode "incremental" is not supported`}},
		{"unknown sync mode", configuredCatalog(entry("usage_records", "cdc")), []string{`streams[0] (usage_records): sync_mode "cdc" is not supported`}},
		{"missing sync mode", configuredCatalog(`{"stream": {"name": "sims"}}`), []string{"streams[0] (sims): sync_mode is missing"}},
		{"duplicate stream", configuredCatalog(entry("sims", "full_refresh"), entry("sims", "full_refresh")), []string{"streams[1] (sims): stream configured twice"}},
		{"missing stream name", configuredCatalog(`{"stream": {}, "sync_mode": "full_refresh"}`), []string{"streams[0]: stream.name is missing"}},
		{"missing stream object", configuredCatalog(`{"sync_mode": "full_refresh"}`), []string{"streams[0]: stream.name is missing"}},
		{"wrong cursor_field", configuredCatalog(entry("usage_records", "incremental", `"cursor_field": ["end_date"]`)), []string{"streams[0] (usage_records): cursor_field [end_date] is not supported", "[start_date]"}},
		{"nested cursor_field", configuredCatalog(entry("sim_usage_records", "incremental", `"cursor_field": ["period", "start"]`)), []string{"streams[0] (sim_usage_records): cursor_field"}},
		{
			"every problem at once",
			configuredCatalog(
				entry("calls", "full_refresh"),
				entry("accounts", "incremental"),
				entry("usage_records", "incremental", `"cursor_field": ["as_of"]`),
				entry("sims", "full_refresh"),
				entry("sims", "full_refresh"),
			),
			[]string{"streams[0] (calls)", "streams[1] (accounts)", "streams[2] (usage_records)", "streams[4] (sims)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := connector.Catalog().ParseConfigured([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseConfigured succeeded with %d streams, want an error", len(got))
			}
			if got != nil {
				t.Errorf("ParseConfigured returned streams with an error: %v", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestAll(t *testing.T) {
	type sel struct {
		Name string
		Mode catalog.SyncMode
	}
	var got []sel
	for _, c := range connector.Catalog().All() {
		got = append(got, sel{c.Stream.Name, c.SyncMode})
	}
	want := []sel{
		{"accounts", catalog.FullRefresh},
		{"usage_records", catalog.Incremental},
		{"sims", catalog.FullRefresh},
		{"sim_usage_records", catalog.Incremental},
		{"super_sims", catalog.FullRefresh},
		{"super_sim_usage_records", catalog.Incremental},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("All() (-want +got):\n%s", diff)
	}
}

// A stream whose re-read replaces a day of many records must be Costed:
// the loader carries such a day across batches through the cost model.
func TestReplaceDayOfManyIsCosted(t *testing.T) {
	for _, s := range connector.Streams() {
		if s.Replace == connector.ReplaceDayOfMany && !s.Costed {
			t.Errorf("%s replaces days of many records but is not Costed", s.Name)
		}
	}
}

// A snapshot is replaced per main account (Stream.SnapshotGroups), so
// every table of a snapshot stream holds the main account's column.
func TestSnapshotTablesHoldTheMainAccount(t *testing.T) {
	for _, s := range connector.Streams() {
		if s.Replace != connector.ReplaceSnapshot {
			continue
		}
		for _, tb := range s.Tables {
			if tb.Schema.FieldIndices(connector.MainAccountColumn) == nil {
				t.Errorf("%s: table %s of a snapshot stream has no %s column", s.Name, tb.Name, connector.MainAccountColumn)
			}
		}
	}
}
