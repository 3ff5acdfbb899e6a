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

// BenchmarkLoad loads 100k usage records from Airbyte messages into
// DuckDB in process (for profiles; integration_tests has the 5M-row
// benchmark of the binary).
func BenchmarkLoad(b *testing.B) {
	var in bytes.Buffer
	first := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for a := 0; n < 100_000; a++ {
		sid := fmt.Sprintf("AC%032x", a+1)
		for d := 0; d < 40; d++ {
			day := first.AddDate(0, 0, d).Format(time.DateOnly)
			for c := 0; c < 250; c++ {
				fmt.Fprintf(&in, `{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":"%s","category":"category-%03d","description":"Category %d","start_date":"%s","end_date":"%s","count":%d,"count_unit":"messages","usage":%d,"usage_unit":"messages","price":%d.%05d,"price_unit":"usd","as_of":"2026-01-01T00:00:00Z","uri":"/x"},"emitted_at":1767225600000}}`+"\n",
					sid, c, c, day, day, c+1, c+1, c%97, c*13+1)
				n++
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
		if _, err := pipeline.Load(context.Background(), bytes.NewReader(data), d, pipeline.Options{}); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
