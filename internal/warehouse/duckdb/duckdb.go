// Package duckdb is the embedded DuckDB warehouse: a warehouse.Destination
// on one DuckDB file. A commit stages each table's Arrow batch (and the
// batch's replace groups) as Parquet files in a private temporary folder,
// then runs one transaction:
//
//	BEGIN TRANSACTION;
//	DELETE FROM t USING read_parquet('groups') g WHERE t.k1 = g.k1 AND …;
//	INSERT INTO t (…) SELECT … FROM read_parquet('rows');
//	DELETE FROM _twilio_elt_state WHERE stream = ?; INSERT INTO _twilio_elt_state …;
//	COMMIT;
//
// Parquet, rather than DuckDB's Arrow interface, because the latter needs
// a build tag on every build of the binary; the Parquet files are the
// same pqarrow output BigQuery loads, so DuckDB reads what BigQuery reads.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// Destination is a DuckDB file as a warehouse. It is safe for
// concurrent use; commits are serialized.
type Destination struct {
	path  string
	db    *sql.DB
	conn  *duckdb.Connector
	stage string // temporary folder for staged Parquet files
	now   func() time.Time

	// commitMu serializes commits and setups.
	commitMu sync.Mutex
	tablesMu sync.RWMutex
	tables   map[string]warehouse.Table
}

// settings are applied to every connection.
//
//   - Instants are UTC.
//   - memory_limit bounds DuckDB's buffer pool, so a load's memory stays
//     flat however much it loads: DuckDB's default is 80% of the
//     machine's memory, and a long backfill would take it, since DuckDB
//     keeps what it writes cached. 512 MB holds the working set of a
//     commit (two batches of staged rows, the row groups they append to)
//     and every query the commands run; larger operators spill to disk.
//   - checkpoint_threshold: DuckDB checkpoints (compresses what the WAL
//     holds into the file) when the WAL passes this size. Its default,
//     16 MB, is passed by nearly every commit of a backfill, and each
//     checkpoint recompresses the table's last, partly filled row group:
//     at 256 MB a backfill spends about a quarter less CPU.
//   - threads is left at DuckDB's default, the machine's cores: DuckDB
//     reads staged files and compresses in parallel while the loader's
//     decoding (one goroutine) shares the same cores.
var settings = []string{
	"SET TimeZone = 'UTC'",
	"SET memory_limit = '512MB'",
	"SET checkpoint_threshold = '256MB'",
}

// Open opens (or creates) the DuckDB file at path; ":memory:" or "" is
// an in-memory database. A file another process has open fails at once;
// see OpenWait.
func Open(ctx context.Context, path string) (*Destination, error) {
	return OpenWait(ctx, path, 0, nil)
}

