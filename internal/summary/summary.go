// Package summary reads what `demo` prints of a warehouse: spend by
// account, billing account and service group, and SIM data, over a
// period. It is product SQL, kept out of the destinations: it runs on
// any warehouse that answers QueryEach, through the small Querier
// interface below.
package summary

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/transforms"
)

// Querier runs a query and hands each row over as text, NULL as not
// Valid (the DuckDB destination has it).
type Querier interface {
	QueryEach(ctx context.Context, query string, fn func(row []sql.NullString) error) error
}

// Spend is an amount of money in one currency.
type Spend struct {
	Name     string
	SID      string         // the account's, in ByAccount
	Amount   decimal128.Num // scale 9
	Currency string
}

// Account is an account of the warehouse as the summary names it.
type Account struct {
	SID, Name, Status string
	IsMain            bool
}

// Summary is what `demo` prints: spend and SIM data over a period.
type Summary struct {
	From, To time.Time // inclusive UTC days
	// ByAccount is each account's totalprice over the period, largest first.
	ByAccount []Spend
	// ByBilling is each billing (main) account's totalprice over the
	// period, its subaccounts included, largest first.
	ByBilling []Spend
	// ByService sums twilio_cost_daily by service group, largest first,
	// with the part of totalprice in no category apart: nothing is counted
	// twice, and the groups add up to the total.
	ByService []Spend
	Total     []Spend // per currency
	// Accounts is every account in twilio_accounts, main first, then by
	// name: those missing from ByAccount had no usage in the period.
	Accounts []Account
	// SIM data.
	SIMs          int64
	DataBytes     int64
	DataBilled    decimal128.Num
	RoamingBytes  int64
	DataCurrency  string
	RoamCountries int64
}

// Unattributed names the part of totalprice that no category holds.
const Unattributed = "Unattributed (in no category)"

// Read reads a Summary of the days from..to (inclusive UTC days) from
// the tables.
func Read(ctx context.Context, q Querier, from, to time.Time) (Summary, error) {
	s := Summary{From: from, To: to}
	period := fmt.Sprintf("usage_date BETWEEN DATE '%s' AND DATE '%s'", from.Format(time.DateOnly), to.Format(time.DateOnly))
	type key struct{ name, sid, currency string }
	accounts, services, totals, billing := map[key]decimal128.Num{}, map[key]decimal128.Num{}, map[key]decimal128.Num{}, map[key]decimal128.Num{}
	// sum reads rows of name, SID, currency and a decimal sum.
	sum := func(what, query string, add func(k key, amount decimal128.Num)) error {
		err := q.QueryEach(ctx, query, func(row []sql.NullString) error {
			amount, err := transforms.ParseDecimal(row[3].String)
			if err != nil {
				return fmt.Errorf("sum %q: %w", row[3].String, err)
			}
			add(key{row[0].String, row[1].String, row[2].String}, amount)
			return nil
		})
		if err != nil {
			return fmt.Errorf("summarize %s: %w", what, err)
		}
		return nil
	}
	err := sum("spend by account", `
		SELECT COALESCE(a.display_name, a.friendly_name, u.account_sid), u.account_sid, COALESCE(upper(u.currency), ''), CAST(SUM(u.price) AS VARCHAR)
		FROM twilio_usage_daily u LEFT JOIN twilio_accounts a ON a.account_sid = u.account_sid
		WHERE u.`+period+` AND u.category = 'totalprice' AND u.price IS NOT NULL
		GROUP BY 1, 2, 3`, func(k key, amount decimal128.Num) {
		accounts[k] = accounts[k].Add(amount)
		total := key{currency: k.currency}
		totals[total] = totals[total].Add(amount)
	})
	if err != nil {
		return s, err
	}
	err = sum("spend by billing account", `
		SELECT COALESCE(a.display_name, a.friendly_name, u.billing_account_sid, u.account_sid), COALESCE(u.billing_account_sid, u.account_sid),
		       COALESCE(upper(u.currency), ''), CAST(SUM(u.price) AS VARCHAR)
		FROM twilio_usage_daily u LEFT JOIN twilio_accounts a ON a.account_sid = COALESCE(u.billing_account_sid, u.account_sid)
		WHERE u.`+period+` AND u.category = 'totalprice' AND u.price IS NOT NULL
		GROUP BY 1, 2, 3`, func(k key, amount decimal128.Num) {
		billing[k] = billing[k].Add(amount)
	})
	if err != nil {
		return s, err
	}
	err = sum("spend by service", `
		SELECT CASE attribution WHEN 'unattributed' THEN '`+Unattributed+`' ELSE service_group END, '',
		       COALESCE(currency, ''), CAST(SUM(cost) AS VARCHAR)
		FROM twilio_cost_daily WHERE `+period+`
		GROUP BY 1, 2, 3`, func(k key, amount decimal128.Num) {
		if amount != (decimal128.Num{}) {
			services[k] = amount
		}
	})
	if err != nil {
		return s, err
	}
	list := func(m map[key]decimal128.Num) []Spend {
		var out []Spend
		for k, v := range m {
			out = append(out, Spend{Name: k.name, SID: k.sid, Amount: v, Currency: k.currency})
		}
		slices.SortFunc(out, func(a, b Spend) int {
			if c := b.Amount.Cmp(a.Amount); c != 0 {
				return c
			}
			return cmp.Compare(a.Name, b.Name)
		})
		return out
	}
	s.ByAccount, s.ByBilling, s.ByService, s.Total = list(accounts), list(billing), list(services), list(totals)

	err = q.QueryEach(ctx, `
		SELECT account_sid, COALESCE(display_name, friendly_name, account_sid), COALESCE(status, ''), CASE WHEN is_main THEN 'main' ELSE '' END
		FROM twilio_accounts ORDER BY is_main DESC, 2, 1`, func(row []sql.NullString) error {
		s.Accounts = append(s.Accounts, Account{SID: row[0].String, Name: row[1].String, Status: row[2].String, IsMain: row[3].String == "main"})
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("summarize accounts: %w", err)
	}

	err = q.QueryEach(ctx, `
		SELECT COUNT(DISTINCT CASE WHEN data_total > 0 THEN sim_sid END), COALESCE(SUM(data_total), 0),
		       CAST(COALESCE(SUM(data_billed), 0) AS VARCHAR), COALESCE(SUM(data_international_roaming_total), 0),
		       COALESCE(MAX(currency), ''),
		       (SELECT COUNT(DISTINCT country) FROM twilio_sim_usage_roaming WHERE `+period+`)
		FROM twilio_sim_usage_daily WHERE `+period, func(row []sql.NullString) error {
		var err error
		for i, p := range map[int]*int64{0: &s.SIMs, 1: &s.DataBytes, 3: &s.RoamingBytes, 5: &s.RoamCountries} {
			if *p, err = strconv.ParseInt(row[i].String, 10, 64); err != nil {
				return err
			}
		}
		s.DataCurrency = row[4].String
		s.DataBilled, err = transforms.ParseDecimal(row[2].String)
		return err
	})
	if err != nil {
		return s, fmt.Errorf("summarize SIM usage: %w", err)
	}
	return s, nil
}
