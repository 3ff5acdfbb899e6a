// Package bigquery is the BigQuery warehouse.Destination: it creates the
// dataset and tables from the warehouse.Table Arrow schemas (partitioned
// and clustered as the tables ask), and commits each batch by loading its
// rows into per-batch staging tables that expire — through load jobs,
// which are free, never streaming inserts — and then running one
// multi-statement transaction that replaces the batch's groups, inserts the
// de-duplicated staged rows and upserts the stream states.
//
// Staging files are Parquet written with pqarrow (zstd; DATE, TIMESTAMP in
// µs UTC, DECIMAL(38,9) for NUMERIC) for real BigQuery, or newline-delimited
// JSON for the goccy bigquery-emulator, whose Parquet loader is broken.
// Money stays exact throughout: NUMERIC in the tables, DECIMAL in Parquet,
// the decimal text in JSON.
//
// Every job gets a deterministic ID derived from the run and the batch's
// content, so a job inserted again after a lost response (409 Already
// Exists) is waited for instead of run twice, and a Commit retried with the
// same batch after an unknown outcome applies it at most once.
package bigquery

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// StagingFormat is the file format of the staging loads.
type StagingFormat string

const (
	// Parquet stages rows as zstd Parquet written by pqarrow: the default,
	// for real BigQuery.
	Parquet StagingFormat = "parquet"
	// NDJSON stages rows as newline-delimited JSON: for the goccy
	// bigquery-emulator, whose Parquet loader is broken.
	NDJSON StagingFormat = "ndjson"
)

// Options configures a Destination.
type Options struct {
	// Project is the Google Cloud project that holds the dataset and runs
	// the jobs.
	Project string
	// Dataset is created in Location when missing.
	Dataset string
	// Location is the dataset's and the jobs' location ("" for BigQuery's
	// default, US).
	Location string
	// Endpoint, when set, is an emulator's base URL (e.g.
	// http://127.0.0.1:9050): requests go there without authentication.
	// Empty means BigQuery with Application Default Credentials.
	Endpoint string

	// Staging selects the staging file format: Parquet when empty.
	Staging StagingFormat
	// StagingExpiration is how long a staging table lives if a crash
	// keeps it from being dropped: 24h when zero.
	StagingExpiration time.Duration
}

const (
	stateStreamCol  = "stream"
	stateStateCol   = "state"
	stateUpdatedCol = "updated_at"
	stateAccountCol = "account_sid"
	metaKeyCol      = "key"
	metaValueCol    = "value"
	// seqCol numbers staged rows in batch order, so that of two rows with
	// the same key the later one wins.
	seqCol = "_twilio_elt_seq"
	rnCol  = "_twilio_elt_rn"
	// stagePrefix starts every staging table's name.
	stagePrefix = "_twilio_elt_stage_"
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Destination loads batches into one BigQuery dataset. It is safe for
// concurrent use, though the pipeline commits one batch at a time.
type Destination struct {
	client  *bigquery.Client
	project string
	dataset string
	opts    Options
	runID   string

	mu     sync.Mutex
	tables map[string]warehouse.Table
	// txMu serializes this process's transactions: the loaders of a
	// multi-account sync share one Destination, and BigQuery aborts
	// concurrent transactions on the same table.
	txMu sync.Mutex
	// retries counts, per batch digest, the attempts that failed for
	// sure, so that a retry after a definite failure gets fresh job IDs
	// while a retry after an unknown outcome reuses them.
	retries map[string]int

	// beforeTransaction, when set (tests), runs after the staging loads
	// and before the transaction: an error there is a crash before commit.
	beforeTransaction func(ctx context.Context) error
}

var _ warehouse.Destination = (*Destination)(nil)

// New connects to BigQuery (or the emulator at opts.Endpoint). It makes no
// request: Setup creates the dataset and tables.
func New(ctx context.Context, opts Options) (*Destination, error) {
	var problems []error
	if opts.Project == "" {
		problems = append(problems, errors.New("project is required"))
	}
	if !identRE.MatchString(opts.Dataset) {
		problems = append(problems, fmt.Errorf("dataset %q: want letters, digits and underscores", opts.Dataset))
	}
	switch opts.Staging {
	case "":
		opts.Staging = Parquet
	case Parquet, NDJSON:
	default:
		problems = append(problems, fmt.Errorf("staging format %q: want %q or %q", opts.Staging, Parquet, NDJSON))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("bigquery options: %w", err)
	}
	if opts.StagingExpiration <= 0 {
		opts.StagingExpiration = 24 * time.Hour
	}
	var copts []option.ClientOption
	if opts.Endpoint != "" {
		copts = append(copts, option.WithEndpoint(opts.Endpoint), option.WithoutAuthentication())
	}
	client, err := bigquery.NewClient(ctx, opts.Project, copts...)
	if err != nil {
		return nil, fmt.Errorf("bigquery client for project %s: %w", opts.Project, err)
	}
	client.Location = opts.Location
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("bigquery run id: %w", err)
	}
	return &Destination{
		client:  client,
		project: opts.Project,
		dataset: opts.Dataset,
		opts:    opts,
		runID:   time.Now().UTC().Format("20060102T150405") + "_" + hex.EncodeToString(id[:]),
		tables:  map[string]warehouse.Table{},
		retries: map[string]int{},
	}, nil
}

