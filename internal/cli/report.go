package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/twilio-elt/twilio-elt/internal/report"
)

// runReport: twilio-elt report.
func runReport(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("report")
	df := addDestFlags(fs, "twilio.duckdb", false)
	days := fs.Int("days", 90, "length of the period in days, ending with the last complete UTC day")
	account := fs.String("account", "", "only this account `SID` (a main account: with its subaccounts)")
	out := fs.String("out", "twilio-report.html", "the HTML `file` to write")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	opts := report.Options{Days: *days, Account: *account, Now: sys.Now}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(sys.Stderr, "twilio-elt report: %v\n", err)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt report: %s\n", oneLine(err))
		return 1
	}
	od, err := df.openExisting(ctx, sys.Stderr)
	if err != nil {
		return fail(err)
	}
	defer od.close()
	opts.Warehouse = od.display
	opts.Log = newStderrLogger(sys.Stderr, *debug)
	r, err := writeReport(ctx, od.query, opts, *out)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(sys.Stdout, "Report of %s to %s written to %s: %s %s spent, %d anomalies, %d of %d account-days reconcile\n",
		r.From.Format("2006-01-02"), r.To.Format("2006-01-02"), *out, report.FormatMoney(r.Total), r.Currency,
		len(r.Anomalies), r.Recon.OK, r.Recon.Days)
	return 0
}

// writeReport builds the report and writes it to path whole: a failed
// run leaves no half-written file.
func writeReport(ctx context.Context, q report.Querier, opts report.Options, path string) (*report.Report, error) {
	r, err := report.Build(ctx, q, opts)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))+"-*.html")
	if err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = report.Render(tmp, r)
	err = errors.Join(err, tmp.Chmod(0o644), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("write report %s: %w", path, err)
	}
	return r, nil
}
