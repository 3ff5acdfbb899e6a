package transforms

import (
	"bytes"
	"math/big"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
)

const (
	mainSID = "AC00000000000000000000000000000001"
	subSID  = "AC00000000000000000000000000000002"
)

// testUsageRows are the usage rows of the Parquet tests: a negative price,
// the largest DECIMAL(38, 9), NULLs.
func testUsageRows(t testing.TB) []UsageRow {
	t.Helper()
	dec := func(s string) NullDecimal {
		n, err := ParseDecimal(s)
		if err != nil {
			t.Fatal(err)
		}
		return NullDecimal{Num: n, Valid: true}
	}
	day := func(s string) arrow.Date32 {
		d, _ := time.Parse(time.DateOnly, s)
		return arrow.Date32FromTime(d)
	}
	asOf := time.Date(2026, 1, 6, 1, 2, 3, 456789000, time.UTC)
	return []UsageRow{
		{Date: day("2026-01-05"), AccountSID: subSID, BillingAccountSID: mainSID, Category: "sms",
			Description: NullString{"SMS", true}, Count: dec("12"), CountUnit: NullString{"messages", true},
			Usage: dec("12.5"), UsageUnit: NullString{"messages", true}, Price: dec("-0.00750"), Currency: "USD",
			AsOf: NullTimestamp{asOf.UnixMicro(), true}},
		{Date: day("1999-12-31"), AccountSID: mainSID, BillingAccountSID: mainSID, Category: "totalprice",
			Price: dec("99999999999999999999999999999.999999999"), Currency: "USD"},
	}
}

// usageParquet returns a Parquet file of usage rows written by WriteParquet.
func usageParquet(t *testing.T) []byte {
	t.Helper()
	b := NewRowBuilder(nil, UsageTable.Columns)
	defer b.Release()
	rows := testUsageRows(t)
	for i := range rows {
		b.Append(&rows[i])
	}
	rec := b.Flush(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	defer rec.Release()
	var buf bytes.Buffer
	if err := WriteParquet(&buf, rec.Schema(), []arrow.RecordBatch{rec}, ParquetOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParquetReadByParquetGo reads what pqarrow wrote with an independent
// reader: the logical types BigQuery maps to DATE, TIMESTAMP and NUMERIC,
// and exact values.
func TestParquetReadByParquetGo(t *testing.T) {
	data := usageParquet(t)
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, field := range f.Schema().Fields() {
		lt := field.Type().LogicalType()
		if lt != nil {
			types[field.Name()] = lt.String()
		}
	}
	wantTypes := map[string]string{
		"usage_date": "DATE",
		"price":      "DECIMAL(38,9)",
		"count":      "DECIMAL(38,9)",
		"usage":      "DECIMAL(38,9)",
		"as_of":      "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"_loaded_at": "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
	}
	for name, want := range wantTypes {
		if types[name] != want {
			t.Errorf("column %s has logical type %q, want %q", name, types[name], want)
		}
	}

	r := parquet.NewReader(bytes.NewReader(data))
	defer r.Close()
	cols := map[string]int{}
	for i, field := range r.Schema().Fields() {
		cols[field.Name()] = i
	}
	var got [][]string
	for {
		row := make([]parquet.Row, 1)
		n, _ := r.ReadRows(row)
		if n == 0 {
			break
		}
		vals := map[int]parquet.Value{}
		for _, v := range row[0] {
			vals[v.Column()] = v
		}
		date := vals[cols["usage_date"]]
		price := vals[cols["price"]]
		asOf := vals[cols["as_of"]]
		line := []string{
			time.Unix(int64(date.Int32())*86400, 0).UTC().Format(time.DateOnly),
			string(vals[cols["account_sid"]].ByteArray()),
			decimalText(price.ByteArray()),
		}
		if asOf.IsNull() {
			line = append(line, "NULL")
		} else {
			line = append(line, time.UnixMicro(asOf.Int64()).UTC().Format(time.RFC3339Nano))
		}
		got = append(got, line)
	}
	want := [][]string{
		{"2026-01-05", subSID, "-0.007500000", "2026-01-06T01:02:03.456789Z"},
		{"1999-12-31", mainSID, "99999999999999999999999999999.999999999", "NULL"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values read by parquet-go (-want +got):\n%s", diff)
	}
}

// decimalText decodes a big-endian two's complement DECIMAL(38, 9).
func decimalText(b []byte) string {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	r := new(big.Rat).SetFrac(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(9), nil))
	return r.FloatString(9)
}
