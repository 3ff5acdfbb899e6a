package connector

import (
	"context"
	"encoding/json"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

// account is an account of the read: the main one or a subaccount.
type account struct {
	twilio.Account
	IsMain bool
	// FromConfig marks the main account when Twilio would not describe it
	// (a Standard API key may not read Account resources).
	FromConfig bool
}

// accountRecord is a record of the accounts stream.
type accountRecord struct {
	SID             string     `json:"sid"`
	FriendlyName    *string    `json:"friendly_name"`
	DisplayName     *string    `json:"display_name"`
	Status          *string    `json:"status"`
	Type            *string    `json:"type"`
	OwnerAccountSID *string    `json:"owner_account_sid"`
	DateCreated     *time.Time `json:"date_created"`
	DateUpdated     *time.Time `json:"date_updated"`
	URI             *string    `json:"uri"`
	IsMain          bool       `json:"is_main"`
}

func (c *Connector) readAccounts(ctx context.Context, r *run, cs catalog.Configured) error {
	accounts, err := r.listAccounts(ctx)
	if err != nil {
		return err
	}
	rows := make([]json.RawMessage, 0, len(accounts))
	for _, a := range accounts {
		rec := accountRecord{
			SID:             a.SID,
			FriendlyName:    a.FriendlyName,
			DisplayName:     a.FriendlyName,
			Status:          a.Status,
			Type:            a.Type,
			OwnerAccountSID: a.OwnerAccountSID,
			DateCreated:     timeOrNil(a.DateCreated.Time),
			DateUpdated:     timeOrNil(a.DateUpdated.Time),
			URI:             a.URI,
			IsMain:          a.IsMain,
		}
		if a.IsMain && c.cfg.AccountName != "" {
			rec.DisplayName = &c.cfg.AccountName
		}
		row, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	return r.emit.checkpoint(cs.Stream.Name, rows, nil, nil, emptyState, false)
}

func emptyState() json.RawMessage { return json.RawMessage(`{}`) }

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// listAccounts returns the accounts of the read, main first, once per
// run: the accounts stream and the usage partitions share it.
func (r *run) listAccounts(ctx context.Context) ([]account, error) {
	r.accountsOnce.Do(func() { r.accounts, r.accountsErr = r.conn.fetchAccounts(ctx) })
	return r.accounts, r.accountsErr
}

func (c *Connector) fetchAccounts(ctx context.Context) ([]account, error) {
	mainSID := c.cfg.AccountSID
	// Read verified the credentials with a request a Standard API key may
	// make: a 401 here is a key that may read usage but not Account
	// resources. One more such request makes sure the credentials were not
	// revoked in between: only then does the configured account stand in.
	fromConfig := func(err error) ([]account, error) {
		if uerr := c.api.UsageToday(ctx, mainSID); twilio.IsUnauthorized(uerr) {
			return nil, &CredentialsError{AccountSID: mainSID, Err: uerr}
		}
		c.log.Warn("these credentials may read usage but not Account resources (a Standard API key); "+
			"the accounts stream holds only the configured account, and subaccounts are not read",
			"account_sid", mainSID, "error", err.Error())
		return []account{{Account: twilio.Account{SID: mainSID}, IsMain: true, FromConfig: true}}, nil
	}
	if !c.cfg.Subaccounts() {
		a, err := c.api.Account(ctx, mainSID)
		if twilio.IsUnauthorized(err) {
			return fromConfig(err)
		}
		if err != nil {
			return nil, err
		}
		return []account{{Account: a, IsMain: true}}, nil
	}
	var main *account
	var subs []account
	err := c.api.Accounts(ctx, func(page []twilio.Account) error {
		for _, a := range page {
			switch {
			case a.SID == mainSID:
				main = &account{Account: a, IsMain: true}
			case a.OwnerAccountSID != nil && *a.OwnerAccountSID == mainSID:
				subs = append(subs, account{Account: a})
			}
		}
		return nil
	})
	if twilio.IsUnauthorized(err) {
		return fromConfig(err)
	}
	if err != nil {
		return nil, err
	}
	if main == nil {
		// Listed as a subaccount's credentials, or the main account is
		// missing from the list: fetch it directly.
		a, err := c.api.Account(ctx, mainSID)
		if err != nil {
			return nil, err
		}
		main = &account{Account: a, IsMain: true}
	}
	return append([]account{*main}, subs...), nil
}
