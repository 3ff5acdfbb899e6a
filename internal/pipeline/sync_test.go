package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/protocol/airbyte"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/raw"
	"github.com/twilio-elt/twilio-elt/spec"
	"github.com/twilio-elt/twilio-elt/transforms"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

func newConnector(t *testing.T, emu *twiliotest.Server) (*connector.Connector, spec.Config) {
	t.Helper()
	cfg, err := spec.Load(emu.ConnectorConfig(emu.URL()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg.StartDate = time.Now().UTC().AddDate(0, 0, -40).Format(spec.DateLayout)
	user, pass, _ := cfg.Credentials()
	api, err := twilio.New(twilio.Options{Username: user, Password: pass, AccountSID: cfg.AccountSID, BaseURL: cfg.BaseURL, MaxConcurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	return connector.New(cfg, api, nil), cfg
}

func openDB(t *testing.T, name string) *duckdb.Destination {
	t.Helper()
	d, err := duckdb.Open(context.Background(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func checksums(t *testing.T, d *duckdb.Destination) map[string]string {
	t.Helper()
	// as_of is when Twilio answered: it moves with every read.
	sums, err := d.Checksums(context.Background(), pipeline.Tables(), "as_of")
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestSyncReadLoadAndRawAgree: a second sync changes nothing; loading the
// output of read gives the same tables; so does a rebuild from the raw
// archive.
func TestSyncReadLoadAndRawAgree(t *testing.T) {
	ctx := context.Background()
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 7, Subaccounts: 3, Days: 45, SIMs: 5, SuperSIMs: 8})
	conn, cfg := newConnector(t, emu)
	opts := pipeline.Options{MainAccountSID: cfg.AccountSID, MaxRows: 500}

	synced := openDB(t, "sync.duckdb")
	rawDir := filepath.Join(t.TempDir(), "raw")
	archive := raw.NewWriter(rawDir, "run1")
	first := opts
	first.Archive = archive
	first.OnCommitted = func(s protocol.State) error { return archive.AppendState(s.Stream, s.Data) }
	stats, err := pipeline.Sync(ctx, conn, synced, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := archive.Close(); err != nil {
		t.Fatal(err)
	}
	if stats.Rows[transforms.UsageDaily] == 0 || stats.Rows["twilio_sim_usage_daily"] == 0 || stats.Rows["twilio_sim_usage_roaming"] == 0 ||
		stats.Rows["twilio_super_sim_usage_daily"] == 0 || stats.Commits < 3 {
		t.Fatalf("first sync loaded too little to prove anything: %+v", stats)
	}
	once := checksums(t, synced)
	states, err := synced.States(ctx, cfg.AccountSID)
	if err != nil || len(states) != len(connector.Streams()) {
		t.Fatalf("states after a sync: %v, %v; want one per stream", states, err)
	}

	archive2 := raw.NewWriter(rawDir, "run2")
	second := opts
	second.Archive = archive2
	second.OnCommitted = func(s protocol.State) error { return archive2.AppendState(s.Stream, s.Data) }
	stats2, err := pipeline.Sync(ctx, conn, synced, second)
	if err != nil {
		t.Fatal(err)
	}
	archive2.Close()
	if stats2.Records == 0 || stats2.Rows[transforms.UsageDaily] == 0 {
		t.Errorf("second sync re-read nothing (%+v): it proves nothing about replacing", stats2)
	}
	if stats2.Records >= stats.Records {
		t.Errorf("second sync read %d records, the first %d: not incremental", stats2.Records, stats.Records)
	}
	if diff := cmp.Diff(once, checksums(t, synced)); diff != "" {
		t.Errorf("a second sync changed the tables (-first +second):\n%s", diff)
	}

	// read | load
	var out bytes.Buffer
	w := airbyte.NewWriter(&out)
	if err := conn.Read(ctx, connector.Catalog().All(), state.Blobs{}, w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	loaded := openDB(t, "load.duckdb")
	if _, err := pipeline.Load(ctx, &out, loaded, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(once, checksums(t, loaded)); diff != "" {
		t.Errorf("read | load differs from sync (-sync +load):\n%s", diff)
	}

	rebuilt := openDB(t, "rebuilt.duckdb")
	if _, err := pipeline.LoadRaw(ctx, rawDir, rebuilt, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(once, checksums(t, rebuilt)); diff != "" {
		t.Errorf("rebuild from the raw archive differs from sync (-sync +rebuilt):\n%s", diff)
	}
	// The rebuild restores the states of the last run, so the next sync
	// goes on from there instead of reading everything again.
	wantStates, err := synced.States(ctx, cfg.AccountSID)
	if err != nil {
		t.Fatal(err)
	}
	gotStates, err := rebuilt.States(ctx, cfg.AccountSID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonTexts(wantStates), jsonTexts(gotStates)); diff != "" {
		t.Errorf("states after a rebuild from the raw archive (-sync +rebuilt):\n%s", diff)
	}
}

func jsonTexts(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// TestCostTablesEqualARebuildAfterReplays loads a read and, in the same
// run, a second read that revises a day (one leaf and its roll-ups up to
// totalprice), brings a category Twilio never listed, and renames a
// subaccount — in batches small enough to split days — and checks that
// the cost tables equal a from-scratch rebuild from the loaded usage, and
// that the usage holds each key once.
func TestCostTablesEqualARebuildAfterReplays(t *testing.T) {
	ctx := context.Background()
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 3, Subaccounts: 2, Days: 40, SIMs: 1})
	conn, cfg := newConnector(t, emu)
	var first bytes.Buffer
	w := airbyte.NewWriter(&first)
	if err := conn.Read(ctx, connector.Catalog().All(), state.Blobs{}, w); err != nil {
		t.Fatal(err)
	}
	w.Flush()

	// The day to revise: the latest with SMS on a long code.
	type rec struct {
		line string
		data map[string]any
	}
	var recs []rec
	dec := func(line string) map[string]any {
		var m struct {
			Type   string
			Record struct {
				Stream string
				Data   map[string]any
			}
		}
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "RECORD" || m.Record.Stream != connector.UsageRecords {
			return nil
		}
		return m.Record.Data
	}
	var sid, day string
	for _, line := range strings.Split(strings.TrimSpace(first.String()), "\n") {
		data := dec(line)
		recs = append(recs, rec{line, data})
		if data != nil && data["category"] == "sms-outbound-longcode" && data["price"].(json.Number).String() != "0" {
			if s := data["start_date"].(string); s >= day {
				sid, day = data["account_sid"].(string), s
			}
		}
	}
	if day == "" {
		t.Fatal("the emulator served no long-code SMS")
	}
	// The second read: the revised day, whole, plus a new category.
	add := func(v any, delta string) string {
		a, _ := transforms.ParseDecimal(v.(json.Number).String())
		b, _ := transforms.ParseDecimal(delta)
		return transforms.FormatDecimal(a.Add(b))
	}
	line := func(data map[string]any) string {
		b, err := json.Marshal(map[string]any{"type": "RECORD", "record": map[string]any{"stream": connector.UsageRecords, "data": data, "emitted_at": 1767225600000}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var second []string
	var template map[string]any
	for _, r := range recs {
		if r.data == nil || r.data["account_sid"] != sid || r.data["start_date"] != day {
			continue
		}
		data := r.data
		switch data["category"] {
		case "sms-outbound-longcode":
			data["price"] = json.Number(add(data["price"], "1.25"))
			template = data
		case "sms-outbound", "sms", "totalprice":
			data["price"] = json.Number(add(data["price"], "1.75"))
		}
		second = append(second, line(data))
	}
	novel := map[string]any{}
	for k, v := range template {
		novel[k] = v
	}
	novel["category"], novel["description"], novel["price"] = "sms-outbound-hologram", "A category Twilio never listed", json.Number("0.5")
	second = append(second, line(novel))
	second = append(second,
		`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{"states":[]}}}}`)
	// A subaccount renamed in the second read's accounts.
	var renamed string
	for _, r := range recs {
		if strings.Contains(r.line, `"stream":"accounts"`) && !strings.Contains(r.line, `"is_main":true`) {
			renamed = strings.Replace(r.line, `"display_name":"`, `"display_name":"Renamed `, 1)
			break
		}
	}
	if renamed == "" {
		t.Fatal("no subaccount record in the read")
	}
	second = append(second, renamed,
		`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"accounts"},"stream_state":{}}}}`)

	db := openDB(t, "replay.duckdb")
	input := first.String() + strings.Join(second, "\n") + "\n"
	if _, err := pipeline.Load(ctx, strings.NewReader(input), db, pipeline.Options{MainAccountSID: cfg.AccountSID, MaxRows: 150}); err != nil {
		t.Fatal(err)
	}
	loaded := costRows(t, db)
	renamedRows := 0
	for _, r := range loaded[costmodel.CostDaily] {
		if strings.HasPrefix(r[3], "Renamed ") { // account_name
			renamedRows++
		}
	}
	if renamedRows == 0 {
		t.Error("the renamed subaccount's cost rows kept the old name")
	}
	if err := pipeline.RebuildCosts(ctx, db, pipeline.Options{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(costRows(t, db), loaded); diff != "" {
		t.Errorf("cost tables (-rebuilt +loaded):\n%s", diff)
	}

	one := func(q string) string {
		t.Helper()
		rows, err := db.QueryStrings(ctx, q)
		if err != nil || len(rows) != 1 {
			t.Fatalf("%s: %v %v", q, rows, err)
		}
		return strings.Join(rows[0], " ")
	}
	if n := one(`SELECT COUNT(*) FROM (SELECT account_sid, category, usage_date FROM twilio_usage_daily GROUP BY ALL HAVING COUNT(*) > 1)`); n != "0" {
		t.Errorf("%s usage keys loaded twice", n)
	}
	if n := one(`SELECT COUNT(*) FROM (SELECT account_sid FROM twilio_accounts GROUP BY ALL HAVING COUNT(*) > 1)`); n != "0" {
		t.Errorf("%s accounts loaded twice", n)
	}
	// The revised day adds up to its new totalprice; the new category is
	// a leaf under sms-outbound, by its name.
	where := `account_sid = '` + sid + `' AND usage_date = DATE '` + day + `'`
	if got, want := one(`SELECT SUM(cost) FROM twilio_cost_daily WHERE `+where),
		one(`SELECT price FROM twilio_usage_daily WHERE category = 'totalprice' AND `+where); got != want {
		t.Errorf("revised day: Σ cost %s, totalprice %s", got, want)
	}
	if got := one(`SELECT attribution || ' ' || CAST(cost AS VARCHAR) || ' ' || description FROM twilio_cost_daily WHERE category = 'sms-outbound-hologram' AND ` + where); got != "leaf 0.500000000 A category Twilio never listed" {
		t.Errorf("new category's cost row: %s", got)
	}
	if got := one(`SELECT status FROM twilio_reconciliation WHERE ` + where); got != "ok" {
		t.Errorf("revised day's reconciliation: %s", got)
	}
}

// costRows returns the cost tables' rows (without _loaded_at), sorted.
func costRows(t *testing.T, d *duckdb.Destination) map[string][][]string {
	t.Helper()
	out := map[string][][]string{}
	for _, tb := range costmodel.Tables() {
		var cols []string
		for _, f := range tb.Schema.Fields() {
			if f.Name != transforms.LoadedAtColumn {
				cols = append(cols, f.Name)
			}
		}
		rows, err := d.ReadStrings(context.Background(), tb.Name, cols)
		if err != nil {
			t.Fatal(err)
		}
		out[tb.Name] = rows
	}
	return out
}

// A warehouse an older version loaded — cost in views, no cost tables,
// no cost model version — gets its cost tables built from the loaded
// usage by the next run, without reading Twilio; and a changed category
// taxonomy re-attributes the days with usage in the changed categories.
func TestCostTablesMigrate(t *testing.T) {
	ctx := context.Background()
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 9, Subaccounts: 2, Days: 30, SIMs: 1})
	conn, cfg := newConnector(t, emu)
	db := openDB(t, "migrate.duckdb")
	opts := pipeline.Options{MainAccountSID: cfg.AccountSID}
	if _, err := pipeline.Sync(ctx, conn, db, opts); err != nil {
		t.Fatal(err)
	}
	want := checksums(t, db)
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := db.DB().ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	one := func(q string) string {
		t.Helper()
		rows, err := db.QueryStrings(ctx, q)
		if err != nil || len(rows) != 1 {
			t.Fatalf("%s: %v %v", q, rows, err)
		}
		return rows[0][0]
	}
	load := func() string {
		t.Helper()
		var logs bytes.Buffer
		o := opts
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		var progress []int
		o.RebuildProgress = func(done, total int) { progress = append(progress, done, total) }
		if _, err := pipeline.Load(ctx, strings.NewReader(""), db, o); err != nil {
			t.Fatal(err)
		}
		return logs.String() + fmt.Sprint(progress)
	}

	// The older version's warehouse.
	exec(`DROP VIEW twilio_cost_focus`, `DROP VIEW twilio_cost_doit`,
		`DROP TABLE twilio_cost_daily`, `DROP TABLE twilio_reconciliation`,
		`CREATE VIEW twilio_cost_daily AS SELECT usage_date, account_sid, price AS cost FROM twilio_usage_daily`,
		`CREATE VIEW twilio_reconciliation AS SELECT usage_date, account_sid FROM twilio_usage_daily`,
		`DELETE FROM _twilio_elt_meta`)
	requests := len(emu.Requests())
	logs := load()
	if diff := cmp.Diff(want, checksums(t, db)); diff != "" {
		t.Errorf("tables after the upgrade differ from a sync by this version (-want +got):\n%s", diff)
	}
	if kind := one(`SELECT table_type FROM information_schema.tables WHERE table_name = 'twilio_cost_daily'`); kind != "BASE TABLE" {
		t.Errorf("twilio_cost_daily is a %s after the upgrade", kind)
	}
	if !strings.Contains(logs, "building the cost tables from the loaded usage") || !strings.Contains(logs, "cost tables rebuilt") {
		t.Errorf("the upgrade did not say what it did:\n%s", logs)
	}
	if !strings.HasSuffix(logs, "]") || strings.HasSuffix(logs, "[]") {
		t.Errorf("no progress reported: %s", logs)
	}
	if n := len(emu.Requests()); n != requests {
		t.Errorf("the upgrade made %d Twilio requests", n-requests)
	}

	// Nothing to do: a run commits nothing of the taxonomy.
	loadedAt := one(`SELECT CAST(MAX(_loaded_at) AS VARCHAR) FROM twilio_usage_categories`)
	if logs := load(); strings.Contains(logs, "cost") {
		t.Errorf("a run with nothing to migrate logged: %s", logs)
	}
	if got := one(`SELECT CAST(MAX(_loaded_at) AS VARCHAR) FROM twilio_usage_categories`); got != loadedAt {
		t.Errorf("an idle run rewrote the category table (%s, then %s)", loadedAt, got)
	}

	// The shipped table moved a category: its days are re-attributed
	// (their stale cost rows fixed) and its row rewritten.
	exec(`UPDATE twilio_usage_categories SET parent = 'totalprice' WHERE category = 'sms-outbound-longcode'`,
		`UPDATE twilio_cost_daily SET cost = cost + 1 WHERE source_category = 'sms-outbound-longcode'`)
	if n := one(`SELECT COUNT(*) FROM twilio_cost_daily WHERE source_category = 'sms-outbound-longcode'`); n == "0" {
		t.Fatal("no long-code SMS cost to re-attribute")
	}
	logs = load()
	if diff := cmp.Diff(want, checksums(t, db)); diff != "" {
		t.Errorf("tables after a taxonomy change differ (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs, "the usage category table changed (1 categories)") {
		t.Errorf("the re-attribution did not say what it did:\n%s", logs)
	}
}

// A sync killed half way leaves a raw archive run without its done file:
// its segments hold every record it committed, and a rebuild replays them
// with a WARN, giving the tables the killed sync committed. A run an older
// version left unreadable fails the rebuild, unless skipped.
func TestLoadRawReplaysAKilledRun(t *testing.T) {
	ctx := context.Background()
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 4, Subaccounts: 3, Days: 40, SIMs: 2})
	conn, cfg := newConnector(t, emu)
	synced := openDB(t, "killed.duckdb")
	rawDir := filepath.Join(t.TempDir(), "raw")
	archive := raw.NewWriter(rawDir, "run1")
	kill, cancel := context.WithCancel(ctx)
	defer cancel()
	commits := 0
	opts := pipeline.Options{MainAccountSID: cfg.AccountSID, MaxRows: 200, Archive: archive,
		OnCommitted: func(protocol.State) error {
			if commits++; commits == 6 {
				cancel() // the process dies here
			}
			return nil
		}}
	if _, err := pipeline.Sync(kill, conn, synced, opts); err == nil {
		t.Fatal("the killed sync succeeded")
	}
	// No archive.Close: a killed process closes nothing.
	info, err := raw.Inspect(rawDir, "run1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Finished || info.Records == 0 {
		t.Fatalf("the killed run: %+v, want unfinished with records", info)
	}
	killed := checksums(t, synced)

	rebuilt := openDB(t, "rebuilt.duckdb")
	var logs bytes.Buffer
	if _, err := pipeline.LoadRaw(ctx, rawDir, rebuilt, pipeline.Options{MainAccountSID: cfg.AccountSID, Log: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(killed, checksums(t, rebuilt)); diff != "" {
		t.Errorf("rebuild from the killed run's archive differs from what it committed (-committed +rebuilt):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "did not finish") || !strings.Contains(logs.String(), fmt.Sprint(info.Records)) {
		t.Errorf("the rebuild did not say the run was unfinished and what it holds:\n%s", logs.String())
	}

	// An older version's killed run: a .parquet.partial no reader opens.
	if err := os.MkdirAll(filepath.Join(rawDir, "run0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rawDir, "run0", "usage_records.parquet.partial"), []byte("PAR1 cut short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.LoadRaw(ctx, rawDir, openDB(t, "strict.duckdb"), pipeline.Options{MainAccountSID: cfg.AccountSID}); err == nil ||
		!strings.Contains(err.Error(), "run0") || !strings.Contains(err.Error(), "--skip-unreadable") {
		t.Errorf("rebuild over an unreadable run: %v, want an error naming it and the way out", err)
	}
	skipped := openDB(t, "skipped.duckdb")
	if _, err := pipeline.LoadRaw(ctx, rawDir, skipped, pipeline.Options{MainAccountSID: cfg.AccountSID, SkipUnreadableRuns: true}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(killed, checksums(t, skipped)); diff != "" {
		t.Errorf("rebuild skipping the unreadable run (-committed +rebuilt):\n%s", diff)
	}
}

// A user drops twilio_usage_daily: the next sync, seeing the table empty
// though the state says every account was read, reads from start_date
// again (with a WARN) instead of the lookback only.
func TestSyncAfterTheTableWasDroppedReadsFromStartDate(t *testing.T) {
	ctx := context.Background()
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 6, Subaccounts: 1, Days: 30, SIMs: 1})
	conn, cfg := newConnector(t, emu)
	db := openDB(t, "dropped.duckdb")
	opts := pipeline.Options{MainAccountSID: cfg.AccountSID}
	if _, err := pipeline.Sync(ctx, conn, db, opts); err != nil {
		t.Fatal(err)
	}
	full := checksums(t, db)
	if _, err := db.DB().ExecContext(ctx, `DROP TABLE twilio_usage_daily`); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := pipeline.Sync(ctx, conn, db, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(full, checksums(t, db)); diff != "" {
		t.Errorf("the sync after the drop did not restore the tables (-before +after):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "reading it from start_date again") {
		t.Errorf("no WARN:\n%s", logs.String())
	}
}
