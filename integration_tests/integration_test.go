// Package integration_tests drives the built twilio-elt binary end to end
// against the Twilio emulator, the way Airbyte runs a source, and checks
// every message it prints against the Airbyte protocol schema.
package integration_tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twilio-elt-it")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "twilio-elt")
	build := exec.Command("go", "build", "-o", binary, "../cmd/twilio-elt")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build twilio-elt:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	stdout, stderr []byte
	code           int
	messages       []map[string]any
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	r := runIn(t, "", nil, args...)
	r.messages = validMessages(t, r.stdout)
	return r
}

var messageSchema *jsonschema.Schema

// validMessages parses stdout as Airbyte messages, one per line, and
// validates each against the protocol schema.
func validMessages(t *testing.T, stdout []byte) []map[string]any {
	t.Helper()
	if messageSchema == nil {
		c := jsonschema.NewCompiler()
		f, err := os.Open("../internal/protocol/airbyte/testdata/airbyte_protocol_v0.json")
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource("airbyte_protocol.json", doc); err != nil {
			t.Fatal(err)
		}
		if messageSchema, err = c.Compile("airbyte_protocol.json#/definitions/AirbyteMessage"); err != nil {
			t.Fatal(err)
		}
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(sc.Bytes()))
		if err != nil {
			t.Fatalf("stdout line %d is not JSON: %v\n%s", n, err, sc.Bytes())
		}
		if err := messageSchema.Validate(inst); err != nil {
			t.Fatalf("stdout line %d is not an AirbyteMessage: %v\n%s", n, err, sc.Bytes())
		}
		var m map[string]any
		json.Unmarshal(sc.Bytes(), &m)
		out = append(out, m)
	}
	return out
}

func ofType(msgs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// traces returns the TRACE messages of kind (ERROR, STREAM_STATUS, …).
func traces(msgs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, m := range ofType(msgs, "TRACE") {
		tr := m["trace"].(map[string]any)
		if tr["type"] == kind {
			out = append(out, tr)
		}
	}
	return out
}

// emulatorConfig starts an emulator and writes a config file for it.
func emulatorConfig(t *testing.T, opts twiliotest.Options, edit func(map[string]any)) (*twiliotest.Server, string) {
	t.Helper()
	emu := twiliotest.NewTestServer(t, opts)
	var cfg map[string]any
	if err := json.Unmarshal(emu.ConnectorConfig(emu.URL()), &cfg); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	return emu, writeJSON(t, "config.json", cfg)
}

func writeJSON(t *testing.T, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, name, b)
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := writeFileErr(path, b); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFileErr(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

func TestSpec(t *testing.T) {
	r := run(t, "spec")
	if r.code != 0 || len(r.messages) != 1 || r.messages[0]["type"] != "SPEC" {
		t.Fatalf("spec: exit %d, messages %v", r.code, r.messages)
	}
	props := r.messages[0]["spec"].(map[string]any)["connectionSpecification"].(map[string]any)["properties"].(map[string]any)
	for _, secret := range []string{"auth_token", "api_key_secret", "api_credentials"} {
		if props[secret].(map[string]any)["airbyte_secret"] != true {
			t.Errorf("%s is not marked airbyte_secret", secret)
		}
	}
}

func TestCheck(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Subaccounts: 2, Days: 5}, nil)
	for _, tc := range []struct {
		name, config, status, mention string
	}{
		{"valid", cfg, "SUCCEEDED", "2 subaccounts"},
		{"invalid config file", "invalid_config.json", "FAILED", "account_sid"},
		{"unreachable Twilio", "sample_config.json", "FAILED", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := tc.config
			if tc.name == "unreachable Twilio" {
				// The sample config, pointed at a port nobody listens on.
				var c map[string]any
				b, _ := os.ReadFile(config)
				json.Unmarshal(b, &c)
				c["base_url"] = "http://127.0.0.1:1"
				config = writeJSON(t, "config.json", c)
			}
			r := run(t, "check", "--config", config)
			statuses := ofType(r.messages, "CONNECTION_STATUS")
			if r.code != 0 || len(statuses) != 1 {
				t.Fatalf("exit %d, messages %v, stderr %s", r.code, r.messages, r.stderr)
			}
			st := statuses[0]["connectionStatus"].(map[string]any)
			if st["status"] != tc.status || !strings.Contains(fmt.Sprint(st["message"]), tc.mention) {
				t.Errorf("status = %v", st)
			}
		})
	}
	// Every problem of the invalid config is named at once.
	r := run(t, "check", "--config", "invalid_config.json")
	msg := fmt.Sprint(ofType(r.messages, "CONNECTION_STATUS")[0]["connectionStatus"].(map[string]any)["message"])
	for _, field := range []string{"account_sid", "credentials", "lookback_days", "max_concurrency", "start_date"} {
		if !strings.Contains(msg, field) {
			t.Errorf("the message does not name %s: %s", field, msg)
		}
	}
	for _, secret := range []string{"tok3n", "s3cret"} {
		if bytes.Contains(r.stdout, []byte(secret)) || bytes.Contains(r.stderr, []byte(secret)) {
			t.Errorf("secret %q printed", secret)
		}
	}
}

