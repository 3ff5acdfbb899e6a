package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// SuperSIM is a Super SIM (https://supersim.twilio.com/v1/Sims).
//
// twilio-go's rest/supersim/v1 has the same resource, but its usage
// record holds data_total_billed as a float32; the requests go through
// twilio-go's RequestHandler like every other, and the pages decode into
// the structs of this file, so money stays the decimal text Twilio sent.
type SuperSIM struct {
	SID         string    `json:"sid"`
	UniqueName  *string   `json:"unique_name"`
	AccountSID  *string   `json:"account_sid"`
	ICCID       *string   `json:"iccid"`
	Status      *string   `json:"status"`
	FleetSID    *string   `json:"fleet_sid"`
	DateCreated Timestamp `json:"date_created"`
	DateUpdated Timestamp `json:"date_updated"`
	URL         *string   `json:"url"`
}

// SuperSIMUsageRecord is one UsageRecord of the Super SIM API: usage
// aggregated over a period and, with Group, per SIM, fleet, network or
// country. Bytes are integers; DataTotalBilled is the exact decimal
// amount in BilledUnit, which is null while Twilio's billing has not
// caught up (DataTotalBilled is then 0).
type SuperSIMUsageRecord struct {
	AccountSID *string `json:"account_sid"`
	SIMSID     *string `json:"sim_sid"`
	FleetSID   *string `json:"fleet_sid"`
	NetworkSID *string `json:"network_sid"`
	IsoCountry *string `json:"iso_country"`
	Period     *struct {
		Start Timestamp `json:"start_time"`
		End   Timestamp `json:"end_time"`
	} `json:"period"`
	DataUpload      Int64   `json:"data_upload"`
	DataDownload    Int64   `json:"data_download"`
	DataTotal       Int64   `json:"data_total"`
	DataTotalBilled Decimal `json:"data_total_billed"`
	BilledUnit      *string `json:"billed_unit"`
}

// Int64 is a count of bytes as Twilio sent it: a JSON integer, or a
// string holding one. The zero value (Valid false) is null.
type Int64 struct {
	N     int64
	Valid bool
}

// UnmarshalJSON accepts a JSON integer, a string holding one, "" or null.
func (n *Int64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" || string(b) == `""` {
		*n = Int64{}
		return nil
	}
	text := string(b)
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(text)
		if err != nil {
			return fmt.Errorf("integer: %w", err)
		}
		text = s
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an integer", b)
	}
	*n = Int64{N: v, Valid: true}
	return nil
}

// MarshalJSON writes the integer, or null.
func (n Int64) MarshalJSON() ([]byte, error) {
	if !n.Valid {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, n.N, 10), nil
}

// SuperSIMUsageMaxDays is the longest period Twilio answers for usage
// grouped by SIM (error 83603 beyond it).
const SuperSIMUsageMaxDays = 31

// superSIMPage is one page of a Super SIM listing, its records kept raw
// so that one that does not decode is named by its place and field.
type superSIMPage struct {
	Records list[json.RawMessage]
	Meta    v1Meta `json:"meta"`
}

// decodeSuperSIMPage decodes a page whose records are under key, each
// into a T.
func decodeSuperSIMPage[T any](key string) func(body []byte, page *superSIMPage) ([]T, error) {
	return func(body []byte, page *superSIMPage) ([]T, error) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, err
		}
		if raw, ok := fields[key]; ok {
			if err := page.Records.UnmarshalJSON(raw); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
		if raw, ok := fields["meta"]; ok {
			if err := json.Unmarshal(raw, &page.Meta); err != nil {
				return nil, fmt.Errorf("meta: %w", err)
			}
		}
		if err := page.Records.check(key); err != nil {
			return nil, err
		}
		items := make([]T, len(page.Records.Items))
		for i, raw := range page.Records.Items {
			if err := decodeItem(raw, &items[i]); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
			}
		}
		return items, nil
	}
}

// decodeItem decodes one item of a list into v; when that fails, the
// error names the first field that does not decode on its own.
func decodeItem(raw json.RawMessage, v any) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		probe, _ := json.Marshal(map[string]json.RawMessage{name: fields[name]})
		if ferr := json.Unmarshal(probe, reflect.New(reflect.TypeOf(v).Elem()).Interface()); ferr != nil {
			return fmt.Errorf("field %s: %w", name, ferr)
		}
	}
	return err
}

// SuperSIMs lists the account's Super SIMs, a page at a time.
func (c *Client) SuperSIMs(ctx context.Context, pageSize int, yield func([]SuperSIM) error) error {
	decode := decodeSuperSIMPage[SuperSIM]("sims")
	var items []SuperSIM
	return follow(ctx, c, "list Super SIMs", "sims", SuperSIMOrigin+"/v1/Sims", url.Values{"PageSize": {strconv.Itoa(pageSize)}},
		func(body []byte, p *superSIMPage) (err error) { items, err = decode(body, p); return err },
		func(*superSIMPage) error { return nil }, // decode checked the records key
		func(p *superSIMPage) string { return nextURL(p.Meta.NextPageURL) },
		func(*superSIMPage) error { return yield(items) })
}

// SuperSIMDailyUsage lists the account's Super SIM usage of every SIM,
// one record per SIM and UTC day (Group=sim, Granularity=day), for the
// usage in [start, end): one listing covers the whole fleet. A record
// without sim_sid or period.start_time breaks the contract and fails the
// page, not retried: Twilio sent it so.
func (c *Client) SuperSIMDailyUsage(ctx context.Context, start, end time.Time, pageSize int, yield func([]SuperSIMUsageRecord) error) error {
	first := SuperSIMOrigin + "/v1/UsageRecords"
	query := url.Values{
		"Group":       {"sim"},
		"Granularity": {"day"},
		"StartTime":   {start.UTC().Format(time.RFC3339)},
		"EndTime":     {end.UTC().Format(time.RFC3339)},
		"PageSize":    {strconv.Itoa(pageSize)},
	}
	decode := decodeSuperSIMPage[SuperSIMUsageRecord]("usage_records")
	var items []SuperSIMUsageRecord
	what := fmt.Sprintf("list Super SIM usage from %s to %s", query.Get("StartTime"), query.Get("EndTime"))
	return follow(ctx, c, what, "usage_records", first, query,
		func(body []byte, p *superSIMPage) (err error) {
			if items, err = decode(body, p); err != nil {
				return err
			}
			for i, rec := range items {
				switch {
				case rec.SIMSID == nil || *rec.SIMSID == "":
					return fmt.Errorf("usage_records[%d]: sim_sid is missing although Group=sim", i)
				case rec.Period == nil || rec.Period.Start.IsZero():
					return fmt.Errorf("usage_records[%d]: period.start_time is missing", i)
				}
			}
			return nil
		},
		func(*superSIMPage) error { return nil }, // decode checked the records key
		func(p *superSIMPage) string { return nextURL(p.Meta.NextPageURL) },
		func(*superSIMPage) error { return yield(items) })
}