// Close releases the client.
func (d *Destination) Close() error {
	if err := d.client.Close(); err != nil {
		return fmt.Errorf("close bigquery client: %w", err)
	}
	return nil
}

// stateTable is the schema of warehouse.StateTable.
func stateSchema() bigquery.Schema {
	return bigquery.Schema{
		{Name: stateStreamCol, Type: bigquery.StringFieldType, Required: true},
		{Name: stateStateCol, Type: bigquery.StringFieldType, Required: true},
		{Name: stateUpdatedCol, Type: bigquery.TimestampFieldType, Required: true},
		{Name: stateAccountCol, Type: bigquery.StringFieldType},
	}
}

// Setup creates the dataset, the tables, the state table and the meta
// table when missing, and adds columns a table's schema gained since it
// was created. A view where a table belongs (an older version's) is
// replaced by the table.
func (d *Destination) Setup(ctx context.Context, tables []warehouse.Table) error {
	ds := d.client.Dataset(d.dataset)
	// Look first: the emulator answers a duplicate create with a 500.
	if _, err := ds.Metadata(ctx); isStatus(err, http.StatusNotFound) {
		if err := ds.Create(ctx, &bigquery.DatasetMetadata{Location: d.opts.Location}); err != nil && !isStatus(err, http.StatusConflict) {
			// Another process (a worker of another shard) may have
			// created it since we looked: the emulator says so with a 500.
			if _, merr := ds.Metadata(ctx); merr != nil {
				return fmt.Errorf("create dataset %s: %w", d.dataset, err)
			}
		}
	} else if err != nil {
		return fmt.Errorf("read dataset %s: %w", d.dataset, err)
	}
	defs := map[string]warehouse.Table{}
	for _, t := range tables {
		if !identRE.MatchString(t.Name) || t.Name == warehouse.StateTable || t.Name == warehouse.MetaTable {
			return fmt.Errorf("setup table %q: invalid or reserved name", t.Name)
		}
		md, err := tableMetadata(t)
		if err != nil {
			return fmt.Errorf("setup table %s: %w", t.Name, err)
		}
		if err := d.ensureTable(ctx, t.Name, md); err != nil {
			return err
		}
		defs[t.Name] = t
	}
	if err := d.ensureTable(ctx, warehouse.StateTable, &bigquery.TableMetadata{Schema: stateSchema()}); err != nil {
		return err
	}
	meta := bigquery.Schema{
		{Name: metaKeyCol, Type: bigquery.StringFieldType, Required: true},
		{Name: metaValueCol, Type: bigquery.StringFieldType, Required: true},
		{Name: stateUpdatedCol, Type: bigquery.TimestampFieldType, Required: true},
	}
	if err := d.ensureTable(ctx, warehouse.MetaTable, &bigquery.TableMetadata{Schema: meta}); err != nil {
		return err
	}
	d.mu.Lock()
	for name, t := range defs {
		d.tables[name] = t
	}
	d.mu.Unlock()
	return nil
}

