package costmodel

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// Scanner streams the rows of a query: DuckDB or BigQuery.
type Scanner interface {
	Dialect() warehouse.Dialect
	// QueryEach runs a rendered query and calls fn with each row, every
	// column as text (NULL: not Valid), in the query's order. fn must
	// not keep row.
	QueryEach(ctx context.Context, query string, fn func(row []sql.NullString) error) error
}

// DayKey names one account-day.
type DayKey struct {
	AccountSID string
	Date       arrow.Date32
}

func (k DayKey) String() string {
	return k.AccountSID + " " + k.Date.FormattedString()
}

func dayKey(sid, date string) (DayKey, error) {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return DayKey{}, fmt.Errorf("usage_date %q: %w", date, err)
	}
	return DayKey{AccountSID: sid, Date: arrow.Date32FromTime(t)}, nil
}

// usageColumns are the columns of twilio_usage_daily attribution reads,
// in the order scanUsage decodes them.
const usageColumns = `CAST(usage_date AS {{string}}), account_sid, category, description,
  CAST(count AS {{string}}), count_unit, CAST(usage AS {{string}}), usage_unit,
  CAST(price AS {{string}}), currency, billing_account_sid, CAST({{epochMicros "as_of"}} AS {{string}})`

// scanUsage streams the usage rows that match where (SQL over
// twilio_usage_daily) and keep (nil: all), one account-day at a time, in
// order of day and account. The Day passed to fn is reused after fn
// returns.
func scanUsage(ctx context.Context, s Scanner, where string, keep func(DayKey) bool, fn func(Day) error) error {
	q, err := s.Dialect().Render(`SELECT ` + usageColumns + `
FROM {{table "twilio_usage_daily"}}
WHERE ` + where + `
ORDER BY usage_date, account_sid`)
	if err != nil {
		return err
	}
	var cur Day
	var curKey DayKey
	flush := func() error {
		if len(cur.Usage) == 0 {
			return nil
		}
		err := fn(cur)
		cur.Usage = cur.Usage[:0]
		return err
	}
	err = s.QueryEach(ctx, q, func(row []sql.NullString) error {
		if len(row) != 12 {
			return fmt.Errorf("read usage: %d columns, want 12", len(row))
		}
		k, err := dayKey(row[1].String, row[0].String)
		if err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		if keep != nil && !keep(k) {
			return nil
		}
		if k != curKey {
			if err := flush(); err != nil {
				return err
			}
			curKey, cur.AccountSID, cur.Date = k, k.AccountSID, k.Date
		}
		str := func(v sql.NullString) transforms.NullString {
			return transforms.NullString{S: v.String, Valid: v.Valid}
		}
		u := Usage{
			Date: k.Date, AccountSID: k.AccountSID,
			Category: row[2].String, Description: str(row[3]),
			CountUnit: str(row[5]), UsageUnit: str(row[7]),
			Currency: row[9].String, BillingAccountSID: row[10].String,
		}
		for _, f := range []struct {
			name string
			col  sql.NullString
			dst  *transforms.NullDecimal
		}{{"count", row[4], &u.Count}, {"usage", row[6], &u.Usage}, {"price", row[8], &u.Price}} {
			if !f.col.Valid {
				continue
			}
			n, err := transforms.ParseDecimal(f.col.String)
			if err != nil {
				return fmt.Errorf("read usage %s %s: %s %q: %w", k, u.Category, f.name, f.col.String, err)
			}
			*f.dst = transforms.NullDecimal{Num: n, Valid: true}
		}
		if row[11].Valid {
			us, err := strconv.ParseInt(row[11].String, 10, 64)
			if err != nil {
				return fmt.Errorf("read usage %s %s: as_of %q: %w", k, u.Category, row[11].String, err)
			}
			u.AsOf = transforms.NullTimestamp{Micros: us, Valid: true}
		}
		cur.Usage = append(cur.Usage, u)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read twilio_usage_daily: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	return nil
}

// daysWhere returns SQL selecting the rows of the account-days keys (and
// a few more, which keep drops): their day span and accounts.
func daysWhere(d warehouse.Dialect, keys []DayKey) (where string, keep func(DayKey) bool) {
	lo, hi := keys[0].Date, keys[0].Date
	set := make(map[DayKey]bool, len(keys))
	var sids []string
	for _, k := range keys {
		lo, hi = min(lo, k.Date), max(hi, k.Date)
		if !set[k] {
			set[k] = true
			sids = append(sids, k.AccountSID)
		}
	}
	slices.Sort(sids)
	sids = slices.Compact(sids)
	lits := make([]string, len(sids))
	for i, s := range sids {
		lits[i] = d.Literal(s)
	}
	where = fmt.Sprintf("usage_date BETWEEN DATE %s AND DATE %s AND account_sid IN (%s)",
		d.Literal(lo.FormattedString()), d.Literal(hi.FormattedString()), strings.Join(lits, ", "))
	return where, func(k DayKey) bool { return set[k] }
}

// ReadDays returns the loaded usage of the account-days keys, each Day's
// rows its own.
func ReadDays(ctx context.Context, s Scanner, keys []DayKey) (map[DayKey][]Usage, error) {
	out := map[DayKey][]Usage{}
	spans, _ := keySpans(s.Dialect(), keys)
	for _, sp := range spans {
		err := scanUsage(ctx, s, sp.where, sp.keep, func(d Day) error {
			out[DayKey{d.AccountSID, d.Date}] = slices.Clone(d.Usage)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadAccounts returns what attribution needs of the accounts in
// twilio_accounts.
func ReadAccounts(ctx context.Context, s Scanner) (Accounts, error) {
	q, err := s.Dialect().Render(`SELECT account_sid, parent_account_sid, display_name, friendly_name, main_account_sid FROM {{table "twilio_accounts"}}`)
	if err != nil {
		return nil, err
	}
	out := Accounts{}
	err = s.QueryEach(ctx, q, func(row []sql.NullString) error {
		out[row[0].String] = Account{Parent: row[1].String, Name: cmp.Or(row[2].String, row[3].String), Main: row[4].String}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read twilio_accounts: %w", err)
	}
	return out, nil
}
