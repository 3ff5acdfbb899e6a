package report

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/transforms"
)

// The charts' data, as the page's script reads it. Values are floats to
// draw with; every number a person reads (tooltips, labels) is the
// exact text beside it.

type charts struct {
	Currency   string          `json:"currency"`
	Daily      stacked         `json:"daily"`
	Accounts   bars            `json:"accounts"`
	Categories bars            `json:"categories"`
	MTD        mtdChart        `json:"mtd"`
	SIMs       []simCharts     `json:"sims"`
	Anomalies  []lineChart     `json:"anomalies"`
	Marks      []dailyMark     `json:"marks"`
	Groups     []string        `json:"groups"`
	Empty      map[string]bool `json:"empty"`
}

type series struct {
	Name   string    `json:"name"`
	Values []float64 `json:"values"`
	Labels []string  `json:"labels"`
}

type stacked struct {
	X      []string `json:"x"`
	Series []series `json:"series"`
	Totals []string `json:"totals"` // exact day totals
}

type bars struct {
	Names  []string  `json:"names"`
	Values []float64 `json:"values"`
	Labels []string  `json:"labels"`
}

type mtdChart struct {
	X          []int    `json:"x"` // day of month
	This, Prev series   `json:"-"`
	Series     []series `json:"series"`
}

type simCharts struct {
	Product string  `json:"product"`
	Daily   stacked `json:"daily"`
	Top     bars    `json:"top"`
	Roaming bars    `json:"roaming"`
}

type lineChart struct {
	Title  string    `json:"title"`
	X      []string  `json:"x"`
	Cost   series    `json:"cost"`
	Base   series    `json:"base"`
	Points []markDay `json:"points"`
}

type markDay struct {
	X     string  `json:"x"`
	Y     float64 `json:"y"`
	Label string  `json:"label"`
}

// dailyMark marks a day of the daily chart that has anomalies.
type dailyMark struct {
	X     string  `json:"x"`
	Y     float64 `json:"y"`
	Label string  `json:"label"`
}

func f64(n decimal128.Num) float64 { return n.ToFloat64(transforms.DecimalScale) }

