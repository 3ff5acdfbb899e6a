package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/protocol/airbyte"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/bigquery"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/raw"
	"github.com/twilio-elt/twilio-elt/spec"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// destFlags are the flags that choose a warehouse.
type destFlags struct {
	kind                                 *string
	path                                 *string
	project, dataset, location, endpoint *string
	staging                              *string
	keepZero                             *bool
	raw                                  *bool
	// lockWait is how long to wait for another process to close the
	// DuckDB file.
	lockWait *time.Duration
}

// addDestFlags adds the flags that choose a warehouse to fs; loading adds
// the ones about writing to it.
func addDestFlags(fs *flag.FlagSet, defaultPath string, loading bool) destFlags {
	f := destFlags{
		kind:     fs.String("destination", "duckdb", "warehouse: duckdb or bigquery"),
		path:     fs.String("path", defaultPath, "DuckDB database `file`"),
		project:  fs.String("project", "", "BigQuery project"),
		dataset:  fs.String("dataset", "", "BigQuery dataset"),
		location: fs.String("location", "US", "BigQuery location"),
		endpoint: fs.String("endpoint", "", "BigQuery API endpoint `URL` (an emulator)"),
		staging:  new(string),
		keepZero: new(bool),
		raw:      new(bool),
		lockWait: fs.Duration("lock-wait", 10*time.Minute, "DuckDB: how long to wait for another process (another sync) to close the file before giving up"),
	}
	if loading {
		f.staging = fs.String("staging", "parquet", "BigQuery staging file format: parquet, or ndjson (the goccy emulator loads no Parquet)")
		f.keepZero = fs.Bool("keep-zero-rows", false, "keep usage rows whose count, usage and price are all zero")
		f.raw = fs.Bool("raw", true, "DuckDB: archive every record received under raw/ next to the database")
	}
	return f
}

// duckdbFlags is a DuckDB file at --path, with its raw archive.
func duckdbFlags(fs *flag.FlagSet, defaultPath string) destFlags {
	return destFlags{
		kind: ptr("duckdb"), path: fs.String("path", defaultPath, "DuckDB database `file`"),
		project: new(string), dataset: new(string), location: new(string), endpoint: new(string),
		staging: new(string), keepZero: new(bool), raw: ptr(true),
		lockWait: ptr(time.Duration(0)),
	}
}

func ptr[T any](v T) *T { return &v }

// openedDest is an open warehouse with what the pipeline needs of it.
type openedDest struct {
	dest    destination
	query   costmodel.Querier
	close   func() error // may be called more than once
	rawDir  string       // "" when no raw archive
	display string
}

// destination is a warehouse as the commands use it: the pipeline's
// destination that also answers queries as text.
type destination interface {
	pipeline.Destination
	QueryStrings(ctx context.Context, query string) ([][]string, error)
}

// openExisting opens the warehouse of f, which must exist: a DuckDB
// file is not created by a command that only reads.
func (f destFlags) openExisting(ctx context.Context, stderr io.Writer) (*openedDest, error) {
	if *f.kind == "duckdb" {
		if _, err := os.Stat(*f.path); err != nil {
			return nil, fmt.Errorf("no DuckDB warehouse at %s: %w", *f.path, err)
		}
	}
	return f.open(ctx, stderr)
}

