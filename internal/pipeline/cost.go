package pipeline

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// costState is the Loader's part of the cost model: the account-days the
// pending batch touches, and the accounts' names as the cost rows carry
// them.
type costState struct {
	attr *costmodel.Attributor
	// names holds each account's name and parent as the cost rows in
	// the warehouse carry them.
	names costmodel.Accounts
	// listed holds the accounts of the run's accounts records.
	listed map[string]bool
	// touched holds the account-days of the pending batch's usage.
	touched map[costmodel.DayKey]bool
	// renames are the updates of cost rows whose account's name changed.
	renames []warehouse.Update
	costs   *transforms.RowBuilder[costmodel.Cost]
	recons  *transforms.RowBuilder[costmodel.Recon]
	buf     []costmodel.Cost
}

func newCostState(names costmodel.Accounts) *costState {
	return &costState{
		attr:    costmodel.NewAttributor(),
		names:   maps.Clone(names),
		listed:  map[string]bool{},
		touched: map[costmodel.DayKey]bool{},
		costs:   transforms.NewRowBuilder(nil, costmodel.CostColumns),
		recons:  transforms.NewRowBuilder(nil, costmodel.ReconciliationColumns),
	}
}

func (c *costState) release() {
	c.costs.Release()
	c.recons.Release()
}

// touch records that the pending batch holds usage of k.
func (c *costState) touch(k costmodel.DayKey) { c.touched[k] = true }

func (c *costState) pending() bool { return len(c.touched) > 0 || len(c.renames) > 0 }

// accounts takes the run's accounts records, loaded by main account
// main: an account whose name changed has its cost rows renamed.
func (c *costState) accounts(recs []transforms.AccountName, main string) {
	if c.names == nil {
		c.names = costmodel.Accounts{}
	}
	for _, a := range recs {
		c.listed[a.SID] = true
		known := c.names[a.SID]
		if a.Name == "" && known.Name != "" && a.Parent == known.Parent {
			// A record that names nothing (the configured account of a
			// Standard API key, which Twilio does not describe) keeps the
			// name another connection's record gave the account.
			a.Name = known.Name
		}
		c.rename(a.SID, costmodel.Account{Name: a.Name, Parent: a.Parent, Main: main})
	}
}

// accountsEnded is called when the accounts stream of main account main
// ended: its rows of twilio_accounts (and the unscoped ones) were
// replaced, and cost rows of those accounts it no longer lists go back to
// the account's SID for a name. Accounts of other main accounts keep
// theirs; with no main account, the table was replaced whole.
func (c *costState) accountsEnded(main string) {
	for _, sid := range slices.Sorted(maps.Keys(c.names)) {
		if c.listed[sid] {
			continue
		}
		if m := c.names[sid].Main; main == "" || m == main || m == "" {
			c.rename(sid, costmodel.Account{})
			delete(c.names, sid)
		}
	}
}

func (c *costState) rename(sid string, a costmodel.Account) {
	old := cmp.Or(c.names[sid].Name, sid)
	if a != (costmodel.Account{}) {
		c.names[sid] = a
	}
	name := cmp.Or(a.Name, sid)
	if name == old {
		return
	}
	c.renames = append(c.renames,
		warehouse.Update{Table: costmodel.CostDaily, Set: "account_name", Value: name, Where: "account_sid", Match: sid},
		warehouse.Update{Table: costmodel.CostDaily, Set: "billing_account_name", Value: name, Where: "billing_account_sid", Match: sid},
		warehouse.Update{Table: costmodel.Reconciliation, Set: "account_name", Value: name, Where: "account_sid", Match: sid},
	)
}

// discard forgets the account-days of the pending batch: their usage
// was dropped (its stream failed).
func (c *costState) discard() { clear(c.touched) }

// committed forgets what the committed batch carried.
func (c *costState) committed() {
	clear(c.touched)
	c.renames = c.renames[:0]
}

