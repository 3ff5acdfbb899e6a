package transforms

import (
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
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	fastjson "github.com/goccy/go-json"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// Options configures a Normalizer.
type Options struct {
	// KeepZeroRows keeps usage rows whose count, usage and price are all
	// zero; by default they are dropped (Twilio returns every category
	// every day).
	KeepZeroRows bool
	// MainAccountSID is the billing account of usage whose account was
	// not among the run's accounts records (the config's account_sid).
	MainAccountSID string
	// Allocator allocates the Arrow buffers; nil means the Go allocator.
	Allocator memory.Allocator
}

// RecordError is a record that does not fit its table.
type RecordError struct {
	Stream string
	Key    string // the record's primary key, as name=value pairs
	Err    error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s record (%s): %v", e.Stream, e.Key, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// GroupKey identifies the replace group of a record within its stream:
// (account_sid, usage_date) for usage, (sim_sid, usage_date) for SIM
// usage, and the record's SID for full-refresh streams, whose tables the
// first batch of a read replaces whole (GroupKey with no SID).
type GroupKey struct {
	Stream string
	SID    string
	Day    arrow.Date32
	// Item is the record's key within a group of many records: the
	// category of a usage record ("" for other streams).
	Item string
}

// Groups returns the warehouse groups k covers: a SIM day is a group of
// both SIM usage tables, so a day revised to no roaming loses its rows.
func (k GroupKey) Groups() []warehouse.Group {
	day := func() time.Time { return k.Day.ToTime().UTC() }
	var one []any
	if k.SID != "" {
		one = []any{k.SID}
	}
	switch k.Stream {
	case catalog.Accounts:
		return []warehouse.Group{{Table: Accounts, Values: one}}
	case catalog.SIMs:
		return []warehouse.Group{{Table: SIMs, Values: one}}
	case catalog.UsageRecords:
		return []warehouse.Group{{Table: UsageDaily, Values: []any{k.SID, day()}}}
	case catalog.SIMUsageRecords:
		return []warehouse.Group{
			{Table: SIMUsageDaily, Values: []any{k.SID, day()}},
			{Table: SIMUsageRoaming, Values: []any{k.SID, day()}},
		}
	}
	return nil
}

// WholeTable returns the group key of a stream whose table is replaced
// whole (a full-refresh stream), and whether it is one.
func WholeTable(stream string) (GroupKey, bool) {
	switch stream {
	case catalog.Accounts, catalog.SIMs:
		return GroupKey{Stream: stream}, true
	}
	return GroupKey{}, false
}

// Normalizer builds Arrow batches of the warehouse tables from records.
// It keeps the rows added since the last Flush; callers bound a batch by
// Rows. It is not safe for concurrent use.
type Normalizer struct {
	opts     Options
	builders map[string]*tableBuilder
	order    []*tableBuilder
	// billing maps an account to its main account, from the accounts
	// records seen.
	billing map[string]string
	rows    int
	// categories holds the usage categories seen; unknown those of them
	// the shipped taxonomy lacks, not yet taken by UnknownCategories.
	categories map[string]struct{}
	unknown    []string
	// accounts holds the accounts records added since TakeAccounts.
	accounts []AccountName
	// live maps the primary key of each record added since the last
	// Flush to its rows, so that a later record with the key supersedes
	// them; superseded counts those records.
	live       map[string][]rowRef
	keyBuf     []byte
	superseded int
}

// AccountName is what the cost model needs of an accounts record: the
// name people know the account by (its display name, else Twilio's
// friendly name) and its parent, the account billed for it.
type AccountName struct {
	SID, Name, Parent string
}

// TakeAccounts returns the accounts records added since the last call.
func (n *Normalizer) TakeAccounts() []AccountName {
	a := n.accounts
	n.accounts = nil
	return a
}

type tableBuilder struct {
	table warehouse.Table
	b     *array.RecordBuilder
	n     int
	// dead marks the rows a later record with the same key superseded.
	dead []int
}

// rowRef is a row a record added to a table.
type rowRef struct {
	tb *tableBuilder
	i  int
}

// NewNormalizer returns a Normalizer.
func NewNormalizer(opts Options) *Normalizer {
	if opts.Allocator == nil {
		opts.Allocator = memory.NewGoAllocator()
	}
	n := &Normalizer{opts: opts, builders: map[string]*tableBuilder{}, billing: map[string]string{}, categories: map[string]struct{}{},
		live: map[string][]rowRef{}}
	for _, t := range Tables() {
		tb := &tableBuilder{table: t, b: array.NewRecordBuilder(opts.Allocator, t.Schema)}
		n.builders[t.Name] = tb
		n.order = append(n.order, tb)
	}
	return n
}

// Rows returns the number of rows added since the last Flush, over all
// tables.
func (n *Normalizer) Rows() int { return n.rows }

// Flush returns the rows added since the last Flush as one record batch
// per table that has rows, with _loaded_at set to loadedAt. Of records
// with the same primary key only the last one's rows are in it. The
// caller releases the batches.
func (n *Normalizer) Flush(loadedAt time.Time) (map[string]arrow.RecordBatch, error) {
	out := map[string]arrow.RecordBatch{}
	ts := arrow.Timestamp(loadedAt.UnixMicro())
	var err error
	for _, tb := range n.order {
		if tb.n == 0 {
			continue
		}
		lb := tb.b.Field(tb.table.Schema.NumFields() - 1).(*array.TimestampBuilder)
		lb.Reserve(tb.n)
		for range tb.n {
			lb.UnsafeAppend(ts)
		}
		rec := tb.b.NewRecordBatch()
		if len(tb.dead) > 0 && err == nil {
			var kept arrow.RecordBatch
			kept, err = dropRows(n.opts.Allocator, rec, tb.dead)
			rec.Release()
			rec = kept
		}
		if rec != nil {
			out[tb.table.Name] = rec
		}
		tb.n, tb.dead = 0, tb.dead[:0]
	}
	n.rows = 0
	clear(n.live)
	if err != nil {
		for _, r := range out {
			r.Release()
		}
		return nil, fmt.Errorf("drop superseded rows: %w", err)
	}
	return out, nil
}

// dropRows returns rec without the rows at dead.
func dropRows(mem memory.Allocator, rec arrow.RecordBatch, dead []int) (arrow.RecordBatch, error) {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	keep := make([]bool, rec.NumRows())
	for i := range keep {
		keep[i] = true
	}
	for _, i := range dead {
		keep[i] = false
	}
	b.AppendValues(keep, nil)
	mask := b.NewBooleanArray()
	defer mask.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	return compute.FilterRecordBatch(ctx, rec, mask, compute.DefaultFilterOptions())
}

// Superseded returns how many records a later record with the same
// primary key superseded since the last call.
func (n *Normalizer) Superseded() int {
	s := n.superseded
	n.superseded = 0
	return s
}

// recordKey builds the primary key of a record in n.keyBuf.
func (n *Normalizer) recordKey(parts ...string) []byte {
	b := n.keyBuf[:0]
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	n.keyBuf = b
	return b
}

// supersede marks the rows of an earlier record with key as dead.
func (n *Normalizer) supersede(key []byte) {
	refs, ok := n.live[string(key)]
	if !ok {
		return
	}
	for _, r := range refs {
		r.tb.dead = append(r.tb.dead, r.i)
	}
	delete(n.live, string(key))
	n.superseded++
}

// keep records the rows a record with key added.
func (n *Normalizer) keep(key []byte, refs ...rowRef) {
	n.live[string(key)] = refs
}

// next is the index of the row tb is about to append.
func (tb *tableBuilder) next() rowRef { return rowRef{tb, tb.n} }

// Release frees the builders.
func (n *Normalizer) Release() {
	for _, tb := range n.order {
		tb.b.Release()
	}
}

// Add normalizes one record of stream and returns its replace group. A
// record that does not fit its table is a *RecordError, and adds nothing.
// A dropped zero-usage row still returns its group: the group is replaced
// and the row stays out.
func (n *Normalizer) Add(stream string, data []byte) (GroupKey, error) {
	switch stream {
	case catalog.Accounts:
		return n.addAccount(data)
	case catalog.UsageRecords:
		return n.addUsage(data)
	case catalog.SIMs:
		return n.addSIM(data)
	case catalog.SIMUsageRecords:
		return n.addSIMUsage(data)
	}
	return GroupKey{}, &RecordError{Stream: stream, Key: "?", Err: errors.New("no warehouse table takes this stream")}
}

// fields accumulates the typed values of one row before any is appended,
// so a record that fails half way leaves the builders untouched.
type fields struct {
	errs []string
}

func (f *fields) fail(field string, raw string, err error) {
	f.errs = append(f.errs, fmt.Sprintf("%s %s %v", field, raw, err))
}

func (f *fields) err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(f.errs, "; "))
}

