package connector

import (
	"context"
	"encoding/json"
	"fmt"

	fastjson "github.com/goccy/go-json"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// SIMs is the sims stream: the account's Programmable Wireless SIMs,
// listed whole by every read.
const SIMs = "sims"

var simsStream = Stream{
	Stream: catalog.Stream{
		Name:       SIMs,
		Schema:     catalog.Schema(SIMs),
		PrimaryKey: []string{"sid"},
		SyncModes:  []catalog.SyncMode{catalog.FullRefresh},
	},
	read:      (*Connector).readSIMs,
	Tables:    []warehouse.Table{simsTable.Table},
	Normalize: normalizeSIM,
	Replace:   ReplaceSnapshot,
}

// simRecord is a record of the sims stream: what `read` writes and the
// loader reads back.
type simRecord struct {
	SID          string  `json:"sid"`
	UniqueName   *string `json:"unique_name"`
	AccountSID   *string `json:"account_sid"`
	RatePlanSID  *string `json:"rate_plan_sid"`
	FriendlyName *string `json:"friendly_name"`
	ICCID        *string `json:"iccid"`
	EID          *string `json:"e_id"`
	Status       *string `json:"status"`
	DateCreated  *string `json:"date_created"`
	DateUpdated  *string `json:"date_updated"`
	URL          *string `json:"url"`
}

// simRow is a row of twilio_sims.
type simRow struct {
	SID, Main                                                          string
	AccountSID, UniqueName, FriendlyName, ICCID, EID, RatePlan, Status transforms.NullString
	Created, Updated                                                   transforms.NullTimestamp
}

// SIMsTable is the table of the sims stream.
const SIMsTable = "twilio_sims"

var simsTable = transforms.NewTableDef(warehouse.Table{
	Name:  SIMsTable,
	Key:   []string{"sim_sid"},
	Group: []string{"sim_sid"},
},
	transforms.StringColumn("sim_sid", func(r *simRow) string { return r.SID }),
	transforms.NullStringColumn("account_sid", func(r *simRow) transforms.NullString { return r.AccountSID }),
	transforms.NullStringColumn("unique_name", func(r *simRow) transforms.NullString { return r.UniqueName }),
	transforms.NullStringColumn("friendly_name", func(r *simRow) transforms.NullString { return r.FriendlyName }),
	transforms.NullStringColumn("iccid", func(r *simRow) transforms.NullString { return r.ICCID }),
	transforms.NullStringColumn("e_id", func(r *simRow) transforms.NullString { return r.EID }),
	transforms.NullStringColumn("rate_plan_sid", func(r *simRow) transforms.NullString { return r.RatePlan }),
	transforms.NullStringColumn("status", func(r *simRow) transforms.NullString { return r.Status }),
	transforms.NullTimestampColumn("created_at", func(r *simRow) transforms.NullTimestamp { return r.Created }),
	transforms.NullTimestampColumn("updated_at", func(r *simRow) transforms.NullTimestamp { return r.Updated }),
	transforms.OptionalString(MainAccountColumn, func(r *simRow) string { return r.Main }),
)

// normalizeSIM loads a sims record.
func normalizeSIM(n *transforms.Normalizer, data []byte) (transforms.GroupKey, error) {
	var in simRecord
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: SIMs, Key: "sid=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f transforms.Fields
	f.Required("sid", in.SID)
	row := simRow{
		SID: in.SID, AccountSID: transforms.Str(in.AccountSID), UniqueName: transforms.Str(in.UniqueName),
		FriendlyName: transforms.Str(in.FriendlyName), ICCID: transforms.Str(in.ICCID), EID: transforms.Str(in.EID),
		RatePlan: transforms.Str(in.RatePlanSID), Status: transforms.Str(in.Status),
		Created: f.Timestamp("date_created", in.DateCreated),
		Updated: f.Timestamp("date_updated", in.DateUpdated),
		Main:    n.Main(),
	}
	if err := f.Err(); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: SIMs, Key: "sid=" + in.SID, Err: err}
	}
	n.Supersede("s", in.SID)
	n.Keep(transforms.RowsOf(n, simsTable).Append(&row))
	return transforms.GroupKey{Stream: SIMs, SID: in.SID}, nil
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
			DateCreated:  timeText(s.DateCreated.Time),
			DateUpdated:  timeText(s.DateUpdated.Time),
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
