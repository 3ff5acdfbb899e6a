// Package conformance is the test suite every warehouse.Destination
// passes: create, load, re-load, views created idempotently, revised and zero-revised groups, a group
// straddling two batches of one run, whole-table replacement, a failed
// commit that leaves nothing behind, exact values, state and meta round
// trips, updates, streamed queries, literals, and an older version's view
// replaced by a table.
//
// A destination's tests call Run with a constructor of fresh, empty
// destinations:
//
//	conformance.Run(t, func(t *testing.T) conformance.Destination { return newTestDestination(t) })
package conformance

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// Destination is a warehouse.Destination the suite can read back.
type Destination interface {
	warehouse.Destination
	costmodel.Scanner
	// ReadStrings returns the values of cols in every row of table, each
	// as the destination's text cast of it (CAST(x AS STRING/VARCHAR)),
	// NULL as "NULL", in any order. The suite uses STRING, DATE
	// (YYYY-MM-DD), DECIMAL (trailing zeros do not matter) and TIMESTAMP
	// columns (as "2006-01-02 15:04:05[.ffffff]+00").
	ReadStrings(ctx context.Context, table string, cols []string) ([][]string, error)
}

// The suite's own tables: the shapes of the real ones, small.
const (
	usageTable    = "conformance_usage"
	accountsTable = "conformance_accounts"
)

var (
	usage = warehouse.Table{
		Name: usageTable,
		Schema: arrow.NewSchema([]arrow.Field{
			{Name: "usage_date", Type: transforms.Date},
			{Name: "account_sid", Type: transforms.String},
			{Name: "category", Type: transforms.String},
			{Name: "price", Type: transforms.Decimal, Nullable: true},
			{Name: "as_of", Type: transforms.Timestamp, Nullable: true},
			{Name: "_loaded_at", Type: transforms.Timestamp},
		}, nil),
		Key:         []string{"account_sid", "category", "usage_date"},
		Group:       []string{"account_sid", "usage_date"},
		PartitionBy: "usage_date",
		ClusterBy:   []string{"account_sid", "category"},
	}
	accounts = warehouse.Table{
		Name: accountsTable,
		Schema: arrow.NewSchema([]arrow.Field{
			{Name: "account_sid", Type: transforms.String},
			{Name: "name", Type: transforms.String, Nullable: true},
			{Name: "_loaded_at", Type: transforms.Timestamp},
		}, nil),
		Key: []string{"account_sid"},
	}
	usageCols    = []string{"account_sid", "usage_date", "category", "price", "as_of"}
	accountsCols = []string{"account_sid", "name"}
)

// row is a usage row: account, date, category, price ("" for NULL) and
// as_of ("" for NULL, else RFC 3339).
type row struct{ account, date, category, price, asOf string }

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func group(account, date string) warehouse.Group {
	return warehouse.Group{Table: usageTable, Values: []any{account, day(date)}}
}

func usageBatch(t *testing.T, rows ...row) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, usage.Schema)
	defer b.Release()
	loaded := arrow.Timestamp(time.Now().UnixMicro())
	for _, r := range rows {
		b.Field(0).(*array.Date32Builder).Append(arrow.Date32FromTime(day(r.date)))
		b.Field(1).(*array.StringBuilder).Append(r.account)
		b.Field(2).(*array.StringBuilder).Append(r.category)
		if r.price == "" {
			b.Field(3).AppendNull()
		} else {
			d, err := transforms.ParseDecimal(r.price)
			if err != nil {
				t.Fatalf("price %s: %v", r.price, err)
			}
			b.Field(3).(*array.Decimal128Builder).Append(d)
		}
		if r.asOf == "" {
			b.Field(4).AppendNull()
		} else {
			at, err := time.Parse(time.RFC3339Nano, r.asOf)
			if err != nil {
				t.Fatal(err)
			}
			b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixMicro()))
		}
		b.Field(5).(*array.TimestampBuilder).Append(loaded)
	}
	rec := b.NewRecordBatch()
	t.Cleanup(rec.Release)
	return rec
}

