package report_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// reportSpan is the warehouse the report tests read: spikes to mark,
// SIMs roaming abroad, and (see brokenWarehouse) a day that does not
// reconcile.
var reportSpan = twiliotest.Options{Seed: 12, Subaccounts: 6, Days: 100, SIMs: 10, SuperSIMs: 15, Spikes: []twiliotest.Spike{
	{Kind: twiliotest.SpikeSMS, Account: 1, DaysAgo: 4, Factor: 30},
	{Kind: twiliotest.SpikeCalls, Account: 0, DaysAgo: 20, Factor: 20},
}}

// brokenWarehouse syncs reportSpan, breaks one account-day of the last
// month (children above their roll-up, as verify's test does) and
// refreshes the anomalies.
func brokenWarehouse(t testing.TB) *duckdb.Destination {
	t.Helper()
	d, _ := syncEmulator(t, reportSpan, "")
	exec(t, d, `UPDATE twilio_usage_daily SET price = price + 0.5
		WHERE category = 'sms-outbound-longcode' AND price > 0 AND usage_date = DATE '2026-11-10'
		  AND account_sid = (SELECT MIN(account_sid) FROM twilio_usage_daily WHERE category = 'sms-outbound-longcode' AND price > 0 AND usage_date = DATE '2026-11-10')`)
	rebuildCosts(t, d)
	if _, err := report.Refresh(context.Background(), d, time.Time{}, report.AnomalyOptions{Now: func() time.Time { return testNow }}); err != nil {
		t.Fatal(err)
	}
	return d
}

