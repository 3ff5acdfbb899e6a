package duckdb_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// TestDuckDBReadsTheParquetBigQueryLoads reads a zstd file written by
// transforms.WriteParquet with DuckDB: types and exact values.
func TestDuckDBReadsTheParquetBigQueryLoads(t *testing.T) {
	n := transforms.NewNormalizer(transforms.Options{})
	defer n.Release()
	for _, rec := range []string{
		`{"account_sid":"AC00000000000000000000000000000002","category":"sms","start_date":"2026-01-05","count":12,"usage":12.5,"price":-0.00750,"price_unit":"usd","as_of":"2026-01-06T01:02:03.456789Z"}`,
		`{"account_sid":"AC00000000000000000000000000000001","category":"totalprice","start_date":"1999-12-31","price":"99999999999999999999999999999.999999999","price_unit":"USD"}`,
	} {
		if _, err := n.Add(catalog.UsageRecords, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := n.Flush(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	rec := recs[transforms.UsageDaily]
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "usage.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := transforms.WriteParquet(f, rec.Schema(), []arrow.RecordBatch{rec}, transforms.ParquetOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	d, err := duckdb.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.DB().Query(`SELECT typeof(usage_date), typeof(price), typeof(as_of), typeof(_loaded_at),
		CAST(usage_date AS VARCHAR), account_sid, CAST(price AS VARCHAR), COALESCE(CAST(as_of AS VARCHAR), 'NULL'), CAST(_loaded_at AS VARCHAR)
		FROM read_parquet(?)`, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][]string
	for rows.Next() {
		row := make([]string, 9)
		ptrs := make([]any, len(row))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		got = append(got, row)
	}
	types := []string{"DATE", "DECIMAL(38,9)", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE"}
	want := [][]string{
		append(types, "2026-01-05", "AC00000000000000000000000000000002", "-0.007500000", "2026-01-06 01:02:03.456789+00", "2026-01-10 00:00:00+00"),
		append(types, "1999-12-31", "AC00000000000000000000000000000001", "99999999999999999999999999999.999999999", "NULL", "2026-01-10 00:00:00+00"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read by DuckDB (-want +got):\n%s", diff)
	}
}