// accountsBatch builds rows of (account_sid, name); an empty name is
// NULL.
func accountsBatch(t *testing.T, rows ...[2]string) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, accounts.Schema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.StringBuilder).Append(r[0])
		if r[1] == "" {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(r[1])
		}
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Now().UnixMicro()))
	}
	rec := b.NewRecordBatch()
	t.Cleanup(rec.Release)
	return rec
}

// want renders rows the way readUsage normalizes what the destination
// returns.
func want(rows ...row) [][]string {
	var out [][]string
	for _, r := range rows {
		price, asOf := "NULL", "NULL"
		if r.price != "" {
			d, _ := transforms.ParseDecimal(r.price)
			price = transforms.FormatDecimal(d)
		}
		if r.asOf != "" {
			at, _ := time.Parse(time.RFC3339Nano, r.asOf)
			asOf = at.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
		}
		out = append(out, []string{r.account, r.date, r.category, price, asOf})
	}
	sortRows(out)
	return out
}

func sortRows(rows [][]string) {
	less := func(a, b []string) int { return strings.Compare(strings.Join(a, "\x00"), strings.Join(b, "\x00")) }
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && less(rows[j-1], rows[j]) > 0; j-- {
			rows[j-1], rows[j] = rows[j], rows[j-1]
		}
	}
}

// normDecimal strips trailing fractional zeros: 1.500000000 → 1.5.
func normDecimal(s string) string {
	if s == "NULL" {
		return s
	}
	d, err := transforms.ParseDecimal(s)
	if err != nil {
		return s
	}
	return transforms.FormatDecimal(d)
}

// normTimestamp accepts "2006-01-02 15:04:05[.ffffff]+00[:00]" or a "T"
// separator or a "Z"/"UTC" suffix and renders it in one form.
func normTimestamp(s string) string {
	if s == "NULL" {
		return s
	}
	x := strings.Replace(s, "T", " ", 1)
	x = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(x, " UTC"), "Z"), "+00:00"), "+00")
	at, err := time.Parse("2006-01-02 15:04:05.999999999", x)
	if err != nil {
		return s
	}
	return at.Format("2006-01-02 15:04:05.999999") + "+00"
}

func readUsage(t *testing.T, d Destination) [][]string {
	t.Helper()
	rows, err := d.ReadStrings(context.Background(), usageTable, usageCols)
	if err != nil {
		t.Fatalf("read %s: %v", usageTable, err)
	}
	for _, r := range rows {
		r[3] = normDecimal(r[3])
		r[4] = normTimestamp(r[4])
	}
	sortRows(rows)
	return rows
}

func readAccounts(t *testing.T, d Destination) [][]string {
	t.Helper()
	rows, err := d.ReadStrings(context.Background(), accountsTable, accountsCols)
	if err != nil {
		t.Fatalf("read %s: %v", accountsTable, err)
	}
	sortRows(rows)
	return rows
}

func states(t *testing.T, d Destination) map[string]string {
	t.Helper()
	return statesOf(t, d, "")
}

func statesOf(t *testing.T, d Destination, account string) map[string]string {
	t.Helper()
	st, err := d.States(context.Background(), account)
	if err != nil {
		t.Fatalf("States: %v", err)
	}
	out := map[string]string{}
	for k, v := range st {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			t.Fatalf("state of %s is not JSON: %v: %s", k, err, v)
		}
		b, _ := json.Marshal(x) // compact and key-sorted
		out[k] = string(b)
	}
	return out
}

func setup(t *testing.T, newDest func(t *testing.T) Destination) Destination {
	t.Helper()
	d := newDest(t)
	if err := d.Setup(context.Background(), []warehouse.Table{usage, accounts}); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return d
}

