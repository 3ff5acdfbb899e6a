package twilio

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Account is a Twilio account as the connector keeps it. It has no field
// for the auth_token Twilio returns with every account: the decoder
// drops it, so it cannot leak.
type Account struct {
	SID             string  `json:"sid"`
	FriendlyName    *string `json:"friendly_name"`
	Status          *string `json:"status"`
	Type            *string `json:"type"`
	OwnerAccountSID *string `json:"owner_account_sid"`
	DateCreated     RFC2822 `json:"date_created"`
	DateUpdated     RFC2822 `json:"date_updated"`
	URI             *string `json:"uri"`
}

// Account status values.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusClosed    = "closed"
)

// RFC2822 is a 2010 API timestamp ("Tue, 09 May 2023 12:03:47 +0000").
// The zero value is null.
type RFC2822 struct{ time.Time }

// UnmarshalJSON accepts Twilio's RFC 2822 text, RFC 3339, "" or null.
func (t *RFC2822) UnmarshalJSON(b []byte) error {
	v, err := parseTimestamp(b, "neither RFC 2822 nor RFC 3339", time.RFC1123Z, time.RFC1123, time.RFC3339)
	t.Time = v
	return err
}

type accountsPage struct {
	Accounts    list[Account] `json:"accounts"`
	NextPageURI *string       `json:"next_page_uri"`
}

// Accounts lists the accounts the credentials can see (the main account
// and its subaccounts), a page at a time.
func (c *Client) Accounts(ctx context.Context, yield func([]Account) error) error {
	return follow(ctx, c, "list accounts", "accounts", APIOrigin+"/2010-04-01/Accounts.json", url.Values{"PageSize": {"1000"}},
		unmarshal[accountsPage],
		func(p *accountsPage) error { return p.Accounts.check("accounts") },
		func(p *accountsPage) string { return nextURI(p.NextPageURI) },
		func(p *accountsPage) error { return yield(p.Accounts.Items) })
}

// Account fetches one account.
func (c *Client) Account(ctx context.Context, sid string) (Account, error) {
	var a Account
	if err := c.getJSON(ctx, APIOrigin+"/2010-04-01/Accounts/"+url.PathEscape(sid)+".json", nil, &a); err != nil {
		return Account{}, fmt.Errorf("fetch account %s: %w", sid, err)
	}
	return a, nil
}

func nextURI(p *string) string {
	if p == nil || *p == "" {
		return ""
	}
	return absolute(*p)
}
