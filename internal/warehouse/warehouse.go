// Package warehouse is where normalized tables land: the Destination
// interface that the embedded DuckDB warehouse (warehouse/duckdb) and
// BigQuery (warehouse/bigquery) implement, the batches that flow into
// them, and a conformance suite every Destination passes.
//
// A load is idempotent by replacing groups: a group is the set of rows a
// re-read covers — (account_sid, usage_date) for usage, (sim_sid,
// usage_date) for SIM usage, the whole table for full-refresh tables. The
// first time a run sees a group, its batch lists it in Replace: the
// destination deletes the group's rows and inserts the batch's rows in one
// transaction, together with the stream states of the batch. Later rows of
// a group already replaced in the same run are only inserted.
package warehouse

import (
	"context"
	"encoding/json"

	"github.com/apache/arrow-go/v18/arrow"
)

// Table describes one warehouse table. Its Arrow schema drives the DuckDB
// DDL, the BigQuery schema and the Parquet schema alike.
type Table struct {
	Name   string
	Schema *arrow.Schema
	// Key is the natural key: no two rows share it.
	Key []string
	// Group names the columns whose values identify a replace group;
	// empty means the whole table is one group.
	Group []string
	// PartitionBy is a DATE column BigQuery partitions by ("" for none);
	// ClusterBy the columns it clusters by.
	PartitionBy string
	ClusterBy   []string
	// UniqueKeys: no batch holds two rows with one key (the loader builds
	// them from a set), so a destination need not deduplicate them.
	UniqueKeys bool
}

// Group identifies the rows of one replace group of Table: Values holds,
// in the order of Table.Group, a string for STRING columns and a
// time.Time (UTC midnight) for DATE columns. A Group with no Values is the
// whole table.
type Group struct {
	Table  string
	Values []any
}

// Batch is one transaction.
type Batch struct {
	// Replace lists the groups this batch is the first of the run to see:
	// their existing rows are deleted before Rows are inserted.
	Replace []Group
	// Rows holds, per table name, the rows to insert. A table may be
	// absent. The destination does not retain the records after Commit.
	Rows map[string]arrow.RecordBatch
	// States holds, per stream, the stream state to store with the rows.
	States map[string]json.RawMessage
	// Updates are applied after the inserts, in order.
	Updates []Update
	// Meta holds, per key, a value to store in MetaTable with the rows.
	Meta map[string]string
}

// Update sets the STRING column Set to Value in the rows of Table whose
// STRING column Where equals Match.
type Update struct {
	Table, Set, Value, Where, Match string
}

// Destination is a warehouse that loads batches atomically.
type Destination interface {
	// Setup creates the tables (and the state table) when missing. It is
	// idempotent.
	Setup(ctx context.Context, tables []Table) error
	// CreateViews creates or replaces views over the tables, in order.
	CreateViews(ctx context.Context, views []View) error
	// Commit applies b in one transaction: deletes of b.Replace, inserts
	// of b.Rows, b.Updates, and upserts of b.States and b.Meta. On error
	// nothing of b is visible.
	Commit(ctx context.Context, b Batch) error
	// States returns the stream states stored by earlier commits.
	States(ctx context.Context) (map[string]json.RawMessage, error)
	// Meta returns the values stored by earlier commits' Meta.
	Meta(ctx context.Context) (map[string]string, error)
	Close() error
}

// StateTable is the loader's own table: one row per stream with its
// state, committed with the data it covers.
const StateTable = "_twilio_elt_state"

// MetaTable is the loader's record of the warehouse itself (key, value,
// updated_at): which version of the cost model built the cost tables.
const MetaTable = "_twilio_elt_meta"

// View is a view over the tables, written once for every destination:
// Query is a text/template rendered by a Dialect.
type View struct {
	Name  string
	Query string
}
