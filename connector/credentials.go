package connector

import (
	"context"
	"fmt"

	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

// CredentialsError is Twilio refusing the configured credentials outright:
// a 401 (error 20003) to a request every kind of credential may make, so
// the credentials are wrong, not merely limited (as a Standard API key
// is for Account resources). Nothing of the run may be kept.
type CredentialsError struct {
	AccountSID string
	Err        error
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("Twilio rejected the credentials for %s (HTTP 401, error 20003): "+
		"check account_sid and the auth token, or the API key SID and secret; an API key must belong to this account",
		e.AccountSID)
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// VerifyCredentials asks Twilio for one usage record of the main account
// today: a request every kind of credential may make, a Standard API key
// included. A 401 there is a *CredentialsError; a 404 is a *ConfigError
// (no such account for these credentials). A success is remembered, so
// a later Read does not ask again.
//
// It is the one request that tells wrong credentials from a Standard key:
// the accounts stream falls back to the configured account only after it
// succeeded.
func (c *Connector) VerifyCredentials(ctx context.Context) error {
	if c.verified.Load() {
		return nil
	}
	sid := c.cfg.AccountSID
	err := c.api.UsageToday(ctx, sid)
	switch {
	case err == nil:
		c.verified.Store(true)
		return nil
	case twilio.IsUnauthorized(err):
		return &CredentialsError{AccountSID: sid, Err: err}
	case twilio.IsNotFound(err):
		return &ConfigError{Err: fmt.Errorf("Twilio has no account %s that these credentials can see (HTTP 404): check account_sid: %w", sid, err)}
	}
	return err
}
