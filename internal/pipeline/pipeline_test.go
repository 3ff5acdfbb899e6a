package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/transforms"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// recorder is an in-memory DuckDB warehouse that records the batches
// committed to it after the setup's, and can fail its commits.
type recorder struct {
	*duckdb.Destination
	batches []batchSummary
	fail    error
}

// batchSummary is one batch: its replace groups and rows per table, the
// cost model's apart (CostDays: the account-days whose cost it replaced),
// and its states.
type batchSummary struct {
	Replace  []string
	Rows     map[string]int64
	CostDays []string
	States   []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	d, err := duckdb.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &recorder{Destination: d}
}

func (f *recorder) Commit(ctx context.Context, b warehouse.Batch) error {
	if f.fail != nil {
		return f.fail
	}
	if err := f.Destination.Commit(ctx, b); err != nil {
		return err
	}
	if b.Meta != nil || (len(b.Replace) > 0 && len(b.Replace[0].Values) == 0 && b.Replace[0].Table == costmodel.CostDaily) {
		return nil // the setup's
	}
	s := batchSummary{Rows: map[string]int64{}}
	for _, g := range b.Replace {
		var vals []string
		for _, v := range g.Values {
			if tm, ok := v.(time.Time); ok {
				v = tm.Format(time.DateOnly)
			}
			vals = append(vals, fmt.Sprint(v))
		}
		switch g.Table {
		case costmodel.CostDaily:
			s.CostDays = append(s.CostDays, strings.Join(vals, ","))
		case costmodel.Reconciliation:
		default:
			s.Replace = append(s.Replace, g.Table+"("+strings.Join(vals, ",")+")")
		}
	}
	for name, r := range b.Rows {
		if name != costmodel.CostDaily && name != costmodel.Reconciliation {
			s.Rows[name] = r.NumRows()
		}
	}
	for stream := range b.States {
		s.States = append(s.States, stream)
	}
	f.batches = append(f.batches, s)
	return nil
}

