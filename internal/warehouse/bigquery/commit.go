package bigquery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/api/googleapi"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// staged is one table's rows of a batch, encoded for its staging load.
type staged struct {
	table  warehouse.Table
	schema bigquery.Schema
	file   []byte
	stage  string // staging table name
}

// Commit applies b in one BigQuery transaction: each table's rows are
// loaded into a staging table first (outside the transaction: a failure
// there leaves the target untouched), then one multi-statement query
// deletes the replaced groups, inserts the staged rows de-duplicated on
// the table's key (the last row of the batch wins), and replaces the state
// rows of b.States.
func (d *Destination) Commit(ctx context.Context, b warehouse.Batch) error {
	names := make([]string, 0, len(b.Rows))
	for name, rec := range b.Rows {
		if rec != nil && rec.NumRows() > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 && len(b.Replace) == 0 && len(b.Deletes) == 0 && len(b.ForgetStates) == 0 && len(b.States) == 0 && len(b.Updates) == 0 && len(b.Meta) == 0 {
		return nil
	}

	d.mu.Lock()
	tables := make(map[string]warehouse.Table, len(d.tables))
	for k, v := range d.tables {
		tables[k] = v
	}
	d.mu.Unlock()

	h := sha256.New()
	fmt.Fprintf(h, "run %s\n", d.runID)
	var stages []*staged
	for _, name := range names {
		t, ok := tables[name]
		if !ok {
			return fmt.Errorf("commit rows of table %s: table was not set up", name)
		}
		if err := checkRecordSchema(t.Schema, b.Rows[name].Schema()); err != nil {
			return fmt.Errorf("commit rows of table %s: %w", name, err)
		}
		schema, err := tableSchema(t.Schema)
		if err != nil {
			return fmt.Errorf("commit rows of table %s: %w", name, err)
		}
		file, err := stagingFile(d.opts.Staging, b.Rows[name])
		if err != nil {
			return fmt.Errorf("encode %s staging rows of table %s: %w", d.opts.Staging, name, err)
		}
		fmt.Fprintf(h, "rows %s %d\n", name, len(file))
		h.Write(file)
		stages = append(stages, &staged{table: t, schema: schema, file: file})
	}
	for _, g := range b.Replace {
		fmt.Fprintf(h, "replace %s %q %d", g.Table, g.Columns, len(g.Values))
		for _, v := range g.Values {
			fmt.Fprintf(h, " %T:%v", v, v)
		}
		h.Write([]byte{'\n'})
	}
	for _, del := range b.Deletes {
		fmt.Fprintf(h, "delete %q\n", []string{del.Table, del.Column, del.Value})
	}
	fmt.Fprintf(h, "account %q forget %q\n", b.Account, b.ForgetStates)
	streams := sortedKeys(b.States)
	for _, s := range streams {
		fmt.Fprintf(h, "state %q %d\n", s, len(b.States[s]))
		h.Write(b.States[s])
	}
	for _, u := range b.Updates {
		fmt.Fprintf(h, "update %q\n", []string{u.Table, u.Set, u.Value, u.Where, u.Match})
	}
	for _, k := range sortedKeys(b.Meta) {
		fmt.Fprintf(h, "meta %q %q\n", k, b.Meta[k])
	}
	digest := hex.EncodeToString(h.Sum(nil))[:24]

	d.mu.Lock()
	attempt := d.retries[digest]
	d.mu.Unlock()
	id := digest + "_" + strconv.Itoa(attempt)

	err := d.commit(ctx, id, stages, b, streams, tables)
	var je *jobError
	if errors.As(err, &je) {
		// The job ran and failed: a retry of this batch must run again
		// under new job IDs rather than attach to the failed job.
		d.mu.Lock()
		d.retries[digest]++
		d.mu.Unlock()
	}
	return err
}

func (d *Destination) commit(ctx context.Context, id string, stages []*staged, b warehouse.Batch, streams []string, tables map[string]warehouse.Table) error {
	for _, s := range stages {
		s.stage = stagePrefix + s.table.Name + "_" + id
		if err := d.loadStaging(ctx, id, s); err != nil {
			return err
		}
	}
	if d.beforeTransaction != nil {
		if err := d.beforeTransaction(ctx); err != nil {
			return fmt.Errorf("commit batch %s: %w", id, err)
		}
	}
	script, params, err := d.script(b, stages, streams, tables)
	if err != nil {
		return fmt.Errorf("commit batch %s: %w", id, err)
	}
	d.txMu.Lock()
	err = retryConflicts(ctx, conflictTries, conflictBackoff, func(attempt int) error {
		jobID := "twilio_elt_commit_" + id
		if attempt > 0 {
			jobID += "_c" + strconv.Itoa(attempt)
			slog.InfoContext(ctx, "another process updated a table this batch writes: running its transaction again", "attempt", attempt+1, "job", jobID)
		}
		q := d.client.Query(script)
		q.Parameters = params
		q.JobID = jobID
		q.Location = d.opts.Location
		return d.runJob(ctx, "commit transaction", jobID, q.Run)
	})
	d.txMu.Unlock()
	if err != nil {
		return err
	}
	// The data is committed: a staging table left behind expires anyway.
	for _, s := range stages {
		if err := d.client.Dataset(d.dataset).Table(s.stage).Delete(ctx); err != nil && !isStatus(err, 404) {
			slog.WarnContext(ctx, "drop bigquery staging table (it expires by itself)", "table", s.stage, "err", err)
		}
	}
	return nil
}

// loadStaging creates s's staging table, expiring, and loads s.file into
// it with a load job.
func (d *Destination) loadStaging(ctx context.Context, id string, s *staged) error {
	schema := stagingSchema(s.schema)
	t := d.client.Dataset(d.dataset).Table(s.stage)
	md := &bigquery.TableMetadata{Schema: schema, ExpirationTime: time.Now().Add(d.opts.StagingExpiration)}
	if err := t.Create(ctx, md); err != nil && !isStatus(err, 409) {
		return fmt.Errorf("create staging table %s: %w", s.stage, err)
	}
	jobID := "twilio_elt_load_" + id + "_" + s.table.Name
	run := func(ctx context.Context) (*bigquery.Job, error) {
		src := bigquery.NewReaderSource(bytes.NewReader(s.file))
		switch d.opts.Staging {
		case NDJSON:
			src.SourceFormat = bigquery.JSON
			src.Schema = schema
		case Parquet:
			src.SourceFormat = bigquery.Parquet
		}
		l := t.LoaderFrom(src)
		l.JobID = jobID
		l.Location = d.opts.Location
		l.CreateDisposition = bigquery.CreateNever
		l.WriteDisposition = bigquery.WriteTruncate
		if d.opts.Staging == Parquet {
			l.DecimalTargetTypes = []bigquery.DecimalTargetType{bigquery.NumericTargetType, bigquery.BigNumericTargetType}
		}
		return l.Run(ctx)
	}
	return d.runJob(ctx, "load staging table "+s.stage, jobID, run)
}

// script builds the transaction and its query parameters.
func (d *Destination) script(b warehouse.Batch, stages []*staged, streams []string, tables map[string]warehouse.Table) (string, []bigquery.QueryParameter, error) {
	p := &paramSet{index: map[paramKey]string{}}
	var sb strings.Builder
	sb.WriteString("BEGIN TRANSACTION;\n")

	replace := slices.Clone(b.Replace)
	for _, del := range b.Deletes {
		replace = append(replace, del.Group())
	}
	deletes, err := groupDeletes(replace, tables)
	if err != nil {
		return "", nil, err
	}
	for _, del := range deletes {
		where, err := del.where(p)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintf(&sb, "DELETE FROM %s WHERE %s;\n", d.tableRef(del.table.Name), where)
	}

	for _, s := range stages {
		cols := make([]string, len(s.schema))
		for i, f := range s.schema {
			cols[i] = quoteIdent(f.Name)
		}
		list := strings.Join(cols, ", ")
		from := d.tableRef(s.stage)
		switch {
		case len(s.table.Key) == 0:
			fmt.Fprintf(&sb, "INSERT INTO %s (%s) SELECT DISTINCT %s FROM %s;\n", d.tableRef(s.table.Name), list, list, from)
			continue
		case s.table.UniqueKeys:
			fmt.Fprintf(&sb, "INSERT INTO %s (%s) SELECT %s FROM %s;\n", d.tableRef(s.table.Name), list, list, from)
			continue
		}
		keys := make([]string, len(s.table.Key))
		for i, k := range s.table.Key {
			keys[i] = quoteIdent(k)
		}
		fmt.Fprintf(&sb, "INSERT INTO %s (%s) SELECT %s FROM (SELECT %s, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s DESC) AS %s FROM %s) WHERE %s = 1;\n",
			d.tableRef(s.table.Name), list, list, list, strings.Join(keys, ", "), quoteIdent(seqCol), quoteIdent(rnCol), from, quoteIdent(rnCol))
	}

	for i, u := range b.Updates {
		t, ok := tables[u.Table]
		if !ok || len(t.Schema.FieldIndices(u.Set)) != 1 || len(t.Schema.FieldIndices(u.Where)) != 1 {
			return "", nil, fmt.Errorf("update of %s.%s where %s: no such table or column", u.Table, u.Set, u.Where)
		}
		v := p.add("u", paramKey{kind: "update", col: strconv.Itoa(i), value: u.Value}, u.Value)
		m := p.add("m", paramKey{kind: "match", col: strconv.Itoa(i), value: u.Match}, u.Match)
		fmt.Fprintf(&sb, "UPDATE %s SET %s = %s WHERE %s = %s;\n", d.tableRef(u.Table), quoteIdent(u.Set), v, quoteIdent(u.Where), m)
	}

	if keys := sortedKeys(b.Meta); len(keys) > 0 {
		meta := d.tableRef(warehouse.MetaTable)
		names := make([]string, len(keys))
		values := make([]string, len(keys))
		for i, k := range keys {
			names[i] = p.add("k", paramKey{kind: "metakey", value: k}, k)
			v := p.add("v", paramKey{kind: "metavalue", value: k}, b.Meta[k])
			values[i] = fmt.Sprintf("(%s, %s, CURRENT_TIMESTAMP())", names[i], v)
		}
		fmt.Fprintf(&sb, "DELETE FROM %s WHERE %s IN (%s);\n", meta, quoteIdent(metaKeyCol), strings.Join(names, ", "))
		fmt.Fprintf(&sb, "INSERT INTO %s (%s, %s, %s) VALUES %s;\n", meta,
			quoteIdent(metaKeyCol), quoteIdent(metaValueCol), quoteIdent(stateUpdatedCol), strings.Join(values, ", "))
	}

	if len(b.ForgetStates) > 0 {
		forget := make([]string, len(b.ForgetStates))
		for i, acct := range b.ForgetStates {
			forget[i] = p.add("f", paramKey{kind: "forget", value: acct}, acct)
		}
		fmt.Fprintf(&sb, "DELETE FROM %s WHERE %s IS NULL OR %s IN (%s);\n", d.tableRef(warehouse.StateTable),
			quoteIdent(stateAccountCol), quoteIdent(stateAccountCol), strings.Join(forget, ", "))
	}
	if len(streams) > 0 {
		state := d.tableRef(warehouse.StateTable)
		// The account's rows, and the legacy (unscoped) rows it adopts.
		acct, which := "NULL", quoteIdent(stateAccountCol)+" IS NULL"
		if b.Account != "" {
			acct = p.add("a", paramKey{kind: "account", value: b.Account}, b.Account)
			which = fmt.Sprintf("(%s OR %s = %s)", which, quoteIdent(stateAccountCol), acct)
		}
		names := make([]string, len(streams))
		values := make([]string, len(streams))
		for i, s := range streams {
			names[i] = p.add("s", paramKey{kind: "stream", value: s}, s)
			v := p.add("v", paramKey{kind: "state", value: s}, string(b.States[s]))
			values[i] = fmt.Sprintf("(%s, %s, CURRENT_TIMESTAMP(), %s)", names[i], v, acct)
		}
		fmt.Fprintf(&sb, "DELETE FROM %s WHERE %s IN (%s) AND %s;\n", state, quoteIdent(stateStreamCol), strings.Join(names, ", "), which)
		fmt.Fprintf(&sb, "INSERT INTO %s (%s, %s, %s, %s) VALUES %s;\n", state,
			quoteIdent(stateStreamCol), quoteIdent(stateStateCol), quoteIdent(stateUpdatedCol), quoteIdent(stateAccountCol), strings.Join(values, ", "))
	}
	sb.WriteString("COMMIT TRANSACTION;\n")
	return sb.String(), p.params, nil
}

// tableDelete is the replaced groups of one table over one set of
// columns.
type tableDelete struct {
	table  warehouse.Table
	cols   []string
	all    bool
	groups [][]any
}

// groupDeletes collects b.Replace per table and group columns (sorted,
// duplicates removed). A whole-table group makes the table's other
// deletes moot.
func groupDeletes(replace []warehouse.Group, tables map[string]warehouse.Table) ([]*tableDelete, error) {
	byKey := map[string]*tableDelete{}
	whole := map[string]bool{}
	seen := map[string]bool{}
	for _, g := range replace {
		t, ok := tables[g.Table]
		if !ok {
			return nil, fmt.Errorf("replace group of table %s: table was not set up", g.Table)
		}
		cols := g.Cols(t)
		if len(g.Values) != 0 && len(g.Values) != len(cols) {
			return nil, fmt.Errorf("replace group of table %s: %d values for group columns %v", g.Table, len(g.Values), cols)
		}
		if len(g.Values) == 0 {
			whole[g.Table] = true
			byKey[g.Table] = &tableDelete{table: t, all: true}
			continue
		}
		k := g.Table + "\x00" + strings.Join(cols, "\x00")
		del := byKey[k]
		if del == nil {
			del = &tableDelete{table: t, cols: cols}
			byKey[k] = del
		}
		key := fmt.Sprintf("%s %q %#v", g.Table, cols, g.Values)
		if seen[key] {
			continue
		}
		seen[key] = true
		del.groups = append(del.groups, g.Values)
	}
	out := make([]*tableDelete, 0, len(byKey))
	for _, k := range sortedKeys(byKey) {
		del := byKey[k]
		if whole[del.table.Name] && !del.all {
			continue
		}
		out = append(out, del)
	}
	return out, nil
}

// where is the condition matching the rows of del's groups. When the
// table is partitioned by one of the group columns, the condition starts
// with that column's values as parameters, so BigQuery prunes partitions.
func (del *tableDelete) where(p *paramSet) (string, error) {
	if del.all {
		return "TRUE", nil
	}
	t := del.table
	types := make([]arrow.DataType, len(del.cols))
	for i, c := range del.cols {
		f, ok := t.Schema.FieldsByName(c)
		if !ok || len(f) == 0 {
			return "", fmt.Errorf("table %s: group column %s is not in the schema", t.Name, c)
		}
		types[i] = f[0].Type
	}
	if len(del.cols) == 1 {
		if cond, ok, err := del.inList(p, types[0]); ok || err != nil {
			return cond, err
		}
	}
	var prune []string
	pruneCol := slices.Index(del.cols, t.PartitionBy)
	pruned := map[string]bool{}
	ors := make([]string, 0, len(del.groups))
	for _, g := range del.groups {
		ands := make([]string, len(g))
		for i, v := range g {
			col := quoteIdent(del.cols[i])
			if v == nil {
				ands[i] = col + " IS NULL"
				continue
			}
			pv, err := paramValue(types[i], v)
			if err != nil {
				return "", fmt.Errorf("table %s group column %s: %w", t.Name, del.cols[i], err)
			}
			name := p.add("g", paramKey{kind: "group", col: del.cols[i], value: fmt.Sprint(pv)}, pv)
			ands[i] = col + " = " + name
			if i == pruneCol && !pruned[name] {
				pruned[name] = true
				prune = append(prune, name)
			}
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	cond := "(" + strings.Join(ors, " OR ") + ")"
	if len(prune) > 0 {
		cond = quoteIdent(t.PartitionBy) + " IN (" + strings.Join(prune, ", ") + ") AND " + cond
	}
	return cond, nil
}

// inList matches the groups of a one-column group as `col IN
// UNNEST(@array)`: one parameter, however many groups (an OR per group
// would exceed the emulator's function arity with a category table's
// hundreds). It declines (ok false) when a value is NULL or the column is
// not a STRING.
func (del *tableDelete) inList(p *paramSet, t arrow.DataType) (cond string, ok bool, err error) {
	if _, isString := t.(*arrow.StringType); !isString {
		return "", false, nil
	}
	values := make([]string, 0, len(del.groups))
	for _, g := range del.groups {
		v, isString := g[0].(string)
		if !isString {
			return "", false, nil
		}
		values = append(values, v)
	}
	col := del.cols[0]
	name := p.add("g", paramKey{kind: "groupset", col: col, value: strings.Join(values, "\x00")}, values)
	return quoteIdent(col) + " IN UNNEST(" + name + ")", true, nil
}

// paramValue converts a group value to the query parameter value of a
// column of type t: civil.Date for DATE, time.Time for TIMESTAMP, the
// string or integer as is.
func paramValue(t arrow.DataType, v any) (any, error) {
	switch t.(type) {
	case *arrow.Date32Type:
		switch v := v.(type) {
		case time.Time:
			return civil.DateOf(v.UTC()), nil
		case civil.Date:
			return v, nil
		}
	case *arrow.TimestampType:
		if v, ok := v.(time.Time); ok {
			return v.UTC(), nil
		}
	case *arrow.StringType, *arrow.LargeStringType:
		if v, ok := v.(string); ok {
			return v, nil
		}
	case *arrow.Int64Type, *arrow.Int32Type:
		switch v := v.(type) {
		case int64:
			return v, nil
		case int:
			return int64(v), nil
		}
	case *arrow.BooleanType:
		if v, ok := v.(bool); ok {
			return v, nil
		}
	}
	return nil, fmt.Errorf("value %v (%T) does not fit column type %s", v, v, t)
}

type paramKey struct{ kind, col, value string }

// paramSet names query parameters, one per distinct value.
type paramSet struct {
	index  map[paramKey]string
	params []bigquery.QueryParameter
}

func (p *paramSet) add(prefix string, k paramKey, v any) string {
	if name, ok := p.index[k]; ok {
		return "@" + name
	}
	name := prefix + strconv.Itoa(len(p.params))
	p.index[k] = name
	p.params = append(p.params, bigquery.QueryParameter{Name: name, Value: v})
	return "@" + name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkRecordSchema fails unless rec has the table's columns, in order,
// with the same types: a batch that does not fit its table fails before
// anything is loaded.
func checkRecordSchema(table, rec *arrow.Schema) error {
	if table.NumFields() != rec.NumFields() {
		return fmt.Errorf("batch has %d columns, table has %d", rec.NumFields(), table.NumFields())
	}
	for i, want := range table.Fields() {
		got := rec.Field(i)
		if got.Name != want.Name || !arrow.TypeEqual(got.Type, want.Type) {
			return fmt.Errorf("batch column %d is %s %s, table has %s %s", i, got.Name, got.Type, want.Name, want.Type)
		}
	}
	return nil
}

// A transaction aborted by another's concurrent update of the same table
// is run again this many times in all, after growing delays: two
// processes (or shards) loading one dataset commit to the same tables.
const conflictTries = 8

func conflictBackoff(attempt int) time.Duration {
	d := time.Second << min(attempt, 5) // 1 s, 2 s, … 32 s
	return d/2 + rand.N(d/2)
}

// retryConflicts runs run (attempt 0, 1, …) until it succeeds, fails for
// another reason than a concurrent update, or has been tried tries times.
// An aborted transaction changed nothing, so running it again is safe.
func retryConflicts(ctx context.Context, tries int, backoff func(attempt int) time.Duration, run func(attempt int) error) error {
	for attempt := 0; ; attempt++ {
		err := run(attempt)
		if err == nil || !isConcurrentUpdate(err) || attempt+1 >= tries {
			return err
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// isConcurrentUpdate reports whether err is BigQuery aborting a
// transaction because another job changed a table it reads or writes:
// "Transaction is aborted due to concurrent update against table …", or
// "Could not serialize access to table … due to concurrent update".
func isConcurrentUpdate(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "due to concurrent update") || strings.Contains(msg, "concurrent update against table")
}

// startTries bounds the tries to start one job; startBackoff spaces them
// (0.5–1 s, 1–2 s, 2–4 s).
const startTries = 4

func startBackoff(attempt int) time.Duration {
	d := time.Second << min(attempt, 3)
	return d/2 + rand.N(d/2)
}

// isTransient reports whether err, from starting a job, may pass if
// tried again: a server error, a rate limit or a timeout answered by
// BigQuery, or a request that got no answer (a connection refused, reset
// or timed out). A context's end is not.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code >= 500 || ge.Code == http.StatusTooManyRequests || ge.Code == http.StatusRequestTimeout
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
