package duckdb_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// TestDuckDBReadsTheParquetBigQueryLoads reads a zstd file written by
// transforms.WriteParquet with DuckDB: types and exact values.
func TestDuckDBReadsTheParquetBigQueryLoads(t *testing.T) {
	n := transforms.NewNormalizer(transforms.Options{})
	defer n.Release()
	dec := func(v string) transforms.NullDecimal {
		d, err := transforms.ParseDecimal(v)
		if err != nil {
			t.Fatal(err)
		}
		return transforms.NullDecimal{Num: d, Valid: true}
	}
	asOf := time.Date(2026, 1, 6, 1, 2, 3, 456789000, time.UTC)
	for _, r := range []transforms.UsageRow{
		{Date: arrow.Date32FromTime(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)), AccountSID: "AC00000000000000000000000000000002", Category: "sms",
			Count: dec("12"), Usage: dec("12.5"), Price: dec("-0.00750"), Currency: "USD", AsOf: transforms.NullTimestamp{Micros: asOf.UnixMicro(), Valid: true}},
		{Date: arrow.Date32FromTime(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)), AccountSID: "AC00000000000000000000000000000001", Category: "totalprice",
			Price: dec("99999999999999999999999999999.999999999"), Currency: "USD"},
	} {
		n.AddUsageRow(r)
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
