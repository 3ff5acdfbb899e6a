package costmodel

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// Querier runs SQL on a warehouse: DuckDB or BigQuery.
type Querier interface {
	Dialect() warehouse.Dialect
	// QueryStrings returns the rows of a rendered query as text, NULL as
	// "NULL".
	QueryStrings(ctx context.Context, query string) ([][]string, error)
}

// Report is what Verify found.
type Report struct {
	From, To time.Time // the days checked, inclusive; zero: all
	// Days is the number of account-days checked; NoTotal those of them
	// without a totalprice row, which cannot be reconciled.
	Days, NoTotal int
	// Failures are the account-days whose hierarchy did not hold, worst
	// first.
	Failures []Failure
	// Assumed says, per roll-up whose children the shipped table assumes
	// (the reference leaves them unknown), whether the data supports it.
	Assumed []AssumedRollup
}

// Failure is an account-day that does not reconcile.
type Failure struct {
	Date, AccountSID, AccountName, Currency string
	// Status is rollup_exceeded (Rollup's children exceed it by Excess) or
	// over_total (attributed cost exceeds totalprice: Unattributed < 0).
	Status, Rollup, Excess   string
	Totalprice, Unattributed string
}

// AssumedRollup is the evidence on one assumed roll-up: on DaysTested
// account-days its children had cost, and on DaysExceeded they added up
// to more than it (by more than a cent).
type AssumedRollup struct {
	Category                 string
	DaysTested, DaysExceeded int
}

// Verdict is "supported", "contradicted" or "untested".
func (a AssumedRollup) Verdict() string {
	switch {
	case a.DaysExceeded > 0:
		return "contradicted"
	case a.DaysTested == 0:
		return "untested"
	}
	return "supported"
}

// OK reports whether every account-day reconciled.
func (r Report) OK() bool { return len(r.Failures) == 0 }

// Tolerance is what a roll-up's children may exceed it by, and attributed
// cost totalprice, before it is a failure: Twilio rounds each category.
const Tolerance = "0.01"

// Verify reads twilio_reconciliation for the days from..to (both
// inclusive; zero values leave that end open) and the evidence on the
// assumed roll-ups.
func Verify(ctx context.Context, q Querier, from, to time.Time) (Report, error) {
	r := Report{From: from, To: to}
	var where []string
	if !from.IsZero() {
		where = append(where, fmt.Sprintf("usage_date >= DATE '%s'", from.Format(time.DateOnly)))
	}
	if !to.IsZero() {
		where = append(where, fmt.Sprintf("usage_date <= DATE '%s'", to.Format(time.DateOnly)))
	}
	cond := "TRUE"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	// One pass over the view: every account-day's status, the details
	// of the failing ones.
	rows, err := query(ctx, q, `
SELECT status, CAST(usage_date AS {{string}}), account_sid, COALESCE(account_name, account_sid), COALESCE(currency, ''),
       COALESCE(excess_rollup, ''), CAST(rollup_excess AS {{string}}),
       CAST(totalprice AS {{string}}), CAST(unattributed AS {{string}})
FROM {{table "twilio_reconciliation"}}
WHERE `+cond+`
ORDER BY usage_date, account_sid`)
	if err != nil {
		return r, err
	}
	for _, row := range rows {
		r.Days++
		switch row[0] {
		case "no_totalprice":
			r.NoTotal++
		case "rollup_exceeded", "over_total":
			r.Failures = append(r.Failures, Failure{
				Status: row[0], Date: row[1], AccountSID: row[2], AccountName: row[3], Currency: row[4],
				Rollup: row[5], Excess: trimDecimal(row[6]), Totalprice: trimDecimal(row[7]), Unattributed: trimDecimal(row[8]),
			})
		}
	}
	// The assumed roll-ups' evidence: one pass over the usage rows of
	// those roll-ups and their children, on the days checked.
	rows, err = query(ctx, q, `
WITH assumed AS (
  SELECT DISTINCT parent AS category FROM {{table "twilio_usage_categories"}}
  WHERE hierarchy = 'assumed' AND parent <> 'totalprice' AND NOT is_overlay
),
children AS (
  SELECT u.usage_date, u.account_sid, a.ancestor AS parent, SUM(COALESCE(u.price, 0)) AS price
  FROM {{table "twilio_usage_daily"}} u
  JOIN {{table "twilio_usage_category_ancestors"}} a ON a.category = u.category AND a.distance = 1
  JOIN {{table "twilio_usage_categories"}} c ON c.category = u.category AND NOT c.is_overlay
  WHERE a.ancestor IN (SELECT category FROM assumed) AND `+cond+`
  GROUP BY u.usage_date, u.account_sid, a.ancestor
  HAVING SUM(COALESCE(u.price, 0)) <> 0
),
parents AS (
  SELECT usage_date, account_sid, category, COALESCE(price, 0) AS price
  FROM {{table "twilio_usage_daily"}}
  WHERE category IN (SELECT category FROM assumed) AND `+cond+`
)
SELECT s.category,
       COUNT(k.parent),
       SUM(CASE WHEN k.price - COALESCE(r.price, 0) > CAST('`+Tolerance+`' AS {{numeric}}) THEN 1 ELSE 0 END)
FROM assumed s
LEFT JOIN children k ON k.parent = s.category
LEFT JOIN parents r ON r.usage_date = k.usage_date AND r.account_sid = k.account_sid AND r.category = k.parent
GROUP BY s.category
ORDER BY s.category`)
	if err != nil {
		return r, err
	}
	for _, row := range rows {
		tested, _ := strconv.Atoi(row[1])
		exceeded, _ := strconv.Atoi(row[2])
		r.Assumed = append(r.Assumed, AssumedRollup{Category: row[0], DaysTested: tested, DaysExceeded: exceeded})
	}
	return r, nil
}

