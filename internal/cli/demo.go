package cli

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/internal/summary"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/spec"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// runDemo starts the emulator in process, syncs it into a DuckDB file and
// prints a summary a person can read.
func runDemo(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("demo")
	df := duckdbFlags(fs, "twilio-demo.duckdb")
	seed := fs.Int64("seed", 1, "emulator data seed: the same seed gives the same data")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
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
	log := newStderrLogger(protocol.NewRedactor(cfg.Secrets()...).Writer(sys.Stderr), *debug)
	fmt.Fprintf(sys.Stderr, "Syncing the Twilio emulator (%d subaccounts, %d days, %d SIMs) into %s …\n", 4, days, 12, *df.path)
	res, err := syncInto(ctx, cfg, df, sys, log)
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
	s, err := summary.Read(ctx, d, from, to)
	if err != nil {
		return fail(err)
	}
	printSummary(sys.Stdout, s, *df.path, totalRows(res.stats), res.skipped, sys.Program)
	out := strings.TrimSuffix(*df.path, filepath.Ext(*df.path)) + "-report.html"
	if _, err := writeReport(ctx, d, report.Options{Days: 30, Warehouse: *df.path, Now: sys.Now, Log: log}, out); err != nil {
		return fail(err)
	}
	fmt.Fprintf(sys.Stdout, "Report: %s (open it in a browser)\n", out)
	return 0
}

// cents rounds n (scale 9) half away from zero to whole cents, for
// display only: the tables keep every digit.
func cents(n decimal128.Num) *big.Int {
	v := n.BigInt()
	unit := new(big.Int).Exp(big.NewInt(10), big.NewInt(transforms.DecimalScale-2), nil)
	q, r := new(big.Int).QuoRem(new(big.Int).Abs(v), unit, new(big.Int))
	if r.Mul(r, big.NewInt(2)).Cmp(unit) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if v.Sign() < 0 {
		q.Neg(q)
	}
	return q
}

// money formats an amount in cents: 1234.50 USD.
func money(c *big.Int, currency string) string {
	abs := new(big.Int).Abs(c).String()
	if len(abs) < 3 {
		abs = strings.Repeat("0", 3-len(abs)) + abs
	}
	s := abs[:len(abs)-2] + "." + abs[len(abs)-2:]
	if c.Sign() < 0 {
		s = "-" + s
	}
	return strings.TrimSpace(s + " " + currency)
}

// spendLines prints one line per spend, rounded to cents, then per
// currency a line with what the rounding of the lines left over when
// they do not add up to the rounded total on screen: the column always
// adds up.
func spendLines(w io.Writer, spends, totals []summary.Spend) {
	shown := map[string]*big.Int{}
	for _, sp := range spends {
		c := cents(sp.Amount)
		if shown[sp.Currency] == nil {
			shown[sp.Currency] = new(big.Int)
		}
		shown[sp.Currency].Add(shown[sp.Currency], c)
		fmt.Fprintf(w, "  %-44s %16s\n", sp.Name, money(c, sp.Currency))
	}
	for _, t := range totals {
		sum := shown[t.Currency]
		if sum == nil {
			sum = new(big.Int)
		}
		if rest := new(big.Int).Sub(cents(t.Amount), sum); rest.Sign() != 0 {
			fmt.Fprintf(w, "  %-44s %16s\n", "(rounding each line above to the cent)", money(rest, t.Currency))
		}
		fmt.Fprintf(w, "  %-44s %16s\n", "", strings.Repeat("-", len(money(cents(t.Amount), t.Currency))))
		fmt.Fprintf(w, "  %-44s %16s\n", "", money(cents(t.Amount), t.Currency))
	}
}

func printSummary(w io.Writer, s summary.Summary, path string, rows int64, skipped []connector.Skipped, program string) {
	fmt.Fprintf(w, "Twilio spend, %s to %s (last 30 days), from %s (%d rows loaded this run)\n\n",
		s.From.Format(time.DateOnly), s.To.Format(time.DateOnly), path, rows)
	for _, t := range s.Total {
		fmt.Fprintf(w, "Total: %s\n", money(cents(t.Amount), t.Currency))
	}
	if len(s.ByBilling) > 1 {
		fmt.Fprintln(w, "\nBy billing account (a main account and its subaccounts, totalprice):")
		named := slices.Clone(s.ByBilling)
		for i := range named {
			named[i].Name = named[i].SID + " " + named[i].Name
		}
		spendLines(w, named, s.Total)
	}
	fmt.Fprintln(w, "\nBy service (twilio_cost_daily: nothing counts twice, and it adds up to the total):")
	spendLines(w, s.ByService, s.Total)
	names := map[string]bool{}
	for _, sp := range s.ByService {
		names[sp.Name] = true
	}
	if names[transforms.OtherGroup] {
		fmt.Fprintln(w, "  Other: categories in none of the groups above, such as ones Twilio added after twilio-elt's list (see the WARNs).")
	}
	if names[summary.Unattributed] {
		fmt.Fprintln(w, "  Unattributed: part of Twilio's totalprice that no usage category accounts for.")
	}

	fmt.Fprintln(w, "\nBy account (totalprice):")
	spendLines(w, s.ByAccount, s.Total)
	why := map[string]string{}
	for _, sk := range skipped {
		why[sk.Partition] = "skipped: " + sk.Reason
	}
	withUsage := map[string]bool{}
	for _, sp := range s.ByAccount {
		withUsage[sp.SID] = true
	}
	var left []string
	for _, a := range s.Accounts {
		reason, ok := why[a.SID]
		switch {
		case ok:
		case withUsage[a.SID]:
			continue
		case a.Status != "" && a.Status != "active":
			reason = "no usage in these days (" + a.Status + ")"
		default:
			reason = "no usage in these days"
		}
		left = append(left, fmt.Sprintf("  %s (%s): %s", a.Name, a.SID, reason))
	}
	if len(left) > 0 {
		fmt.Fprintln(w, "  Not in these lines:")
		for _, l := range left {
			fmt.Fprintln(w, "  "+l)
		}
	}

	fmt.Fprintf(w, "\nSIM data: %d SIMs used %.1f MB (%.1f MB roaming abroad, in %d countries), billed %s\n",
		s.SIMs, float64(s.DataBytes)/1e6, float64(s.RoamingBytes)/1e6, s.RoamCountries, money(cents(s.DataBilled), s.DataCurrency))
	fmt.Fprintln(w, "  That is data only, on the main account's own SIMs, up to 48 h late; Wireless/IoT above also bills SIM fees, commands and subaccounts' SIMs.")

	run := invocation(program)
	fmt.Fprintf(w, "\nQuery it: %s query --path %s \"SELECT service_group, SUM(cost) FROM twilio_cost_daily GROUP BY ALL ORDER BY 2 DESC\"\n", run, path)
	fmt.Fprintf(w, "Check it: %s verify --path %s\n", run, path)
	if strings.HasPrefix(run, "go run ") {
		fmt.Fprintln(w, "(`go install ./cmd/twilio-elt` puts twilio-elt on your PATH, as $(go env GOPATH)/bin/twilio-elt.)")
	}
}
