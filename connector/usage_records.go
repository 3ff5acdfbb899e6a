package connector

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// UsageRecords is the usage_records stream: each account's daily usage
// per category, read per account (IncludeSubaccounts=false, so nothing is
// counted twice), incremental on the day.
const UsageRecords = "usage_records"

var usageRecordsStream = Stream{
	Stream: catalog.Stream{
		Name:         UsageRecords,
		Schema:       catalog.Schema(UsageRecords),
		PrimaryKey:   []string{"account_sid", "category", "start_date"},
		Cursor:       "start_date",
		SyncModes:    []catalog.SyncMode{catalog.FullRefresh, catalog.Incremental},
		PartitionKey: "account_sid",
	},
	Cursor:    usageCursor,
	read:      (*Connector).readUsageRecords,
	Tables:    []warehouse.Table{transforms.UsageTable.Table},
	Normalize: normalizeUsage,
	Replace:   ReplaceDayOfMany,
	Costed:    true,
}

// usageCursor: Twilio answers a Daily.json range of up to a month
// reliably.
var usageCursor = &CursorPolicy{Layout: time.DateOnly, WindowDays: 31}

// Pages are of Twilio's maximum size.
const usagePageSize = 1000

// usageRecord is a record of the usage_records stream: the API's fields,
// with count, usage and price as exact JSON numbers. `read` writes it and
// the loader reads it back (normalizeUsage).
type usageRecord struct {
	AccountSID  string            `json:"account_sid"`
	Category    string            `json:"category"`
	Description *string           `json:"description"`
	StartDate   string            `json:"start_date"`
	EndDate     *string           `json:"end_date"`
	Count       transforms.Number `json:"count"`
	CountUnit   *string           `json:"count_unit"`
	Usage       transforms.Number `json:"usage"`
	UsageUnit   *string           `json:"usage_unit"`
	Price       transforms.Number `json:"price"`
	PriceUnit   *string           `json:"price_unit"`
	AsOf        *time.Time        `json:"as_of"`
	URI         *string           `json:"uri"`
}

// usagePartition is one account's share of the usage_records stream.
type usagePartition struct {
	sid   string
	first time.Time // first day to read
	last  time.Time // last day to read
}

func (c *Connector) readUsageRecords(ctx context.Context, r *run, cs catalog.Configured) error {
	name := cs.Stream.Name
	accounts, err := r.listAccounts(ctx)
	if err != nil {
		return err
	}
	st := r.states[name]
	incremental := cs.SyncMode == catalog.Incremental
	policy := usageCursor
	floor, _ := policy.Floor(c.cfg.Start(), r.today)
	lookback := policy.Lookback(c.cfg.Lookback())

	var parts []usagePartition
	for _, a := range accounts {
		p := usagePartition{
			sid:   a.SID,
			first: policy.Start(st, a.SID, floor, lookback, incremental),
			last:  r.today,
		}
		if !a.IsMain && a.Status != nil && *a.Status == twilio.StatusClosed {
			// A closed subaccount accrues nothing after it closed.
			closed := utcDay(a.DateUpdated.Time)
			if a.DateUpdated.IsZero() || closed.Before(p.first) {
				c.log.Info("skipping closed subaccount", "account_sid", a.SID)
				continue
			}
			p.last = closed
			if incremental && policy.Settled(st, a.SID, closed, r.today, lookback) {
				continue
			}
		}
		if p.first.After(p.last) {
			// A cursor in the future: nothing to read, and nothing to undo.
			c.log.Info("usage is up to date", "account_sid", a.SID, "cursor_start", p.first.Format(time.DateOnly))
			continue
		}
		parts = append(parts, p)
	}

	u := &usageRead{conn: c, r: r, name: name, st: st, throttled: len(parts) > manyPartitions}
	for _, p := range parts {
		u.days += window{p.first, p.last}.days()
	}
	windowsOf := func(p usagePartition) []window { return policy.Windows(p.first, p.last) }
	err = forEachWindow(ctx, partitionWorkers(c.cfg.Concurrency()), parts, windowsOf, u.readPartitionWindow)
	if err != nil {
		return err
	}
	return r.emit.checkpoint(name, nil, nil, nil, u.blob, false)
}

// usageRead is one read of the usage_records stream.
type usageRead struct {
	conn *Connector
	r    *run
	name string
	st   *state.Stream

	throttled    bool // many partitions: STATEs are spaced out
	estimateOnce sync.Once
	days         int // days to read over every partition, for the estimate
}

func (u *usageRead) blob() json.RawMessage { return u.st.Airbyte() }

