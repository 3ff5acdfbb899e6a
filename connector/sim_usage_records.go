package connector

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	fastjson "github.com/goccy/go-json"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// SIMUsageRecords is the sim_usage_records stream: each Wireless SIM's
// daily data and command usage, read per SIM, incremental on the day.
const SIMUsageRecords = "sim_usage_records"

var simUsageRecordsStream = Stream{
	Stream: catalog.Stream{
		Name:         SIMUsageRecords,
		Schema:       catalog.Schema(SIMUsageRecords),
		PrimaryKey:   []string{"sim_sid", "period_start"},
		Cursor:       "period_start",
		SyncModes:    []catalog.SyncMode{catalog.FullRefresh, catalog.Incremental},
		PartitionKey: "sim_sid",
	},
	Cursor:    simCursor,
	read:      (*Connector).readSIMUsageRecords,
	Tables:    []warehouse.Table{simUsageTable.Table, simRoamingTable.Table},
	Normalize: normalizeSIMUsage,
	Replace:   ReplaceDay,
}

// simCursor holds Twilio Wireless's facts: its own default range is a
// month, usage arrives up to 48 hours late, and older than 18 months is
// gone.
var simCursor = &CursorPolicy{Layout: time.RFC3339, WindowDays: 31, MinLookbackDays: 2, RetentionMonths: 18}

const simPageSize = 1000

