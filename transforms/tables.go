// Package transforms turns the connector's records into the normalized
// warehouse tables: one Arrow schema per table (which drives the DuckDB
// DDL, the BigQuery schema and the Parquet files alike), a Normalizer
// that builds bounded Arrow batches from records, exact decimal parsing
// for money, and Parquet writing.
//
// Money is DECIMAL(38, 9), parsed from the record's decimal text, never
// through a float; a value with more than 9 non-zero decimal places is an
// error, not a rounding. Dates are DATE (date32), instants TIMESTAMP in
// microseconds, UTC.
package transforms

import (
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// Table names.
const (
	Accounts        = "twilio_accounts"
	UsageDaily      = "twilio_usage_daily"
	SIMs            = "twilio_sims"
	SIMUsageDaily   = "twilio_sim_usage_daily"
	SIMUsageRoaming = "twilio_sim_usage_roaming"
	// UsageCategories and CategoryAncestors are the category taxonomy
	// (see taxonomy.go and docs/cost-model.md).
	UsageCategories   = "twilio_usage_categories"
	CategoryAncestors = "twilio_usage_category_ancestors"
	LoadedAtColumn    = "_loaded_at"
	usageDateColumn   = "usage_date"
	accountSIDColumn  = "account_sid"
	simSIDColumn      = "sim_sid"
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

var tables = []warehouse.Table{
	{
		Name: Accounts,
		Schema: schema(
			key("account_sid", String),
			col("parent_account_sid", String),
			col("friendly_name", String),
			col("display_name", String),
			col("status", String),
			col("type", String),
			key("is_main", Bool),
			col("created_at", Timestamp),
			col("updated_at", Timestamp),
		),
		Key: []string{"account_sid"},
		// Replaced whole by the first batch of a read; a later batch
		// replaces the accounts it has records of.
		Group: []string{"account_sid"},
	},
	{
		Name: UsageDaily,
		Schema: schema(
			key("usage_date", Date),
			key("account_sid", String),
			col("billing_account_sid", String),
			key("category", String),
			col("description", String),
			col("count", Decimal),
			col("count_unit", String),
			col("usage", Decimal),
			col("usage_unit", String),
			col("price", Decimal),
			col("currency", String),
			col("as_of", Timestamp),
		),
		Key:         []string{"account_sid", "category", "usage_date"},
		Group:       []string{"account_sid", "usage_date"},
		PartitionBy: usageDateColumn,
		ClusterBy:   []string{"account_sid", "category"},
	},
	{
		Name: SIMs,
		Schema: schema(
			key("sim_sid", String),
			col("account_sid", String),
			col("unique_name", String),
			col("friendly_name", String),
			col("iccid", String),
			col("e_id", String),
			col("rate_plan_sid", String),
			col("status", String),
			col("created_at", Timestamp),
			col("updated_at", Timestamp),
		),
		Key:   []string{"sim_sid"},
		Group: []string{"sim_sid"},
	},
	{
		Name: SIMUsageDaily,
		Schema: schema(
			key("usage_date", Date),
			key("sim_sid", String),
			col("account_sid", String),
			col("currency", String),
			col("data_units", String),
			col("data_total", Int64),
			col("data_upload", Int64),
			col("data_download", Int64),
			col("data_billed", Decimal),
			col("data_home_total", Int64),
			col("data_home_billed", Decimal),
			col("data_national_roaming_total", Int64),
			col("data_national_roaming_billed", Decimal),
			col("data_international_roaming_total", Int64),
			col("data_international_roaming_billed", Decimal),
			col("commands_total", Int64),
			col("commands_from_sim", Int64),
			col("commands_to_sim", Int64),
			col("commands_billed", Decimal),
			col("commands_home_total", Int64),
			col("commands_home_billed", Decimal),
			col("commands_national_roaming_total", Int64),
			col("commands_national_roaming_billed", Decimal),
			col("commands_international_roaming_total", Int64),
			col("commands_international_roaming_billed", Decimal),
		),
		Key:         []string{"sim_sid", "usage_date"},
		Group:       []string{"sim_sid", "usage_date"},
		PartitionBy: usageDateColumn,
		ClusterBy:   []string{"sim_sid"},
	},
	{
		Name: SIMUsageRoaming,
		Schema: schema(
			key("usage_date", Date),
			key("sim_sid", String),
			key("country", String),
			col("account_sid", String),
			col("currency", String),
			col("data_total", Int64),
			col("data_upload", Int64),
			col("data_download", Int64),
			col("data_billed", Decimal),
			col("commands_total", Int64),
			col("commands_from_sim", Int64),
			col("commands_to_sim", Int64),
			col("commands_billed", Decimal),
		),
		Key:         []string{"sim_sid", "usage_date", "country"},
		Group:       []string{"sim_sid", "usage_date"},
		PartitionBy: usageDateColumn,
		ClusterBy:   []string{"sim_sid"},
	},
	{
		Name: UsageCategories,
		Schema: schema(
			key("category", String),
			col("parent", String),
			key("is_rollup", Bool),
			key("is_overlay", Bool),
			key("is_known", Bool),
			key("hierarchy", String),
			key("service_group", String),
			key("service_name", String),
			key("service_category", String),
			key("service_subcategory", String),
			key("charge_frequency", String),
			col("description", String),
		),
		Key:        []string{"category"},
		Group:      []string{"category"},
		UniqueKeys: true,
	},
	{
		Name: CategoryAncestors,
		Schema: schema(
			key("category", String),
			key("ancestor", String),
			key("distance", Int64),
		),
		Key:        []string{"category", "ancestor"},
		Group:      []string{"category"},
		UniqueKeys: true,
	},
}

// Tables returns the warehouse tables, in a stable order.
func Tables() []warehouse.Table {
	out := slices.Clone(tables)
	for i := range out {
		out[i].Key = slices.Clone(out[i].Key)
		out[i].Group = slices.Clone(out[i].Group)
		out[i].ClusterBy = slices.Clone(out[i].ClusterBy)
	}
	return out
}

// Table returns the table called name.
func Table(name string) (warehouse.Table, bool) {
	for _, t := range Tables() {
		if t.Name == name {
			return t, true
		}
	}
	return warehouse.Table{}, false
}
