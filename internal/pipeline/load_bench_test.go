package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// BenchmarkLoad loads 300k usage records from Airbyte messages into
// DuckDB in process, with a STATE after every 31-day window and a commit
// at most once a second, as `twilio-elt load` does (for profiles;
// integration_tests has the 1M- and 5M-row benchmarks of the binary).
func BenchmarkLoad(b *testing.B) {
	var in bytes.Buffer
	first := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for a := 0; n < 300_000; a++ {
		sid := fmt.Sprintf("AC%032x", a+1)
		for d := 0; d < 40; d++ {
			day := first.AddDate(0, 0, d).Format(time.DateOnly)
			for c := 0; c < 250; c++ {
				fmt.Fprintf(&in, `{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":"%s","category":"category-%03d","description":"Category %d","start_date":"%s","end_date":"%s","count":%d,"count_unit":"messages","usage":%d,"usage_unit":"messages","price":%d.%05d,"price_unit":"usd","as_of":"2026-01-01T00:00:00Z","uri":"/x"},"emitted_at":1767225600000}}`+"\n",
					sid, c, c, day, day, c+1, c+1, c%97, c*13+1)
				n++
			}
			if (d+1)%31 == 0 || d == 39 {
				fmt.Fprintf(&in, `{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{"states":[{"partition":{"account_sid":"%s"},"cursor":{"start_date":"%s"}}]}}}}`+"\n", sid, day)
			}
		}
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d, err := duckdb.Open(context.Background(), filepath.Join(b.TempDir(), "b.duckdb"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pipeline.Load(context.Background(), bytes.NewReader(data), d, pipeline.Options{CommitInterval: time.Second}); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
