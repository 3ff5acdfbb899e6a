// Package pipeline connects the connector's messages to a warehouse:
// Load reads Airbyte messages (the output of `twilio-elt read`), Sync runs
// the connector in process, and both feed one Loader that normalizes
// records into bounded Arrow batches and commits them, with the stream
// states they complete, through a warehouse.Destination.
//
// A batch ends at a STATE, once CommitInterval has passed since the last
// commit or MaxRows rows are pending, or at 2 × MaxRows rows; a batch cut
// at the row bound is committed with the states already received only,
// which is safe: a cursor moves only after all its records. The Loader
// tracks the replace groups of the run: the first batch that sees a group
// replaces it, later batches only insert.
//
// Each batch also carries the cost model of the account-days it touches
// (package transforms/costmodel): the Loader attributes every such day in
// Go from its usage rows — those of the batch, plus, for a day an earlier
// batch of the run already began, the rows that batch committed, read
// back — and the batch replaces the day's twilio_cost_daily and
// twilio_reconciliation rows in the same transaction as its usage and
// states.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/raw"
	"github.com/twilio-elt/twilio-elt/transforms"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// Store is the part of a warehouse.Destination the Loader uses: it
// commits batches, and reads back the usage of days a run loads in more
// than one batch.
type Store interface {
	costmodel.Scanner
	Commit(ctx context.Context, b warehouse.Batch) error
}

// Archive keeps every record as received (see package warehouse/raw):
// the loader appends each record as it arrives, and flushes those before
// a batch's mark once the batch is committed.
type Archive interface {
	Append(stream string, emittedAt time.Time, data string) error
	Mark() raw.Mark
	FlushTo(raw.Mark) error
}

// Options configures a Loader.
type Options struct {
	// KeepZeroRows keeps usage rows whose count, usage and price are all zero.
	KeepZeroRows bool
	// MainAccountSID is the main account of the connection the messages
	// come from (sync: the config's account_sid; load: --account-sid):
	// the states and the full-refresh tables (twilio_accounts,
	// twilio_sims) the run stores are its, and it bills usage whose
	// account is not among the run's accounts records. Empty: the first
	// accounts record with is_main names it; with neither, the run stores
	// them unscoped, as a warehouse of one account had them (a full-refresh
	// table is then replaced whole), so loading several connections into
	// one warehouse needs the accounts stream or MainAccountSID.
	MainAccountSID string
	// Prepared: Prepare has readied the destination; the run does not
	// again.
	Prepared bool
	// Listed holds the accounts that other connections of the same run
	// listed (a multi-account sync), by SID: with the warehouse's
	// (Accounts), their names and parents name and bill a subaccount read
	// through its own connection, whose credentials cannot describe it.
	Listed costmodel.Accounts
	// MaxRows bounds a batch (rows over all tables): a STATE ends a
	// batch of MaxRows rows, and 2 × MaxRows rows end one anywhere;
	// default 32768.
	MaxRows int
	// Accounts names the accounts already loaded (costmodel.ReadAccounts);
	// the run's accounts records update it.
	Accounts costmodel.Accounts
	// CommitInterval: a STATE ends the batch only when this long has passed
	// since the last commit (0: every STATE ends a batch).
	CommitInterval time.Duration
	// Archive, when set, receives every record; it is flushed after each
	// commit (see package warehouse/raw).
	Archive Archive
	// OnCommitted is called, in order, with every STATE once it and all
	// records before it are committed (`load` echoes them on stdout).
	OnCommitted func(protocol.State) error
	// SkipUnreadableRuns: LoadRaw rebuilds without the runs an older
	// version left unreadable (killed with a .parquet.partial file),
	// instead of failing.
	SkipUnreadableRuns bool
	// RebuildProgress, when set, is called as the cost tables are rebuilt
	// from the loaded usage (the first run of a new cost model version),
	// with the account-days done and to do.
	RebuildProgress func(done, total int)
	Log             *slog.Logger
	Now             func() time.Time
}

var discardLogger = slog.New(slog.DiscardHandler)

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// DefaultMaxRows bounds a batch so memory stays flat: two batches are
// held at once (one committing, the next being read), and at 32,768 rows
// a 1 M-row load stays under 900 MiB with DuckDB's 512 MB (twice as many
// rows passed 1 GiB, for no measurable speed).
const DefaultMaxRows = 32 << 10

