package report

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// AnomaliesTable is the table Refresh writes: one row per account, day,
// service group (and currency) whose usage-based cost is an anomaly.
const AnomaliesTable = "twilio_cost_anomalies"

// Severity ranks an anomaly.
type Severity int

// Severities, least first.
const (
	None Severity = iota
	Low
	Medium
	High
)

var severityNames = []string{"none", "low", "medium", "high"}

func (s Severity) String() string {
	if s < None || s > High {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads "low", "medium" or "high".
func ParseSeverity(s string) (Severity, error) {
	if i := slices.Index(severityNames, strings.ToLower(s)); i > 0 {
		return Severity(i), nil
	}
	return None, fmt.Errorf("severity %q: want low, medium or high", s)
}

// Params are the parameters of anomaly detection; decimals are text so
// they stay exact. README's "Anomalies" section explains each.
type Params struct {
	// Window is how many days before a day its baseline covers.
	Window int
	// MinHistory is the fewest days of loaded history a baseline needs:
	// a day with less (the first days of a warehouse) is not scored.
	MinHistory int
	// Threshold is the score from which a day is an anomaly (low); twice
	// it is medium, four times it high.
	Threshold string
	// RelativeSpread and MinSpread bound the spread a score divides by
	// from below: at least this share of the baseline, and at least this
	// much currency, so a flat baseline (MAD 0) does not make every cent
	// an outlier.
	RelativeSpread, MinSpread string
	// Floor is the least excess over the baseline, in currency, that is an
	// anomaly; ten times it is needed for medium and a hundred times for
	// high.
	Floor string
}

// DefaultParams are the parameters the loader uses.
var DefaultParams = Params{
	Window:         28,
	MinHistory:     14,
	Threshold:      "10",
	RelativeSpread: "0.1",
	MinSpread:      "1",
	Floor:          "10",
}

// Anomaly is one account's service group on one day whose usage-based
// cost stands out from its baseline. Money is exact at scale 9.
type Anomaly struct {
	Day                            time.Time
	AccountSID, BillingAccountSID  string
	AccountName                    string
	ServiceGroup, Currency         string
	Cost                           decimal128.Num // the group's usage-based cost that day
	Baseline                       decimal128.Num // the median of the Window days before (rounded to 1e-9)
	MAD                            decimal128.Num // their median absolute deviation (rounded to 1e-9)
	Excess                         decimal128.Num // Cost − Baseline
	Score                          decimal128.Num // Excess ÷ spread, rounded to 0.01
	Severity                       Severity
	Category                       string         // the category behind at least half of Excess; "" when none is
	CategoryCost, CategoryBaseline decimal128.Num // that category's cost and median
	HistoryDays                    int            // days in the baseline (Window, fewer at the warehouse's start)
	// DetectedAt is when a refresh first found the anomaly at this
	// severity or above: alerts --since reads it.
	DetectedAt time.Time
}

func field(name string, t arrow.DataType, nullable bool) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: nullable}
}

// AnomalyTable is twilio_cost_anomalies. Refresh replaces whole days.
var AnomalyTable = warehouse.Table{
	Name: AnomaliesTable,
	Schema: arrow.NewSchema([]arrow.Field{
		field("usage_date", transforms.Date, false),
		field("account_sid", transforms.String, false),
		field("service_group", transforms.String, false),
		field("currency", transforms.String, false),
		field("billing_account_sid", transforms.String, true),
		field("account_name", transforms.String, true),
		field("cost", transforms.Decimal, false),
		field("baseline", transforms.Decimal, false),
		field("mad", transforms.Decimal, false),
		field("excess", transforms.Decimal, false),
		field("score", transforms.Decimal, false),
		field("severity", transforms.String, false),
		field("category", transforms.String, true),
		field("category_cost", transforms.Decimal, true),
		field("category_baseline", transforms.Decimal, true),
		field("history_days", transforms.Int64, false),
		field("detected_at", transforms.Timestamp, false),
		field(transforms.LoadedAtColumn, transforms.Timestamp, false),
	}, nil),
	Key:         []string{"usage_date", "account_sid", "service_group", "currency"},
	Group:       []string{"usage_date"},
	PartitionBy: "usage_date",
	ClusterBy:   []string{"account_sid"},
}

// detector is Params parsed.
type detector struct {
	window, minHistory                             int
	threshold, relSpread, minSpread, floor, sigmas *big.Rat
	floorDec                                       decimal128.Num
}

