package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// SIMUsage is one SIM product's data over the period.
type SIMUsage struct {
	Product string // "Wireless" or "Super SIM"
	// Split: the product tells home, national roaming and international
	// roaming apart (Wireless); without it (Super SIM) only totals exist.
	Split bool
	// SIMs is the number of SIMs that used data (or, Wireless, commands).
	SIMs int
	// Bytes is the data used, and the part of it at home, roaming in
	// the home country and roaming abroad.
	Bytes, HomeBytes, NationalBytes, InternationalBytes int64
	Billed                                              decimal128.Num
	Currency                                            string
	Daily                                               []SIMDay
	Top                                                 []SIMTotal    // the SIMs that used the most data, most first
	Roaming                                             []CountryData // data used abroad by country, most first
}

// SIMDay is the data a product's SIMs used on one day.
type SIMDay struct {
	Day                           time.Time
	Home, National, International int64
	Total                         int64
	SIMs                          int
}

// SIMTotal is one SIM's data over the period.
type SIMTotal struct {
	SID, Name string
	Bytes     int64
	Billed    decimal128.Num
}

// CountryData is the data used roaming in one country.
type CountryData struct {
	Country string
	Bytes   int64
}

// simSource reads one SIM product's tables. Each query is a template
// with one %s: the condition on usage_date and account_sid.
type simSource struct {
	product string
	// split: daily's home and roaming columns mean something.
	split bool
	// daily returns usage_date, home, national roaming, international
	// roaming and total bytes, active SIMs, billed, currency.
	daily string
	// active returns the number of SIMs that used anything.
	active string
	// top returns sim_sid, a name, bytes and billed, most bytes first.
	top string
	// roaming returns country and bytes; "" for a product that does not
	// split its usage by country.
	roaming string
}

// topSIMs is how many SIMs the report lists.
const topSIMs = 10

// simSources are the SIM products the report covers: Programmable
// Wireless, and Super SIM, whose usage is read per SIM without a country
// split (see connector.SuperSIMUsageRecords).
var simSources = []simSource{{
	product: "Wireless",
	split:   true,
	daily: `
SELECT CAST(usage_date AS {{string}}), SUM(COALESCE(data_home_total, 0)), SUM(COALESCE(data_national_roaming_total, 0)),
       SUM(COALESCE(data_international_roaming_total, 0)), SUM(COALESCE(data_total, 0)),
       COUNT(DISTINCT CASE WHEN COALESCE(data_total, 0) > 0 OR COALESCE(commands_total, 0) > 0 THEN sim_sid END),
       CAST(SUM(COALESCE(data_billed, 0)) AS {{string}}), MAX(COALESCE(UPPER(currency), ''))
FROM {{table "twilio_sim_usage_daily"}} WHERE %s
GROUP BY usage_date ORDER BY usage_date`,
	top: `
WITH u AS (
  SELECT sim_sid, SUM(COALESCE(data_total, 0)) AS bytes, SUM(COALESCE(data_billed, 0)) AS billed
  FROM {{table "twilio_sim_usage_daily"}} WHERE %s GROUP BY sim_sid
)
SELECT u.sim_sid, COALESCE(s.unique_name, s.friendly_name, s.iccid, u.sim_sid), u.bytes, CAST(u.billed AS {{string}})
FROM u LEFT JOIN {{table "twilio_sims"}} s ON s.sim_sid = u.sim_sid
WHERE u.bytes > 0
ORDER BY u.bytes DESC, u.sim_sid LIMIT ` + fmt.Sprint(topSIMs),
	active: `
SELECT COUNT(DISTINCT sim_sid) FROM {{table "twilio_sim_usage_daily"}}
WHERE %s AND (COALESCE(data_total, 0) > 0 OR COALESCE(commands_total, 0) > 0)`,
	roaming: `
SELECT country, SUM(COALESCE(data_total, 0)) FROM {{table "twilio_sim_usage_roaming"}} WHERE %s
GROUP BY country HAVING SUM(COALESCE(data_total, 0)) > 0`,
}, {
	product: "Super SIM",
	daily: `
SELECT CAST(usage_date AS {{string}}), 0, 0, 0, SUM(COALESCE(data_total, 0)),
       COUNT(DISTINCT CASE WHEN COALESCE(data_total, 0) > 0 THEN sim_sid END),
       CAST(SUM(COALESCE(data_total_billed, 0)) AS {{string}}), MAX(COALESCE(UPPER(billed_unit), ''))
FROM {{table "twilio_super_sim_usage_daily"}} WHERE %s
GROUP BY usage_date ORDER BY usage_date`,
	active: `
SELECT COUNT(DISTINCT sim_sid) FROM {{table "twilio_super_sim_usage_daily"}}
WHERE %s AND COALESCE(data_total, 0) > 0`,
	top: `
WITH u AS (
  SELECT sim_sid, SUM(COALESCE(data_total, 0)) AS bytes, SUM(COALESCE(data_total_billed, 0)) AS billed
  FROM {{table "twilio_super_sim_usage_daily"}} WHERE %s GROUP BY sim_sid
)
SELECT u.sim_sid, COALESCE(s.unique_name, s.iccid, u.sim_sid), u.bytes, CAST(u.billed AS {{string}})
FROM u LEFT JOIN {{table "twilio_super_sims"}} s ON s.sim_sid = u.sim_sid
WHERE u.bytes > 0
ORDER BY u.bytes DESC, u.sim_sid LIMIT ` + fmt.Sprint(topSIMs),
}}