// dec is a nullable decimal.
type dec = NullDecimal

// num parses a JSON number (or a string holding one; "" and null are
// NULL) as an exact decimal.
func (f *fields) num(name string, raw json.RawMessage) dec {
	s, null, ok := numberText(raw)
	if null {
		return dec{}
	}
	if !ok {
		f.fail(name, string(raw), errNotNumber)
		return dec{}
	}
	v, err := ParseDecimal(s)
	if err != nil {
		f.fail(name, strconv.Quote(s), err)
		return dec{}
	}
	return dec{Num: v, Valid: true}
}

// nint is a nullable integer.
type nint struct {
	v     int64
	valid bool
}

func (f *fields) integer(name string, raw json.RawMessage) nint {
	d := f.num(name, raw)
	if !d.Valid {
		return nint{}
	}
	v, err := toInt64(d.Num)
	if err != nil {
		f.fail(name, string(raw), err)
		return nint{}
	}
	return nint{v, true}
}

func numberText(raw json.RawMessage) (s string, null, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true, true
	}
	if raw[0] == '"' {
		var str string
		if err := fastjson.Unmarshal(raw, &str); err != nil {
			return "", false, false
		}
		str = strings.TrimSpace(str)
		return str, str == "", true
	}
	return string(raw), false, true
}

