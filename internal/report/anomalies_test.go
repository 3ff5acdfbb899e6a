package report_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/transforms"
)

func dec(t testing.TB, s string) decimal128.Num {
	t.Helper()
	n, err := transforms.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func text(n decimal128.Num) string { return transforms.FormatDecimal(n) }

// series builds a Series of one service group from per-category costs,
// day by day.
func series(t testing.TB, days int, cats map[string]func(day int) string) report.Series {
	s := report.Series{AccountSID: "ACa", ServiceGroup: "Messaging", Currency: "USD", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Days: days,
		Categories: map[string][]decimal128.Num{}}
	for c, f := range cats {
		v := make([]decimal128.Num, days)
		for i := range v {
			v[i] = dec(t, f(i))
		}
		s.Categories[c] = v
	}
	return s
}

// found is an anomaly as the tests compare it.
type found struct {
	Day                                  string
	Cost, Baseline, MAD, Excess, Score   string
	Severity                             string
	Category, CategoryCost, CategoryBase string
	History                              int
}

func summarize(as []report.Anomaly) []found {
	var out []found
	for _, a := range as {
		f := found{Day: a.Day.Format(time.DateOnly), Cost: text(a.Cost), Baseline: text(a.Baseline), MAD: text(a.MAD),
			Excess: text(a.Excess), Score: text(a.Score), Severity: a.Severity.String(), Category: a.Category, History: a.HistoryDays}
		if a.Category != "" {
			f.CategoryCost, f.CategoryBase = text(a.CategoryCost), text(a.CategoryBaseline)
		}
		out = append(out, f)
	}
	return out
}

// alternate is a baseline that swings between two values.
func alternate(a, b string) func(int) string {
	return func(d int) string {
		if d%2 == 0 {
			return a
		}
		return b
	}
}

func TestDetect(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		days int
		cats map[string]func(int) string
		want []found
	}{{
		name: "SMS pumping on a steady baseline",
		days: 40,
		cats: map[string]func(int) string{
			"sms-outbound-longcode": func(d int) string {
				if d == 35 {
					return "612.50"
				}
				return []string{"10.00", "12.00", "11.00", "13.00"}[d%4]
			},
			"sms-inbound-longcode": alternate("2.00", "2.50"),
		},
		// Window of day 35 (days 7–34): totals 12, 14.5, 13 and 15.5,
		// 7 days each. Median (13 + 14.5) / 2 = 13.75, MAD 1.25; the
		// score (601.25 ÷ 1.4826 × 1.25) is high, the money (under 100 ×
		// the floor) medium.
		want: []found{{Day: "2026-02-05", Cost: "615", Baseline: "13.75", MAD: "1.25", Excess: "601.25", Score: "324.43",
			Severity: "medium", Category: "sms-outbound-longcode", CategoryCost: "612.5", CategoryBase: "11.5", History: 28}},
	}, {
		name: "a flat baseline of zero: the floor decides",
		days: 30,
		cats: map[string]func(int) string{
			"calls-outbound": func(d int) string {
				switch d {
				case 20:
					return "9.99"
				case 25:
					return "45"
				}
				return "0"
			},
		},
		// MAD 0 and median 0: the spread is the minimum, 1; the score
		// 45 is high, the money (45, under 10 × the floor) low.
		want: []found{{Day: "2026-01-26", Cost: "45", Baseline: "0", MAD: "0", Excess: "45", Score: "45", Severity: "low",
			Category: "calls-outbound", CategoryCost: "45", CategoryBase: "0", History: 25}},
	}, {
		name: "too little history, a drop, and noise within the spread",
		days: 40,
		cats: map[string]func(int) string{
			"sms-outbound-longcode": func(d int) string {
				switch d {
				case 5:
					return "900" // 5 days of history
				case 30:
					return "0.5" // a drop
				case 31:
					return "160" // 1.6 × the median: within 10 × the spread
				}
				return alternate("80", "120")(d)
			},
		},
	}, {
		name: "a broad rise that no category drives",
		days: 30,
		cats: map[string]func(int) string{
			"a": func(d int) string { return map[bool]string{true: "300", false: "10"}[d == 29] },
			"b": func(d int) string { return map[bool]string{true: "300", false: "10"}[d == 29] },
			"c": func(d int) string { return map[bool]string{true: "300", false: "10"}[d == 29] },
		},
		want: []found{{Day: "2026-01-30", Cost: "900", Baseline: "30", MAD: "0", Excess: "870", Score: "290", Severity: "medium", History: 28}},
	}, {
		name: "exact at the billionth: a median between two days",
		days: 21,
		cats: map[string]func(int) string{
			"x": func(d int) string {
				if d == 20 {
					return "1000"
				}
				return alternate("0.000000001", "0.000000002")(d)
			},
		},
		// Median (0.000000001 + 0.000000002) / 2 = 0.0000000015 and MAD
		// 0.0000000005, stored rounded half away from zero, as is the
		// excess 999.9999999985; the decision uses the exact values.
		want: []found{{Day: "2026-01-21", Cost: "1000", Baseline: "0.000000002", MAD: "0.000000001", Excess: "999.999999999",
			Score: "1000", Severity: "medium", Category: "x", CategoryCost: "1000", CategoryBase: "0.000000002", History: 20}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := report.DefaultParams.Detect(series(t, tc.days, tc.cats), from)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(got)); diff != "" {
				t.Errorf("anomalies (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParamsAreChecked(t *testing.T) {
	for _, p := range []report.Params{
		{Window: 2, MinHistory: 2, Threshold: "1", RelativeSpread: "0.1", MinSpread: "1", Floor: "1"},
		{Window: 28, MinHistory: 29, Threshold: "1", RelativeSpread: "0.1", MinSpread: "1", Floor: "1"},
		{Window: 28, MinHistory: 14, Threshold: "ten", RelativeSpread: "0.1", MinSpread: "1", Floor: "1"},
		{Window: 28, MinHistory: 14, Threshold: "10", RelativeSpread: "0", MinSpread: "0", Floor: "1"},
		{Window: 28, MinHistory: 14, Threshold: "10", RelativeSpread: "0.1", MinSpread: "1", Floor: "-1"},
	} {
		if _, err := p.Detect(report.Series{}, time.Time{}); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

// emulatorSpan is the realistic span of the anomaly tests: a main
// account, 20 subaccounts (every role of the emulator four times) and
// 120 days.
var emulatorSpan = twiliotest.Options{Seed: 7, Subaccounts: 20, Days: 120, SIMs: 4}

// Quiet data, however noisy day to day, raises no anomaly.
func TestNoAnomalyOnQuietData(t *testing.T) {
	for _, seed := range []int64{7, 8} {
		opts := emulatorSpan
		opts.Seed = seed
		d, _ := syncEmulator(t, opts, "")
		res, err := report.Refresh(context.Background(), d, time.Time{}, report.AnomalyOptions{Now: func() time.Time { return testNow }})
		if err != nil {
			t.Fatal(err)
		}
		if res.From.IsZero() || res.To.Sub(res.From) < 100*24*time.Hour {
			t.Errorf("seed %d: refreshed %v to %v, want the whole span", seed, res.From, res.To)
		}
		for _, a := range res.Anomalies {
			t.Errorf("seed %d: false alert %s %s %s: cost %s, baseline %s, score %s", seed, a.Day.Format(time.DateOnly), a.AccountName,
				a.ServiceGroup, text(a.Cost), text(a.Baseline), text(a.Score))
		}
		if n := one(t, d, `SELECT COUNT(*) FROM twilio_cost_anomalies`); n != "0" {
			t.Errorf("seed %d: %s rows in twilio_cost_anomalies", seed, n)
		}
	}
}

// Spikes injected into the same data are found, on their account, day
// and service group, driven by their category, and nothing else is.
func TestSpikesAreDetected(t *testing.T) {
	opts := emulatorSpan
	opts.Spikes = []twiliotest.Spike{
		{Kind: twiliotest.SpikeSMS, Account: 6, DaysAgo: 2, Factor: 25},    // Production 2: SMS pumping, the day before yesterday
		{Kind: twiliotest.SpikeSMS, Account: 7, DaysAgo: 60, Factor: 40},   // Staging 2, long before it was suspended
		{Kind: twiliotest.SpikeCalls, Account: 0, DaysAgo: 45, Factor: 20}, // the main account: a calling loop
		{Kind: twiliotest.SpikeData, Account: 11, DaysAgo: 9, Factor: 12},  // Production 3: a runaway fleet
	}
	d, emu := syncEmulator(t, opts, "")
	ctx := context.Background()
	res, err := report.Refresh(ctx, d, time.Time{}, report.AnomalyOptions{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]string{"sms-outbound-longcode": "Messaging", "calls-outbound": "Voice", "wireless-usage-data-northamerica": "Wireless/IoT"}
	want, price := map[string]string{}, map[string]decimal128.Num{}
	for _, sp := range emu.InjectedSpikes() {
		k := sp.Date + " " + sp.AccountSID + " " + groups[sp.Category]
		want[k], price[k] = sp.Category, dec(t, sp.Price)
	}
	if len(want) != len(opts.Spikes) {
		t.Fatalf("the emulator injected %+v, want all %d spikes", emu.InjectedSpikes(), len(opts.Spikes))
	}
	got := map[string]string{}
	for _, a := range res.Anomalies {
		k := a.Day.Format(time.DateOnly) + " " + a.AccountSID + " " + a.ServiceGroup
		got[k] = a.Category
		// The excess is the burst, give or take the day's noise.
		if p := price[k]; a.Excess.Add(a.Excess).Less(p) || a.Excess.Greater(p.Add(p)) {
			t.Errorf("%s: excess %s for a burst of %s", k, text(a.Excess), text(p))
		}
		if a.DetectedAt != testNow {
			t.Errorf("anomaly detected at %v, want %v", a.DetectedAt, testNow)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("anomalies (-injected +detected):\n%s", diff)
	}

	// Stored, read back alike.
	stored, err := report.Read(ctx, d, report.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(summarize(res.Anomalies), summarize(stored)); diff != "" {
		t.Errorf("stored anomalies differ from computed (-computed +stored):\n%s", diff)
	}
	for i := range min(len(stored), len(res.Anomalies)) {
		a, b := res.Anomalies[i], stored[i]
		if a.AccountSID != b.AccountSID || a.BillingAccountSID != b.BillingAccountSID || a.AccountName != b.AccountName ||
			a.ServiceGroup != b.ServiceGroup || a.Currency != b.Currency || !a.DetectedAt.Equal(b.DetectedAt) || a.BillingAccountSID == "" {
			t.Errorf("stored anomaly %+v differs from computed %+v", b, a)
		}
	}
}

// A refresh from a day replaces that day and every later one, keeps the
// first detection time of anomalies it finds again, and a second
// refresh changes nothing.
func TestRefreshReplacesTheDaysItCovers(t *testing.T) {
	opts := twiliotest.Options{Seed: 3, Subaccounts: 5, Days: 60,
		Spikes: []twiliotest.Spike{{Kind: twiliotest.SpikeSMS, Account: 1, DaysAgo: 20, Factor: 30}, {Kind: twiliotest.SpikeSMS, Account: 1, DaysAgo: 3, Factor: 30}}}
	d, _ := syncEmulator(t, opts, "")
	ctx := context.Background()
	first := testNow.Add(-time.Hour)
	if _, err := report.Refresh(ctx, d, time.Time{}, report.AnomalyOptions{Now: func() time.Time { return first }}); err != nil {
		t.Fatal(err)
	}
	before, err := report.Read(ctx, d, report.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 2 {
		t.Fatalf("%d anomalies, want the two spikes: %+v", len(before), summarize(before))
	}
	// A stray row on a day the next refresh covers goes; one before it stays.
	exec(t, d, fmt.Sprintf(`INSERT INTO twilio_cost_anomalies SELECT * REPLACE (service_group || ' stray' AS service_group) FROM twilio_cost_anomalies WHERE usage_date = DATE '%s'`,
		before[1].Day.Format(time.DateOnly)))
	exec(t, d, fmt.Sprintf(`INSERT INTO twilio_cost_anomalies SELECT * REPLACE (service_group || ' kept' AS service_group) FROM twilio_cost_anomalies WHERE usage_date = DATE '%s'`,
		before[0].Day.Format(time.DateOnly)))
	from := before[1].Day.AddDate(0, 0, -5)
	res, err := report.Refresh(ctx, d, from, report.AnomalyOptions{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.From.Equal(from) || !res.To.Equal(testNow.Truncate(24*time.Hour)) {
		t.Errorf("refreshed %v to %v, want %v to today", res.From, res.To, from)
	}
	after, err := report.Read(ctx, d, report.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, a := range after {
		groups = append(groups, a.Day.Format(time.DateOnly)+" "+a.ServiceGroup)
		if !a.DetectedAt.Equal(first) {
			t.Errorf("%s %s: detected at %v, want the first refresh's %v", a.Day.Format(time.DateOnly), a.ServiceGroup, a.DetectedAt, first)
		}
	}
	wantGroups := []string{before[0].Day.Format(time.DateOnly) + " Messaging", before[0].Day.Format(time.DateOnly) + " Messaging kept", before[1].Day.Format(time.DateOnly) + " Messaging"}
	if diff := cmp.Diff(wantGroups, groups); diff != "" {
		t.Errorf("anomalies after the refresh (-want +got):\n%s", diff)
	}
	// Since: only what was first detected after a time.
	since, err := report.Read(ctx, d, report.Filter{DetectedSince: first.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(since) != 0 {
		t.Errorf("detected since %v: %+v, want none", first.Add(time.Minute), summarize(since))
	}
}

func exec(t testing.TB, d *duckdb.Destination, q string) {
	t.Helper()
	if _, err := d.DB().ExecContext(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// rebuildCosts recomputes the cost tables after a test changed the
// usage or accounts they are computed from behind the loader's back.
func rebuildCosts(t testing.TB, d *duckdb.Destination) {
	t.Helper()
	if err := pipeline.RebuildCosts(context.Background(), d, pipeline.Options{}); err != nil {
		t.Fatal(err)
	}
}

func one(t testing.TB, d interface {
	QueryStrings(context.Context, string) ([][]string, error)
}, q string) string {
	t.Helper()
	rows, err := d.QueryStrings(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: %v, want one value", q, rows)
	}
	return rows[0][0]
}
