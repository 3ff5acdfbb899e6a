package bigquery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// moneyRows covers NUMERIC's extremes and values a float would change.
var moneyRows = []usageRow{
	{Date: "2025-03-01", Account: "AC1", Category: "max", Count: 1, Price: "99999999999999999999999999999.999999999", AsOf: "2025-03-02T00:00:00.000001Z"},
	{Date: "1970-01-01", Account: "AC1", Category: "min", Count: 2, Price: "-99999999999999999999999999999.999999999", AsOf: "1970-01-01T00:00:00Z"},
	{Date: "2024-02-29", Account: "AC2", Category: "tiny", Count: 3, Price: "-0.000000001", AsOf: "2024-02-29T23:59:59.999999Z"},
	{Date: "2025-12-31", Account: "AC2", Category: "float-trap", Count: 4, Price: "0.300000000"},
	{Date: "2025-12-31", Account: "AC\"quoted\"", Category: "null price", Count: 5},
}

func TestWriteParquetTypesAndExactValues(t *testing.T) {
	var buf bytes.Buffer
	if err := writeParquet(&buf, usageRecord(t, moneyRows...)); err != nil {
		t.Fatalf("writeParquet: %v", err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("parquet-go cannot open the file: %v", err)
	}

	gotTypes := map[string]string{}
	for _, field := range f.Schema().Fields() {
		lt := ""
		if l := field.Type().LogicalType(); l != nil {
			lt = l.String()
		}
		gotTypes[field.Name()] = lt
	}
	wantTypes := map[string]string{
		"usage_date":  "DATE",
		"account_sid": "STRING",
		"category":    "STRING",
		"count":       "INT(64,true)",
		"price":       "DECIMAL(38,9)",
		"as_of":       "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		seqCol:        "INT(64,true)",
	}
	if diff := cmp.Diff(wantTypes, gotTypes); diff != "" {
		t.Errorf("parquet logical types (-want +got):\n%s", diff)
	}

	cols := f.Schema().Columns()
	var got []usageRow
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 16)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				got = append(got, parquetUsageRow(t, cols, row))
			}
			if err != nil {
				break
			}
		}
		rows.Close()
	}
	if diff := cmp.Diff(moneyRows, got); diff != "" {
		t.Errorf("rows read back by parquet-go (-want +got):\n%s", diff)
	}
}

// parquetUsageRow decodes a row as parquet-go reads it, by the physical
// encodings the logical types define: DATE days since the epoch,
// TIMESTAMP(MICROS) µs since the epoch, DECIMAL big-endian two's
// complement unscaled integers.
func parquetUsageRow(t *testing.T, cols [][]string, row parquet.Row) usageRow {
	t.Helper()
	var r usageRow
	for _, v := range row {
		if v.IsNull() {
			continue
		}
		switch strings.Join(cols[v.Column()], ".") {
		case "usage_date":
			r.Date = time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly)
		case "account_sid":
			r.Account = string(v.ByteArray())
		case "category":
			r.Category = string(v.ByteArray())
		case "count":
			r.Count = v.Int64()
		case "price":
			r.Price = decimalText(v.ByteArray(), 9)
		case "as_of":
			r.AsOf = time.UnixMicro(v.Int64()).UTC().Format(time.RFC3339Nano)
		}
	}
	return r
}

// decimalText is the decimal text of a big-endian two's complement
// unscaled integer with the scale.
func decimalText(b []byte, scale int) string {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)))
	}
	return new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)).FloatString(scale)
}