// madToSigma turns a MAD into an estimate of the standard deviation of
// normal data (1 / Φ⁻¹(3/4)), so a score reads like a z-score.
const madToSigma = "1.4826"

func (p Params) detector() (*detector, error) {
	d := &detector{window: p.Window, minHistory: p.MinHistory}
	if p.Window < 3 || p.MinHistory < 3 || p.MinHistory > p.Window {
		return nil, fmt.Errorf("anomaly parameters: window %d and minimum history %d: want 3 ≤ minimum ≤ window", p.Window, p.MinHistory)
	}
	for _, f := range []struct {
		name, text string
		to         **big.Rat
	}{
		{"threshold", p.Threshold, &d.threshold},
		{"relative spread", p.RelativeSpread, &d.relSpread},
		{"minimum spread", p.MinSpread, &d.minSpread},
		{"floor", p.Floor, &d.floor},
		{"MAD factor", madToSigma, &d.sigmas},
	} {
		r, ok := new(big.Rat).SetString(f.text)
		if !ok || r.Sign() < 0 {
			return nil, fmt.Errorf("anomaly parameters: %s %q is not a decimal ≥ 0", f.name, f.text)
		}
		*f.to = r
	}
	floor, err := transforms.ParseDecimal(p.Floor)
	if err != nil {
		return nil, fmt.Errorf("anomaly parameters: floor %q: %w", p.Floor, err)
	}
	d.floorDec = floor
	if d.minSpread.Sign() == 0 && d.relSpread.Sign() == 0 {
		return nil, fmt.Errorf("anomaly parameters: the relative and the minimum spread cannot both be 0")
	}
	return d, nil
}

// Series is the usage-based cost of one account's service group, day by
// day from Start (missing days hold 0), per category.
type Series struct {
	AccountSID, BillingAccountSID, AccountName string
	ServiceGroup, Currency                     string
	Start                                      time.Time
	Days                                       int
	Categories                                 map[string][]decimal128.Num
	// Total is the group's cost per day; nil means the sum of Categories.
	// Given without Categories, anomalies name no category.
	Total []decimal128.Num
}

// Detect scores every day of s from from on against the Window days
// before it and returns the anomalies, oldest first.
func (p Params) Detect(s Series, from time.Time) ([]Anomaly, error) {
	d, err := p.detector()
	if err != nil {
		return nil, err
	}
	return d.detect(s, from), nil
}

func (d *detector) detect(s Series, from time.Time) []Anomaly {
	total := s.Total
	if total == nil {
		total = make([]decimal128.Num, s.Days)
		for _, v := range s.Categories {
			for i := range min(len(v), s.Days) {
				total[i] = total[i].Add(v[i])
			}
		}
	}
	first := max(0, int(from.Sub(s.Start).Hours()/24))
	var out []Anomaly
	scratch := make([]decimal128.Num, 0, d.window)
	for i := first; i < s.Days; i++ {
		lo := max(0, i-d.window)
		if i-lo < d.minHistory {
			continue
		}
		window := total[lo:i]
		// The median is at least the window's least day: a day that does
		// not exceed that by the floor cannot be an anomaly. Most days end
		// here, before any sorting.
		if total[i].Sub(slices.MinFunc(window, decimal128.Num.Cmp)).Less(d.floorDec) {
			continue
		}
		median, mad := medianMAD(window, scratch)
		cost := ratOf(total[i], 1)
		excess := new(big.Rat).Sub(cost, median)
		if excess.Cmp(d.floor) < 0 {
			continue
		}
		spread := new(big.Rat).Mul(mad, d.sigmas)
		if rel := new(big.Rat).Mul(median, d.relSpread); rel.Cmp(spread) > 0 {
			spread = rel
		}
		if d.minSpread.Cmp(spread) > 0 {
			spread = d.minSpread
		}
		score := new(big.Rat).Quo(excess, spread)
		sev := d.severity(score, excess)
		if sev == None {
			continue
		}
		a := Anomaly{
			Day:               s.Start.AddDate(0, 0, i),
			AccountSID:        s.AccountSID,
			BillingAccountSID: s.BillingAccountSID,
			AccountName:       s.AccountName,
			ServiceGroup:      s.ServiceGroup,
			Currency:          s.Currency,
			Cost:              total[i],
			Baseline:          decimalOf(median, 9),
			MAD:               decimalOf(mad, 9),
			Excess:            decimalOf(excess, 9),
			Score:             decimalOf(score, 2),
			Severity:          sev,
			HistoryDays:       i - lo,
		}
		d.attribute(&a, s)
		out = append(out, a)
	}
	return out
}

