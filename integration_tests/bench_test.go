package integration_tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBackfill measures a whole `twilio-elt read` process against the
// emulator, run as a separate process with a fixed latency per request
// and Twilio's concurrency limit, so the read's peak memory is its own.
// It reports wall time, requests, records/s, peak RSS and the ideal time
// (requests × latency ÷ concurrency). Results are in BENCHMARKS.md.
//
//	go test -run '^$' -bench Backfill -benchtime 1x ./integration_tests
func BenchmarkBackfill(b *testing.B) {
	const latency = 50 * time.Millisecond
	const concurrency = 16
	for _, sc := range []struct {
		name                    string
		subaccounts, days, sims int
		stream                  string
	}{
		{"usage_records/100_accounts_x_90_days", 99, 90, 0, "usage_records"},
		{"usage_records/200_accounts_x_90_days", 199, 90, 0, "usage_records"},
		{"sim_usage_records/5000_sims_x_30_days", 0, 30, 5000, "sim_usage_records"},
	} {
		b.Run(sc.name, func(b *testing.B) {
			for b.Loop() {
				emu := exec.Command(binary, "emulator", "--addr", "127.0.0.1:0",
					"--subaccounts", strconv.Itoa(sc.subaccounts), "--days", strconv.Itoa(sc.days), "--sims", strconv.Itoa(sc.sims),
					"--latency", latency.String(), "--concurrency-limit", strconv.Itoa(concurrency))
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
				cfg["start_date"] = time.Now().UTC().AddDate(0, 0, -(sc.days - 1)).Format(time.DateOnly)
				cat := fmt.Sprintf(`{"streams":[{"stream":{"name":%q},"sync_mode":"full_refresh","destination_sync_mode":"overwrite"}]}`, sc.stream)
				read := exec.Command(binary, "read", "--config", writeJSONB(b, cfg), "--catalog", writeFileB(b, []byte(cat)))
				var stdout bytes.Buffer
				read.Stdout = &stdout
				start := time.Now()
				err = read.Run()
				elapsed := time.Since(start)
				emu.Process.Kill()
				emu.Wait()
				if err != nil {
					b.Fatalf("read: %v\n%s", err, tail(stdout.Bytes()))
				}
				records := bytes.Count(stdout.Bytes(), []byte(`"type":"RECORD"`))
				requests := requestsLogged(b, stdout.Bytes())
				ideal := time.Duration(requests) * latency / concurrency
				rss := read.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
				b.ReportMetric(elapsed.Seconds(), "wall_s")
				b.ReportMetric(ideal.Seconds(), "ideal_s")
				b.ReportMetric(elapsed.Seconds()/ideal.Seconds(), "x_ideal")
				b.ReportMetric(float64(requests), "requests")
				b.ReportMetric(float64(records), "records")
				b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
				b.ReportMetric(float64(rss)/1024, "peak_rss_MiB")
			}
		})
	}
}

var requestsPattern = regexp.MustCompile(`read finished requests=(\d+)`)

func requestsLogged(b *testing.B, stdout []byte) int {
	m := requestsPattern.FindSubmatch(stdout)
	if m == nil {
		b.Fatalf("no request count in the read's log:\n%s", tail(stdout))
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

func writeJSONB(b *testing.B, v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return writeFileB(b, data)
}

func writeFileB(b *testing.B, data []byte) string {
	b.Helper()
	path := b.TempDir() + "/f.json"
	if err := writeFileErr(path, data); err != nil {
		b.Fatal(err)
	}
	return path
}