// Stats counts what a Loader did.
type Stats struct {
	Records int64            // records received
	Rows    map[string]int64 // rows committed per table
	Commits int64
	States  int64 // STATEs committed
	// Streams counts the records received per stream.
	Streams map[string]StreamStats
	// UsageFrom and UsageTo span the days of the records received of the
	// streams whose days feed the cost model (zero when none): the days
	// whose cost the run attributed.
	UsageFrom, UsageTo time.Time
}

// StreamStats counts one stream's records of a run.
type StreamStats struct {
	Records    int64
	Partitions int64 // partitions (accounts, SIMs) with records
}

// Loader turns messages into committed batches. It is safe for
// concurrent use (the connector's writers call it from several
// goroutines, one message at a time).
type Loader struct {
	mu         sync.Mutex
	dest       Store
	opts       Options
	norm       *transforms.Normalizer
	groups     *tracker
	replace    []warehouse.Group
	states     map[string]json.RawMessage
	pending    []protocol.State
	lastCommit time.Time
	stats      Stats
	// partitions holds, per stream, the partitions seen.
	partitions map[string]map[string]bool
	sourceErrs []string
	failed     error
	cost       *costState
	// batch holds the groups (of usage and SIM usage) the pending batch
	// has records of: true for one first seen in it, false for one an
	// earlier batch of the run began.
	batch map[transforms.GroupKey]bool
	// continued holds, per usage day an earlier batch of the run began,
	// the categories the pending batch has records of.
	continued map[costmodel.DayKey]map[string]bool
	// Superseded counts records a later one with the same key replaced.
	superseded int
	// flight is the batch being committed in the background, if any.
	flight *flight
	// failedStreams holds the streams a record that cannot be stored
	// ended, with its error.
	failedStreams map[string]error
	// warnedUnscoped: the run said that its main account is unknown.
	warnedUnscoped bool
}

// flight is a batch committing in the background while the next one is
// read: the loader's two halves, decoding and the warehouse's work, use
// two cores. At most one batch is in flight, so commits stay in order.
type flight struct {
	done   chan struct{}
	err    error
	rows   map[string]int64
	states int64
}

// NewLoader returns a Loader committing to dest. Call Finish at the end.
func NewLoader(dest Store, opts Options) *Loader {
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultMaxRows
	}
	if opts.Log == nil {
		opts.Log = discardLogger
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	parents := map[string]string{}
	for sid, a := range opts.Accounts {
		if a.Parent != "" {
			parents[sid] = a.Parent
		}
	}
	return &Loader{
		dest: dest,
		opts: opts,
		norm: transforms.NewNormalizer(transforms.Options{
			KeepZeroRows:   opts.KeepZeroRows,
			MainAccountSID: opts.MainAccountSID,
			Parents:        parents,
		}),
		groups:        newTracker(),
		states:        map[string]json.RawMessage{},
		lastCommit:    opts.Now(),
		stats:         Stats{Rows: map[string]int64{}},
		partitions:    map[string]map[string]bool{},
		cost:          newCostState(opts.Accounts),
		batch:         map[transforms.GroupKey]bool{},
		failedStreams: map[string]error{},
		continued:     map[costmodel.DayKey]map[string]bool{},
	}
}

// Stats returns a snapshot of the counters.
func (l *Loader) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Rows = maps.Clone(l.stats.Rows)
	s.Streams = maps.Clone(l.stats.Streams)
	return s
}

// Handle takes one message. After an error the Loader refuses every
// further message: the run has failed and nothing after is committed.
func (l *Loader) Handle(ctx context.Context, m protocol.Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	if err := l.handle(ctx, m); err != nil {
		l.failed = err
		return err
	}
	return nil
}