// open opens the warehouse of f. A DuckDB file another process has open
// (DuckDB lets one process at a time write a file) is waited for, up to
// --lock-wait, saying so on stderr.
func (f destFlags) open(ctx context.Context, stderr io.Writer) (*openedDest, error) {
	switch *f.kind {
	case "duckdb":
		if *f.path == "" {
			return nil, errors.New("--path is required for --destination duckdb")
		}
		d, err := duckdb.OpenWait(ctx, *f.path, *f.lockWait, func(holder string) {
			fmt.Fprintf(stderr, "twilio-elt: %s is in use by another process (%s): waiting up to %s for it to finish (--lock-wait)\n", *f.path, holder, *f.lockWait)
		})
		if err != nil {
			return nil, err
		}
		o := &openedDest{dest: d, query: d, close: sync.OnceValue(d.Close), display: *f.path}
		if *f.raw {
			o.rawDir = RawDir(*f.path)
		}
		return o, nil
	case "bigquery":
		if *f.project == "" || *f.dataset == "" {
			return nil, errors.New("--project and --dataset are required for --destination bigquery")
		}
		return openBigQuery(ctx, bigquery.Options{Project: *f.project, Dataset: *f.dataset, Location: *f.location,
			Endpoint: *f.endpoint, Staging: bigquery.StagingFormat(*f.staging)})
	default:
		return nil, fmt.Errorf("unknown --destination %q: use duckdb or bigquery", *f.kind)
	}
}

// RawDir is where the raw archive of the DuckDB file at path lives:
// raw/<file name without extension>/ next to it.
func RawDir(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return filepath.Join(filepath.Dir(path), "raw", base)
}

// openBigQuery opens the BigQuery destination (an emulator at endpoint,
// when set). It keeps no raw archive.
func openBigQuery(ctx context.Context, opts bigquery.Options) (*openedDest, error) {
	d, err := bigquery.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &openedDest{dest: d, query: d, close: sync.OnceValue(d.Close), display: "bigquery:" + opts.Project + "." + opts.Dataset}, nil
}

func newStderrLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// runLoad: twilio-elt load.
func runLoad(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("load")
	df := addDestFlags(fs, "twilio.duckdb", true)
	fromRaw := fs.String("from-raw", "", "rebuild the tables (and the stream states) from a raw archive `folder` instead of reading stdin")
	skipUnreadable := fs.Bool("skip-unreadable", false, "with --from-raw: rebuild without the runs an older version left unreadable (killed), instead of failing")
	mainSID := fs.String("account-sid", "", "main account SID, the billing account of usage whose account is not in the input")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	log := newStderrLogger(sys.Stderr, *debug)
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt load: %s\n", oneLine(err))
		return 1
	}
	if *fromRaw != "" {
		if fi, err := os.Stat(*fromRaw); err != nil || !fi.IsDir() {
			return fail(fmt.Errorf("--from-raw %s: no raw archive folder there (it is raw/<database name> next to a DuckDB file)", *fromRaw))
		}
	}
	runID := raw.RunID(sys.Now())
	fresh := df.fresh(runID)
	od, err := df.open(ctx, sys.Stderr)
	if err != nil {
		fresh.undoUnlessLocked(err, log)
		return fail(err)
	}
	defer od.close()
	w := airbyte.NewWriter(sys.Stdout)
	defer w.Flush()
	opts := pipeline.Options{
		KeepZeroRows:    *df.keepZero,
		MainAccountSID:  *mainSID,
		CommitInterval:  time.Second,
		RebuildProgress: rebuildProgress(sys.Stderr),
		Log:             log,
		Now:             sys.Now,
		OnCommitted:     func(s protocol.State) error { return w.Write(s) },
	}
	var stats pipeline.Stats
	if *fromRaw != "" {
		opts.OnCommitted = nil
		opts.SkipUnreadableRuns = *skipUnreadable
		stats, err = pipeline.LoadRaw(ctx, *fromRaw, od.dest, opts)
	} else {
		var archive *raw.Writer
		if od.rawDir != "" {
			archive = raw.NewWriter(od.rawDir, runID)
			opts.Archive = archive
			opts.OnCommitted = func(s protocol.State) error {
				return errors.Join(archive.AppendState(s.Stream, s.Data), w.Write(s))
			}
		}
		stats, err = pipeline.Load(ctx, sys.Stdin, od.dest, opts)
		if archive != nil {
			err = errors.Join(err, archive.Close())
		}
	}
	if err != nil {
		if stats.Commits == 0 {
			// Nothing of the input is in: leave no database or archive
			// that this run created.
			od.close()
			fresh.undo(log)
		}
		return fail(err)
	}
	log.Info("load finished", "destination", od.display, "records", stats.Records, "rows", totalRows(stats), "commits", stats.Commits)
	warnUnreconciled(ctx, od, stats, log)
	if err := refreshAnomalies(ctx, od, stats, log, sys.Now); err != nil {
		return fail(err)
	}
	return 0
}

