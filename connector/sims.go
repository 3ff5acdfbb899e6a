package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

// simRecord is a record of the sims stream.
type simRecord struct {
	SID          string     `json:"sid"`
	UniqueName   *string    `json:"unique_name"`
	AccountSID   *string    `json:"account_sid"`
	RatePlanSID  *string    `json:"rate_plan_sid"`
	FriendlyName *string    `json:"friendly_name"`
	ICCID        *string    `json:"iccid"`
	EID          *string    `json:"e_id"`
	Status       *string    `json:"status"`
	DateCreated  *time.Time `json:"date_created"`
	DateUpdated  *time.Time `json:"date_updated"`
	URL          *string    `json:"url"`
}

func (c *Connector) readSIMs(ctx context.Context, r *run, cs catalog.Configured) error {
	sims, err := r.listSIMs(ctx)
	if err != nil {
		return err
	}
	rows := make([]json.RawMessage, 0, len(sims))
	for _, s := range sims {
		row, err := json.Marshal(simRecord{
			SID:          s.SID,
			UniqueName:   s.UniqueName,
			AccountSID:   s.AccountSID,
			RatePlanSID:  s.RatePlanSID,
			FriendlyName: s.FriendlyName,
			ICCID:        s.ICCID,
			EID:          s.EID,
			Status:       s.Status,
			DateCreated:  timeOrNil(s.DateCreated.Time),
			DateUpdated:  timeOrNil(s.DateUpdated.Time),
			URL:          s.URL,
		})
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	return r.emit.checkpoint(cs.Stream.Name, rows, nil, nil, emptyState, false)
}

// listSIMs returns the account's SIMs once per run: the sims stream and
// the SIM usage partitions share it. A wireless service that answers 404
// or 401 (no Wireless on this account, or a fleet moved to KORE) makes
// the wireless streams unavailable, not the read fail.
func (r *run) listSIMs(ctx context.Context) ([]twilio.SIM, error) {
	r.simsOnce.Do(func() {
		err := r.conn.api.SIMs(ctx, func(page []twilio.SIM) error {
			r.sims = append(r.sims, page...)
			return nil
		})
		if twilio.IsNotFound(err) || twilio.IsUnauthorized(err) {
			err = fmt.Errorf("%w: Twilio Wireless refused to list SIMs for %s (%v); "+
				"the account has no Twilio Wireless SIMs these credentials can read, or its fleet moved to KORE",
				errStreamUnavailable, r.conn.cfg.AccountSID, err)
		}
		r.simsErr = err
	})
	return r.sims, r.simsErr
}