// attribute names the category behind at least half of a's excess, if
// one is, from s's categories (over the same days as a's baseline).
func (d *detector) attribute(a *Anomaly, s Series) {
	i := int(a.Day.Sub(s.Start).Hours() / 24)
	lo := i - a.HistoryDays
	if lo < 0 || len(s.Categories) == 0 {
		return
	}
	cats := make([]string, 0, len(s.Categories))
	for c := range s.Categories {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	scratch := make([]decimal128.Num, 0, d.window)
	best, bestExcess, bestMedian := "", new(big.Rat), new(big.Rat)
	for _, c := range cats {
		v := s.Categories[c]
		if i >= len(v) {
			continue
		}
		m, _ := medianMAD(v[lo:i], scratch)
		ex := new(big.Rat).Sub(ratOf(v[i], 1), m)
		if best == "" || ex.Cmp(bestExcess) > 0 {
			best, bestExcess, bestMedian = c, ex, m
		}
	}
	if best != "" && new(big.Rat).Mul(bestExcess, big.NewRat(2, 1)).Cmp(ratOf(a.Excess, 1)) >= 0 {
		a.Category = best
		a.CategoryCost = s.Categories[best][i]
		a.CategoryBaseline = decimalOf(bestMedian, 9)
	}
}

// severity grades a score and an excess: the lower of the grade the
// score earns (Threshold, ×2, ×4) and the one the money earns (Floor,
// ×10, ×100).
func (d *detector) severity(score, excess *big.Rat) Severity {
	grade := func(v, base *big.Rat, steps ...int64) Severity {
		s := None
		for i, k := range steps {
			if v.Cmp(new(big.Rat).Mul(base, big.NewRat(k, 1))) >= 0 {
				s = Severity(i + 1)
			}
		}
		return s
	}
	return min(grade(score, d.threshold, 1, 2, 4), grade(excess, d.floor, 1, 10, 100))
}

// medianMAD returns the median of vals and the median of their absolute
// deviations from it, exactly. Twice the median is a sum of two values
// of vals, so everything stays in integers at scale 9 until the end.
func medianMAD(vals, scratch []decimal128.Num) (median, mad *big.Rat) {
	s := append(scratch[:0], vals...)
	m2 := twiceMedian(s)
	for i, v := range vals {
		s[i] = v.Add(v).Sub(m2).Abs() // 2·|v − median|
	}
	mad4 := twiceMedian(s)
	return ratOf(m2, 2), ratOf(mad4, 4)
}

// twiceMedian sorts vals and returns twice their median.
func twiceMedian(vals []decimal128.Num) decimal128.Num {
	slices.SortFunc(vals, decimal128.Num.Cmp)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2].Add(vals[n/2])
	}
	return vals[n/2-1].Add(vals[n/2])
}

var scale9 = new(big.Int).Exp(big.NewInt(10), big.NewInt(transforms.DecimalScale), nil)

// ratOf is n (scale 9) divided by k, exactly.
func ratOf(n decimal128.Num, k int64) *big.Rat {
	return new(big.Rat).SetFrac(n.BigInt(), new(big.Int).Mul(scale9, big.NewInt(k)))
}

// decimalOf rounds r to places decimals (half away from zero) as a
// scale-9 decimal.
func decimalOf(r *big.Rat, places int) decimal128.Num {
	n, err := transforms.ParseDecimal(r.FloatString(places))
	if err != nil {
		panic(fmt.Sprintf("report: %s does not fit DECIMAL(38, 9): %v", r.FloatString(places), err))
	}
	return n
}

// AnomalyOptions configure Refresh and Compute.
type AnomalyOptions struct {
	Params Params           // zero: DefaultParams
	Now    func() time.Time // nil: time.Now
}

