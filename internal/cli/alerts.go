package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// alertsFound is the exit code of `alerts` when it printed anomalies.
const alertsFound = 3

// runAlerts: twilio-elt alerts. It prints the anomalies first detected
// within --since and exits 3 when there are any, 0 when none, 1 on an
// error.
func runAlerts(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("alerts")
	df := addDestFlags(fs, "twilio.duckdb", false)
	df.staging = fs.String("staging", "parquet", "BigQuery staging file format, for --refresh-from: parquet, or ndjson (the goccy emulator loads no Parquet)")
	since := fs.String("since", "1d", "anomalies first detected within this `duration` before now (2d, 36h, 90m)")
	minSev := fs.String("min-severity", "low", "least `severity` shown: low, medium or high")
	asJSON := fs.Bool("json", false, "print a JSON array instead of lines")
	refreshFrom := fs.String("refresh-from", "", "first recompute the anomalies from this `YYYY-MM-DD` on (after a failed refresh)")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt alerts: "+format+"\n", a...)
		return 2
	}
	window, err := parseSince(*since)
	if err != nil {
		return usage("--since %q: %v", *since, err)
	}
	sev, err := report.ParseSeverity(*minSev)
	if err != nil {
		return usage("--min-severity: %v", err)
	}
	var from time.Time
	if *refreshFrom != "" {
		if from, err = time.Parse(time.DateOnly, *refreshFrom); err != nil {
			return usage("--refresh-from %q: want YYYY-MM-DD", *refreshFrom)
		}
	}
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt alerts: %s\n", oneLine(err))
		return 1
	}
	od, err := df.openExisting(ctx, sys.Stderr)
	if err != nil {
		return fail(err)
	}
	defer od.close()
	if *refreshFrom != "" {
		if _, err := report.Refresh(ctx, od.anomalyWarehouse(), from, report.AnomalyOptions{Now: sys.Now}); err != nil {
			return fail(err)
		}
	}
	as, err := report.Read(ctx, od.query, report.Filter{DetectedSince: sys.Now().Add(-window), MinSeverity: sev})
	if err != nil {
		return fail(fmt.Errorf("%w (has a sync or load run with this version?)", err))
	}
	if *asJSON {
		b, err := json.MarshalIndent(alertsJSON(as), "", "  ")
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(sys.Stdout, "%s\n", b)
	} else {
		for _, a := range as {
			fmt.Fprintln(sys.Stdout, alertLine(a))
		}
	}
	if len(as) > 0 {
		return alertsFound
	}
	return 0
}

// parseSince reads a Go duration, or a whole number of days: "2d".
func parseSince(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, errors.New("want a duration such as 2d, 36h or 90m")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("want a duration such as 2d, 36h or 90m")
		}
	}
	if d <= 0 {
		return 0, errors.New("want a duration above zero")
	}
	return d, nil
}

// alertLine is one anomaly on one line: day, severity, account,
// service, cost and baseline.
func alertLine(a report.Anomaly) string {
	driver := ""
	if a.Category != "" {
		driver = ", driven by " + a.Category
	}
	return fmt.Sprintf("%s  %-6s  %s (%s)  %s  cost %s %s  baseline %s %s  (+%s, score %s%s)",
		a.Day.Format(time.DateOnly), a.Severity, a.AccountName, a.AccountSID, a.ServiceGroup,
		report.FormatMoney(a.Cost), a.Currency, report.FormatMoney(a.Baseline), a.Currency,
		report.FormatMoney(a.Excess), transforms.FormatDecimal(a.Score), driver)
}

// alertJSON is an anomaly as --json prints it; money as exact decimal
// strings.
type alertJSON struct {
	Day               string `json:"day"`
	Severity          string `json:"severity"`
	AccountSID        string `json:"account_sid"`
	AccountName       string `json:"account_name"`
	BillingAccountSID string `json:"billing_account_sid"`
	ServiceGroup      string `json:"service_group"`
	Category          string `json:"category,omitempty"`
	Currency          string `json:"currency"`
	Cost              string `json:"cost"`
	Baseline          string `json:"baseline"`
	Excess            string `json:"excess"`
	Score             string `json:"score"`
	DetectedAt        string `json:"detected_at"`
}

func alertsJSON(as []report.Anomaly) []alertJSON {
	out := make([]alertJSON, 0, len(as))
	for _, a := range as {
		out = append(out, alertJSON{
			Day: a.Day.Format(time.DateOnly), Severity: a.Severity.String(), AccountSID: a.AccountSID, AccountName: a.AccountName,
			BillingAccountSID: a.BillingAccountSID, ServiceGroup: a.ServiceGroup, Category: a.Category, Currency: a.Currency,
			Cost: transforms.FormatDecimal(a.Cost), Baseline: transforms.FormatDecimal(a.Baseline), Excess: transforms.FormatDecimal(a.Excess),
			Score: transforms.FormatDecimal(a.Score), DetectedAt: a.DetectedAt.UTC().Format(time.RFC3339),
		})
	}
	return out
}

// anomalyWarehouse is od as Refresh needs it.
func (od *openedDest) anomalyWarehouse() report.Warehouse { return od.dest }

// refreshAnomalies recomputes twilio_cost_anomalies for the days a run
// loaded (and the days whose baselines they move), and logs each anomaly
// it finds for the first time.
func refreshAnomalies(ctx context.Context, od *openedDest, stats pipeline.Stats, log *slog.Logger, now func() time.Time) error {
	if stats.UsageFrom.IsZero() {
		return nil
	}
	at := now().UTC()
	res, err := report.Refresh(ctx, od.anomalyWarehouse(), stats.UsageFrom, report.AnomalyOptions{Now: func() time.Time { return at }})
	if err != nil {
		from := stats.UsageFrom.Format(time.DateOnly)
		return fmt.Errorf("the data is loaded, but twilio_cost_anomalies was not refreshed from %s: %w; run twilio-elt alerts --refresh-from %s with the same warehouse flags", from, err, from)
	}
	fresh := 0
	for _, a := range res.Anomalies {
		if a.DetectedAt.Equal(at) {
			fresh++
			log.Warn("cost anomaly: "+alertLine(a), "account_sid", a.AccountSID, "date", a.Day.Format(time.DateOnly), "severity", a.Severity.String())
		}
	}
	log.Info("anomalies refreshed", "from", res.From.Format(time.DateOnly), "to", res.To.Format(time.DateOnly), "anomalies", len(res.Anomalies), "new", fresh)
	return nil
}
