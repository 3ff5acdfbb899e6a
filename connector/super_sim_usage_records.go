package connector

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	fastjson "github.com/goccy/go-json"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// SuperSIMUsageRecords is the super_sim_usage_records stream: the data
// every Super SIM of the account used, per SIM and UTC day, incremental on
// the day, partitioned by account.
//
// One listing covers the whole fleet: /v1/UsageRecords with Group=sim and
// Granularity=day returns one record per SIM with usage and day of the
// window, so the requests of a window are its pages (1000 SIM-days
// each), however many SIMs there are; there is no request per SIM as for
// Wireless. A window is at most a week: Twilio refuses Group=sim over
// more than 31 days (error 83603), a listing's pages can only be read one
// after another, and a backfill's weeks are read side by side.
//
// Only one Group is allowed per request, and this stream lists by SIM
// only: there is no second listing by iso_country or network. Grouped by
// country or network Twilio adds up the whole fleet, so the split could
// not be kept per SIM; keeping it per SIM takes a request per country
// (or network) and window, a number that grows with the fleet's travels;
// and the money is the same either way, while the cost by region is in
// the account's usage records (wireless-super-sim-data-* categories). A
// record's network_sid and iso_country are kept as Twilio sends them: the
// documentation says null unless grouped or filtered by them, and a value
// there is kept, not relied on. The same goes for fleet_sid, the fleet
// the SIM was in when it used the data (twilio_super_sims has its fleet
// now).
//
// Data usage reaches Twilio late and is billed later still: a day's bytes
// grow for a few days, and data_total_billed is 0 with billed_unit null
// until billing catches up. The cursor policy re-reads at least the last
// two days on every incremental read, and never moves past the last
// complete UTC day.
//
// The tables are detail, not cost: the cost model reads the account's
// usage records, where Super SIM is its own categories, and never these.
const SuperSIMUsageRecords = "super_sim_usage_records"

var superSIMUsageStream = Stream{
	Stream: catalog.Stream{
		Name:         SuperSIMUsageRecords,
		Schema:       catalog.Schema(SuperSIMUsageRecords),
		PrimaryKey:   []string{"account_sid", "sim_sid", "period_start"},
		Cursor:       "period_start",
		SyncModes:    []catalog.SyncMode{catalog.FullRefresh, catalog.Incremental},
		PartitionKey: "account_sid",
	},
	Cursor:    superSIMCursor,
	read:      (*Connector).readSuperSIMUsage,
	Tables:    []warehouse.Table{superSIMUsageTable.Table},
	Normalize: normalizeSuperSIMUsage,
	Replace:   ReplaceDay,
}

// superSIMCursor: a week a window (see SuperSIMUsageRecords), and usage
// arrives days late.
var superSIMCursor = &CursorPolicy{Layout: time.RFC3339, WindowDays: 7, MinLookbackDays: 2}

// superSIMUsageRecord is a record of the super_sim_usage_records stream:
// what `read` writes (Twilio's fields, the period flattened, numbers
// exact) and the loader reads back. account_sid is the partition's when
// Twilio sends none.
type superSIMUsageRecord struct {
	AccountSID      string            `json:"account_sid"`
	SIMSID          string            `json:"sim_sid"`
	FleetSID        *string           `json:"fleet_sid"`
	NetworkSID      *string           `json:"network_sid"`
	IsoCountry      *string           `json:"iso_country"`
	PeriodStart     string            `json:"period_start"`
	PeriodEnd       *string           `json:"period_end"`
	DataUpload      transforms.Number `json:"data_upload"`
	DataDownload    transforms.Number `json:"data_download"`
	DataTotal       transforms.Number `json:"data_total"`
	DataTotalBilled transforms.Number `json:"data_total_billed"`
	BilledUnit      *string           `json:"billed_unit"`
}

// superSIMPartition is one account's share of the stream.
type superSIMPartition struct {
	sid         string
	first, last time.Time
}

func (c *Connector) readSuperSIMUsage(ctx context.Context, r *run, cs catalog.Configured) error {
	name := cs.Stream.Name
	st := r.states[name]
	incremental := cs.SyncMode == catalog.Incremental
	floor, _ := superSIMCursor.Floor(c.cfg.Start(), r.today)
	lookback := superSIMCursor.Lookback(c.cfg.Lookback())
	// The Super SIM API reads the account of the credentials.
	p := superSIMPartition{sid: c.cfg.AccountSID, first: superSIMCursor.Start(st, c.cfg.AccountSID, floor, lookback, incremental), last: r.today}
	if p.first.After(p.last) {
		return r.emit.checkpoint(name, nil, nil, nil, st.Airbyte, false)
	}
	u := &superSIMUsageRead{conn: c, r: r, name: name, st: st}
	windowsOf := func(p superSIMPartition) []window { return superSIMCursor.Windows(p.first, p.last) }
	err := forEachWindow(ctx, partitionWorkers(c.cfg.Concurrency()), []superSIMPartition{p}, windowsOf, u.readWindow)
	if err != nil {
		return err
	}
	return r.emit.checkpoint(name, nil, nil, nil, st.Airbyte, false)
}