func TestDiscover(t *testing.T) {
	r := run(t, "discover", "--config", "sample_config.json")
	cats := ofType(r.messages, "CATALOG")
	if r.code != 0 || len(cats) != 1 {
		t.Fatalf("exit %d, messages %v", r.code, r.messages)
	}
	streams := cats[0]["catalog"].(map[string]any)["streams"].([]any)
	got := map[string]bool{}
	for _, s := range streams {
		s := s.(map[string]any)
		got[s["name"].(string)] = true
		props := s["json_schema"].(map[string]any)["properties"].(map[string]any)
		for _, pk := range s["source_defined_primary_key"].([]any) {
			if _, ok := props[pk.([]any)[0].(string)]; !ok {
				t.Errorf("%s: primary key %v is not in the schema", s["name"], pk)
			}
		}
		if cf, ok := s["default_cursor_field"].([]any); ok {
			if _, ok := props[cf[0].(string)]; !ok {
				t.Errorf("%s: cursor %v is not in the schema", s["name"], cf)
			}
		}
	}
	for _, name := range []string{"accounts", "usage_records", "sims", "sim_usage_records", "super_sims", "super_sim_usage_records"} {
		if !got[name] {
			t.Errorf("stream %s missing from discover", name)
		}
	}
}

func TestReadEveryStream(t *testing.T) {
	emu, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Subaccounts: 3, Days: 40, SIMs: 5, SuperSIMs: 5}, nil)
	r := run(t, "read", "--config", cfg, "--catalog", "configured_catalog.json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	records := map[string]int{}
	for _, m := range ofType(r.messages, "RECORD") {
		rec := m["record"].(map[string]any)
		records[rec["stream"].(string)]++
		if _, ok := rec["emitted_at"].(float64); !ok {
			t.Fatalf("record without emitted_at: %v", rec)
		}
	}
	for _, stream := range []string{"accounts", "usage_records", "sims", "sim_usage_records", "super_sims", "super_sim_usage_records"} {
		if records[stream] == 0 {
			t.Errorf("no %s records", stream)
		}
		var seq []string
		for _, tr := range traces(r.messages, "STREAM_STATUS") {
			ss := tr["stream_status"].(map[string]any)
			if ss["stream_descriptor"].(map[string]any)["name"] == stream {
				seq = append(seq, ss["status"].(string))
			}
		}
		if strings.Join(seq, ",") != "STARTED,RUNNING,COMPLETE" {
			t.Errorf("%s statuses: %v", stream, seq)
		}
	}
	states := ofType(r.messages, "STATE")
	if len(states) == 0 {
		t.Fatal("no STATE message")
	}
	for _, s := range states {
		st := s["state"].(map[string]any)
		if st["type"] != "STREAM" || st["sourceStats"].(map[string]any)["recordCount"] == nil {
			t.Errorf("state %v lacks type STREAM or sourceStats.recordCount", st)
		}
	}
	// No secret of any account reaches stdout or stderr.
	for _, a := range emu.Accounts() {
		if bytes.Contains(r.stdout, []byte(a.AuthToken)) || bytes.Contains(r.stderr, []byte(a.AuthToken)) {
			t.Errorf("auth token of %s printed", a.SID)
		}
	}

	// The final states, passed back the way Airbyte does, resume the read.
	last := map[string]any{}
	for _, s := range states {
		st := s["state"].(map[string]any)
		last[st["stream"].(map[string]any)["stream_descriptor"].(map[string]any)["name"].(string)] = st
	}
	var stateFile []any
	for _, st := range last {
		stateFile = append(stateFile, st)
	}
	again := run(t, "read", "--config", cfg, "--catalog", "configured_catalog.json", "--state", writeJSON(t, "state.json", stateFile))
	if again.code != 0 {
		t.Fatalf("resumed read: exit %d\n%s", again.code, again.stdout)
	}
	n := 0
	for _, m := range ofType(again.messages, "RECORD") {
		if m["record"].(map[string]any)["stream"] == "usage_records" {
			n++
		}
	}
	if n == 0 || n >= records["usage_records"] {
		t.Errorf("resumed read emitted %d usage records, first read %d: want only the lookback", n, records["usage_records"])
	}
}