func query(ctx context.Context, q Querier, tmpl string) ([][]string, error) {
	sql, err := q.Dialect().Render(tmpl)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryStrings(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return rows, nil
}

// trimDecimal drops the trailing zeros of a decimal's text.
func trimDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Write prints the report for people.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	span := "all days"
	if !r.From.IsZero() || !r.To.IsZero() {
		span = fmt.Sprintf("%s to %s", dateOr(r.From, "the first day"), dateOr(r.To, "the last day"))
	}
	fmt.Fprintf(&b, "Reconciliation of %d account-days (%s) against Twilio's totalprice:\n", r.Days, span)
	if r.OK() {
		fmt.Fprintf(&b, "  ok: every roll-up covers its children and attributed cost stays within totalprice (tolerance %s)\n", Tolerance)
	} else {
		fmt.Fprintf(&b, "  FAILED on %d account-days:\n", len(r.Failures))
		for _, f := range r.Failures {
			switch f.Status {
			case "rollup_exceeded":
				fmt.Fprintf(&b, "    %s %s (%s): the children of %s exceed it by %s %s\n", f.Date, f.AccountSID, f.AccountName, f.Rollup, f.Excess, f.Currency)
			default:
				fmt.Fprintf(&b, "    %s %s (%s): attributed cost exceeds totalprice %s by %s %s\n", f.Date, f.AccountSID, f.AccountName, f.Totalprice, strings.TrimPrefix(f.Unattributed, "-"), f.Currency)
			}
		}
	}
	if r.NoTotal > 0 {
		fmt.Fprintf(&b, "  %d account-days have no totalprice row and could not be reconciled\n", r.NoTotal)
	}
	if len(r.Assumed) > 0 {
		fmt.Fprintf(&b, "Roll-ups whose children the reference leaves unknown, as twilio-elt assumes them:\n")
		for _, a := range r.Assumed {
			fmt.Fprintf(&b, "  %-45s %-12s (%d account-days with child cost, %d exceeded)\n", a.Category, a.Verdict(), a.DaysTested, a.DaysExceeded)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dateOr(t time.Time, s string) string {
	if t.IsZero() {
		return s
	}
	return t.Format(time.DateOnly)
}
