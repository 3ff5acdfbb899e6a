package cli

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/raw"
	"github.com/twilio-elt/twilio-elt/spec"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// configFlag is --config: repeatable; a folder stands for the *.json
// files in it.
type configFlag []string

func (f *configFlag) String() string { return strings.Join(*f, ",") }

func (f *configFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// syncJob is one config of a sync: one main account.
type syncJob struct {
	path string
	cfg  spec.Config
}

// name says which account a job is, for people.
func (j syncJob) name() string {
	if j.cfg.AccountName != "" {
		return fmt.Sprintf("%s (%s, %s)", j.cfg.AccountSID, j.cfg.AccountName, j.path)
	}
	return fmt.Sprintf("%s (%s)", j.cfg.AccountSID, j.path)
}

// loadJobs reads the configs of paths (a folder: its *.json files,
// sorted), reporting every unreadable or invalid one at once. Two configs
// of one main account are an error: they would sync the same state.
func loadJobs(paths []string, now time.Time) ([]syncJob, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("cannot read config file: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		in, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("config folder %s: %w", p, err)
		}
		if len(in) == 0 {
			return nil, fmt.Errorf("config folder %s holds no *.json file", p)
		}
		slices.Sort(in)
		files = append(files, in...)
	}
	var jobs []syncJob
	var errs []error
	seen := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot read config file: %w", err))
			continue
		}
		cfg, err := spec.Load(b, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %s is invalid: %w", f, err))
			continue
		}
		if other, ok := seen[cfg.AccountSID]; ok {
			errs = append(errs, fmt.Errorf("config files %s and %s are both of account %s: keep one", other, f, cfg.AccountSID))
			continue
		}
		seen[cfg.AccountSID] = f
		jobs = append(jobs, syncJob{path: f, cfg: cfg})
	}
	return jobs, errors.Join(errs...)
}

// shard is --shard i/n: the configs whose account hashes to i of n.
type shard struct{ index, count int }

// parseShard parses "i/n", 0 ≤ i < n; "" is every config.
func parseShard(v string) (shard, error) {
	if v == "" {
		return shard{0, 1}, nil
	}
	var s shard
	var rest string
	if n, _ := fmt.Sscanf(v, "%d/%d%s", &s.index, &s.count, &rest); n != 2 || s.count < 1 || s.index < 0 || s.index >= s.count {
		return shard{}, fmt.Errorf("--shard %q: want i/n with 0 <= i < n, such as 0/2 and 1/2", v)
	}
	return s, nil
}

// has reports whether account sid is in s: FNV-1a (64 bits) of the SID,
// lower-cased, modulo n. It depends on the SID alone, so every worker
// given the same configs splits them the same way, whatever their order.
func (s shard) has(sid string) bool {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(sid)))
	return h.Sum64()%uint64(s.count) == uint64(s.index)
}

// accountRun is one account's part of a multi-account sync.
type accountRun struct {
	job    syncJob
	api    *twilio.Client
	conn   *connector.Connector
	loader *pipeline.Loader // set once its sync started
	res    syncResult
	err    error
	took   time.Duration
}