// readPartitionWindow reads one window of one account and hands it over
// in its turn.
func (u *usageRead) readPartitionWindow(ctx context.Context, r windowRead[usagePartition]) (bool, error) {
	p, w := r.part, r.w
	var (
		rows  []json.RawMessage
		arena *rowArena
	)
	err := u.conn.withinWindowDeadline(ctx, func(ctx context.Context) error {
		var err error
		rows, arena, err = u.readWindow(ctx, p.sid, w)
		return err
	})
	if !r.waitTurn() {
		// An earlier window failed or ended the partition: the cursor
		// must not move past it.
		if arena != nil {
			arena.free()
		}
		return false, nil
	}
	if err != nil {
		if !u.isMain(p.sid) && (twilio.IsNotFound(err) || twilio.IsUnauthorized(err)) {
			u.conn.log.Warn("skipping subaccount whose usage Twilio will not show", "account_sid", p.sid, "error", err.Error())
			reason := "Twilio answers 404 for its usage"
			if twilio.IsUnauthorized(err) {
				reason = "Twilio answers 401 for its usage"
			}
			u.conn.skip(Skipped{Stream: u.name, Partition: p.sid, Reason: reason})
			return false, nil
		}
		return false, fmt.Errorf("read usage of %s from %s to %s: %w", p.sid,
			w.first.Format(time.DateOnly), w.last.Format(time.DateOnly), err)
	}
	if len(rows) > 0 {
		// The first window with data tells how many rows a day brings.
		u.estimateOnce.Do(func() {
			u.r.emit.estimate(u.name, int64(len(rows))*int64(u.days)/int64(w.days()))
		})
	}
	advance := func() { usageCursor.Advance(u.st, p.sid, w.last, u.r.today) }
	if err := u.r.emit.checkpoint(u.name, rows, arena, advance, u.blob, u.throttled); err != nil {
		return false, err
	}
	return true, nil
}

func (u *usageRead) isMain(sid string) bool { return sid == u.conn.cfg.AccountSID }

// readWindow reads one window of one account. The rows live in the arena.
// Each page is retried by the client's retry policy (package twilio),
// the only one: a page that still fails fails the window.
func (u *usageRead) readWindow(ctx context.Context, sid string, w window) ([]json.RawMessage, *rowArena, error) {
	var rows []json.RawMessage
	arena := new(rowArena)
	err := u.conn.api.DailyUsage(ctx, sid, w.first, w.last, usagePageSize, func(page []twilio.UsageRecord) error {
		for _, in := range page {
			if in.AccountSID != sid {
				return fmt.Errorf("Twilio returned usage of account %s when asked for %s only; refusing to double count", in.AccountSID, sid)
			}
			rec := usageRecord{
				AccountSID:  in.AccountSID,
				Category:    in.Category,
				Description: in.Description,
				StartDate:   in.StartDate,
				EndDate:     in.EndDate,
				Count:       transforms.Number(in.Count.String()),
				CountUnit:   in.CountUnit,
				Usage:       transforms.Number(in.Usage.String()),
				UsageUnit:   in.UsageUnit,
				Price:       transforms.Number(in.Price.String()),
				PriceUnit:   in.PriceUnit,
				AsOf:        timeOrNil(in.AsOf.Time),
				URI:         in.URI,
			}
			rows = append(rows, arena.add(rec.appendJSON))
		}
		return nil
	})
	if err != nil {
		arena.free()
		return nil, nil, err
	}
	return rows, arena, nil
}

// normalizeUsage loads a usage record into twilio_usage_daily. A record
// whose count, usage and price are all zero adds no row (Twilio returns
// every category every day; Options.KeepZeroRows keeps them), but still
// supersedes an earlier record of its key and replaces its day.
func normalizeUsage(n *transforms.Normalizer, data []byte) (transforms.GroupKey, error) {
	var f transforms.Fields
	in, err := n.Parse(data, &f)
	if err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: UsageRecords, Key: "account_sid=?, category=?, start_date=?", Err: fmt.Errorf("decode: %w", err)}
	}
	sid, category, start := in.String("account_sid"), in.String("category"), in.String("start_date")
	f.Required("account_sid", sid)
	f.Required("category", category)
	row := transforms.UsageRow{
		Date:        f.Date("start_date", start),
		AccountSID:  sid,
		Category:    category,
		Description: in.NullString("description"),
		Count:       in.Decimal("count"),
		CountUnit:   in.NullString("count_unit"),
		Usage:       in.Decimal("usage"),
		UsageUnit:   in.NullString("usage_unit"),
		Price:       in.Decimal("price"),
		AsOf:        in.Timestamp("as_of"),
	}
	if unit := in.NullString("price_unit"); unit.Valid {
		row.Currency = f.Currency("price_unit", &unit.S)
	}
	if err := f.Err(); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{
			Stream: UsageRecords,
			Key:    fmt.Sprintf("account_sid=%s, category=%s, start_date=%s", sid, category, start),
			Err:    err,
		}
	}
	k := transforms.GroupKey{Stream: UsageRecords, SID: sid, Day: row.Date, Item: category}
	var day [4]byte
	binary.LittleEndian.PutUint32(day[:], uint32(row.Date))
	n.Supersede("u", sid, string(day[:]), category)
	n.NoteCategory(category)
	if !n.Options().KeepZeroRows && row.Count.IsZero() && row.Usage.IsZero() && row.Price.IsZero() {
		return k, nil
	}
	row.BillingAccountSID = n.Billing(sid)
	n.Keep(transforms.RowsOf(n, transforms.UsageTable).Append(&row))
	return k, nil
}
