package integration_tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// tableContents returns every row of every table of the DuckDB file at
// path as text, _loaded_at and all, sorted: equal contents mean nothing
// was written.
func tableContents(t *testing.T, path string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	d, err := duckdb.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := d.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for res.Next() {
		row, err := res.Row()
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, row[0].Text)
	}
	res.Close()
	out := map[string][]string{}
	for _, table := range tables {
		res, err := d.Query(ctx, fmt.Sprintf(`SELECT * FROM %q`, table))
		if err != nil {
			t.Fatal(err)
		}
		rows := []string{}
		for res.Next() {
			row, err := res.Row()
			if err != nil {
				t.Fatal(err)
			}
			var cells []string
			for _, v := range row {
				cells = append(cells, string(v.JSON()))
			}
			rows = append(rows, strings.Join(cells, "|"))
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		res.Close()
		slices.Sort(rows)
		out[table] = rows
	}
	return out
}

// filesUnder lists every file under dir with its size.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := e.Info(); err == nil && !e.IsDir() {
			out = append(out, fmt.Sprintf("%s %d", p, info.Size()))
		}
		return nil
	})
	return out
}

// TestWrongSecretSyncTouchesNothing: a sync with a wrong secret, on a
// warehouse a good sync filled, leaves every table as it was (to the
// _loaded_at), writes no raw archive run, makes one request, and says
// Twilio rejected the credentials, blaming neither a Standard key nor
// KORE.
func TestWrongSecretSyncTouchesNothing(t *testing.T) {
	emu, good := emulatorConfig(t, twiliotest.Options{Seed: 4, Subaccounts: 3, Days: 20, SIMs: 3}, func(c map[string]any) {
		c["start_date"] = daysAgo(25)
	})
	_, wrong := emulatorConfig(t, twiliotest.Options{Seed: 4, Subaccounts: 3, Days: 20, SIMs: 3}, func(c map[string]any) {
		c["base_url"] = emu.URL()
		c["auth_token"] = strings.Repeat("f", 32)
	})
	dir := t.TempDir()
	db := filepath.Join(dir, "w.duckdb")
	if r := runIn(t, dir, nil, "sync", "--config", good, "--path", db); r.code != 0 {
		t.Fatalf("good sync: exit %d\n%s", r.code, r.stderr)
	}
	before := tableContents(t, db)
	if len(before["twilio_accounts"]) != 4 || len(before["twilio_usage_daily"]) == 0 || len(before["_twilio_elt_state"]) == 0 {
		t.Fatalf("the good sync did not fill the warehouse: %d accounts, %d usage rows, %d states",
			len(before["twilio_accounts"]), len(before["twilio_usage_daily"]), len(before["_twilio_elt_state"]))
	}
	fileBefore, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	archiveBefore := filesUnder(t, filepath.Join(dir, "raw"))

	emu.ResetRequests()
	r := runIn(t, dir, nil, "sync", "--config", wrong, "--path", db)
	if r.code != 1 {
		t.Fatalf("wrong-secret sync: exit %d\n%s", r.code, r.stderr)
	}
	stderr := string(r.stderr)
	if want := "twilio-elt sync: Twilio rejected the credentials for " + emu.MainAccountSID(); !strings.Contains(stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr)
	}
	for _, blame := range []string{"Standard", "KORE", strings.Repeat("f", 32)} {
		if strings.Contains(stderr, blame) {
			t.Errorf("stderr mentions %q:\n%s", blame, stderr)
		}
	}
	if reqs := emu.Requests(); len(reqs) != 1 {
		t.Errorf("the wrong-secret sync made %d requests, want 1 (no retry of a definite 401): %v", len(reqs), reqs)
	}
	if diff := cmp.Diff(before, tableContents(t, db)); diff != "" {
		t.Errorf("a wrong-secret sync changed the warehouse (-before +after):\n%s", diff)
	}
	if fileAfter, err := os.ReadFile(db); err != nil || !bytes.Equal(fileBefore, fileAfter) {
		t.Errorf("a wrong-secret sync changed the database file (%v)", err)
	}
	if diff := cmp.Diff(archiveBefore, filesUnder(t, filepath.Join(dir, "raw"))); diff != "" {
		t.Errorf("a wrong-secret sync changed the raw archive (-before +after):\n%s", diff)
	}

	// Nor does it create a warehouse where there was none.
	fresh := filepath.Join(dir, "fresh", "new.duckdb")
	if r := runIn(t, dir, nil, "sync", "--config", wrong, "--path", fresh); r.code != 1 {
		t.Fatalf("wrong-secret sync into a new file: exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Dir(fresh)); !os.IsNotExist(err) {
		t.Errorf("a wrong-secret sync created %s: %v", filepath.Dir(fresh), err)
	}
}

// TestReadWithWrongCredentialsEmitsNoRecord: read fails with one TRACE
// error naming the account, after no RECORD and no stream status.
func TestReadWithWrongCredentialsEmitsNoRecord(t *testing.T) {
	emu, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Subaccounts: 2, Days: 3}, func(c map[string]any) {
		c["auth_token"] = strings.Repeat("f", 32)
	})
	r := run(t, "read", "--config", cfg, "--catalog", "configured_catalog.json")
	if r.code != 1 {
		t.Fatalf("exit %d", r.code)
	}
	var types []string
	for _, m := range r.messages {
		typ := fmt.Sprint(m["type"])
		if typ == "TRACE" {
			typ += "/" + fmt.Sprint(m["trace"].(map[string]any)["type"])
		}
		if typ != "LOG" {
			types = append(types, typ)
		}
	}
	if diff := cmp.Diff([]string{"TRACE/ERROR"}, types); diff != "" {
		t.Errorf("messages other than LOG (-want +got):\n%s", diff)
	}
	errs := traces(r.messages, "ERROR")
	if len(errs) == 1 {
		e := errs[0]["error"].(map[string]any)
		if want := "Twilio rejected the credentials for " + emu.MainAccountSID(); e["failure_type"] != "config_error" || !strings.Contains(fmt.Sprint(e["message"]), want) {
			t.Errorf("error = %v, want a config_error saying %q", e, want)
		}
	}
}

