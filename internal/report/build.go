package report

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Options choose what a report covers.
type Options struct {
	// Days is the length of the period, ending with the last complete
	// UTC day; the change is against the Days before it. Default 90.
	Days int
	// Account restricts the report to one account: a main account's SID
	// selects it and its subaccounts. "" is every account.
	Account string
	// Warehouse names the warehouse in the report (a path, a dataset).
	Warehouse string
	Now       func() time.Time // nil: time.Now
	Log       *slog.Logger     // nil: discard
}

var sidPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)

// Validate checks opts.
func (o Options) Validate() error {
	var errs []string
	if o.Days < 1 || o.Days > 3660 {
		errs = append(errs, fmt.Sprintf("days %d: want 1 to 3660", o.Days))
	}
	if o.Account != "" && !sidPattern.MatchString(o.Account) {
		errs = append(errs, fmt.Sprintf("account %q: want an account SID, AC followed by 32 hex digits", o.Account))
	}
	if len(errs) > 0 {
		return fmt.Errorf("report options: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Money is an exact amount in one currency, at scale 9.
type Money struct {
	Amount   decimal128.Num
	Currency string
}

// Spend is what one thing (a service group, an account, a category)
// cost over the period, in the report's currency.
type Spend struct {
	Name        string
	Key         string // account SID, category name; "" for a group
	Group       string // a category's service group
	Description string // a category's description
	Amount      decimal128.Num
}

// DaySpend is one day's cost per service group, in the report's
// currency.
type DaySpend struct {
	Day     time.Time
	ByGroup map[string]decimal128.Num
	Total   decimal128.Num
}

// MonthToDate compares this month's first days with the same days of
// the month before.
type MonthToDate struct {
	From, To         time.Time // this month: the 1st to the report's last day
	PrevFrom, PrevTo time.Time // the month before: the 1st to the same day of the month (or its last)
	This, Prev       decimal128.Num
	// ThisDaily and PrevDaily are the cumulative spend by day of the
	// month, from the 1st.
	ThisDaily, PrevDaily []decimal128.Num
}

// Reconciliation is twilio_reconciliation over the period: what verify
// reads.
type Reconciliation struct {
	Days, OK, NoTotal int // account-days: all, reconciled, without a totalprice row
	// Sums over the period in the report's currency.
	Totalprice, Attributed, Unattributed, LeafCost, ResidualCost decimal128.Num
	TotalByAccount                                               map[string]decimal128.Num // Σ totalprice per account SID
	Failures                                                     []Failure
	Currencies                                                   []string
}

// Failure is an account-day that does not reconcile, as verify lists it.
type Failure struct {
	Date, AccountSID, AccountName, Currency string
	Status, Rollup, Excess                  string
	Totalprice, Unattributed                string
}

// Report is every figure of the HTML report. Money is exact; charts
// get floats only to draw.
type Report struct {
	GeneratedAt time.Time
	Warehouse   string
	Account     string   // the --account filter, "" for all
	AccountSIDs []string // the accounts it selects (nil: all)
	AccountName string

	Days               int
	From, To           time.Time // the period, inclusive
	PrevFrom, PrevTo   time.Time // the period before
	FirstDay, LastDay  time.Time // the first and last day loaded
	LastLoaded         time.Time // the newest _loaded_at of the usage
	LastComplete       time.Time // the last complete UTC day loaded
	PrevPartial        bool      // the previous period begins before the first day loaded
	Currency           string    // the currency charts and lists are in
	Totals, PrevTotals []Money   // per currency, largest first
	Total, PrevTotal   decimal128.Num
	Change             string // "+12.3%", "" when the previous period had no spend
	ActiveAccounts     int
	ActiveSIMs         int

	Groups     []Spend // service groups (Unattributed apart), largest first
	Daily      []DaySpend
	Accounts   []Spend // every account with cost, largest first
	Categories []Spend // every category, largest first
	MTD        MonthToDate
	SIMs       []SIMUsage
	Recon      Reconciliation
	Anomalies  []Anomaly // in the period, oldest first
	// AnomalyNote says where anomalies come from when not from the table.
	AnomalyNote string
	// AnomalySeries are the daily usage-based cost and baseline of the
	// series with anomalies, worst first (at most maxAnomalyCharts).
	AnomalySeries []AnomalySeries
}

// UnattributedGroup names totalprice's cost in no category.
const UnattributedGroup = "Unattributed"

// TopService is the largest service group, or the zero Spend.
func (r *Report) TopService() Spend {
	if len(r.Groups) == 0 {
		return Spend{}
	}
	return r.Groups[0]
}

// Build reads every figure of a report from the warehouse's cost tables.
func Build(ctx context.Context, q Querier, opts Options) (*Report, error) {
	if opts.Days == 0 {
		opts.Days = 90
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	r := &Report{GeneratedAt: opts.Now().UTC(), Warehouse: opts.Warehouse, Account: opts.Account, Days: opts.Days}
	b := &builder{q: q, r: r, log: opts.Log}
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"accounts", b.accounts},
		{"freshness", b.freshness},
		{"daily spend", b.daily},
		{"spend by account", b.byAccount},
		{"spend by category", b.byCategory},
		{"SIM data", b.sims},
		{"reconciliation", b.reconciliation},
		{"anomalies", b.anomalies},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("report: %s: %w", s.what, err)
		}
		if s.what == "freshness" && r.LastDay.IsZero() {
			return nil, fmt.Errorf("report: no usage loaded%s: run twilio-elt sync or load first", r.accountText())
		}
	}
	return r, nil
}

func (r *Report) accountText() string {
	if r.Account == "" {
		return ""
	}
	return " for account " + r.Account
}

type builder struct {
	q   Querier
	r   *Report
	log *slog.Logger
}

// where is the SQL condition of the period from..to and the account
// filter, on a table with usage_date and account_sid.
func (b *builder) where(from, to time.Time) string {
	c := "usage_date BETWEEN " + dateLit(from) + " AND " + dateLit(to)
	if b.r.AccountSIDs != nil {
		lits := make([]string, len(b.r.AccountSIDs))
		for i, s := range b.r.AccountSIDs {
			lits[i] = sidLit(s)
		}
		c += " AND account_sid IN (" + strings.Join(lits, ", ") + ")"
	}
	return c
}

// accounts resolves the account filter: the account and, for a main
// account, its subaccounts.
func (b *builder) accounts(ctx context.Context) error {
	if b.r.Account == "" {
		return nil
	}
	rows, err := query(ctx, b.q, "accounts", `
SELECT account_sid, COALESCE(display_name, friendly_name, account_sid) FROM {{table "twilio_accounts"}}
WHERE account_sid = `+sidLit(b.r.Account)+` OR parent_account_sid = `+sidLit(b.r.Account)+`
ORDER BY CASE WHEN account_sid = `+sidLit(b.r.Account)+` THEN 0 ELSE 1 END, account_sid`)
	if err != nil {
		return err
	}
	b.r.AccountSIDs = []string{b.r.Account}
	b.r.AccountName = b.r.Account
	for i, row := range rows {
		if i == 0 && row[0] == b.r.Account {
			b.r.AccountName = row[1]
			continue
		}
		if row[0] != b.r.Account {
			b.r.AccountSIDs = append(b.r.AccountSIDs, row[0])
		}
	}
	return nil
}

// freshness finds the days loaded and fixes the period: the Days days
// ending with the last complete UTC day, the day before the last load
// (today's usage is partial and Twilio revises recent days).
func (b *builder) freshness(ctx context.Context) error {
	r := b.r
	rows, err := query(ctx, b.q, "days loaded", `
SELECT CAST(MIN(usage_date) AS {{string}}), CAST(MAX(usage_date) AS {{string}}), CAST(MAX(_loaded_at) AS {{string}})
FROM {{table "twilio_usage_daily"}} WHERE `+b.where(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		return err
	}
	if len(rows) != 1 || rows[0][0] == "NULL" {
		r.LastDay = time.Time{}
		return nil
	}
	if r.FirstDay, err = parseDay(rows[0][0]); err != nil {
		return err
	}
	if r.LastDay, err = parseDay(rows[0][1]); err != nil {
		return err
	}
	if r.LastLoaded, err = parseTime(rows[0][2]); err != nil {
		return err
	}
	r.LastComplete = r.LastLoaded.Truncate(24*time.Hour).AddDate(0, 0, -1)
	if r.LastDay.Before(r.LastComplete) {
		r.LastComplete = r.LastDay
	}
	r.To = r.LastComplete
	r.From = r.To.AddDate(0, 0, 1-r.Days)
	r.PrevTo = r.From.AddDate(0, 0, -1)
	r.PrevFrom = r.From.AddDate(0, 0, -r.Days)
	r.PrevPartial = r.PrevFrom.Before(r.FirstDay)
	r.MTD.From = time.Date(r.To.Year(), r.To.Month(), 1, 0, 0, 0, 0, time.UTC)
	r.MTD.To = r.To
	r.MTD.PrevFrom = r.MTD.From.AddDate(0, -1, 0)
	r.MTD.PrevTo = r.MTD.PrevFrom.AddDate(0, 0, r.To.Day()-1)
	if end := r.MTD.From.AddDate(0, 0, -1); r.MTD.PrevTo.After(end) {
		r.MTD.PrevTo = end
	}
	return nil
}

// daily reads cost per day, currency and service group, from the
// earliest day any figure needs to the last: the period, the one
// before, and last month's first days.
func (b *builder) daily(ctx context.Context) error {
	r := b.r
	from := r.PrevFrom
	if r.MTD.PrevFrom.Before(from) {
		from = r.MTD.PrevFrom
	}
	rows, err := query(ctx, b.q, "daily cost", `
SELECT CAST(usage_date AS {{string}}), COALESCE(currency, ''),
       CASE WHEN attribution = 'unattributed' THEN '`+UnattributedGroup+`' ELSE COALESCE(service_group, 'Other') END,
       CAST(SUM(cost) AS {{string}})
FROM {{table "twilio_cost_daily"}}
WHERE `+b.where(from, r.To)+`
GROUP BY 1, 2, 3`)
	if err != nil {
		return err
	}
	type cell struct {
		day      time.Time
		currency string
		group    string
		amount   decimal128.Num
	}
	cells := make([]cell, 0, len(rows))
	totals, prev := map[string]decimal128.Num{}, map[string]decimal128.Num{}
	for _, row := range rows {
		day, err := parseDay(row[0])
		if err != nil {
			return err
		}
		amount, err := parseMoney(row[3])
		if err != nil {
			return err
		}
		cells = append(cells, cell{day, row[1], row[2], amount})
		switch {
		case inSpan(day, r.From, r.To):
			totals[row[1]] = totals[row[1]].Add(amount)
		case inSpan(day, r.PrevFrom, r.PrevTo):
			prev[row[1]] = prev[row[1]].Add(amount)
		}
	}
	r.Totals, r.PrevTotals = moneyList(totals), moneyList(prev)
	if len(r.Totals) > 0 {
		r.Currency = r.Totals[0].Currency
	} else if len(r.PrevTotals) > 0 {
		r.Currency = r.PrevTotals[0].Currency
	}
	r.Total, r.PrevTotal = totals[r.Currency], prev[r.Currency]
	if r.PrevTotal.Sign() > 0 {
		change := new(big.Rat).Quo(ratOf(r.Total.Sub(r.PrevTotal), 1), ratOf(r.PrevTotal, 1))
		change.Mul(change, big.NewRat(100, 1))
		r.Change = change.FloatString(1) + "%"
		if change.Sign() >= 0 {
			r.Change = "+" + r.Change
		}
	}

	days := map[time.Time]*DaySpend{}
	for d := r.From; !d.After(r.To); d = d.AddDate(0, 0, 1) {
		ds := &DaySpend{Day: d, ByGroup: map[string]decimal128.Num{}}
		days[d] = ds
		r.Daily = append(r.Daily, *ds)
	}
	groups := map[string]decimal128.Num{}
	mtdThis, mtdPrev := make([]decimal128.Num, r.MTD.To.Day()), make([]decimal128.Num, r.MTD.PrevTo.Day())
	for _, c := range cells {
		if c.currency != r.Currency {
			continue
		}
		if ds := days[c.day]; ds != nil {
			ds.ByGroup[c.group] = ds.ByGroup[c.group].Add(c.amount)
			ds.Total = ds.Total.Add(c.amount)
			groups[c.group] = groups[c.group].Add(c.amount)
		}
		if inSpan(c.day, r.MTD.From, r.MTD.To) {
			mtdThis[c.day.Day()-1] = mtdThis[c.day.Day()-1].Add(c.amount)
			r.MTD.This = r.MTD.This.Add(c.amount)
		}
		if inSpan(c.day, r.MTD.PrevFrom, r.MTD.PrevTo) {
			mtdPrev[c.day.Day()-1] = mtdPrev[c.day.Day()-1].Add(c.amount)
			r.MTD.Prev = r.MTD.Prev.Add(c.amount)
		}
	}
	for i := range r.Daily {
		r.Daily[i] = *days[r.Daily[i].Day]
	}
	r.MTD.ThisDaily, r.MTD.PrevDaily = cumulative(mtdThis), cumulative(mtdPrev)
	for g, v := range groups {
		if g != UnattributedGroup {
			r.Groups = append(r.Groups, Spend{Name: g, Amount: v})
		}
	}
	sortSpend(r.Groups)
	if v, ok := groups[UnattributedGroup]; ok {
		r.Groups = append(r.Groups, Spend{Name: UnattributedGroup, Amount: v})
	}
	return nil
}

func cumulative(v []decimal128.Num) []decimal128.Num {
	out := make([]decimal128.Num, len(v))
	var sum decimal128.Num
	for i, x := range v {
		sum = sum.Add(x)
		out[i] = sum
	}
	return out
}

func inSpan(d, from, to time.Time) bool { return !d.Before(from) && !d.After(to) }

func moneyList(m map[string]decimal128.Num) []Money {
	var out []Money
	for c, v := range m {
		out = append(out, Money{Amount: v, Currency: c})
	}
	slices.SortFunc(out, func(a, b Money) int {
		if c := b.Amount.Cmp(a.Amount); c != 0 {
			return c
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	return out
}

func sortSpend(s []Spend) {
	slices.SortFunc(s, func(a, b Spend) int {
		if c := b.Amount.Cmp(a.Amount); c != 0 {
			return c
		}
		return strings.Compare(a.Name+a.Key, b.Name+b.Key)
	})
}

func (b *builder) byAccount(ctx context.Context) error {
	r := b.r
	rows, err := query(ctx, b.q, "cost by account", `
SELECT account_sid, MAX(COALESCE(account_name, account_sid)), COALESCE(currency, ''), CAST(SUM(cost) AS {{string}})
FROM {{table "twilio_cost_daily"}}
WHERE `+b.where(r.From, r.To)+`
GROUP BY account_sid, currency`)
	if err != nil {
		return err
	}
	active := map[string]bool{}
	for _, row := range rows {
		active[row[0]] = true
		if row[2] != r.Currency {
			continue
		}
		v, err := parseMoney(row[3])
		if err != nil {
			return err
		}
		r.Accounts = append(r.Accounts, Spend{Name: row[1], Key: row[0], Amount: v})
	}
	sortSpend(r.Accounts)
	r.ActiveAccounts = len(active)
	return nil
}

// currencyLit is a currency code safe in a literal (ISO 4217 letters).
func currencyLit(c string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' {
			return r
		}
		return -1
	}, c)
}

func (b *builder) byCategory(ctx context.Context) error {
	r := b.r
	rows, err := query(ctx, b.q, "cost by category", `
SELECT category, MAX(COALESCE(service_group, 'Other')), MAX(COALESCE(description, '')), CAST(SUM(cost) AS {{string}})
FROM {{table "twilio_cost_daily"}}
WHERE `+b.where(r.From, r.To)+` AND currency = '`+currencyLit(r.Currency)+`'
GROUP BY category`)
	if err != nil {
		return err
	}
	for _, row := range rows {
		v, err := parseMoney(row[3])
		if err != nil {
			return err
		}
		if v.Sign() == 0 {
			continue
		}
		r.Categories = append(r.Categories, Spend{Name: row[0], Key: row[0], Group: row[1], Description: row[2], Amount: v})
	}
	sortSpend(r.Categories)
	return nil
}

func (b *builder) reconciliation(ctx context.Context) error {
	r := b.r
	rows, err := query(ctx, b.q, "twilio_reconciliation", `
SELECT status, CAST(usage_date AS {{string}}), account_sid, COALESCE(account_name, account_sid), COALESCE(currency, ''),
       COALESCE(excess_rollup, ''), CAST(rollup_excess AS {{string}}), CAST(totalprice AS {{string}}),
       CAST(unattributed AS {{string}}), CAST(attributed AS {{string}}), CAST(leaf_cost AS {{string}}),
       CAST(residual_cost AS {{string}})
FROM {{table "twilio_reconciliation"}}
WHERE `+b.where(r.From, r.To)+`
ORDER BY usage_date, account_sid`)
	if err != nil {
		return err
	}
	rc := &r.Recon
	rc.TotalByAccount = map[string]decimal128.Num{}
	for _, row := range rows {
		rc.Days++
		var v [6]decimal128.Num
		for i := range v {
			if v[i], err = parseMoney(row[6+i]); err != nil {
				return err
			}
		}
		if row[4] == r.Currency {
			rc.Totalprice = rc.Totalprice.Add(v[1])
			rc.Unattributed = rc.Unattributed.Add(v[2])
			rc.Attributed = rc.Attributed.Add(v[3])
			rc.LeafCost = rc.LeafCost.Add(v[4])
			rc.ResidualCost = rc.ResidualCost.Add(v[5])
			rc.TotalByAccount[row[2]] = rc.TotalByAccount[row[2]].Add(v[1])
		}
		if !slices.Contains(rc.Currencies, row[4]) {
			rc.Currencies = append(rc.Currencies, row[4])
		}
		switch row[0] {
		case "ok":
			rc.OK++
		case "no_totalprice":
			rc.NoTotal++
		default:
			rc.Failures = append(rc.Failures, Failure{
				Status: row[0], Date: row[1], AccountSID: row[2], AccountName: row[3], Currency: row[4],
				Rollup: row[5], Excess: trimZeros(row[6]), Totalprice: trimZeros(row[7]), Unattributed: trimZeros(row[8]),
			})
		}
	}
	return nil
}

// trimZeros drops a decimal's trailing zeros, as verify prints it.
func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
