package twiliotest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A Spike is a burst of usage on one account and day, the kind that
// runs a bill away overnight: SMS pumping (toll fraud on verification
// SMS), a loop that places calls, or an IoT fleet gone wild.
//
// The burst adds (Factor − 1) × the account's usual daily volume of the
// kind's category (at least one event) to that category, and the same
// count, usage and price to every roll-up above it up to totalprice, so
// the day still reconciles; overlays derived from them follow. A day on
// which the account has no usage (before it was created, after it was
// closed) gets no spike.
type Spike struct {
	Kind    SpikeKind
	Account int     // index in Accounts(): 0 is the main account, i the i-th subaccount
	DaysAgo int     // 0 is today, 1 yesterday, …
	Factor  float64 // > 1
}

// A SpikeKind names what bursts.
type SpikeKind string

// Spike kinds and the category each one inflates.
const (
	SpikeSMS   SpikeKind = "sms"   // sms-outbound-longcode: SMS pumping
	SpikeCalls SpikeKind = "calls" // calls-outbound: a loop placing 3-minute calls
	SpikeData  SpikeKind = "data"  // wireless-usage-data-northamerica: 10 MB sessions
)

var spikeCategories = map[SpikeKind]string{
	SpikeSMS:   "sms-outbound-longcode",
	SpikeCalls: "calls-outbound",
	SpikeData:  "wireless-usage-data-northamerica",
}

// ParseSpike reads KIND:ACCOUNT_INDEX:DAYS_AGO:FACTOR, such as
// "sms:3:2:20": twenty times subaccount 3's usual outbound SMS, two days
// ago.
func ParseSpike(s string) (Spike, error) {
	f := strings.Split(s, ":")
	if len(f) != 4 {
		return Spike{}, fmt.Errorf("spike %q: want KIND:ACCOUNT_INDEX:DAYS_AGO:FACTOR, such as sms:3:2:20", s)
	}
	sp := Spike{Kind: SpikeKind(f[0])}
	if _, ok := spikeCategories[sp.Kind]; !ok {
		return Spike{}, fmt.Errorf("spike %q: kind %q: want sms, calls or data", s, f[0])
	}
	var err error
	if sp.Account, err = strconv.Atoi(f[1]); err != nil || sp.Account < 0 {
		return Spike{}, fmt.Errorf("spike %q: account index %q: want 0 (the main account) or a subaccount's number", s, f[1])
	}
	if sp.DaysAgo, err = strconv.Atoi(f[2]); err != nil || sp.DaysAgo < 0 {
		return Spike{}, fmt.Errorf("spike %q: days ago %q: want a whole number ≥ 0", s, f[2])
	}
	if sp.Factor, err = strconv.ParseFloat(f[3], 64); err != nil || !(sp.Factor > 1) || math.IsInf(sp.Factor, 0) {
		return Spike{}, fmt.Errorf("spike %q: factor %q: want a number > 1", s, f[3])
	}
	return sp, nil
}

func (sp Spike) String() string {
	return fmt.Sprintf("%s:%d:%d:%s", sp.Kind, sp.Account, sp.DaysAgo, strconv.FormatFloat(sp.Factor, 'g', -1, 64))
}

// InjectedSpike is the ground truth of a Spike that landed.
type InjectedSpike struct {
	Spike
	AccountSID string
	Date       string // YYYY-MM-DD
	Category   string
	Count      int64
	Price      string // the price added, exact, in USD
}

// InjectedSpikes returns the spikes that landed, in the order given.
func (s *Server) InjectedSpikes() []InjectedSpike {
	return append([]InjectedSpike(nil), s.injected...)
}

// sumParent maps a category to the roll-up its price is summed into
// (-1 for totalprice and overlays): the inverse of summands.
var sumParent = func() []int {
	out := make([]int, len(categoryTable))
	for i := range out {
		out[i] = -1
	}
	for p, js := range summands {
		for _, j := range js {
			out[j] = p
		}
	}
	return out
}()

// applySpike adds sp's burst to the amounts of one day of account a,
// whose roll-ups are summed and overlays not yet derived, and returns
// what it added. It draws nothing random: the rest of the day stays as
// it would be without it.
func applySpike(amts []amount, a *account, p *usagePlan, sp Spike) InjectedSpike {
	i := categoryIndex[spikeCategories[sp.Kind]]
	c := categoryTable[i]
	n := max(1, int64(math.Round((sp.Factor-1)*c.base*a.scale)))
	var units int64
	switch c.q {
	case qMinutes:
		units = 3 * n * usageScale
	case qMegabytes:
		units = 10 * n * usageScale
	default:
		units = n * usageScale
	}
	extra := amount{count: n, usage: units, price: (units*p.rate[i] + usageScale/2) / usageScale}
	for j := i; j >= 0; j = sumParent[j] {
		if categoryTable[j].q == qTotal {
			amts[j].price += extra.price
			continue
		}
		amts[j] = amts[j].add(extra)
	}
	return InjectedSpike{Spike: sp, AccountSID: a.SID, Category: c.Name, Count: n, Price: formatBilled(extra.price)}
}

// spikesOn returns the spikes of account index on date.
func spikesOn(spikes []Spike, index int, today, date time.Time) []Spike {
	var out []Spike
	for _, sp := range spikes {
		if sp.Account == index && today.AddDate(0, 0, -sp.DaysAgo).Equal(date) {
			out = append(out, sp)
		}
	}
	return out
}