// syncMany syncs the main accounts of jobs into the destination of df at
// once, each with its own Twilio client (and its config's
// max_concurrency) under one cap of maxRequests requests in flight, at
// most parallel accounts at a time (0: all). An account that fails does
// not stop the others; the error names every account that failed.
func syncMany(ctx context.Context, jobs []syncJob, df destFlags, sys IO, log *slog.Logger, maxRequests, parallel int) error {
	shared := twilio.NewLimit(maxRequests)
	runs := make([]*accountRun, len(jobs))
	for i, j := range jobs {
		r := &accountRun{job: j}
		runs[i] = r
		alog := log.With("account_sid", j.cfg.AccountSID)
		api, err := newSharedTwilioClient(j.cfg, sys.Getenv, alog, shared)
		if err != nil {
			r.err = err
			continue
		}
		r.api = api
		r.conn = connector.New(j.cfg, api, alog)
		r.conn.SetClock(sys.Now)
	}
	// Credentials first, all at once: an account Twilio refuses is
	// reported without touching the warehouse.
	forEach(runs, parallel, func(r *accountRun) {
		if r.err != nil {
			return
		}
		if err := r.conn.VerifyCredentials(ctx); err != nil {
			_, msg := classify(err)
			r.err = errors.New(msg)
		}
	})
	if !slices.ContainsFunc(runs, func(r *accountRun) bool { return r.err == nil }) {
		return summarize(sys.Stderr, runs, false)
	}
	listed := listedAccounts(ctx, runs, parallel, log)

	runID := raw.RunID(sys.Now())
	fresh := df.fresh(runID)
	od, err := df.open(ctx, sys.Stderr)
	if err != nil {
		fresh.undoUnlessLocked(err, log)
		return err
	}
	defer od.close()
	base := pipeline.Options{
		KeepZeroRows:    *df.keepZero,
		CommitInterval:  time.Second,
		RebuildProgress: rebuildProgress(sys.Stderr),
		Log:             log,
		Now:             sys.Now,
	}
	if err := pipeline.Prepare(ctx, od.dest, base); err != nil {
		od.close()
		fresh.undo(log)
		return err
	}
	base.Prepared = true

	var mu sync.Mutex // guards the runs' loader fields
	stop := func() {}
	if isTerminal(sys.Stderr) {
		stop = progressMany(sys.Stderr, runs, &mu)
	}
	forEach(runs, parallel, func(r *accountRun) {
		if r.err != nil {
			return
		}
		start := time.Now()
		opts := base
		opts.MainAccountSID = r.job.cfg.AccountSID
		opts.Listed = listed
		opts.Log = log.With("account_sid", r.job.cfg.AccountSID)
		var archive *raw.Writer
		if od.rawDir != "" {
			archive = raw.NewWriter(od.rawDir, runID+"-"+r.job.cfg.AccountSID)
			opts.Archive = archive
			opts.OnCommitted = func(s protocol.State) error { return archive.AppendState(s.Stream, s.Data) }
		}
		stats, err := pipeline.SyncWith(ctx, r.conn, od.dest, opts, func(l *pipeline.Loader) {
			mu.Lock()
			r.loader = l
			mu.Unlock()
		})
		if archive != nil {
			err = errors.Join(err, archive.Close())
		}
		r.res = syncResult{stats: stats, skipped: r.conn.Skipped()}
		r.took = time.Since(start)
		if err != nil {
			var credErr *connector.CredentialsError
			var baseErr *twilio.BaseURLError
			if errors.As(err, &credErr) || errors.As(err, &baseErr) {
				_, msg := classify(err)
				err = errors.New(msg)
			}
			r.err = err
		}
	})
	stop()

	var total pipeline.Stats
	var commits int64
	for _, r := range runs {
		commits += r.res.stats.Commits
		s := r.res.stats
		if s.UsageFrom.IsZero() {
			continue
		}
		if total.UsageFrom.IsZero() || s.UsageFrom.Before(total.UsageFrom) {
			total.UsageFrom = s.UsageFrom
		}
		if s.UsageTo.After(total.UsageTo) {
			total.UsageTo = s.UsageTo
		}
	}
	if commits == 0 && slices.ContainsFunc(runs, func(r *accountRun) bool { return r.err != nil }) {
		// Nothing of any account is in: leave no database or archive
		// that this run created.
		od.close()
		fresh.undo(log)
		return summarize(sys.Stderr, runs, false)
	}
	warnUnreconciled(ctx, od, total, log)
	if err := refreshAnomalies(ctx, od, total, log, sys.Now); err != nil {
		return errors.Join(summarize(sys.Stderr, runs, true), err)
	}
	log.Info("sync finished", "destination", od.display, "accounts", len(runs))
	return summarize(sys.Stderr, runs, true)
}

