package integration_tests

// The assertions of singer-check-tap (and the Meltano SDK's standard tap
// tests), which cannot be installed here, re-done against the built
// tap-twilio-usage: discovery, a sync without a catalog, a sync with a
// catalog, and runs resumed from the states a sync wrote.

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/connector"
)

// singerRecords returns a sync's records per stream.
func singerRecords(msgs []map[string]any) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, m := range singerOfType(msgs, "RECORD", "") {
		out[m["stream"].(string)] = append(out[m["stream"].(string)], m["record"].(map[string]any))
	}
	return out
}

// discoverCatalog runs --discover and returns the catalog.
func discoverCatalog(t *testing.T, cfg string) map[string]any {
	t.Helper()
	r := runTap(t, nil, "--config", cfg, "--discover")
	if r.code != 0 {
		t.Fatalf("--discover: exit %d\n%s", r.code, r.stderr)
	}
	var cat map[string]any
	if err := json.Unmarshal(r.stdout, &cat); err != nil {
		t.Fatalf("--discover did not print JSON: %v", err)
	}
	return cat
}

func TestAcceptanceSinger(t *testing.T) {
	emu, cfg := acceptanceEmulator(t)

	t.Run("discovery", func(t *testing.T) {
		cat := discoverCatalog(t, cfg)
		var names []string
		for _, s := range cat["streams"].([]any) {
			s := s.(map[string]any)
			name := s["tap_stream_id"].(string)
			names = append(names, name)
			raw, _ := json.Marshal(s["schema"])
			compileSchema(t, "discovered-"+name, raw)
			props := s["schema"].(map[string]any)["properties"].(map[string]any)
			var top map[string]any
			for _, m := range s["metadata"].([]any) {
				m := m.(map[string]any)
				if len(m["breadcrumb"].([]any)) == 0 {
					top = m["metadata"].(map[string]any)
				}
			}
			if top == nil {
				t.Fatalf("%s: no metadata with breadcrumb []", name)
			}
			for _, k := range []string{"selected", "replication-method", "inclusion", "table-key-properties"} {
				if _, ok := top[k]; !ok {
					t.Errorf("%s: stream metadata has no %s", name, k)
				}
			}
			for _, k := range top["table-key-properties"].([]any) {
				if _, ok := props[k.(string)]; !ok {
					t.Errorf("%s: key property %v is not in the schema", name, k)
				}
			}
			if keys, ok := top["valid-replication-keys"].([]any); ok {
				for _, k := range keys {
					if _, ok := props[k.(string)]; !ok {
						t.Errorf("%s: replication key %v is not in the schema", name, k)
					}
				}
			}
		}
		var want []string
		for _, s := range connector.Catalog() {
			want = append(want, s.Name)
		}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("discovered streams (-want +got):\n%s", diff)
		}
	})

	// singer-check-tap's run: only --config.
	first := syncTap(t, nil, "--config", cfg)
	firstRecords := singerRecords(first.messages)
	states := singerOfType(first.messages, "STATE", "")

	t.Run("sync without a catalog reads every stream", func(t *testing.T) {
		for _, s := range connector.Catalog() {
			if len(firstRecords[s.Name]) == 0 {
				t.Errorf("no %s records", s.Name)
			}
			schemas := singerOfType(first.messages, "SCHEMA", s.Name)
			if len(schemas) != 1 {
				t.Errorf("%s: %d SCHEMA messages, want 1", s.Name, len(schemas))
				continue
			}
			var bookmarks []string
			bp, _ := schemas[0]["bookmark_properties"].([]any) // absent for a full table
			for _, b := range bp {
				bookmarks = append(bookmarks, b.(string))
			}
			if s.Cursor != "" && !slices.Equal(bookmarks, []string{s.Cursor}) {
				t.Errorf("%s: bookmark_properties %v, want [%s]", s.Name, bookmarks, s.Cursor)
			}
		}
		if len(states) == 0 {
			t.Fatal("no STATE message")
		}
		final := singerCursors(t, states[len(states)-1]["value"].(map[string]any))
		for _, name := range incrementalStreams() {
			if len(final[name]) != len(partitionsOf(emu, name)) {
				t.Errorf("%s: the final state has %d partitions, the emulator %d", name, len(final[name]), len(partitionsOf(emu, name)))
			}
		}
		checkNoSecrets(t, secretsOf(emu), first.stdout, first.stderr)
	})

	t.Run("a second run with the final state", func(t *testing.T) {
		value := states[len(states)-1]["value"].(map[string]any)
		r := syncTap(t, nil, "--config", cfg, "--state", writeJSON(t, "state.json", value))
		records := singerRecords(r.messages)
		cursors := singerCursors(t, value)
		for _, name := range incrementalStreams() {
			if n := checkNotBeforeCursors(t, name, records[name], cursors[name]); n == 0 || n >= len(firstRecords[name]) {
				t.Errorf("%s: the second run emitted %d records, the first %d: want only the lookback", name, n, len(firstRecords[name]))
			}
		}
		// Its final state is at least as far as the first run's.
		again := singerCursors(t, singerOfType(r.messages, "STATE", "")[len(singerOfType(r.messages, "STATE", ""))-1]["value"].(map[string]any))
		for _, name := range incrementalStreams() {
			for p, c := range cursors[name] {
				if again[name][p] < c {
					t.Errorf("%s %s: cursor went back from %s to %s", name, p, c, again[name][p])
				}
			}
		}
	})

	t.Run("resuming from every intermediate state", func(t *testing.T) {
		seen := map[string]bool{}
		n := 0
		for _, st := range states {
			value := st["value"].(map[string]any)
			key := jsonString(t, value)
			if seen[key] {
				continue
			}
			seen[key] = true
			n++
			r := syncTap(t, nil, "--config", cfg, "--catalog", writeJSON(t, "catalog.json", incrementalCatalog(t, cfg)),
				"--state", writeJSON(t, "state.json", value))
			records := singerRecords(r.messages)
			for name, cursors := range singerCursors(t, value) {
				if s, _ := connector.Catalog().Lookup(name); s.Cursor != "" {
					checkNotBeforeCursors(t, name, records[name], cursors)
				}
			}
		}
		if n < 2*len(incrementalStreams()) {
			t.Errorf("only %d distinct states: the emulator should give each partition two windows", n)
		}
	})

	t.Run("an abnormally large state", func(t *testing.T) {
		bookmarks := map[string]any{}
		for _, name := range incrementalStreams() {
			s, _ := connector.Catalog().Lookup(name)
			var parts []any
			for _, p := range partitionsOf(emu, name) {
				parts = append(parts, map[string]any{
					"context": map[string]any{s.PartitionKey: p}, "replication_key": s.Cursor, "replication_key_value": futureCursor(name),
				})
			}
			bookmarks[name] = map[string]any{"partitions": parts}
		}
		r := syncTap(t, nil, "--config", cfg, "--catalog", writeJSON(t, "catalog.json", incrementalCatalog(t, cfg)),
			"--state", writeJSON(t, "state.json", map[string]any{"bookmarks": bookmarks}))
		// A cursor after the last complete UTC day is moved back to it: the
		// read gives the lookback before yesterday, and today.
		for _, name := range incrementalStreams() {
			var recs []map[string]any
			for _, m := range singerOfType(r.messages, "RECORD", name) {
				recs = append(recs, m["record"].(map[string]any))
			}
			if n := checkNotBeforeCursors(t, name, recs, clampedCursors(emu, name)); n == 0 {
				t.Errorf("%s: a state in the future read nothing from the clamped cursor", name)
			}
		}
	})

	t.Run("a catalog selects streams, methods and properties", func(t *testing.T) {
		cat := discoverCatalog(t, cfg)
		for _, s := range cat["streams"].([]any) {
			s := s.(map[string]any)
			for _, m := range s["metadata"].([]any) {
				m := m.(map[string]any)
				md := m["metadata"].(map[string]any)
				bc := m["breadcrumb"].([]any)
				switch {
				case len(bc) == 0 && s["tap_stream_id"] == connector.UsageRecords:
					md["replication-method"] = "FULL_TABLE"
				case len(bc) == 0 && s["tap_stream_id"] != connector.SIMs:
					md["selected"] = false
				case len(bc) == 2 && s["tap_stream_id"] == connector.UsageRecords && bc[1] == "uri":
					md["selected"] = false
				}
			}
		}
		path := writeJSON(t, "catalog.json", cat)
		for _, flag := range []string{"--catalog", "--properties"} {
			r := syncTap(t, nil, "--config", cfg, flag, path)
			records := singerRecords(r.messages)
			var got []string
			for name := range records {
				got = append(got, name)
			}
			slices.Sort(got)
			if diff := cmp.Diff([]string{connector.SIMs, connector.UsageRecords}, got); diff != "" {
				t.Errorf("%s: streams read (-want +got):\n%s", flag, diff)
			}
			if len(records[connector.UsageRecords]) != len(firstRecords[connector.UsageRecords]) {
				t.Errorf("%s: FULL_TABLE usage_records gave %d records, the first full run %d", flag,
					len(records[connector.UsageRecords]), len(firstRecords[connector.UsageRecords]))
			}
			for _, rec := range records[connector.UsageRecords] {
				if _, ok := rec["uri"]; ok {
					t.Fatalf("%s: deselected property uri was emitted", flag)
				}
			}
			schema := singerOfType(r.messages, "SCHEMA", connector.UsageRecords)[0]
			if _, ok := schema["bookmark_properties"]; ok {
				t.Errorf("%s: a FULL_TABLE stream has bookmark_properties", flag)
			}
		}
	})
}

// incrementalCatalog is the discovered catalog with only the incremental
// streams selected.
func incrementalCatalog(t *testing.T, cfg string) map[string]any {
	t.Helper()
	cat := discoverCatalog(t, cfg)
	for _, s := range cat["streams"].([]any) {
		s := s.(map[string]any)
		st, _ := connector.Catalog().Lookup(s["tap_stream_id"].(string))
		for _, m := range s["metadata"].([]any) {
			m := m.(map[string]any)
			if len(m["breadcrumb"].([]any)) == 0 {
				m["metadata"].(map[string]any)["selected"] = st.Cursor != ""
			}
		}
	}
	return cat
}
