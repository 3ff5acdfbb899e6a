package integration_tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/transforms"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// fleet is one main account's emulator and a config for it.
type fleet struct {
	emu *twiliotest.Server
	cfg string
}

// newFleet starts an emulator of main account seed (3 subaccounts'
// worth of usage over 30 days, 3 SIMs) and writes a config for it.
func newFleet(t *testing.T, seed int64) fleet {
	t.Helper()
	emu, cfg := emulatorConfig(t, twiliotest.Options{Seed: seed, Subaccounts: 2, Days: 30, SIMs: 3}, func(c map[string]any) {
		c["start_date"] = daysAgo(35)
	})
	return fleet{emu: emu, cfg: cfg}
}

// mustRun runs the binary in dir and fails the test on a non-zero exit.
func mustRun(t *testing.T, dir string, stdin []byte, args ...string) result {
	t.Helper()
	r := runIn(t, dir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("%s: exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// sharedTables are the tables every account's load writes the same rows
// to (the category taxonomy): they are not one fleet's.
var sharedTables = map[string]bool{"twilio_usage_categories": true, "twilio_usage_category_ancestors": true}

// addChecksums returns the checksums of a warehouse holding the rows of
// both a and b, per table (the checksum of a table is its row count and
// the sum of its rows' hashes). Shared tables must be equal in a and b.
func addChecksums(t *testing.T, a, b map[string]string) map[string]string {
	t.Helper()
	parse := func(s string) (int64, *big.Int) {
		var n int64
		var h string
		if _, err := fmt.Sscanf(s, "%d rows, hash %s", &n, &h); err != nil {
			t.Fatalf("checksum %q: %v", s, err)
		}
		v, ok := new(big.Int).SetString(h, 10)
		if !ok {
			t.Fatalf("checksum %q: hash is not a number", s)
		}
		return n, v
	}
	out := map[string]string{}
	for table, sa := range a {
		if sharedTables[table] {
			if sa != b[table] {
				t.Fatalf("%s differs between the fleets: %s, %s", table, sa, b[table])
			}
			out[table] = sa
			continue
		}
		na, ha := parse(sa)
		nb, hb := parse(b[table])
		out[table] = fmt.Sprintf("%d rows, hash %s", na+nb, new(big.Int).Add(ha, hb))
	}
	return out
}

// usageStarts returns the StartDate of every daily usage request emu
// received.
func usageStarts(emu *twiliotest.Server) []string {
	var out []string
	for _, r := range emu.Requests() {
		if strings.HasSuffix(r.Path, "/Usage/Records/Daily.json") && r.Query.Has("StartDate") {
			out = append(out, r.Query.Get("StartDate"))
		}
	}
	return out
}

// wholeFleets checks that the warehouse at path holds both fleets whole:
// every table as the sum of the fleets synced alone, alone[0] and
// alone[1].
func wholeFleets(t *testing.T, what, path string, alone [2]map[string]string) {
	t.Helper()
	want := addChecksums(t, alone[0], alone[1])
	if diff := cmp.Diff(want, tableChecksums(t, path)); diff != "" {
		t.Errorf("%s: not both fleets whole (-A alone + B alone, +got):\n%s", what, diff)
	}
}

// TestAccountsSyncedInTurnKeepBothFleets syncs main account A, then B,
// then A again into one DuckDB file: every table holds exactly A's rows
// and B's (as each synced alone), and A's second sync is incremental.
// Two connections' messages fed to load one after the other give the
// same warehouse.
func TestAccountsSyncedInTurnKeepBothFleets(t *testing.T) {
	a, b := newFleet(t, 1), newFleet(t, 2)
	if a.emu.MainAccountSID() == b.emu.MainAccountSID() {
		t.Fatal("the two emulators share a main account")
	}
	dir := t.TempDir()
	var alone [2]map[string]string
	for i, f := range []fleet{a, b} {
		db := filepath.Join(dir, fmt.Sprintf("alone%d.duckdb", i))
		mustRun(t, dir, nil, "sync", "--config", f.cfg, "--path", db)
		alone[i] = tableChecksums(t, db)
		for _, table := range []string{"twilio_accounts", "twilio_sims", transforms.UsageDaily, "twilio_sim_usage_daily", costmodel.CostDaily} {
			if strings.HasPrefix(alone[i][table], "0 rows") {
				t.Fatalf("fleet %d alone: %s is empty", i, table)
			}
		}
	}

	db := filepath.Join(dir, "both.duckdb")
	mustRun(t, dir, nil, "sync", "--config", a.cfg, "--path", db)
	mustRun(t, dir, nil, "sync", "--config", b.cfg, "--path", db)
	wholeFleets(t, "A, B", db, alone)

	a.emu.ResetRequests()
	mustRun(t, dir, nil, "sync", "--config", a.cfg, "--path", db)
	wholeFleets(t, "A, B, A", db, alone)
	starts := usageStarts(a.emu)
	if len(starts) == 0 {
		t.Fatal("A's second sync asked for no usage")
	}
	for _, s := range starts {
		if s <= daysAgo(35) {
			t.Errorf("A's second sync read usage from %s: not incremental (start_date %s)", s, daysAgo(35))
		}
	}

	// load, fed by the two connections' messages in turn.
	loaded := filepath.Join(dir, "loaded.duckdb")
	catalog := abs(t, "configured_catalog.json")
	for _, f := range []fleet{a, b, a} {
		read := mustRun(t, dir, nil, "read", "--config", f.cfg, "--catalog", catalog)
		mustRun(t, dir, read.stdout, "load", "--path", loaded)
	}
	wholeFleets(t, "read | load of A, B, A", loaded, alone)

	// Each main account's states are its own.
	d, err := duckdb.Open(context.Background(), loaded)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, f := range []fleet{a, b} {
		states, err := d.States(context.Background(), f.emu.MainAccountSID())
		if err != nil {
			t.Fatal(err)
		}
		if usage := string(states["usage_records"]); !strings.Contains(usage, f.emu.MainAccountSID()) {
			t.Errorf("usage_records state of %s does not name its own account: %s", f.emu.MainAccountSID(), usage)
		}
	}
}

// TestSubaccountConnectedTwiceIsCountedOnce connects a subaccount on its
// own (its auth token) besides its parent's connection, in both orders:
// its usage and cost are stored once, billed to the parent, so every
// usage and cost table equals the parent's connection alone.
func TestSubaccountConnectedTwiceIsCountedOnce(t *testing.T) {
	p := newFleet(t, 1)
	var sub twiliotest.Account
	for _, acc := range p.emu.Accounts() {
		if acc.OwnerAccountSID != "" && acc.OwnerAccountSID != acc.SID && acc.Status == "active" && !acc.UsageForbidden {
			sub = acc
			break
		}
	}
	if sub.SID == "" {
		t.Fatal("the emulator has no active subaccount")
	}
	subCfg := writeJSON(t, "sub.json", map[string]any{
		"account_sid": sub.SID, "auth_token": sub.AuthToken, "base_url": p.emu.URL(), "start_date": daysAgo(35),
	})
	dir := t.TempDir()
	parentAlone := filepath.Join(dir, "parent.duckdb")
	mustRun(t, dir, nil, "sync", "--config", p.cfg, "--path", parentAlone)
	want := tableChecksums(t, parentAlone)

	for _, order := range [][]string{{p.cfg, subCfg}, {subCfg, p.cfg}, {p.cfg, subCfg, p.cfg}} {
		db := filepath.Join(dir, fmt.Sprintf("both%d.duckdb", len(order)*10+strings.Index(strings.Join(order, ""), subCfg)))
		for _, cfg := range order {
			mustRun(t, dir, nil, "sync", "--config", cfg, "--path", db)
		}
		got := tableChecksums(t, db)
		for _, table := range []string{transforms.UsageDaily, costmodel.CostDaily, costmodel.Reconciliation, "twilio_sim_usage_daily"} {
			if got[table] != want[table] {
				t.Errorf("order %d: %s = %s, want the parent's alone: %s", len(order), table, got[table], want[table])
			}
		}
		var billed []string
		duckRows(t, db, "SELECT DISTINCT billing_account_sid FROM twilio_cost_daily WHERE account_sid = '"+sub.SID+"'", &billed)
		if diff := cmp.Diff([]string{p.emu.MainAccountSID()}, billed); diff != "" {
			t.Errorf("order %d: billing account of the subaccount's cost (-want +got):\n%s", len(order), diff)
		}
		var accounts []string
		duckRows(t, db, "SELECT account_sid || ' ' || COALESCE(parent_account_sid, '-') FROM twilio_accounts ORDER BY 1", &accounts)
		var wantAccounts []string
		duckRows(t, parentAlone, "SELECT account_sid || ' ' || COALESCE(parent_account_sid, '-') FROM twilio_accounts ORDER BY 1", &wantAccounts)
		if diff := cmp.Diff(wantAccounts, accounts); diff != "" {
			t.Errorf("order %d: accounts (-want +got):\n%s", len(order), diff)
		}
	}
}

// duckRows runs q (one column) on the DuckDB file at path.
func duckRows(t *testing.T, path, q string, out *[]string) {
	t.Helper()
	d, err := duckdb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.QueryStrings(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	*out = nil
	for _, r := range rows {
		*out = append(*out, r[0])
	}
}

// TestRemoveOneAccount syncs A and B into one warehouse and removes A:
// every table then equals B synced alone, A has no state and no row left
// (anomalies included), and B's state is as it was. Without a terminal,
// remove asks for --yes and deletes nothing.
func TestRemoveOneAccount(t *testing.T) {
	a, b := newFleet(t, 1), newFleet(t, 2)
	dir := t.TempDir()
	bAlone := filepath.Join(dir, "b.duckdb")
	mustRun(t, dir, nil, "sync", "--config", b.cfg, "--path", bAlone)
	db := filepath.Join(dir, "both.duckdb")
	mustRun(t, dir, nil, "sync", "--config", a.cfg, "--path", db)
	mustRun(t, dir, nil, "sync", "--config", b.cfg, "--path", db)
	statesOf := func(sid string) map[string]string {
		t.Helper()
		d, err := duckdb.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		st, err := d.States(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for k, v := range st {
			out[k] = string(v)
		}
		return out
	}
	mainA := a.emu.MainAccountSID()
	var fleetA []string
	for _, acc := range a.emu.Accounts() {
		fleetA = append(fleetA, "'"+acc.SID+"'")
	}
	inA := "(" + strings.Join(fleetA, ", ") + ")"
	var costA []string
	duckRows(t, db, "SELECT COUNT(*) FROM twilio_cost_daily WHERE account_sid IN "+inA, &costA)
	if costA[0] == "0" {
		t.Fatal("A has no cost rows before remove")
	}
	statesB := statesOf(b.emu.MainAccountSID())
	if len(statesOf(mainA)) == 0 || len(statesB) == 0 {
		t.Fatal("no states before remove")
	}
	before := tableContents(t, db)

	r := runIn(t, dir, nil, "remove", "--account", mainA, "--path", db)
	if r.code == 0 || !strings.Contains(string(r.stderr), "--yes") {
		t.Errorf("remove without a terminal or --yes: exit %d, stderr %s", r.code, r.stderr)
	}
	if diff := cmp.Diff(before, tableContents(t, db)); diff != "" {
		t.Fatalf("a refused remove changed the warehouse:\n%s", diff)
	}
	sub := a.emu.Accounts()[1].SID
	if r := runIn(t, dir, nil, "remove", "--account", sub, "--path", db, "--yes"); r.code == 0 || !strings.Contains(string(r.stderr), "subaccount of "+mainA) {
		t.Errorf("remove of a subaccount: exit %d, stderr %s", r.code, r.stderr)
	}

	r = mustRun(t, dir, nil, "remove", "--account", mainA, "--path", db, "--yes")
	for _, want := range []string{mainA, "twilio_usage_daily", "twilio_accounts", "removed " + mainA} {
		if !strings.Contains(string(r.stdout), want) {
			t.Errorf("remove's output lacks %q:\n%s", want, r.stdout)
		}
	}
	if diff := cmp.Diff(tableChecksums(t, bAlone), tableChecksums(t, db)); diff != "" {
		t.Errorf("after removing A, the warehouse differs from B alone (-B alone +got):\n%s", diff)
	}
	for _, table := range []string{"twilio_cost_anomalies", "twilio_accounts", "twilio_sims", "twilio_sim_usage_daily", "twilio_reconciliation"} {
		var n []string
		duckRows(t, db, "SELECT COUNT(*) FROM "+table+" WHERE account_sid IN "+inA, &n)
		if n[0] != "0" {
			t.Errorf("%s holds %s rows of A after remove", table, n[0])
		}
	}
	if got := statesOf(mainA); len(got) != 0 {
		t.Errorf("A's states after remove: %v", got)
	}
	if diff := cmp.Diff(statesB, statesOf(b.emu.MainAccountSID())); diff != "" {
		t.Errorf("B's states changed (-before +after):\n%s", diff)
	}
	if r := runIn(t, dir, nil, "remove", "--account", mainA, "--path", db, "--yes"); r.code != 1 || !strings.Contains(string(r.stderr), "has no data") {
		t.Errorf("second remove: exit %d, stderr %s", r.code, r.stderr)
	}
	// A synced again reads from start_date: the warehouse holds both
	// fleets whole again.
	mustRun(t, dir, nil, "sync", "--config", a.cfg, "--path", db)
	aAlone := filepath.Join(dir, "a.duckdb")
	mustRun(t, dir, nil, "sync", "--config", a.cfg, "--path", aAlone)
	wholeFleets(t, "A removed, then synced again", db, [2]map[string]string{tableChecksums(t, aAlone), tableChecksums(t, bAlone)})
}

// TestMultiConfigSyncEqualsSequentialSyncs syncs three main accounts in
// one run (repeated --config, then a folder of configs): the warehouse
// equals syncing them one after the other, states included. A run with
// an account whose credentials Twilio refuses and one whose base_url
// nothing answers loads the good account, exits non-zero and names both.
func TestMultiConfigSyncEqualsSequentialSyncs(t *testing.T) {
	fleets := []fleet{newFleet(t, 1), newFleet(t, 2), newFleet(t, 3)}
	dir := t.TempDir()
	seq := filepath.Join(dir, "seq.duckdb")
	var args []string
	configs := filepath.Join(dir, "configs")
	for i, f := range fleets {
		mustRun(t, dir, nil, "sync", "--config", f.cfg, "--path", seq)
		args = append(args, "--config", f.cfg)
		b, err := os.ReadFile(f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(configs, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := writeFileErr(filepath.Join(configs, fmt.Sprintf("account%d.json", i)), b); err != nil {
			t.Fatal(err)
		}
	}
	want := tableChecksums(t, seq)
	wantStates := allStates(t, seq)

	multi := filepath.Join(dir, "multi.duckdb")
	r := mustRun(t, dir, nil, append([]string{"sync", "--path", multi, "--max-requests", "5"}, args...)...)
	for _, f := range fleets {
		if !strings.Contains(string(r.stderr), f.emu.MainAccountSID()+" ok") {
			t.Errorf("the summary lacks %s ok:\n%s", f.emu.MainAccountSID(), r.stderr)
		}
	}
	if diff := cmp.Diff(want, tableChecksums(t, multi)); diff != "" {
		t.Errorf("one multi-config sync differs from sequential syncs (-sequential +multi):\n%s", diff)
	}
	if diff := cmp.Diff(wantStates, allStates(t, multi)); diff != "" {
		t.Errorf("states differ (-sequential +multi):\n%s", diff)
	}

	folder := filepath.Join(dir, "folder.duckdb")
	mustRun(t, dir, nil, "sync", "--path", folder, "--config", configs)
	if diff := cmp.Diff(want, tableChecksums(t, folder)); diff != "" {
		t.Errorf("a folder of configs differs from sequential syncs (-sequential +folder):\n%s", diff)
	}

	// Failing accounts do not stop the good one.
	bad, down := newFleet(t, 4), newFleet(t, 5)
	badCfg := editConfig(t, bad.cfg, func(c map[string]any) { c["auth_token"] = "0123456789abcdef0123456789abcdef" })
	downCfg := editConfig(t, down.cfg, func(c map[string]any) { c["base_url"] = "http://127.0.0.1:1" })
	mixed := filepath.Join(dir, "mixed.duckdb")
	r = runIn(t, dir, nil, "sync", "--path", mixed, "--config", badCfg, "--config", fleets[0].cfg, "--config", downCfg)
	if r.code == 0 {
		t.Fatalf("a run with failing accounts exited 0:\n%s", r.stderr)
	}
	last := string(r.stderr)
	if i := strings.LastIndex(strings.TrimSpace(last), "\n"); i >= 0 {
		last = last[i:]
	}
	for _, want := range []string{"2 of 3 accounts failed", bad.emu.MainAccountSID(), down.emu.MainAccountSID()} {
		if !strings.Contains(last, want) {
			t.Errorf("the error lacks %q: %s", want, last)
		}
	}
	if strings.Contains(last, fleets[0].emu.MainAccountSID()) {
		t.Errorf("the error names the account that succeeded: %s", last)
	}
	aAlone := filepath.Join(dir, "a.duckdb")
	mustRun(t, dir, nil, "sync", "--config", fleets[0].cfg, "--path", aAlone)
	if diff := cmp.Diff(tableChecksums(t, aAlone), tableChecksums(t, mixed)); diff != "" {
		t.Errorf("the good account of a mixed run differs from it alone (-alone +mixed):\n%s", diff)
	}
	checkNoSecrets(t, []string{"0123456789abcdef0123456789abcdef", fleets[0].emu.AuthToken()}, r.stdout, r.stderr)
}

// editConfig writes a copy of the config at path, changed by edit.
func editConfig(t *testing.T, path string, edit func(map[string]any)) string {
	t.Helper()
	c := readConfig(t, path)
	edit(c)
	return writeJSON(t, "edited.json", c)
}

// allStates returns every stored state of the DuckDB file at path, by
// main account and stream, normalized (normalState).
func allStates(t *testing.T, path string) []string {
	t.Helper()
	var rows []string
	duckRows(t, path, `SELECT COALESCE(account_sid, '-') || ' ' || stream || ' ' || state FROM _twilio_elt_state ORDER BY 1`, &rows)
	for i, r := range rows {
		fields := strings.SplitN(r, " ", 3)
		rows[i] = fields[0] + " " + fields[1] + " " + normalState(t, fields[2])
	}
	return rows
}

// normalStates is normalState of each state.
func normalStates(t *testing.T, states map[string]json.RawMessage) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range states {
		out[k] = normalState(t, string(v))
	}
	return out
}

// normalState returns a state with its partitions sorted: they are
// checkpointed in the order their reads end.
func normalState(t *testing.T, state string) string {
	t.Helper()
	var st any
	if err := json.Unmarshal([]byte(state), &st); err != nil {
		t.Fatal(err)
	}
	if m, ok := st.(map[string]any); ok {
		if list, ok := m["states"].([]any); ok {
			slices.SortFunc(list, func(a, b any) int {
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				return strings.Compare(string(ja), string(jb))
			})
		}
	}
	b, _ := json.Marshal(st)
	return string(b)
}

// TestTwoProcessesSyncIntoOneDuckDBFile starts a sync of A and, while it
// holds the DuckDB file, a sync of B into the same file: B says it waits
// for the other process, then syncs, and the file holds both fleets
// whole. A third process with a short --lock-wait gives up clearly and
// leaves the file alone.
func TestTwoProcessesSyncIntoOneDuckDBFile(t *testing.T) {
	a, b := newFleet(t, 1), newFleet(t, 2)
	dir := t.TempDir()
	var alone [2]map[string]string
	for i, f := range []fleet{a, b} {
		db := filepath.Join(dir, fmt.Sprintf("alone%d.duckdb", i))
		mustRun(t, dir, nil, "sync", "--config", f.cfg, "--path", db)
		alone[i] = tableChecksums(t, db)
	}
	db := filepath.Join(dir, "shared.duckdb")
	// A's sync lasts seconds: every answer of its emulator takes 300 ms.
	a.emu.SetLatency(300 * time.Millisecond)
	first := exec.Command(binary, "sync", "--config", a.cfg, "--path", db)
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The file exists once A verified its credentials and opened it.
		if _, err := os.Stat(db); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A's sync never created the file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	quick := runIn(t, dir, nil, "sync", "--config", b.cfg, "--path", db, "--lock-wait", "200ms")
	if quick.code == 0 || !strings.Contains(string(quick.stderr), "gave up after waiting 200ms for another process") {
		t.Errorf("a sync with --lock-wait 200ms: exit %d, stderr %s", quick.code, quick.stderr)
	}
	second := runIn(t, dir, nil, "sync", "--config", b.cfg, "--path", db)
	if err := first.Wait(); err != nil {
		t.Fatalf("A's sync: %v\n%s", err, firstErr.Bytes())
	}
	if second.code != 0 {
		t.Fatalf("B's sync: exit %d\n%s", second.code, second.stderr)
	}
	if !strings.Contains(string(second.stderr), "is in use by another process") {
		t.Errorf("B's sync did not say it waited:\n%s", second.stderr)
	}
	a.emu.SetLatency(0)
	wholeFleets(t, "A and B at once", db, alone)
}

// TestVerifyAndDemoPerBillingAccount: verify sums its check per billing
// account and, with --account, checks one; the demo run twice with two
// seeds into one file lists the spend of both billing accounts, which add
// up to the total.
func TestVerifyAndDemoPerBillingAccount(t *testing.T) {
	a, b := newFleet(t, 1), newFleet(t, 2)
	dir := t.TempDir()
	aAlone := filepath.Join(dir, "a.duckdb")
	mustRun(t, dir, nil, "sync", "--config", a.cfg, "--path", aAlone)
	db := filepath.Join(dir, "both.duckdb")
	mustRun(t, dir, nil, "sync", "--config", a.cfg, "--config", b.cfg, "--path", db)
	mainA, mainB := a.emu.MainAccountSID(), b.emu.MainAccountSID()

	days := func(out []byte) string {
		t.Helper()
		m := regexp.MustCompile(`Reconciliation of (\d+) account-days`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no account-day count in:\n%s", out)
		}
		return string(m[1])
	}
	all := mustRun(t, dir, nil, "verify", "--path", db)
	for _, sid := range []string{mainA, mainB} {
		if !regexp.MustCompile(`(?m)^    ` + sid + ` .* account-days  ok `).Match(all.stdout) {
			t.Errorf("verify lacks an ok line of billing account %s:\n%s", sid, all.stdout)
		}
	}
	one := mustRun(t, dir, nil, "verify", "--path", db, "--account", mainA)
	alone := mustRun(t, dir, nil, "verify", "--path", aAlone)
	if got, want := days(one.stdout), days(alone.stdout); got != want {
		t.Errorf("verify --account A checked %s account-days, A alone has %s", got, want)
	}
	if bytes.Contains(one.stdout, []byte(mainB)) || !bytes.Contains(one.stdout, []byte("of billing account "+mainA)) {
		t.Errorf("verify --account A:\n%s", one.stdout)
	}
	if days(all.stdout) == days(one.stdout) {
		t.Errorf("verify of both accounts checked as many account-days as of A alone: %s", days(all.stdout))
	}
	for _, bad := range []string{a.emu.Accounts()[1].SID, "AC" + strings.Repeat("0", 32), "nope"} {
		if r := runIn(t, dir, nil, "verify", "--path", db, "--account", bad); r.code != 1 {
			t.Errorf("verify --account %s: exit %d, stderr %s", bad, r.code, r.stderr)
		}
	}

	demo := filepath.Join(dir, "demo.duckdb")
	mustRun(t, dir, nil, "demo", "--path", demo, "--seed", "1")
	r := mustRun(t, dir, nil, "demo", "--path", demo, "--seed", "2")
	out := string(r.stdout)
	i := strings.Index(out, "By billing account")
	if i < 0 {
		t.Fatalf("the demo summary of two main accounts has no billing accounts:\n%s", out)
	}
	section := strings.SplitN(out[i:], "\n\n", 2)[0]
	total := regexp.MustCompile(`(?m)^Total: (.*)$`).FindStringSubmatch(out)
	if total == nil || !strings.HasSuffix(section, total[1]) {
		t.Errorf("the billing accounts do not end with the total %v:\n%s", total, section)
	}
	for _, seed := range []int64{1, 2} {
		sid := twiliotest.New(twiliotest.Options{Seed: seed}).MainAccountSID()
		if !strings.Contains(section, "\n  "+sid+" ") {
			t.Errorf("billing account %s (seed %d) is not in the section:\n%s", sid, seed, section)
		}
	}
}

// TestSubaccountOnItsOwnStandardKey connects a subaccount with its own
// Standard API key (which may not read Account resources, so Twilio never
// names its parent to it) besides its parent's connection: in one
// multi-config run and in either order of two syncs, its usage and cost
// are stored once, billed to the parent, as the parent's connection alone
// stores them.
func TestSubaccountOnItsOwnStandardKey(t *testing.T) {
	p := newFleet(t, 1)
	sub := p.emu.Accounts()[1]
	key, secret, ok := p.emu.SubaccountStandardAPIKey(sub.SID)
	if !ok || sub.Status != "active" {
		t.Fatalf("no active subaccount with a Standard key: %+v", sub)
	}
	subCfg := writeJSON(t, "sub.json", map[string]any{
		"account_sid": sub.SID, "api_key_sid": key, "api_key_secret": secret, "base_url": p.emu.URL(), "start_date": daysAgo(35),
	})
	dir := t.TempDir()
	parentAlone := filepath.Join(dir, "parent.duckdb")
	mustRun(t, dir, nil, "sync", "--config", p.cfg, "--path", parentAlone)
	want := tableChecksums(t, parentAlone)

	for i, runs := range [][][]string{
		{{"--config", p.cfg, "--config", subCfg}},
		{{"--config", subCfg}, {"--config", p.cfg}},
		{{"--config", p.cfg}, {"--config", subCfg}},
	} {
		db := filepath.Join(dir, fmt.Sprintf("case%d.duckdb", i))
		for _, args := range runs {
			r := mustRun(t, dir, nil, append([]string{"sync", "--path", db}, args...)...)
			checkNoSecrets(t, []string{secret}, r.stdout, r.stderr)
		}
		got := tableChecksums(t, db)
		for _, table := range []string{transforms.UsageDaily, costmodel.CostDaily, costmodel.Reconciliation} {
			if got[table] != want[table] {
				t.Errorf("case %d: %s = %s, want the parent's alone: %s", i, table, got[table], want[table])
				q := "SELECT DISTINCT account_sid || ' ' || COALESCE(account_name, '-') || ' ' || billing_account_sid FROM " + table + " ORDER BY 1"
				var names, aloneNames []string
				duckRows(t, db, q, &names)
				duckRows(t, parentAlone, q, &aloneNames)
				t.Logf("case %d: %s accounts, names, billing accounts: %v; the parent's alone: %v", i, table, names, aloneNames)
			}
		}
		var billed []string
		duckRows(t, db, "SELECT DISTINCT billing_account_sid FROM twilio_usage_daily WHERE account_sid = '"+sub.SID+"'", &billed)
		if diff := cmp.Diff([]string{p.emu.MainAccountSID()}, billed); diff != "" {
			t.Errorf("case %d: billing account of the subaccount's usage (-want +got):\n%s", i, diff)
		}
	}
}
