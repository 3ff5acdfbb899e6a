package connector

import (
	"context"
	"errors"
	"fmt"

	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

// Check verifies that the credentials can read usage, with a request
// every kind of credential may make, and tells whether subaccounts can be
// listed.
func (c *Connector) Check(ctx context.Context) protocol.ConnectionStatus {
	sid := c.cfg.AccountSID
	if err := c.VerifyCredentials(ctx); err != nil {
		return protocol.ConnectionStatus{Message: explain(err, sid)}
	}
	if !c.cfg.Subaccounts() {
		return protocol.ConnectionStatus{Succeeded: true, Message: fmt.Sprintf("Connected to %s; include_subaccounts is off.", sid)}
	}
	n := 0
	err := c.api.Accounts(ctx, func(page []twilio.Account) error {
		for _, a := range page {
			if a.SID != sid && a.OwnerAccountSID != nil && *a.OwnerAccountSID == sid {
				n++
			}
		}
		return nil
	})
	switch {
	case twilio.IsUnauthorized(err):
		return protocol.ConnectionStatus{Succeeded: true, Message: fmt.Sprintf(
			"Connected to %s, but these credentials may not list subaccounts (a Standard API key cannot read Account resources): "+
				"only the main account's usage will be read. Use a Main API key or the auth token to include subaccounts.", sid)}
	case err != nil:
		return protocol.ConnectionStatus{Message: "Connected, but listing subaccounts failed: " + err.Error()}
	}
	return protocol.ConnectionStatus{Succeeded: true, Message: fmt.Sprintf("Connected to %s; %d subaccounts can be listed.", sid, n)}
}

// explain turns a failed first request into advice a person can act on.
func explain(err error, sid string) string {
	var apiErr *twilio.APIError
	var credErr *CredentialsError
	switch {
	case errors.As(err, &credErr):
		return credErr.Error() + "."
	case twilio.IsNotFound(err):
		return fmt.Sprintf("Twilio has no account %s that these credentials can see (HTTP 404). Check account_sid.", sid)
	case errors.As(err, &apiErr):
		return fmt.Sprintf("Twilio answered an error: %v", err)
	default:
		return fmt.Sprintf("Could not reach Twilio: %v. Check the network, proxies and base_url.", err)
	}
}
