package integration_tests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// BenchmarkCostQueries builds the warehouse a user with a year of 20
// subaccounts has (`sync` of the emulator's 20 subaccounts × 365 days into
// DuckDB) and measures, on it:
//
//   - query latency in process, median of the iterations: the aggregate
//     of the cost table, `SELECT service_group, SUM(cost) FROM
//     twilio_cost_daily GROUP BY 1`, as a ratio of the same aggregate over
//     twilio_usage_daily (`category, SUM(price)`), the reference, measured
//     in the same run;
//   - the peak RSS of the commands people run, each its own process:
//     `twilio-elt query` of each aggregate, and `twilio-elt verify`.
//
// Results are in BENCHMARKS.md. The sync takes a while (the emulator
// serves every category every day, 4.9 M records): BENCH_COST_DB names a
// file to keep the warehouse in, built when missing, reused otherwise.
//
//	go test -run '^$' -bench CostQueries -benchtime 5x -timeout 60m ./integration_tests
func BenchmarkCostQueries(b *testing.B) {
	db := os.Getenv("BENCH_COST_DB")
	if db == "" {
		db = filepath.Join(b.TempDir(), "twilio.duckdb")
	}
	if _, err := os.Stat(db); err != nil {
		syncYear(b, db)
	}
	b.Logf("%d usage rows, %d cost rows", countRows(b, db, "SELECT COUNT(*) FROM twilio_usage_daily"), countRows(b, db, "SELECT COUNT(*) FROM twilio_cost_daily"))
	benchCostQueries(b, db)
}

// syncYear syncs the emulator's 20 subaccounts × 365 days into db.
func syncYear(b *testing.B, db string) {
	const subaccounts, days = 20, 365
	emu := twiliotest.NewTestServer(b, twiliotest.Options{Seed: 1, Subaccounts: subaccounts, Days: days, SIMs: 5})
	var cfg map[string]any
	if err := json.Unmarshal(emu.ConnectorConfig(emu.URL()), &cfg); err != nil {
		b.Fatal(err)
	}
	cfg["start_date"] = time.Now().UTC().AddDate(0, 0, -(days - 1)).Format(time.DateOnly)
	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if out, err := exec.Command(binary, "sync", "--config", cfgPath, "--path", db, "--raw=false").CombinedOutput(); err != nil {
		b.Fatalf("sync: %v\n%s", err, out)
	}
	b.Logf("synced %d subaccounts × %d days in %v", subaccounts, days, time.Since(start).Round(time.Second))
}

func benchCostQueries(b *testing.B, db string) {
	const (
		usageQuery = "SELECT category, SUM(price) FROM twilio_usage_daily GROUP BY 1"
		costQuery  = "SELECT service_group, SUM(cost) FROM twilio_cost_daily GROUP BY 1"
	)
	latency := map[string]time.Duration{}
	for _, q := range []struct{ name, sql string }{{"usage_aggregate_reference", usageQuery}, {"cost_aggregate", costQuery}} {
		b.Run("in_process/"+q.name, func(b *testing.B) {
			d, err := duckdb.OpenReadOnly(context.Background(), db)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			run := func() {
				res, err := d.Query(context.Background(), q.sql)
				if err != nil {
					b.Fatal(err)
				}
				defer res.Close()
				for res.Next() {
					if _, err := res.Row(); err != nil {
						b.Fatal(err)
					}
				}
				if err := res.Err(); err != nil {
					b.Fatal(err)
				}
			}
			run() // warm the cache
			var walls []time.Duration
			for b.Loop() {
				t0 := time.Now()
				run()
				walls = append(walls, time.Since(t0))
			}
			slices.Sort(walls)
			median := walls[len(walls)/2]
			latency[q.name] = median
			b.ReportMetric(float64(median.Microseconds())/1000, "median_ms")
			if ref := latency["usage_aggregate_reference"]; q.name != "usage_aggregate_reference" && ref > 0 {
				b.ReportMetric(float64(median)/float64(ref), "x_reference")
			}
		})
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"process/query_usage_aggregate", []string{"query", "--path", db, "--csv", usageQuery}},
		{"process/query_cost_aggregate", []string{"query", "--path", db, "--csv", costQuery}},
		{"process/verify", []string{"verify", "--path", db}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var walls []time.Duration
			var peak int64
			for b.Loop() {
				cmd := exec.Command(binary, c.args...)
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				rss := watchPeakRSS(cmd.Process.Pid)
				err := cmd.Wait()
				walls = append(walls, time.Since(start))
				peak = max(peak, rss())
				if err != nil {
					b.Fatalf("%v: %v", c.args, err)
				}
			}
			slices.Sort(walls)
			b.ReportMetric(walls[len(walls)/2].Seconds(), "median_wall_s")
			b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MiB")
		})
	}
}
