package integration_tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

// TestHostileInputs feeds every file of testdata/hostile — configs,
// catalogs and states to `read`, message streams to `load` — and checks
// each gets a clear error that names the problem (cases.json says what),
// a non-zero exit, and nothing half-written: no RECORD or STATE from
// `read`, no database file and no echoed STATE from `load`.
func TestHostileInputs(t *testing.T) {
	_, goodConfig := emulatorConfig(t, twiliotest.Options{Seed: 1, Days: 3}, nil)
	raw, err := os.ReadFile("testdata/hostile/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ Kind, File, Mention string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("%d hostile inputs, want at least 30", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.File, func(t *testing.T) {
			file := filepath.Join("testdata/hostile", tc.File)
			if tc.Kind == "load" {
				dir := t.TempDir()
				db := filepath.Join(dir, "w.duckdb")
				in, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				r := runIn(t, dir, in, "load", "--path", db)
				if r.code == 0 || !strings.Contains(string(r.stderr), tc.Mention) {
					t.Errorf("exit %d, stderr does not name %q:\n%s", r.code, tc.Mention, r.stderr)
				}
				if strings.Contains(string(r.stdout), `"STATE"`) {
					t.Errorf("a failed load echoed a state: %s", r.stdout)
				}
				if _, err := os.Stat(db); !os.IsNotExist(err) {
					t.Errorf("a load that committed nothing left %s", db)
				}
				return
			}
			args := []string{"read", "--config", goodConfig, "--catalog", "configured_catalog.json"}
			switch tc.Kind {
			case "config":
				args[2] = file
			case "catalog":
				args[4] = file
			case "state":
				args = append(args, "--state", file)
			default:
				t.Fatalf("kind %q", tc.Kind)
			}
			r := run(t, args...)
			errs := traces(r.messages, "ERROR")
			if r.code == 0 || len(errs) != 1 {
				t.Fatalf("exit %d, messages %v", r.code, r.messages)
			}
			e := errs[0]["error"].(map[string]any)
			if msg := fmt.Sprint(e["message"]); e["failure_type"] != "config_error" || !strings.Contains(msg, tc.Mention) {
				t.Errorf("error %v: want a config_error naming %q", e, tc.Mention)
			}
			if n := len(ofType(r.messages, "RECORD")) + len(ofType(r.messages, "STATE")); n != 0 {
				t.Errorf("%d records and states written before the input was rejected", n)
			}
		})
	}
}