func (l *Loader) handle(ctx context.Context, m protocol.Message) error {
	switch m := m.(type) {
	case protocol.Record:
		l.stats.Records++
		s, ok := connector.Lookup(m.Stream)
		if !ok {
			return fmt.Errorf("load: a %s record: no warehouse table takes this stream; nothing of this batch was committed", m.Stream)
		}
		if l.failedStreams[s.Name] != nil {
			return nil // the stream failed: the rest of it is not loaded
		}
		k, err := s.Normalize(l.norm, m.Data)
		var recErr *transforms.RecordError
		if errors.As(err, &recErr) {
			l.failStream(s, err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("load: %w; nothing of this batch was committed", err)
		}
		if l.opts.Archive != nil {
			if err := l.opts.Archive.Append(m.Stream, m.EmittedAt, string(m.Data)); err != nil {
				return err
			}
		}
		l.count(s, k)
		l.see(s, k)
		if l.norm.Rows() >= 2*l.opts.MaxRows {
			return l.commit(ctx)
		}
	case protocol.State:
		if l.failedStreams[m.Stream] != nil {
			return nil // its cursor stays where its last committed records are
		}
		if s, ok := connector.Lookup(m.Stream); ok && s.Replace == connector.ReplaceSnapshot {
			// A snapshot that ended with no records: its tables are
			// replaced by nothing.
			l.see(s, transforms.GroupKey{Stream: m.Stream})
			if slices.ContainsFunc(s.Tables, func(t warehouse.Table) bool { return t.Name == connector.AccountsTable }) {
				l.cost.accountsEnded(l.norm.Main())
			}
		}
		l.states[m.Stream] = m.Data
		l.pending = append(l.pending, m)
		if l.opts.Now().Sub(l.lastCommit) >= l.opts.CommitInterval || l.norm.Rows() >= l.opts.MaxRows {
			return l.commit(ctx)
		}
	case protocol.Error:
		l.sourceErrs = append(l.sourceErrs, m.Message)
		l.opts.Log.Error("the source reported an error", "message", m.Message, "stream", m.Stream)
	case protocol.Log:
		l.opts.Log.Log(ctx, m.Level, m.Message)
	}
	return nil
}

// failStream ends stream s's part of the run after a record that cannot
// be stored: what the pending batch holds of s (rows, replace groups,
// states, cost days) is dropped, and its later records and states are
// ignored, so its cursors stay where its committed records are. The other
// streams load on; Finish reports the failure.
func (l *Loader) failStream(s *connector.Stream, err error) {
	l.failedStreams[s.Name] = err
	l.opts.Log.Error("a record cannot be stored: the rest of its stream is not loaded this run, and its state does not move", "stream", s.Name, "error", err.Error())
	tables := map[string]bool{}
	for _, t := range s.Tables {
		tables[t.Name] = true
		l.norm.Discard(t.Name)
	}
	l.replace = slices.DeleteFunc(l.replace, func(g warehouse.Group) bool { return tables[g.Table] })
	l.pending = slices.DeleteFunc(l.pending, func(st protocol.State) bool { return st.Stream == s.Name })
	delete(l.states, s.Name)
	for k := range l.batch {
		if k.Stream == s.Name {
			delete(l.batch, k)
		}
	}
	if s.Costed {
		l.cost.discard()
		clear(l.continued)
	}
}

// count adds a record of stream s to the stats.
func (l *Loader) count(s *connector.Stream, k transforms.GroupKey) {
	if l.stats.Streams == nil {
		l.stats.Streams = map[string]StreamStats{}
	}
	st := l.stats.Streams[s.Name]
	st.Records++
	if k.SID != "" {
		seen := l.partitions[s.Name]
		if seen == nil {
			seen = map[string]bool{}
			l.partitions[s.Name] = seen
		}
		if !seen[k.SID] {
			seen[k.SID] = true
			st.Partitions++
		}
	}
	l.stats.Streams[s.Name] = st
	if s.Costed {
		day := k.Day.ToTime().UTC()
		if l.stats.UsageFrom.IsZero() || day.Before(l.stats.UsageFrom) {
			l.stats.UsageFrom = day
		}
		if day.After(l.stats.UsageTo) {
			l.stats.UsageTo = day
		}
	}
}

// see notes that a record of group k of stream s arrived. The first batch
// of the run to see a group replaces it. A later batch that sees it again
// replaces it again, with what it holds of the group: a snapshot's later
// batches replace their records, a day of one record (a SIM's) is
// replaced by the last, and a day of many records (an account's usage)
// also carries the rows earlier batches committed that none of its
// records supersede (see carry).
func (l *Loader) see(s *connector.Stream, k transforms.GroupKey) {
	if s.Replace == connector.ReplaceSnapshot {
		whole := transforms.GroupKey{Stream: k.Stream}
		main := l.norm.Main()
		if l.groups.firstSight(whole) {
			l.replace = append(l.replace, s.SnapshotGroups(main)...)
			l.batch[whole] = true
		}
		// A record replaces its key: one another connection stored (a
		// subaccount also connected on its own) is stored once. A batch
		// that replaces the table whole needs no more.
		if k.SID != "" && (main != "" || !l.batch[whole]) {
			l.replace = append(l.replace, s.Groups(k)...)
		}
		return
	}
	item := k.Item
	k.Item = ""
	first := l.groups.firstSight(k)
	if first {
		l.replace = append(l.replace, s.Groups(k)...)
	}
	fresh, seen := l.batch[k]
	if !seen {
		fresh = first
		l.batch[k] = fresh
		if !fresh {
			l.replace = append(l.replace, s.Groups(k)...)
		}
	}
	if s.Costed {
		day := costmodel.DayKey{AccountSID: k.SID, Date: k.Day}
		l.cost.touch(day)
		if !fresh && s.Replace == connector.ReplaceDayOfMany {
			if l.continued[day] == nil {
				l.continued[day] = map[string]bool{}
			}
			l.continued[day][item] = true
		}
	}
}

// carry adds to the pending batch the committed rows of the usage days
// an earlier batch of the run began that no record of the batch
// supersedes: the batch replaces those days whole.
func (l *Loader) carry(ctx context.Context) error {
	if len(l.continued) == 0 {
		return nil
	}
	days := make([]costmodel.DayKey, 0, len(l.continued))
	for k := range l.continued {
		days = append(days, k)
	}
	earlier, err := costmodel.ReadDays(ctx, l.dest, days)
	if err != nil {
		return fmt.Errorf("read back the usage of %d days loaded in more than one batch: %w", len(days), err)
	}
	for k, rows := range earlier {
		for _, r := range rows {
			if !l.continued[k][r.Category] {
				l.norm.AddUsageRow(r)
			}
		}
	}
	return nil
}

// Finish commits what is pending. It returns an error when the source
// reported one (after committing what came before it, which is safe).
func (l *Loader) Finish(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.norm.Release()
	defer l.cost.release()
	if l.failed != nil {
		return l.failed
	}
	if err := l.commit(ctx); err != nil {
		l.failed = err
		return err
	}
	if err := l.land(); err != nil {
		l.failed = err
		return err
	}
	if l.superseded > 0 {
		l.opts.Log.Warn(fmt.Sprintf("%d records repeated a primary key already received in this run: the last of each was kept", l.superseded))
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(l.failedStreams)) {
		errs = append(errs, fmt.Errorf("stream %s was not loaded past its last committed state: %w", name, l.failedStreams[name]))
	}
	if len(l.sourceErrs) > 0 {
		errs = append(errs, fmt.Errorf("the source failed: %s", l.sourceErrs[0]))
	}
	return errors.Join(errs...)
}

// Abort ends a failed run without committing what is pending.
func (l *Loader) Abort() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		l.failed = errors.New("load aborted")
	}
	if l.flight != nil {
		<-l.flight.done
		l.flight = nil
	}
	l.norm.Release()
	l.cost.release()
}

