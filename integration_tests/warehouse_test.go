package integration_tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// runIn runs the binary in dir with stdin, without expecting Airbyte
// messages on stdout.
func runIn(t *testing.T, dir string, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.Bytes(), stderr: errOut.Bytes()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return r
}

// tableChecksums opens a DuckDB file the binary wrote and checksums
// every table, leaving out _loaded_at and as_of (when Twilio answered).
func tableChecksums(t *testing.T, path string) map[string]string {
	t.Helper()
	d, err := duckdb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sums, err := d.Checksums(context.Background(), pipeline.Tables(), "as_of")
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func TestSyncTwiceAndReadLoadAgree(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 3, Subaccounts: 2, Days: 40, SIMs: 4, SuperSIMs: 6}, func(c map[string]any) {
		c["start_date"] = daysAgo(45)
	})
	dir := t.TempDir()
	db := filepath.Join(dir, "twilio.duckdb")
	for i := range 2 {
		r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", db)
		if r.code != 0 || len(r.stdout) != 0 {
			t.Fatalf("sync %d: exit %d, stdout %q, stderr %s", i+1, r.code, r.stdout, r.stderr)
		}
		if i == 0 {
			sums := tableChecksums(t, db)
			if strings.HasPrefix(sums[transforms.UsageDaily], "0 rows") || strings.HasPrefix(sums["twilio_sim_usage_daily"], "0 rows") ||
				strings.HasPrefix(sums["twilio_super_sims"], "0 rows") || strings.HasPrefix(sums["twilio_super_sim_usage_daily"], "0 rows") {
				t.Fatalf("first sync loaded nothing: %v", sums)
			}
		}
	}
	synced := tableChecksums(t, db)

	read := runIn(t, dir, nil, "read", "--config", cfg, "--catalog", abs(t, "configured_catalog.json"))
	if read.code != 0 {
		t.Fatalf("read: exit %d, stderr %s", read.code, read.stderr)
	}
	loadDB := filepath.Join(dir, "loaded.duckdb")
	load := runIn(t, dir, read.stdout, "load", "--destination", "duckdb", "--path", loadDB)
	if load.code != 0 {
		t.Fatalf("load: exit %d, stderr %s", load.code, load.stderr)
	}
	// load echoes every STATE of the read, once committed.
	msgs := validMessages(t, load.stdout)
	if got, want := len(ofType(msgs, "STATE")), len(ofType(validMessages(t, read.stdout), "STATE")); got != want || got == 0 {
		t.Errorf("load echoed %d STATE messages, the read emitted %d", got, want)
	}
	if diff := cmp.Diff(synced, tableChecksums(t, loadDB)); diff != "" {
		t.Errorf("read | load differs from sync twice (-sync +load):\n%s", diff)
	}

	// Rebuild from the raw archive of the two syncs.
	rebuilt := filepath.Join(dir, "rebuilt.duckdb")
	r := runIn(t, dir, nil, "load", "--path", rebuilt, "--from-raw", filepath.Join(dir, "raw", "twilio"))
	if r.code != 0 {
		t.Fatalf("load --from-raw: exit %d, stderr %s", r.code, r.stderr)
	}
	if diff := cmp.Diff(synced, tableChecksums(t, rebuilt)); diff != "" {
		t.Errorf("rebuild from raw differs from sync (-sync +rebuilt):\n%s", diff)
	}
}

func abs(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	r := runIn(t, dir, nil, "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d, stderr %s", r.code, r.stderr)
	}
	out := string(r.stdout)
	for _, want := range []string{"Total:", "By service", "Messaging", "By account", "SIM data:", "twilio-demo.duckdb"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo summary lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "twilio-demo.duckdb")); err != nil {
		t.Errorf("demo left no database: %v", err)
	}
	// The closing hints run as printed: the program as it was started,
	// then the arguments.
	for _, hint := range []string{"Query it: ", "Check it: "} {
		_, line, ok := strings.Cut(out, "\n"+hint)
		line, _, _ = strings.Cut(line, "\n")
		prog, args, _ := strings.Cut(line, " ")
		if !ok || prog != binary {
			t.Errorf("hint %q runs %q, want the binary as started (%s):\n%s", hint, prog, binary, out)
			continue
		}
		words := shellWords(t, args)
		r := runIn(t, dir, nil, words...)
		if r.code != 0 || len(r.stdout) == 0 {
			t.Errorf("%s%s: exit %d\n%s%s", hint, line, r.code, r.stdout, r.stderr)
		}
		if words[0] == "query" && !strings.Contains(string(r.stdout), "Wireless/IoT") {
			t.Errorf("the demo's query printed:\n%s", r.stdout)
		}
	}
}

func TestLoadOfAMalformedRecordCommitsNothing(t *testing.T) {
	const sid = "AC0123456789abcdef0123456789abcdef"
	input := strings.Join([]string{
		`{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":"` + sid + `","category":"sms","start_date":"2026-01-01","count":1,"usage":1,"price":0.0075,"price_unit":"USD"},"emitted_at":1767225600000}}`,
		`{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":"` + sid + `","category":"calls","start_date":"2026-01-32","count":1,"usage":1,"price":1,"price_unit":"USD"},"emitted_at":1767225600000}}`,
		`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{"states":[]}},"sourceStats":{"recordCount":2.0}}}`,
	}, "\n")
	dir := t.TempDir()
	db := filepath.Join(dir, "twilio.duckdb")
	r := runIn(t, dir, []byte(input), "load", "--path", db)
	if r.code == 0 {
		t.Fatal("load of a malformed record succeeded")
	}
	for _, m := range []string{"usage_records", sid, "category=calls", "2026-01-32"} {
		if !strings.Contains(string(r.stderr), m) {
			t.Errorf("stderr does not mention %q:\n%s", m, r.stderr)
		}
	}
	if len(r.stdout) != 0 {
		t.Errorf("a failed load echoed: %s", r.stdout)
	}
	// It failed before its first commit: the database it created, and
	// the raw archive, are gone.
	for _, p := range []string{db, db + ".wal", filepath.Join(dir, "raw")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("a load that committed nothing left %s: %v", p, err)
		}
	}
	if strings.Contains(string(r.stderr), "load finished") {
		t.Errorf("a failed load logged that it finished:\n%s", r.stderr)
	}

	// Into an existing warehouse, it commits nothing of its input.
	good := `{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":"` + sid + `","category":"sms","start_date":"2026-01-01","count":1,"usage":1,"price":0.0075,"price_unit":"USD"},"emitted_at":1767225600000}}`
	if r := runIn(t, dir, []byte(good), "load", "--path", db); r.code != 0 {
		t.Fatalf("load: exit %d\n%s", r.code, r.stderr)
	}
	before := tableChecksums(t, db)
	if r := runIn(t, dir, []byte(input), "load", "--path", db); r.code == 0 {
		t.Fatal("load of a malformed record succeeded")
	}
	if diff := cmp.Diff(before, tableChecksums(t, db)); diff != "" {
		t.Errorf("a failed load changed the warehouse (-before +after):\n%s", diff)
	}
}

func daysAgo(n int) string {
	return time.Now().UTC().AddDate(0, 0, -n).Format(time.DateOnly)
}