// costTables returns the cost tables' rows (without _loaded_at).
func costTables(t *testing.T, d *duckdb.Destination) map[string][][]string {
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

const acA = "AC00000000000000000000000000000001"

func usage(day, category, price string) string {
	return fmt.Sprintf(`{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":"%s","category":"%s","start_date":"%s","count":1,"usage":1,"price":%s,"price_unit":"USD"},"emitted_at":1767225600000}}`,
		acA, category, day, price)
}

func stateMsg(stream, cursor string) string {
	return fmt.Sprintf(`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"%s"},"stream_state":{"cursor":"%s"}},"sourceStats":{"recordCount":1.0}}}`, stream, cursor)
}

func TestGroupsAreReplacedOnFirstSightOnly(t *testing.T) {
	input := strings.Join([]string{
		`{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":1,"stream_status":{"stream_descriptor":{"name":"usage_records"},"status":"STARTED"}}}`,
		usage("2026-01-01", "sms", "1"),
		usage("2026-01-01", "calls", "2"), // the bound cuts here: (A, 01-01) straddles
		usage("2026-01-01", "mms", "3"),
		usage("2026-01-02", "sms", "4"),
		stateMsg("usage_records", "c1"),
		usage("2026-01-02", "calls", "5"), // a group seen in an earlier batch
		strings.NewReplacer(`"count":1,"usage":1`, `"count":0,"usage":0`).Replace(usage("2026-01-03", "sms", "0")), // a zero row: dropped, its group still replaced
		stateMsg("usage_records", "c2"),
		stateMsg("sims", "{}"), // a full-refresh stream with no records
	}, "\n")
	dest := newRecorder(t)
	var echoed []string
	_, err := Load(context.Background(), strings.NewReader(input), dest, Options{
		MaxRows: 2,
		OnCommitted: func(s protocol.State) error {
			echoed = append(echoed, fmt.Sprintf("%s after %d commits", s.Data, len(dest.batches)))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	day1, day2, day3 := acA+",2026-01-01", acA+",2026-01-02", acA+",2026-01-03"
	want := []batchSummary{
		// 2 × MaxRows rows end a batch anywhere: (A, 01-02) straddles.
		{Replace: []string{"twilio_usage_daily(" + day1 + ")", "twilio_usage_daily(" + day2 + ")"}, Rows: map[string]int64{"twilio_usage_daily": 4}, CostDays: []string{day1, day2}},
		{States: []string{"usage_records"}, Rows: map[string]int64{}},
		// The straddling day is replaced again, whole: the row the first
		// batch committed is carried, and its cost recomputed from both.
		{Replace: []string{"twilio_usage_daily(" + day2 + ")", "twilio_usage_daily(" + day3 + ")"}, Rows: map[string]int64{"twilio_usage_daily": 2}, CostDays: []string{day2, day3}, States: []string{"usage_records"}},
		{Replace: []string{"twilio_sims()"}, Rows: map[string]int64{}, States: []string{"sims"}},
	}
	if diff := cmp.Diff(want, dest.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	// The setup wrote the shipped taxonomy, apart from the data.
	for table, want := range map[string]int{
		transforms.UsageCategories: len(transforms.Categories()),
		transforms.CategoryAncestors: func() (n int) {
			for _, c := range transforms.Categories() {
				n += len(transforms.Ancestors(c))
			}
			return n
		}(),
	} {
		rows, err := dest.QueryStrings(context.Background(), "SELECT COUNT(*) FROM "+table)
		if err != nil || rows[0][0] != fmt.Sprint(want) {
			t.Errorf("%s holds %v rows (%v), want %d", table, rows, err, want)
		}
	}
	wantEchoed := []string{`{"cursor":"c1"} after 2 commits`, `{"cursor":"c2"} after 3 commits`, `{"cursor":"{}"} after 4 commits`}
	if diff := cmp.Diff(wantEchoed, echoed); diff != "" {
		t.Errorf("states echoed (-want +got):\n%s", diff)
	}
	// The cost tables equal a rebuild from the loaded usage: the day
	// loaded in two batches was attributed from all its rows.
	loaded := costTables(t, dest.Destination)
	if len(loaded[costmodel.CostDaily]) == 0 {
		t.Fatal("no cost rows")
	}
	if err := RebuildCosts(context.Background(), dest.Destination, Options{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(costTables(t, dest.Destination), loaded); diff != "" {
		t.Errorf("cost tables (-rebuilt +loaded):\n%s", diff)
	}
}

// A record that cannot be stored fails its stream: nothing of the
// stream's pending batch is committed, its state does not move, and the
// load fails naming the stream, the record's key and the field; the other
// streams load.
func TestMalformedRecordFailsItsStreamOnly(t *testing.T) {
	input := strings.Join([]string{
		usage("2026-01-01", "sms", "1"),
		usage("2026-01-01", "calls", `"12,50"`),
		usage("2026-01-02", "sms", "3"),
		stateMsg("usage_records", "c1"),
		`{"type":"RECORD","record":{"stream":"accounts","data":{"sid":"` + acA + `","friendly_name":"A","is_main":true},"emitted_at":1}}`,
		stateMsg("accounts", "{}"),
	}, "\n")
	dest := newRecorder(t)
	var echoed []string
	_, err := Load(context.Background(), strings.NewReader(input), dest, Options{
		OnCommitted: func(s protocol.State) error { echoed = append(echoed, s.Stream); return nil },
	})
	if err == nil {
		t.Fatal("Load of a malformed record succeeded")
	}
	for _, m := range []string{"usage_records", "account_sid=" + acA, "category=calls", "start_date=2026-01-01", "price"} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	if diff := cmp.Diff([]string{"accounts"}, echoed); diff != "" {
		t.Errorf("states echoed (-want +got):\n%s", diff)
	}
	for table, want := range map[string]string{"twilio_usage_daily": "0", "twilio_accounts": "1", "twilio_cost_daily": "0"} {
		rows, err := dest.QueryStrings(context.Background(), "SELECT COUNT(*) FROM "+table)
		if err != nil || rows[0][0] != want {
			t.Errorf("%s holds %v rows (%v), want %s", table, rows, err, want)
		}
	}
	if states, _ := dest.States(context.Background(), ""); states["usage_records"] != nil {
		t.Errorf("the failed stream's state was stored: %s", states["usage_records"])
	}
}

func TestFailedCommitEchoesNoState(t *testing.T) {
	input := usage("2026-01-01", "sms", "1") + "\n" + stateMsg("usage_records", "c1") + "\n"
	var echoed int
	failing := newRecorder(t)
	failing.fail = fmt.Errorf("disk full")
	_, err := Load(context.Background(), strings.NewReader(input), failing, Options{
		OnCommitted: func(protocol.State) error { echoed++; return nil },
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Load error = %v, want the commit's", err)
	}
	if echoed != 0 {
		t.Errorf("%d states echoed although the commit failed", echoed)
	}
}

func TestSourceErrorFailsTheLoadAfterCommitting(t *testing.T) {
	input := strings.Join([]string{
		usage("2026-01-01", "sms", "1"),
		stateMsg("usage_records", "c1"),
		`{"type":"TRACE","trace":{"type":"ERROR","emitted_at":1,"error":{"message":"Twilio did not answer","failure_type":"transient_error"}}}`,
	}, "\n")
	dest := newRecorder(t)
	_, err := Load(context.Background(), strings.NewReader(input), dest, Options{})
	if err == nil || !strings.Contains(err.Error(), "Twilio did not answer") {
		t.Fatalf("Load error = %v, want the source's", err)
	}
	if len(dest.batches) != 1 {
		t.Errorf("%d batches committed, want the one before the error", len(dest.batches))
	}
}

func TestNotAnAirbyteMessage(t *testing.T) {
	_, err := Load(context.Background(), bytes.NewReader([]byte("{\"type\":\"RECORD\"}\nnot json\n")), newRecorder(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("Load error = %v, want one naming line 1", err)
	}
}

// A record of a stream no table takes fails the load, naming the stream.
func TestRecordOfAnUnknownStream(t *testing.T) {
	in := `{"type":"RECORD","record":{"stream":"calls","data":{},"emitted_at":1}}` + "\n"
	_, err := Load(context.Background(), strings.NewReader(in), newRecorder(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "calls") || !strings.Contains(err.Error(), "no warehouse table") {
		t.Fatalf("Load error = %v, want one naming the stream", err)
	}
}

func TestTrackerDays(t *testing.T) {
	tr := newTracker()
	k := func(day int32) transforms.GroupKey {
		return transforms.GroupKey{Stream: "usage_records", SID: acA, Day: arrowDay(day)}
	}
	var got []bool
	for _, d := range []int32{100, 100, 37, 500, 37, -3, -3, 100, 101, -64, -65} {
		got = append(got, tr.firstSight(k(d)))
	}
	want := []bool{true, false, true, true, false, true, false, false, true, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("firstSight (-want +got):\n%s", diff)
	}
}

// TestSubaccountOnItsOwnKeyIsBilledToItsKnownParent loads the messages
// of a parent's connection, then those of its subaccount connected with
// its own Standard key (Twilio does not describe the account to such a
// key: its accounts record has no owner): the subaccount keeps its
// parent as billing account, and its usage is stored once.
func TestSubaccountOnItsOwnKeyIsBilledToItsKnownParent(t *testing.T) {
	const parent, sub = "AC00000000000000000000000000000010", "AC00000000000000000000000000000011"
	account := func(sid, owner string, isMain bool) string {
		o := "null"
		if owner != "" {
			o = `"` + owner + `"`
		}
		return fmt.Sprintf(`{"type":"RECORD","record":{"stream":"accounts","data":{"sid":"%s","owner_account_sid":%s,"is_main":%t},"emitted_at":1767225600000}}`, sid, o, isMain)
	}
	subUsage := strings.ReplaceAll(usage("2026-01-01", "totalprice", "3"), acA, sub)
	parentConn := strings.Join([]string{account(parent, parent, true), account(sub, parent, false), stateMsg("accounts", "x"), subUsage, stateMsg("usage_records", "c1")}, "\n")
	subConn := strings.Join([]string{account(sub, "", true), stateMsg("accounts", "x"), subUsage, stateMsg("usage_records", "c1")}, "\n")

	ctx := context.Background()
	d, err := duckdb.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, in := range []string{parentConn, subConn} {
		if _, err := Load(ctx, strings.NewReader(in), d, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(table string, cols ...string) [][]string {
		t.Helper()
		rows, err := d.ReadStrings(ctx, table, cols)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	if diff := cmp.Diff([][]string{{parent, "NULL", "true", parent}, {sub, parent, "false", sub}},
		read("twilio_accounts", "account_sid", "parent_account_sid", "is_main", "main_account_sid")); diff != "" {
		t.Errorf("twilio_accounts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{sub, parent, "3.000000000"}}, read(transforms.UsageDaily, "account_sid", "billing_account_sid", "price")); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{sub, parent}}, read(costmodel.Reconciliation, "account_sid", "billing_account_sid")); diff != "" {
		t.Errorf("reconciliation (-want +got):\n%s", diff)
	}
}