// commit ends the pending batch: it waits for the batch in flight, then
// sends this one into flight.
func (l *Loader) commit(ctx context.Context) error {
	if err := l.land(); err != nil {
		return err
	}
	var unknown []transforms.Category
	for _, name := range l.norm.UnknownCategories() {
		c := transforms.ClassifyCategory(name)
		l.opts.Log.Warn(fmt.Sprintf("usage category %q is not in twilio-elt's category table: counted as a leaf under %s, service group %s; check twilio_reconciliation", name, c.Parent, c.ServiceGroup))
		unknown = append(unknown, c)
	}
	l.replace = append(l.replace, l.norm.AddCategories(unknown)...)
	for _, w := range l.norm.TakeWarnings() {
		l.opts.Log.Warn(w)
	}
	l.cost.accounts(l.norm.TakeAccounts(), l.norm.Main())
	if l.norm.Rows() == 0 && len(l.replace) == 0 && len(l.pending) == 0 && !l.cost.pending() {
		return nil
	}
	if err := l.carry(ctx); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	now := l.opts.Now()
	rows, err := l.norm.Flush(now)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	l.superseded += l.norm.Superseded()
	b := warehouse.Batch{Replace: l.replace, Rows: rows, States: l.states, Account: l.norm.Main()}
	if len(b.States) > 0 && b.Account == "" && !l.warnedUnscoped {
		l.warnedUnscoped = true
		l.opts.Log.Warn("the main account of this input is unknown (no --account-sid, and no accounts record with is_main came first): " +
			"its stream states and full-refresh tables are stored unscoped, as a warehouse of one Twilio account has them; " +
			"to load several accounts into one warehouse, include the accounts stream or give --account-sid")
	}
	if err := l.cost.attribute(&b, now); err != nil {
		for _, r := range rows {
			r.Release()
		}
		return fmt.Errorf("load: %w", err)
	}
	pending := l.pending
	l.replace, l.states, l.pending = nil, map[string]json.RawMessage{}, nil
	var mark raw.Mark
	if l.opts.Archive != nil {
		mark = l.opts.Archive.Mark()
	}
	l.cost.committed()
	clear(l.batch)
	clear(l.continued)
	l.lastCommit = now

	f := &flight{done: make(chan struct{}), rows: map[string]int64{}}
	l.flight = f
	go func() {
		defer close(f.done)
		defer func() {
			for _, r := range b.Rows {
				r.Release()
			}
		}()
		if err := l.dest.Commit(ctx, b); err != nil {
			f.err = fmt.Errorf("load: %w", err)
			return
		}
		for name, r := range b.Rows {
			f.rows[name] += r.NumRows()
		}
		if a := l.opts.Archive; a != nil {
			// Only what is committed is archived.
			if err := a.FlushTo(mark); err != nil {
				f.err = fmt.Errorf("load: committed, but %w", err)
				return
			}
		}
		for _, s := range pending {
			f.states++
			if l.opts.OnCommitted != nil {
				if err := l.opts.OnCommitted(s); err != nil {
					f.err = fmt.Errorf("load: echo state of %s: %w", s.Stream, err)
					return
				}
			}
		}
	}()
	return nil
}