// attribute adds to b the cost rows of every account-day b touches,
// replacing the days' cost rows, and the renames. The batch holds every
// row of each such day (see Loader.carry).
func (c *costState) attribute(b *warehouse.Batch, now time.Time) error {
	b.Updates = append(b.Updates, c.renames...)
	if len(c.touched) == 0 {
		return nil
	}
	days, err := usageByDay(b.Rows[transforms.UsageDaily])
	if err != nil {
		return err
	}
	keys := slices.SortedFunc(maps.Keys(c.touched), func(a, b costmodel.DayKey) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), strings.Compare(a.AccountSID, b.AccountSID))
	})
	for _, k := range keys {
		var r *costmodel.Recon
		c.buf, r = c.attr.Attribute(costmodel.Day{AccountSID: k.AccountSID, Date: k.Date, Usage: days[k]}, c.names, c.buf[:0])
		for i := range c.buf {
			c.costs.Append(&c.buf[i])
		}
		if r != nil {
			c.recons.Append(r)
		}
		b.Replace = append(b.Replace, costmodel.CostGroups(k.AccountSID, k.Date)...)
	}
	if b.Rows == nil {
		b.Rows = map[string]arrow.RecordBatch{}
	}
	if rec := c.costs.Flush(now); rec != nil {
		b.Rows[costmodel.CostDaily] = rec
	}
	if rec := c.recons.Flush(now); rec != nil {
		b.Rows[costmodel.Reconciliation] = rec
	}
	return nil
}

// usageByDay reads a batch of twilio_usage_daily rows into account-days.
// The rows' strings share the batch's memory: they live until it is
// released.
func usageByDay(rec arrow.RecordBatch) (map[costmodel.DayKey][]costmodel.Usage, error) {
	out := map[costmodel.DayKey][]costmodel.Usage{}
	if rec == nil || rec.NumRows() == 0 {
		return out, nil
	}
	col := func(name string) (arrow.Array, error) {
		i := rec.Schema().FieldIndices(name)
		if len(i) != 1 {
			return nil, fmt.Errorf("usage batch has no column %s", name)
		}
		return rec.Column(i[0]), nil
	}
	var cols [11]arrow.Array
	for i, name := range []string{"usage_date", "account_sid", "category", "description", "count", "count_unit",
		"usage", "usage_unit", "price", "currency", "billing_account_sid"} {
		a, err := col(name)
		if err != nil {
			return nil, err
		}
		cols[i] = a
	}
	date, ok := cols[0].(*array.Date32)
	if !ok {
		return nil, fmt.Errorf("usage batch: usage_date is %s", cols[0].DataType())
	}
	strs := make([]*array.String, 11)
	decs := make([]*array.Decimal128, 11)
	for _, i := range []int{1, 2, 3, 5, 7, 9, 10} {
		if strs[i], ok = cols[i].(*array.String); !ok {
			return nil, fmt.Errorf("usage batch: column %d is %s, want string", i, cols[i].DataType())
		}
	}
	for _, i := range []int{4, 6, 8} {
		if decs[i], ok = cols[i].(*array.Decimal128); !ok {
			return nil, fmt.Errorf("usage batch: column %d is %s, want decimal", i, cols[i].DataType())
		}
	}
	str := func(i, row int) string {
		if strs[i].IsNull(row) {
			return ""
		}
		return strs[i].Value(row)
	}
	nstr := func(i, row int) transforms.NullString {
		if strs[i].IsNull(row) {
			return transforms.NullString{}
		}
		return transforms.NullString{S: strs[i].Value(row), Valid: true}
	}
	dec := func(i, row int) transforms.NullDecimal {
		if decs[i].IsNull(row) {
			return transforms.NullDecimal{}
		}
		return transforms.NullDecimal{Num: decs[i].Value(row), Valid: true}
	}
	for row := range int(rec.NumRows()) {
		k := costmodel.DayKey{AccountSID: str(1, row), Date: date.Value(row)}
		out[k] = append(out[k], costmodel.Usage{
			Date: k.Date, AccountSID: k.AccountSID,
			Category: str(2, row), Description: nstr(3, row),
			Count: dec(4, row), CountUnit: nstr(5, row),
			Usage: dec(6, row), UsageUnit: nstr(7, row),
			Price: dec(8, row), Currency: str(9, row),
			BillingAccountSID: str(10, row),
		})
	}
	return out, nil
}