func TestWriteParquetMarksTimestampsUTCInMicros(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	at := time.Date(2025, 3, 1, 12, 30, 45, 123456000, time.UTC)
	b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixNano()))
	rec := b.NewRecordBatch()
	defer rec.Release()

	var buf bytes.Buffer
	if err := writeParquet(&buf, rec); err != nil {
		t.Fatalf("writeParquet: %v", err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Schema().Fields()[0].Type().LogicalType().String(), "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"; got != want {
		t.Errorf("logical type = %s, want %s (a zone-less timestamp would load as DATETIME)", got, want)
	}
	rows := make([]parquet.Row, 1)
	n, _ := f.RowGroups()[0].Rows().ReadRows(rows)
	if n != 1 {
		t.Fatalf("read %d rows, want 1", n)
	}
	if got := time.UnixMicro(rows[0][0].Int64()).UTC(); !got.Equal(at) {
		t.Errorf("timestamp = %s, want %s", got, at)
	}
}

func TestWriteNDJSONKeepsDecimalText(t *testing.T) {
	var buf bytes.Buffer
	if err := writeNDJSON(&buf, usageRecord(t, moneyRows...)); err != nil {
		t.Fatalf("writeNDJSON: %v", err)
	}
	want := strings.Join([]string{
		`{"usage_date":"2025-03-01","account_sid":"AC1","category":"max","count":1,"price":"99999999999999999999999999999.999999999","as_of":"2025-03-02T00:00:00.000001Z","_twilio_elt_seq":0}`,
		`{"usage_date":"1970-01-01","account_sid":"AC1","category":"min","count":2,"price":"-99999999999999999999999999999.999999999","as_of":"1970-01-01T00:00:00.000000Z","_twilio_elt_seq":1}`,
		`{"usage_date":"2024-02-29","account_sid":"AC2","category":"tiny","count":3,"price":"-0.000000001","as_of":"2024-02-29T23:59:59.999999Z","_twilio_elt_seq":2}`,
		`{"usage_date":"2025-12-31","account_sid":"AC2","category":"float-trap","count":4,"price":"0.300000000","as_of":null,"_twilio_elt_seq":3}`,
		`{"usage_date":"2025-12-31","account_sid":"AC\"quoted\"","category":"null price","count":5,"price":null,"as_of":null,"_twilio_elt_seq":4}`,
	}, "\n") + "\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("NDJSON (-want +got):\n%s", diff)
	}
}

func TestTableMetadata(t *testing.T) {
	md, err := tableMetadata(usageTable)
	if err != nil {
		t.Fatal(err)
	}
	type col struct {
		Name, Type       string
		Required         bool
		Precision, Scale int64
	}
	var got []col
	for _, f := range md.Schema {
		got = append(got, col{f.Name, string(f.Type), f.Required, f.Precision, f.Scale})
	}
	want := []col{
		{Name: "usage_date", Type: "DATE", Required: true},
		{Name: "account_sid", Type: "STRING", Required: true},
		{Name: "category", Type: "STRING", Required: true},
		{Name: "count", Type: "INTEGER"},
		{Name: "price", Type: "NUMERIC", Precision: 38, Scale: 9},
		{Name: "as_of", Type: "TIMESTAMP"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: "usage_date"}, md.TimePartitioning); diff != "" {
		t.Errorf("partitioning (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&bigquery.Clustering{Fields: []string{"account_sid", "category"}}, md.Clustering); diff != "" {
		t.Errorf("clustering (-want +got):\n%s", diff)
	}

	bad := []warehouse.Table{
		{Name: "x", Schema: arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.BinaryTypes.Binary}}, nil)},
		{Name: "x", Schema: usageTable.Schema, PartitionBy: "account_sid"},
		{Name: "x", Schema: usageTable.Schema, Key: []string{"missing"}},
	}
	for _, tb := range bad {
		if _, err := tableMetadata(tb); err == nil {
			t.Errorf("tableMetadata(%+v) succeeded, want an error", tb)
		}
	}
}

func TestScriptPrunesPartitionsWithParameters(t *testing.T) {
	d := &Destination{project: "p", dataset: "d"}
	tables := map[string]warehouse.Table{usageTable.Name: usageTable, accountsTable.Name: accountsTable}
	b := warehouse.Batch{
		Replace: []warehouse.Group{
			usageGroup(t, "AC1", "2025-03-01"),
			usageGroup(t, "AC2", "2025-03-01"),
			usageGroup(t, "AC1", "2025-03-02"),
			usageGroup(t, "AC1", "2025-03-01"), // listed twice
			{Table: accountsTable.Name},
		},
		States: map[string]json.RawMessage{"usage_records": json.RawMessage(`{"c":1}`)},
	}
	script, params, err := d.script(b, nil, []string{"usage_records"}, tables)
	if err != nil {
		t.Fatal(err)
	}
	want := "BEGIN TRANSACTION;\n" +
		"DELETE FROM `p.d.accounts` WHERE TRUE;\n" +
		"DELETE FROM `p.d.usage` WHERE `usage_date` IN (@g1, @g3) AND " +
		"((`account_sid` = @g0 AND `usage_date` = @g1) OR (`account_sid` = @g2 AND `usage_date` = @g1) OR (`account_sid` = @g0 AND `usage_date` = @g3));\n" +
		"DELETE FROM `p.d._twilio_elt_state` WHERE `stream` IN (@s4) AND `account_sid` IS NULL;\n" +
		"INSERT INTO `p.d._twilio_elt_state` (`stream`, `state`, `updated_at`, `account_sid`) VALUES (@s4, @v5, CURRENT_TIMESTAMP(), NULL);\n" +
		"COMMIT TRANSACTION;\n"
	if diff := cmp.Diff(want, script); diff != "" {
		t.Errorf("script (-want +got):\n%s", diff)
	}
	got := map[string]any{}
	for _, p := range params {
		got[p.Name] = p.Value
	}
	if diff := cmp.Diff(map[string]any{
		"g0": "AC1",
		"g1": civil.Date{Year: 2025, Month: 3, Day: 1},
		"g2": "AC2",
		"g3": civil.Date{Year: 2025, Month: 3, Day: 2},
		"s4": "usage_records",
		"v5": `{"c":1}`,
	}, got); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
}