// land waits for the batch in flight, if any, and counts it.
func (l *Loader) land() error {
	f := l.flight
	if f == nil {
		return nil
	}
	<-f.done
	l.flight = nil
	if f.err != nil {
		return f.err
	}
	l.stats.Commits++
	l.stats.States += f.states
	for name, n := range f.rows {
		l.stats.Rows[name] += n
	}
	return nil
}

// Writer adapts the Loader to protocol.Writer for ctx, so the connector
// can write into it.
func (l *Loader) Writer(ctx context.Context) protocol.Writer { return loaderWriter{l, ctx} }

type loaderWriter struct {
	l   *Loader
	ctx context.Context
}

func (w loaderWriter) Write(m protocol.Message) error { return w.l.Handle(w.ctx, m) }

// tracker remembers the replace groups a run has seen: per stream and
// SID, a bitset of days, so a fleet's many SIM-days stay small.
type tracker struct {
	whole map[string]bool
	days  map[trackKey]*daySet
}

type trackKey struct{ stream, sid string }

type daySet struct {
	base  int32 // day of bit 0 of words[0]; a multiple of 64
	words []uint64
}

func newTracker() *tracker {
	return &tracker{whole: map[string]bool{}, days: map[trackKey]*daySet{}}
}

// firstSight reports whether k is new to the run, and remembers it. A key
// with no SID is a whole snapshot.
func (t *tracker) firstSight(k transforms.GroupKey) bool {
	if k.SID == "" {
		if t.whole[k.Stream] {
			return false
		}
		t.whole[k.Stream] = true
		return true
	}
	tk := trackKey{k.Stream, k.SID}
	ds := t.days[tk]
	if ds == nil {
		ds = &daySet{base: floor64(int32(k.Day))}
		t.days[tk] = ds
	}
	return ds.add(int32(k.Day))
}

func floor64(d int32) int32 {
	if d < 0 {
		return -((-d + 63) / 64 * 64)
	}
	return d / 64 * 64
}

func (s *daySet) add(d int32) bool {
	if d < s.base {
		nb := floor64(d)
		shift := int((s.base - nb) / 64)
		s.words = append(make([]uint64, shift), s.words...)
		s.base = nb
	}
	i := int((d - s.base) / 64)
	for i >= len(s.words) {
		s.words = append(s.words, 0)
	}
	bit := uint64(1) << uint((d-s.base)%64)
	if s.words[i]&bit != 0 {
		return false
	}
	s.words[i] |= bit
	return true
}
