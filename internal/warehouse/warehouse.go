// Package warehouse is where normalized tables land: the Destination
// interface that the embedded DuckDB warehouse (warehouse/duckdb) and
// BigQuery (warehouse/bigquery) implement, the batches that flow into
// them, and a conformance suite every Destination passes.
//
// A load is idempotent by replacing groups: a group is the set of rows a
// re-read covers — (account_sid, usage_date) for usage, (sim_sid,
// usage_date) for SIM usage, a main account's rows for full-refresh tables
// such as twilio_accounts. The first time a run sees a group, its batch
// lists it in Replace: the destination deletes the group's rows and
// inserts the batch's rows in one transaction, together with the stream
// states of the batch. Later rows of a group already replaced in the same
// run are only inserted.
//
// One warehouse holds many Twilio main accounts: the stream states are
// stored per main account (Batch.Account, Destination.States).
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
// in the order of Columns, a string for STRING columns and a time.Time
// (UTC midnight) for DATE columns; a nil value matches NULL. Columns nil
// means the table's Group. A Group with no Values is the whole table.
type Group struct {
	Table   string
	Columns []string
	Values  []any
}

// Cols returns the columns g's Values match, given its table.
func (g Group) Cols(t Table) []string {
	if g.Columns != nil {
		return g.Columns
	}
	return t.Group
}

// Delete removes the rows of Table whose STRING column Column equals
// Value.
type Delete struct {
	Table, Column, Value string
}

// Group returns d as a replace group with no rows to insert: both
// destinations delete them the same way.
func (d Delete) Group() Group {
	return Group{Table: d.Table, Columns: []string{d.Column}, Values: []any{d.Value}}
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
	// Account is the main account States belong to; "" stores them
	// unscoped, as a warehouse of an older version did (see States).
	Account string
	// Deletes are applied with the deletes of Replace, before the inserts.
	Deletes []Delete
	// ForgetStates deletes the stored stream states of these main
	// accounts, and the unscoped ones (which they would adopt), before
	// States are stored: removing an account's data removes its cursors.
	ForgetStates []string
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
	// Commit applies b in one transaction: deletes of b.Replace and
	// b.Deletes, inserts of b.Rows, b.Updates, and upserts of b.States
	// and b.Meta. On error nothing of b is visible. A state of account X
	// for a stream replaces X's row of that stream and any unscoped row
	// of it (a legacy row, which X thereby adopts).
	Commit(ctx context.Context, b Batch) error
	// States returns the stream states of main account account stored by
	// earlier commits: per stream, account's row, else the unscoped row
	// (NULL account) a warehouse of an older version stored, else none.
	// account "" returns the unscoped rows only. Cursors are keyed by
	// partition SID (an account, a SIM), so two accounts adopting the same
	// legacy state is harmless: each finds no cursor of its own
	// partitions in the other's and reads them from start_date.
	States(ctx context.Context, account string) (map[string]json.RawMessage, error)
	// Meta returns the values stored by earlier commits' Meta.
	Meta(ctx context.Context) (map[string]string, error)
	Close() error
}

// StateTable is the loader's own table: one row per main account
// (account_sid, NULL for a row an older version wrote) and stream with its
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