// sums reads "key → Σ" pairs from q.
func sums(t testing.TB, d report.Querier, q string) map[string]string {
	t.Helper()
	out := map[string]string{}
	rows, err := d.QueryStrings(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		out[r[0]] = trim(r[1])
	}
	return out
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Every figure of the report equals the same figure read from the
// tables verify reads (twilio_reconciliation, twilio_usage_daily) or,
// for what only they hold, from the SIM and anomaly tables directly.
func TestReportFiguresMatchTheCostTables(t *testing.T) {
	d := brokenWarehouse(t)
	ctx := context.Background()
	r, err := report.Build(ctx, d, report.Options{Days: 30, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	if got, want := day(r.LastComplete), "2026-11-23"; got != want {
		t.Errorf("last complete day %s, want %s (the day before the last load)", got, want)
	}
	if day(r.To) != "2026-11-23" || day(r.From) != "2026-10-25" || day(r.PrevFrom) != "2026-09-25" || day(r.PrevTo) != "2026-10-24" {
		t.Errorf("period %s..%s, previous %s..%s", day(r.From), day(r.To), day(r.PrevFrom), day(r.PrevTo))
	}
	if got, want := r.LastLoaded.Format(time.RFC3339), one(t, d, `SELECT strftime(MAX(_loaded_at), '%Y-%m-%dT%H:%M:%SZ') FROM twilio_usage_daily`); got != want {
		t.Errorf("last loaded %s, want %s", got, want)
	}
	span := func(from, to time.Time) string {
		return fmt.Sprintf("usage_date BETWEEN DATE '%s' AND DATE '%s'", day(from), day(to))
	}
	recon := func(what, where string) map[string]string {
		return sums(t, d, `SELECT `+what+`, SUM(totalprice) FROM twilio_reconciliation WHERE `+where+` GROUP BY 1`)
	}
	text := report.FormatMoney
	plain := func(n decimal128.Num) string { return trim(strings.ReplaceAll(text(n), ",", "")) }

	// Totals: Σ cost of twilio_cost_daily in the report, Σ totalprice in
	// twilio_reconciliation here.
	if got, want := plain(r.Total), recon("currency", span(r.From, r.To))["USD"]; got != want || r.Currency != "USD" {
		t.Errorf("total %s %s, Σ totalprice %s USD", got, r.Currency, want)
	}
	if got, want := plain(r.PrevTotal), recon("currency", span(r.PrevFrom, r.PrevTo))["USD"]; got != want {
		t.Errorf("previous total %s, Σ totalprice %s", got, want)
	}
	if got, want := plain(r.Recon.Totalprice), plain(r.Total); got != want {
		t.Errorf("reconciliation totalprice %s, total %s", got, want)
	}
	got := map[string]string{}
	for _, a := range r.Accounts {
		got[a.Key] = plain(a.Amount)
	}
	if diff := cmp.Diff(recon("account_sid", span(r.From, r.To)), got); diff != "" {
		t.Errorf("spend by account (-Σ totalprice +report):\n%s", diff)
	}
	got = map[string]string{}
	for _, ds := range r.Daily {
		got[day(ds.Day)] = plain(ds.Total)
	}
	if diff := cmp.Diff(recon("CAST(usage_date AS VARCHAR)", span(r.From, r.To)), got); diff != "" {
		t.Errorf("daily spend (-Σ totalprice +report):\n%s", diff)
	}
	if got, want := plain(r.MTD.This), recon("currency", span(r.MTD.From, r.MTD.To))["USD"]; got != want || day(r.MTD.From) != "2026-11-01" {
		t.Errorf("month to date from %s: %s, Σ totalprice %s", day(r.MTD.From), got, want)
	}
	if got, want := plain(r.MTD.Prev), recon("currency", span(r.MTD.PrevFrom, r.MTD.PrevTo))["USD"]; got != want || day(r.MTD.PrevTo) != "2026-10-23" {
		t.Errorf("last month to %s: %s, Σ totalprice %s", day(r.MTD.PrevTo), got, want)
	}
	if got, want := plain(r.MTD.ThisDaily[len(r.MTD.ThisDaily)-1]), plain(r.MTD.This); got != want {
		t.Errorf("cumulative month to date ends at %s, month to date is %s", got, want)
	}

	// Groups and categories add up to the total; the attributed and the
	// unattributed parts equal twilio_reconciliation's.
	var groups, categories, unattributed decimal128.Num
	for _, g := range r.Groups {
		groups = groups.Add(g.Amount)
	}
	for _, c := range r.Categories {
		categories = categories.Add(c.Amount)
		if c.Name == "Unattributed" {
			unattributed = c.Amount
		}
	}
	for what, v := range map[string]decimal128.Num{"service groups": groups, "categories": categories} {
		if plain(v) != plain(r.Total) {
			t.Errorf("Σ %s %s, total %s", what, plain(v), plain(r.Total))
		}
	}
	parts := sums(t, d, `SELECT 'attributed', SUM(attributed) FROM twilio_reconciliation WHERE `+span(r.From, r.To)+`
		UNION ALL SELECT 'unattributed', SUM(unattributed) FROM twilio_reconciliation WHERE `+span(r.From, r.To))
	if plain(r.Recon.Attributed) != parts["attributed"] || plain(unattributed) != parts["unattributed"] || plain(r.Recon.Unattributed) != parts["unattributed"] {
		t.Errorf("attributed %s / unattributed %s (category %s), twilio_reconciliation %v", plain(r.Recon.Attributed), plain(r.Recon.Unattributed), plain(unattributed), parts)
	}
	top := sums(t, d, `SELECT 'top', service_group FROM twilio_cost_daily WHERE attribution <> 'unattributed' AND `+span(r.From, r.To)+` GROUP BY 2 ORDER BY SUM(cost) DESC LIMIT 1`)
	if r.TopService().Name != top["top"] {
		t.Errorf("top service %q, want %q", r.TopService().Name, top["top"])
	}
	if got, want := fmt.Sprint(r.ActiveAccounts), one(t, d, `SELECT COUNT(DISTINCT account_sid) FROM twilio_reconciliation WHERE `+span(r.From, r.To)); got != want {
		t.Errorf("%s active accounts, want %s", got, want)
	}

	// Reconciliation: verify's report of the same days.
	v, err := costmodel.Verify(ctx, d, r.From, r.To)
	if err != nil {
		t.Fatal(err)
	}
	if r.Recon.Days != v.Days || r.Recon.NoTotal != v.NoTotal || len(v.Failures) != 1 {
		t.Errorf("reconciliation of %d days (%d without totalprice); verify: %d (%d), failures %+v", r.Recon.Days, r.Recon.NoTotal, v.Days, v.NoTotal, v.Failures)
	}
	var vf []report.Failure
	for _, f := range v.Failures {
		vf = append(vf, report.Failure{Date: f.Date, AccountSID: f.AccountSID, AccountName: f.AccountName, Currency: f.Currency,
			Status: f.Status, Rollup: f.Rollup, Excess: f.Excess, Totalprice: f.Totalprice, Unattributed: f.Unattributed})
	}
	if diff := cmp.Diff(vf, r.Recon.Failures); diff != "" {
		t.Errorf("failing account-days (-verify +report):\n%s", diff)
	}

	// SIM data, from the SIM tables: Wireless, then Super SIM.
	if len(r.SIMs) != 2 || r.SIMs[0].Product != "Wireless" || r.SIMs[1].Product != "Super SIM" {
		t.Fatalf("SIM sections %+v", r.SIMs)
	}
	u := r.SIMs[0]
	simSums := sums(t, d, `SELECT 'bytes', SUM(data_total) FROM twilio_sim_usage_daily WHERE `+span(r.From, r.To)+`
		UNION ALL SELECT 'abroad', SUM(data_international_roaming_total) FROM twilio_sim_usage_daily WHERE `+span(r.From, r.To)+`
		UNION ALL SELECT 'billed', SUM(data_billed) FROM twilio_sim_usage_daily WHERE `+span(r.From, r.To)+`
		UNION ALL SELECT 'sims', COUNT(DISTINCT sim_sid) FROM twilio_sim_usage_daily WHERE (data_total > 0 OR commands_total > 0) AND `+span(r.From, r.To)+`
		UNION ALL SELECT 'roaming', SUM(data_total) FROM twilio_sim_usage_roaming WHERE `+span(r.From, r.To))
	gotSIM := map[string]string{"bytes": fmt.Sprint(u.Bytes), "abroad": fmt.Sprint(u.InternationalBytes), "billed": plain(u.Billed),
		"sims": fmt.Sprint(u.SIMs), "roaming": fmt.Sprint(u.InternationalBytes)}
	if diff := cmp.Diff(simSums, gotSIM); diff != "" {
		t.Errorf("SIM data (-tables +report):\n%s", diff)
	}
	if u.Bytes == 0 || len(u.Roaming) == 0 || len(u.Top) == 0 || r.ActiveSIMs != u.SIMs+r.SIMs[1].SIMs {
		t.Errorf("SIM section without data: %+v", u)
	}
	su := r.SIMs[1]
	superSums := sums(t, d, `SELECT 'bytes', SUM(data_total) FROM twilio_super_sim_usage_daily WHERE `+span(r.From, r.To)+`
		UNION ALL SELECT 'billed', SUM(data_total_billed) FROM twilio_super_sim_usage_daily WHERE `+span(r.From, r.To)+`
		UNION ALL SELECT 'sims', COUNT(DISTINCT sim_sid) FROM twilio_super_sim_usage_daily WHERE data_total > 0 AND `+span(r.From, r.To)+`
		UNION ALL SELECT 'top', (SELECT sim_sid FROM twilio_super_sim_usage_daily WHERE `+span(r.From, r.To)+` GROUP BY 1 ORDER BY SUM(data_total) DESC, 1 LIMIT 1)`)
	gotSuper := map[string]string{"bytes": fmt.Sprint(su.Bytes), "billed": plain(su.Billed), "sims": fmt.Sprint(su.SIMs)}
	if len(su.Top) > 0 {
		gotSuper["top"] = su.Top[0].SID
	}
	if diff := cmp.Diff(superSums, gotSuper); diff != "" {
		t.Errorf("Super SIM data (-tables +report):\n%s", diff)
	}
	if su.Split || su.Bytes == 0 || su.Currency != "USD" || len(su.Roaming) != 0 {
		t.Errorf("Super SIM section: %+v", su)
	}
	got = map[string]string{}
	for _, c := range u.Roaming {
		got[c.Country] = fmt.Sprint(c.Bytes)
	}
	if diff := cmp.Diff(sums(t, d, `SELECT country, SUM(data_total) FROM twilio_sim_usage_roaming WHERE `+span(r.From, r.To)+` GROUP BY 1 HAVING SUM(data_total) > 0`), got); diff != "" {
		t.Errorf("roaming by country (-table +report):\n%s", diff)
	}
	if got, want := u.Top[0].SID, one(t, d, `SELECT sim_sid FROM twilio_sim_usage_daily WHERE `+span(r.From, r.To)+` GROUP BY 1 ORDER BY SUM(data_total) DESC, 1 LIMIT 1`); got != want {
		t.Errorf("top SIM %s, want %s", got, want)
	}

	// Anomalies: the table's, in the period; both spikes are in it.
	stored, err := report.Read(ctx, d, report.Filter{From: r.From, To: r.To})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(summarize(stored), summarize(r.Anomalies)); diff != "" || len(stored) < 2 {
		t.Errorf("anomalies (-table +report), want the two spikes:\n%s", diff)
	}
	if len(r.AnomalySeries) != len(stored) {
		t.Errorf("%d anomaly charts for %d anomalies", len(r.AnomalySeries), len(stored))
	}

	// What the page says is those figures, exactly.
	var b bytes.Buffer
	if err := report.Render(&b, r); err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(b.String())
	for _, want := range []string{
		`id="total-spend" data-amount="` + text(r.Total) + `" data-currency="USD">` + text(r.Total) + ` USD`,
		`>` + text(r.Recon.Totalprice) + ` USD<`,
		"1 fail", "the children of sms-outbound exceed it by 0.5 USD",
		"Last complete UTC day <strong id=\"last-complete\">2026-11-23",
		r.Accounts[0].Name, text(r.Accounts[0].Amount),
		r.Categories[0].Description,
		text(r.SIMs[0].Billed),
		"SIM data: Super SIM", text(r.SIMs[1].Billed),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// A main account's SID selects it and its subaccounts; a subaccount's,
// itself alone.
func TestReportForOneAccount(t *testing.T) {
	d, emu := syncEmulator(t, twiliotest.Options{Seed: 4, Subaccounts: 3, Days: 40, SIMs: 2}, "")
	ctx := context.Background()
	accounts := emu.Accounts()
	all, err := report.Build(ctx, d, report.Options{Days: 14, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	main, err := report.Build(ctx, d, report.Options{Days: 14, Account: accounts[0].SID, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if report.FormatMoney(main.Total) != report.FormatMoney(all.Total) || len(main.AccountSIDs) != 4 {
		t.Errorf("the main account's report: %s over %v; all accounts: %s", report.FormatMoney(main.Total), main.AccountSIDs, report.FormatMoney(all.Total))
	}
	sub, err := report.Build(ctx, d, report.Options{Days: 14, Account: accounts[1].SID, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	want := one(t, d, fmt.Sprintf(`SELECT SUM(totalprice) FROM twilio_reconciliation WHERE account_sid = '%s' AND usage_date BETWEEN DATE '%s' AND DATE '%s'`,
		accounts[1].SID, sub.From.Format(time.DateOnly), sub.To.Format(time.DateOnly)))
	if got := strings.ReplaceAll(report.FormatMoney(sub.Total), ",", ""); trim(got) != trim(want) || len(sub.Accounts) != 1 || sub.AccountName != accounts[1].FriendlyName {
		t.Errorf("subaccount report: %s over %+v (%q), want %s", got, sub.Accounts, sub.AccountName, want)
	}
	for _, o := range []report.Options{{Days: 14, Account: "AC123"}, {Days: 0}, {Days: 14, Account: "AC" + strings.Repeat("0", 32)}} {
		if _, err := report.Build(ctx, d, o); err == nil && o.Days != 0 {
			t.Errorf("Build(%+v): no error", o)
		}
	}
}

// Names from the data are escaped: a subaccount called like a script
// stays text.
func TestReportEscapesNames(t *testing.T) {
	d, _ := syncEmulator(t, twiliotest.Options{Seed: 2, Subaccounts: 1, Days: 20}, "")
	const evil = `<script>alert("pwned")</script><img src=x onerror=alert(1)>`
	exec(t, d, `UPDATE twilio_accounts SET display_name = '`+evil+`' WHERE NOT is_main`)
	rebuildCosts(t, d)
	r, err := report.Build(context.Background(), d, report.Options{Days: 7, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := report.Render(&b, r); err != nil {
		t.Fatal(err)
	}
	// This warehouse was synced without a refresh: the report scores
	// the period itself, and says so.
	if r.AnomalyNote == "" || !strings.Contains(b.String(), "twilio_cost_anomalies could not be read") {
		t.Error("a warehouse without twilio_cost_anomalies gave a report that does not say where its anomalies come from")
	}
	if strings.Contains(b.String(), evil) || strings.Contains(b.String(), "<img src=x") {
		t.Error("an account name reached the page unescaped")
	}
	if !strings.Contains(b.String(), "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;") {
		t.Error("the escaped account name is not on the page")
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[string]string{"0": "0.00", "1234.5": "1,234.50", "-0.0075": "-0.0075", "1234567.123456789": "1,234,567.123456789", "100": "100.00"} {
		if got := report.FormatMoney(dec(t, in)); got != want {
			t.Errorf("FormatMoney(%s) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1 kB", 1234567: "1.234567 MB", 5000000000: "5 GB", 1234567890123: "1.234567890123 TB"} {
		if got := report.FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %s, want %s", in, got, want)
		}
	}
}