// created is what a run made that did not exist before it: a DuckDB file
// and the folders of its raw archive. A run that fails before its first
// commit removes them, so it leaves nothing behind.
type created struct {
	paths []string // to remove, each with everything in it
}

// fresh returns what opening df and archiving run would create.
func (f destFlags) fresh(run string) created {
	var c created
	if *f.kind != "duckdb" || *f.path == "" || *f.path == ":memory:" {
		return c
	}
	path := filepath.Clean(*f.path)
	if top := outermostMissing(filepath.Dir(path)); top != "" {
		return created{paths: []string{top}} // the database and its archive go in there
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		c.paths = append(c.paths, path, path+".wal")
	}
	if *f.raw {
		if top := outermostMissing(filepath.Join(RawDir(path), run)); top != "" {
			c.paths = append(c.paths, top)
		}
	}
	return c
}

// outermostMissing returns the outermost folder of path (path itself
// included) that does not exist, or "" when path exists.
func outermostMissing(path string) string {
	top := ""
	for d := filepath.Clean(path); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			return top
		}
		top = d
		if filepath.Dir(d) == d {
			return top
		}
	}
}

// undoUnlessLocked is undo after the warehouse failed to open with err,
// unless another process holds the DuckDB file: then the file is that
// process's, created after this run looked.
func (c created) undoUnlessLocked(err error, log *slog.Logger) {
	if !duckdb.IsLocked(err) {
		c.undo(log)
	}
}

// undo removes what the run created. The database must be closed.
func (c created) undo(log *slog.Logger) {
	for _, p := range c.paths {
		if err := os.RemoveAll(p); err != nil {
			log.Warn("could not remove what the failed run created", "path", p, "error", err.Error())
		}
	}
}

// warnUnreconciled checks the days a run loaded against totalprice, as
// `verify` does, and logs each account-day that fails as a WARN.
func warnUnreconciled(ctx context.Context, od *openedDest, stats pipeline.Stats, log *slog.Logger) {
	if stats.UsageFrom.IsZero() {
		return
	}
	r, err := costmodel.Verify(ctx, od.query, stats.UsageFrom, stats.UsageTo)
	if err != nil {
		log.Warn("could not reconcile the loaded days with totalprice", "error", oneLine(err))
		return
	}
	const shown = 10
	for i, f := range r.Failures {
		if i == shown {
			log.Warn(fmt.Sprintf("%d more account-days do not reconcile: run twilio-elt verify", len(r.Failures)-shown))
			break
		}
		msg := "attributed cost exceeds totalprice"
		if f.Status == "rollup_exceeded" {
			msg = "the children of " + f.Rollup + " exceed it by " + f.Excess + " " + f.Currency
		}
		log.Warn("cost does not reconcile: "+msg, "account_sid", f.AccountSID, "date", f.Date, "totalprice", f.Totalprice, "unattributed", f.Unattributed)
	}
}

func totalRows(s pipeline.Stats) int64 {
	var n int64
	for _, v := range s.Rows {
		n += v
	}
	return n
}

