package integration_tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSuperSIM measures a Super SIM backfill, 10,000 Super SIMs ×
// 30 days by default (BENCH_SUPER_SIMS changes the fleet), against the
// emulator as a separate process with 50 ms of latency a request and
// Twilio's concurrency limit:
//
//   - read: `twilio-elt read` of super_sims and super_sim_usage_records
//     into a file: wall time, requests, the ideal (requests × latency ÷
//     concurrency) and records/s. The requests do not grow with the fleet
//     beyond its pages (1000 SIM-days each).
//   - load: `twilio-elt load` of that file into DuckDB: wall time and
//     rows/s.
//
// Results are in BENCHMARKS.md.
//
//	go test -run '^$' -bench SuperSIM -benchtime 1x ./integration_tests
func BenchmarkSuperSIM(b *testing.B) {
	const latency = 50 * time.Millisecond
	const concurrency = 16
	const days = 30
	sims := 10_000
	if s := os.Getenv("BENCH_SUPER_SIMS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		sims = n
	}
	dir := b.TempDir()
	messages := filepath.Join(dir, "messages.jsonl")
	var records int

	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			emu := exec.Command(binary, "emulator", "--addr", "127.0.0.1:0", "--subaccounts", "0", "--days", strconv.Itoa(days),
				"--sims", "0", "--super-sims", strconv.Itoa(sims), "--latency", latency.String(), "--concurrency-limit", strconv.Itoa(concurrency))
			out, err := emu.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := emu.Start(); err != nil {
				b.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadBytes('\n')
			if err != nil {
				b.Fatalf("emulator: %v", err)
			}
			var cfg map[string]any
			if err := json.Unmarshal(line, &cfg); err != nil {
				b.Fatal(err)
			}
			cfg["max_concurrency"] = concurrency
			cfg["start_date"] = time.Now().UTC().AddDate(0, 0, -(days - 1)).Format(time.DateOnly)
			cat := `{"streams":[{"stream":{"name":"super_sims"},"sync_mode":"full_refresh","destination_sync_mode":"overwrite"},` +
				`{"stream":{"name":"super_sim_usage_records"},"sync_mode":"incremental","destination_sync_mode":"append_dedup"}]}`
			f, err := os.Create(messages)
			if err != nil {
				b.Fatal(err)
			}
			read := exec.Command(binary, "read", "--config", writeJSONB(b, cfg), "--catalog", writeFileB(b, []byte(cat)))
			var stderr bytes.Buffer
			read.Stdout, read.Stderr = f, &stderr
			start := time.Now()
			err = read.Run()
			elapsed := time.Since(start)
			f.Close()
			emu.Process.Kill()
			emu.Wait()
			in, ferr := os.Open(messages)
			if ferr != nil {
				b.Fatal(ferr)
			}
			var requests int
			records, requests, _ = countOutput(in) // the requests are in the closing LOG message
			in.Close()
			if err != nil || requests == 0 || records == 0 {
				b.Fatalf("read: %v (requests %d, records %d)\n%s", err, requests, records, stderr.Bytes())
			}
			ideal := time.Duration(requests) * latency / concurrency
			b.ReportMetric(elapsed.Seconds(), "wall_s")
			b.ReportMetric(ideal.Seconds(), "ideal_s")
			b.ReportMetric(elapsed.Seconds()/ideal.Seconds(), "x_ideal")
			b.ReportMetric(float64(requests), "requests")
			b.ReportMetric(float64(records), "records")
			b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
		}
	})

	b.Run("load", func(b *testing.B) {
		if records == 0 {
			b.Skip("the read did not run")
		}
		for b.Loop() {
			db := filepath.Join(b.TempDir(), "supersim.duckdb")
			in, err := os.Open(messages)
			if err != nil {
				b.Fatal(err)
			}
			load := exec.Command(binary, "load", "--path", db, "--raw=false")
			var stderr bytes.Buffer
			load.Stdin, load.Stdout, load.Stderr = in, nil, &stderr
			start := time.Now()
			err = load.Run()
			elapsed := time.Since(start)
			in.Close()
			if err != nil {
				b.Fatalf("load: %v\n%s", err, stderr.Bytes())
			}
			b.ReportMetric(elapsed.Seconds(), "wall_s")
			b.ReportMetric(float64(records), "rows")
			b.ReportMetric(float64(records)/elapsed.Seconds(), "rows/s")
		}
	})
}
