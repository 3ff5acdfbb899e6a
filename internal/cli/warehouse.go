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
}

func addDestFlags(fs *flag.FlagSet, defaultPath string) destFlags {
	return destFlags{
		kind:     fs.String("destination", "duckdb", "warehouse: duckdb or bigquery"),
		path:     fs.String("path", defaultPath, "DuckDB database `file`"),
		project:  fs.String("project", "", "BigQuery project"),
		dataset:  fs.String("dataset", "", "BigQuery dataset"),
		location: fs.String("location", "US", "BigQuery location"),
		endpoint: fs.String("endpoint", "", "BigQuery API endpoint `URL` (an emulator)"),
		staging:  fs.String("staging", "parquet", "BigQuery staging file format: parquet, or ndjson (the goccy emulator loads no Parquet)"),
		keepZero: fs.Bool("keep-zero-rows", false, "keep usage rows whose count, usage and price are all zero"),
		raw:      fs.Bool("raw", true, "DuckDB: archive every record received under raw/ next to the database"),
	}
}

// openedDest is an open warehouse with what the pipeline needs of it.
type openedDest struct {
	dest    pipeline.Destination
	query   costmodel.Querier
	close   func() error
	rawDir  string // "" when no raw archive
	display string
}

func (f destFlags) open(ctx context.Context) (*openedDest, error) {
	switch *f.kind {
	case "duckdb":
		if *f.path == "" {
			return nil, errors.New("--path is required for --destination duckdb")
		}
		d, err := duckdb.Open(ctx, *f.path)
		if err != nil {
			return nil, err
		}
		o := &openedDest{dest: d, query: d, close: d.Close, display: *f.path}
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
	return &openedDest{dest: d, query: d, close: d.Close, display: "bigquery:" + opts.Project + "." + opts.Dataset}, nil
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
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(sys.Stderr)
	df := addDestFlags(fs, "twilio.duckdb")
	fromRaw := fs.String("from-raw", "", "rebuild the tables from a raw archive `folder` instead of reading stdin")
	mainSID := fs.String("account-sid", "", "main account SID, the billing account of usage whose account is not in the input")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := newStderrLogger(sys.Stderr, *debug)
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt load: %s\n", oneLine(err))
		return 1
	}
	od, err := df.open(ctx)
	if err != nil {
		return fail(err)
	}
	defer od.close()
	w := airbyte.NewWriter(sys.Stdout)
	defer w.Flush()
	opts := pipeline.Options{
		KeepZeroRows:   *df.keepZero,
		MainAccountSID: *mainSID,
		CommitInterval: time.Second,
		Log:            log,
		Now:            sys.Now,
		OnCommitted:    func(s protocol.State) error { return w.Write(s) },
	}
	var stats pipeline.Stats
	if *fromRaw != "" {
		opts.OnCommitted = nil
		stats, err = pipeline.LoadRaw(ctx, *fromRaw, od.dest, opts)
	} else {
		var archive *raw.Writer
		if od.rawDir != "" {
			archive = raw.NewWriter(od.rawDir, raw.RunID(sys.Now()))
			opts.Archive = archive
		}
		stats, err = pipeline.Load(ctx, sys.Stdin, od.dest, opts)
		if archive != nil {
			err = errors.Join(err, archive.Close())
		}
	}
	log.Info("load finished", "destination", od.display, "records", stats.Records, "rows", totalRows(stats), "commits", stats.Commits)
	if err != nil {
		return fail(err)
	}
	warnUnreconciled(ctx, od, stats, log)
	if err := refreshAnomalies(ctx, od, stats, log, sys.Now); err != nil {
		return fail(err)
	}
	return 0
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
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(sys.Stderr)
	configPath := fs.String("config", "", "connector config `file` (JSON)")
	df := addDestFlags(fs, "twilio.duckdb")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt sync: %s\n", oneLine(err))
		return 1
	}
	if *configPath == "" {
		return fail(errors.New("--config is required"))
	}
	b, err := os.ReadFile(*configPath)
	if err != nil {
		return fail(fmt.Errorf("cannot read config file: %w", err))
	}
	cfg, err := spec.Load(b, sys.Now())
	if err != nil {
		return fail(fmt.Errorf("config file %s is invalid: %w", *configPath, err))
	}
	log := newStderrLogger(redactor{sys.Stderr, cfg.Secrets()}, *debug)
	if _, err := syncInto(ctx, cfg, df, sys, log); err != nil {
		return fail(err)
	}
	return 0
}

// syncInto runs one sync of cfg into the destination of df.
func syncInto(ctx context.Context, cfg spec.Config, df destFlags, sys IO, log *slog.Logger) (pipeline.Stats, error) {
	od, err := df.open(ctx)
	if err != nil {
		return pipeline.Stats{}, err
	}
	defer od.close()
	api, err := newTwilioClient(cfg, log)
	if err != nil {
		return pipeline.Stats{}, err
	}
	conn := connector.New(cfg, api, log)
	conn.SetClock(sys.Now)
	opts := pipeline.Options{
		KeepZeroRows:   *df.keepZero,
		MainAccountSID: cfg.AccountSID,
		CommitInterval: time.Second,
		Log:            log,
		Now:            sys.Now,
	}
	var archive *raw.Writer
	if od.rawDir != "" {
		archive = raw.NewWriter(od.rawDir, raw.RunID(sys.Now()))
		opts.Archive = archive
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
	st := api.Stats()
	log.Info("sync finished", "destination", od.display, "records", stats.Records, "rows", totalRows(stats),
		"commits", stats.Commits, "requests", st.Requests, "rate_limit_waits", st.RateLimitWaits)
	if err == nil {
		warnUnreconciled(ctx, od, stats, log)
		err = refreshAnomalies(ctx, od, stats, log, sys.Now)
	}
	return stats, err
}

// runVerify: twilio-elt verify.
func runVerify(ctx context.Context, args []string, sys IO) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(sys.Stderr)
	df := addDestFlags(fs, "twilio.duckdb")
	from := fs.String("from", "", "first day to check, `YYYY-MM-DD` (default: the first loaded)")
	to := fs.String("to", "", "last day to check, `YYYY-MM-DD` (default: the last loaded)")
	if err := fs.Parse(args); err != nil {
		return 2
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
	if *df.kind == "duckdb" {
		if _, err := os.Stat(*df.path); err != nil {
			return fail(fmt.Errorf("no DuckDB warehouse at %s: %w", *df.path, err))
		}
	}
	od, err := df.open(ctx)
	if err != nil {
		return fail(err)
	}
	defer od.close()
	r, err := costmodel.Verify(ctx, od.query, days[0], days[1])
	if err != nil {
		return fail(err)
	}
	if err := r.Write(sys.Stdout); err != nil {
		return fail(err)
	}
	if !r.OK() {
		return 1
	}
	return 0
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
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
					s.UsageSeen, s.Accounts, totalRows(s), s.Records, a.Requests, a.RateLimitWaits)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// redactor replaces secrets in what is written to w.
type redactor struct {
	w       io.Writer
	secrets []string
}

func (r redactor) Write(p []byte) (int, error) {
	s := string(p)
	for _, sec := range r.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "**********")
		}
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
