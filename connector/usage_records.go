package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

// Usage windows: Twilio answers a Daily.json range of up to a month
// reliably, in pages of Twilio's maximum size.
const (
	usageWindowDays = 31
	usagePageSize   = 1000
)

// usageRecord is a record of the usage_records stream: the API's fields,
// with count, usage and price as exact JSON numbers.
type usageRecord struct {
	AccountSID  string         `json:"account_sid"`
	Category    string         `json:"category"`
	Description *string        `json:"description"`
	StartDate   string         `json:"start_date"`
	EndDate     *string        `json:"end_date"`
	Count       twilio.Decimal `json:"count"`
	CountUnit   *string        `json:"count_unit"`
	Usage       twilio.Decimal `json:"usage"`
	UsageUnit   *string        `json:"usage_unit"`
	Price       twilio.Decimal `json:"price"`
	PriceUnit   *string        `json:"price_unit"`
	AsOf        *time.Time     `json:"as_of"`
	URI         *string        `json:"uri"`
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
	floor := c.cfg.Start()

	var parts []usagePartition
	for _, a := range accounts {
		p := usagePartition{
			sid:   a.SID,
			first: partitionStart(st, a.SID, time.DateOnly, floor, c.cfg.Lookback(), incremental),
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
			if incremental && settled(st, a.SID, time.DateOnly, closed, r.today, c.cfg.Lookback()) {
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
	windowsOf := func(p usagePartition) []window { return windows(p.first, p.last, usageWindowDays) }
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
	rows, arena, err := u.readWindow(ctx, p.sid, w)
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
	// The cursor never passes the last complete UTC day: today's rows
	// are still filling in and will be read again.
	complete := w.last
	if yesterday := u.r.today.AddDate(0, 0, -1); complete.After(yesterday) {
		complete = yesterday
	}
	if len(rows) > 0 {
		// The first window with data tells how many rows a day brings.
		u.estimateOnce.Do(func() {
			u.r.emit.estimate(u.name, int64(len(rows))*int64(u.days)/int64(w.days()))
		})
	}
	advance := func() { advanceCursor(u.st, p.sid, complete, time.DateOnly) }
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
	rows, arena, err := u.fetchWindow(ctx, sid, w, usagePageSize)
	if err != nil {
		arena.free()
		return nil, nil, err
	}
	return rows, arena, nil
}

func (u *usageRead) fetchWindow(ctx context.Context, sid string, w window, pageSize int) ([]json.RawMessage, *rowArena, error) {
	var rows []json.RawMessage
	arena := new(rowArena)
	err := u.conn.api.DailyUsage(ctx, sid, w.first, w.last, pageSize, func(page []twilio.UsageRecord) error {
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
				Count:       in.Count,
				CountUnit:   in.CountUnit,
				Usage:       in.Usage,
				UsageUnit:   in.UsageUnit,
				Price:       in.Price,
				PriceUnit:   in.PriceUnit,
				AsOf:        timeOrNil(in.AsOf.Time),
				URI:         in.URI,
			}
			rows = append(rows, arena.add(rec.appendJSON))
		}
		return nil
	})
	return rows, arena, err
}
