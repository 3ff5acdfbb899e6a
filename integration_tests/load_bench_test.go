package integration_tests

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// BenchmarkLoadDuckDB loads a file of Airbyte messages holding
// BENCH_LOAD_ROWS usage records (default 5 million, none of them zero)
// into DuckDB with `twilio-elt load`, as its own process, cost tables
// built, and compares it with DuckDB's own read_json of the same file into
// a typed table (see readJSONReference), measured first in the same run:
// each load reports its rows/s as a ratio of the reference's. Results are
// in BENCHMARKS.md.
//
//	go test -run '^$' -bench LoadDuckDB -benchtime 1x -timeout 60m ./integration_tests
func BenchmarkLoadDuckDB(b *testing.B) {
	rows := 5_000_000
	if s := os.Getenv("BENCH_LOAD_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	// BENCH_LOAD_FILE keeps the messages between runs: written when
	// missing, reused otherwise.
	messages := os.Getenv("BENCH_LOAD_FILE")
	if messages == "" {
		messages = filepath.Join(b.TempDir(), "messages.jsonl")
	}
	var size int64
	if fi, err := os.Stat(messages); err == nil {
		size = fi.Size()
	} else {
		size = writeUsageMessages(b, messages, rows)
	}
	b.Logf("%d usage records, %.0f MiB of messages", rows, float64(size)/(1<<20))

	// The references first, so each load reports its ratio to them.
	refs := map[string]float64{}
	for _, ref := range []struct {
		name     string
		settings []string
	}{
		// DuckDB as it comes: its own read_json, the reference.
		{"duckdb_read_json_reference", []string{"SET TimeZone = 'UTC'"}},
		// The same with the settings the loader gives DuckDB.
		{"duckdb_read_json_with_loader_settings", nil},
	} {
		b.Run(ref.name, func(b *testing.B) {
			for b.Loop() {
				rate, rss := readJSONReference(b, messages, rows, ref.settings)
				refs[ref.name] = rate
				b.ReportMetric(float64(rows)/rate, "wall_s")
				b.ReportMetric(rate, "rows/s")
				b.ReportMetric(float64(rss)/(1<<20), "peak_rss_MiB")
			}
		})
	}
	// The last load's database and commits, for the DuckDB floor below
	// (in the parent's folder: a sub-benchmark's goes with it).
	keep := b.TempDir()
	var loaded string
	var commits int
	for _, variant := range []struct {
		name string
		args []string
	}{
		{"twilio-elt_load", nil},
		{"twilio-elt_load_without_raw_archive", []string{"--raw=false"}},
	} {
		b.Run(variant.name, func(b *testing.B) {
			for b.Loop() {
				db := filepath.Join(keep, variant.name+".duckdb")
				os.Remove(db)
				os.Remove(db + ".wal")
				in, err := os.Open(messages)
				if err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(binary, append([]string{"load", "--path", db}, variant.args...)...)
				cmd.Stdin = in
				var stderr bytes.Buffer
				cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				peak := watchPeakRSS(cmd.Process.Pid)
				err = cmd.Wait()
				elapsed := time.Since(start)
				rss := peak()
				in.Close()
				if err != nil {
					b.Fatalf("load: %v", err)
				}
				if got := countRows(b, db, "SELECT COUNT(*) FROM twilio_usage_daily"); got != int64(rows) {
					b.Fatalf("loaded %d rows, want %d", got, rows)
				}
				m := regexp.MustCompile(`commits=(\d+)`).FindSubmatch(stderr.Bytes())
				if m == nil {
					b.Fatal("load did not log its commits")
				}
				loaded, commits = db, atoi(b, string(m[1]))
				if got := countRows(b, db, "SELECT COUNT(*) FROM twilio_reconciliation"); got == 0 {
					b.Fatal("no cost model built")
				}
				rate := float64(rows) / elapsed.Seconds()
				b.ReportMetric(elapsed.Seconds(), "wall_s")
				b.ReportMetric(rate, "rows/s")
				b.ReportMetric(float64(rss)/(1<<20), "peak_rss_MiB")
				if r := refs["duckdb_read_json_reference"]; r > 0 {
					b.ReportMetric(rate/r, "x_read_json")
				}
				if r := refs["duckdb_read_json_with_loader_settings"]; r > 0 {
					b.ReportMetric(rate/r, "x_read_json_tuned")
				}
			}
		})
	}
	// DuckDB's own share of the load: the rows the load stored, inserted
	// again by DuckDB alone in as many transactions as the load committed
	// (from Parquet slices written beforehand), with the loader's settings.
	// No decoding, no validation, no cost model, no staging: the floor of
	// any load that commits the same rows as often.
	b.Run("duckdb_insert_of_the_loaded_rows_in_as_many_commits", func(b *testing.B) {
		if loaded == "" {
			b.Skip("no load ran")
		}
		for b.Loop() {
			elapsed := insertFloor(b, loaded, commits)
			rate := float64(rows) / elapsed.Seconds()
			b.ReportMetric(elapsed.Seconds(), "wall_s")
			b.ReportMetric(rate, "rows/s")
			if r := refs["duckdb_read_json_reference"]; r > 0 {
				b.ReportMetric(rate/r, "x_read_json")
			}
		}
	})
}

// insertFloor copies the usage and cost tables of the DuckDB file loaded
// into commits Parquet slices each, then times DuckDB inserting them into
// a new file (opened as the loader opens it), one transaction per slice,
// and closing it.
func insertFloor(b *testing.B, loaded string, commits int) time.Duration {
	b.Helper()
	dir := b.TempDir()
	tables := []string{"twilio_usage_daily", "twilio_cost_daily"}
	d, err := duckdb.Open(context.Background(), filepath.Join(dir, "floor.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	db := d.DB()
	exec := func(q string) {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	exec(fmt.Sprintf("ATTACH '%s' AS loaded (READ_ONLY)", loaded))
	want := map[string]int64{}
	for _, t := range tables {
		exec(fmt.Sprintf("CREATE TABLE %s AS FROM loaded.%s LIMIT 0", t, t))
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM loaded." + t).Scan(&n); err != nil {
			b.Fatal(err)
		}
		want[t] = int64(n)
		per := (n + commits - 1) / commits
		exec(fmt.Sprintf("COPY (SELECT * FROM loaded.%s ORDER BY rowid) TO '%s' (FORMAT parquet, PER_THREAD_OUTPUT false)", t, filepath.Join(dir, t+".parquet")))
		for i := range commits {
			exec(fmt.Sprintf("COPY (FROM '%s' LIMIT %d OFFSET %d) TO '%s' (FORMAT parquet)",
				filepath.Join(dir, t+".parquet"), per, i*per, filepath.Join(dir, fmt.Sprintf("%s-%d.parquet", t, i))))
		}
	}
	exec("DETACH loaded")
	exec("CHECKPOINT")
	start := time.Now()
	for i := range commits {
		exec("BEGIN TRANSACTION")
		for _, t := range tables {
			exec(fmt.Sprintf("INSERT INTO %s FROM '%s'", t, filepath.Join(dir, fmt.Sprintf("%s-%d.parquet", t, i))))
		}
		exec("COMMIT")
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	for _, t := range tables {
		if got := countRows(b, filepath.Join(dir, "floor.duckdb"), "SELECT COUNT(*) FROM "+t); got != want[t] {
			b.Fatalf("the floor inserted %d rows into %s, want %d", got, t, want[t])
		}
	}
	return elapsed
}

func atoi(b *testing.B, s string) int {
	b.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// readJSONReference loads the messages' usage records with DuckDB's own
// read_json into a typed table, in this process, and returns rows/s and
// the peak RSS. settings nil opens the database as the loader does
// (duckdb.Open); otherwise DuckDB as it comes, with settings run first.
// The reference does none of the loader's work: no per-record validation
// with stream and key in errors, no replace groups, no state, no cost
// model, no raw archive.
func readJSONReference(b *testing.B, messages string, rows int, settings []string) (float64, int64) {
	path := filepath.Join(b.TempDir(), "ref.duckdb")
	var db *sql.DB
	if settings == nil {
		d, err := duckdb.Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		db = d.DB()
	} else {
		var err error
		if db, err = sql.Open("duckdb", path); err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		for _, q := range settings {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
	}
	start := time.Now()
	peak := watchPeakRSS(os.Getpid())
	_, err := db.Exec(`CREATE TABLE usage AS
		SELECT CAST(record.data.start_date AS DATE) AS usage_date, record.data.account_sid AS account_sid,
		       record.data.category AS category, record.data.description AS description,
		       CAST(record.data.count AS DECIMAL(38,9)) AS count, record.data.count_unit AS count_unit,
		       CAST(record.data.usage AS DECIMAL(38,9)) AS usage, record.data.usage_unit AS usage_unit,
		       CAST(record.data.price AS DECIMAL(38,9)) AS price, upper(record.data.price_unit) AS currency,
		       CAST(record.data.as_of AS TIMESTAMPTZ) AS as_of, now() AS _loaded_at
		FROM read_json(?, format = 'newline_delimited', columns = {
			type: 'VARCHAR',
			record: 'STRUCT(stream VARCHAR, emitted_at BIGINT, data STRUCT(account_sid VARCHAR, category VARCHAR, description VARCHAR, start_date VARCHAR, count VARCHAR, count_unit VARCHAR, usage VARCHAR, usage_unit VARCHAR, price VARCHAR, price_unit VARCHAR, as_of VARCHAR))'
		})
		WHERE type = 'RECORD' AND record.stream = 'usage_records'`, messages)
	elapsed := time.Since(start)
	rss := peak()
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	if err := db.QueryRow("SELECT COUNT(*) FROM usage").Scan(&n); err != nil || n != int64(rows) {
		b.Fatalf("read_json loaded %d rows (%v), want %d", n, err, rows)
	}
	return float64(rows) / elapsed.Seconds(), rss
}

func countRows(b *testing.B, db, q string) int64 {
	b.Helper()
	d, err := duckdb.Open(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var n int64
	if err := d.DB().QueryRow(q).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// writeUsageMessages writes rows usage records the way `twilio-elt read`
// does, with a STATE after every account's 31-day window, and returns the
// file's size. Prices are exact decimals, all non-zero.
func writeUsageMessages(b *testing.B, path string, rows int) int64 {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const categories, accounts = 250, 50
	days := (rows + categories*accounts - 1) / (categories * accounts)
	first := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for a := 0; a < accounts && n < rows; a++ {
		sid := fmt.Sprintf("AC%032x", a+1)
		for d := 0; d < days && n < rows; d++ {
			day := first.AddDate(0, 0, d).Format(time.DateOnly)
			for c := 0; c < categories && n < rows; c++ {
				price := fmt.Sprintf("%d.%05d", (a*7+d*3+c)%97, (a*31+d*17+c*13)%100000+1)
				fmt.Fprintf(w, `{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":"%s","category":"category-%03d","description":"Category %d","start_date":"%s","end_date":"%s","count":%d,"count_unit":"messages","usage":%d,"usage_unit":"messages","price":%s,"price_unit":"usd","as_of":"2026-01-01T00:00:00Z","uri":"/2010-04-01/Accounts/%s/Usage/Records/Daily.json"},"emitted_at":1767225600000}}`+"\n",
					sid, c, c, day, day, c+1, c+1, price, sid)
				n++
			}
			if (d+1)%31 == 0 || d == days-1 {
				fmt.Fprintf(w, `{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{"states":[{"partition":{"account_sid":"%s"},"cursor":{"start_date":"%s"}}]}},"sourceStats":{"recordCount":1.0}}}`+"\n", sid, day)
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	fi, _ := f.Stat()
	f.Close()
	return fi.Size()
}