// ensureTable creates the table, or, when it exists, adds the columns of
// want it lacks (as NULLABLE, the only kind BigQuery can add, at the end)
// and fails on a column whose type differs.
func (d *Destination) ensureTable(ctx context.Context, name string, want *bigquery.TableMetadata) error {
	t := d.client.Dataset(d.dataset).Table(name)
	err := t.Create(ctx, want)
	if err == nil {
		return nil
	}
	if !isStatus(err, http.StatusConflict) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	have, err := t.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("read table %s: %w", name, err)
	}
	if have.Type == bigquery.ViewTable {
		// DDL rather than tables.delete, which the goccy emulator runs as
		// DROP TABLE and fails on a view.
		if err := d.runDDL(ctx, "DROP VIEW "+d.tableRef(name)); err != nil {
			return fmt.Errorf("replace the view %s by a table: drop the view: %w", name, err)
		}
		if err := t.Create(ctx, want); err != nil {
			return fmt.Errorf("replace the view %s by a table: %w", name, err)
		}
		return nil
	}
	byName := map[string]*bigquery.FieldSchema{}
	for _, f := range have.Schema {
		byName[f.Name] = f
	}
	schema := append(bigquery.Schema{}, have.Schema...)
	added := false
	for _, f := range want.Schema {
		h, ok := byName[f.Name]
		if !ok {
			nf := *f
			nf.Required = false
			schema = append(schema, &nf)
			added = true
			continue
		}
		if h.Type != f.Type {
			return fmt.Errorf("table %s column %s is %s, want %s", name, f.Name, h.Type, f.Type)
		}
	}
	if !added {
		return nil
	}
	// The goccy emulator records a patched schema without adding the
	// column to its storage (and runs no ALTER TABLE): tests against it
	// cannot add columns (see TestConformance).
	if _, err := t.Update(ctx, bigquery.TableMetadataToUpdate{Schema: schema}, have.ETag); err != nil {
		return fmt.Errorf("add columns to table %s: %w", name, err)
	}
	return nil
}

// States returns the stream states of main account account: per stream,
// its row, else the unscoped row an older version wrote (see
// warehouse.Destination).
func (d *Destination) States(ctx context.Context, account string) (map[string]json.RawMessage, error) {
	q := d.client.Query(fmt.Sprintf("SELECT %s, %s, %s IS NOT NULL AS own FROM %s WHERE %s IS NULL OR %s = @account ORDER BY own",
		quoteIdent(stateStreamCol), quoteIdent(stateStateCol), quoteIdent(stateAccountCol), d.tableRef(warehouse.StateTable),
		quoteIdent(stateAccountCol), quoteIdent(stateAccountCol)))
	q.Parameters = []bigquery.QueryParameter{{Name: "account", Value: account}}
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read states: %w", err)
	}
	states := map[string]json.RawMessage{}
	for {
		var row struct {
			Stream string `bigquery:"stream"`
			State  string `bigquery:"state"`
			Own    bool   `bigquery:"own"`
		}
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read states: %w", err)
		}
		states[row.Stream] = json.RawMessage(row.State) // the account's own row comes last
	}
	return states, nil
}

// runDDL runs one statement and waits for it.
func (d *Destination) runDDL(ctx context.Context, stmt string) error {
	q := d.client.Query(stmt)
	q.Location = d.opts.Location
	job, err := q.Run(ctx)
	if err != nil {
		return err
	}
	status, err := job.Wait(ctx)
	if err != nil {
		return err
	}
	return status.Err()
}