func (o AnomalyOptions) defaults() AnomalyOptions {
	if o.Params == (Params{}) {
		o.Params = DefaultParams
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Result says what a refresh covered.
type Result struct {
	From, To  time.Time // the days recomputed, inclusive; zero when the cost table is empty
	Anomalies []Anomaly
}

// Compute scores the usage-based cost of every account's service groups
// in twilio_cost_daily on the days from from to the last day loaded,
// without storing anything. A zero from means the first day loaded.
func Compute(ctx context.Context, q Querier, from time.Time, opts AnomalyOptions) (Result, error) {
	opts = opts.defaults()
	d, err := opts.Params.detector()
	if err != nil {
		return Result{}, err
	}
	// The cost table's days are the usage table's; the latter is cheaper
	// to ask while twilio_cost_daily is a view.
	rows, err := query(ctx, q, "anomalies: the days loaded", `
SELECT CAST(MIN(usage_date) AS {{string}}), CAST(MAX(usage_date) AS {{string}}) FROM {{table "twilio_usage_daily"}}`)
	if err != nil {
		return Result{}, err
	}
	if len(rows) != 1 || rows[0][0] == "NULL" {
		return Result{}, nil
	}
	first, err := parseDay(rows[0][0])
	if err != nil {
		return Result{}, err
	}
	last, err := parseDay(rows[0][1])
	if err != nil {
		return Result{}, err
	}
	from = from.UTC().Truncate(24 * time.Hour)
	if from.Before(first) {
		from = first
	}
	if from.After(last) {
		return Result{}, nil
	}
	start := from.AddDate(0, 0, -d.window)
	if start.Before(first) {
		start = first
	}
	days := int(last.Sub(start).Hours()/24) + 1
	// First the groups' daily totals; then, for the groups with
	// anomalies only, their categories, to name what drives each.
	rows, err = query(ctx, q, "anomalies: daily cost", `
SELECT CAST(usage_date AS {{string}}), account_sid, MAX(COALESCE(billing_account_sid, '')), MAX(COALESCE(account_name, '')),
       COALESCE(service_group, 'Other'), COALESCE(currency, ''), CAST(SUM(cost) AS {{string}})
FROM {{table "twilio_cost_daily"}}
WHERE usage_date BETWEEN `+dateLit(start)+` AND `+dateLit(last)+` AND `+usageBased+`
GROUP BY usage_date, account_sid, service_group, currency`)
	if err != nil {
		return Result{}, err
	}
	type seriesKey struct{ account, group, currency string }
	series := map[seriesKey]*Series{}
	for _, r := range rows {
		day, err := parseDay(r[0])
		if err != nil {
			return Result{}, fmt.Errorf("anomalies: daily cost: %w", err)
		}
		cost, err := parseMoney(r[6])
		if err != nil {
			return Result{}, fmt.Errorf("anomalies: daily cost of %s on %s: %w", r[1], r[0], err)
		}
		k := seriesKey{r[1], r[4], r[5]}
		s := series[k]
		if s == nil {
			s = &Series{AccountSID: r[1], ServiceGroup: r[4], Currency: r[5], Start: start, Days: days, Total: make([]decimal128.Num, days)}
			series[k] = s
		}
		s.BillingAccountSID, s.AccountName = max(s.BillingAccountSID, r[2]), max(s.AccountName, r[3])
		i := int(day.Sub(start).Hours() / 24)
		s.Total[i] = s.Total[i].Add(cost)
	}
	var found []Anomaly
	for _, s := range series {
		found = append(found, d.detect(*s, from)...)
	}
	if len(found) > 0 {
		// The categories of the anomalous groups, over the days their
		// baselines cover.
		lo, hi := found[0].Day, found[0].Day
		var conds []string
		seen := map[seriesKey]bool{}
		for _, a := range found {
			lo, hi = minTime(lo, a.Day.AddDate(0, 0, -a.HistoryDays)), maxTime(hi, a.Day)
			k := seriesKey{a.AccountSID, a.ServiceGroup, a.Currency}
			if !seen[k] {
				seen[k] = true
				conds = append(conds, fmt.Sprintf("(account_sid = %s AND COALESCE(service_group, 'Other') = %s AND COALESCE(currency, '') = %s)",
					sidLit(a.AccountSID), textLit(a.ServiceGroup), textLit(a.Currency)))
			}
		}
		rows, err = query(ctx, q, "anomalies: daily cost by category", `
SELECT CAST(usage_date AS {{string}}), account_sid, COALESCE(service_group, 'Other'), COALESCE(currency, ''), category, CAST(SUM(cost) AS {{string}})
FROM {{table "twilio_cost_daily"}}
WHERE usage_date BETWEEN `+dateLit(lo)+` AND `+dateLit(hi)+` AND `+usageBased+` AND (`+strings.Join(conds, " OR ")+`)
GROUP BY usage_date, account_sid, service_group, currency, category`)
		if err != nil {
			return Result{}, err
		}
		for _, r := range rows {
			day, err := parseDay(r[0])
			if err != nil {
				return Result{}, fmt.Errorf("anomalies: daily cost by category: %w", err)
			}
			cost, err := parseMoney(r[5])
			if err != nil {
				return Result{}, fmt.Errorf("anomalies: daily cost of %s %s on %s: %w", r[1], r[4], r[0], err)
			}
			s := series[seriesKey{r[1], r[2], r[3]}]
			if s == nil {
				continue
			}
			if s.Categories == nil {
				s.Categories = map[string][]decimal128.Num{}
			}
			v := s.Categories[r[4]]
			if v == nil {
				v = make([]decimal128.Num, days)
				s.Categories[r[4]] = v
			}
			i := int(day.Sub(start).Hours() / 24)
			v[i] = v[i].Add(cost)
		}
		for i, a := range found {
			d.attribute(&found[i], *series[seriesKey{a.AccountSID, a.ServiceGroup, a.Currency}])
		}
	}
	res := Result{From: from, To: last, Anomalies: found}
	sortAnomalies(res.Anomalies)
	now := opts.Now().UTC()
	for i := range res.Anomalies {
		res.Anomalies[i].DetectedAt = now
	}
	return res, nil
}

// usageBased selects the cost rows anomalies are computed from: usage,
// not rentals and one-time fees, which land on one day by design, nor
// cost in no category, which has no service.
const usageBased = "charge_frequency = 'Usage-Based' AND attribution <> 'unattributed'"

// textLit is a string literal both engines read alike: text with no
// quote or backslash (service groups, currency codes); anything else
// is dropped, so a literal never breaks out of its quotes.
func textLit(s string) string {
	return "'" + strings.Map(func(r rune) rune {
		if r == '\'' || r == '\\' {
			return -1
		}
		return r
	}, s) + "'"
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sortAnomalies orders anomalies by day, then account, group, currency.
func sortAnomalies(as []Anomaly) {
	slices.SortFunc(as, func(a, b Anomaly) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		return strings.Compare(a.AccountSID+"\x00"+a.ServiceGroup+"\x00"+a.Currency, b.AccountSID+"\x00"+b.ServiceGroup+"\x00"+b.Currency)
	})
}

// Refresh recomputes the anomalies of the days from from (a revised day
// moves the baselines of the Window days after it, so every day after
// from is recomputed) to the last day in twilio_cost_daily, and replaces
// those days of twilio_cost_anomalies in one commit. An anomaly found
// before keeps its DetectedAt unless its severity rose. The table is
// created when missing.
func Refresh(ctx context.Context, w Warehouse, from time.Time, opts AnomalyOptions) (Result, error) {
	opts = opts.defaults()
	if err := w.Setup(ctx, []warehouse.Table{AnomalyTable}); err != nil {
		return Result{}, fmt.Errorf("refresh anomalies: %w", err)
	}
	res, err := Compute(ctx, w, from, opts)
	if err != nil || res.From.IsZero() {
		return res, err
	}
	earlier, err := Read(ctx, w, Filter{From: res.From})
	if err != nil {
		return res, fmt.Errorf("refresh anomalies: %w", err)
	}
	type key struct {
		day                      time.Time
		account, group, currency string
	}
	seen := map[key]Anomaly{}
	for _, a := range earlier {
		seen[key{a.Day, a.AccountSID, a.ServiceGroup, a.Currency}] = a
	}
	for i, a := range res.Anomalies {
		if old, ok := seen[key{a.Day, a.AccountSID, a.ServiceGroup, a.Currency}]; ok && old.Severity >= a.Severity {
			res.Anomalies[i].DetectedAt = old.DetectedAt
		}
	}
	var replace []warehouse.Group
	for day := res.From; !day.After(res.To); day = day.AddDate(0, 0, 1) {
		replace = append(replace, warehouse.Group{Table: AnomaliesTable, Values: []any{day}})
	}
	rec := anomalyRecord(res.Anomalies, opts.Now().UTC())
	defer rec.Release()
	if err := w.Commit(ctx, warehouse.Batch{Replace: replace, Rows: map[string]arrow.RecordBatch{AnomaliesTable: rec}}); err != nil {
		return res, fmt.Errorf("refresh anomalies from %s: %w", res.From.Format(time.DateOnly), err)
	}
	return res, nil
}

// anomalyRecord builds the rows of twilio_cost_anomalies.
func anomalyRecord(as []Anomaly, loadedAt time.Time) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, AnomalyTable.Schema)
	defer b.Release()
	str := func(i int, s string) {
		if s == "" && AnomalyTable.Schema.Field(i).Nullable {
			b.Field(i).AppendNull()
			return
		}
		b.Field(i).(*array.StringBuilder).Append(s)
	}
	dec := func(i int, n decimal128.Num, valid bool) {
		if !valid {
			b.Field(i).AppendNull()
			return
		}
		b.Field(i).(*array.Decimal128Builder).Append(n)
	}
	ts := func(i int, t time.Time) {
		b.Field(i).(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
	}
	for _, a := range as {
		b.Field(0).(*array.Date32Builder).Append(arrow.Date32FromTime(a.Day))
		str(1, a.AccountSID)
		str(2, a.ServiceGroup)
		str(3, a.Currency)
		str(4, a.BillingAccountSID)
		str(5, a.AccountName)
		dec(6, a.Cost, true)
		dec(7, a.Baseline, true)
		dec(8, a.MAD, true)
		dec(9, a.Excess, true)
		dec(10, a.Score, true)
		str(11, a.Severity.String())
		str(12, a.Category)
		dec(13, a.CategoryCost, a.Category != "")
		dec(14, a.CategoryBaseline, a.Category != "")
		b.Field(15).(*array.Int64Builder).Append(int64(a.HistoryDays))
		ts(16, a.DetectedAt)
		ts(17, loadedAt)
	}
	return b.NewRecordBatch()
}

// Filter selects stored anomalies.
type Filter struct {
	From, To      time.Time // days, inclusive; zero leaves that end open
	DetectedSince time.Time // zero: any
	MinSeverity   Severity  // None: any
	Account       string    // an account SID, or a main account's SID for it and its subaccounts; "" for all
}

// Read returns the stored anomalies f selects, oldest day first.
func Read(ctx context.Context, q Querier, f Filter) ([]Anomaly, error) {
	where := []string{"TRUE"}
	if !f.From.IsZero() {
		where = append(where, "usage_date >= "+dateLit(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "usage_date <= "+dateLit(f.To))
	}
	if !f.DetectedSince.IsZero() {
		where = append(where, "detected_at >= TIMESTAMP '"+f.DetectedSince.UTC().Format("2006-01-02 15:04:05.999999")+"+00'")
	}
	rows, err := query(ctx, q, "read anomalies", `
SELECT CAST(usage_date AS {{string}}), account_sid, COALESCE(billing_account_sid, ''), COALESCE(account_name, ''),
       service_group, currency, CAST(cost AS {{string}}), CAST(baseline AS {{string}}), CAST(mad AS {{string}}),
       CAST(excess AS {{string}}), CAST(score AS {{string}}), severity, COALESCE(category, ''),
       CAST(category_cost AS {{string}}), CAST(category_baseline AS {{string}}), history_days, CAST(detected_at AS {{string}})
FROM {{table "`+AnomaliesTable+`"}}
WHERE `+strings.Join(where, " AND ")+`
ORDER BY usage_date, account_sid, service_group, currency`)
	if err != nil {
		return nil, err
	}
	out := make([]Anomaly, 0, len(rows))
	for _, r := range rows {
		a, err := scanAnomaly(r)
		if err != nil {
			return nil, fmt.Errorf("read anomalies: %w", err)
		}
		if a.Severity >= f.MinSeverity {
			out = append(out, a)
		}
	}
	return out, nil
}

func scanAnomaly(r []string) (Anomaly, error) {
	a := Anomaly{AccountSID: r[1], BillingAccountSID: r[2], AccountName: r[3], ServiceGroup: r[4], Currency: r[5], Category: r[12]}
	var err error
	if a.Day, err = parseDay(r[0]); err != nil {
		return a, err
	}
	for i, p := range []*decimal128.Num{&a.Cost, &a.Baseline, &a.MAD, &a.Excess, &a.Score, &a.CategoryCost, &a.CategoryBaseline} {
		col := []int{6, 7, 8, 9, 10, 13, 14}[i]
		if *p, err = parseMoney(r[col]); err != nil {
			return a, err
		}
	}
	if a.Severity, err = ParseSeverity(r[11]); err != nil {
		return a, err
	}
	h, err := parseInt(r[15])
	if err != nil {
		return a, err
	}
	a.HistoryDays = int(h)
	if a.DetectedAt, err = parseTime(r[16]); err != nil {
		return a, err
	}
	return a, nil
}
