package integration_tests

// tap-twilio-usage's command line: version, about, config from layered
// files and environment variables, and failures that name their file or
// field without printing a secret.

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/cli"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/spec"
)

func TestSingerTapVersionAndAbout(t *testing.T) {
	r := runTap(t, nil, "--version")
	if r.code != 0 || string(r.stdout) != "tap-twilio-usage "+cli.Version+"\n" {
		t.Errorf("--version: exit %d, %q", r.code, r.stdout)
	}

	r = runTap(t, nil, "--about", "--format", "json")
	var about struct {
		Name         string          `json:"name"`
		Description  string          `json:"description"`
		Version      string          `json:"version"`
		Capabilities []string        `json:"capabilities"`
		Settings     json.RawMessage `json:"settings"`
	}
	if err := json.Unmarshal(r.stdout, &about); r.code != 0 || err != nil {
		t.Fatalf("--about --format json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	var gotSettings, wantSettings any
	json.Unmarshal(about.Settings, &gotSettings)
	json.Unmarshal(spec.ConnectionSpecification(), &wantSettings)
	if diff := cmp.Diff(wantSettings, gotSettings); diff != "" {
		t.Errorf("about settings are not the spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"tap-twilio-usage", cli.Version, "about,catalog,discover,state"},
		[]string{about.Name, about.Version, strings.Join(about.Capabilities, ",")}); diff != "" || about.Description == "" {
		t.Errorf("about (-want +got):\n%s", diff)
	}

	r = runTap(t, nil, "--about", "--format", "markdown")
	for name := range wantSettings.(map[string]any)["properties"].(map[string]any) {
		for _, want := range []string{"`" + name + "`", "`TAP_TWILIO_USAGE_" + strings.ToUpper(name) + "`"} {
			if !strings.Contains(string(r.stdout), want) {
				t.Errorf("--about markdown does not mention %s", want)
			}
		}
	}

	r = runTap(t, nil, "--about", "--format", "xml")
	if r.code != 2 || !strings.Contains(string(r.stderr), `"xml"`) {
		t.Errorf("--format xml: exit %d, stderr %s", r.code, r.stderr)
	}
}

// readConfig returns a config file's object.
func readConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSingerTapConfigSources(t *testing.T) {
	emu, cfg := emulatorConfig(t, twiliotest.Options{Seed: 2, Subaccounts: 1, Days: 3}, nil)
	full := readConfig(t, cfg)
	token := full["auth_token"].(string)
	withoutToken := map[string]any{}
	for k, v := range full {
		if k != "auth_token" {
			withoutToken[k] = v
		}
	}
	base := writeJSON(t, "base.json", withoutToken)
	broken := writeJSON(t, "broken.json", map[string]any{"auth_token": "ffffffffffffffffffffffffffffffff", "lookback_days": 365})
	wrongToken := writeJSON(t, "wrong_token.json", map[string]any{"auth_token": "ffffffffffffffffffffffffffffffff"})
	fixed := writeJSON(t, "fixed.json", map[string]any{"auth_token": token, "lookback_days": 2})
	usageOnly := writeFile(t, "catalog.json", []byte(`{"streams":[{"tap_stream_id":"usage_records","metadata":[{"breadcrumb":[],"metadata":{"selected":true}}]}]}`))
	tokenEnv := "TAP_TWILIO_USAGE_AUTH_TOKEN=" + token

	tests := []struct {
		name string
		env  []string
		args []string
		// main: only the main account's usage is read
		mainOnly bool
	}{
		{name: "a later file overrides an earlier one", args: []string{"--config", base, "--config", broken, "--config", fixed}},
		{name: "a secret from the environment", env: []string{tokenEnv}, args: []string{"--config", base}},
		{name: "the environment overrides a file", env: []string{tokenEnv}, args: []string{"--config", base, "--config", wrongToken}},
		{name: "the environment alone", env: []string{
			tokenEnv, "TAP_TWILIO_USAGE_ACCOUNT_SID=" + full["account_sid"].(string),
			"TAP_TWILIO_USAGE_BASE_URL=" + full["base_url"].(string), "TAP_TWILIO_USAGE_START_DATE=" + full["start_date"].(string),
			"TAP_TWILIO_USAGE_LOOKBACK_DAYS=5",
		}},
		{name: "typed variables", env: []string{tokenEnv, "TAP_TWILIO_USAGE_INCLUDE_SUBACCOUNTS=false", "TAP_TWILIO_USAGE_MAX_CONCURRENCY=2"},
			args: []string{"--config", base, "--config", "ENV"}, mainOnly: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := syncTap(t, tc.env, append(tc.args, "--catalog", usageOnly)...)
			accounts := map[string]bool{}
			for _, rec := range singerRecords(r.messages)["usage_records"] {
				accounts[rec["account_sid"].(string)] = true
			}
			want := 2
			if tc.mainOnly {
				want = 1
			}
			if len(accounts) != want || !accounts[emu.MainAccountSID()] {
				t.Errorf("usage of %d accounts, want %d including the main one", len(accounts), want)
			}
			checkNoSecrets(t, append(secretsOf(emu), "ffffffffffffffffffffffffffffffff"), r.stdout, r.stderr)
		})
	}
}

func TestSingerTapFailsClearly(t *testing.T) {
	emu, cfg := emulatorConfig(t, twiliotest.Options{Seed: 2, Days: 3}, nil)
	secrets := append(secretsOf(emu), "tok3n", "s3cret", "0123456789abcdef0123456789abcdef")
	wrongToken := writeJSON(t, "wrong.json", map[string]any{"auth_token": "0123456789abcdef0123456789abcdef"})
	badCatalog := writeFile(t, "bad_catalog.json", []byte(`{"streams":[{"tap_stream_id":"calls","metadata":[{"breadcrumb":[],"metadata":{"selected":true}}]}]}`))
	badState := writeFile(t, "bad_state.json", []byte(`{"bookmarks":{"usage_records":{"replication_key":"start_date","replication_key_value":"2026-01-01"}}}`))
	badCursor := writeFile(t, "bad_cursor.json", []byte(`{"bookmarks":{"usage_records":{"partitions":[{"context":{"account_sid":"`+emu.MainAccountSID()+`"},"replication_key":"start_date","replication_key_value":"yesterday"}]}}}`))
	tests := []struct {
		name     string
		env      []string
		args     []string
		code     int
		mentions []string
	}{
		{name: "invalid config", args: []string{"--config", "invalid_config.json"}, code: 1,
			mentions: []string{"invalid_config.json", "account_sid", "credentials", "lookback_days", "max_concurrency", "start_date"}},
		{name: "missing config file", args: []string{"--config", "nope.json"}, code: 1, mentions: []string{"nope.json"}},
		{name: "no config", code: 1, mentions: []string{"--config is required", "TAP_TWILIO_USAGE_"}},
		{name: "a variable of the wrong type", env: []string{"TAP_TWILIO_USAGE_LOOKBACK_DAYS=three"}, args: []string{"--config", cfg}, code: 1,
			mentions: []string{"TAP_TWILIO_USAGE_LOOKBACK_DAYS", "integer"}},
		{name: "a variable out of range", env: []string{"TAP_TWILIO_USAGE_MAX_CONCURRENCY=500"}, args: []string{"--config", cfg}, code: 1,
			mentions: []string{"max_concurrency", "environment variable TAP_TWILIO_USAGE_MAX_CONCURRENCY"}},
		{name: "unknown stream in the catalog", args: []string{"--config", cfg, "--catalog", badCatalog}, code: 1,
			mentions: []string{"bad_catalog.json", "streams[0] (calls)"}},
		{name: "missing catalog file", args: []string{"--config", cfg, "--catalog", "nope_catalog.json"}, code: 1, mentions: []string{"nope_catalog.json"}},
		{name: "catalog and properties differ", args: []string{"--config", cfg, "--catalog", badCatalog, "--properties", "other.json"}, code: 1,
			mentions: []string{"--catalog", "--properties"}},
		{name: "unpartitioned bookmark", args: []string{"--config", cfg, "--state", badState}, code: 1,
			mentions: []string{"bad_state.json", "bookmarks.usage_records", "account_sid"}},
		{name: "cursor that is not a date", args: []string{"--config", cfg, "--state", badCursor}, code: 1,
			mentions: []string{"bad_cursor.json", "yesterday"}},
		{name: "malformed state", args: []string{"--config", cfg, "--state", writeFile(t, "s.json", []byte(`[1,2]`))}, code: 1,
			mentions: []string{"s.json"}},
		{name: "wrong credentials", args: []string{"--config", cfg, "--config", wrongToken}, code: 1,
			mentions: []string{"Twilio rejected the credentials for " + emu.MainAccountSID()}},
		{name: "an Airbyte state", args: []string{"--config", cfg, "--state", writeFile(t, "airbyte_state.json",
			[]byte(`[{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{}}}]`))}, code: 1,
			mentions: []string{"airbyte_state.json", "looks like an Airbyte state"}},
		{name: "unknown flag", args: []string{"--sync"}, code: 2, mentions: []string{"sync"}},
		{name: "stray argument", args: []string{"--config", cfg, "read"}, code: 2, mentions: []string{`"read"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runTap(t, tc.env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tc.code, r.stderr)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(string(r.stderr), m) {
					t.Errorf("stderr does not mention %q:\n%s", m, r.stderr)
				}
			}
			if len(r.stdout) != 0 {
				t.Errorf("the tap wrote to stdout before failing: %s", r.stdout)
			}
			checkNoSecrets(t, secrets, r.stdout, r.stderr)
		})
	}
}
