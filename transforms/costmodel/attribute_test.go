package costmodel

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/transforms"
)

func num(t *testing.T, s string) transforms.NullDecimal {
	t.Helper()
	if s == "" {
		return transforms.NullDecimal{}
	}
	n, err := transforms.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return transforms.NullDecimal{Num: n, Valid: true}
}

func text(d transforms.NullDecimal) string {
	if !d.Valid {
		return "NULL"
	}
	return transforms.FormatDecimal(d.Num)
}

// usageRow is category, price, usage, usage unit ("" for NULL).
type usageRow struct{ category, price, usage, unit string }

// Attribute, case by case, checked by hand against docs/cost-model.md.
func TestAttribute(t *testing.T) {
	const sub, main = "AC00000000000000000000000000000002", "AC00000000000000000000000000000001"
	accounts := Accounts{sub: {Name: "Staging", Parent: main}, main: {Name: "Acme"}}
	for _, tc := range []struct {
		name   string
		rows   []usageRow
		costs  []string // category attribution cost usage
		status string
		excess string
	}{
		{
			name: "roll-ups telescope into totalprice",
			rows: []usageRow{
				{"totalprice", "10", "", ""},
				{"sms", "6", "30", "segments"},
				{"sms-outbound", "5", "25", "segments"},
				{"sms-outbound-longcode", "3", "20", "segments"},
				{"calls", "2.5", "", ""},
			},
			costs: []string{
				"Unattributed unattributed 1.5 1.5",
				"calls (other) residual 2.5 NULL",
				"sms (other) residual 1 5",
				"sms-outbound (other) residual 2 5",
				"sms-outbound-longcode leaf 3 20",
			},
			status: StatusOK,
		},
		{
			name: "a missing roll-up: children hang from the nearest present ancestor",
			rows: []usageRow{
				{"totalprice", "4", "", ""},
				{"sms-outbound-longcode", "3", "20", "segments"},
			},
			costs:  []string{"Unattributed unattributed 1 1", "sms-outbound-longcode leaf 3 20"},
			status: StatusOK,
		},
		{
			name: "an overlay is never summed",
			rows: []usageRow{
				{"totalprice", "5", "", ""},
				{"sms-outbound", "5", "10", "segments"},
				{"authy-sms-outbound", "4", "8", "segments"},
			},
			costs:  []string{"sms-outbound (other) residual 5 10"},
			status: StatusOK,
		},
		{
			name: "children above their roll-up: a negative residual, a failure",
			rows: []usageRow{
				{"totalprice", "10", "", ""},
				{"sms-outbound", "3", "", ""},
				{"sms-outbound-longcode", "4", "", ""},
			},
			costs:  []string{"Unattributed unattributed 7 7", "sms-outbound (other) residual -1 NULL", "sms-outbound-longcode leaf 4 NULL"},
			status: StatusRollupExceeded,
			excess: "1",
		},
		{
			name:   "cost above totalprice: over_total",
			rows:   []usageRow{{"totalprice", "1", "", ""}, {"verify-push", "2.5", "", ""}},
			costs:  []string{"Unattributed unattributed -1.5 -1.5", "verify-push leaf 2.5 NULL"},
			status: StatusOverTotal,
		},
		{
			name:   "no totalprice; a NULL price; a leaf with usage and no cost is kept, an all-zero one is not",
			rows:   []usageRow{{"verify-push", "", "3", "verifications"}, {"lookups", "0", "0", ""}},
			costs:  []string{"verify-push leaf 0 3"},
			status: StatusNoTotalprice,
		},
		{
			name: "a category Twilio never listed is a leaf under its prefix's roll-up",
			rows: []usageRow{
				{"totalprice", "2", "", ""},
				{"sms-outbound", "2", "", ""},
				{"sms-outbound-hologram", "0.75", "", ""},
			},
			costs:  []string{"sms-outbound (other) residual 1.25 NULL", "sms-outbound-hologram leaf 0.75 NULL"},
			status: StatusOK,
		},
		{
			name:   "one category twice: the larger row is read",
			rows:   []usageRow{{"totalprice", "2", "", ""}, {"verify-push", "1", "", ""}, {"verify-push", "2", "", ""}},
			costs:  []string{"verify-push leaf 2 NULL"},
			status: StatusOK,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			date := arrow.Date32FromTime(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
			d := Day{AccountSID: sub, Date: date}
			for _, r := range tc.rows {
				d.Usage = append(d.Usage, Usage{Date: date, AccountSID: sub, Category: r.category,
					Price: num(t, r.price), Usage: num(t, r.usage), UsageUnit: transforms.NullString{S: r.unit, Valid: r.unit != ""}, Currency: "usd"})
			}
			costs, recon := NewAttributor().Attribute(d, accounts, nil)
			var got []string
			var sum transforms.NullDecimal
			for _, c := range costs {
				got = append(got, strings.Join([]string{c.Category, c.Attribution, transforms.FormatDecimal(c.Cost), text(c.Usage)}, " "))
				sum = add(sum, transforms.NullDecimal{Num: c.Cost, Valid: true})
				if c.AccountName != "Staging" || c.BillingAccountSID != main || c.BillingAccountName != "Acme" || c.Currency != "USD" {
					t.Errorf("%s: account %q, billing %s %q, currency %s", c.Category, c.AccountName, c.BillingAccountSID, c.BillingAccountName, c.Currency)
				}
			}
			if diff := cmp.Diff(tc.costs, got); diff != "" {
				t.Errorf("cost rows (-want +got):\n%s", diff)
			}
			if recon == nil {
				t.Fatal("no reconciliation row")
			}
			if recon.Status != tc.status {
				t.Errorf("status %s, want %s", recon.Status, tc.status)
			}
			if tc.excess != "" && (transforms.FormatDecimal(recon.RollupExcess) != tc.excess || recon.ExcessRollup == "") {
				t.Errorf("rollup excess %s of %q, want %s", transforms.FormatDecimal(recon.RollupExcess), recon.ExcessRollup, tc.excess)
			}
			// Attributed plus unattributed is the day's cost; with a
			// totalprice, the day's cost is its totalprice.
			if got := recon.Attributed.Add(recon.Unattributed); got != sum.Num {
				t.Errorf("attributed + unattributed = %s, Σ cost = %s", transforms.FormatDecimal(got), text(sum))
			}
			if recon.Totalprice.Valid && recon.Totalprice.Num != sum.Num {
				t.Errorf("Σ cost %s, totalprice %s", text(sum), text(recon.Totalprice))
			}
		})
	}
}

// A day with nothing to attribute has no reconciliation row.
func TestAttributeEmptyDay(t *testing.T) {
	costs, recon := NewAttributor().Attribute(Day{AccountSID: "AC1"}, nil, nil)
	if len(costs) != 0 || recon != nil {
		t.Errorf("empty day: %v, %v", costs, recon)
	}
}
