package twilio

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// SIM is a Twilio Wireless SIM.
type SIM struct {
	SID          string    `json:"sid"`
	UniqueName   *string   `json:"unique_name"`
	AccountSID   *string   `json:"account_sid"`
	RatePlanSID  *string   `json:"rate_plan_sid"`
	FriendlyName *string   `json:"friendly_name"`
	ICCID        *string   `json:"iccid"`
	EID          *string   `json:"e_id"`
	Status       *string   `json:"status"`
	DateCreated  Timestamp `json:"date_created"`
	DateUpdated  Timestamp `json:"date_updated"`
	URL          *string   `json:"url"`
}

// SIMUsageRecord is one period of a SIM's usage. Commands and Data are
// the objects exactly as Twilio sent them.
type SIMUsageRecord struct {
	SIMSID     string  `json:"sim_sid"`
	AccountSID *string `json:"account_sid"`
	Period     struct {
		Start Timestamp `json:"start"`
		End   Timestamp `json:"end"`
	} `json:"period"`
	Commands json.RawMessage `json:"commands"`
	Data     json.RawMessage `json:"data"`
}

type v1Meta struct {
	NextPageURL *string `json:"next_page_url"`
}

type simsPage struct {
	SIMs list[SIM] `json:"sims"`
	Meta v1Meta    `json:"meta"`
}

// SIMs lists the account's SIMs, a page at a time.
func (c *Client) SIMs(ctx context.Context, yield func([]SIM) error) error {
	return follow(ctx, c, "list SIMs", "sims", WirelessOrigin+"/v1/Sims", url.Values{"PageSize": {"1000"}},
		unmarshal[simsPage],
		func(p *simsPage) error { return p.SIMs.check("sims") },
		func(p *simsPage) string { return nextURL(p.Meta.NextPageURL) },
		func(p *simsPage) error { return yield(p.SIMs.Items) })
}

type simUsagePage struct {
	UsageRecords list[SIMUsageRecord] `json:"usage_records"`
	Meta         v1Meta               `json:"meta"`
}

// SIMDailyUsage lists a SIM's daily usage records for the periods
// starting in [start, end), a page at a time.
func (c *Client) SIMDailyUsage(ctx context.Context, simSID string, start, end time.Time, pageSize int, yield func([]SIMUsageRecord) error) error {
	first := WirelessOrigin + "/v1/Sims/" + url.PathEscape(simSID) + "/UsageRecords"
	query := url.Values{
		"Start":       {start.UTC().Format(time.RFC3339)},
		"End":         {end.UTC().Format(time.RFC3339)},
		"Granularity": {"daily"},
		"PageSize":    {strconv.Itoa(pageSize)},
	}
	return follow(ctx, c, "list usage of SIM "+simSID, "usage_records", first, query,
		unmarshal[simUsagePage],
		func(p *simUsagePage) error { return p.UsageRecords.check("usage_records") },
		func(p *simUsagePage) string { return nextURL(p.Meta.NextPageURL) },
		func(p *simUsagePage) error { return yield(p.UsageRecords.Items) })
}

func nextURL(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