// TestRefusedBaseURLIsAConfigError: nothing listening at base_url is a
// configuration problem naming the host, in read, check and sync.
func TestRefusedBaseURLIsAConfigError(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Days: 3}, func(c map[string]any) {
		c["base_url"] = "http://127.0.0.1:1"
	})
	const want = "the base_url host 127.0.0.1:1 refused the connection"
	r := run(t, "read", "--config", cfg, "--catalog", "configured_catalog.json")
	errs := traces(r.messages, "ERROR")
	if r.code != 1 || len(errs) != 1 {
		t.Fatalf("read: exit %d, errors %v", r.code, errs)
	}
	if e := errs[0]["error"].(map[string]any); e["failure_type"] != "config_error" || !strings.Contains(fmt.Sprint(e["message"]), want) ||
		strings.Contains(fmt.Sprint(e["message"]), "run again later") {
		t.Errorf("read error = %v", e)
	}
	r = run(t, "check", "--config", cfg)
	if st := ofType(r.messages, "CONNECTION_STATUS"); len(st) != 1 || !strings.Contains(fmt.Sprint(st[0]), want) {
		t.Errorf("check: %v", r.messages)
	}
	dir := t.TempDir()
	s := runIn(t, dir, nil, "sync", "--config", cfg, "--path", filepath.Join(dir, "w.duckdb"))
	if s.code != 1 || !strings.Contains(string(s.stderr), want) {
		t.Errorf("sync: exit %d, stderr %s", s.code, s.stderr)
	}
}

func TestReadSaysASingerStateIsOne(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 1, Days: 3}, nil)
	st := writeFile(t, "singer_state.json", []byte(`{"bookmarks":{"usage_records":{"partitions":[]}}}`))
	r := run(t, "read", "--config", cfg, "--catalog", "configured_catalog.json", "--state", st)
	errs := traces(r.messages, "ERROR")
	if r.code != 1 || len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "looks like a Singer state") ||
		!strings.Contains(fmt.Sprint(errs[0]), "singer_state.json") {
		t.Errorf("exit %d, errors %v", r.code, errs)
	}
	if len(ofType(r.messages, "RECORD")) != 0 {
		t.Error("records were emitted")
	}
}

// TestLoadFromAMissingArchiveWritesNothing: a load that cannot start
// leaves no database, and says nothing about finishing.
func TestLoadFromAMissingArchiveWritesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "rebuilt.duckdb")
	for _, args := range [][]string{
		{"load", "--path", db, "--from-raw", filepath.Join(dir, "raw", "nope")},
		{"load", "--path", db},
	} {
		stdin := []byte("this is not an Airbyte message\n")
		r := runIn(t, dir, stdin, args...)
		if r.code != 1 || strings.Contains(string(r.stderr), "load finished") {
			t.Errorf("%v: exit %d, stderr %s", args, r.code, r.stderr)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 0 {
			t.Errorf("%v left %v behind", args, entries)
		}
	}
}

// TestLoadFromRawRestoresTheState: after a rebuild from the raw archive,
// the next sync is incremental, as it would have been without one.
func TestLoadFromRawRestoresTheState(t *testing.T) {
	emu, cfg := emulatorConfig(t, twiliotest.Options{Seed: 5, Subaccounts: 2, Days: 40, SIMs: 2}, func(c map[string]any) {
		c["start_date"] = daysAgo(45)
	})
	dir := t.TempDir()
	db := filepath.Join(dir, "twilio.duckdb")
	if r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", db); r.code != 0 {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	}
	states := tableContents(t, db)["_twilio_elt_state"]
	rebuilt := filepath.Join(dir, "rebuilt.duckdb")
	if r := runIn(t, dir, nil, "load", "--path", rebuilt, "--from-raw", filepath.Join(dir, "raw", "twilio")); r.code != 0 {
		t.Fatalf("load --from-raw: exit %d\n%s", r.code, r.stderr)
	}
	stateOnly := func(rows []string) []string {
		var out []string
		for _, r := range rows {
			f := strings.Split(r, "|")
			out = append(out, f[0]+"|"+f[1]) // stream, state; not updated_at
		}
		return out
	}
	if diff := cmp.Diff(stateOnly(states), stateOnly(tableContents(t, rebuilt)["_twilio_elt_state"])); diff != "" {
		t.Errorf("states after the rebuild (-synced +rebuilt):\n%s", diff)
	}
	emu.ResetRequests()
	if r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", rebuilt, "--raw=false"); r.code != 0 {
		t.Fatalf("sync after the rebuild: exit %d\n%s", r.code, r.stderr)
	}
	for _, req := range emu.Requests() {
		if sd := req.Query.Get("StartDate"); sd != "" && sd < daysAgo(10) {
			t.Errorf("the sync after a rebuild read from %s: it backfilled instead of going on from the state", sd)
		}
	}
}
