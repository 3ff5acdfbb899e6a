package integration_tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
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
				stdout, err := read.StdoutPipe()
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := read.Start(); err != nil {
					b.Fatal(err)
				}
				peak := watchPeakRSS(read.Process.Pid)
				records, requests, lastLines := countOutput(stdout)
				err = read.Wait()
				elapsed := time.Since(start)
				rss := peak()
				emu.Process.Kill()
				emu.Wait()
				if err != nil || requests == 0 {
					b.Fatalf("read: %v (requests logged: %d)\n%s", err, requests, lastLines)
				}
				ideal := time.Duration(requests) * latency / concurrency
				b.ReportMetric(elapsed.Seconds(), "wall_s")
				b.ReportMetric(ideal.Seconds(), "ideal_s")
				b.ReportMetric(elapsed.Seconds()/ideal.Seconds(), "x_ideal")
				b.ReportMetric(float64(requests), "requests")
				b.ReportMetric(float64(records), "records")
				b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
				b.ReportMetric(float64(rss)/(1<<20), "peak_rss_MiB")
			}
		})
	}
}

var requestsPattern = regexp.MustCompile(`read finished requests=(\d+)`)

// countOutput reads a read's stdout as it comes, without keeping it: the
// records, the requests its closing log line reports, and its last lines.
// It reads large chunks and looks only at line starts, so it takes as little
// as it can of the CPU it shares with the read.
func countOutput(r io.Reader) (records, requests int, last string) {
	recordStart := []byte(`{"type":"RECORD",`)
	buf := make([]byte, 4<<20)
	var pending []byte // a line not yet ended
	var tail []string
	for {
		n, err := r.Read(buf)
		chunk := buf[:n]
		if len(pending) > 0 {
			chunk = append(pending, chunk...)
		}
		for {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				break
			}
			line := chunk[:i]
			chunk = chunk[i+1:]
			if bytes.HasPrefix(line, recordStart) {
				records++
				continue
			}
			if m := requestsPattern.FindSubmatch(line); m != nil {
				requests, _ = strconv.Atoi(string(m[1]))
			}
			tail = append(tail, string(line))
			if len(tail) > 5 {
				tail = tail[1:]
			}
		}
		pending = append(pending[:0:0], chunk...)
		if err != nil {
			return records, requests, strings.Join(tail, "\n")
		}
	}
}

// watchPeakRSS samples the high-water mark of pid's resident memory
// (VmHWM, which the kernel keeps for the process since its exec) until the
// returned function is called; it returns the last value seen, in bytes.
// The child's rusage cannot be used: under vfork it counts the parent's
// memory too.
func watchPeakRSS(pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				if m := hwmPattern.FindSubmatch(status); m != nil {
					kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
					peak.Store(max(peak.Load(), kb<<10))
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

var hwmPattern = regexp.MustCompile(`VmHWM:\s+(\d+) kB`)

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