// A batch of a main account: its states replace the account's rows and
// the legacy ones; groups over their own columns and deletes each get a
// statement of their own, a whole-table group making the others moot.
func TestScriptScopesStatesAndGroupsByAccount(t *testing.T) {
	d := &Destination{project: "p", dataset: "d"}
	tables := map[string]warehouse.Table{usageTable.Name: usageTable, accountsTable.Name: accountsTable}
	b := warehouse.Batch{
		Account: "ACmain",
		Replace: []warehouse.Group{
			{Table: usageTable.Name, Columns: []string{"account_sid"}, Values: []any{nil}},
			{Table: accountsTable.Name, Columns: []string{"sid"}, Values: []any{"AC1"}},
		},
		Deletes: []warehouse.Delete{
			{Table: usageTable.Name, Column: "account_sid", Value: "AC2"},
			{Table: usageTable.Name, Column: "account_sid", Value: "AC3"},
		},
		States: map[string]json.RawMessage{"accounts": json.RawMessage(`{}`)},
	}
	script, _, err := d.script(b, nil, []string{"accounts"}, tables)
	if err != nil {
		t.Fatal(err)
	}
	want := "BEGIN TRANSACTION;\n" +
		"DELETE FROM `p.d.accounts` WHERE `sid` IN UNNEST(@g0);\n" +
		"DELETE FROM `p.d.usage` WHERE ((`account_sid` IS NULL) OR (`account_sid` = @g1) OR (`account_sid` = @g2));\n" +
		"DELETE FROM `p.d._twilio_elt_state` WHERE `stream` IN (@s4) AND (`account_sid` IS NULL OR `account_sid` = @a3);\n" +
		"INSERT INTO `p.d._twilio_elt_state` (`stream`, `state`, `updated_at`, `account_sid`) VALUES (@s4, @v5, CURRENT_TIMESTAMP(), @a3);\n" +
		"COMMIT TRANSACTION;\n"
	if diff := cmp.Diff(want, script); diff != "" {
		t.Errorf("script (-want +got):\n%s", diff)
	}
}

func TestConcurrentUpdateIsRetried(t *testing.T) {
	conflict := errors.New("commit transaction: job x failed: Transaction is aborted due to concurrent update against table p:d.twilio_usage_daily. Transaction ID: 1")
	serialize := errors.New("Could not serialize access to table p:d.twilio_accounts due to concurrent update")
	other := errors.New("Syntax error: Unexpected keyword")
	for _, tc := range []struct {
		name  string
		errs  []error // what each attempt returns, nil after the list ends
		tries int
		want  error
		runs  int
	}{
		{"succeeds at once", nil, 3, nil, 1},
		{"conflicts then succeeds", []error{conflict, serialize}, 3, nil, 3},
		{"conflicts every time", []error{conflict, conflict, conflict, conflict}, 3, conflict, 3},
		{"another error is not retried", []error{other}, 3, other, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			err := retryConflicts(context.Background(), tc.tries, func(int) time.Duration { return time.Millisecond }, func(attempt int) error {
				if attempt != runs {
					t.Errorf("attempt %d, want %d", attempt, runs)
				}
				runs++
				if attempt < len(tc.errs) {
					return tc.errs[attempt]
				}
				return nil
			})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if runs != tc.runs {
				t.Errorf("%d runs, want %d", runs, tc.runs)
			}
		})
	}
}