func (f *fields) date(name, s string) arrow.Date32 {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		f.fail(name, strconv.Quote(s), errors.New("is not a date YYYY-MM-DD"))
		return 0
	}
	return arrow.Date32FromTime(t)
}

// ts is a nullable timestamp.
type ts struct {
	v     arrow.Timestamp
	valid bool
}

func (f *fields) timestamp(name string, s *string) ts {
	if s == nil || *s == "" {
		return ts{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		f.fail(name, strconv.Quote(*s), errors.New("is not an RFC 3339 timestamp"))
		return ts{}
	}
	return ts{arrow.Timestamp(t.UnixMicro()), true}
}

func (f *fields) required(name, v string) {
	if v == "" {
		f.fail(name, `""`, errors.New("is missing"))
	}
}

// currency returns an ISO 4217 code, upper case.
func (f *fields) currency(name string, s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	c := strings.ToUpper(strings.TrimSpace(*s))
	if len(c) != 3 || strings.IndexFunc(c, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		f.fail(name, strconv.Quote(*s), errors.New("is not an ISO 4217 currency code"))
		return nil
	}
	return &c
}

// Appending.

func appendString(b array.Builder, s *string) {
	sb := b.(*array.StringBuilder)
	if s == nil {
		sb.AppendNull()
		return
	}
	sb.Append(*s)
}

func appendDec(b array.Builder, d dec) {
	db := b.(*array.Decimal128Builder)
	if !d.Valid {
		db.AppendNull()
		return
	}
	db.Append(d.Num)
}

func appendInt(b array.Builder, v nint) {
	ib := b.(*array.Int64Builder)
	if !v.valid {
		ib.AppendNull()
		return
	}
	ib.Append(v.v)
}

func appendTS(b array.Builder, t ts) {
	tb := b.(*array.TimestampBuilder)
	if !t.valid {
		tb.AppendNull()
		return
	}
	tb.Append(t.v)
}

// accounts

type accountIn struct {
	SID             string  `json:"sid"`
	FriendlyName    *string `json:"friendly_name"`
	DisplayName     *string `json:"display_name"`
	Status          *string `json:"status"`
	Type            *string `json:"type"`
	OwnerAccountSID *string `json:"owner_account_sid"`
	DateCreated     *string `json:"date_created"`
	DateUpdated     *string `json:"date_updated"`
	IsMain          bool    `json:"is_main"`
}

func (n *Normalizer) addAccount(data []byte) (GroupKey, error) {
	var in accountIn
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return GroupKey{}, &RecordError{Stream: catalog.Accounts, Key: "sid=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f fields
	f.required("sid", in.SID)
	created := f.timestamp("date_created", in.DateCreated)
	updated := f.timestamp("date_updated", in.DateUpdated)
	if err := f.err(); err != nil {
		return GroupKey{}, &RecordError{Stream: catalog.Accounts, Key: "sid=" + in.SID, Err: err}
	}
	parent := in.OwnerAccountSID
	if in.IsMain || (parent != nil && *parent == in.SID) {
		parent = nil
	}
	switch {
	case in.IsMain:
		n.billing[in.SID] = in.SID
	case parent != nil:
		n.billing[in.SID] = *parent
	}
	name := AccountName{SID: in.SID}
	for _, s := range []*string{in.DisplayName, in.FriendlyName} {
		if s != nil && *s != "" {
			name.Name = *s
			break
		}
	}
	if parent != nil {
		name.Parent = *parent
	}
	n.accounts = append(n.accounts, name)
	tb := n.builders[Accounts]
	key := n.recordKey("a", in.SID)
	n.supersede(key)
	n.keep(key, tb.next())
	b := tb.b
	b.Field(0).(*array.StringBuilder).Append(in.SID)
	appendString(b.Field(1), parent)
	appendString(b.Field(2), in.FriendlyName)
	appendString(b.Field(3), in.DisplayName)
	appendString(b.Field(4), in.Status)
	appendString(b.Field(5), in.Type)
	b.Field(6).(*array.BooleanBuilder).Append(in.IsMain)
	appendTS(b.Field(7), created)
	appendTS(b.Field(8), updated)
	tb.n++
	n.rows++
	return GroupKey{Stream: catalog.Accounts, SID: in.SID}, nil
}

// usage_records

type usageIn struct {
	AccountSID  string          `json:"account_sid"`
	Category    string          `json:"category"`
	Description *string         `json:"description"`
	StartDate   string          `json:"start_date"`
	Count       json.RawMessage `json:"count"`
	CountUnit   *string         `json:"count_unit"`
	Usage       json.RawMessage `json:"usage"`
	UsageUnit   *string         `json:"usage_unit"`
	Price       json.RawMessage `json:"price"`
	PriceUnit   *string         `json:"price_unit"`
	AsOf        *string         `json:"as_of"`
}

func (n *Normalizer) addUsage(data []byte) (GroupKey, error) {
	var in usageIn
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return GroupKey{}, &RecordError{Stream: catalog.UsageRecords, Key: "account_sid=?, category=?, start_date=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f fields
	f.required("account_sid", in.AccountSID)
	f.required("category", in.Category)
	day := f.date("start_date", in.StartDate)
	count := f.num("count", in.Count)
	usage := f.num("usage", in.Usage)
	price := f.num("price", in.Price)
	currency := f.currency("price_unit", in.PriceUnit)
	asOf := f.timestamp("as_of", in.AsOf)
	if err := f.err(); err != nil {
		return GroupKey{}, &RecordError{
			Stream: catalog.UsageRecords,
			Key:    fmt.Sprintf("account_sid=%s, category=%s, start_date=%s", in.AccountSID, in.Category, in.StartDate),
			Err:    err,
		}
	}
	k := GroupKey{Stream: catalog.UsageRecords, SID: in.AccountSID, Day: day, Item: in.Category}
	var dayBytes [4]byte
	binary.LittleEndian.PutUint32(dayBytes[:], uint32(day))
	key := n.recordKey("u", in.AccountSID, string(dayBytes[:]), in.Category)
	n.supersede(key)
	if _, ok := n.categories[in.Category]; !ok {
		n.categories[in.Category] = struct{}{}
		if _, known := LookupCategory(in.Category); !known {
			n.unknown = append(n.unknown, in.Category)
		}
	}
	zero := func(d dec) bool { return !d.Valid || d.Num == (decimal128.Num{}) }
	if !n.opts.KeepZeroRows && zero(count) && zero(usage) && zero(price) {
		return k, nil
	}
	var billing *string
	if m, ok := n.billing[in.AccountSID]; ok {
		billing = &m
	} else if n.opts.MainAccountSID != "" {
		billing = &n.opts.MainAccountSID
	}
	tb := n.builders[UsageDaily]
	n.keep(key, tb.next())
	b := tb.b
	b.Field(0).(*array.Date32Builder).Append(day)
	b.Field(1).(*array.StringBuilder).Append(in.AccountSID)
	appendString(b.Field(2), billing)
	b.Field(3).(*array.StringBuilder).Append(in.Category)
	appendString(b.Field(4), in.Description)
	appendDec(b.Field(5), count)
	appendString(b.Field(6), in.CountUnit)
	appendDec(b.Field(7), usage)
	appendString(b.Field(8), in.UsageUnit)
	appendDec(b.Field(9), price)
	appendString(b.Field(10), currency)
	appendTS(b.Field(11), asOf)
	tb.n++
	n.rows++
	return k, nil
}

// UsageRow is one row of twilio_usage_daily, as the cost model reads it
// and as a row read back from the warehouse is added again. Empty strings
// are NULL, but where Empty says the column holds "" (Twilio sends
// empty descriptions and units).
type UsageRow struct {
	Date                 arrow.Date32
	AccountSID           string
	Category             string
	Description          string
	Count, Usage, Price  NullDecimal
	CountUnit, UsageUnit string
	Currency             string
	BillingAccountSID    string
	AsOf                 NullTimestamp
	Empty                EmptyStrings
}

// EmptyStrings marks the string columns of a UsageRow that hold "" rather
// than NULL.
type EmptyStrings uint8

// The columns EmptyStrings marks.
const (
	EmptyDescription EmptyStrings = 1 << iota
	EmptyCountUnit
	EmptyUsageUnit
)

// NullTimestamp is a nullable TIMESTAMP (µs, UTC).
type NullTimestamp struct {
	Micros int64
	Valid  bool
}

// AddUsageRow adds a usage row read back from the warehouse, as it was
// loaded: a day an earlier batch of the run began keeps the rows no
// record of this batch supersedes.
func (n *Normalizer) AddUsageRow(r UsageRow) {
	tb := n.builders[UsageDaily]
	str := func(s string, empty EmptyStrings) *string {
		if s == "" && r.Empty&empty == 0 {
			return nil
		}
		return &s
	}
	b := tb.b
	b.Field(0).(*array.Date32Builder).Append(r.Date)
	b.Field(1).(*array.StringBuilder).Append(r.AccountSID)
	appendString(b.Field(2), str(r.BillingAccountSID, 0))
	b.Field(3).(*array.StringBuilder).Append(r.Category)
	appendString(b.Field(4), str(r.Description, EmptyDescription))
	appendDec(b.Field(5), r.Count)
	appendString(b.Field(6), str(r.CountUnit, EmptyCountUnit))
	appendDec(b.Field(7), r.Usage)
	appendString(b.Field(8), str(r.UsageUnit, EmptyUsageUnit))
	appendDec(b.Field(9), r.Price)
	appendString(b.Field(10), str(r.Currency, 0))
	appendTS(b.Field(11), ts{arrow.Timestamp(r.AsOf.Micros), r.AsOf.Valid})
	tb.n++
	n.rows++
}

// UnknownCategories returns the usage categories that records named since
// the last call and the shipped taxonomy does not know, each once per
// Normalizer, in order of first sight.
func (n *Normalizer) UnknownCategories() []string {
	u := n.unknown
	n.unknown = nil
	return u
}

// AddCategories adds the taxonomy rows of cats (a row in UsageCategories,
// one per ancestor in CategoryAncestors) and returns the groups they
// replace: a category's rows are replaced whole, and categories not
// named stay as they are.
func (n *Normalizer) AddCategories(cats []Category) []warehouse.Group {
	var groups []warehouse.Group
	tc, ta := n.builders[UsageCategories], n.builders[CategoryAncestors]
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for _, c := range cats {
		b := tc.b
		b.Field(0).(*array.StringBuilder).Append(c.Name)
		appendString(b.Field(1), str(c.Parent))
		b.Field(2).(*array.BooleanBuilder).Append(c.Rollup)
		b.Field(3).(*array.BooleanBuilder).Append(c.Overlay)
		b.Field(4).(*array.BooleanBuilder).Append(c.Known)
		for i, v := range []string{c.Hierarchy, c.ServiceGroup, c.ServiceName, c.ServiceCategory, c.ServiceSubcategory, c.ChargeFrequency} {
			b.Field(5 + i).(*array.StringBuilder).Append(v)
		}
		appendString(b.Field(11), str(c.Description))
		tc.n++
		n.rows++
		for d, a := range Ancestors(c) {
			ta.b.Field(0).(*array.StringBuilder).Append(c.Name)
			ta.b.Field(1).(*array.StringBuilder).Append(a)
			ta.b.Field(2).(*array.Int64Builder).Append(int64(d + 1))
			ta.n++
			n.rows++
		}
		groups = append(groups,
			warehouse.Group{Table: UsageCategories, Values: []any{c.Name}},
			warehouse.Group{Table: CategoryAncestors, Values: []any{c.Name}})
	}
	return groups
}

// sims

type simIn struct {
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
}

func (n *Normalizer) addSIM(data []byte) (GroupKey, error) {
	var in simIn
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return GroupKey{}, &RecordError{Stream: catalog.SIMs, Key: "sid=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f fields
	f.required("sid", in.SID)
	created := f.timestamp("date_created", in.DateCreated)
	updated := f.timestamp("date_updated", in.DateUpdated)
	if err := f.err(); err != nil {
		return GroupKey{}, &RecordError{Stream: catalog.SIMs, Key: "sid=" + in.SID, Err: err}
	}
	tb := n.builders[SIMs]
	key := n.recordKey("s", in.SID)
	n.supersede(key)
	n.keep(key, tb.next())
	b := tb.b
	b.Field(0).(*array.StringBuilder).Append(in.SID)
	appendString(b.Field(1), in.AccountSID)
	appendString(b.Field(2), in.UniqueName)
	appendString(b.Field(3), in.FriendlyName)
	appendString(b.Field(4), in.ICCID)
	appendString(b.Field(5), in.EID)
	appendString(b.Field(6), in.RatePlanSID)
	appendString(b.Field(7), in.Status)
	appendTS(b.Field(8), created)
	appendTS(b.Field(9), updated)
	tb.n++
	n.rows++
	return GroupKey{Stream: catalog.SIMs, SID: in.SID}, nil
}

// sim_usage_records

type usageObj struct {
	BillingUnits         *string         `json:"billing_units"`
	Billed               json.RawMessage `json:"billed"`
	Total                json.RawMessage `json:"total"`
	Upload               json.RawMessage `json:"upload"`
	Download             json.RawMessage `json:"download"`
	FromSIM              json.RawMessage `json:"from_sim"`
	ToSIM                json.RawMessage `json:"to_sim"`
	Units                *string         `json:"units"`
	Country              *string         `json:"country"`
	Home                 *usageObj       `json:"home"`
	NationalRoaming      *usageObj       `json:"national_roaming"`
	InternationalRoaming []usageObj      `json:"international_roaming"`
}

type simUsageIn struct {
	SIMSID      string    `json:"sim_sid"`
	AccountSID  *string   `json:"account_sid"`
	PeriodStart string    `json:"period_start"`
	Commands    *usageObj `json:"commands"`
	Data        *usageObj `json:"data"`
}

// amounts are the typed counters of one usage object.
type amounts struct {
	total, upload, download, fromSIM, toSIM nint
	billed                                  dec
}

func (f *fields) amounts(path string, o *usageObj) amounts {
	if o == nil {
		return amounts{}
	}
	return amounts{
		total:    f.integer(path+".total", o.Total),
		upload:   f.integer(path+".upload", o.Upload),
		download: f.integer(path+".download", o.Download),
		fromSIM:  f.integer(path+".from_sim", o.FromSIM),
		toSIM:    f.integer(path+".to_sim", o.ToSIM),
		billed:   f.num(path+".billed", o.Billed),
	}
}

func addInt(a, b nint) nint {
	if !a.valid {
		return b
	}
	if !b.valid {
		return a
	}
	return nint{a.v + b.v, true}
}

func addDec(a, b dec) dec {
	if !a.Valid {
		return b
	}
	if !b.Valid {
		return a
	}
	return dec{Num: a.Num.Add(b.Num), Valid: true}
}

func (a amounts) add(b amounts) amounts {
	return amounts{
		total: addInt(a.total, b.total), upload: addInt(a.upload, b.upload), download: addInt(a.download, b.download),
		fromSIM: addInt(a.fromSIM, b.fromSIM), toSIM: addInt(a.toSIM, b.toSIM), billed: addDec(a.billed, b.billed),
	}
}

// roaming is one international roaming country of a SIM day.
type roaming struct {
	country        string
	data, commands amounts
}

func (n *Normalizer) addSIMUsage(data []byte) (GroupKey, error) {
	var in simUsageIn
	if err := fastjson.Unmarshal(data, &in); err != nil {
		return GroupKey{}, &RecordError{Stream: catalog.SIMUsageRecords, Key: "sim_sid=?, period_start=?", Err: fmt.Errorf("decode: %w", err)}
	}
	var f fields
	f.required("sim_sid", in.SIMSID)
	var day arrow.Date32
	if start, err := time.Parse(time.RFC3339Nano, in.PeriodStart); err != nil {
		f.fail("period_start", strconv.Quote(in.PeriodStart), errors.New("is not an RFC 3339 timestamp"))
	} else {
		day = arrow.Date32FromTime(start.UTC())
	}
	var cur *string
	for _, part := range []struct {
		name string
		o    *usageObj
	}{{"data", in.Data}, {"commands", in.Commands}} {
		if part.o == nil {
			continue
		}
		c := f.currency(part.name+".billing_units", part.o.BillingUnits)
		if c != nil && cur != nil && *c != *cur {
			f.fail(part.name+".billing_units", strconv.Quote(*c), fmt.Errorf("differs from the other part's %s", *cur))
		}
		if c != nil {
			cur = c
		}
	}
	dataAll := f.amounts("data", in.Data)
	cmdAll := f.amounts("commands", in.Commands)
	var dataHome, dataNat, cmdHome, cmdNat, dataIntl, cmdIntl amounts
	var countries []roaming
	at := func(country *string, path string) *roaming {
		if country == nil || *country == "" {
			f.fail(path+".country", "null", errors.New("is missing"))
			return &roaming{}
		}
		c := strings.ToUpper(*country)
		for i := range countries {
			if countries[i].country == c {
				return &countries[i]
			}
		}
		countries = append(countries, roaming{country: c})
		return &countries[len(countries)-1]
	}
	if d := in.Data; d != nil {
		dataHome = f.amounts("data.home", d.Home)
		dataNat = f.amounts("data.national_roaming", d.NationalRoaming)
		for i := range d.InternationalRoaming {
			path := fmt.Sprintf("data.international_roaming[%d]", i)
			a := f.amounts(path, &d.InternationalRoaming[i])
			dataIntl = dataIntl.add(a)
			r := at(d.InternationalRoaming[i].Country, path)
			r.data = r.data.add(a)
		}
	}
	if c := in.Commands; c != nil {
		cmdHome = f.amounts("commands.home", c.Home)
		cmdNat = f.amounts("commands.national_roaming", c.NationalRoaming)
		for i := range c.InternationalRoaming {
			path := fmt.Sprintf("commands.international_roaming[%d]", i)
			a := f.amounts(path, &c.InternationalRoaming[i])
			cmdIntl = cmdIntl.add(a)
			r := at(c.InternationalRoaming[i].Country, path)
			r.commands = r.commands.add(a)
		}
	}
	if err := f.err(); err != nil {
		return GroupKey{}, &RecordError{
			Stream: catalog.SIMUsageRecords,
			Key:    fmt.Sprintf("sim_sid=%s, period_start=%s", in.SIMSID, in.PeriodStart),
			Err:    err,
		}
	}
	var units *string
	if in.Data != nil {
		units = in.Data.Units
	}
	slices.SortFunc(countries, func(a, b roaming) int { return strings.Compare(a.country, b.country) })

	tb := n.builders[SIMUsageDaily]
	rb := n.builders[SIMUsageRoaming]
	var dayBytes [4]byte
	binary.LittleEndian.PutUint32(dayBytes[:], uint32(day))
	key := n.recordKey("m", in.SIMSID, string(dayBytes[:]))
	n.supersede(key)
	refs := []rowRef{tb.next()}
	for i := range countries {
		refs = append(refs, rowRef{rb, rb.n + i})
	}
	n.keep(key, refs...)
	b := tb.b
	b.Field(0).(*array.Date32Builder).Append(day)
	b.Field(1).(*array.StringBuilder).Append(in.SIMSID)
	appendString(b.Field(2), in.AccountSID)
	appendString(b.Field(3), cur)
	appendString(b.Field(4), units)
	appendInt(b.Field(5), dataAll.total)
	appendInt(b.Field(6), dataAll.upload)
	appendInt(b.Field(7), dataAll.download)
	appendDec(b.Field(8), dataAll.billed)
	appendInt(b.Field(9), dataHome.total)
	appendDec(b.Field(10), dataHome.billed)
	appendInt(b.Field(11), dataNat.total)
	appendDec(b.Field(12), dataNat.billed)
	appendInt(b.Field(13), dataIntl.total)
	appendDec(b.Field(14), dataIntl.billed)
	appendInt(b.Field(15), cmdAll.total)
	appendInt(b.Field(16), cmdAll.fromSIM)
	appendInt(b.Field(17), cmdAll.toSIM)
	appendDec(b.Field(18), cmdAll.billed)
	appendInt(b.Field(19), cmdHome.total)
	appendDec(b.Field(20), cmdHome.billed)
	appendInt(b.Field(21), cmdNat.total)
	appendDec(b.Field(22), cmdNat.billed)
	appendInt(b.Field(23), cmdIntl.total)
	appendDec(b.Field(24), cmdIntl.billed)
	tb.n++
	n.rows++

	for _, r := range countries {
		b := rb.b
		b.Field(0).(*array.Date32Builder).Append(day)
		b.Field(1).(*array.StringBuilder).Append(in.SIMSID)
		b.Field(2).(*array.StringBuilder).Append(r.country)
		appendString(b.Field(3), in.AccountSID)
		appendString(b.Field(4), cur)
		appendInt(b.Field(5), r.data.total)
		appendInt(b.Field(6), r.data.upload)
		appendInt(b.Field(7), r.data.download)
		appendDec(b.Field(8), r.data.billed)
		appendInt(b.Field(9), r.commands.total)
		appendInt(b.Field(10), r.commands.fromSIM)
		appendInt(b.Field(11), r.commands.toSIM)
		appendDec(b.Field(12), r.commands.billed)
		rb.n++
		n.rows++
	}
	return GroupKey{Stream: catalog.SIMUsageRecords, SID: in.SIMSID, Day: day}, nil
}
