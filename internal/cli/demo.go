package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/spec"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// runDemo starts the emulator in process, syncs it into a DuckDB file and
// prints a summary a person can read.
func runDemo(ctx context.Context, args []string, sys IO) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(sys.Stderr)
	df := addDestFlags(fs, "twilio-demo.duckdb")
	seed := fs.Int64("seed", 1, "emulator data seed")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	*df.kind = "duckdb"
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt demo: %s\n", oneLine(err))
		return 1
	}
	const days = 75
	now := sys.Now()
	emu := twiliotest.New(twiliotest.Options{Seed: *seed, Subaccounts: 4, Days: days, SIMs: 12, Now: sys.Now})
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	defer emu.Close()
	raw := emu.ConnectorConfig(url)
	cfg, err := spec.Parse(raw)
	if err != nil {
		return fail(fmt.Errorf("emulator config: %w", err))
	}
	cfg.StartDate = now.UTC().AddDate(0, 0, 1-days).Format(spec.DateLayout)
	cfg.SetDefaults(now)
	if err := cfg.Validate(now); err != nil {
		return fail(fmt.Errorf("emulator config: %w", err))
	}
	log := newStderrLogger(redactor{sys.Stderr, cfg.Secrets()}, *debug)
	fmt.Fprintf(sys.Stderr, "Syncing the Twilio emulator (%d subaccounts, %d days, %d SIMs) into %s …\n", 4, days, 12, *df.path)
	stats, err := syncInto(ctx, cfg, df, sys, log)
	if err != nil {
		return fail(err)
	}
	d, err := duckdb.Open(ctx, *df.path)
	if err != nil {
		return fail(err)
	}
	defer d.Close()
	to := now.UTC().Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -29)
	s, err := d.Summarize(ctx, from, to)
	if err != nil {
		return fail(err)
	}
	printSummary(sys.Stdout, s, *df.path, totalRows(stats))
	out := strings.TrimSuffix(*df.path, filepath.Ext(*df.path)) + "-report.html"
	if _, err := writeReport(ctx, d, report.Options{Days: 30, Warehouse: *df.path, Now: sys.Now, Log: log}, out); err != nil {
		return fail(err)
	}
	fmt.Fprintf(sys.Stdout, "Report: %s (open it in a browser)\n", out)
	return 0
}

func money(n decimal128.Num, currency string) string {
	s := n.ToString(transforms.DecimalScale)
	// Round half away from zero to cents for display only; the tables
	// keep every digit.
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	frac += "000"
	cents := whole + frac[:2]
	if frac[2] >= '5' {
		cents = addOne(cents)
	}
	out := strings.TrimLeft(cents[:len(cents)-2], "0")
	if out == "" {
		out = "0"
	}
	out += "." + cents[len(cents)-2:]
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out + " " + currency
}

func addOne(digits string) string {
	b := []byte(digits)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '9' {
			b[i]++
			return string(b)
		}
		b[i] = '0'
	}
	return "1" + string(b)
}

func printSummary(w io.Writer, s duckdb.Summary, path string, rows int64) {
	fmt.Fprintf(w, "Twilio spend, %s to %s (last 30 days), from %s (%d rows loaded this run)\n\n",
		s.From.Format(time.DateOnly), s.To.Format(time.DateOnly), path, rows)
	for _, t := range s.Total {
		fmt.Fprintf(w, "Total: %s\n", money(t.Amount, t.Currency))
	}
	fmt.Fprintln(w, "\nBy service (twilio_cost_daily: nothing counts twice, and it adds up to the total):")
	for _, sp := range s.ByService {
		fmt.Fprintf(w, "  %-42s %16s\n", sp.Name, money(sp.Amount, sp.Currency))
	}
	fmt.Fprintln(w, "\nBy account (totalprice):")
	for _, sp := range s.ByAccount {
		fmt.Fprintf(w, "  %-42s %16s\n", sp.Name, money(sp.Amount, sp.Currency))
	}
	fmt.Fprintf(w, "\nSIM data: %d SIMs used %.1f MB (%.1f MB roaming abroad, in %d countries), billed %s\n",
		s.SIMs, float64(s.DataBytes)/1e6, float64(s.RoamingBytes)/1e6, s.RoamCountries, money(s.DataBilled, s.DataCurrency))
	fmt.Fprintf(w, "\nQuery it: duckdb %s \"SELECT service_group, SUM(cost) FROM twilio_cost_daily GROUP BY ALL\"\n", path)
	fmt.Fprintf(w, "Check it: twilio-elt verify --path %s\n", path)
}
