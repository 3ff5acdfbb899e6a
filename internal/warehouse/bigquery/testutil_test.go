package bigquery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/api/iterator"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// emulatorEnv names the emulator's endpoint (http://127.0.0.1:PORT), as
// scripts/test.sh exports it after scripts/bigquery-emulator.sh start.
const emulatorEnv = "BIGQUERY_EMULATOR_HOST"

// emulatorEndpoint returns the emulator's endpoint. Without one the test
// fails in CI and skips elsewhere.
func emulatorEndpoint(t *testing.T) string {
	t.Helper()
	host := os.Getenv(emulatorEnv)
	if host == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not set: scripts/test.sh starts the bigquery emulator and sets it", emulatorEnv)
		}
		t.Skipf("%s is not set: run scripts/test.sh, or export %s=$(scripts/bigquery-emulator.sh start DIR)", emulatorEnv, emulatorEnv)
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	return host
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// testDataset is a dataset name unique to the test.
func testDataset(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := nonIdent.ReplaceAllString(t.Name(), "_")
	if len(name) > 60 {
		name = name[:60]
	}
	dataset := "t_" + name + "_" + hex.EncodeToString(b[:])
	return dataset
}

// emulatorDest opens a Destination on dataset in the emulator (NDJSON
// staging) and sets up the test tables.
func emulatorDest(t *testing.T, dataset string) *Destination {
	t.Helper()
	d := emulatorDestAt(t, emulatorEndpoint(t), dataset)
	if err := d.Setup(context.Background(), testTables()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return d
}

// emulatorDestAt opens a Destination on dataset in the emulator at
// endpoint, with NDJSON staging, closed when the test ends.
func emulatorDestAt(t *testing.T, endpoint, dataset string) *Destination {
	t.Helper()
	d, err := New(context.Background(), Options{Project: "test", Dataset: dataset, Endpoint: endpoint, Staging: NDJSON})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

var (
	numeric = &arrow.Decimal128Type{Precision: 38, Scale: 9}
	tsUTC   = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

// usageTable is shaped like twilio_usage_daily.
var usageTable = warehouse.Table{
	Name: "usage",
	Schema: arrow.NewSchema([]arrow.Field{
		{Name: "usage_date", Type: arrow.FixedWidthTypes.Date32},
		{Name: "account_sid", Type: arrow.BinaryTypes.String},
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "count", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "price", Type: numeric, Nullable: true},
		{Name: "as_of", Type: tsUTC, Nullable: true},
	}, nil),
	Key:         []string{"account_sid", "category", "usage_date"},
	Group:       []string{"account_sid", "usage_date"},
	PartitionBy: "usage_date",
	ClusterBy:   []string{"account_sid", "category"},
}

// accountsTable is a full-refresh table: one group, the whole table.
var accountsTable = warehouse.Table{
	Name: "accounts",
	Schema: arrow.NewSchema([]arrow.Field{
		{Name: "sid", Type: arrow.BinaryTypes.String},
		{Name: "friendly_name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "is_main", Type: arrow.FixedWidthTypes.Boolean},
	}, nil),
	Key: []string{"sid"},
}

func testTables() []warehouse.Table { return []warehouse.Table{usageTable, accountsTable} }

// usageRow is a row of usageTable; Price is decimal text ("" for NULL),
// AsOf RFC 3339 ("" for NULL).
type usageRow struct {
	Date, Account, Category string
	Count                   int64
	Price                   string
	AsOf                    string
}

// accountRow is a row of accountsTable.
type accountRow struct {
	Sid, Name string
	Main      bool
}

func usageRecord(t *testing.T, rows ...usageRow) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, usageTable.Schema)
	defer b.Release()
	for _, r := range rows {
		d, err := time.Parse(time.DateOnly, r.Date)
		if err != nil {
			t.Fatal(err)
		}
		b.Field(0).(*array.Date32Builder).Append(arrow.Date32FromTime(d))
		b.Field(1).(*array.StringBuilder).Append(r.Account)
		b.Field(2).(*array.StringBuilder).Append(r.Category)
		b.Field(3).(*array.Int64Builder).Append(r.Count)
		if r.Price == "" {
			b.Field(4).AppendNull()
		} else {
			n, err := decimal128.FromString(r.Price, 38, 9)
			if err != nil {
				t.Fatalf("price %q: %v", r.Price, err)
			}
			b.Field(4).(*array.Decimal128Builder).Append(n)
		}
		if r.AsOf == "" {
			b.Field(5).AppendNull()
		} else {
			ts, err := time.Parse(time.RFC3339Nano, r.AsOf)
			if err != nil {
				t.Fatal(err)
			}
			b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
		}
	}
	rec := b.NewRecordBatch()
	t.Cleanup(rec.Release)
	return rec
}

func accountRecord(t *testing.T, rows ...accountRow) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, accountsTable.Schema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.StringBuilder).Append(r.Sid)
		if r.Name == "" {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(r.Name)
		}
		b.Field(2).(*array.BooleanBuilder).Append(r.Main)
	}
	rec := b.NewRecordBatch()
	t.Cleanup(rec.Release)
	return rec
}

// usageGroup is the replace group (account, date) of usageTable.
func usageGroup(t *testing.T, account, date string) warehouse.Group {
	t.Helper()
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t.Fatal(err)
	}
	return warehouse.Group{Table: usageTable.Name, Values: []any{account, d}}
}

// readUsage returns usageTable's rows, sorted, with exact decimal text
// (scale 9, as Decimal128.ToString writes it).
func readUsage(t *testing.T, d *Destination) []usageRow {
	t.Helper()
	ctx := context.Background()
	it, err := d.client.Query(fmt.Sprintf("SELECT usage_date, account_sid, category, count, price, as_of FROM %s", d.tableRef(usageTable.Name))).Read(ctx)
	if err != nil {
		t.Fatalf("query usage: %v", err)
	}
	var out []usageRow
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("read usage: %v", err)
		}
		r := usageRow{
			Date:     row[0].(civil.Date).String(),
			Account:  row[1].(string),
			Category: row[2].(string),
		}
		if row[3] != nil {
			r.Count = row[3].(int64)
		}
		if row[4] != nil {
			r.Price = row[4].(*big.Rat).FloatString(9)
		}
		if row[5] != nil {
			r.AsOf = row[5].(time.Time).UTC().Format(time.RFC3339Nano)
		}
		out = append(out, r)
	}
	sortUsage(out)
	return out
}

// sortUsage sorts rows by key, as readUsage returns them.
func sortUsage(rows []usageRow) []usageRow {
	slices.SortFunc(rows, func(a, b usageRow) int {
		return strings.Compare(a.Account+"|"+a.Category+"|"+a.Date, b.Account+"|"+b.Category+"|"+b.Date)
	})
	return rows
}

func readAccounts(t *testing.T, d *Destination) []accountRow {
	t.Helper()
	ctx := context.Background()
	it, err := d.client.Query(fmt.Sprintf("SELECT sid, friendly_name, is_main FROM %s", d.tableRef(accountsTable.Name))).Read(ctx)
	if err != nil {
		t.Fatalf("query accounts: %v", err)
	}
	var out []accountRow
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("read accounts: %v", err)
		}
		r := accountRow{Sid: row[0].(string), Main: row[2].(bool)}
		if row[1] != nil {
			r.Name = row[1].(string)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b accountRow) int { return strings.Compare(a.Sid, b.Sid) })
	return out
}
