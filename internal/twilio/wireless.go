package twilio

import (
	"context"
	"encoding/json"
	"fmt"
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
	SIMs []SIM  `json:"sims"`
	Meta v1Meta `json:"meta"`
}

// SIMs lists the account's SIMs, a page at a time.
func (c *Client) SIMs(ctx context.Context, yield func([]SIM) error) error {
	next := WirelessOrigin + "/v1/Sims"
	query := url.Values{"PageSize": {"1000"}}
	for next != "" {
		var page simsPage
		if err := c.getJSON(ctx, next, query, &page); err != nil {
			return fmt.Errorf("list SIMs: %w", err)
		}
		if err := yield(page.SIMs); err != nil {
			return err
		}
		next, query = nextURL(page.Meta.NextPageURL), nil
	}
	return nil
}

type simUsagePage struct {
	UsageRecords []SIMUsageRecord `json:"usage_records"`
	Meta         v1Meta           `json:"meta"`
}

// SIMDailyUsage lists a SIM's daily usage records for the periods
// starting in [start, end), a page at a time.
func (c *Client) SIMDailyUsage(ctx context.Context, simSID string, start, end time.Time, pageSize int, yield func([]SIMUsageRecord) error) error {
	next := WirelessOrigin + "/v1/Sims/" + url.PathEscape(simSID) + "/UsageRecords"
	query := url.Values{
		"Start":       {start.UTC().Format(time.RFC3339)},
		"End":         {end.UTC().Format(time.RFC3339)},
		"Granularity": {"daily"},
		"PageSize":    {strconv.Itoa(pageSize)},
	}
	for next != "" {
		var page simUsagePage
		if err := c.getJSON(ctx, next, query, &page); err != nil {
			return fmt.Errorf("list usage of SIM %s: %w", simSID, err)
		}
		if err := yield(page.UsageRecords); err != nil {
			return err
		}
		next, query = nextURL(page.Meta.NextPageURL), nil
	}
	return nil
}

func nextURL(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
