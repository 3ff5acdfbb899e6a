package twilio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// SuperSIMOrigin is Twilio's Super SIM API, its current IoT product.
const SuperSIMOrigin = "https://supersim.twilio.com"

// Sample is the first page of a listing: what it held, and whether more
// pages follow. It tells what credentials can see without reading a
// whole fleet.
type Sample struct {
	N    int  // items on the first page
	More bool // a next page exists
}

// SampleSIMs reads the first page of the account's Twilio Wireless SIMs.
func (c *Client) SampleSIMs(ctx context.Context, pageSize int) (Sample, error) {
	s, err := c.sample(ctx, WirelessOrigin+"/v1/Sims", pageSize)
	if err != nil {
		return Sample{}, fmt.Errorf("list SIMs: %w", err)
	}
	return s, nil
}

// SampleSuperSIMs reads the first page of the account's Super SIMs.
func (c *Client) SampleSuperSIMs(ctx context.Context, pageSize int) (Sample, error) {
	s, err := c.sample(ctx, SuperSIMOrigin+"/v1/Sims", pageSize)
	if err != nil {
		return Sample{}, fmt.Errorf("list Super SIMs: %w", err)
	}
	return s, nil
}

// sample reads the first page of a v1 listing of SIMs.
func (c *Client) sample(ctx context.Context, rawURL string, pageSize int) (Sample, error) {
	var page struct {
		SIMs list[json.RawMessage] `json:"sims"`
		Meta v1Meta                `json:"meta"`
	}
	err := c.getDecoded(ctx, rawURL, url.Values{"PageSize": {strconv.Itoa(pageSize)}}, func(body []byte) error {
		page.SIMs, page.Meta = list[json.RawMessage]{}, v1Meta{}
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		return page.SIMs.check("sims")
	})
	if err != nil {
		return Sample{}, err
	}
	return Sample{N: len(page.SIMs.Items), More: nextURL(page.Meta.NextPageURL) != ""}, nil
}
