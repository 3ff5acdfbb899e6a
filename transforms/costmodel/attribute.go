package costmodel

import (
	"cmp"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/transforms"
)

// Usage is one row of twilio_usage_daily. Empty strings are NULL.
type Usage = transforms.UsageRow

// Day is one account's usage on one UTC day: the unit of attribution, and
// the loader's replace group of twilio_usage_daily.
type Day struct {
	AccountSID string
	Date       arrow.Date32
	Usage      []Usage
}

// Account is what attribution needs to know of an account: the name
// people know it by (its display name, else Twilio's friendly name) and
// its parent, the account billed for it ("" for a main account). Main is
// the main account of the connection that loaded it (twilio_accounts'
// main_account_sid; "" when unscoped): attribution does not read it.
type Account struct {
	Name, Parent, Main string
}

// Accounts looks accounts up by SID.
type Accounts map[string]Account

// Attribution kinds of a cost row.
const (
	Leaf         = "leaf"
	Residual     = "residual"
	Unattributed = "unattributed"
)

// Cost is one row of twilio_cost_daily: an amount of one account's day,
// attributed so that nothing is counted twice (see docs/cost-model.md).
// Empty strings are NULL.
type Cost struct {
	UsageDate          arrow.Date32
	BillingAccountSID  string
	BillingAccountName string
	AccountSID         string
	AccountName        string
	ServiceGroup       string
	Category           string
	// CategoryFamily is the top-level category of SourceCategory (sms,
	// calls, recordings, …): its ancestor just under totalprice, or
	// itself.
	CategoryFamily     string
	Description        string
	Usage              transforms.NullDecimal
	UsageUnit          string
	Cost               decimal128.Num
	Currency           string
	Attribution        string
	SourceCategory     string
	Count              transforms.NullDecimal
	CountUnit          string
	ServiceName        string
	ServiceCategory    string
	ServiceSubcategory string
	ChargeFrequency    string
}

// Recon is one row of twilio_reconciliation: how an account-day's
// totalprice splits into attributed and unattributed cost, and whether
// the hierarchy held.
type Recon struct {
	UsageDate         arrow.Date32
	AccountSID        string
	BillingAccountSID string
	AccountName       string
	Currency          string
	Totalprice        transforms.NullDecimal
	Attributed        decimal128.Num
	Unattributed      decimal128.Num
	LeafCost          decimal128.Num
	ResidualCost      decimal128.Num
	RollupExcess      decimal128.Num
	ExcessRollup      string
	Residuals         string
	Status            string
}

// Reconciliation statuses.
const (
	StatusOK             = "ok"
	StatusRollupExceeded = "rollup_exceeded"
	StatusOverTotal      = "over_total"
	StatusNoTotalprice   = "no_totalprice"
)

// tolerance is Tolerance at scale 9.
var tolerance = func() decimal128.Num {
	n, err := transforms.ParseDecimal(Tolerance)
	if err != nil {
		panic(err)
	}
	return n
}()

// Attributor attributes account-days. It caches what it looks up of the
// category taxonomy; it is not safe for concurrent use.
type Attributor struct {
	cats map[string]*category
	// Scratch space reused from day to day.
	rows    []*Usage
	present map[string]int
	sums    []childSums
}

type category struct {
	transforms.Category
	ancestors []string
	// family is the category's top-level category: its ancestor just
	// under totalprice, or itself when its parent is totalprice or it has
	// none.
	family string
}

// childSums is what the rows whose nearest present ancestor is a row add
// up to: price always; usage and count only where the child counts in
// the parent's unit.
type childSums struct {
	any          bool
	price        decimal128.Num
	usage, count transforms.NullDecimal
}

// NewAttributor returns an Attributor.
func NewAttributor() *Attributor {
	return &Attributor{cats: map[string]*category{}, present: map[string]int{}}
}

func (a *Attributor) category(name string) *category {
	c, ok := a.cats[name]
	if !ok {
		tc := transforms.ClassifyCategory(name)
		c = &category{Category: tc, ancestors: transforms.Ancestors(tc), family: name}
		if n := len(c.ancestors); n >= 2 {
			c.family = c.ancestors[n-2]
		}
		a.cats[name] = c
	}
	return c
}