func (b *builder) sims(ctx context.Context) error {
	r := b.r
	for _, src := range simSources {
		u := SIMUsage{Product: src.product, Split: src.split}
		cond := b.where(r.From, r.To)
		rows, err := query(ctx, b.q, src.product+" daily data", fmt.Sprintf(src.daily, cond))
		if err != nil {
			return err
		}
		for _, row := range rows {
			d := SIMDay{}
			if d.Day, err = parseDay(row[0]); err != nil {
				return err
			}
			var n [5]int64
			for i := range n {
				if n[i], err = parseInt(row[1+i]); err != nil {
					return err
				}
			}
			d.Home, d.National, d.International, d.Total, d.SIMs = n[0], n[1], n[2], n[3], int(n[4])
			billed, err := parseMoney(row[6])
			if err != nil {
				return err
			}
			u.Billed = u.Billed.Add(billed)
			if u.Currency == "" {
				u.Currency = nullable(row[7])
			}
			u.Bytes += d.Total
			u.HomeBytes += d.Home
			u.NationalBytes += d.National
			u.InternationalBytes += d.International
			u.Daily = append(u.Daily, d)
		}
		rows, err = query(ctx, b.q, src.product+" active SIMs", fmt.Sprintf(src.active, cond))
		if err != nil {
			return err
		}
		n, err := parseInt(rows[0][0])
		if err != nil {
			return err
		}
		u.SIMs = int(n)
		rows, err = query(ctx, b.q, src.product+" top SIMs", fmt.Sprintf(src.top, cond))
		if err != nil {
			return err
		}
		for _, row := range rows {
			t := SIMTotal{SID: row[0], Name: row[1]}
			if t.Bytes, err = parseInt(row[2]); err != nil {
				return err
			}
			if t.Billed, err = parseMoney(row[3]); err != nil {
				return err
			}
			u.Top = append(u.Top, t)
		}
		rows = nil
		if src.roaming != "" {
			if rows, err = query(ctx, b.q, src.product+" roaming", fmt.Sprintf(src.roaming, cond)); err != nil {
				return err
			}
		}
		for _, row := range rows {
			c := CountryData{Country: row[0]}
			if c.Bytes, err = parseInt(row[1]); err != nil {
				return err
			}
			u.Roaming = append(u.Roaming, c)
		}
		slices.SortFunc(u.Roaming, func(a, b CountryData) int {
			if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
				return c
			}
			return strings.Compare(a.Country, b.Country)
		})
		r.ActiveSIMs += u.SIMs
		r.SIMs = append(r.SIMs, u)
	}
	return nil
}