// superSIMUsageRead is one read of the super_sim_usage_records stream.
type superSIMUsageRead struct {
	conn *Connector
	r    *run
	name string
	st   *state.Stream
}

// readWindow reads one window of the account's fleet and hands it over
// in its turn.
func (u *superSIMUsageRead) readWindow(ctx context.Context, wr windowRead[superSIMPartition]) (bool, error) {
	p, w := wr.part, wr.w
	rows, err := u.fetch(ctx, p.sid, w)
	if !wr.waitTurn() {
		return false, nil
	}
	if err != nil {
		return false, superSIMUnavailable(fmt.Errorf("read Super SIM usage of %s from %s to %s: %w", p.sid,
			w.first.Format(time.DateOnly), w.last.Format(time.DateOnly), err), p.sid)
	}
	advance := func() { superSIMCursor.Advance(u.st, p.sid, w.last, u.r.today) }
	if err := u.r.emit.checkpoint(u.name, rows, nil, advance, u.st.Airbyte, false); err != nil {
		return false, err
	}
	return true, nil
}

// fetch lists the usage of every SIM in window w.
func (u *superSIMUsageRead) fetch(ctx context.Context, account string, w window) ([]json.RawMessage, error) {
	var rows []json.RawMessage
	type simDay struct {
		sim string
		day time.Time
	}
	seen := map[simDay]superSIMUsageRecord{}
	err := u.conn.api.SuperSIMDailyUsage(ctx, w.first, w.last.Add(day), superSIMPageSize, func(page []twilio.SuperSIMUsageRecord) error {
		for _, in := range page {
			start := in.Period.Start.Time.UTC()
			if start.Before(w.first) || !start.Before(w.last.Add(day)) {
				continue // outside the window: another window reads it
			}
			if start != utcDay(start) {
				return fmt.Errorf("usage of SIM %s: period.start_time %s is not a UTC midnight although Granularity=day",
					*in.SIMSID, start.Format(time.RFC3339))
			}
			k := simDay{*in.SIMSID, start}
			rec := superSIMUsageRecord{
				AccountSID:      account,
				SIMSID:          *in.SIMSID,
				FleetSID:        in.FleetSID,
				NetworkSID:      in.NetworkSID,
				IsoCountry:      in.IsoCountry,
				PeriodStart:     start.Format(time.RFC3339),
				PeriodEnd:       timeText(in.Period.End.Time),
				DataUpload:      intNumber(in.DataUpload),
				DataDownload:    intNumber(in.DataDownload),
				DataTotal:       intNumber(in.DataTotal),
				DataTotalBilled: transforms.Number(in.DataTotalBilled.String()),
				BilledUnit:      in.BilledUnit,
			}
			if in.AccountSID != nil && *in.AccountSID != "" {
				rec.AccountSID = *in.AccountSID
			}
			if prev, dup := seen[k]; dup {
				if sameUsage(prev, rec) {
					continue // the same record again (a page repeated): once is enough
				}
				// Group=sim promises one record per SIM and day: a second,
				// different one (split by a dimension Twilio did not
				// document) would be dropped or added twice. Neither is
				// exact.
				return fmt.Errorf("Twilio returned two different usage records of SIM %s for %s with Group=sim; refusing to keep either",
					k.sim, start.Format(time.DateOnly))
			}
			seen[k] = rec
			row, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		return nil
	})
	return rows, err
}

// sameUsage reports whether a and b say the same.
func sameUsage(a, b superSIMUsageRecord) bool {
	eq := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.AccountSID == b.AccountSID && a.SIMSID == b.SIMSID && a.PeriodStart == b.PeriodStart &&
		eq(a.PeriodEnd, b.PeriodEnd) && eq(a.FleetSID, b.FleetSID) && eq(a.NetworkSID, b.NetworkSID) &&
		eq(a.IsoCountry, b.IsoCountry) && eq(a.BilledUnit, b.BilledUnit) &&
		a.DataUpload == b.DataUpload && a.DataDownload == b.DataDownload && a.DataTotal == b.DataTotal &&
		a.DataTotalBilled == b.DataTotalBilled
}

func intNumber(n twilio.Int64) transforms.Number {
	if !n.Valid {
		return ""
	}
	return transforms.Number(strconv.FormatInt(n.N, 10))
}

// superSIMUsageRow is a row of twilio_super_sim_usage_daily: one SIM's
// data on one UTC day.
type superSIMUsageRow struct {
	Date                                      arrow.Date32
	SIMSID                                    string
	AccountSID, FleetSID, NetworkSID, Country transforms.NullString
	BilledUnit                                transforms.NullString
	Upload, Download, Total                   transforms.NullInt64
	Billed                                    transforms.NullDecimal
}

var superSIMUsageTable = transforms.NewTableDef(warehouse.Table{
	Name:        "twilio_super_sim_usage_daily",
	Key:         []string{"sim_sid", "usage_date"},
	Group:       []string{"sim_sid", "usage_date"},
	PartitionBy: "usage_date",
	ClusterBy:   []string{"sim_sid"},
},
	transforms.DateColumn("usage_date", func(r *superSIMUsageRow) arrow.Date32 { return r.Date }),
	transforms.StringColumn("sim_sid", func(r *superSIMUsageRow) string { return r.SIMSID }),
	transforms.NullStringColumn("account_sid", func(r *superSIMUsageRow) transforms.NullString { return r.AccountSID }),
	transforms.NullStringColumn("fleet_sid", func(r *superSIMUsageRow) transforms.NullString { return r.FleetSID }),
	transforms.NullStringColumn("network_sid", func(r *superSIMUsageRow) transforms.NullString { return r.NetworkSID }),
	transforms.NullStringColumn("iso_country", func(r *superSIMUsageRow) transforms.NullString { return r.Country }),
	transforms.NullInt64Column("data_upload", func(r *superSIMUsageRow) transforms.NullInt64 { return r.Upload }),
	transforms.NullInt64Column("data_download", func(r *superSIMUsageRow) transforms.NullInt64 { return r.Download }),
	transforms.NullInt64Column("data_total", func(r *superSIMUsageRow) transforms.NullInt64 { return r.Total }),
	transforms.NullDecimalColumn("data_total_billed", func(r *superSIMUsageRow) transforms.NullDecimal { return r.Billed }),
	transforms.NullStringColumn("billed_unit", func(r *superSIMUsageRow) transforms.NullString { return r.BilledUnit }),
)

// normalizeSuperSIMUsage loads a Super SIM usage record: one row of the
// SIM's day. A null billed_unit stays null (billing has not caught up);
// a billed_unit that is not a currency code fails the record.
func normalizeSuperSIMUsage(n *transforms.Normalizer, data []byte) (transforms.GroupKey, error) {
	var in superSIMUsageRecord
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: SuperSIMUsageRecords, Key: "sim_sid=?, period_start=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f transforms.Fields
	f.Required("sim_sid", in.SIMSID)
	f.Required("account_sid", in.AccountSID)
	row := superSIMUsageRow{
		SIMSID:     in.SIMSID,
		AccountSID: transforms.Str(&in.AccountSID),
		FleetSID:   transforms.Str(in.FleetSID),
		NetworkSID: transforms.Str(in.NetworkSID),
		Country:    transforms.Str(in.IsoCountry),
		Upload:     f.Int64("data_upload", in.DataUpload),
		Download:   f.Int64("data_download", in.DataDownload),
		Total:      f.Int64("data_total", in.DataTotal),
		Billed:     f.Decimal("data_total_billed", in.DataTotalBilled),
	}
	if c := f.Currency("billed_unit", in.BilledUnit); c != "" {
		row.BilledUnit = transforms.NullString{S: c, Valid: true}
	}
	if start, err := time.Parse(time.RFC3339Nano, in.PeriodStart); err != nil {
		f.Fail("period_start", strconv.Quote(in.PeriodStart), errors.New("is not an RFC 3339 timestamp"))
	} else {
		row.Date = arrow.Date32FromTime(start.UTC())
	}
	if err := f.Err(); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{
			Stream: SuperSIMUsageRecords,
			Key:    fmt.Sprintf("sim_sid=%s, period_start=%s", in.SIMSID, in.PeriodStart),
			Err:    err,
		}
	}
	var day [4]byte
	binary.LittleEndian.PutUint32(day[:], uint32(row.Date))
	n.Supersede(SuperSIMUsageRecords, in.SIMSID, string(day[:]))
	n.Keep(transforms.RowsOf(n, superSIMUsageTable).Append(&row))
	return transforms.GroupKey{Stream: SuperSIMUsageRecords, SID: in.SIMSID, Day: row.Date}, nil
}
