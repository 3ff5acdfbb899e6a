package integration_tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/bigquery"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// spikyOptions is an emulator with SMS pumping on the first subaccount
// the day before yesterday.
var spikyOptions = twiliotest.Options{Seed: 21, Subaccounts: 5, Days: 60, SIMs: 3,
	Spikes: []twiliotest.Spike{{Kind: twiliotest.SpikeSMS, Account: 1, DaysAgo: 2, Factor: 40}}}

// `alerts` exits 3 and prints one line (or JSON) per new anomaly, 0 when
// there are none, 1 on an error and 2 on bad flags; `sync` logs what it
// finds.
func TestAlertsExitCodes(t *testing.T) {
	dir := t.TempDir()
	emu, cfg := emulatorConfig(t, spikyOptions, nil)
	spiky := filepath.Join(dir, "spiky.duckdb")
	r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", spiky)
	if r.code != 0 {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	}
	spike := emu.InjectedSpikes()[0]
	if !strings.Contains(string(r.stderr), "cost anomaly: "+spike.Date) {
		t.Errorf("sync did not log the anomaly of %s:\n%s", spike.Date, r.stderr)
	}

	r = runIn(t, dir, nil, "alerts", "--path", spiky, "--since", "2d")
	lines := strings.Split(strings.TrimSpace(string(r.stdout)), "\n")
	if r.code != 3 || len(lines) != 1 {
		t.Fatalf("alerts on a spike: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{spike.Date, spike.AccountSID, "Messaging", "cost ", "baseline ", "sms-outbound-longcode"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("alert line %q lacks %q", lines[0], want)
		}
	}

	r = runIn(t, dir, nil, "alerts", "--path", spiky, "--json")
	var alerts []map[string]string
	if err := json.Unmarshal(r.stdout, &alerts); err != nil || r.code != 3 || len(alerts) != 1 {
		t.Fatalf("alerts --json: exit %d, %v, %s", r.code, err, r.stdout)
	}
	a := alerts[0]
	if a["day"] != spike.Date || a["account_sid"] != spike.AccountSID || a["service_group"] != "Messaging" || a["cost"] == "" || a["baseline"] == "" {
		t.Errorf("alerts --json: %v", a)
	}
	if a["severity"] != "high" {
		higher := map[string]string{"low": "medium", "medium": "high"}[a["severity"]]
		if r := runIn(t, dir, nil, "alerts", "--path", spiky, "--min-severity", higher); r.code != 0 || len(r.stdout) != 0 {
			t.Errorf("alerts --min-severity %s above a %s anomaly: exit %d, %s", higher, a["severity"], r.code, r.stdout)
		}
	}

	quietOpts := spikyOptions
	quietOpts.Spikes = nil
	_, quietCfg := emulatorConfig(t, quietOpts, nil)
	quiet := filepath.Join(dir, "quiet.duckdb")
	if r := runIn(t, dir, nil, "sync", "--config", quietCfg, "--path", quiet); r.code != 0 {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	}
	if r := runIn(t, dir, nil, "alerts", "--path", quiet, "--since", "30d"); r.code != 0 || len(r.stdout) != 0 {
		t.Errorf("alerts on quiet data: exit %d, %s", r.code, r.stdout)
	}
	if r := runIn(t, dir, nil, "alerts", "--path", quiet, "--json"); r.code != 0 || strings.TrimSpace(string(r.stdout)) != "[]" {
		t.Errorf("alerts --json on quiet data: exit %d, %s", r.code, r.stdout)
	}

	empty := filepath.Join(dir, "empty.duckdb")
	if r := runIn(t, dir, nil, "load", "--path", empty); r.code != 0 {
		t.Fatalf("load of nothing: exit %d\n%s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"alerts", "--path", filepath.Join(dir, "missing.duckdb")}, 1},
		{[]string{"alerts", "--path", empty}, 1}, // no twilio_cost_anomalies yet
		{[]string{"alerts", "--path", spiky, "--since", "two days"}, 2},
		{[]string{"alerts", "--path", spiky, "--since", "-1h"}, 2},
		{[]string{"alerts", "--path", spiky, "--min-severity", "dire"}, 2},
		{[]string{"alerts", "--path", spiky, "--refresh-from", "yesterday"}, 2},
		{[]string{"alerts", "--path", spiky, "--refresh-from", "2026-01-01", "--since", "1h"}, 3},
	} {
		if r := runIn(t, dir, nil, tc.args...); r.code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, r.code, tc.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.duckdb")); err == nil {
		t.Error("alerts created a warehouse that was not there")
	}
}

// `report` writes the HTML file whole and says what it holds; bad flags
// exit 2 and a missing warehouse 1, leaving no file.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	_, cfg := emulatorConfig(t, spikyOptions, nil)
	db := filepath.Join(dir, "twilio.duckdb")
	if r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", db); r.code != 0 {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	}
	r := runIn(t, dir, nil, "report", "--path", db, "--days", "30", "--out", "spend.html")
	if r.code != 0 || !strings.Contains(string(r.stdout), "spend.html") || !strings.Contains(string(r.stdout), "1 anomalies") {
		t.Fatalf("report: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
	page, err := os.ReadFile(filepath.Join(dir, "spend.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", "Daily spend by service", "Apache ECharts 6.1.0", `id="chart-anomaly-0"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	for _, bad := range []string{"<script src", "<link ", "https://cdn", "@import"} {
		if strings.Contains(string(page), bad) {
			t.Errorf("the report loads something from elsewhere: %q", bad)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"report", "--path", db, "--account", "AC123", "--out", "bad.html"}, 2},
		{[]string{"report", "--path", db, "--days", "0", "--out", "bad.html"}, 2},
		{[]string{"report", "--path", filepath.Join(dir, "missing.duckdb"), "--out", "bad.html"}, 1},
		{[]string{"report", "--path", db, "--account", "AC" + strings.Repeat("0", 32), "--out", "bad.html"}, 1},
	} {
		if r := runIn(t, dir, nil, tc.args...); r.code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, r.code, tc.code, r.stderr)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.html"))
	if len(matches) != 1 {
		t.Errorf("HTML files left: %v, want spend.html alone", matches)
	}
}

func TestDemoWritesTheReport(t *testing.T) {
	dir := t.TempDir()
	r := runIn(t, dir, nil, "demo")
	if r.code != 0 || !strings.Contains(string(r.stdout), "Report: twilio-demo-report.html") {
		t.Fatalf("demo: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(dir, "twilio-demo-report.html")); err != nil || fi.Size() < 100_000 {
		t.Errorf("demo's report: %v, %v", fi, err)
	}
}

// A report built from BigQuery (the emulator) holds the same figures as
// one built from DuckDB after syncing the same Twilio data, anomalies
// included, and alerts read them there. The emulator takes about a
// minute per query over the cost views, so the data is a week and the
// anomalies are computed with a short window.
func TestReportOnBigQueryMatchesDuckDB(t *testing.T) {
	endpoint := bigQueryEmulator(t)
	opts := spikyOptions
	opts.Subaccounts, opts.Days, opts.SIMs = 1, 7, 1
	opts.Spikes = []twiliotest.Spike{{Kind: twiliotest.SpikeSMS, Account: 1, DaysAgo: 1, Factor: 40}}
	emu, cfg := emulatorConfig(t, opts, nil)
	dir := t.TempDir()
	db := filepath.Join(dir, "twilio.duckdb")
	if r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", db); r.code != 0 {
		t.Fatalf("duckdb sync: exit %d\n%s", r.code, r.stderr)
	}
	dataset := fmt.Sprintf("it_report_%d", time.Now().UnixNano())
	bqFlags := []string{"--destination", "bigquery", "--project", "test", "--dataset", dataset, "--endpoint", endpoint, "--staging", "ndjson"}
	if r := runIn(t, dir, nil, append([]string{"sync", "--config", cfg}, bqFlags...)...); r.code != 0 {
		t.Fatalf("bigquery sync: exit %d\n%s", r.code, r.stderr)
	}
	// A week is too short for the 28-day baseline: the sync stored none.
	if r := runIn(t, dir, nil, append([]string{"alerts"}, bqFlags...)...); r.code != 0 {
		t.Errorf("alerts on BigQuery before any anomaly: exit %d, %s\n%s", r.code, r.stdout, r.stderr)
	}

	ctx := context.Background()
	duck, err := duckdb.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	bq, err := bigquery.New(ctx, bigquery.Options{Project: "test", Dataset: dataset, Endpoint: endpoint, Staging: bigquery.NDJSON})
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	short := report.AnomalyOptions{Params: report.DefaultParams, Now: func() time.Time { return time.Now().UTC().Truncate(time.Second) }}
	short.Params.Window, short.Params.MinHistory = 4, 3
	for _, w := range []report.Warehouse{duck, bq} {
		if _, err := report.Refresh(ctx, w, time.Time{}, short); err != nil {
			t.Fatal(err)
		}
	}
	if r := runIn(t, dir, nil, append([]string{"alerts", "--json"}, bqFlags...)...); r.code != 3 || !strings.Contains(string(r.stdout), emu.InjectedSpikes()[0].Date) {
		t.Errorf("alerts on BigQuery: exit %d, %s\n%s", r.code, r.stdout, r.stderr)
	}
	now := func() time.Time { return time.Now().UTC() }
	want, err := report.Build(ctx, duck, report.Options{Days: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	got, err := report.Build(ctx, bq, report.Options{Days: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(figures(want), figures(got)); diff != "" {
		t.Errorf("report figures (-duckdb +bigquery):\n%s", diff)
	}
	spike := emu.InjectedSpikes()[0]
	found := false
	for _, a := range got.Anomalies {
		found = found || a.Day.Format(time.DateOnly) == spike.Date && a.AccountSID == spike.AccountSID && a.ServiceGroup == "Messaging"
	}
	if !found || len(got.Categories) == 0 || len(got.SIMs) == 0 || len(got.SIMs) != len(want.SIMs) {
		t.Errorf("the BigQuery report: the spike found %v among %d anomalies, %d categories, %d SIM sections", found, len(got.Anomalies), len(got.Categories), len(got.SIMs))
	}
}

// figures is a report's figures as text, for comparing two reports.
func figures(r *report.Report) map[string]string {
	m := report.FormatMoney
	out := map[string]string{
		"period": r.From.Format(time.DateOnly) + ".." + r.To.Format(time.DateOnly), "total": m(r.Total) + " " + r.Currency,
		"previous": m(r.PrevTotal), "change": r.Change, "mtd": m(r.MTD.This) + " / " + m(r.MTD.Prev), "top": r.TopService().Name,
		"recon": m(r.Recon.Totalprice) + " " + m(r.Recon.Attributed) + " " + m(r.Recon.Unattributed),
	}
	add := func(prefix string, s []report.Spend) {
		for _, x := range s {
			out[prefix+" "+x.Name+" "+x.Key] = m(x.Amount) + " " + x.Description
		}
	}
	add("group", r.Groups)
	add("account", r.Accounts)
	add("category", r.Categories)
	for _, d := range r.Daily {
		out["day "+d.Day.Format(time.DateOnly)] = m(d.Total)
	}
	for _, u := range r.SIMs {
		out["sim "+u.Product] = report.FormatBytes(u.Bytes) + " " + m(u.Billed) + " " + report.FormatBytes(u.InternationalBytes)
		for _, s := range u.Top {
			out["sim top "+s.SID] = report.FormatBytes(s.Bytes)
		}
		for _, c := range u.Roaming {
			out["roaming "+c.Country] = report.FormatBytes(c.Bytes)
		}
	}
	for _, a := range r.Anomalies {
		out["anomaly "+a.Day.Format(time.DateOnly)+" "+a.AccountSID+" "+a.ServiceGroup] = m(a.Cost) + " " + m(a.Baseline) + " " + a.Severity.String()
	}
	return out
}
