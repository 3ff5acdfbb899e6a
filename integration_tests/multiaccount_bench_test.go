package integration_tests

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

var (
	benchMainAccounts = flag.Int("multi-accounts", 50, "BenchmarkMultiAccountSync: main accounts")
	benchDays         = flag.Int("multi-days", 90, "BenchmarkMultiAccountSync: days of usage")
)

// BenchmarkMultiAccountSync measures one `twilio-elt sync` process given
// a folder of -multi-accounts configs (default 50), each a main account
// with 4 subaccounts and -multi-days days (default 90) of usage, served by
// its own emulator with Twilio's per-account concurrency limit (16) and
// 50 ms latency, into one DuckDB file. Its reference is the ideal where
// the accounts run in parallel: the account with the most requests, each
// taking the latency, 16 at a time. It reports wall time against it, the
// sequential ideal (every account's requests one account after another),
// requests, rows and peak RSS. Results are in BENCHMARKS.md.
//
//	go test -run '^$' -bench MultiAccountSync -benchtime 1x ./integration_tests [-multi-accounts 3 -multi-days 10]
func BenchmarkMultiAccountSync(b *testing.B) {
	const latency = 50 * time.Millisecond
	const concurrency = 16
	accounts, days := *benchMainAccounts, *benchDays
	b.Run(fmt.Sprintf("%d_main_accounts_x_4_subaccounts_x_%d_days", accounts, days), func(b *testing.B) {
		for b.Loop() {
			dir := b.TempDir()
			configs := filepath.Join(dir, "configs")
			if err := os.Mkdir(configs, 0o700); err != nil {
				b.Fatal(err)
			}
			emus := make([]*twiliotest.Server, accounts)
			for i := range emus {
				emus[i] = twiliotest.NewTestServer(b, twiliotest.Options{
					Seed: int64(i + 1), Subaccounts: 4, Days: days, Latency: latency, ConcurrencyLimit: concurrency,
				})
				var cfg map[string]any
				if err := json.Unmarshal(emus[i].ConnectorConfig(emus[i].URL()), &cfg); err != nil {
					b.Fatal(err)
				}
				cfg["max_concurrency"] = concurrency
				cfg["start_date"] = time.Now().UTC().AddDate(0, 0, -(days - 1)).Format(time.DateOnly)
				data, err := json.Marshal(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := writeFileErr(filepath.Join(configs, fmt.Sprintf("account%03d.json", i)), data); err != nil {
					b.Fatal(err)
				}
			}
			sync := exec.Command(binary, "sync", "--config", configs, "--path", filepath.Join(dir, "twilio.duckdb"),
				"--max-requests", fmt.Sprint(accounts*concurrency))
			var stderr bytes.Buffer
			sync.Stderr = &stderr
			start := time.Now()
			if err := sync.Start(); err != nil {
				b.Fatal(err)
			}
			peak := watchPeakRSS(sync.Process.Pid)
			err := sync.Wait()
			elapsed := time.Since(start)
			rss := peak()
			if err != nil {
				b.Fatalf("sync: %v\n%s", err, stderr.Bytes())
			}
			var most, total int
			for _, e := range emus {
				n := len(e.Requests())
				total += n
				most = max(most, n)
			}
			ideal := time.Duration(most) * latency / concurrency
			sequential := time.Duration(total) * latency / concurrency
			b.ReportMetric(elapsed.Seconds(), "wall_s")
			b.ReportMetric(ideal.Seconds(), "ideal_s")
			b.ReportMetric(elapsed.Seconds()/ideal.Seconds(), "x_ideal")
			b.ReportMetric(sequential.Seconds(), "sequential_ideal_s")
			b.ReportMetric(float64(total), "requests")
			b.ReportMetric(float64(rss)/(1<<20), "peak_rss_MiB")
		}
	})
}
