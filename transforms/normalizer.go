package transforms

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/valyala/fastjson"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// Options configures a Normalizer.
type Options struct {
	// KeepZeroRows keeps usage rows whose count, usage and price are all
	// zero; by default they are dropped (Twilio returns every category
	// every day).
	KeepZeroRows bool
	// MainAccountSID is the main account of the connection the records
	// come from (the config's account_sid), and the billing account of
	// usage whose account was not among the run's accounts records. Empty:
	// the first accounts record with is_main names it (see Main).
	MainAccountSID string
	// Parents holds the parent of each account known before the run (the
	// warehouse's twilio_accounts, and what other connections of the run
	// listed): an account read through its own connection, whose
	// credentials cannot tell its parent, keeps the known one.
	Parents map[string]string
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
// the account or SID and the UTC day for a day-grouped stream, the
// record's SID for a snapshot stream (whose table the first batch of a
// read replaces whole: the GroupKey with no SID).
type GroupKey struct {
	Stream string
	SID    string
	Day    arrow.Date32
	// Item is the record's key within a group of many records: the
	// category of a usage record ("" for other streams).
	Item string
}

// Normalizer builds Arrow batches of warehouse tables from records: each
// stream's normalizer (the stream registry's) appends Go rows to the rows
// of its tables (RowsOf), and Flush turns them into one record batch per
// table. It keeps the rows added since the last Flush; callers bound a
// batch by Rows. It also carries what one stream's records tell another's
// (which account bills which), and drops the rows of a record that a
// later record with the same primary key supersedes. It is not safe for
// concurrent use.
type Normalizer struct {
	opts   Options
	tables map[string]rowSet
	order  []rowSet
	rows   int
	// billing maps an account to its main account, from the accounts
	// records seen.
	billing map[string]string
	// main is the main account of the records (Main); mainFixed is set
	// once Main has answered.
	main      string
	mainFixed bool
	// categories holds the usage categories seen; unknown those of them
	// the shipped taxonomy lacks, not yet taken by UnknownCategories.
	categories map[string]struct{}
	unknown    []string
	// accounts holds the accounts records added since TakeAccounts.
	accounts []AccountName
	// live maps the primary key of each record added since the last
	// Flush to its rows, so that a later record with the key supersedes
	// them; superseded counts those records.
	live       map[string][]RowRef
	keyBuf     []byte
	superseded int
	// warned holds the kinds of warning given; warnings those not yet
	// taken by TakeWarnings.
	warned   map[string]bool
	warnings []string
	// parser, strings and scratch serve Parse and its Objects.
	parser  fastjson.Parser
	members []member
	strings map[string]string
	scratch []byte
}

// Warn records a warning about the data, once per Normalizer for each
// kind: something Twilio leaves undocumented that the data did not fit,
// handled without failing. The loader logs them.
func (n *Normalizer) Warn(kind, message string) {
	if n.warned[kind] {
		return
	}
	n.warned[kind] = true
	n.warnings = append(n.warnings, message)
}

// TakeWarnings returns the warnings given since the last call.
func (n *Normalizer) TakeWarnings() []string {
	w := n.warnings
	n.warnings = nil
	return w
}

// rowSet is one table's rows of a batch, whatever its row type.
type rowSet interface {
	table() warehouse.Table
	len() int
	kill(i int)
	flush(mem memory.Allocator, loadedAt time.Time) (arrow.RecordBatch, error)
	release()
}

// Rows are one table's rows of a batch: the rows of a TableDef[R].
type Rows[R any] struct {
	n    *Normalizer
	def  *TableDef[R]
	b    *RowBuilder[R]
	dead []int // rows a later record with the same key superseded
}

// RowRef is a row a record added to a table.
type RowRef struct {
	set rowSet
	i   int
}

// RowsOf returns the rows of def in n.
func RowsOf[R any](n *Normalizer, def *TableDef[R]) *Rows[R] {
	if s, ok := n.tables[def.Name]; ok {
		return s.(*Rows[R])
	}
	r := &Rows[R]{n: n, def: def, b: NewRowBuilder(n.opts.Allocator, def.Columns)}
	n.tables[def.Name] = r
	n.order = append(n.order, r)
	return r
}

// Append adds row and returns where it went.
func (r *Rows[R]) Append(row *R) RowRef {
	ref := RowRef{r, r.b.Len()}
	r.b.Append(row)
	r.n.rows++
	return ref
}

func (r *Rows[R]) table() warehouse.Table { return r.def.Table }
func (r *Rows[R]) len() int               { return r.b.Len() }
func (r *Rows[R]) kill(i int)             { r.dead = append(r.dead, i) }
func (r *Rows[R]) release()               { r.b.Release() }

func (r *Rows[R]) flush(mem memory.Allocator, loadedAt time.Time) (arrow.RecordBatch, error) {
	rec := r.b.Flush(loadedAt)
	dead := r.dead
	r.dead = r.dead[:0]
	if rec == nil || len(dead) == 0 {
		return rec, nil
	}
	defer rec.Release()
	return dropRows(mem, rec, dead)
}

// NewNormalizer returns a Normalizer.
func NewNormalizer(opts Options) *Normalizer {
	if opts.Allocator == nil {
		opts.Allocator = memory.NewGoAllocator()
	}
	return &Normalizer{
		opts: opts, main: opts.MainAccountSID, tables: map[string]rowSet{}, billing: map[string]string{},
		categories: map[string]struct{}{}, live: map[string][]RowRef{}, warned: map[string]bool{},
		strings: map[string]string{},
	}
}

// Options returns the options n was made with.
func (n *Normalizer) Options() Options { return n.opts }

// Rows returns the number of rows added since the last Flush, over all
// tables.
func (n *Normalizer) Rows() int { return n.rows }

// Flush returns the rows added since the last Flush as one record batch
// per table that has rows, with _loaded_at set to loadedAt. Of records
// with the same primary key only the last one's rows are in it. The
// caller releases the batches.
func (n *Normalizer) Flush(loadedAt time.Time) (map[string]arrow.RecordBatch, error) {
	out := map[string]arrow.RecordBatch{}
	var err error
	for _, s := range n.order {
		rec, ferr := s.flush(n.opts.Allocator, loadedAt)
		if ferr != nil && err == nil {
			err = ferr
		}
		if rec != nil {
			out[s.table().Name] = rec
		}
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

// Release frees the builders.
func (n *Normalizer) Release() {
	for _, s := range n.order {
		s.release()
	}
}

// Discard drops the rows of table added since the last Flush: the stream
// they came from failed.
func (n *Normalizer) Discard(table string) {
	s, ok := n.tables[table]
	if !ok {
		return
	}
	for i := range s.len() {
		s.kill(i)
	}
	n.rows -= s.len()
}

// Supersede starts a record whose primary key is the concatenation of
// parts: the rows an earlier record with that key added since the last
// Flush are dropped. Call Keep next with the rows this record adds (none
// for a record that adds none, which still supersedes).
func (n *Normalizer) Supersede(parts ...string) {
	b := n.keyBuf[:0]
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	n.keyBuf = b
	refs, ok := n.live[string(b)]
	if !ok {
		return
	}
	for _, r := range refs {
		r.set.kill(r.i)
	}
	delete(n.live, string(b))
	n.superseded++
}

// Keep records the rows the record Supersede started added.
func (n *Normalizer) Keep(refs ...RowRef) {
	n.live[string(n.keyBuf)] = refs
}

// Superseded returns how many records a later record with the same
// primary key superseded since the last call.
func (n *Normalizer) Superseded() int {
	s := n.superseded
	n.superseded = 0
	return s
}

// AccountName is what the cost model needs of an accounts record: the
// name people know the account by (its display name, else Twilio's
// friendly name) and its parent, the account billed for it.
type AccountName struct {
	SID, Name, Parent string
}

// NoteAccount records what an accounts record tells: its name for the
// cost model, and the account that bills it (billing "" for none known)
// for the usage records of the run.
func (n *Normalizer) NoteAccount(a AccountName, billing string) {
	if billing != "" {
		n.billing[a.SID] = billing
	}
	n.accounts = append(n.accounts, a)
}

// NoteMain records that an accounts record names sid as the main account
// of the records: it becomes Main, unless Options.MainAccountSID or an
// earlier record named one, or Main has already answered.
func (n *Normalizer) NoteMain(sid string) {
	if n.main == "" && !n.mainFixed {
		n.main = sid
	}
}

// Main returns the main account of the connection the records come from:
// Options.MainAccountSID, else the first accounts record with is_main
// before the first call. "" means unknown: what the run stores is then
// unscoped, as a warehouse of one account had it. Its answer never
// changes, so every row and state of a run has one scope.
func (n *Normalizer) Main() string {
	n.mainFixed = true
	return n.main
}

// KnownParent returns the parent of account sid known before the run
// (Options.Parents), or "".
func (n *Normalizer) KnownParent(sid string) string { return n.opts.Parents[sid] }

// TakeAccounts returns the accounts records added since the last call.
func (n *Normalizer) TakeAccounts() []AccountName {
	a := n.accounts
	n.accounts = nil
	return a
}

// Billing returns the account that bills account sid: its main account
// by the run's accounts records, else Options.MainAccountSID ("" when
// neither is known).
func (n *Normalizer) Billing(sid string) string {
	if b, ok := n.billing[sid]; ok {
		return b
	}
	return n.opts.MainAccountSID
}

// NoteCategory records a usage category a record named.
func (n *Normalizer) NoteCategory(name string) {
	if _, ok := n.categories[name]; ok {
		return
	}
	n.categories[name] = struct{}{}
	if _, known := LookupCategory(name); !known {
		n.unknown = append(n.unknown, name)
	}
}

// UnknownCategories returns the usage categories that records named since
// the last call and the shipped taxonomy does not know, each once per
// Normalizer, in order of first sight.
func (n *Normalizer) UnknownCategories() []string {
	u := n.unknown
	n.unknown = nil
	return u
}

// AddUsageRow adds a usage row read back from the warehouse, as it was
// loaded: a day an earlier batch of the run began keeps the rows no
// record of this batch supersedes.
func (n *Normalizer) AddUsageRow(r UsageRow) { RowsOf(n, UsageTable).Append(&r) }

// AddCategories adds the taxonomy rows of cats (a row in UsageCategories,
// one per ancestor in CategoryAncestors) and returns the groups they
// replace: a category's rows are replaced whole, and categories not
// named stay as they are.
func (n *Normalizer) AddCategories(cats []Category) []warehouse.Group {
	var groups []warehouse.Group
	tc, ta := RowsOf(n, CategoriesTable), RowsOf(n, AncestorsTable)
	for i := range cats {
		c := &cats[i]
		tc.Append(c)
		for d, a := range Ancestors(*c) {
			ta.Append(&Ancestor{Category: c.Name, Ancestor: a, Distance: int64(d + 1)})
		}
		groups = append(groups,
			warehouse.Group{Table: UsageCategories, Values: []any{c.Name}},
			warehouse.Group{Table: CategoryAncestors, Values: []any{c.Name}})
	}
	return groups
}
