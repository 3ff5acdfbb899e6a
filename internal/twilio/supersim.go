package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// v1Page decodes a v1 list page whose items are under key: a page
// without that list, or without meta, breaks the contract.
func v1Page[T any](body []byte, key string) ([]T, *string, error) {
	var page map[string]json.RawMessage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, nil, err
	}
	raw, ok := page[key]
	if !ok || string(raw) == "null" {
		return nil, nil, fmt.Errorf("the page has no %q list", key)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(raw, &raws); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", key, err)
	}
	items := make([]T, len(raws))
	for i, r := range raws {
		if err := decodeItem(r, &items[i]); err != nil {
			return nil, nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
	}
	metaRaw, ok := page["meta"]
	if !ok {
		return nil, nil, errors.New(`the page has no "meta" object`)
	}
	var meta v1Meta
	if err := json.Unmarshal(metaRaw, &meta); err != nil {
		return nil, nil, fmt.Errorf("meta: %w", err)
	}
	return items, meta.NextPageURL, nil
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
	next := SuperSIMOrigin + "/v1/Sims"
	query := url.Values{"PageSize": {strconv.Itoa(pageSize)}}
	for next != "" {
		var (
			items []SuperSIM
			link  *string
		)
		err := c.getDecoded(ctx, next, query, func(body []byte) (err error) {
			items, link, err = v1Page[SuperSIM](body, "sims")
			return err
		})
		if err != nil {
			return fmt.Errorf("list Super SIMs: %w", err)
		}
		if err := yield(items); err != nil {
			return err
		}
		next, query = nextURL(link), nil
	}
	return nil
}

// SuperSIMDailyUsage lists the account's Super SIM usage of every SIM,
// one record per SIM and UTC day (Group=sim, Granularity=day), for the
// usage in [start, end): one listing covers the whole fleet. A record
// without sim_sid or period.start_time breaks the contract and fails the
// page.
func (c *Client) SuperSIMDailyUsage(ctx context.Context, start, end time.Time, pageSize int, yield func([]SuperSIMUsageRecord) error) error {
	next := SuperSIMOrigin + "/v1/UsageRecords"
	query := url.Values{
		"Group":       {"sim"},
		"Granularity": {"day"},
		"StartTime":   {start.UTC().Format(time.RFC3339)},
		"EndTime":     {end.UTC().Format(time.RFC3339)},
		"PageSize":    {strconv.Itoa(pageSize)},
	}
	for next != "" {
		where := describe(next, query)
		var (
			items []SuperSIMUsageRecord
			link  *string
		)
		err := c.getDecoded(ctx, next, query, func(body []byte) (err error) {
			items, link, err = v1Page[SuperSIMUsageRecord](body, "usage_records")
			return err
		})
		if err != nil {
			return fmt.Errorf("list Super SIM usage from %s to %s: %w", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), err)
		}
		for i, rec := range items {
			switch {
			case rec.SIMSID == nil || *rec.SIMSID == "":
				return fmt.Errorf("GET %s: usage_records[%d]: sim_sid is missing although Group=sim", where, i)
			case rec.Period == nil || rec.Period.Start.IsZero():
				return fmt.Errorf("GET %s: usage_records[%d]: period.start_time is missing", where, i)
			}
		}
		if err := yield(items); err != nil {
			return err
		}
		next, query = nextURL(link), nil
	}
	return nil
}
