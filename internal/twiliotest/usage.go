package twiliotest

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Amounts are exact integers: usage in 1e-4 units, prices in 1e-5 USD.
const (
	usageScale = 10000
	priceScale = 100000
	dateLayout = "2006-01-02"
	day        = 24 * time.Hour
)

// amount is one category's usage on one day (or summed over several).
type amount struct {
	count int64 // events
	usage int64 // usage units × usageScale
	price int64 // USD × priceScale
}

func (a amount) add(b amount) amount {
	return amount{count: a.count + b.count, usage: a.usage + b.usage, price: a.price + b.price}
}

// formatPrice formats a price as Twilio does: "0", or five decimals
// ("498.84515", "-0.00750").
func formatPrice(p int64) string {
	if p == 0 {
		return "0"
	}
	return formatFixed(p, 5)
}

// formatUsage formats usage without trailing zeros ("30", "12.3456").
func formatUsage(u int64) string {
	return trimZeros(formatFixed(u, 4))
}

// formatBilled formats a price as a minimal decimal ("0", "0.0345").
func formatBilled(p int64) string {
	return trimZeros(formatFixed(p, 5))
}

func formatFixed(v int64, decimals int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	p := int64(math.Pow10(decimals))
	frac := strconv.FormatInt(v%p, 10)
	s := strconv.FormatInt(v/p, 10) + "." + strings.Repeat("0", decimals-len(frac)) + frac
	if neg {
		s = "-" + s
	}
	return s
}

func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// usagePlan is what one account uses, drawn once for the account.
type usagePlan struct {
	active       []bool
	rate         []int64   // price per usage unit, by category
	billingDay   int       // day of the month of the qMonthly charges
	registration time.Time // the day of the qOnce fees
	index        int       // the account's index in Server.accounts
}

// generateUsage fills a.days with one amount per category for every day of
// the account's history. Each day draws from its own random stream, keyed by
// seed, account and date, so a day's numbers do not depend on the window.
func (s *Server) generateUsage(a *account, seed int64, index int) {
	p := &usagePlan{
		active:     make([]bool, len(categoryTable)),
		rate:       make([]int64, len(categoryTable)),
		billingDay: 1 + index*7%28,
		index:      index,
	}
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(1000+index)))
	for i, c := range categoryTable {
		if c.superSIM {
			continue // from the Super SIM data, below
		}
		p.active[i] = rng.Float64() < a.activity && a.scale >= c.minScale
		p.rate[i] = c.rate
	}
	for i, c := range categoryTable {
		if c.needs != "" {
			p.active[i] = p.active[categoryIndex[c.needs]]
		}
		if len(c.rates) > 0 {
			p.rate[i] = c.rates[rng.IntN(len(c.rates))]
		}
	}
	// The one-time fees fall on one day of the last four weeks of the
	// account's history (on its first day if that is later).
	p.registration = later(a.first, a.last.AddDate(0, 0, -rng.IntN(28)))

	a.days = make([][]amount, s.numDays)
	for d := range s.numDays {
		date := s.dataStart.AddDate(0, 0, d)
		if date.Before(a.first) || date.After(a.last) {
			continue
		}
		epochDay := uint64(date.Unix() / 86400)
		r := rand.New(rand.NewPCG(uint64(seed)^0x9e3779b97f4a7c15*uint64(index+1), epochDay))
		a.days[d] = s.generateDay(a, r, p, date)
	}
}

func (s *Server) generateDay(a *account, r *rand.Rand, p *usagePlan, date time.Time) []amount {
	amts := make([]amount, len(categoryTable))
	weekday := 1.0
	if wd := date.Weekday(); wd == time.Saturday || wd == time.Sunday {
		weekday = 0.6
	}
	billingDay := date.Day() == p.billingDay
	// Leaves.
	for i, c := range categoryTable {
		if !p.active[i] || c.q < qMinutes {
			continue
		}
		rate := p.rate[i]
		switch c.q {
		case qOnce:
			if date.Equal(p.registration) {
				amts[i] = amount{count: 1, usage: usageScale, price: rate}
			}
			continue
		case qMonthly:
			if billingDay {
				n := int64(math.Max(1, math.Round(c.base*a.scale)))
				amts[i] = amount{count: n, usage: n * usageScale, price: n * rate}
			}
			continue
		}
		if c.refunds && r.Float64() < 0.02 {
			amts[i] = amount{price: -750 * (1 + r.Int64N(3))}
			continue
		}
		idle := c.idle
		if idle == 0 {
			idle = 0.1
		}
		if r.Float64() < idle {
			continue // an idle day
		}
		n := int64(math.Round(c.base * a.scale * weekday * (0.5 + r.Float64())))
		if n == 0 {
			continue
		}
		var units int64 // usage × usageScale
		switch c.q {
		case qMinutes:
			units = int64(math.Round(float64(n)*(1+4*r.Float64()))) * usageScale
		case qEvents:
			units = n * usageScale
		case qMegabytes:
			units = int64(float64(n) * (0.5 + 20*r.Float64()) * usageScale)
		}
		amts[i] = amount{count: n, usage: units, price: (units*rate + usageScale/2) / usageScale}
	}
	if p.index == 0 {
		// The main account's Super SIMs, as their regions' categories.
		for name, amt := range s.superSIMUsage[date] {
			amts[categoryIndex[name]] = amt
		}
	}
	// Roll-ups, children first.
	for i := len(categoryTable) - 1; i >= 0; i-- {
		c := categoryTable[i]
		if c.q != qRollup && c.q != qTotal {
			continue
		}
		var sum amount
		for _, j := range summands[i] {
			sum = sum.add(amts[j])
		}
		if sum.price > 0 && !c.superSIM && r.Float64() < 0.2 {
			// Usage Twilio bills under the roll-up but lists in no child.
			rem := max(1, int64(float64(sum.price)*(0.001+0.04*r.Float64())))
			sum.price += rem
			if c.q == qRollup {
				n := 1 + r.Int64N(3)
				sum.count += n
				sum.usage += n * usageScale
			}
		}
		if c.q == qTotal {
			// totalprice has no count, and its usage is its price.
			sum.count, sum.usage = 0, 0
		}
		amts[i] = sum
	}
	for _, sp := range spikesOn(s.spikes, p.index, s.today, date) {
		in := applySpike(amts, a, p, sp)
		in.Date = date.Format(dateLayout)
		s.injected = append(s.injected, in)
	}
	// Overlays repeat usage counted elsewhere.
	get := func(name string) amount { return amts[categoryIndex[name]] }
	for i, c := range categoryTable {
		if c.q == qOverlay {
			amts[i] = c.derive(get, r.Float64())
		}
	}
	return amts
}

// categoryIndex maps a category name to its index in categoryTable.
var categoryIndex = func() map[string]int {
	m := make(map[string]int, len(categoryTable))
	for i, c := range categoryTable {
		m[c.Name] = i
	}
	return m
}()

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
