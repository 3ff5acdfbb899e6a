package twilio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// UsageRecord is one row of /Usage/Records: one category over a period.
// Count, Usage and Price are Twilio's decimal text.
type UsageRecord struct {
	AccountSID  string    `json:"account_sid"`
	Category    string    `json:"category"`
	Description *string   `json:"description"`
	StartDate   string    `json:"start_date"`
	EndDate     *string   `json:"end_date"`
	Count       Decimal   `json:"count"`
	CountUnit   *string   `json:"count_unit"`
	Usage       Decimal   `json:"usage"`
	UsageUnit   *string   `json:"usage_unit"`
	Price       Decimal   `json:"price"`
	PriceUnit   *string   `json:"price_unit"`
	AsOf        Timestamp `json:"as_of"`
	URI         *string   `json:"uri"`
}

type usagePage struct {
	UsageRecords []UsageRecord `json:"usage_records"`
	NextPageURI  *string       `json:"next_page_uri"`
	// contract is the *ContractError of a page without its records
	// under "usage_records", as a list; nil for a good page.
	contract error
}

// decodeUsagePageJSON decodes a usage page with encoding/json: the
// fast decoder's reference, and its fallback for pages of an unusual
// shape.
func decodeUsagePageJSON(body []byte) (usagePage, error) {
	var std struct {
		UsageRecords list[UsageRecord] `json:"usage_records"`
		NextPageURI  *string           `json:"next_page_uri"`
	}
	if err := json.Unmarshal(body, &std); err != nil {
		return usagePage{}, err
	}
	return usagePage{UsageRecords: std.UsageRecords.Items, NextPageURI: std.NextPageURI, contract: std.UsageRecords.check("usage_records")}, nil
}

// rawUsagePage is usagePage undecoded, to find the record and field a
// decoding error is about.
type rawUsagePage struct {
	UsageRecords []json.RawMessage `json:"usage_records"`
}

// DailyUsage lists the daily usage records of one account from start to
// end, both UTC dates and inclusive, a page at a time. It never includes
// subaccounts' usage: every row belongs to account sid.
//
// yield's slice is overwritten by the next page, so yield must not keep
// it; the strings its records point to are shared between records and
// must not be changed.
func (c *Client) DailyUsage(ctx context.Context, sid string, start, end time.Time, pageSize int, yield func([]UsageRecord) error) error {
	next := APIOrigin + "/2010-04-01/Accounts/" + url.PathEscape(sid) + "/Usage/Records/Daily.json"
	query := url.Values{
		"StartDate":          {start.UTC().Format(time.DateOnly)},
		"EndDate":            {end.UTC().Format(time.DateOnly)},
		"IncludeSubaccounts": {"false"},
		"PageSize":           {strconv.Itoa(pageSize)},
	}
	return c.usagePages(ctx, next, query, yield)
}

// UsageToday reads one usage record of today for account sid: a request
// every kind of credential may make.
func (c *Client) UsageToday(ctx context.Context, sid string) error {
	next := APIOrigin + "/2010-04-01/Accounts/" + url.PathEscape(sid) + "/Usage/Records/Today.json"
	var page usagePage
	if err := c.getJSON(ctx, next, url.Values{"PageSize": {"1"}}, &page); err != nil {
		return fmt.Errorf("read today's usage of %s: %w", sid, err)
	}
	return nil
}

func (c *Client) usagePages(ctx context.Context, first string, query url.Values, yield func([]UsageRecord) error) error {
	dec := usageDecoders.Get().(*usageDecoder)
	defer func() {
		dec.reset()
		usageDecoders.Put(dec)
	}()
	return follow(ctx, c, "", "usage_records", first, query,
		func(body []byte, page *usagePage) error {
			var err error
			if *page, err = dec.decode(body); err == nil {
				return nil
			}
			// Not the usual shape: let encoding/json decode it, or say
			// which record and field is wrong.
			if *page, err = decodeUsagePageJSON(body); err != nil {
				var raw rawUsagePage
				if json.Unmarshal(body, &raw) == nil {
					for i, rec := range raw.UsageRecords {
						if ferr := decodeRecord(rec, new(UsageRecord), "count", "usage", "price"); ferr != nil {
							return fmt.Errorf("usage_records[%d]: %w", i, ferr)
						}
					}
				}
				return err
			}
			return nil
		},
		func(page *usagePage) error { return page.contract },
		func(page *usagePage) string { return nextURI(page.NextPageURI) },
		func(page *usagePage) error {
			for i, rec := range page.UsageRecords {
				if _, err := time.Parse(time.DateOnly, rec.StartDate); err != nil {
					return fmt.Errorf("GET %s: usage_records[%d]: start_date %q is not a date", describe(first, query), i, rec.StartDate)
				}
			}
			return yield(page.UsageRecords)
		})
}

// decodeRecord decodes raw into v; when that fails it names the field
// that does not fit, trying the decimal fields one by one.
func decodeRecord(raw json.RawMessage, v any, decimalFields ...string) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return err
	}
	for _, f := range decimalFields {
		var d Decimal
		if ferr := json.Unmarshal(fields[f], &d); fields[f] != nil && ferr != nil {
			return fmt.Errorf("field %s: %w", f, ferr)
		}
	}
	return err
}

// Timestamp is an RFC 3339 timestamp such as Twilio's as_of
// ("2026-11-24T03:00:00+00:00"). The zero value is null.
type Timestamp struct{ time.Time }

// UnmarshalJSON accepts RFC 3339 text, "" or null.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	v, err := parseTimestamp(b, "not RFC 3339", time.RFC3339)
	t.Time = v
	return err
}

// parseTimestamp decodes a JSON string in the first of layouts that fits,
// as UTC; null and "" are the zero time. what says what the text is not,
// for the error.
func parseTimestamp(b []byte, what string, layouts ...string) (time.Time, error) {
	if string(b) == "null" {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return time.Time{}, fmt.Errorf("timestamp: %w", err)
	}
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range layouts {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is %s", s, what)
}
