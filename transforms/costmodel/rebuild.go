package costmodel

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// Store is a warehouse whose cost tables can be rebuilt: it streams query
// results and commits batches.
type Store interface {
	Scanner
	Commit(ctx context.Context, b warehouse.Batch) error
}

// RebuildOptions configures Rebuild.
type RebuildOptions struct {
	// Days limits the rebuild to these account-days. Nil rebuilds every
	// day: both tables are emptied first, so cost rows of days whose
	// usage is gone go too.
	Days []DayKey
	// Accounts names the accounts; nil reads twilio_accounts.
	Accounts Accounts
	// Progress, when set, is called after each commit with the
	// account-days done and to do.
	Progress func(done, total int)
	// MaxRows bounds a commit's cost rows; default 65536.
	MaxRows int
	Now     func() time.Time
}

// RebuildStats counts what Rebuild did.
type RebuildStats struct {
	Days, CostRows int
}

// chunkRows bounds the usage rows of one query of a full rebuild, so
// neither engine sorts more than that at once.
const chunkRows = 1 << 18

// Rebuild recomputes twilio_cost_daily and twilio_reconciliation from
// twilio_usage_daily, with no call to Twilio: every account-day, or those
// of opts.Days. It reads the usage in day order, a span of days per
// query, attributes each account-day and commits the cost rows in batches
// that replace their account-days.
func Rebuild(ctx context.Context, s Store, opts RebuildOptions) (RebuildStats, error) {
	if opts.MaxRows <= 0 {
		opts.MaxRows = 64 << 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Accounts == nil {
		acc, err := ReadAccounts(ctx, s)
		if err != nil {
			return RebuildStats{}, err
		}
		opts.Accounts = acc
	}
	b := newBatcher(s, opts)
	defer b.release()
	var spans []span
	if opts.Days == nil {
		var err error
		if spans, b.total, err = daySpans(ctx, s); err != nil {
			return b.st, err
		}
		empty := warehouse.Batch{Replace: []warehouse.Group{{Table: CostDaily}, {Table: Reconciliation}}}
		if err := s.Commit(ctx, empty); err != nil {
			return b.st, fmt.Errorf("rebuild costs: empty the cost tables: %w", err)
		}
	} else {
		spans, b.total = keySpans(s.Dialect(), opts.Days)
	}
	for _, sp := range spans {
		seen := map[DayKey]bool{}
		err := scanUsage(ctx, s, sp.where, sp.keep, func(d Day) error {
			seen[DayKey{d.AccountSID, d.Date}] = true
			return b.add(ctx, d)
		})
		if err != nil {
			return b.st, fmt.Errorf("rebuild costs: %w", err)
		}
		// An account-day whose usage is gone loses its cost rows.
		for _, k := range sp.keys {
			if !seen[k] {
				b.replaceDay(k)
			}
		}
		if err := b.commit(ctx); err != nil {
			return b.st, err
		}
	}
	return b.st, nil
}

// span is the usage one query of a rebuild reads: rows matching where and
// keep (nil: all), and the account-days it must replace beyond those
// read.
type span struct {
	where string
	keep  func(DayKey) bool
	keys  []DayKey
}

// daySpans splits every day of twilio_usage_daily into spans of about
// chunkRows rows, and counts its account-days.
func daySpans(ctx context.Context, s Scanner) ([]span, int, error) {
	days, err := usageDays(ctx, s)
	if err != nil {
		return nil, 0, err
	}
	d := s.Dialect()
	var spans []span
	total := 0
	for i := 0; i < len(days); {
		j, rows := i, 0
		for j < len(days) && (j == i || rows+days[j].rows <= chunkRows) {
			rows += days[j].rows
			total += days[j].accounts
			j++
		}
		spans = append(spans, span{where: fmt.Sprintf("usage_date BETWEEN DATE %s AND DATE %s",
			d.Literal(days[i].date.FormattedString()), d.Literal(days[j-1].date.FormattedString()))})
		i = j
	}
	return spans, total, nil
}

// keySpans splits account-days into spans of at most spanAccounts
// accounts each (an IN list the BigQuery emulator can run), in order of
// account and day.
func keySpans(d warehouse.Dialect, days []DayKey) ([]span, int) {
	keys := slices.Clone(days)
	slices.SortFunc(keys, func(a, b DayKey) int {
		return cmp.Or(strings.Compare(a.AccountSID, b.AccountSID), cmp.Compare(a.Date, b.Date))
	})
	keys = slices.Compact(keys)
	var spans []span
	for i := 0; i < len(keys); {
		j, accounts := i, 0
		for j < len(keys) && (accounts < spanAccounts || keys[j].AccountSID == keys[j-1].AccountSID) {
			if j == i || keys[j].AccountSID != keys[j-1].AccountSID {
				accounts++
			}
			j++
		}
		where, keep := daysWhere(d, keys[i:j])
		spans = append(spans, span{where: where, keep: keep, keys: keys[i:j]})
		i = j
	}
	return spans, len(keys)
}

// spanAccounts bounds the accounts one query of account-days names.
const spanAccounts = 100

type usageDay struct {
	date           arrow.Date32
	rows, accounts int
}

// usageDays lists the days of twilio_usage_daily with their rows and
// accounts.
func usageDays(ctx context.Context, s Scanner) ([]usageDay, error) {
	q, err := s.Dialect().Render(`SELECT CAST(usage_date AS {{string}}), COUNT(*), COUNT(DISTINCT account_sid)
FROM {{table "twilio_usage_daily"}} GROUP BY usage_date ORDER BY usage_date`)
	if err != nil {
		return nil, err
	}
	var out []usageDay
	err = s.QueryEach(ctx, q, func(row []sql.NullString) error {
		t, err := time.Parse(time.DateOnly, row[0].String)
		if err != nil {
			return fmt.Errorf("usage_date %q: %w", row[0].String, err)
		}
		rows, err1 := strconv.Atoi(row[1].String)
		accounts, err2 := strconv.Atoi(row[2].String)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("day %s: counts %q, %q", row[0].String, row[1].String, row[2].String)
		}
		out = append(out, usageDay{arrow.Date32FromTime(t), rows, accounts})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rebuild costs: list the days of twilio_usage_daily: %w", err)
	}
	return out, nil
}

// batcher accumulates attributed days into commits.
type batcher struct {
	s       Store
	opts    RebuildOptions
	attr    *Attributor
	costs   *transforms.RowBuilder[Cost]
	recons  *transforms.RowBuilder[Recon]
	buf     []Cost
	replace []warehouse.Group
	st      RebuildStats
	total   int // account-days to do
}

func newBatcher(s Store, opts RebuildOptions) *batcher {
	return &batcher{
		s: s, opts: opts, attr: NewAttributor(),
		costs:  transforms.NewRowBuilder(nil, CostColumns),
		recons: transforms.NewRowBuilder(nil, ReconciliationColumns),
	}
}

func (b *batcher) release() {
	b.costs.Release()
	b.recons.Release()
}

func (b *batcher) replaceDay(k DayKey) {
	b.replace = append(b.replace, CostGroups(k.AccountSID, k.Date)...)
	b.st.Days++
}

// add attributes d; its rows commit once enough have gathered.
func (b *batcher) add(ctx context.Context, d Day) error {
	var r *Recon
	b.buf, r = b.attr.Attribute(d, b.opts.Accounts, b.buf[:0])
	for i := range b.buf {
		b.costs.Append(&b.buf[i])
	}
	if r != nil {
		b.recons.Append(r)
	}
	b.replaceDay(DayKey{d.AccountSID, d.Date})
	if b.costs.Len() >= b.opts.MaxRows {
		return b.commit(ctx)
	}
	return nil
}

// commit commits what has gathered, replacing its account-days.
func (b *batcher) commit(ctx context.Context) error {
	if len(b.replace) == 0 {
		return nil
	}
	now := b.opts.Now()
	rows := map[string]arrow.RecordBatch{}
	if rec := b.costs.Flush(now); rec != nil {
		rows[CostDaily] = rec
		b.st.CostRows += int(rec.NumRows())
	}
	if rec := b.recons.Flush(now); rec != nil {
		rows[Reconciliation] = rec
	}
	defer func() {
		for _, r := range rows {
			r.Release()
		}
	}()
	if err := b.s.Commit(ctx, warehouse.Batch{Replace: b.replace, Rows: rows}); err != nil {
		return fmt.Errorf("rebuild costs: %w", err)
	}
	b.replace = b.replace[:0]
	if b.opts.Progress != nil {
		b.opts.Progress(b.st.Days, max(b.total, b.st.Days))
	}
	return nil
}