var zero decimal128.Num

// Attribute appends the cost rows of d to costs and returns them, with
// the day's reconciliation row (nil when the day has no cost row).
//
// Let P be the day's rows whose category is not an overlay; a NULL price
// counts as 0. Each row's nearest present ancestor is the nearest of its
// ancestors that has a row in P, and
//
//	amount(r) = price(r) − Σ price(s) over the rows s whose nearest present ancestor is r,
//
// which telescopes: a day's amounts add up to its totalprice. totalprice's
// amount is the Unattributed row, a roll-up's (or any row that is some
// row's nearest present ancestor) is its residual, `<r> (other)`; other
// rows are leaves, costing their price. Rows that would be all zero are
// left out. Should a day hold one category twice (a warehouse loaded by
// an older version), the row with the largest price, then usage, then
// count is the one read.
func (a *Attributor) Attribute(d Day, accounts Accounts, costs []Cost) ([]Cost, *Recon) {
	rows := a.rows[:0]
	clear(a.present)
	var total *Usage
	for i := range d.Usage {
		u := &d.Usage[i]
		if u.Category == transforms.TotalCategory && (total == nil || greater(u, total)) {
			total = u
		}
		if a.category(u.Category).Overlay {
			continue
		}
		if j, dup := a.present[u.Category]; dup {
			if greater(u, rows[j]) {
				rows[j] = u
			}
			continue
		}
		a.present[u.Category] = len(rows)
		rows = append(rows, u)
	}
	a.rows = rows
	sums := slices.Grow(a.sums[:0], len(rows))[:len(rows)]
	clear(sums)
	a.sums = sums
	for _, r := range rows {
		for _, anc := range a.category(r.Category).ancestors {
			p, ok := a.present[anc]
			if !ok {
				continue
			}
			s, parent := &sums[p], rows[p]
			s.any = true
			s.price = s.price.Add(price(r))
			if r.UsageUnit.S != "" && r.UsageUnit.S == parent.UsageUnit.S && r.Usage.Valid {
				s.usage = add(s.usage, r.Usage)
			}
			if r.CountUnit.S != "" && r.CountUnit.S == parent.CountUnit.S && r.Count.Valid {
				s.count = add(s.count, r.Count)
			}
			break
		}
	}

	acct := accounts[d.AccountSID]
	first := len(costs)
	for i, r := range rows {
		c := a.category(r.Category)
		s := &sums[i]
		kind := Leaf
		switch {
		case r.Category == transforms.TotalCategory:
			kind = Unattributed
		case c.Rollup || s.any:
			kind = Residual
		}
		amount := price(r).Sub(s.price)
		if amount == zero && (kind != Leaf || (r.Usage.IsZero() && r.Count.IsZero())) {
			continue
		}
		currency := strings.ToUpper(r.Currency)
		billing := cmp.Or(r.BillingAccountSID, acct.Parent, d.AccountSID)
		out := Cost{
			UsageDate:          d.Date,
			BillingAccountSID:  billing,
			BillingAccountName: cmp.Or(accounts[billing].Name, billing),
			AccountSID:         d.AccountSID,
			AccountName:        cmp.Or(acct.Name, d.AccountSID),
			ServiceGroup:       c.ServiceGroup,
			Cost:               amount,
			Currency:           currency,
			Attribution:        kind,
			SourceCategory:     r.Category,
			CategoryFamily:     c.family,
			ServiceName:        c.ServiceName,
			ServiceCategory:    c.ServiceCategory,
			ServiceSubcategory: c.ServiceSubcategory,
			ChargeFrequency:    c.ChargeFrequency,
		}
		description := cmp.Or(r.Description.S, c.Description, r.Category)
		switch kind {
		case Unattributed:
			out.Category = "Unattributed"
			out.Description = "Cost in totalprice that no usage category holds"
			out.Usage = transforms.NullDecimal{Num: amount, Valid: true}
			out.UsageUnit = currency
		case Residual:
			out.Category = r.Category + " (other)"
			out.Description = description + ": beyond the categories it lists"
			out.Usage = sub(r.Usage, s.usage)
			out.UsageUnit = r.UsageUnit.S
			out.Count = sub(r.Count, s.count)
			out.CountUnit = r.CountUnit.S
		default:
			out.Category = r.Category
			out.Description = description
			out.Usage = r.Usage
			out.UsageUnit = r.UsageUnit.S
			out.Count = r.Count
			out.CountUnit = r.CountUnit.S
		}
		costs = append(costs, out)
	}
	if len(costs) == first {
		return costs, nil
	}
	day := costs[first:]
	slices.SortFunc(day, func(x, y Cost) int { return strings.Compare(x.Category, y.Category) })
	return costs, reconcile(d, day, total)
}

