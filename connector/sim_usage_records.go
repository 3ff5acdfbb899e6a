package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

// Twilio Wireless facts that shape the SIM usage read.
const (
	simWindowDays = 31 // Twilio's own default range is one month
	simPageSize   = 1000
	// simMinLookbackDays: Twilio documents up to 48 hours of lag.
	simMinLookbackDays = 2
	// simRetentionMonths: older usage is gone.
	simRetentionMonths = 18
)

// simUsageRecord is a record of the sim_usage_records stream.
type simUsageRecord struct {
	SIMSID      string          `json:"sim_sid"`
	AccountSID  *string         `json:"account_sid"`
	PeriodStart string          `json:"period_start"`
	PeriodEnd   *time.Time      `json:"period_end"`
	Commands    json.RawMessage `json:"commands"`
	Data        json.RawMessage `json:"data"`
}

// simPartition is one SIM's share of the stream.
type simPartition struct {
	sid         string
	first, last time.Time
}

// SIM statuses after which a SIM accrues nothing.
var simEnded = map[string]bool{"canceled": true, "deactivated": true}

func (c *Connector) readSIMUsageRecords(ctx context.Context, r *run, cs catalog.Configured) error {
	name := cs.Stream.Name
	sims, err := r.listSIMs(ctx)
	if err != nil {
		return err
	}
	st := r.states[name]
	floor := c.cfg.Start()
	if retained := r.today.AddDate(0, -simRetentionMonths, 0); floor.Before(retained) {
		c.log.Info("start_date is older than Twilio keeps SIM usage; reading from the oldest retained day",
			"start_date", c.cfg.StartDate, "from", retained.Format(time.DateOnly))
		floor = retained
	}
	lookback := max(c.cfg.Lookback(), simMinLookbackDays)
	incremental := cs.SyncMode == catalog.Incremental

	var parts []simPartition
	skipped := 0
	for _, s := range sims {
		p := simPartition{
			sid:   s.SID,
			first: partitionStart(st, s.SID, time.RFC3339, floor, lookback, incremental),
			last:  r.today,
		}
		if created := utcDay(s.DateCreated.Time); !s.DateCreated.IsZero() && created.After(p.first) {
			p.first = created
		}
		if s.Status != nil && simEnded[*s.Status] && !s.DateUpdated.IsZero() {
			if ended := utcDay(s.DateUpdated.Time); ended.Before(p.last) {
				p.last = ended
			}
		}
		if p.first.After(p.last) || settled(st, s.SID, time.RFC3339, p.last, r.today, lookback) {
			skipped++
			continue
		}
		parts = append(parts, p)
	}
	if skipped > 0 {
		c.log.Info("SIMs with no possible usage in the range are not asked about", "skipped", skipped, "read", len(parts))
	}

	u := &simUsageRead{conn: c, r: r, name: name, st: st, throttled: len(parts) > manyPartitions}
	if err := forEachPartition(ctx, partitionWorkers(c.cfg.Concurrency()), parts, u.readPartition); err != nil {
		return err
	}
	return r.emit.checkpoint(name, nil, nil, nil, u.blob, false)
}

type simUsageRead struct {
	conn      *Connector
	r         *run
	name      string
	st        *state.Stream
	throttled bool // many partitions: STATEs are spaced out
}

func (u *simUsageRead) blob() json.RawMessage { return u.st.Airbyte() }

func (u *simUsageRead) readPartition(ctx context.Context, p simPartition) error {
	for _, w := range windows(p.first, p.last, simWindowDays) {
		rows, err := u.fetchWindow(ctx, p.sid, w)
		if twilio.IsNotFound(err) {
			u.conn.log.Warn("skipping a SIM Twilio no longer shows", "sim_sid", p.sid, "error", err.Error())
			return nil
		}
		if err != nil {
			return fmt.Errorf("read usage of SIM %s from %s to %s: %w", p.sid,
				w.first.Format(time.DateOnly), w.last.Format(time.DateOnly), err)
		}
		complete := w.last
		if yesterday := u.r.today.AddDate(0, 0, -1); complete.After(yesterday) {
			complete = yesterday
		}
		advance := func() { advanceCursor(u.st, p.sid, complete, time.RFC3339) }
		if err := u.r.emit.checkpoint(u.name, rows, nil, advance, u.blob, u.throttled); err != nil {
			return err
		}
	}
	return nil
}

func (u *simUsageRead) fetchWindow(ctx context.Context, sid string, w window) ([]json.RawMessage, error) {
	var rows []json.RawMessage
	// End is inclusive in Twilio's API: the last second of the window.
	end := w.last.Add(day - time.Second)
	err := u.conn.api.SIMDailyUsage(ctx, sid, w.first, end, simPageSize, func(page []twilio.SIMUsageRecord) error {
		for i, rec := range page {
			start := rec.Period.Start.Time
			if start.IsZero() {
				return fmt.Errorf("usage_records[%d]: period.start is missing", i)
			}
			if start.Before(w.first) || start.After(end) {
				continue // outside the window: another window reads it
			}
			commands, err := exactNumbers(rec.Commands)
			if err != nil {
				return fmt.Errorf("usage record of %s: commands: %w", start.Format(time.RFC3339), err)
			}
			data, err := exactNumbers(rec.Data)
			if err != nil {
				return fmt.Errorf("usage record of %s: data: %w", start.Format(time.RFC3339), err)
			}
			row, err := json.Marshal(simUsageRecord{
				SIMSID:      sid,
				AccountSID:  rec.AccountSID,
				PeriodStart: start.UTC().Format(time.RFC3339),
				PeriodEnd:   timeOrNil(rec.Period.End.Time),
				Commands:    commands,
				Data:        data,
			})
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		return nil
	})
	return rows, err
}

// numericKeys are the fields of Twilio's usage objects that hold numbers,
// sometimes sent as strings.
var numericKeys = map[string]bool{
	"billed": true, "total": true, "upload": true, "download": true, "from_sim": true, "to_sim": true,
}

// exactNumbers re-encodes a usage object with every numeric field as a
// JSON number holding Twilio's exact text (a string "0.0345" becomes the
// number 0.0345; "" becomes null). Nested objects and the roaming arrays
// keep their shape. Nothing passes through a float.
func exactNumbers(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("null"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if err := normalizeNumbers(v, ""); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func normalizeNumbers(v any, path string) error {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			at := join(path, k)
			if s, ok := x.(string); ok && numericKeys[k] {
				if s == "" {
					v[k] = nil
					continue
				}
				d, err := twilio.DecimalOf(s)
				if err != nil {
					return fmt.Errorf("field %s: %w", at, err)
				}
				v[k] = json.Number(d.String())
				continue
			}
			if err := normalizeNumbers(x, at); err != nil {
				return err
			}
		}
	case []any:
		for i, x := range v {
			if err := normalizeNumbers(x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
