package connector

import (
	"errors"
	"fmt"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/state"
)

// CursorPolicy is how an incremental stream's cursor moves, one set of
// rules every incremental stream shares, implemented once; a stream states
// only its parameters. A cursor is the last complete UTC day read, per
// partition:
//
//   - a partition starts at its cursor less the lookback (at least
//     MinLookbackDays), never before start_date, nor before the oldest
//     day Twilio keeps (RetentionMonths); a new partition, or a full
//     refresh, starts at start_date;
//   - a partition that stopped accruing (a closed account, a canceled
//     SIM) whose last day is behind its cursor and older than the
//     lookback is settled: nothing to read;
//   - a read goes in windows of at most WindowDays days, and after each
//     one the cursor moves to the window's last day, but never past the
//     last complete UTC day, so today is read again next time, and never
//     backwards.
type CursorPolicy struct {
	// Layout is the cursor's text in the state: time.DateOnly or
	// time.RFC3339 (midnight UTC).
	Layout string
	// WindowDays is the most days one window of requests covers.
	WindowDays int
	// MinLookbackDays is the fewest days before the cursor every
	// incremental read re-reads, whatever lookback_days says: data that
	// arrives late.
	MinLookbackDays int
	// RetentionMonths is how long Twilio keeps the data; 0 for always.
	RetentionMonths int
}

// day is one UTC calendar day.
const day = 24 * time.Hour

// utcDay truncates t to its UTC midnight.
func utcDay(t time.Time) time.Time { return t.UTC().Truncate(day) }

// Check rejects a state whose cursors do not parse, before the read
// writes anything.
func (p *CursorPolicy) Check(stream string, st *state.Stream) error {
	var errs []error
	for _, part := range st.Partitions() {
		v, _ := st.Cursor(part)
		if _, err := time.Parse(p.Layout, v); err != nil {
			errs = append(errs, fmt.Errorf("state of stream %s, partition %s: cursor %q is not a %s timestamp", stream, part, v, p.Layout))
		}
	}
	return errors.Join(errs...)
}

// Clamp moves every cursor of st that is after the last complete UTC day
// before today back to that day, and returns the cursors it moved, by
// partition, as they were: a
// cursor in the future (a clock gone wrong, a hand-edited state) would
// otherwise skip its partition forever, since a cursor never goes back.
func (p *CursorPolicy) Clamp(st *state.Stream, today time.Time) map[string]string {
	yesterday := today.AddDate(0, 0, -1)
	moved := map[string]string{}
	for _, part := range st.Partitions() {
		v, _ := st.Cursor(part)
		c, err := time.Parse(p.Layout, v)
		if err != nil || !utcDay(c).After(yesterday) {
			continue
		}
		st.Set(part, yesterday.Format(p.Layout))
		moved[part] = v
	}
	return moved
}

// Floor returns the first day a read may ask for: start, unless Twilio
// keeps less (then the oldest day it keeps, and clamped true).
func (p *CursorPolicy) Floor(start, today time.Time) (floor time.Time, clamped bool) {
	if p.RetentionMonths > 0 {
		if retained := today.AddDate(0, -p.RetentionMonths, 0); start.Before(retained) {
			return retained, true
		}
	}
	return start, false
}

// Lookback returns the days re-read before a cursor, for a configured
// lookback_days.
func (p *CursorPolicy) Lookback(configured int) int { return max(configured, p.MinLookbackDays) }

// Start is the first day a partition reads: floor for a full refresh or a
// new partition, else the cursor less lookback, never before floor.
func (p *CursorPolicy) Start(st *state.Stream, partition string, floor time.Time, lookback int, incremental bool) time.Time {
	if !incremental || st == nil {
		return floor
	}
	v, ok := st.Cursor(partition)
	if !ok {
		return floor
	}
	c, err := time.Parse(p.Layout, v)
	if err != nil { // Check ran before the read started
		return floor
	}
	start := utcDay(c).AddDate(0, 0, -lookback)
	if start.Before(floor) {
		return floor
	}
	return start
}

// Settled reports whether a partition that stopped accruing on last has
// nothing left to read: its cursor reached last, and last is older than
// the lookback, so Twilio will not revise it any more.
func (p *CursorPolicy) Settled(st *state.Stream, partition string, last, today time.Time, lookback int) bool {
	if st == nil {
		return false
	}
	v, ok := st.Cursor(partition)
	if !ok {
		return false
	}
	c, err := time.Parse(p.Layout, v)
	return err == nil && !utcDay(c).Before(last) && last.AddDate(0, 0, lookback).Before(today)
}

// Windows splits the days first..last into windows of at most WindowDays.
func (p *CursorPolicy) Windows(first, last time.Time) []window {
	return windows(first, last, p.WindowDays)
}

// Advance moves partition's cursor after a window whose last day is
// last: to last, but never past the last complete UTC day before today,
// and never backwards.
func (p *CursorPolicy) Advance(st *state.Stream, partition string, last, today time.Time) {
	if yesterday := today.AddDate(0, 0, -1); last.After(yesterday) {
		last = yesterday
	}
	if cur, ok := st.Cursor(partition); ok {
		if c, err := time.Parse(p.Layout, cur); err == nil && !c.Before(last) {
			return
		}
	}
	st.Set(partition, last.UTC().Format(p.Layout))
}
