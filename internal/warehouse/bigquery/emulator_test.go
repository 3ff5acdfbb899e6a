package bigquery

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// step is one Commit; newRun opens a new Destination (a new run) first.
type step struct {
	newRun  bool
	replace []warehouse.Group
	usage   []usageRow
	account []accountRow
	states  map[string]string
}

func TestCommitReplacesGroups(t *testing.T) {
	const (
		ac1 = "AC00000000000000000000000000000001"
		ac2 = "AC00000000000000000000000000000002"
	)
	day1, day2 := "2025-03-01", "2025-03-02"
	base := []usageRow{
		{Date: day1, Account: ac1, Category: "sms", Count: 3, Price: "0.023700000", AsOf: "2025-03-03T01:02:03.123456Z"},
		{Date: day1, Account: ac1, Category: "calls", Count: 1, Price: "0.014000000"},
		{Date: day2, Account: ac1, Category: "sms", Count: 2, Price: "0.015800000"},
		{Date: day1, Account: ac2, Category: "sms", Count: 5, Price: "0.039500000"},
	}
	baseGroups := func(t *testing.T) []warehouse.Group {
		return []warehouse.Group{usageGroup(t, ac1, day1), usageGroup(t, ac1, day2), usageGroup(t, ac2, day1)}
	}
	tests := []struct {
		name         string
		steps        func(t *testing.T) []step
		wantUsage    []usageRow
		wantAccounts []accountRow
	}{
		{
			name:      "load",
			steps:     func(t *testing.T) []step { return []step{{replace: baseGroups(t), usage: base}} },
			wantUsage: base,
		},
		{
			name: "reload same batch in a new run: no duplicates",
			steps: func(t *testing.T) []step {
				return []step{{replace: baseGroups(t), usage: base}, {newRun: true, replace: baseGroups(t), usage: base}}
			},
			wantUsage: base,
		},
		{
			name: "same batch committed twice in one run (a retry) applies once",
			steps: func(t *testing.T) []step {
				return []step{{replace: baseGroups(t), usage: base[:3]}, {usage: base[3:]}, {usage: base[3:]}}
			},
			wantUsage: base,
		},
		{
			name: "revised group replaces its rows only",
			steps: func(t *testing.T) []step {
				return []step{
					{replace: baseGroups(t), usage: base},
					{newRun: true, replace: []warehouse.Group{usageGroup(t, ac1, day1)}, usage: []usageRow{
						{Date: day1, Account: ac1, Category: "sms", Count: 4, Price: "0.031600000"},
					}},
				}
			},
			wantUsage: []usageRow{
				{Date: day1, Account: ac1, Category: "sms", Count: 4, Price: "0.031600000"},
				base[2], base[3],
			},
		},
		{
			name: "group revised to zero disappears",
			steps: func(t *testing.T) []step {
				return []step{
					{replace: baseGroups(t), usage: base},
					{newRun: true, replace: []warehouse.Group{usageGroup(t, ac2, day1)}},
				}
			},
			wantUsage: base[:3],
		},
		{
			name: "group straddling two batches of a run keeps both parts",
			steps: func(t *testing.T) []step {
				return []step{
					{replace: baseGroups(t), usage: base},
					{newRun: true, replace: []warehouse.Group{usageGroup(t, ac1, day1)}, usage: []usageRow{
						{Date: day1, Account: ac1, Category: "sms", Count: 9, Price: "0.071100000"},
					}},
					{usage: []usageRow{{Date: day1, Account: ac1, Category: "mms", Count: 1, Price: "0.020000000"}}},
				}
			},
			wantUsage: []usageRow{
				{Date: day1, Account: ac1, Category: "mms", Count: 1, Price: "0.020000000"},
				{Date: day1, Account: ac1, Category: "sms", Count: 9, Price: "0.071100000"},
				base[2], base[3],
			},
		},
		{
			name: "duplicate key in a batch: the later row wins",
			steps: func(t *testing.T) []step {
				return []step{{replace: []warehouse.Group{usageGroup(t, ac1, day1)}, usage: []usageRow{
					{Date: day1, Account: ac1, Category: "sms", Count: 1, Price: "1.000000000"},
					{Date: day1, Account: ac1, Category: "sms", Count: 2, Price: "2.000000000"},
				}}}
			},
			wantUsage: []usageRow{{Date: day1, Account: ac1, Category: "sms", Count: 2, Price: "2.000000000"}},
		},
		{
			name: "full-refresh table is replaced whole",
			steps: func(t *testing.T) []step {
				all := []warehouse.Group{{Table: accountsTable.Name}}
				return []step{
					{replace: all, account: []accountRow{{Sid: ac1, Name: "main", Main: true}, {Sid: ac2, Name: "sub"}}},
					{newRun: true, replace: all, account: []accountRow{{Sid: ac1, Name: "main renamed", Main: true}}},
				}
			},
			wantAccounts: []accountRow{{Sid: ac1, Name: "main renamed", Main: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dataset := testDataset(t)
			d := emulatorDest(t, dataset)
			for i, s := range tt.steps(t) {
				if s.newRun {
					d = emulatorDest(t, dataset)
				}
				b := warehouse.Batch{Replace: s.replace, Rows: map[string]arrow.RecordBatch{}}
				if s.usage != nil {
					b.Rows[usageTable.Name] = usageRecord(t, s.usage...)
				}
				if s.account != nil {
					b.Rows[accountsTable.Name] = accountRecord(t, s.account...)
				}
				if err := d.Commit(ctx, b); err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
			}
			if diff := cmp.Diff(sortUsage(slices.Clone(tt.wantUsage)), readUsage(t, d)); diff != "" {
				t.Errorf("usage rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAccounts, readAccounts(t, d)); diff != "" {
				t.Errorf("account rows (-want +got):\n%s", diff)
			}
			assertNoStagingTables(t, d)
		})
	}
}

// assertNoStagingTables checks that commits dropped their staging tables.
func assertNoStagingTables(t *testing.T, d *Destination) {
	t.Helper()
	it := d.client.Dataset(d.dataset).Tables(context.Background())
	for {
		tb, err := it.Next()
		if err != nil {
			break
		}
		if len(tb.TableID) >= len(stagePrefix) && tb.TableID[:len(stagePrefix)] == stagePrefix {
			t.Errorf("staging table %s left behind", tb.TableID)
		}
	}
}

// TestCrashBeforeCommitChangesNothing crashes a commit between its staging
// loads and its transaction. (A statement failing inside the transaction
// rolls it back in BigQuery; the emulator does not roll back a failed
// script, so that case cannot be tested against it.)
func TestCrashBeforeCommitChangesNothing(t *testing.T) {
	const ac = "AC00000000000000000000000000000001"
	tests := []struct {
		name  string
		crash func(d *Destination)
	}{
		{"after staging loads, before the transaction", func(d *Destination) {
			d.beforeTransaction = func(context.Context) error { return errors.New("injected crash") }
		}},
		{"cancelled before the transaction", func(d *Destination) {
			d.beforeTransaction = func(context.Context) error { return context.Canceled }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dataset := testDataset(t)
			d := emulatorDest(t, dataset)
			first := []usageRow{{Date: "2025-03-01", Account: ac, Category: "sms", Count: 1, Price: "1.100000000"}}
			if err := d.Commit(ctx, warehouse.Batch{
				Replace: []warehouse.Group{usageGroup(t, ac, "2025-03-01")},
				Rows:    map[string]arrow.RecordBatch{usageTable.Name: usageRecord(t, first...)},
				States:  map[string]json.RawMessage{"usage_records": json.RawMessage(`{"cursor":"2025-03-01"}`)},
			}); err != nil {
				t.Fatalf("first commit: %v", err)
			}

			d2 := emulatorDest(t, dataset)
			tt.crash(d2)
			err := d2.Commit(ctx, warehouse.Batch{
				Replace: []warehouse.Group{usageGroup(t, ac, "2025-03-01")},
				Rows: map[string]arrow.RecordBatch{usageTable.Name: usageRecord(t,
					usageRow{Date: "2025-03-01", Account: ac, Category: "calls", Count: 7, Price: "7.700000000"})},
				States: map[string]json.RawMessage{"usage_records": json.RawMessage(`{"cursor":"2025-03-02"}`)},
			})
			if err == nil {
				t.Fatal("commit with an injected failure succeeded")
			}
			if diff := cmp.Diff(first, readUsage(t, d2)); diff != "" {
				t.Errorf("usage after failed commit (-want +got):\n%s", diff)
			}
			states, err := d2.States(ctx, "")
			if err != nil {
				t.Fatalf("States: %v", err)
			}
			want := map[string]string{"usage_records": `{"cursor":"2025-03-01"}`}
			if diff := cmp.Diff(want, stringStates(states)); diff != "" {
				t.Errorf("states after failed commit (-want +got):\n%s", diff)
			}
		})
	}
}

func stringStates(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func TestStatesRoundTrip(t *testing.T) {
	ctx := context.Background()
	dataset := testDataset(t)
	d := emulatorDest(t, dataset)
	got, err := d.States(ctx, "")
	if err != nil {
		t.Fatalf("States of a new dataset: %v", err)
	}
	if diff := cmp.Diff(map[string]string{}, stringStates(got)); diff != "" {
		t.Errorf("states of a new dataset (-want +got):\n%s", diff)
	}
	commits := []map[string]string{
		{"usage_records": `{"AC1":{"cursor":"2025-03-01"}}`, "accounts": `{}`},
		{"usage_records": `{"AC1":{"cursor":"2025-03-02"},"AC2":{"cursor":"2025-03-02"}}`},
		{"sims": `{"note":"quotes \" and 'single' and \\ and unicode é"}`},
	}
	for i, states := range commits {
		b := warehouse.Batch{States: map[string]json.RawMessage{}}
		for k, v := range states {
			b.States[k] = json.RawMessage(v)
		}
		if err := d.Commit(ctx, b); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	got, err = emulatorDest(t, dataset).States(ctx, "")
	if err != nil {
		t.Fatalf("States: %v", err)
	}
	want := map[string]string{
		"usage_records": `{"AC1":{"cursor":"2025-03-02"},"AC2":{"cursor":"2025-03-02"}}`,
		"accounts":      `{}`,
		"sims":          `{"note":"quotes \" and 'single' and \\ and unicode é"}`,
	}
	if diff := cmp.Diff(want, stringStates(got)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func TestNumericStaysExact(t *testing.T) {
	const ac = "AC00000000000000000000000000000001"
	prices := []string{
		"99999999999999999999999999999.999999999", // NUMERIC's largest
		"-99999999999999999999999999999.999999999",
		"0.000000001",
		"-0.000000001",
		"0.300000000",                 // 0.1+0.2 in a float is 0.30000000000000004
		"12345678901234567.123456789", // beyond float64's 15-17 digits
		"0.000000000",
		"", // NULL
	}
	ctx := context.Background()
	d := emulatorDest(t, testDataset(t))
	var rows []usageRow
	for i, p := range prices {
		rows = append(rows, usageRow{Date: "2025-01-01", Account: ac, Category: string(rune('a' + i)), Count: int64(i), Price: p})
	}
	if err := d.Commit(ctx, warehouse.Batch{
		Replace: []warehouse.Group{usageGroup(t, ac, "2025-01-01")},
		Rows:    map[string]arrow.RecordBatch{usageTable.Name: usageRecord(t, rows...)},
	}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if diff := cmp.Diff(sortUsage(rows), readUsage(t, d)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestSetupIsIdempotentAndShapesTables(t *testing.T) {
	ctx := context.Background()
	dataset := testDataset(t)
	d := emulatorDest(t, dataset)
	if err := d.Setup(ctx, testTables()); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	md, err := d.client.Dataset(dataset).Table(usageTable.Name).Metadata(ctx)
	if err != nil {
		t.Fatalf("usage table metadata: %v", err)
	}
	type col struct {
		Name, Type string
		Required   bool
	}
	var got []col
	for _, f := range md.Schema {
		got = append(got, col{f.Name, string(f.Type), f.Required})
	}
	want := []col{
		{"usage_date", "DATE", true},
		{"account_sid", "STRING", true},
		{"category", "STRING", true},
		{"count", "INTEGER", false},
		{"price", "NUMERIC", false},
		{"as_of", "TIMESTAMP", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage columns (-want +got):\n%s", diff)
	}
	if _, err := d.client.Dataset(dataset).Table(warehouse.StateTable).Metadata(ctx); err != nil {
		t.Errorf("state table: %v", err)
	}
}

// TestTwoProcessesCommitAtOnce commits two accounts' batches at the same
// time through two Destinations (two processes: their own clients and
// run IDs) into one dataset, each batch replacing its account's groups
// of the same table and storing its account's state: every commit
// succeeds (a transaction aborted by the other's concurrent update is run
// again, see retryConflicts) and the dataset holds both accounts' rows
// and states.
func TestTwoProcessesCommitAtOnce(t *testing.T) {
	dataset := testDataset(t)
	endpoint := emulatorEndpoint(t)
	ctx := context.Background()
	accounts := []string{"AC00000000000000000000000000000001", "AC00000000000000000000000000000002"}
	const batches = 6
	errs := make(chan error, len(accounts)*batches)
	var wg sync.WaitGroup
	for _, acct := range accounts {
		d := emulatorDestAt(t, endpoint, dataset)
		if err := d.Setup(ctx, testTables()); err != nil {
			t.Fatal(err)
		}
		rows := make([]arrow.RecordBatch, batches)
		for i := range batches {
			rows[i] = usageRecord(t, usageRow{Date: fmt.Sprintf("2026-01-%02d", i+1), Account: acct, Category: "sms", Count: int64(i), Price: "0.0075"})
		}
		wg.Go(func() {
			for i := range batches {
				date := fmt.Sprintf("2026-01-%02d", i+1)
				errs <- d.Commit(ctx, warehouse.Batch{
					Replace: []warehouse.Group{usageGroup(t, acct, date)},
					Rows:    map[string]arrow.RecordBatch{usageTable.Name: rows[i]},
					Account: acct,
					States:  map[string]json.RawMessage{"usage_records": json.RawMessage(fmt.Sprintf(`{"cursor":%q}`, date))},
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("commit: %v", err)
		}
	}
	d := emulatorDestAt(t, endpoint, dataset)
	for _, acct := range accounts {
		st, err := d.States(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(st["usage_records"]), fmt.Sprintf(`{"cursor":"2026-01-%02d"}`, batches); got != want {
			t.Errorf("state of %s = %s, want %s", acct, got, want)
		}
	}
	var n int
	err := d.QueryEach(ctx, "SELECT COUNT(*) FROM "+d.tableRef(usageTable.Name), func(row []sql.NullString) error {
		_, err := fmt.Sscan(row[0].String, &n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(accounts)*batches {
		t.Errorf("%d usage rows, want %d", n, len(accounts)*batches)
	}
}

// TestLoadJobStartRetriedAfterATransientError: BigQuery answering 503 to
// the upload that starts a load job (the client library does not retry an
// upload) does not fail the commit: the start is tried again, and the
// batch lands once.
func TestLoadJobStartRetriedAfterATransientError(t *testing.T) {
	const ac = "AC00000000000000000000000000000001"
	target, err := url.Parse(emulatorEndpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var uploads, refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/upload/") && uploads.Add(1) == 1 {
			refused.Add(1)
			io.Copy(io.Discard, r.Body)
			http.Error(w, `{"error":{"code":503,"message":"backend error (injected)"}}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx := context.Background()
	d := emulatorDestAt(t, srv.URL, testDataset(t))
	if err := d.Setup(ctx, testTables()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	rows := []usageRow{{Date: "2025-03-01", Account: ac, Category: "sms", Count: 1, Price: "1.100000000"}}
	if err := d.Commit(ctx, warehouse.Batch{
		Replace: []warehouse.Group{usageGroup(t, ac, "2025-03-01")},
		Rows:    map[string]arrow.RecordBatch{usageTable.Name: usageRecord(t, rows...)},
	}); err != nil {
		t.Fatalf("commit after one refused upload: %v", err)
	}
	if refused.Load() != 1 || uploads.Load() < 2 {
		t.Fatalf("uploads %d, refused %d: the test did not exercise a retry", uploads.Load(), refused.Load())
	}
	if diff := cmp.Diff(rows, readUsage(t, d)); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}