// Meta returns the values stored by earlier commits' Meta.
func (d *Destination) Meta(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	q := fmt.Sprintf("SELECT %s, %s FROM %s", quoteIdent(metaKeyCol), quoteIdent(metaValueCol), d.tableRef(warehouse.MetaTable))
	err := d.QueryEach(ctx, q, func(row []sql.NullString) error {
		out[row[0].String] = row[1].String
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", warehouse.MetaTable, err)
	}
	return out, nil
}

// tableRef is the quoted, fully qualified name of a table of the dataset.
func (d *Destination) tableRef(name string) string {
	return "`" + d.project + "." + d.dataset + "." + name + "`"
}

// quoteIdent quotes a column name (names are checked against identRE).
func quoteIdent(name string) string { return "`" + name + "`" }

// isStatus reports whether err is a Google API error with the HTTP code.
func isStatus(err error, code int) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == code
}

// runJob inserts a job with a deterministic ID through run; when the
// insert answers 409 (a retried insert, or a Commit retried after an
// unknown outcome), it attaches to the existing job instead. It waits for
// the job and returns its error.
//
// It looks the job up first: a server that re-runs a job inserted under an
// existing ID (the emulator does) must not apply a commit twice either.
//
// Starting the job is tried up to startTries times when BigQuery answers
// with a transient error (5xx, 429, 408, or the connection failed): the
// client library does not retry an insert carrying an upload (a load
// job), and a retry is safe, since each try looks the job up by its ID
// first and attaches to it if an earlier try did create it.
func (d *Destination) runJob(ctx context.Context, what, id string, run func(ctx context.Context) (*bigquery.Job, error)) error {
	var job *bigquery.Job
	var err error
	for attempt := 0; ; attempt++ {
		job, err = d.startJob(ctx, id, run)
		if err == nil || !isTransient(err) || attempt+1 >= startTries || ctx.Err() != nil {
			break
		}
		slog.WarnContext(ctx, "bigquery did not start a job: trying again", "job", id, "attempt", attempt+2, "err", err)
		t := time.NewTimer(startBackoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	status, err := job.Wait(ctx)
	if err != nil {
		return fmt.Errorf("%s: wait for job %s: %w", what, id, err)
	}
	if err := status.Err(); err != nil {
		return &jobError{what: what, id: id, err: err}
	}
	return nil
}

// startJob returns the job of id, inserting it through run unless it
// exists.
func (d *Destination) startJob(ctx context.Context, id string, run func(ctx context.Context) (*bigquery.Job, error)) (*bigquery.Job, error) {
	job, err := d.client.JobFromIDLocation(ctx, id, d.opts.Location)
	switch {
	case err == nil:
		slog.DebugContext(ctx, "bigquery job exists, waiting for it", "job", id)
		return job, nil
	case isStatus(err, http.StatusNotFound):
		job, err = run(ctx)
	default:
		return nil, fmt.Errorf("look up job %s: %w", id, err)
	}
	if isStatus(err, http.StatusConflict) {
		slog.DebugContext(ctx, "bigquery job exists, waiting for it", "job", id)
		job, err = d.client.JobFromIDLocation(ctx, id, d.opts.Location)
	}
	if err != nil {
		return nil, fmt.Errorf("start job %s: %w", id, err)
	}
	return job, nil
}

// jobError is a job that finished with an error: a definite failure.
type jobError struct {
	what, id string
	err      error
}

func (e *jobError) Error() string { return fmt.Sprintf("%s: job %s failed: %v", e.what, e.id, e.err) }
func (e *jobError) Unwrap() error { return e.err }

// ReadStrings returns the values of cols in every row of table as text:
// STRING as is, DATE as YYYY-MM-DD, NUMERIC as its exact decimal,
// TIMESTAMP as "2006-01-02 15:04:05[.ffffff]+00", NULL as "NULL". It is
// for tests and checks (the conformance suite reads rows back with it).
func (d *Destination) ReadStrings(ctx context.Context, table string, cols []string) ([][]string, error) {
	if !identRE.MatchString(table) {
		return nil, fmt.Errorf("read table %q: invalid name", table)
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		if !identRE.MatchString(c) {
			return nil, fmt.Errorf("read table %s: invalid column %q", table, c)
		}
		quoted[i] = quoteIdent(c)
	}
	rows, err := d.QueryStrings(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(quoted, ", "), d.tableRef(table)))
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	return rows, nil
}

// valueText renders a value read from BigQuery exactly.
func valueText(v bigquery.Value) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		return v
	case civil.Date:
		return v.String()
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
	case *big.Rat:
		s := v.FloatString(38)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// Dialect is BigQuery's spelling of the shared view SQL.
func (d *Destination) Dialect() warehouse.Dialect {
	return warehouse.Dialect{BigQuery: true, Table: d.tableRef}
}

// CreateViews creates the views, in order, or replaces those whose
// query changed (CREATE OR REPLACE VIEW). An unchanged view is left
// alone, which is also what lets the goccy emulator (v0.6.6) run a second
// sync: it can create a view but neither replace nor delete one.
func (d *Destination) CreateViews(ctx context.Context, views []warehouse.View) error {
	for _, v := range views {
		if !identRE.MatchString(v.Name) {
			return fmt.Errorf("create view %q: invalid name", v.Name)
		}
		q, err := d.Dialect().Render(v.Query)
		if err != nil {
			return fmt.Errorf("create view %s: %w", v.Name, err)
		}
		if err := d.ensureView(ctx, v.Name, q); err != nil {
			return fmt.Errorf("create view %s in %s.%s: %w", v.Name, d.project, d.dataset, err)
		}
	}
	return nil
}

func (d *Destination) ensureView(ctx context.Context, name, query string) error {
	t := d.client.Dataset(d.dataset).Table(name)
	md, err := t.Metadata(ctx)
	switch {
	case isStatus(err, http.StatusNotFound):
		return t.Create(ctx, &bigquery.TableMetadata{ViewQuery: query})
	case err != nil:
		return err
	case md.Type != bigquery.ViewTable:
		return fmt.Errorf("%s exists and is not a view", name)
	case md.ViewQuery == query:
		return nil
	}
	job, err := d.client.Query(fmt.Sprintf("CREATE OR REPLACE VIEW %s AS\n%s", d.tableRef(name), query)).Run(ctx)
	if err != nil {
		return err
	}
	status, err := job.Wait(ctx)
	if err != nil {
		return err
	}
	return status.Err()
}

// QueryStrings runs query (rendered by Dialect) and returns its rows as
// text (as ReadStrings renders values), in the query's order.
func (d *Destination) QueryStrings(ctx context.Context, query string) ([][]string, error) {
	var out [][]string
	err := d.QueryEach(ctx, query, func(row []sql.NullString) error {
		texts := make([]string, len(row))
		for i, v := range row {
			texts[i] = "NULL"
			if v.Valid {
				texts[i] = v.String
			}
		}
		out = append(out, texts)
		return nil
	})
	return out, err
}

// QueryEach runs query (rendered by Dialect) and calls fn with each row,
// every value as text (as ReadStrings renders it), in the query's order.
// fn must not keep row.
func (d *Destination) QueryEach(ctx context.Context, query string, fn func(row []sql.NullString) error) error {
	it, err := d.client.Query(query).Read(ctx)
	if err != nil {
		return fmt.Errorf("bigquery %s.%s: query: %w", d.project, d.dataset, err)
	}
	var vals []sql.NullString
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bigquery %s.%s: query: %w", d.project, d.dataset, err)
		}
		vals = slices.Grow(vals[:0], len(row))[:len(row)]
		for i, v := range row {
			vals[i] = sql.NullString{String: valueText(v), Valid: v != nil}
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
}