// runSync: twilio-elt sync.
func runSync(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("sync")
	var configs configFlag
	fs.Var(&configs, "config", "connector config `file` (JSON), as `twilio-elt connect` writes it; repeat it, or name a folder of *.json configs, to sync several main accounts at once")
	df := addDestFlags(fs, "twilio.duckdb", true)
	maxRequests := fs.Int("max-requests", 64, "several configs: Twilio requests in flight at most over all accounts (each also keeps its own max_concurrency)")
	parallel := fs.Int("parallel", 8, "several configs: accounts synced at a time (0: all); each account being read holds its windows in flight, about 70 MB")
	shardFlag := fs.String("shard", "", "sync only the configs of shard `i/n` (0 <= i < n), chosen by a stable hash of the account SID: n workers given the same configs split them")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt sync: %s\n", oneLine(err))
		return 1
	}
	if len(configs) == 0 {
		return fail(errors.New("--config is required (twilio-elt connect writes one)"))
	}
	if *maxRequests < 1 || *parallel < 0 {
		usageError(sys.Stderr, "sync", "--max-requests must be at least 1, and --parallel at least 0")
		return 2
	}
	sh, err := parseShard(*shardFlag)
	if err != nil {
		usageError(sys.Stderr, "sync", err.Error())
		return 2
	}
	jobs, err := loadJobs(configs, sys.Now())
	if err != nil {
		return fail(err)
	}
	all := len(jobs)
	jobs = slices.DeleteFunc(jobs, func(j syncJob) bool { return !sh.has(j.cfg.AccountSID) })
	if *shardFlag != "" {
		fmt.Fprintf(sys.Stderr, "twilio-elt sync: shard %s: %d of %d accounts\n", *shardFlag, len(jobs), all)
		if len(jobs) == 0 {
			return 0
		}
	}
	var secrets []string
	for _, j := range jobs {
		secrets = append(secrets, j.cfg.Secrets()...)
	}
	log := newStderrLogger(protocol.NewRedactor(secrets...).Writer(sys.Stderr), *debug)
	if len(configs) == 1 && all == 1 && jobs[0].path == configs[0] {
		if _, err := syncInto(ctx, jobs[0].cfg, df, sys, log); err != nil {
			return fail(err)
		}
		return 0
	}
	if err := syncMany(ctx, jobs, df, sys, log, *maxRequests, *parallel); err != nil {
		return fail(err)
	}
	return 0
}

// syncResult is what a sync did.
type syncResult struct {
	stats   pipeline.Stats
	skipped []connector.Skipped // partitions the read left out, and why
}

// syncInto runs one sync of cfg into the destination of df. It proves
// the credentials before it opens the warehouse: credentials Twilio
// rejects, or a base_url nothing answers at, leave the warehouse exactly
// as it was.
func syncInto(ctx context.Context, cfg spec.Config, df destFlags, sys IO, log *slog.Logger) (syncResult, error) {
	api, err := newTwilioClient(cfg, sys.Getenv, log)
	if err != nil {
		return syncResult{}, err
	}
	conn := connector.New(cfg, api, log)
	conn.SetClock(sys.Now)
	if err := conn.VerifyCredentials(ctx); err != nil {
		_, msg := classify(err)
		return syncResult{}, errors.New(msg)
	}

	runID := raw.RunID(sys.Now())
	fresh := df.fresh(runID)
	od, err := df.open(ctx, sys.Stderr)
	if err != nil {
		fresh.undoUnlessLocked(err, log)
		return syncResult{}, err
	}
	defer od.close()
	opts := pipeline.Options{
		KeepZeroRows:    *df.keepZero,
		MainAccountSID:  cfg.AccountSID,
		CommitInterval:  time.Second,
		RebuildProgress: rebuildProgress(sys.Stderr),
		Log:             log,
		Now:             sys.Now,
	}
	var archive *raw.Writer
	if od.rawDir != "" {
		archive = raw.NewWriter(od.rawDir, runID)
		opts.Archive = archive
		opts.OnCommitted = func(s protocol.State) error { return archive.AppendState(s.Stream, s.Data) }
	}
	stop := func() {}
	stats, err := pipeline.SyncWith(ctx, conn, od.dest, opts, func(l *pipeline.Loader) {
		if isTerminal(sys.Stderr) {
			stop = progress(sys.Stderr, l, api)
		}
	})
	stop()
	if archive != nil {
		err = errors.Join(err, archive.Close())
	}
	res := syncResult{stats: stats, skipped: conn.Skipped()}
	if err != nil && stats.Commits == 0 {
		od.close()
		fresh.undo(log)
	}
	if err != nil {
		var credErr *connector.CredentialsError
		var baseErr *twilio.BaseURLError
		if errors.As(err, &credErr) || errors.As(err, &baseErr) {
			_, msg := classify(err)
			err = errors.New(msg)
		}
		return res, err
	}
	st := api.Stats()
	log.Info("sync finished", "destination", od.display, "records", stats.Records, "rows", totalRows(stats),
		"commits", stats.Commits, "requests", st.Requests, "rate_limit_waits", st.RateLimitWaits)
	warnUnreconciled(ctx, od, stats, log)
	if err := refreshAnomalies(ctx, od, stats, log, sys.Now); err != nil {
		return res, err
	}
	return res, nil
}