func commit(t *testing.T, d Destination, b warehouse.Batch) {
	t.Helper()
	if err := d.Commit(context.Background(), b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

const (
	acA = "AC00000000000000000000000000000001"
	acB = "AC00000000000000000000000000000002"
)

var firstLoad = []row{
	{acA, "2026-01-01", "sms", "-0.00750", "2026-01-02T03:04:05Z"},
	{acA, "2026-01-01", "calls", "1.5", ""},
	{acA, "2026-01-02", "sms", "12345678901234567890.123456789", "2026-01-03T00:00:00.123456Z"},
	{acB, "2026-01-01", "sms", "", ""},
}

func firstBatch(t *testing.T) warehouse.Batch {
	return warehouse.Batch{
		Replace: []warehouse.Group{group(acA, "2026-01-01"), group(acA, "2026-01-02"), group(acB, "2026-01-01")},
		Rows:    map[string]arrow.RecordBatch{usageTable: usageBatch(t, firstLoad...)},
		States:  map[string]json.RawMessage{"usage_records": json.RawMessage(`{"states":[{"partition":{"account_sid":"AC1"},"cursor":{"start_date":"2026-01-02"}}]}`)},
	}
}

// Skip names a subtest that a destination's test environment cannot run,
// and why (an emulator's known gap): it is reported as skipped.
type Skip struct{ Test, Why string }

// Run runs the suite; newDest returns a fresh, empty destination and
// arranges its cleanup.
func Run(t *testing.T, newDest func(t *testing.T) Destination, skip ...Skip) {
	runAccounts(t, newDest, skip)
	t.Run("SetupIsIdempotent", func(t *testing.T) {
		d := setup(t, newDest)
		if err := d.Setup(context.Background(), []warehouse.Table{usage, accounts}); err != nil {
			t.Fatalf("second Setup: %v", err)
		}
		if got := readUsage(t, d); len(got) != 0 {
			t.Errorf("new table has rows: %v", got)
		}
		if got := states(t, d); len(got) != 0 {
			t.Errorf("new destination has states: %v", got)
		}
	})

	t.Run("CreatesTheProductTables", func(t *testing.T) {
		d := newDest(t)
		all := append(transforms.Tables(), costmodel.Tables()...)
		if err := d.Setup(context.Background(), all); err != nil {
			t.Fatalf("Setup of the product tables: %v", err)
		}
		if err := d.Setup(context.Background(), all); err != nil {
			t.Fatalf("second Setup of the product tables: %v", err)
		}
		for _, tb := range all {
			var cols []string
			for _, f := range tb.Schema.Fields() {
				cols = append(cols, f.Name)
			}
			if rows, err := d.ReadStrings(context.Background(), tb.Name, cols); err != nil || len(rows) != 0 {
				t.Errorf("read new table %s: %d rows, %v", tb.Name, len(rows), err)
			}
		}
	})

	t.Run("ViewsAreCreatedOnce", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		ctx := context.Background()
		views := []warehouse.View{{Name: "conformance_view", Query: `SELECT account_sid, COUNT(*) AS n FROM {{table "` + usageTable + `"}} GROUP BY account_sid`}}
		for i := range 2 {
			if err := d.CreateViews(ctx, views); err != nil {
				t.Fatalf("CreateViews %d: %v", i+1, err)
			}
		}
		got, err := d.ReadStrings(ctx, "conformance_view", []string{"account_sid", "n"})
		if err != nil {
			t.Fatal(err)
		}
		sortRows(got)
		counts := map[string]int{}
		for _, r := range firstLoad {
			counts[r.account]++
		}
		want := [][]string{{acA, strconv.Itoa(counts[acA])}, {acB, strconv.Itoa(counts[acB])}}
		if !cmp.Equal(got, want) {
			t.Errorf("view: %v, want %v", got, want)
		}
	})

	t.Run("LoadsExactValues", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		if diff := cmp.Diff(want(firstLoad...), readUsage(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		wantStates := map[string]string{"usage_records": `{"states":[{"cursor":{"start_date":"2026-01-02"},"partition":{"account_sid":"AC1"}}]}`}
		if diff := cmp.Diff(wantStates, states(t, d)); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
	})

	t.Run("ReloadingTheSameBatchAddsNothing", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		commit(t, d, firstBatch(t)) // a second run replaying the same messages
		if diff := cmp.Diff(want(firstLoad...), readUsage(t, d)); diff != "" {
			t.Errorf("rows after reload (-want +got):\n%s", diff)
		}
	})

	t.Run("RevisedGroupReplacesItsRowsOnly", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		// A later run re-reads (A, 2026-01-01): sms revised, calls gone.
		revised := row{acA, "2026-01-01", "sms", "-0.0100", "2026-01-05T00:00:00Z"}
		commit(t, d, warehouse.Batch{
			Replace: []warehouse.Group{group(acA, "2026-01-01")},
			Rows:    map[string]arrow.RecordBatch{usageTable: usageBatch(t, revised)},
		})
		if diff := cmp.Diff(want(revised, firstLoad[2], firstLoad[3]), readUsage(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	t.Run("GroupRevisedToNothingLosesItsRows", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		commit(t, d, warehouse.Batch{Replace: []warehouse.Group{group(acA, "2026-01-02"), group(acB, "2026-01-01")}})
		if diff := cmp.Diff(want(firstLoad[0], firstLoad[1]), readUsage(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	t.Run("GroupStraddlingTwoBatchesKeepsTheFirstBatchRows", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		// One run: the group (A, 2026-01-01) starts in one batch and ends
		// in the next, which must only insert.
		first := row{acA, "2026-01-01", "calls", "2", ""}
		second := row{acA, "2026-01-01", "sms", "3", ""}
		commit(t, d, warehouse.Batch{
			Replace: []warehouse.Group{group(acA, "2026-01-01")},
			Rows:    map[string]arrow.RecordBatch{usageTable: usageBatch(t, first)},
		})
		commit(t, d, warehouse.Batch{
			Rows: map[string]arrow.RecordBatch{usageTable: usageBatch(t, second)},
		})
		if diff := cmp.Diff(want(first, second, firstLoad[2], firstLoad[3]), readUsage(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	t.Run("WholeTableGroupReplacesTheTable", func(t *testing.T) {
		d := setup(t, newDest)
		whole := []warehouse.Group{{Table: accountsTable}}
		commit(t, d, warehouse.Batch{Replace: whole, Rows: map[string]arrow.RecordBatch{
			accountsTable: accountsBatch(t, [2]string{acA, "main"}, [2]string{acB, "sub"}),
		}})
		commit(t, d, warehouse.Batch{Replace: whole, Rows: map[string]arrow.RecordBatch{
			accountsTable: accountsBatch(t, [2]string{acA, "main renamed"}),
		}})
		commit(t, d, warehouse.Batch{Rows: map[string]arrow.RecordBatch{
			accountsTable: accountsBatch(t, [2]string{acB, "second batch of the same run"}),
		}})
		wantRows := [][]string{{acA, "main renamed"}, {acB, "second batch of the same run"}}
		if diff := cmp.Diff(wantRows, readAccounts(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	t.Run("FailedCommitLeavesNothing", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		beforeRows, beforeStates := readUsage(t, d), states(t, d)

		// A batch whose insert fails after its deletes: its usage rows
		// lack a column of the table.
		bad := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(usage.Schema.Fields()[:3], nil))
		defer bad.Release()
		bad.Field(0).(*array.Date32Builder).Append(arrow.Date32FromTime(day("2026-01-01")))
		bad.Field(1).(*array.StringBuilder).Append(acA)
		bad.Field(2).(*array.StringBuilder).Append("sms")
		badRec := bad.NewRecordBatch()
		defer badRec.Release()
		err := d.Commit(context.Background(), warehouse.Batch{
			Replace: []warehouse.Group{group(acA, "2026-01-01"), group(acB, "2026-01-01"), {Table: accountsTable}},
			Rows: map[string]arrow.RecordBatch{
				accountsTable: accountsBatch(t, [2]string{acA, "x"}),
				usageTable:    badRec,
			},
			States: map[string]json.RawMessage{"usage_records": json.RawMessage(`{"states":[]}`), "accounts": json.RawMessage(`{}`)},
		})
		if err == nil {
			t.Fatal("Commit of a batch whose insert cannot succeed returned no error")
		}
		if diff := cmp.Diff(beforeRows, readUsage(t, d)); diff != "" {
			t.Errorf("rows changed by a failed commit (-before +after):\n%s", diff)
		}
		if got := readAccounts(t, d); len(got) != 0 {
			t.Errorf("accounts inserted by a failed commit: %v", got)
		}
		if diff := cmp.Diff(beforeStates, states(t, d)); diff != "" {
			t.Errorf("states changed by a failed commit (-before +after):\n%s", diff)
		}
	})

	t.Run("CancelledCommitLeavesNothing", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		beforeRows, beforeStates := readUsage(t, d), states(t, d)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := d.Commit(ctx, warehouse.Batch{
			Replace: []warehouse.Group{group(acA, "2026-01-01")},
			Rows:    map[string]arrow.RecordBatch{usageTable: usageBatch(t, row{acA, "2026-01-01", "sms", "9", ""})},
			States:  map[string]json.RawMessage{"usage_records": json.RawMessage(`{"states":[]}`)},
		})
		if err == nil {
			t.Fatal("Commit with a cancelled context returned no error")
		}
		if diff := cmp.Diff(beforeRows, readUsage(t, d)); diff != "" {
			t.Errorf("rows changed by a cancelled commit (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(beforeStates, states(t, d)); diff != "" {
			t.Errorf("states changed by a cancelled commit (-before +after):\n%s", diff)
		}
	})

	t.Run("StatesRoundTrip", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, warehouse.Batch{States: map[string]json.RawMessage{
			"accounts":      json.RawMessage(`{}`),
			"usage_records": json.RawMessage(`{"states":[{"partition":{"account_sid":"AC1"},"cursor":{"start_date":"2026-01-01"}}]}`),
		}})
		commit(t, d, warehouse.Batch{States: map[string]json.RawMessage{
			"usage_records": json.RawMessage(`{"states":[{"partition":{"account_sid":"AC1"},"cursor":{"start_date":"2026-01-09"}}], "note": "it's \"quoted\" ünïcode"}`),
		}})
		wantStates := map[string]string{
			"accounts":      `{}`,
			"usage_records": `{"note":"it's \"quoted\" ünïcode","states":[{"cursor":{"start_date":"2026-01-09"},"partition":{"account_sid":"AC1"}}]}`,
		}
		if diff := cmp.Diff(wantStates, states(t, d)); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
	})

	t.Run("UpdatesAndMetaCommitWithTheRows", func(t *testing.T) {
		d := setup(t, newDest)
		ctx := context.Background()
		commit(t, d, warehouse.Batch{
			Replace: []warehouse.Group{{Table: accountsTable}},
			Rows:    map[string]arrow.RecordBatch{accountsTable: accountsBatch(t, [2]string{acA, "old"}, [2]string{acB, "b"})},
			Meta:    map[string]string{"version": "1", "other": "it's \"x\""},
		})
		commit(t, d, warehouse.Batch{
			Updates: []warehouse.Update{{Table: accountsTable, Set: "name", Value: "new ü", Where: "account_sid", Match: acA}},
			Meta:    map[string]string{"version": "2"},
		})
		if diff := cmp.Diff([][]string{{acA, "new ü"}, {acB, "b"}}, readAccounts(t, d)); diff != "" {
			t.Errorf("accounts after the update (-want +got):\n%s", diff)
		}
		meta, err := d.Meta(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"version": "2", "other": `it's "x"`}, meta); diff != "" {
			t.Errorf("meta (-want +got):\n%s", diff)
		}
		// A failed commit applies neither its updates nor its meta.
		bad := warehouse.Batch{
			Updates: []warehouse.Update{{Table: accountsTable, Set: "name", Value: "never", Where: "account_sid", Match: acB}},
			Meta:    map[string]string{"version": "3"},
			Rows:    map[string]arrow.RecordBatch{"no_such_table": accountsBatch(t, [2]string{acA, "x"})},
		}
		if err := d.Commit(ctx, bad); err == nil {
			t.Fatal("a commit to an unknown table succeeded")
		}
		if meta, _ := d.Meta(ctx); meta["version"] != "2" {
			t.Errorf("meta after a failed commit: %v", meta)
		}
		if got := readAccounts(t, d); got[1][1] != "b" {
			t.Errorf("accounts after a failed commit: %v", got)
		}
	})

	t.Run("QueryEachStreamsTextAndNulls", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		q, err := d.Dialect().Render(`SELECT account_sid, CAST(price AS {{string}}) FROM {{table "` + usageTable + `"}} WHERE category = 'sms' ORDER BY usage_date, account_sid`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		err = d.QueryEach(context.Background(), q, func(row []sql.NullString) error {
			price := "NULL"
			if row[1].Valid {
				price = normDecimal(row[1].String)
			}
			got = append(got, row[0].String+" "+price)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{acA + " -0.0075", acB + " NULL", acA + " 12345678901234567890.123456789"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("QueryEach rows (-want +got):\n%s", diff)
		}
	})

	t.Run("LiteralQuotesAnything", func(t *testing.T) {
		d := setup(t, newDest)
		for _, s := range []string{"plain", "it's", `back\slash`, "new\nline\ttab", `'); DROP TABLE x; --`, "ünïcode 🙂", ""} {
			var got []string
			err := d.QueryEach(context.Background(), "SELECT "+d.Dialect().Literal(s), func(row []sql.NullString) error {
				got = append(got, row[0].String)
				return nil
			})
			if err != nil {
				t.Errorf("literal of %q: %v", s, err)
				continue
			}
			if len(got) != 1 || got[0] != s {
				t.Errorf("literal of %q reads back as %q", s, got)
			}
		}
	})

	t.Run("OlderVersionsViewIsReplacedByATable", func(t *testing.T) {
		d := setup(t, newDest)
		ctx := context.Background()
		commit(t, d, firstBatch(t))
		if err := d.CreateViews(ctx, []warehouse.View{{Name: "conformance_costs", Query: `SELECT account_sid FROM {{table "` + usageTable + `"}}`}}); err != nil {
			t.Fatal(err)
		}
		costs := accounts
		costs.Name = "conformance_costs"
		if err := d.Setup(ctx, []warehouse.Table{usage, accounts, costs}); err != nil {
			t.Fatalf("Setup over a view of the table's name: %v", err)
		}
		commit(t, d, warehouse.Batch{Rows: map[string]arrow.RecordBatch{"conformance_costs": accountsBatch(t, [2]string{acA, "x"})}})
		got, err := d.ReadStrings(ctx, "conformance_costs", accountsCols)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([][]string{{acA, "x"}}, got); diff != "" {
			t.Errorf("the table that replaced the view (-want +got):\n%s", diff)
		}
	})
}

// runAccounts is the part of the suite about a warehouse that holds many
// main accounts: groups over columns of their own, NULL group values,
// deletes, states per account with legacy states adopted, and columns
// added to an existing table.
func runAccounts(t *testing.T, newDest func(t *testing.T) Destination, skip []Skip) {
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			for _, s := range skip {
				if s.Test == name {
					t.Skip(s.Why)
				}
			}
			f(t)
		})
	}
	run("GroupsOverTheirOwnColumns", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		// Every row of account A, whatever its day; and the sms rows of
		// any account.
		replaced := row{acA, "2026-01-09", "mms", "7", ""}
		commit(t, d, warehouse.Batch{
			Replace: []warehouse.Group{
				{Table: usageTable, Columns: []string{"account_sid"}, Values: []any{acA}},
				{Table: usageTable, Columns: []string{"category", "usage_date"}, Values: []any{"sms", day("2026-01-01")}},
				group(acB, "2026-01-05"), // the table's own Group, in the same batch
			},
			Rows: map[string]arrow.RecordBatch{usageTable: usageBatch(t, replaced)},
		})
		if diff := cmp.Diff(want(replaced), readUsage(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	run("GroupValueNilMatchesNull", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, warehouse.Batch{Rows: map[string]arrow.RecordBatch{
			accountsTable: accountsBatch(t, [2]string{acA, ""}, [2]string{acB, "b"}),
		}})
		commit(t, d, warehouse.Batch{Replace: []warehouse.Group{{Table: accountsTable, Columns: []string{"name"}, Values: []any{nil}}}})
		if diff := cmp.Diff([][]string{{acB, "b"}}, readAccounts(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	run("DeletesCommitWithTheRows", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, firstBatch(t))
		commit(t, d, warehouse.Batch{Rows: map[string]arrow.RecordBatch{
			accountsTable: accountsBatch(t, [2]string{acA, "a"}, [2]string{acB, "b"}),
		}})
		added := row{acB, "2026-01-03", "calls", "1", ""}
		commit(t, d, warehouse.Batch{
			Deletes: []warehouse.Delete{
				{Table: usageTable, Column: "account_sid", Value: acB},
				{Table: accountsTable, Column: "account_sid", Value: acB},
				{Table: usageTable, Column: "category", Value: "calls"},
			},
			// Deletes come before the inserts of the same batch.
			Rows: map[string]arrow.RecordBatch{usageTable: usageBatch(t, added)},
		})
		if diff := cmp.Diff(want(firstLoad[0], firstLoad[2], added), readUsage(t, d)); diff != "" {
			t.Errorf("usage (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([][]string{{acA, "a"}}, readAccounts(t, d)); diff != "" {
			t.Errorf("accounts (-want +got):\n%s", diff)
		}
		// A failed commit deletes nothing.
		err := d.Commit(context.Background(), warehouse.Batch{
			Deletes: []warehouse.Delete{{Table: accountsTable, Column: "account_sid", Value: acA}},
			Rows:    map[string]arrow.RecordBatch{"no_such_table": accountsBatch(t, [2]string{acA, "x"})},
		})
		if err == nil {
			t.Fatal("a commit to an unknown table succeeded")
		}
		if diff := cmp.Diff([][]string{{acA, "a"}}, readAccounts(t, d)); diff != "" {
			t.Errorf("accounts after a failed commit (-want +got):\n%s", diff)
		}
	})

	run("StatesPerAccountAdoptLegacyStates", func(t *testing.T) {
		d := setup(t, newDest)
		// A warehouse of an older version: states with no account.
		commit(t, d, warehouse.Batch{States: map[string]json.RawMessage{
			"accounts": json.RawMessage(`{}`), "usage_records": json.RawMessage(`{"v":"legacy"}`),
		}})
		legacy := map[string]string{"accounts": `{}`, "usage_records": `{"v":"legacy"}`}
		for _, acct := range []string{"", acA, acB} {
			if diff := cmp.Diff(legacy, statesOf(t, d, acct)); diff != "" {
				t.Errorf("states of %q before any account's commit (-want +got):\n%s", acct, diff)
			}
		}
		// A commits its usage_records state: it adopts the legacy row
		// of that stream, and keeps reading the legacy row of the other.
		commit(t, d, warehouse.Batch{Account: acA, States: map[string]json.RawMessage{"usage_records": json.RawMessage(`{"v":"a1"}`)}})
		commit(t, d, warehouse.Batch{Account: acB, States: map[string]json.RawMessage{"sims": json.RawMessage(`{"v":"b1"}`)}})
		commit(t, d, warehouse.Batch{Account: acA, States: map[string]json.RawMessage{"usage_records": json.RawMessage(`{"v":"a2"}`)}})
		for acct, want := range map[string]map[string]string{
			acA: {"accounts": `{}`, "usage_records": `{"v":"a2"}`},
			acB: {"accounts": `{}`, "sims": `{"v":"b1"}`},
			"":  {"accounts": `{}`},
		} {
			if diff := cmp.Diff(want, statesOf(t, d, acct)); diff != "" {
				t.Errorf("states of %q (-want +got):\n%s", acct, diff)
			}
		}
		if got := statesOf(t, d, "AC00000000000000000000000000000009"); len(got) != 1 {
			t.Errorf("a new account sees %v, want the one legacy row left", got)
		}
	})

	run("ForgetStatesRemovesOneAccountsStates", func(t *testing.T) {
		d := setup(t, newDest)
		commit(t, d, warehouse.Batch{States: map[string]json.RawMessage{"accounts": json.RawMessage(`{"v":"legacy"}`)}})
		commit(t, d, warehouse.Batch{Account: acA, States: map[string]json.RawMessage{"usage_records": json.RawMessage(`{"v":"a"}`)}})
		commit(t, d, warehouse.Batch{Account: acB, States: map[string]json.RawMessage{"usage_records": json.RawMessage(`{"v":"b"}`)}})
		commit(t, d, warehouse.Batch{
			ForgetStates: []string{acA},
			Deletes:      []warehouse.Delete{{Table: accountsTable, Column: "account_sid", Value: acA}},
		})
		for acct, want := range map[string]map[string]string{
			acA: {},
			acB: {"usage_records": `{"v":"b"}`},
			"":  {},
		} {
			if diff := cmp.Diff(want, statesOf(t, d, acct)); diff != "" {
				t.Errorf("states of %q after forgetting A's (-want +got):\n%s", acct, diff)
			}
		}
	})

	run("SetupAddsTheColumnsATableGained", func(t *testing.T) {
		d := newDest(t)
		ctx := context.Background()
		old := accounts
		old.Schema = arrow.NewSchema([]arrow.Field{accounts.Schema.Field(0), accounts.Schema.Field(2)}, nil) // account_sid, _loaded_at
		if err := d.Setup(ctx, []warehouse.Table{old}); err != nil {
			t.Fatal(err)
		}
		b := array.NewRecordBuilder(memory.DefaultAllocator, old.Schema)
		defer b.Release()
		b.Field(0).(*array.StringBuilder).Append(acA)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Now().UnixMicro()))
		rec := b.NewRecordBatch()
		defer rec.Release()
		commit(t, d, warehouse.Batch{Rows: map[string]arrow.RecordBatch{accountsTable: rec}})

		grown := accounts
		grown.Schema = arrow.NewSchema([]arrow.Field{accounts.Schema.Field(0), accounts.Schema.Field(2), accounts.Schema.Field(1)}, nil)
		for i := range 2 {
			if err := d.Setup(ctx, []warehouse.Table{grown}); err != nil {
				t.Fatalf("Setup %d of a table that gained a column: %v", i+1, err)
			}
		}
		nb := array.NewRecordBuilder(memory.DefaultAllocator, grown.Schema)
		defer nb.Release()
		nb.Field(0).(*array.StringBuilder).Append(acB)
		nb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Now().UnixMicro()))
		nb.Field(2).(*array.StringBuilder).Append("b")
		nrec := nb.NewRecordBatch()
		defer nrec.Release()
		commit(t, d, warehouse.Batch{Rows: map[string]arrow.RecordBatch{accountsTable: nrec}})
		if diff := cmp.Diff([][]string{{acA, "NULL"}, {acB, "b"}}, readAccounts(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})
}
