package duckdb

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/transforms"
)

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

// Summarize reads a Summary of the days from..to from the tables.
func (d *Destination) Summarize(ctx context.Context, from, to time.Time) (Summary, error) {
	s := Summary{From: from, To: to}
	type key struct{ name, sid, currency string }
	accounts, services, totals, billing := map[key]decimal128.Num{}, map[key]decimal128.Num{}, map[key]decimal128.Num{}, map[key]decimal128.Num{}
	sum := func(what, query string, add func(name, currency string, amount decimal128.Num)) error {
		rows, err := d.db.QueryContext(ctx, query, from, to)
		if err != nil {
			return fmt.Errorf("summarize %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			var name, currency, total string
			if err := rows.Scan(&name, &currency, &total); err != nil {
				return fmt.Errorf("summarize %s: %w", what, err)
			}
			amount, err := transforms.ParseDecimal(total)
			if err != nil {
				return fmt.Errorf("summarize %s: sum %q: %w", what, total, err)
			}
			add(name, currency, amount)
		}
		return rows.Err()
	}
	err := sum("spend by account", `
		SELECT COALESCE(a.display_name, a.friendly_name, u.account_sid) || chr(0) || u.account_sid, COALESCE(upper(u.currency), ''), CAST(SUM(u.price) AS VARCHAR)
		FROM twilio_usage_daily u LEFT JOIN twilio_accounts a ON a.account_sid = u.account_sid
		WHERE u.usage_date BETWEEN ? AND ? AND u.category = 'totalprice' AND u.price IS NOT NULL
		GROUP BY ALL`, func(nameSID, currency string, amount decimal128.Num) {
		name, sid, _ := strings.Cut(nameSID, "\x00")
		accounts[key{name, sid, currency}] = accounts[key{name, sid, currency}].Add(amount)
		totals[key{"", "", currency}] = totals[key{"", "", currency}].Add(amount)
	})
	if err != nil {
		return s, err
	}
	err = sum("spend by billing account", `
		SELECT COALESCE(a.display_name, a.friendly_name, u.billing_account_sid, u.account_sid) || chr(0) || COALESCE(u.billing_account_sid, u.account_sid),
		       COALESCE(upper(u.currency), ''), CAST(SUM(u.price) AS VARCHAR)
		FROM twilio_usage_daily u LEFT JOIN twilio_accounts a ON a.account_sid = COALESCE(u.billing_account_sid, u.account_sid)
		WHERE u.usage_date BETWEEN ? AND ? AND u.category = 'totalprice' AND u.price IS NOT NULL
		GROUP BY ALL`, func(nameSID, currency string, amount decimal128.Num) {
		name, sid, _ := strings.Cut(nameSID, "\x00")
		billing[key{name, sid, currency}] = billing[key{name, sid, currency}].Add(amount)
	})
	if err != nil {
		return s, err
	}
	err = sum("spend by service", `
		SELECT CASE attribution WHEN 'unattributed' THEN '`+Unattributed+`' ELSE service_group END,
		       COALESCE(currency, ''), CAST(SUM(cost) AS VARCHAR)
		FROM twilio_cost_daily WHERE usage_date BETWEEN ? AND ?
		GROUP BY ALL`, func(name, currency string, amount decimal128.Num) {
		if amount != (decimal128.Num{}) {
			services[key{name, "", currency}] = amount
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
			return cmpString(a.Name, b.Name)
		})
		return out
	}
	s.ByAccount, s.ByBilling, s.ByService, s.Total = list(accounts), list(billing), list(services), list(totals)

	rows, err := d.db.QueryContext(ctx, `
		SELECT account_sid, COALESCE(display_name, friendly_name, account_sid), COALESCE(status, ''), is_main
		FROM twilio_accounts ORDER BY is_main DESC, 2, 1`)
	if err != nil {
		return s, fmt.Errorf("summarize accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Account
		if err := rows.Scan(&a.SID, &a.Name, &a.Status, &a.IsMain); err != nil {
			return s, fmt.Errorf("summarize accounts: %w", err)
		}
		s.Accounts = append(s.Accounts, a)
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("summarize accounts: %w", err)
	}

	var billed string
	err = d.db.QueryRowContext(ctx, `
		SELECT COUNT(DISTINCT sim_sid) FILTER (WHERE data_total > 0), COALESCE(SUM(data_total), 0),
		       CAST(COALESCE(SUM(data_billed), 0) AS VARCHAR), COALESCE(SUM(data_international_roaming_total), 0),
		       COALESCE(MAX(currency), '')
		FROM twilio_sim_usage_daily WHERE usage_date BETWEEN ? AND ?`, from, to).
		Scan(&s.SIMs, &s.DataBytes, &billed, &s.RoamingBytes, &s.DataCurrency)
	if err != nil {
		return s, fmt.Errorf("summarize SIM usage: %w", err)
	}
	if s.DataBilled, err = transforms.ParseDecimal(billed); err != nil {
		return s, fmt.Errorf("summarize SIM usage: %w", err)
	}
	err = d.db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT country) FROM twilio_sim_usage_roaming WHERE usage_date BETWEEN ? AND ?`, from, to).
		Scan(&s.RoamCountries)
	if err != nil {
		return s, fmt.Errorf("summarize SIM roaming: %w", err)
	}
	return s, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
