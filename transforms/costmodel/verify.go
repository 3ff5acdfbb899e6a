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
	// Account, when set, is the billing (main) account checked: its
	// account-days and its subaccounts'.
	Account string
	// Billing sums the check per billing account and currency, by
	// billing account SID.
	Billing []BillingSummary
}

// BillingSummary is the check of one billing (main) account's
// account-days in one currency.
type BillingSummary struct {
	SID, Name, Currency string
	// Days, Failed and NoTotal count its account-days: all, those that
	// do not reconcile, those without a totalprice row.
	Days, Failed, NoTotal int
	// Totalprice is the sum of its account-days' totalprice, exact.
	Totalprice string
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
	return VerifyAccount(ctx, q, from, to, "")
}

// VerifyAccount is Verify of one billing (main) account's account-days
// (its own and its subaccounts'); account "" checks every account.
func VerifyAccount(ctx context.Context, q Querier, from, to time.Time, account string) (Report, error) {
	r := Report{From: from, To: to, Account: account}
	var where []string
	if account != "" {
		if !validSID(account) {
			return r, fmt.Errorf("verify: account %q is not an Account SID (AC followed by 32 hexadecimal digits)", account)
		}
		where = append(where, fmt.Sprintf("billing_account_sid = '%s'", account))
	}
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
	// Per billing account.
	rows, err = query(ctx, q, `
SELECT COALESCE(r.billing_account_sid, ''), COALESCE(MAX(COALESCE(a.display_name, a.friendly_name)), ''), COALESCE(r.currency, ''),
       COUNT(*),
       SUM(CASE WHEN r.status IN ('rollup_exceeded', 'over_total') THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.status = 'no_totalprice' THEN 1 ELSE 0 END),
       CAST(COALESCE(SUM(r.totalprice), 0) AS {{string}})
FROM {{table "twilio_reconciliation"}} r
LEFT JOIN {{table "twilio_accounts"}} a ON a.account_sid = r.billing_account_sid
WHERE `+strings.ReplaceAll(strings.ReplaceAll(cond, "usage_date", "r.usage_date"), "billing_account_sid", "r.billing_account_sid")+`
GROUP BY 1, 3
ORDER BY 1, 3`)
	if err != nil {
		return r, err
	}
	for _, row := range rows {
		b := BillingSummary{SID: row[0], Name: row[1], Currency: row[2], Totalprice: trimDecimal(row[6])}
		b.Days, _ = strconv.Atoi(row[3])
		b.Failed, _ = strconv.Atoi(row[4])
		b.NoTotal, _ = strconv.Atoi(row[5])
		r.Billing = append(r.Billing, b)
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
	of := ""
	if r.Account != "" {
		of = " of billing account " + r.Account
	}
	fmt.Fprintf(&b, "Reconciliation of %d account-days%s (%s) against Twilio's totalprice:\n", r.Days, of, span)
	if len(r.Billing) > 0 {
		fmt.Fprintf(&b, "  by billing account (its subaccounts included):\n")
		for _, s := range r.Billing {
			status := "ok"
			if s.Failed > 0 {
				status = fmt.Sprintf("FAILED on %d", s.Failed)
			}
			name := s.SID
			if s.Name != "" {
				name += " (" + s.Name + ")"
			}
			if s.SID == "" {
				name = "(no billing account)"
			}
			fmt.Fprintf(&b, "    %-60s %6d account-days  %-14s totalprice %s %s\n", name, s.Days, status, s.Totalprice, s.Currency)
		}
	}
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

// validSID reports whether s is an Account SID: it is put in SQL text.
func validSID(s string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, "AC") {
		return false
	}
	for _, c := range s[2:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
