package report_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// benchSpan is a year of a main account and 20 subaccounts, with SIMs
// and two bursts.
var benchSpan = twiliotest.Options{Seed: 31, Subaccounts: 20, Days: 365, SIMs: 20, Spikes: []twiliotest.Spike{
	{Kind: twiliotest.SpikeSMS, Account: 1, DaysAgo: 10, Factor: 30},
	{Kind: twiliotest.SpikeCalls, Account: 6, DaysAgo: 200, Factor: 20},
}}

// benchWarehouse returns the benchmark's warehouse, synced once into
// the temporary folder and kept there for the next run (the data is a
// function of the seed and testNow; the name carries the cost model's
// version, so a warehouse of an older layout is not reused), so a
// benchmark's process measures its own work, not the sync's.
func benchWarehouse(b *testing.B) *duckdb.Destination {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("twilio-elt-report-bench-%d-%dx%d-%s-cost%s.duckdb",
		benchSpan.Seed, benchSpan.Subaccounts, benchSpan.Days, testNow.Format("20060102"), costmodel.Version))
	if _, err := os.Stat(path); err != nil {
		d, _ := syncEmulator(b, benchSpan, path+".partial")
		if _, err := report.Refresh(context.Background(), d, time.Time{}, report.AnomalyOptions{Now: func() time.Time { return testNow }}); err != nil {
			b.Fatal(err)
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(path+".partial", path); err != nil {
			b.Fatal(err)
		}
	}
	d, err := duckdb.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// BenchmarkReport times, on a year of 21 accounts (~550k usage rows):
//
//   - reference: one aggregate scan of twilio_usage_daily, every row
//     summed by account and category, read back as text — the floor of
//     any report;
//   - build: report.Build of 90 days, rendered to HTML;
//   - refresh-year: report.Refresh of the whole year (a backfill);
//   - refresh-days: report.Refresh from 3 days ago (a daily sync).
//
// Run each in its own process to read its peak RSS:
//
//	go test -run '^$' -bench 'Report/build$' -benchtime 5x ./internal/report
func BenchmarkReport(b *testing.B) {
	ctx := context.Background()
	d := benchWarehouse(b)
	now := func() time.Time { return testNow }
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			rows, err := d.QueryStrings(ctx, `SELECT account_sid, category, SUM(price), SUM(usage), COUNT(*) FROM twilio_usage_daily GROUP BY ALL`)
			if err != nil || len(rows) == 0 {
				b.Fatal(rows, err)
			}
		}
		b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	})
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			r, err := report.Build(ctx, d, report.Options{Days: 90, Now: now})
			if err != nil {
				b.Fatal(err)
			}
			if err := report.Render(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	})
	b.Run("refresh-year", func(b *testing.B) {
		for b.Loop() {
			if _, err := report.Refresh(ctx, d, time.Time{}, report.AnomalyOptions{Now: now}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	})
	b.Run("refresh-days", func(b *testing.B) {
		for b.Loop() {
			if _, err := report.Refresh(ctx, d, testNow.AddDate(0, 0, -3), report.AnomalyOptions{Now: now}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	})
}
