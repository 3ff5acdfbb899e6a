package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	fastjson "github.com/goccy/go-json"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// SuperSIMs is the super_sims stream: the account's Super SIMs (Twilio's
// current IoT product, https://supersim.twilio.com/v1/Sims), listed whole
// by every read. A SIM's fleet here is its fleet now; the fleet it was in
// when it used data is on its usage records when Twilio sends it.
const SuperSIMs = "super_sims"

var superSIMsStream = Stream{
	Stream: catalog.Stream{
		Name:       SuperSIMs,
		Schema:     catalog.Schema(SuperSIMs),
		PrimaryKey: []string{"sid"},
		SyncModes:  []catalog.SyncMode{catalog.FullRefresh},
	},
	read:      (*Connector).readSuperSIMs,
	Tables:    []warehouse.Table{superSIMsTable.Table},
	Normalize: normalizeSuperSIM,
	Replace:   ReplaceSnapshot,
}

// superSIMPageSize is Twilio's maximum page.
const superSIMPageSize = 1000

// superSIMRecord is a record of the super_sims stream: what `read` writes
// and the loader reads back.
type superSIMRecord struct {
	SID         string  `json:"sid"`
	AccountSID  *string `json:"account_sid"`
	UniqueName  *string `json:"unique_name"`
	Status      *string `json:"status"`
	FleetSID    *string `json:"fleet_sid"`
	ICCID       *string `json:"iccid"`
	DateCreated *string `json:"date_created"`
	DateUpdated *string `json:"date_updated"`
	URL         *string `json:"url"`
}

// superSIMRow is a row of twilio_super_sims.
type superSIMRow struct {
	SID, Main                                       string
	AccountSID, UniqueName, Status, FleetSID, ICCID transforms.NullString
	Created, Updated                                transforms.NullTimestamp
}

var superSIMsTable = transforms.NewTableDef(warehouse.Table{
	Name:  "twilio_super_sims",
	Key:   []string{"sim_sid"},
	Group: []string{"sim_sid"},
},
	transforms.StringColumn("sim_sid", func(r *superSIMRow) string { return r.SID }),
	transforms.NullStringColumn("account_sid", func(r *superSIMRow) transforms.NullString { return r.AccountSID }),
	transforms.NullStringColumn("unique_name", func(r *superSIMRow) transforms.NullString { return r.UniqueName }),
	transforms.NullStringColumn("status", func(r *superSIMRow) transforms.NullString { return r.Status }),
	transforms.NullStringColumn("fleet_sid", func(r *superSIMRow) transforms.NullString { return r.FleetSID }),
	transforms.NullStringColumn("iccid", func(r *superSIMRow) transforms.NullString { return r.ICCID }),
	transforms.NullTimestampColumn("created_at", func(r *superSIMRow) transforms.NullTimestamp { return r.Created }),
	transforms.NullTimestampColumn("updated_at", func(r *superSIMRow) transforms.NullTimestamp { return r.Updated }),
	transforms.OptionalString(MainAccountColumn, func(r *superSIMRow) string { return r.Main }),
)

// normalizeSuperSIM loads a super_sims record.
func normalizeSuperSIM(n *transforms.Normalizer, data []byte) (transforms.GroupKey, error) {
	var in superSIMRecord
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: SuperSIMs, Key: "sid=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f transforms.Fields
	f.Required("sid", in.SID)
	row := superSIMRow{
		SID: in.SID, AccountSID: transforms.Str(in.AccountSID), UniqueName: transforms.Str(in.UniqueName),
		Status: transforms.Str(in.Status), FleetSID: transforms.Str(in.FleetSID), ICCID: transforms.Str(in.ICCID),
		Created: f.Timestamp("date_created", in.DateCreated),
		Updated: f.Timestamp("date_updated", in.DateUpdated),
		Main:    n.Main(),
	}
	if err := f.Err(); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: SuperSIMs, Key: "sid=" + in.SID, Err: err}
	}
	n.Supersede(SuperSIMs, in.SID)
	n.Keep(transforms.RowsOf(n, superSIMsTable).Append(&row))
	return transforms.GroupKey{Stream: SuperSIMs, SID: in.SID}, nil
}

func (c *Connector) readSuperSIMs(ctx context.Context, r *run, cs catalog.Configured) error {
	var rows []json.RawMessage
	err := c.api.SuperSIMs(ctx, superSIMPageSize, func(page []twilio.SuperSIM) error {
		for _, s := range page {
			row, err := json.Marshal(superSIMRecord{
				SID:         s.SID,
				AccountSID:  s.AccountSID,
				UniqueName:  s.UniqueName,
				Status:      s.Status,
				FleetSID:    s.FleetSID,
				ICCID:       s.ICCID,
				DateCreated: timeText(s.DateCreated.Time),
				DateUpdated: timeText(s.DateUpdated.Time),
				URL:         s.URL,
			})
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		return nil
	})
	if err != nil {
		return superSIMUnavailable(err, c.cfg.AccountSID)
	}
	return r.emit.checkpoint(cs.Stream.Name, rows, nil, nil, emptyState, false)
}

// superSIMUnavailable turns Twilio refusing the Super SIM API (404: the
// account has no Super SIM; 401 or 403: these credentials may not read
// it) into errStreamUnavailable: the stream ends INCOMPLETE with a
// warning, and the read goes on. Any other error is returned as it is.
func superSIMUnavailable(err error, account string) error {
	var apiErr *twilio.APIError
	refused := twilio.IsNotFound(err) || twilio.IsUnauthorized(err) ||
		errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden
	if !refused {
		return err
	}
	return fmt.Errorf("%w: Twilio's Super SIM API refused %s (%v); "+
		"the account has no Super SIM these credentials can read", errStreamUnavailable, account, err)
}
