package integration_tests

// The assertions of Airbyte's Connector Acceptance Tests (CAT), which
// cannot be installed here, re-done against the built binary: spec,
// connection, discovery, basic_read, full_refresh and incremental.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
)

// airbyteRecords returns the records of a read, per stream.
func airbyteRecords(msgs []map[string]any) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, m := range ofType(msgs, "RECORD") {
		rec := m["record"].(map[string]any)
		out[rec["stream"].(string)] = append(out[rec["stream"].(string)], rec["data"].(map[string]any))
	}
	return out
}

// configuredCatalog selects streams, all in mode.
func configuredCatalog(t *testing.T, mode catalog.SyncMode, streams ...string) string {
	t.Helper()
	var entries []any
	for _, s := range streams {
		entries = append(entries, map[string]any{
			"stream":    map[string]any{"name": s, "json_schema": map[string]any{}, "supported_sync_modes": []string{string(mode)}},
			"sync_mode": mode, "destination_sync_mode": "append",
		})
	}
	return writeJSON(t, "configured_catalog.json", map[string]any{"streams": entries})
}

// streamStatuses returns each stream's statuses in order.
func streamStatuses(msgs []map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, tr := range traces(msgs, "STREAM_STATUS") {
		ss := tr["stream_status"].(map[string]any)
		name := ss["stream_descriptor"].(map[string]any)["name"].(string)
		out[name] = append(out[name], ss["status"].(string))
	}
	return out
}

