package report

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// maxAnomalyCharts bounds the anomaly charts of a report; every anomaly
// is listed all the same.
const maxAnomalyCharts = 6

// AnomalySeries is the daily usage-based cost of one account's service
// group over the period, with its baseline (the median of the Window
// days before each day) and its anomalies: what an anomaly chart draws.
type AnomalySeries struct {
	AccountSID, AccountName, ServiceGroup, Currency string
	Days                                            []time.Time
	Cost                                            []decimal128.Num
	Baseline                                        []decimal128.Num
	HasBaseline                                     []bool // false where history is too short for one
	Anomalies                                       []Anomaly
}

func (b *builder) anomalies(ctx context.Context) error {
	r := b.r
	as, err := Read(ctx, b.q, Filter{From: r.From, To: r.To})
	if err != nil {
		// A warehouse loaded before twilio_cost_anomalies existed: score
		// the period now, and say so.
		b.log.Warn("could not read twilio_cost_anomalies; computing anomalies for the report", "error", err.Error())
		res, cerr := Compute(ctx, b.q, r.From, AnomalyOptions{Now: func() time.Time { return r.GeneratedAt }})
		if cerr != nil {
			return fmt.Errorf("read twilio_cost_anomalies: %w; compute them: %w", err, cerr)
		}
		as = nil
		for _, a := range res.Anomalies {
			if !a.Day.After(r.To) {
				as = append(as, a)
			}
		}
		r.AnomalyNote = "twilio_cost_anomalies could not be read, so the anomalies were computed for this report; the next sync or load stores them."
	}
	for _, a := range as {
		if r.AccountSIDs == nil || slices.Contains(r.AccountSIDs, a.AccountSID) {
			r.Anomalies = append(r.Anomalies, a)
		}
	}
	return b.anomalySeries(ctx)
}

// anomalySeries reads the daily cost of the series with the largest
// anomalies and computes their baselines as detection does.
func (b *builder) anomalySeries(ctx context.Context) error {
	r := b.r
	type key struct{ account, group, currency string }
	worst := map[key]decimal128.Num{}
	for _, a := range r.Anomalies {
		k := key{a.AccountSID, a.ServiceGroup, a.Currency}
		if v, ok := worst[k]; !ok || a.Excess.Greater(v) {
			worst[k] = a.Excess
		}
	}
	keys := make([]key, 0, len(worst))
	for k := range worst {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y key) int {
		if c := worst[y].Cmp(worst[x]); c != 0 {
			return c
		}
		return strings.Compare(x.account+x.group, y.account+y.group)
	})
	if len(keys) > maxAnomalyCharts {
		keys = keys[:maxAnomalyCharts]
	}
	if len(keys) == 0 {
		return nil
	}
	p := DefaultParams
	start := r.From.AddDate(0, 0, -p.Window)
	if start.Before(r.FirstDay) {
		start = r.FirstDay
	}
	var accounts []string
	for _, k := range keys {
		if !slices.Contains(accounts, sidLit(k.account)) {
			accounts = append(accounts, sidLit(k.account))
		}
	}
	rows, err := query(ctx, b.q, "daily cost of the anomalous services", `
SELECT CAST(usage_date AS {{string}}), account_sid, COALESCE(service_group, 'Other'), COALESCE(currency, ''), CAST(SUM(cost) AS {{string}})
FROM {{table "twilio_cost_daily"}}
WHERE usage_date BETWEEN `+dateLit(start)+` AND `+dateLit(r.To)+` AND account_sid IN (`+strings.Join(accounts, ", ")+`)
  AND `+usageBased+`
GROUP BY 1, 2, 3, 4`)
	if err != nil {
		return err
	}
	days := int(r.To.Sub(start).Hours()/24) + 1
	values := map[key][]decimal128.Num{}
	for _, k := range keys {
		values[k] = make([]decimal128.Num, days)
	}
	for _, row := range rows {
		v, ok := values[key{row[1], row[2], row[3]}]
		if !ok {
			continue
		}
		day, err := parseDay(row[0])
		if err != nil {
			return err
		}
		cost, err := parseMoney(row[4])
		if err != nil {
			return err
		}
		i := int(day.Sub(start).Hours() / 24)
		v[i] = v[i].Add(cost)
	}
	names := map[string]string{}
	for _, a := range r.Anomalies {
		names[a.AccountSID] = a.AccountName
	}
	scratch := make([]decimal128.Num, 0, p.Window)
	for _, k := range keys {
		v := values[k]
		s := AnomalySeries{AccountSID: k.account, AccountName: names[k.account], ServiceGroup: k.group, Currency: k.currency}
		for i := int(r.From.Sub(start).Hours() / 24); i < days; i++ {
			s.Days = append(s.Days, start.AddDate(0, 0, i))
			s.Cost = append(s.Cost, v[i])
			lo := max(0, i-p.Window)
			has := i-lo >= p.MinHistory
			var base decimal128.Num
			if has {
				m, _ := medianMAD(v[lo:i], scratch)
				base = decimalOf(m, 9)
			}
			s.Baseline = append(s.Baseline, base)
			s.HasBaseline = append(s.HasBaseline, has)
		}
		for _, a := range r.Anomalies {
			if a.AccountSID == k.account && a.ServiceGroup == k.group && a.Currency == k.currency {
				s.Anomalies = append(s.Anomalies, a)
			}
		}
		r.AnomalySeries = append(r.AnomalySeries, s)
	}
	return nil
}