// listedAccounts returns the name and parent of every account the runs'
// main accounts list (a main account by its config's account_name), when a config uses an API key: a subaccount
// connected with its own Standard key cannot tell its parent nor its name,
// and its usage is then billed to the parent another config of the run
// lists, under that name, whichever account's sync commits first (as
// syncing the parent first would). Runs whose credentials may not list
// accounts add nothing; a listing that fails is a WARN (the account's
// sync then fails on the same request, or bills its subaccounts by what
// the warehouse knows).
func listedAccounts(ctx context.Context, runs []*accountRun, parallel int, log *slog.Logger) costmodel.Accounts {
	if !slices.ContainsFunc(runs, func(r *accountRun) bool {
		_, _, kind := r.job.cfg.Credentials()
		return r.err == nil && kind == spec.CredentialAPIKey
	}) {
		return nil
	}
	var mu sync.Mutex
	listed := costmodel.Accounts{}
	forEach(runs, parallel, func(r *accountRun) {
		if r.err != nil {
			return
		}
		err := r.api.Accounts(ctx, func(page []twilio.Account) error {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range page {
				acct := costmodel.Account{Main: r.job.cfg.AccountSID}
				if a.FriendlyName != nil {
					acct.Name = *a.FriendlyName
				}
				if o := a.OwnerAccountSID; o != nil && *o != "" && *o != a.SID {
					acct.Parent = *o
				} else if a.SID == r.job.cfg.AccountSID && r.job.cfg.AccountName != "" {
					acct.Name = r.job.cfg.AccountName
				}
				listed[a.SID] = acct
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			log.Warn("could not list the accounts this connection sees, to name and bill subaccounts connected with their own keys",
				"account_sid", r.job.cfg.AccountSID, "error", oneLine(err))
		}
	})
	return listed
}

// forEach calls fn with each run, at most parallel at a time (0: all),
// and returns when every call has.
func forEach(runs []*accountRun, parallel int, fn func(*accountRun)) {
	if parallel <= 0 {
		parallel = len(runs)
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, r := range runs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(r)
		})
	}
	wg.Wait()
}

// summarize writes one line per account to w (written: whether the
// warehouse was opened) and returns an error naming the accounts that
// failed, if any.
func summarize(w io.Writer, runs []*accountRun, written bool) error {
	var failed []string
	fmt.Fprintf(w, "%-34s %-8s %10s %10s %9s %8s\n", "account", "result", "records", "rows", "requests", "took")
	for _, r := range runs {
		var requests int64
		if r.api != nil {
			requests = r.api.Stats().Requests
		}
		result := "ok"
		if r.err != nil {
			result = "FAILED"
			failed = append(failed, r.job.name()+": "+oneLine(r.err))
		}
		fmt.Fprintf(w, "%-34s %-8s %10d %10d %9d %8s\n", r.job.cfg.AccountSID, result,
			r.res.stats.Records, totalRows(r.res.stats), requests, r.took.Round(100*time.Millisecond))
	}
	if len(failed) == 0 {
		return nil
	}
	note := ""
	if written {
		note = " (the other accounts were loaded)"
	}
	return fmt.Errorf("%d of %d accounts failed%s: %s", len(failed), len(runs), note, strings.Join(failed, "; "))
}

// progressMany prints one status line for every account of a sync on w
// every second until stopped.
func progressMany(w io.Writer, runs []*accountRun, mu *sync.Mutex) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				var started, rows, records, requests, waits int64
				mu.Lock()
				for _, r := range runs {
					if r.loader != nil {
						started++
						s := r.loader.Stats()
						rows += totalRows(s)
						records += s.Records
					}
					if r.api != nil {
						st := r.api.Stats()
						requests += st.Requests
						waits += st.RateLimitWaits
					}
				}
				mu.Unlock()
				fmt.Fprintf(w, "\r\033[Kaccounts %d/%d · rows %d · records %d · requests %d · rate-limit waits %d",
					started, len(runs), rows, records, requests, waits)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
