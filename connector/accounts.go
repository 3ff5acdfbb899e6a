package connector

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	fastjson "github.com/goccy/go-json"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// account is an account of the read: the main one or a subaccount.
type account struct {
	twilio.Account
	IsMain bool
	// FromConfig marks the main account when Twilio would not describe it
	// (a Standard API key may not read Account resources).
	FromConfig bool
}

// Accounts is the accounts stream: the main account and its subaccounts,
// listed whole by every read.
const Accounts = "accounts"

var accountsStream = Stream{
	Stream: catalog.Stream{
		Name:       Accounts,
		Schema:     catalog.Schema(Accounts),
		PrimaryKey: []string{"sid"},
		SyncModes:  []catalog.SyncMode{catalog.FullRefresh},
	},
	read:      (*Connector).readAccounts,
	Tables:    []warehouse.Table{accountsTable.Table},
	Normalize: normalizeAccount,
	Replace:   ReplaceSnapshot,
}

// accountRecord is a record of the accounts stream: what `read` writes
// and what the loader reads back.
type accountRecord struct {
	SID             string  `json:"sid"`
	FriendlyName    *string `json:"friendly_name"`
	DisplayName     *string `json:"display_name"`
	Status          *string `json:"status"`
	Type            *string `json:"type"`
	OwnerAccountSID *string `json:"owner_account_sid"`
	DateCreated     *string `json:"date_created"`
	DateUpdated     *string `json:"date_updated"`
	URI             *string `json:"uri"`
	IsMain          bool    `json:"is_main"`
}

// accountRow is a row of twilio_accounts.
type accountRow struct {
	SID, Parent, Main                       string
	FriendlyName, DisplayName, Status, Type transforms.NullString
	IsMain                                  bool
	Created, Updated                        transforms.NullTimestamp
}

// AccountsTable is the table of the accounts stream: the names the cost
// model's rows carry come from it.
const AccountsTable = "twilio_accounts"

var accountsTable = transforms.NewTableDef(warehouse.Table{
	Name:  AccountsTable,
	Key:   []string{"account_sid"},
	Group: []string{"account_sid"},
},
	transforms.StringColumn("account_sid", func(r *accountRow) string { return r.SID }),
	transforms.OptionalString("parent_account_sid", func(r *accountRow) string { return r.Parent }),
	transforms.NullStringColumn("friendly_name", func(r *accountRow) transforms.NullString { return r.FriendlyName }),
	transforms.NullStringColumn("display_name", func(r *accountRow) transforms.NullString { return r.DisplayName }),
	transforms.NullStringColumn("status", func(r *accountRow) transforms.NullString { return r.Status }),
	transforms.NullStringColumn("type", func(r *accountRow) transforms.NullString { return r.Type }),
	transforms.BoolColumn("is_main", func(r *accountRow) bool { return r.IsMain }),
	transforms.NullTimestampColumn("created_at", func(r *accountRow) transforms.NullTimestamp { return r.Created }),
	transforms.NullTimestampColumn("updated_at", func(r *accountRow) transforms.NullTimestamp { return r.Updated }),
	transforms.OptionalString(MainAccountColumn, func(r *accountRow) string { return r.Main }),
)

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
			DateCreated:     timeText(a.DateCreated.Time),
			DateUpdated:     timeText(a.DateUpdated.Time),
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

// normalizeAccount loads an accounts record, and tells the usage of the
// run which account bills it: its parent, else itself when it is the main
// account of the read.
//
// The parent is the record's owner_account_sid when that is another
// account (a subaccount, also one read with its own auth token, which
// Twilio describes with its owner). A record without one (the configured
// account of a Standard API key, which may not read Account resources)
// keeps the parent known before the run: a subaccount connected with its
// own key, whose parent's connection listed it, is billed to its parent
// whichever connection loads it, so its usage is never counted under two
// billing accounts. is_main in the table means a main (billing) account:
// one without a parent.
func normalizeAccount(n *transforms.Normalizer, data []byte) (transforms.GroupKey, error) {
	var in accountRecord
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: Accounts, Key: "sid=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f transforms.Fields
	f.Required("sid", in.SID)
	row := accountRow{
		SID: in.SID, IsMain: in.IsMain,
		FriendlyName: transforms.Str(in.FriendlyName), DisplayName: transforms.Str(in.DisplayName),
		Status: transforms.Str(in.Status), Type: transforms.Str(in.Type),
		Created: f.Timestamp("date_created", in.DateCreated),
		Updated: f.Timestamp("date_updated", in.DateUpdated),
	}
	if err := f.Err(); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: Accounts, Key: "sid=" + in.SID, Err: err}
	}
	switch {
	case in.OwnerAccountSID != nil && *in.OwnerAccountSID != "":
		if *in.OwnerAccountSID != in.SID {
			row.Parent = *in.OwnerAccountSID
		}
	case in.IsMain:
		row.Parent = n.KnownParent(in.SID)
	}
	row.IsMain = in.IsMain && row.Parent == ""
	billing := row.Parent
	if in.IsMain {
		n.NoteMain(in.SID)
		billing = cmp.Or(row.Parent, in.SID)
	}
	row.Main = n.Main()
	n.NoteAccount(transforms.AccountName{SID: in.SID, Name: cmp.Or(row.DisplayName.S, row.FriendlyName.S), Parent: row.Parent}, billing)
	n.Supersede("a", in.SID)
	n.Keep(transforms.RowsOf(n, accountsTable).Append(&row))
	return transforms.GroupKey{Stream: Accounts, SID: in.SID}, nil
}

func emptyState() json.RawMessage { return json.RawMessage(`{}`) }

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// timeText is t as a record carries it (RFC 3339, as encoding/json writes
// a time.Time), or nil for the zero time.
func timeText(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.Format(time.RFC3339Nano)
	return &s
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