// OpenWait is Open that waits up to wait for another process to close the
// file: DuckDB lets one process at a time write a file, and locks it for
// as long as that process has it open. It tries again with a growing
// delay (100 ms to 5 s), calls waiting once, with the lock holder's
// description, when the first try fails, and gives up with an error that
// says so after wait.
func OpenWait(ctx context.Context, path string, wait time.Duration, waiting func(holder string)) (*Destination, error) {
	deadline := time.Now().Add(wait)
	delay := 100 * time.Millisecond
	for {
		d, err := open(ctx, path)
		if err == nil || !IsLocked(err) {
			return d, err
		}
		if !time.Now().Before(deadline) {
			if wait > 0 {
				return nil, fmt.Errorf("gave up after waiting %s for another process to close the DuckDB file: %w", wait, err)
			}
			return nil, err
		}
		if waiting != nil {
			waiting(lockHolder(err))
			waiting = nil
		}
		t := time.NewTimer(min(delay, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("open duckdb %s: waiting for another process to close it: %w", path, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// IsLocked reports whether err is DuckDB's refusal to open a file another
// process holds.
func IsLocked(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Could not set lock on file")
}

// lockHolder returns what DuckDB says of the process holding the lock
// ("Conflicting lock is held in /usr/bin/twilio-elt (PID 123)"), or the
// error's text.
func lockHolder(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "Conflicting lock is held in "); i >= 0 {
		msg = msg[i+len("Conflicting lock is held in "):]
		if j := strings.Index(msg, ")"); j >= 0 {
			msg = msg[:j+1]
		}
	}
	return msg
}

func open(ctx context.Context, path string) (*Destination, error) {
	dsn := path
	if path == ":memory:" {
		dsn = ""
	}
	if dsn != "" {
		if dir := filepath.Dir(dsn); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("open duckdb %s: %w", path, err)
			}
		}
	}
	c, err := duckdb.NewConnector(dsn, func(execer driver.ExecerContext) error {
		for _, q := range settings {
			if _, err := execer.ExecContext(ctx, q, nil); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open duckdb %s: %w", path, err)
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		c.Close()
		return nil, fmt.Errorf("open duckdb %s: %w", path, err)
	}
	stage, err := os.MkdirTemp("", "twilio-elt-duckdb-")
	if err != nil {
		db.Close()
		c.Close()
		return nil, fmt.Errorf("open duckdb %s: staging folder: %w", path, err)
	}
	return &Destination{path: path, db: db, conn: c, stage: stage, tables: map[string]warehouse.Table{}, now: time.Now}, nil
}

// DB returns the database, for queries.
func (d *Destination) DB() *sql.DB { return d.db }

// Path returns the database file's path.
func (d *Destination) Path() string { return d.path }

// Close closes the database and removes the staging folder.
func (d *Destination) Close() error {
	err := errors.Join(d.db.Close(), d.conn.Close())
	os.RemoveAll(d.stage)
	if err != nil {
		return fmt.Errorf("close duckdb %s: %w", d.path, err)
	}
	return nil
}

// ColumnType returns the DuckDB type of an Arrow type the tables use.
func ColumnType(t arrow.DataType) (string, error) {
	switch t := t.(type) {
	case *arrow.StringType:
		return "VARCHAR", nil
	case *arrow.Date32Type:
		return "DATE", nil
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return "TIMESTAMPTZ", nil
		}
		return "TIMESTAMP", nil
	case *arrow.Decimal128Type:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale), nil
	case *arrow.Int64Type:
		return "BIGINT", nil
	case *arrow.BooleanType:
		return "BOOLEAN", nil
	case *arrow.Float64Type:
		return "DOUBLE", nil
	}
	return "", fmt.Errorf("no DuckDB type for Arrow type %s", t)
}

func ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// DDL returns the CREATE TABLE statement of t.
func DDL(t warehouse.Table) (string, error) {
	var cols []string
	for _, f := range t.Schema.Fields() {
		typ, err := ColumnType(f.Type)
		if err != nil {
			return "", fmt.Errorf("table %s column %s: %w", t.Name, f.Name, err)
		}
		c := ident(f.Name) + " " + typ
		if !f.Nullable {
			c += " NOT NULL"
		}
		cols = append(cols, c)
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n  %s\n)", ident(t.Name), strings.Join(cols, ",\n  ")), nil
}

// Setup creates the tables, the state table and the meta table when
// missing, adds the columns a table's schema gained since it was created
// (at its end, NULL in the rows it holds: ALTER TABLE ADD COLUMN), and
// checks that existing tables have the expected columns. A view where a
// table belongs (an older version's) is dropped first.
func (d *Destination) Setup(ctx context.Context, tables []warehouse.Table) error {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	views, err := d.views(ctx)
	if err != nil {
		return err
	}
	var stmts []string
	for _, t := range tables {
		if views[t.Name] {
			stmts = append(stmts, "DROP VIEW "+ident(t.Name))
		}
	}
	for _, t := range append([]warehouse.Table{stateTable, metaTable}, tables...) {
		ddl, err := DDL(t)
		if err != nil {
			return fmt.Errorf("set up duckdb: %w", err)
		}
		stmts = append(stmts, ddl)
	}
	for _, s := range stmts {
		if _, err := d.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("set up duckdb %s: %s: %w", d.path, firstLine(s), err)
		}
	}
	for _, t := range append([]warehouse.Table{stateTable, metaTable}, tables...) {
		if err := d.addColumns(ctx, t); err != nil {
			return err
		}
	}
	d.tablesMu.Lock()
	defer d.tablesMu.Unlock()
	for _, t := range tables {
		d.tables[t.Name] = t
	}
	return nil
}

// stateTable and metaTable are the loader's own tables.
var (
	stateTable = warehouse.Table{Name: warehouse.StateTable, Schema: arrow.NewSchema([]arrow.Field{
		{Name: "stream", Type: arrow.BinaryTypes.String},
		{Name: "state", Type: arrow.BinaryTypes.String},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "account_sid", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)}
	metaTable = warehouse.Table{Name: warehouse.MetaTable, Schema: arrow.NewSchema([]arrow.Field{
		{Name: "key", Type: arrow.BinaryTypes.String},
		{Name: "value", Type: arrow.BinaryTypes.String},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)}
)

// views returns the names of the views in the database.
func (d *Destination) views(ctx context.Context) (map[string]bool, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = current_schema()")
	if err != nil {
		return nil, fmt.Errorf("set up duckdb %s: list views: %w", d.path, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("set up duckdb %s: list views: %w", d.path, err)
		}
		out[name] = true
	}
	return out, rows.Err()
}

// addColumns adds to the existing table t the columns of t's schema it
// lacks at its end, as nullable columns (the rows it holds have none),
// and fails when its columns are not the schema's first ones.
func (d *Destination) addColumns(ctx context.Context, t warehouse.Table) error {
	have, err := d.columns(ctx, t.Name)
	if err != nil {
		return err
	}
	var want []string
	for _, f := range t.Schema.Fields() {
		want = append(want, f.Name)
	}
	if len(have) > len(want) || !slices.Equal(have, want[:len(have)]) {
		return fmt.Errorf("set up duckdb %s: table %s exists with columns %v, but this version writes %v; drop or rename the table and load again",
			d.path, t.Name, have, want)
	}
	for _, f := range t.Schema.Fields()[len(have):] {
		typ, err := ColumnType(f.Type)
		if err != nil {
			return fmt.Errorf("set up duckdb: table %s column %s: %w", t.Name, f.Name, err)
		}
		if _, err := d.db.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", ident(t.Name), ident(f.Name), typ)); err != nil {
			return fmt.Errorf("set up duckdb %s: add column %s to %s: %w", d.path, f.Name, t.Name, err)
		}
	}
	return nil
}

// columns returns the column names of table, in order.
func (d *Destination) columns(ctx context.Context, table string) ([]string, error) {
	rows, err := d.db.QueryContext(ctx,
		"SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position", table)
	if err != nil {
		return nil, fmt.Errorf("set up duckdb: columns of %s: %w", table, err)
	}
	defer rows.Close()
	var have []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("set up duckdb: columns of %s: %w", table, err)
		}
		have = append(have, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("set up duckdb: columns of %s: %w", table, err)
	}
	return have, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Commit applies b in one transaction. Commits are serialized: the
// loaders of a multi-account sync share one Destination, and DuckDB
// aborts a transaction that conflicts with another.
func (d *Destination) Commit(ctx context.Context, b warehouse.Batch) (err error) {
	dir, err := os.MkdirTemp(d.stage, "batch-")
	if err != nil {
		return fmt.Errorf("commit to duckdb: %w", err)
	}
	defer os.RemoveAll(dir)
	d.tablesMu.RLock()
	tables := maps.Clone(d.tables)
	d.tablesMu.RUnlock()

	var stmts []string
	// Deletes first: whole tables, then groups, one statement per table
	// and group columns.
	type groupSet struct {
		table string
		cols  []string
	}
	groups := map[string][][]any{}
	sets := map[string]groupSet{}
	var whole []string
	replace := slices.Clone(b.Replace)
	for _, del := range b.Deletes {
		replace = append(replace, del.Group())
	}
	for _, g := range replace {
		t, ok := tables[g.Table]
		if !ok {
			return fmt.Errorf("commit to duckdb: replace group of unknown table %s (not set up)", g.Table)
		}
		if len(g.Values) == 0 {
			if !slices.Contains(whole, g.Table) {
				whole = append(whole, g.Table)
			}
			continue
		}
		cols := g.Cols(t)
		if len(g.Values) != len(cols) {
			return fmt.Errorf("commit to duckdb: group of %s has %d values for group columns %v", g.Table, len(g.Values), cols)
		}
		if slices.Contains(g.Values, nil) {
			// A group matching NULL: rare (a legacy snapshot), its own
			// statement.
			cond, err := nullGroupCondition(t, cols, g.Values)
			if err != nil {
				return fmt.Errorf("commit to duckdb: %w", err)
			}
			stmts = append(stmts, fmt.Sprintf("DELETE FROM %s WHERE %s", ident(g.Table), cond))
			continue
		}
		key := g.Table + "\x00" + strings.Join(cols, "\x00")
		sets[key] = groupSet{g.Table, cols}
		groups[key] = append(groups[key], g.Values)
	}
	slices.Sort(whole)
	for _, name := range whole {
		stmts = append(stmts, "DELETE FROM "+ident(name))
	}
	for i, key := range sortedKeys(groups) {
		set := sets[key]
		if slices.Contains(whole, set.table) {
			continue
		}
		t := tables[set.table]
		file := filepath.Join(dir, fmt.Sprintf("groups-%s-%d.parquet", set.table, i))
		if err := writeGroups(file, t, set.cols, groups[key]); err != nil {
			return fmt.Errorf("commit to duckdb: stage groups of %s: %w", set.table, err)
		}
		var conds []string
		for _, c := range set.cols {
			conds = append(conds, fmt.Sprintf("t.%s = g.%s", ident(c), ident(c)))
		}
		// The groups' bounds let DuckDB's zone maps skip row groups
		// instead of joining the whole table.
		conds = append(conds, bounds(groups[key], set.cols)...)
		stmts = append(stmts, fmt.Sprintf("DELETE FROM %s AS t USING read_parquet(%s) AS g WHERE %s",
			ident(set.table), literal(file), strings.Join(conds, " AND ")))
	}
	for _, name := range sortedKeys(b.Rows) {
		rec := b.Rows[name]
		if rec == nil || rec.NumRows() == 0 {
			continue
		}
		if _, ok := tables[name]; !ok {
			return fmt.Errorf("commit to duckdb: rows for unknown table %s (not set up)", name)
		}
		file := filepath.Join(dir, "rows-"+name+".parquet")
		if err := writeParquetFile(file, rec.Schema(), rec); err != nil {
			return fmt.Errorf("commit to duckdb: stage rows of %s: %w", name, err)
		}
		var cols []string
		for _, f := range tables[name].Schema.Fields() {
			cols = append(cols, ident(f.Name))
		}
		list := strings.Join(cols, ", ")
		stmts = append(stmts, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM read_parquet(%s)", ident(name), list, list, literal(file)))
	}
	for _, u := range b.Updates {
		t, ok := tables[u.Table]
		if !ok || len(t.Schema.FieldIndices(u.Set)) != 1 || len(t.Schema.FieldIndices(u.Where)) != 1 {
			return fmt.Errorf("commit to duckdb: update of %s.%s where %s: no such table or column", u.Table, u.Set, u.Where)
		}
	}

	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("commit to duckdb: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("commit to duckdb: %s: %w", strings.SplitN(s, " USING", 2)[0], err)
		}
	}
	for _, u := range b.Updates {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s = ?", ident(u.Table), ident(u.Set), ident(u.Where)), u.Value, u.Match); err != nil {
			return fmt.Errorf("commit to duckdb: update %s.%s: %w", u.Table, u.Set, err)
		}
	}
	now := d.now().UTC()
	for _, key := range sortedKeys(b.Meta) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+ident(warehouse.MetaTable)+" WHERE key = ?", key); err != nil {
			return fmt.Errorf("commit to duckdb: meta %s: %w", key, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+ident(warehouse.MetaTable)+" (key, value, updated_at) VALUES (?, ?, ?)", key, b.Meta[key], now); err != nil {
			return fmt.Errorf("commit to duckdb: meta %s: %w", key, err)
		}
	}
	for _, acct := range b.ForgetStates {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+ident(warehouse.StateTable)+" WHERE account_sid IS NULL OR account_sid = ?", acct); err != nil {
			return fmt.Errorf("commit to duckdb: forget the states of %s: %w", acct, err)
		}
	}
	var account any // NULL: unscoped
	if b.Account != "" {
		account = b.Account
	}
	for _, stream := range sortedKeys(b.States) {
		// The account's row, and the legacy row it adopts.
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+ident(warehouse.StateTable)+" WHERE stream = ? AND (account_sid IS NULL OR account_sid = ?)", stream, b.Account); err != nil {
			return fmt.Errorf("commit to duckdb: state of %s: %w", stream, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+ident(warehouse.StateTable)+" (stream, state, updated_at, account_sid) VALUES (?, ?, ?, ?)",
			stream, string(b.States[stream]), now, account); err != nil {
			return fmt.Errorf("commit to duckdb: state of %s: %w", stream, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit to duckdb: %w", err)
	}
	return nil
}

// nullGroupCondition is the SQL condition matching a group with a NULL
// value: "c IS NULL" for those, literals for the others.
func nullGroupCondition(t warehouse.Table, cols []string, values []any) (string, error) {
	var conds []string
	for i, c := range cols {
		if len(t.Schema.FieldIndices(c)) != 1 {
			return "", fmt.Errorf("group column %s is not a column of %s", c, t.Name)
		}
		switch v := values[i].(type) {
		case nil:
			conds = append(conds, ident(c)+" IS NULL")
		case string:
			conds = append(conds, ident(c)+" = "+literal(v))
		case time.Time:
			conds = append(conds, ident(c)+" = DATE "+literal(v.UTC().Format(time.DateOnly)))
		default:
			return "", fmt.Errorf("group value %v of %s.%s is %T, want string or time.Time", v, t.Name, c, v)
		}
	}
	return strings.Join(conds, " AND "), nil
}

// bounds returns "t.c BETWEEN min AND max" for each group column.
func bounds(groups [][]any, cols []string) []string {
	var out []string
	for i, c := range cols {
		switch groups[0][i].(type) {
		case string:
			lo, hi := groups[0][i].(string), groups[0][i].(string)
			for _, g := range groups {
				v, _ := g[i].(string)
				lo, hi = min(lo, v), max(hi, v)
			}
			out = append(out, fmt.Sprintf("t.%s BETWEEN %s AND %s", ident(c), literal(lo), literal(hi)))
		case time.Time:
			lo, hi := groups[0][i].(time.Time), groups[0][i].(time.Time)
			for _, g := range groups {
				v, _ := g[i].(time.Time)
				if v.Before(lo) {
					lo = v
				}
				if v.After(hi) {
					hi = v
				}
			}
			out = append(out, fmt.Sprintf("t.%s BETWEEN DATE %s AND DATE %s", ident(c),
				literal(lo.UTC().Format(time.DateOnly)), literal(hi.UTC().Format(time.DateOnly))))
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var uncompressed = compress.Codecs.Uncompressed

// stageRowGroup is the row group size of staged files: DuckDB reads a
// file's row groups in parallel, one per thread.
var stageRowGroup int64 = 1 << 14

func writeParquetFile(path string, schema *arrow.Schema, recs ...arrow.RecordBatch) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// Staged files live for one commit: no compression.
	err = transforms.WriteParquet(f, schema, recs, transforms.ParquetOptions{Compression: &uncompressed, Plain: true, RowGroupRows: stageRowGroup})
	return errors.Join(err, f.Close())
}

// writeGroups stages the values of groups, typed like t's columns cols.
func writeGroups(path string, t warehouse.Table, cols []string, groups [][]any) error {
	var fields []arrow.Field
	for _, c := range cols {
		i := t.Schema.FieldIndices(c)
		if len(i) != 1 {
			return fmt.Errorf("group column %s is not a column of %s", c, t.Name)
		}
		f := t.Schema.Field(i[0])
		f.Nullable = false
		fields = append(fields, f)
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, g := range groups {
		for i, v := range g {
			switch fb := b.Field(i).(type) {
			case *array.StringBuilder:
				s, ok := v.(string)
				if !ok {
					return fmt.Errorf("group value %v of %s.%s is %T, want string", v, t.Name, cols[i], v)
				}
				fb.Append(s)
			case *array.Date32Builder:
				tm, ok := v.(time.Time)
				if !ok {
					return fmt.Errorf("group value %v of %s.%s is %T, want time.Time", v, t.Name, cols[i], v)
				}
				fb.Append(arrow.Date32FromTime(tm))
			default:
				return fmt.Errorf("group column %s.%s has type %s; only STRING and DATE group columns are supported", t.Name, cols[i], fields[i].Type)
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquetFile(path, schema, rec)
}

// States returns the stream states of main account account: per stream,
// its row, else the unscoped row an older version wrote (see
// warehouse.Destination).
func (d *Destination) States(ctx context.Context, account string) (map[string]json.RawMessage, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT stream, state, account_sid IS NOT NULL FROM "+ident(warehouse.StateTable)+
		" WHERE account_sid IS NULL OR account_sid = ? ORDER BY 3", account)
	if err != nil {
		return nil, fmt.Errorf("read states from duckdb %s: %w", d.path, err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var stream, st string
		var own bool
		if err := rows.Scan(&stream, &st, &own); err != nil {
			return nil, fmt.Errorf("read states from duckdb %s: %w", d.path, err)
		}
		out[stream] = json.RawMessage(st) // the account's own row comes last
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read states from duckdb %s: %w", d.path, err)
	}
	return out, nil
}

// Meta returns the values stored by earlier commits' Meta.
func (d *Destination) Meta(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := d.QueryEach(ctx, "SELECT key, value FROM "+ident(warehouse.MetaTable), func(row []sql.NullString) error {
		out[row[0].String] = row[1].String
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s from duckdb %s: %w", warehouse.MetaTable, d.path, err)
	}
	return out, nil
}

// ReadStrings returns the values of cols in every row of table as text
// (NULL as "NULL"), sorted; the conformance suite reads tables back
// through it.
func (d *Destination) ReadStrings(ctx context.Context, table string, cols []string) ([][]string, error) {
	var sel []string
	for _, c := range cols {
		sel = append(sel, fmt.Sprintf("COALESCE(CAST(%s AS VARCHAR), 'NULL')", ident(c)))
	}
	q := fmt.Sprintf("SELECT %s FROM %s ORDER BY ALL", strings.Join(sel, ", "), ident(table))
	rows, err := d.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read %s from duckdb: %w", table, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		row := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read %s from duckdb: %w", table, err)
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// Checksums returns, per table, its row count and an order-independent
// hash of its rows without _loaded_at and the columns in exclude (such
// as as_of, the time Twilio answered): equal checksums mean equal tables.
func (d *Destination) Checksums(ctx context.Context, tables []warehouse.Table, exclude ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range tables {
		var n int64
		var sum string
		skip := []string{ident(transforms.LoadedAtColumn)}
		for _, c := range exclude {
			if len(t.Schema.FieldIndices(c)) > 0 {
				skip = append(skip, ident(c))
			}
		}
		q := fmt.Sprintf(`SELECT COUNT(*), CAST(COALESCE(SUM(hash(s)::HUGEINT), 0) AS VARCHAR) FROM (SELECT * EXCLUDE (%s) FROM %s) s`,
			strings.Join(skip, ", "), ident(t.Name))
		if err := d.db.QueryRowContext(ctx, q).Scan(&n, &sum); err != nil {
			return nil, fmt.Errorf("checksum of %s: %w", t.Name, err)
		}
		out[t.Name] = fmt.Sprintf("%d rows, hash %s", n, sum)
	}
	return out, nil
}

// Dialect is DuckDB's spelling of the shared view SQL.
func (d *Destination) Dialect() warehouse.Dialect {
	return warehouse.Dialect{Table: ident}
}

// CreateViews creates or replaces the views, in order, in one
// transaction.
func (d *Destination) CreateViews(ctx context.Context, views []warehouse.View) (err error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create views: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for _, v := range views {
		q, err := d.Dialect().Render(v.Query)
		if err != nil {
			return fmt.Errorf("create view %s: %w", v.Name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE VIEW %s AS\n%s", ident(v.Name), q)); err != nil {
			return fmt.Errorf("create view %s in duckdb %s: %w", v.Name, d.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create views: %w", err)
	}
	return nil
}

// QueryStrings runs query (rendered by Dialect) and returns its rows as
// text, NULL as "NULL", in the query's order.
func (d *Destination) QueryStrings(ctx context.Context, query string) ([][]string, error) {
	var out [][]string
	err := d.QueryEach(ctx, query, func(vals []sql.NullString) error {
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
		return nil
	})
	return out, err
}

// QueryEach runs query (rendered by Dialect) and calls fn with each row,
// every column as text, in the query's order. fn must not keep row.
func (d *Destination) QueryEach(ctx context.Context, query string, fn func(row []sql.NullString) error) error {
	rows, err := d.db.QueryContext(ctx, "SELECT COLUMNS(*)::VARCHAR FROM (\n"+query+"\n)")
	if err != nil {
		return fmt.Errorf("duckdb %s: query: %w", d.path, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("duckdb %s: query: %w", d.path, err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("duckdb %s: query: %w", d.path, err)
	}
	return nil
}