// simUsageRecord is a record of the sim_usage_records stream: what `read`
// writes (Twilio's commands and data objects whole, numbers exact) and
// the loader reads back.
type simUsageRecord struct {
	SIMSID      string          `json:"sim_sid"`
	AccountSID  *string         `json:"account_sid"`
	PeriodStart string          `json:"period_start"`
	PeriodEnd   *string         `json:"period_end"`
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
	floor, clamped := simCursor.Floor(c.cfg.Start(), r.today)
	if clamped {
		c.log.Info("start_date is older than Twilio keeps SIM usage; reading from the oldest retained day",
			"start_date", c.cfg.StartDate, "from", floor.Format(time.DateOnly))
	}
	lookback := simCursor.Lookback(c.cfg.Lookback())
	incremental := cs.SyncMode == catalog.Incremental

	var parts []simPartition
	skipped := 0
	for _, s := range sims {
		p := simPartition{
			sid:   s.SID,
			first: simCursor.Start(st, s.SID, floor, lookback, incremental),
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
		if p.first.After(p.last) || simCursor.Settled(st, s.SID, p.last, r.today, lookback) {
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
	for _, w := range simCursor.Windows(p.first, p.last) {
		var rows []json.RawMessage
		err := u.conn.withinWindowDeadline(ctx, func(ctx context.Context) error {
			var err error
			rows, err = u.fetchWindow(ctx, p.sid, w)
			return err
		})
		if twilio.IsNotFound(err) {
			u.conn.log.Warn("skipping a SIM Twilio no longer shows", "sim_sid", p.sid, "error", err.Error())
			return nil
		}
		if err != nil {
			return fmt.Errorf("read usage of SIM %s from %s to %s: %w", p.sid,
				w.first.Format(time.DateOnly), w.last.Format(time.DateOnly), err)
		}
		advance := func() { simCursor.Advance(u.st, p.sid, w.last, u.r.today) }
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
				PeriodEnd:   timeText(rec.Period.End.Time),
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

// simUsageRow is a row of twilio_sim_usage_daily: a SIM's day, data and
// commands, in all and per home, national roaming and international
// roaming.
type simUsageRow struct {
	Date                           arrow.Date32
	SIMSID                         string
	AccountSID                     transforms.NullString
	Currency, DataUnits            string
	Data, DataHome, DataNational   amounts
	DataIntl                       amounts
	Commands, CmdHome, CmdNational amounts
	CmdIntl                        amounts
}

// roamingRow is a row of twilio_sim_usage_roaming: a SIM's day in one
// country abroad.
type roamingRow struct {
	Date            arrow.Date32
	SIMSID, Country string
	AccountSID      transforms.NullString
	Currency        string
	Data, Commands  amounts
}

// amounts are the typed counters of one usage object.
type amounts struct {
	total, upload, download, fromSIM, toSIM transforms.NullInt64
	billed                                  transforms.NullDecimal
}

var simUsageTable = transforms.NewTableDef(warehouse.Table{
	Name:        "twilio_sim_usage_daily",
	Key:         []string{"sim_sid", "usage_date"},
	Group:       []string{"sim_sid", "usage_date"},
	PartitionBy: "usage_date",
	ClusterBy:   []string{"sim_sid"},
},
	transforms.DateColumn("usage_date", func(r *simUsageRow) arrow.Date32 { return r.Date }),
	transforms.StringColumn("sim_sid", func(r *simUsageRow) string { return r.SIMSID }),
	transforms.NullStringColumn("account_sid", func(r *simUsageRow) transforms.NullString { return r.AccountSID }),
	transforms.OptionalString("currency", func(r *simUsageRow) string { return r.Currency }),
	transforms.OptionalString("data_units", func(r *simUsageRow) string { return r.DataUnits }),
	transforms.NullInt64Column("data_total", func(r *simUsageRow) transforms.NullInt64 { return r.Data.total }),
	transforms.NullInt64Column("data_upload", func(r *simUsageRow) transforms.NullInt64 { return r.Data.upload }),
	transforms.NullInt64Column("data_download", func(r *simUsageRow) transforms.NullInt64 { return r.Data.download }),
	transforms.NullDecimalColumn("data_billed", func(r *simUsageRow) transforms.NullDecimal { return r.Data.billed }),
	transforms.NullInt64Column("data_home_total", func(r *simUsageRow) transforms.NullInt64 { return r.DataHome.total }),
	transforms.NullDecimalColumn("data_home_billed", func(r *simUsageRow) transforms.NullDecimal { return r.DataHome.billed }),
	transforms.NullInt64Column("data_national_roaming_total", func(r *simUsageRow) transforms.NullInt64 { return r.DataNational.total }),
	transforms.NullDecimalColumn("data_national_roaming_billed", func(r *simUsageRow) transforms.NullDecimal { return r.DataNational.billed }),
	transforms.NullInt64Column("data_international_roaming_total", func(r *simUsageRow) transforms.NullInt64 { return r.DataIntl.total }),
	transforms.NullDecimalColumn("data_international_roaming_billed", func(r *simUsageRow) transforms.NullDecimal { return r.DataIntl.billed }),
	transforms.NullInt64Column("commands_total", func(r *simUsageRow) transforms.NullInt64 { return r.Commands.total }),
	transforms.NullInt64Column("commands_from_sim", func(r *simUsageRow) transforms.NullInt64 { return r.Commands.fromSIM }),
	transforms.NullInt64Column("commands_to_sim", func(r *simUsageRow) transforms.NullInt64 { return r.Commands.toSIM }),
	transforms.NullDecimalColumn("commands_billed", func(r *simUsageRow) transforms.NullDecimal { return r.Commands.billed }),
	transforms.NullInt64Column("commands_home_total", func(r *simUsageRow) transforms.NullInt64 { return r.CmdHome.total }),
	transforms.NullDecimalColumn("commands_home_billed", func(r *simUsageRow) transforms.NullDecimal { return r.CmdHome.billed }),
	transforms.NullInt64Column("commands_national_roaming_total", func(r *simUsageRow) transforms.NullInt64 { return r.CmdNational.total }),
	transforms.NullDecimalColumn("commands_national_roaming_billed", func(r *simUsageRow) transforms.NullDecimal { return r.CmdNational.billed }),
	transforms.NullInt64Column("commands_international_roaming_total", func(r *simUsageRow) transforms.NullInt64 { return r.CmdIntl.total }),
	transforms.NullDecimalColumn("commands_international_roaming_billed", func(r *simUsageRow) transforms.NullDecimal { return r.CmdIntl.billed }),
)

var simRoamingTable = transforms.NewTableDef(warehouse.Table{
	Name:        "twilio_sim_usage_roaming",
	Key:         []string{"sim_sid", "usage_date", "country"},
	Group:       []string{"sim_sid", "usage_date"},
	PartitionBy: "usage_date",
	ClusterBy:   []string{"sim_sid"},
},
	transforms.DateColumn("usage_date", func(r *roamingRow) arrow.Date32 { return r.Date }),
	transforms.StringColumn("sim_sid", func(r *roamingRow) string { return r.SIMSID }),
	transforms.StringColumn("country", func(r *roamingRow) string { return r.Country }),
	transforms.NullStringColumn("account_sid", func(r *roamingRow) transforms.NullString { return r.AccountSID }),
	transforms.OptionalString("currency", func(r *roamingRow) string { return r.Currency }),
	transforms.NullInt64Column("data_total", func(r *roamingRow) transforms.NullInt64 { return r.Data.total }),
	transforms.NullInt64Column("data_upload", func(r *roamingRow) transforms.NullInt64 { return r.Data.upload }),
	transforms.NullInt64Column("data_download", func(r *roamingRow) transforms.NullInt64 { return r.Data.download }),
	transforms.NullDecimalColumn("data_billed", func(r *roamingRow) transforms.NullDecimal { return r.Data.billed }),
	transforms.NullInt64Column("commands_total", func(r *roamingRow) transforms.NullInt64 { return r.Commands.total }),
	transforms.NullInt64Column("commands_from_sim", func(r *roamingRow) transforms.NullInt64 { return r.Commands.fromSIM }),
	transforms.NullInt64Column("commands_to_sim", func(r *roamingRow) transforms.NullInt64 { return r.Commands.toSIM }),
	transforms.NullDecimalColumn("commands_billed", func(r *roamingRow) transforms.NullDecimal { return r.Commands.billed }),
)

// usageObj is Twilio's data or commands usage object, as far as the
// tables read it; the record keeps it whole.
type usageObj struct {
	BillingUnits         *string           `json:"billing_units"`
	Billed               transforms.Number `json:"billed"`
	Total                transforms.Number `json:"total"`
	Upload               transforms.Number `json:"upload"`
	Download             transforms.Number `json:"download"`
	FromSIM              transforms.Number `json:"from_sim"`
	ToSIM                transforms.Number `json:"to_sim"`
	Units                *string           `json:"units"`
	Home                 *usageObj         `json:"home"`
	NationalRoaming      *usageObj         `json:"national_roaming"`
	InternationalRoaming []json.RawMessage `json:"international_roaming"`
}

// roamingCountryKeys are the keys an international roaming entry may name
// its country by. Twilio documents each entry only as "one for each
// country with usage, with keys total, download, upload and units": the
// country's key is not documented, so every plausible spelling is read.
var roamingCountryKeys = []string{"country", "iso_country", "country_code", "iso_country_code", "countryCode", "isoCountry", "iso_code"}

// UnknownCountry is the country of an international roaming entry that
// names none of roamingCountryKeys: its numbers are kept under it.
const UnknownCountry = "unknown"

func amountsOf(f *transforms.Fields, path string, o *usageObj) amounts {
	if o == nil {
		return amounts{}
	}
	return amounts{
		total:    f.Int64(path+".total", o.Total),
		upload:   f.Int64(path+".upload", o.Upload),
		download: f.Int64(path+".download", o.Download),
		fromSIM:  f.Int64(path+".from_sim", o.FromSIM),
		toSIM:    f.Int64(path+".to_sim", o.ToSIM),
		billed:   f.Decimal(path+".billed", o.Billed),
	}
}

func addInt(a, b transforms.NullInt64) transforms.NullInt64 {
	if !a.Valid {
		return b
	}
	if !b.Valid {
		return a
	}
	return transforms.NullInt64{Int: a.Int + b.Int, Valid: true}
}

func addDec(a, b transforms.NullDecimal) transforms.NullDecimal {
	if !a.Valid {
		return b
	}
	if !b.Valid {
		return a
	}
	return transforms.NullDecimal{Num: a.Num.Add(b.Num), Valid: true}
}

func (a amounts) add(b amounts) amounts {
	return amounts{
		total: addInt(a.total, b.total), upload: addInt(a.upload, b.upload), download: addInt(a.download, b.download),
		fromSIM: addInt(a.fromSIM, b.fromSIM), toSIM: addInt(a.toSIM, b.toSIM), billed: addDec(a.billed, b.billed),
	}
}

// normalizeSIMUsage loads a SIM usage record: one row of the SIM's day,
// and one per country it roamed abroad in.
func normalizeSIMUsage(n *transforms.Normalizer, data []byte) (transforms.GroupKey, error) {
	var in simUsageRecord
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{Stream: SIMUsageRecords, Key: "sim_sid=?, period_start=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f transforms.Fields
	f.Required("sim_sid", in.SIMSID)
	row := simUsageRow{SIMSID: in.SIMSID, AccountSID: transforms.Str(in.AccountSID)}
	if start, err := time.Parse(time.RFC3339Nano, in.PeriodStart); err != nil {
		f.Fail("period_start", strconv.Quote(in.PeriodStart), errors.New("is not an RFC 3339 timestamp"))
	} else {
		row.Date = arrow.Date32FromTime(start.UTC())
	}
	var countries []roamingRow
	at := func(country string) *roamingRow {
		for i := range countries {
			if countries[i].Country == country {
				return &countries[i]
			}
		}
		countries = append(countries, roamingRow{Date: row.Date, SIMSID: in.SIMSID, Country: country, AccountSID: row.AccountSID})
		return &countries[len(countries)-1]
	}
	for _, part := range []struct {
		name                      string
		raw                       json.RawMessage
		all, home, national, intl *amounts
		roamed                    func(r *roamingRow) *amounts
	}{
		{"data", in.Data, &row.Data, &row.DataHome, &row.DataNational, &row.DataIntl, func(r *roamingRow) *amounts { return &r.Data }},
		{"commands", in.Commands, &row.Commands, &row.CmdHome, &row.CmdNational, &row.CmdIntl, func(r *roamingRow) *amounts { return &r.Commands }},
	} {
		if len(part.raw) == 0 || string(part.raw) == "null" {
			continue
		}
		var o usageObj
		if err := fastjson.Unmarshal(part.raw, &o); err != nil {
			f.Fail(part.name, "", fmt.Errorf("is not a usage object: %w", err))
			continue
		}
		if c := f.Currency(part.name+".billing_units", o.BillingUnits); c != "" {
			if row.Currency != "" && c != row.Currency {
				f.Fail(part.name+".billing_units", strconv.Quote(c), fmt.Errorf("differs from the other part's %s", row.Currency))
			}
			row.Currency = c
		}
		if part.name == "data" && o.Units != nil {
			row.DataUnits = *o.Units
		}
		*part.all = amountsOf(&f, part.name, &o)
		*part.home = amountsOf(&f, part.name+".home", o.Home)
		*part.national = amountsOf(&f, part.name+".national_roaming", o.NationalRoaming)
		for i, raw := range o.InternationalRoaming {
			path := fmt.Sprintf("%s.international_roaming[%d]", part.name, i)
			var entry usageObj
			if err := fastjson.Unmarshal(raw, &entry); err != nil {
				f.Fail(path, "", fmt.Errorf("is not a usage object: %w", err))
				continue
			}
			a := amountsOf(&f, path, &entry)
			*part.intl = part.intl.add(a)
			country := roamingCountry(raw)
			if country == "" {
				country = UnknownCountry
				n.Warn("roaming-country", "an international_roaming entry of sim_usage_records names no country under any key twilio-elt knows ("+
					strings.Join(roamingCountryKeys, ", ")+"): its usage is kept under country "+strconv.Quote(UnknownCountry)+
					", and the whole entry stays in the record; e.g. "+string(raw))
			}
			r := at(country)
			*part.roamed(r) = part.roamed(r).add(a)
		}
	}
	if err := f.Err(); err != nil {
		return transforms.GroupKey{}, &transforms.RecordError{
			Stream: SIMUsageRecords,
			Key:    fmt.Sprintf("sim_sid=%s, period_start=%s", in.SIMSID, in.PeriodStart),
			Err:    err,
		}
	}
	var day [4]byte
	binary.LittleEndian.PutUint32(day[:], uint32(row.Date))
	n.Supersede("m", in.SIMSID, string(day[:]))
	refs := []transforms.RowRef{transforms.RowsOf(n, simUsageTable).Append(&row)}
	slices.SortFunc(countries, func(a, b roamingRow) int { return strings.Compare(a.Country, b.Country) })
	roam := transforms.RowsOf(n, simRoamingTable)
	for i := range countries {
		countries[i].Currency = row.Currency
		refs = append(refs, roam.Append(&countries[i]))
	}
	n.Keep(refs...)
	return transforms.GroupKey{Stream: SIMUsageRecords, SID: in.SIMSID, Day: row.Date}, nil
}

// roamingCountry returns the country an international roaming entry names
// under the first of roamingCountryKeys it has, upper case, or "".
func roamingCountry(raw json.RawMessage) string {
	var keys map[string]json.RawMessage
	if err := fastjson.Unmarshal(raw, &keys); err != nil {
		return ""
	}
	for _, k := range roamingCountryKeys {
		v, ok := keys[k]
		if !ok {
			continue
		}
		var s string
		if err := fastjson.Unmarshal(v, &s); err != nil {
			continue
		}
		if s = strings.ToUpper(strings.TrimSpace(s)); s != "" {
			return s
		}
	}
	return ""
}