// runVerify: twilio-elt verify.
func runVerify(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("verify")
	df := addDestFlags(fs, "twilio.duckdb", false)
	from := fs.String("from", "", "first day to check, `YYYY-MM-DD` (default: the first loaded)")
	to := fs.String("to", "", "last day to check, `YYYY-MM-DD` (default: the last loaded)")
	account := fs.String("account", "", "check only the billing (main) account `SID` AC…, its subaccounts included (default: every account, summed per billing account)")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	var days [2]time.Time
	for i, v := range []*string{from, to} {
		if *v == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, *v)
		if err != nil {
			fmt.Fprintf(sys.Stderr, "twilio-elt verify: --%s %q: want YYYY-MM-DD\n", []string{"from", "to"}[i], *v)
			return 2
		}
		days[i] = d
	}
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt verify: %s\n", oneLine(err))
		return 1
	}
	od, err := df.openExisting(ctx, sys.Stderr)
	if err != nil {
		return fail(err)
	}
	defer od.close()
	r, err := costmodel.VerifyAccount(ctx, od.query, days[0], days[1], *account)
	if err != nil {
		return fail(err)
	}
	if *account != "" && r.Days == 0 {
		return fail(fmt.Errorf("no account-day is billed to %s in these days: is it loaded, and a main account (a subaccount's cost is its main account's)?", *account))
	}
	if err := r.Write(sys.Stdout); err != nil {
		return fail(err)
	}
	if !r.OK() {
		return 1
	}
	return 0
}

// runRebuildCosts: twilio-elt rebuild-costs.
func runRebuildCosts(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("rebuild-costs")
	df := addDestFlags(fs, "twilio.duckdb", false)
	df.staging = fs.String("staging", "parquet", "BigQuery staging file format: parquet, or ndjson (the goccy emulator loads no Parquet)")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt rebuild-costs: %s\n", oneLine(err))
		return 1
	}
	od, err := df.openExisting(ctx, sys.Stderr)
	if err != nil {
		return fail(err)
	}
	defer od.close()
	log := newStderrLogger(sys.Stderr, false)
	opts := pipeline.Options{RebuildProgress: rebuildProgress(sys.Stderr), Log: log, Now: sys.Now}
	start := time.Now()
	if err := pipeline.RebuildCosts(ctx, od.dest, opts); err != nil {
		return fail(err)
	}
	log.Info("rebuild-costs finished", "destination", od.display, "took", time.Since(start).Round(time.Millisecond))
	return 0
}

// rebuildProgress reports a rebuild of the cost tables on w when it is a
// terminal (nil otherwise: the rebuild's INFO lines say enough in logs).
func rebuildProgress(w io.Writer) func(done, total int) {
	if !isTerminal(w) {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(w, "\rbuilding the cost tables: %d of %d account-days", done, total)
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}

// isTerminal reports whether w (an io.Reader or io.Writer) is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress prints a status line on w every second until stopped.
func progress(w io.Writer, l *pipeline.Loader, api *twilio.Client) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				s, a := l.Stats(), api.Stats()
				fmt.Fprintf(w, "\r\033[Kaccounts with usage %d/%d · rows %d · records %d · requests %d · rate-limit waits %d",
					s.Streams[connector.UsageRecords].Partitions, s.Streams[connector.Accounts].Records, totalRows(s), s.Records, a.Requests, a.RateLimitWaits)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
