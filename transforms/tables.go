// Package transforms is the machinery that turns the connector's records
// into warehouse tables, and the tables the cost model shares: a table is
// a TableDef — its warehouse.Table and its columns, one list of Columns
// that gives the Arrow schema (which drives the DuckDB DDL, the BigQuery
// schema and the Parquet files alike) and the Arrow batches; a Normalizer
// that each stream's normalizer (in the connector's stream registry)
// appends Go rows to, in bounded batches; exact decimal parsing for money;
// the usage category taxonomy; and Parquet writing.
//
// The streams' own tables are declared with their streams, in package
// connector. Declared here are the tables more than a stream needs:
// twilio_usage_daily, the cost model's input (UsageTable, with its row
// type UsageRow), and the category taxonomy.
//
// Money is DECIMAL(38, 9), parsed from the record's decimal text, never
// through a float; a value with more than 9 non-zero decimal places is an
// error, not a rounding. Dates are DATE (date32), instants TIMESTAMP in
// microseconds, UTC.
package transforms

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// Names of the tables declared here, and the columns every table has.
const (
	UsageDaily = "twilio_usage_daily"
	// UsageCategories and CategoryAncestors are the category taxonomy
	// (see taxonomy.go and docs/cost-model.md).
	UsageCategories   = "twilio_usage_categories"
	CategoryAncestors = "twilio_usage_category_ancestors"
	LoadedAtColumn    = "_loaded_at"
)

// Arrow types of the warehouse's column types.
var (
	String    = arrow.BinaryTypes.String
	Date      = arrow.FixedWidthTypes.Date32
	Timestamp = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	Decimal   = &arrow.Decimal128Type{Precision: DecimalPrecision, Scale: DecimalScale}
	Int64     = arrow.PrimitiveTypes.Int64
	Bool      = arrow.FixedWidthTypes.Boolean
)

func col(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

func key(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t}
}

func schema(fields ...arrow.Field) *arrow.Schema {
	fields = append(fields, key(LoadedAtColumn, Timestamp))
	return arrow.NewSchema(fields, nil)
}

// UsageRow is one row of twilio_usage_daily: one account's usage of one
// category on one UTC day. Empty BillingAccountSID and Currency are NULL.
type UsageRow struct {
	Date                 arrow.Date32
	AccountSID           string
	BillingAccountSID    string
	Category             string
	Description          NullString
	Count, Usage, Price  NullDecimal
	CountUnit, UsageUnit NullString
	Currency             string
	AsOf                 NullTimestamp
}

// UsageTable is twilio_usage_daily, which the usage_records stream loads
// and the cost model reads.
var UsageTable = NewTableDef(warehouse.Table{
	Name:        UsageDaily,
	Key:         []string{"account_sid", "category", "usage_date"},
	Group:       []string{"account_sid", "usage_date"},
	PartitionBy: "usage_date",
	ClusterBy:   []string{"account_sid", "category"},
},
	DateColumn("usage_date", func(r *UsageRow) arrow.Date32 { return r.Date }),
	StringColumn("account_sid", func(r *UsageRow) string { return r.AccountSID }),
	OptionalString("billing_account_sid", func(r *UsageRow) string { return r.BillingAccountSID }),
	StringColumn("category", func(r *UsageRow) string { return r.Category }),
	NullStringColumn("description", func(r *UsageRow) NullString { return r.Description }),
	NullDecimalColumn("count", func(r *UsageRow) NullDecimal { return r.Count }),
	NullStringColumn("count_unit", func(r *UsageRow) NullString { return r.CountUnit }),
	NullDecimalColumn("usage", func(r *UsageRow) NullDecimal { return r.Usage }),
	NullStringColumn("usage_unit", func(r *UsageRow) NullString { return r.UsageUnit }),
	NullDecimalColumn("price", func(r *UsageRow) NullDecimal { return r.Price }),
	OptionalString("currency", func(r *UsageRow) string { return r.Currency }),
	NullTimestampColumn("as_of", func(r *UsageRow) NullTimestamp { return r.AsOf }),
)

// CategoriesTable is twilio_usage_categories: the taxonomy, one row per
// category (see docs/cost-model.md).
var CategoriesTable = NewTableDef(warehouse.Table{
	Name:       UsageCategories,
	Key:        []string{"category"},
	Group:      []string{"category"},
	UniqueKeys: true,
},
	StringColumn("category", func(c *Category) string { return c.Name }),
	OptionalString("parent", func(c *Category) string { return c.Parent }),
	BoolColumn("is_rollup", func(c *Category) bool { return c.Rollup }),
	BoolColumn("is_overlay", func(c *Category) bool { return c.Overlay }),
	BoolColumn("is_known", func(c *Category) bool { return c.Known }),
	StringColumn("hierarchy", func(c *Category) string { return c.Hierarchy }),
	StringColumn("service_group", func(c *Category) string { return c.ServiceGroup }),
	StringColumn("service_name", func(c *Category) string { return c.ServiceName }),
	StringColumn("service_category", func(c *Category) string { return c.ServiceCategory }),
	StringColumn("service_subcategory", func(c *Category) string { return c.ServiceSubcategory }),
	StringColumn("charge_frequency", func(c *Category) string { return c.ChargeFrequency }),
	OptionalString("description", func(c *Category) string { return c.Description }),
)

// Ancestor is one row of twilio_usage_category_ancestors.
type Ancestor struct {
	Category, Ancestor string
	Distance           int64 // 1 for the parent
}

// AncestorsTable is twilio_usage_category_ancestors: every category with
// each of its ancestors.
var AncestorsTable = NewTableDef(warehouse.Table{
	Name:       CategoryAncestors,
	Key:        []string{"category", "ancestor"},
	Group:      []string{"category"},
	UniqueKeys: true,
},
	StringColumn("category", func(a *Ancestor) string { return a.Category }),
	StringColumn("ancestor", func(a *Ancestor) string { return a.Ancestor }),
	Int64Column("distance", func(a *Ancestor) int64 { return a.Distance }),
)

// Tables returns the tables declared here: the usage table and the
// taxonomy.
func Tables() []warehouse.Table {
	return []warehouse.Table{UsageTable.Table, CategoriesTable.Table, AncestorsTable.Table}
}