func TestAcceptanceAirbyte(t *testing.T) {
	emu, cfg := acceptanceEmulator(t)

	t.Run("spec", func(t *testing.T) {
		r := run(t, "spec")
		if r.code != 0 || len(r.messages) != 1 {
			t.Fatalf("exit %d, %d messages", r.code, len(r.messages))
		}
		sp := r.messages[0]["spec"].(map[string]any)
		if sp["supportsIncremental"] != true || sp["documentationUrl"] == nil {
			t.Errorf("spec lacks supportsIncremental or documentationUrl: %v", sp)
		}
		raw, _ := json.Marshal(sp["connectionSpecification"])
		schema := compileSchema(t, "connection_specification", raw)
		props := sp["connectionSpecification"].(map[string]any)["properties"].(map[string]any)
		secretName := regexp.MustCompile(`token|secret|password|credentials`)
		for name, p := range props {
			p := p.(map[string]any)
			if p["title"] == nil || p["description"] == nil {
				t.Errorf("%s: no title or description", name)
			}
			marked := p["airbyte_secret"] == true
			if secretName.MatchString(name) && !marked {
				t.Errorf("%s looks like a secret but is not marked airbyte_secret", name)
			}
			if marked && !strings.Contains(fmt.Sprint(p["type"]), "string") {
				t.Errorf("%s is a secret but not a string: %v", name, p["type"])
			}
		}
		// Configs the connector accepts fit the schema; the invalid one does not.
		for _, tc := range []struct {
			file string
			ok   bool
		}{{"sample_config.json", true}, {cfg, true}, {"invalid_config.json", false}} {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			json.Unmarshal(b, &v)
			if err := schema.Validate(v); (err == nil) != tc.ok {
				t.Errorf("%s: validation error %v, want valid=%v", tc.file, err, tc.ok)
			}
		}
	})

	t.Run("connection", func(t *testing.T) {
		badToken := writeJSON(t, "bad.json", func() map[string]any {
			var c map[string]any
			b, _ := os.ReadFile(cfg)
			json.Unmarshal(b, &c)
			c["auth_token"] = "0123456789abcdef0123456789abcdef"
			return c
		}())
		for _, tc := range []struct {
			name, config, status string
		}{
			{"valid", cfg, "SUCCEEDED"},
			{"invalid config", "invalid_config.json", "FAILED"},
			{"wrong credentials", badToken, "FAILED"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := run(t, "check", "--config", tc.config)
				st := ofType(r.messages, "CONNECTION_STATUS")
				if r.code != 0 || len(st) != 1 {
					t.Fatalf("exit %d, messages %v", r.code, r.messages)
				}
				if got := st[0]["connectionStatus"].(map[string]any)["status"]; got != tc.status {
					t.Errorf("status %v, want %s", got, tc.status)
				}
				checkNoSecrets(t, append(secretsOf(emu), "0123456789abcdef0123456789abcdef", "tok3n", "s3cret"), r.stdout, r.stderr)
			})
		}
	})

	t.Run("discovery", func(t *testing.T) {
		r := run(t, "discover", "--config", cfg)
		cats := ofType(r.messages, "CATALOG")
		if r.code != 0 || len(cats) != 1 {
			t.Fatalf("exit %d, messages %v", r.code, r.messages)
		}
		seen := map[string]bool{}
		for _, s := range cats[0]["catalog"].(map[string]any)["streams"].([]any) {
			s := s.(map[string]any)
			name := s["name"].(string)
			if seen[name] {
				t.Errorf("stream %s listed twice", name)
			}
			seen[name] = true
			raw, _ := json.Marshal(s["json_schema"])
			compileSchema(t, name, raw)
			js := s["json_schema"].(map[string]any)
			if ap, ok := js["additionalProperties"]; ok && ap != true {
				t.Errorf("%s: additionalProperties is %v; CAT wants true or absent", name, ap)
			}
			props := js["properties"].(map[string]any)
			for _, pk := range s["source_defined_primary_key"].([]any) {
				if _, ok := props[pk.([]any)[0].(string)]; !ok {
					t.Errorf("%s: primary key %v is not in the schema", name, pk)
				}
			}
			modes := fmt.Sprint(s["supported_sync_modes"])
			cf, hasCursor := s["default_cursor_field"].([]any)
			if strings.Contains(modes, "incremental") != hasCursor {
				t.Errorf("%s: sync modes %s but default_cursor_field %v", name, modes, s["default_cursor_field"])
			}
			if hasCursor {
				if _, ok := props[cf[0].(string)]; !ok {
					t.Errorf("%s: cursor %v is not in the schema", name, cf)
				}
				if s["source_defined_cursor"] != true {
					t.Errorf("%s: cursor is not source-defined", name)
				}
			}
		}
		if len(seen) != len(connector.Catalog()) {
			t.Errorf("discover lists %d streams, the catalog has %d", len(seen), len(connector.Catalog()))
		}
	})

	// Every stream's schema, from discover, compiled.
	schemas := map[string]map[string]any{}
	compiled := map[string]interface{ Validate(any) error }{}
	for _, s := range connector.Catalog() {
		var doc map[string]any
		json.Unmarshal(s.Schema, &doc)
		schemas[s.Name] = doc
		compiled[s.Name] = compileSchema(t, s.Name, s.Schema)
	}

	t.Run("basic_read", func(t *testing.T) {
		r := run(t, "read", "--config", cfg, "--catalog", "configured_catalog.json")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stdout)
		}
		records := airbyteRecords(r.messages)
		statuses := streamStatuses(r.messages)
		for _, s := range connector.Catalog() {
			if len(records[s.Name]) == 0 {
				t.Errorf("no %s records", s.Name)
			}
			props := schemas[s.Name]["properties"].(map[string]any)
			for _, rec := range records[s.Name] {
				if err := compiled[s.Name].Validate(rec); err != nil {
					t.Fatalf("a %s record does not match its schema: %v\n%v", s.Name, err, rec)
				}
				for k := range rec {
					if _, ok := props[k]; !ok {
						t.Fatalf("a %s record has field %s, which its schema does not declare", s.Name, k)
					}
				}
			}
			if diff := cmp.Diff([]string{"STARTED", "RUNNING", "COMPLETE"}, statuses[s.Name]); diff != "" {
				t.Errorf("%s statuses (-want +got):\n%s", s.Name, diff)
			}
		}
		checkNoSecrets(t, secretsOf(emu), r.stdout, r.stderr)
	})

	t.Run("full_refresh", func(t *testing.T) {
		var names []string
		for _, s := range connector.Catalog() {
			names = append(names, s.Name)
		}
		cat := configuredCatalog(t, catalog.FullRefresh, names...)
		first := run(t, "read", "--config", cfg, "--catalog", cat)
		second := run(t, "read", "--config", cfg, "--catalog", cat)
		if first.code != 0 || second.code != 0 {
			t.Fatalf("exit %d and %d", first.code, second.code)
		}
		a, b := airbyteRecords(first.messages), airbyteRecords(second.messages)
		for _, name := range names {
			if len(a[name]) == 0 {
				t.Errorf("no %s records", name)
			}
			if diff := cmp.Diff(withoutVolatile(t, a[name]), withoutVolatile(t, b[name])); diff != "" {
				t.Errorf("%s: two full refreshes differ (-first +second):\n%s", name, diff)
			}
		}
	})

	t.Run("incremental", func(t *testing.T) {
		streams := incrementalStreams()
		first := run(t, "read", "--config", cfg, "--catalog", configuredCatalog(t, catalog.Incremental, streams...))
		if first.code != 0 {
			t.Fatalf("first read: exit %d", first.code)
		}
		firstRecords := airbyteRecords(first.messages)

		// Each STATE message, as Airbyte would pass it back.
		type checkpoint struct {
			stream  string
			state   any
			cursors map[string]string
		}
		var checkpoints []checkpoint
		for _, m := range ofType(first.messages, "STATE") {
			st := m["state"].(map[string]any)
			name := st["stream"].(map[string]any)["stream_descriptor"].(map[string]any)["name"].(string)
			cp := checkpoint{stream: name, state: st, cursors: map[string]string{}}
			s, _ := connector.Catalog().Lookup(name)
			for _, p := range st["stream"].(map[string]any)["stream_state"].(map[string]any)["states"].([]any) {
				p := p.(map[string]any)
				cp.cursors[p["partition"].(map[string]any)[s.PartitionKey].(string)] = p["cursor"].(map[string]any)[s.Cursor].(string)
			}
			checkpoints = append(checkpoints, cp)
		}
		last := map[string]checkpoint{}
		for _, cp := range checkpoints {
			last[cp.stream] = cp
		}
		for _, name := range streams {
			if len(last[name].cursors) != len(partitionsOf(emu, name)) {
				t.Fatalf("%s: the final state has %d partitions, the emulator %d", name, len(last[name].cursors), len(partitionsOf(emu, name)))
			}
		}

		t.Run("from the final state", func(t *testing.T) {
			var stateFile []any
			for _, name := range streams {
				stateFile = append(stateFile, last[name].state)
			}
			r := run(t, "read", "--config", cfg, "--catalog", configuredCatalog(t, catalog.Incremental, streams...),
				"--state", writeJSON(t, "state.json", stateFile))
			if r.code != 0 {
				t.Fatalf("exit %d", r.code)
			}
			records := airbyteRecords(r.messages)
			for _, name := range streams {
				if n := checkNotBeforeCursors(t, name, records[name], last[name].cursors); n == 0 || n >= len(firstRecords[name]) {
					t.Errorf("%s: the second read emitted %d records with a cursor, the first %d: want only the lookback", name, n, len(firstRecords[name]))
				}
			}
		})

		t.Run("from every intermediate state", func(t *testing.T) {
			if len(checkpoints) < 2*len(streams) {
				t.Fatalf("only %d STATE messages: the emulator should give each partition two windows", len(checkpoints))
			}
			for i, cp := range checkpoints {
				r := run(t, "read", "--config", cfg, "--catalog", configuredCatalog(t, catalog.Incremental, cp.stream),
					"--state", writeJSON(t, "state.json", []any{cp.state}))
				if r.code != 0 {
					t.Fatalf("state %d of %s: exit %d", i, cp.stream, r.code)
				}
				if got := streamStatuses(r.messages)[cp.stream]; len(got) == 0 || got[len(got)-1] != "COMPLETE" {
					t.Errorf("state %d of %s: statuses %v", i, cp.stream, got)
				}
				checkNotBeforeCursors(t, cp.stream, airbyteRecords(r.messages)[cp.stream], cp.cursors)
			}
		})

		t.Run("from an abnormally large state", func(t *testing.T) {
			var stateFile []any
			for _, name := range streams {
				s, _ := connector.Catalog().Lookup(name)
				var parts []any
				for _, p := range partitionsOf(emu, name) {
					parts = append(parts, map[string]any{
						"partition": map[string]any{s.PartitionKey: p},
						"cursor":    map[string]any{s.Cursor: futureCursor(name)},
					})
				}
				stateFile = append(stateFile, map[string]any{"type": "STREAM", "stream": map[string]any{
					"stream_descriptor": map[string]any{"name": name},
					"stream_state":      map[string]any{"states": parts},
				}})
			}
			r := run(t, "read", "--config", cfg, "--catalog", configuredCatalog(t, catalog.Incremental, streams...),
				"--state", writeJSON(t, "state.json", stateFile))
			if r.code != 0 || len(traces(r.messages, "ERROR")) != 0 {
				t.Fatalf("exit %d, errors %v", r.code, traces(r.messages, "ERROR"))
			}
			// Unlike Airbyte's future_state acceptance test, which wants no
			// record, a cursor after the last complete UTC day is moved back
			// to it (a cursor in the future would skip its partition forever):
			// the read gives the lookback before yesterday, and today, and
			// says so.
			for _, name := range streams {
				if n := checkNotBeforeCursors(t, name, airbyteRecords(r.messages)[name], clampedCursors(emu, name)); n == 0 {
					t.Errorf("%s: a state in the future read nothing from the clamped cursor", name)
				}
			}
			if !strings.Contains(string(r.stdout), "after the last complete UTC day") {
				t.Error("no LOG message says the future cursors were moved back")
			}
		})
	})
}