func chartsOf(r *Report, accounts, categories []Spend) charts {
	c := charts{Currency: r.Currency, Empty: map[string]bool{}}
	// Daily spend by service group, the groups in the order of their
	// totals.
	for _, d := range r.Daily {
		c.Daily.X = append(c.Daily.X, d.Day.Format(time.DateOnly))
		c.Daily.Totals = append(c.Daily.Totals, FormatMoney(d.Total))
	}
	for _, g := range r.Groups {
		c.Groups = append(c.Groups, g.Name)
		s := series{Name: g.Name}
		for _, d := range r.Daily {
			v := d.ByGroup[g.Name]
			s.Values = append(s.Values, f64(v))
			s.Labels = append(s.Labels, FormatMoney(v))
		}
		c.Daily.Series = append(c.Daily.Series, s)
	}
	byDay := map[string][]Anomaly{}
	for _, a := range r.Anomalies {
		byDay[a.Day.Format(time.DateOnly)] = append(byDay[a.Day.Format(time.DateOnly)], a)
	}
	for i, d := range r.Daily {
		as := byDay[d.Day.Format(time.DateOnly)]
		if len(as) == 0 {
			continue
		}
		label := ""
		for _, a := range as {
			label += fmt.Sprintf("%s · %s · %s: %s %s (baseline %s)\n", a.Severity, a.AccountName, a.ServiceGroup, FormatMoney(a.Cost), a.Currency, FormatMoney(a.Baseline))
		}
		c.Marks = append(c.Marks, dailyMark{X: c.Daily.X[i], Y: f64(d.Total), Label: label})
	}
	c.Accounts = barsOf(accounts)
	c.Categories = barsOf(categories)
	c.Empty["daily"] = len(c.Daily.Series) == 0
	c.Empty["accounts"] = len(accounts) == 0
	c.Empty["categories"] = len(categories) == 0

	// Month to date, cumulative, by day of the month.
	this, prev := series{Name: r.MTD.From.Format("January 2006")}, series{Name: r.MTD.PrevFrom.Format("January 2006")}
	n := max(len(r.MTD.ThisDaily), len(r.MTD.PrevDaily))
	for i := range n {
		c.MTD.X = append(c.MTD.X, i+1)
		if i < len(r.MTD.ThisDaily) {
			this.Values = append(this.Values, f64(r.MTD.ThisDaily[i]))
			this.Labels = append(this.Labels, FormatMoney(r.MTD.ThisDaily[i]))
		}
		if i < len(r.MTD.PrevDaily) {
			prev.Values = append(prev.Values, f64(r.MTD.PrevDaily[i]))
			prev.Labels = append(prev.Labels, FormatMoney(r.MTD.PrevDaily[i]))
		}
	}
	c.MTD.Series = []series{prev, this}

	for _, u := range r.SIMs {
		sc := simCharts{Product: u.Product}
		home, national, intl := series{Name: "Home"}, series{Name: "National roaming"}, series{Name: "International roaming"}
		for _, d := range u.Daily {
			sc.Daily.X = append(sc.Daily.X, d.Day.Format(time.DateOnly))
			sc.Daily.Totals = append(sc.Daily.Totals, FormatBytes(d.Total))
			for _, p := range []struct {
				s *series
				v int64
			}{{&home, d.Home}, {&national, d.National}, {&intl, d.International}} {
				p.s.Values = append(p.s.Values, float64(p.v)/1e6)
				p.s.Labels = append(p.s.Labels, FormatBytes(p.v))
			}
		}
		sc.Daily.Series = []series{home, national, intl}
		if !u.Split {
			data := series{Name: "Data"}
			for _, d := range u.Daily {
				data.Values = append(data.Values, float64(d.Total)/1e6)
				data.Labels = append(data.Labels, FormatBytes(d.Total))
			}
			sc.Daily.Series = []series{data}
		}
		for _, t := range u.Top {
			sc.Top.Names = append(sc.Top.Names, t.Name)
			sc.Top.Values = append(sc.Top.Values, float64(t.Bytes)/1e6)
			sc.Top.Labels = append(sc.Top.Labels, FormatBytes(t.Bytes))
		}
		for _, k := range u.Roaming {
			sc.Roaming.Names = append(sc.Roaming.Names, k.Country)
			sc.Roaming.Values = append(sc.Roaming.Values, float64(k.Bytes)/1e6)
			sc.Roaming.Labels = append(sc.Roaming.Labels, FormatBytes(k.Bytes))
		}
		c.SIMs = append(c.SIMs, sc)
	}

	for _, s := range r.AnomalySeries {
		lc := lineChart{Title: fmt.Sprintf("%s · %s (%s)", s.AccountName, s.ServiceGroup, s.Currency),
			Cost: series{Name: "Usage-based cost"}, Base: series{Name: "Baseline (28-day median)"}}
		for i, d := range s.Days {
			lc.X = append(lc.X, d.Format(time.DateOnly))
			lc.Cost.Values = append(lc.Cost.Values, f64(s.Cost[i]))
			lc.Cost.Labels = append(lc.Cost.Labels, FormatMoney(s.Cost[i]))
			if s.HasBaseline[i] {
				lc.Base.Values = append(lc.Base.Values, f64(s.Baseline[i]))
				lc.Base.Labels = append(lc.Base.Labels, FormatMoney(s.Baseline[i]))
			} else {
				lc.Base.Values = append(lc.Base.Values, 0)
				lc.Base.Labels = append(lc.Base.Labels, "")
			}
		}
		for _, a := range s.Anomalies {
			lc.Points = append(lc.Points, markDay{X: a.Day.Format(time.DateOnly), Y: f64(a.Cost),
				Label: fmt.Sprintf("%s: %s %s against a baseline of %s (score %s)", a.Severity, FormatMoney(a.Cost), a.Currency, FormatMoney(a.Baseline), transforms.FormatDecimal(a.Score))})
		}
		c.Anomalies = append(c.Anomalies, lc)
	}
	return c
}

func barsOf(s []Spend) bars {
	var b bars
	for _, x := range s {
		b.Names = append(b.Names, x.Name)
		b.Values = append(b.Values, f64(x.Amount))
		b.Labels = append(b.Labels, FormatMoney(x.Amount))
	}
	return b
}