func TestReadAcceptsEmptyStates(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Days: 3}, nil)
	for _, content := range []string{"", "[]", "  \n"} {
		r := run(t, "read", "--config", cfg, "--catalog", "configured_catalog.json", "--state", writeFile(t, "state.json", []byte(content)))
		if r.code != 0 {
			t.Errorf("state %q: exit %d\n%s", content, r.code, r.stdout)
		}
	}
}

func TestReadAbnormalStateEmitsNothing(t *testing.T) {
	emu, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Days: 10, SIMs: 2}, nil)
	st, _ := os.ReadFile("abnormal_state.json")
	st = bytes.ReplaceAll(st, []byte("ACMAIN"), []byte(emu.MainAccountSID()))
	st = bytes.ReplaceAll(st, []byte("DEANY"), []byte(emu.SIMs()[0].SID))
	catalog := writeFile(t, "catalog.json", []byte(`{"streams":[
		{"stream":{"name":"usage_records"},"sync_mode":"incremental","destination_sync_mode":"append"}]}`))
	r := run(t, "read", "--config", cfg, "--catalog", catalog, "--state", writeFile(t, "state.json", st))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	// A cursor after the last complete UTC day is moved back to it, with a
	// WARN: the read gives the lookback before yesterday, and today.
	if n := len(ofType(r.messages, "RECORD")); n == 0 || n > 5*80 {
		t.Errorf("a state in the future emitted %d records, want the few days before yesterday", n)
	}
	if !strings.Contains(string(r.stdout), "after the last complete UTC day") {
		t.Error("no LOG message says the future cursor was moved back")
	}
}

func TestReadFailsClearlyOnBadInput(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Days: 3}, nil)
	badCatalog := writeFile(t, "catalog.json", []byte(`{"streams":[{"stream":{"name":"calls"},"sync_mode":"full_refresh"}]}`))
	for _, tc := range []struct {
		name    string
		args    []string
		mention string
	}{
		{"invalid config", []string{"--config", "invalid_config.json", "--catalog", "configured_catalog.json"}, "invalid_config.json"},
		{"missing config", []string{"--config", "nope.json", "--catalog", "configured_catalog.json"}, "nope.json"},
		{"unknown stream", []string{"--config", cfg, "--catalog", badCatalog}, "calls"},
		{"malformed state", []string{"--config", cfg, "--catalog", "configured_catalog.json", "--state", writeFile(t, "s.json", []byte(`{"not":"an array"}`))}, "s.json"},
		{"global state", []string{"--config", cfg, "--catalog", "configured_catalog.json", "--state", writeFile(t, "g.json", []byte(`[{"type":"GLOBAL","global":{"stream_states":[]}}]`))}, "GLOBAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append([]string{"read"}, tc.args...)...)
			errs := traces(r.messages, "ERROR")
			if r.code == 0 || len(errs) != 1 {
				t.Fatalf("exit %d, messages %v", r.code, r.messages)
			}
			e := errs[0]["error"].(map[string]any)
			if e["failure_type"] != "config_error" || !strings.Contains(fmt.Sprint(e["message"]), tc.mention) {
				t.Errorf("error = %v, want a config_error naming %q", e, tc.mention)
			}
			if len(ofType(r.messages, "RECORD")) != 0 {
				t.Error("records were emitted before the input was rejected")
			}
		})
	}
}

func TestReadWithWrongCredentialsIsAConfigError(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Days: 3}, func(c map[string]any) {
		c["auth_token"] = "ffffffffffffffffffffffffffffffff"
	})
	r := run(t, "read", "--config", cfg, "--catalog", "configured_catalog.json")
	errs := traces(r.messages, "ERROR")
	if r.code == 0 || len(errs) != 1 || errs[0]["error"].(map[string]any)["failure_type"] != "config_error" {
		t.Fatalf("exit %d, errors %v", r.code, errs)
	}
	if bytes.Contains(r.stdout, []byte("ffffffffffffffffffffffffffffffff")) {
		t.Error("the wrong token was printed")
	}
}