// reconcile sums one day's cost rows (sorted by category) into its
// reconciliation row.
func reconcile(d Day, day []Cost, total *Usage) *Recon {
	r := &Recon{UsageDate: d.Date, AccountSID: d.AccountSID, Status: StatusOK}
	if total != nil {
		r.Totalprice = total.Price
	}
	var worst *Cost
	var residuals []string
	for i := range day {
		c := &day[i]
		r.BillingAccountSID = max(r.BillingAccountSID, c.BillingAccountSID)
		r.AccountName = max(r.AccountName, c.AccountName)
		r.Currency = max(r.Currency, c.Currency)
		switch c.Attribution {
		case Unattributed:
			r.Unattributed = r.Unattributed.Add(c.Cost)
			continue
		case Leaf:
			r.LeafCost = r.LeafCost.Add(c.Cost)
		case Residual:
			if c.Cost.Sign() > 0 {
				r.ResidualCost = r.ResidualCost.Add(c.Cost)
			}
			if c.Cost.Sign() < 0 && (worst == nil || c.Cost.Less(worst.Cost)) {
				worst = c
			}
			residuals = append(residuals, c.SourceCategory+" "+transforms.FormatDecimal(c.Cost))
		}
		r.Attributed = r.Attributed.Add(c.Cost)
	}
	slices.Sort(residuals)
	r.Residuals = strings.Join(residuals, "; ")
	if worst != nil {
		r.RollupExcess = worst.Cost.Negate()
		r.ExcessRollup = worst.SourceCategory
	}
	minusTolerance := tolerance.Negate()
	switch {
	case !r.Totalprice.Valid:
		r.Status = StatusNoTotalprice
	case worst != nil && worst.Cost.Less(minusTolerance):
		r.Status = StatusRollupExceeded
	case r.Unattributed.Less(minusTolerance):
		r.Status = StatusOverTotal
	}
	return r
}

func price(u *Usage) decimal128.Num {
	if u.Price.Valid {
		return u.Price.Num
	}
	return zero
}

func add(a, b transforms.NullDecimal) transforms.NullDecimal {
	switch {
	case !a.Valid:
		return b
	case !b.Valid:
		return a
	}
	return transforms.NullDecimal{Num: a.Num.Add(b.Num), Valid: true}
}

// sub is a − b, with a NULL b as 0 and a NULL a staying NULL.
func sub(a, b transforms.NullDecimal) transforms.NullDecimal {
	if !a.Valid || !b.Valid {
		return a
	}
	return transforms.NullDecimal{Num: a.Num.Sub(b.Num), Valid: true}
}

// greater orders duplicate rows of one category: by price, usage, count.
func greater(x, y *Usage) bool {
	for _, p := range [][2]transforms.NullDecimal{{x.Price, y.Price}, {x.Usage, y.Usage}, {x.Count, y.Count}} {
		if c := cmpNull(p[0], p[1]); c != 0 {
			return c > 0
		}
	}
	return false
}

func cmpNull(a, b transforms.NullDecimal) int {
	switch {
	case a.Valid != b.Valid:
		if a.Valid {
			return 1
		}
		return -1
	case !a.Valid:
		return 0
	}
	return a.Num.Cmp(b.Num)
}
