package connector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/state"
)

// day is one UTC calendar day.
const day = 24 * time.Hour

// utcDay truncates t to its UTC midnight.
func utcDay(t time.Time) time.Time { return t.UTC().Truncate(day) }

// cursorLayouts are the layouts of each incremental stream's cursor.
var cursorLayouts = map[string]string{
	catalog.UsageRecords:    time.DateOnly,
	catalog.SIMUsageRecords: time.RFC3339,
}

// checkCursors rejects a state whose cursors do not parse, before the
// read writes anything.
func checkCursors(name string, st *state.Stream) error {
	layout := cursorLayouts[name]
	var errs []error
	for _, p := range st.Partitions() {
		v, _ := st.Cursor(p)
		if _, err := time.Parse(layout, v); err != nil {
			errs = append(errs, fmt.Errorf("state of stream %s, partition %s: cursor %q is not a %s timestamp", name, p, v, layout))
		}
	}
	return errors.Join(errs...)
}

// partitionStart is the first day a partition reads: start_date for a
// full refresh or a new partition, else the cursor less the lookback,
// never before start_date.
func partitionStart(st *state.Stream, partition, layout string, floor time.Time, lookback int, incremental bool) time.Time {
	if !incremental || st == nil {
		return floor
	}
	v, ok := st.Cursor(partition)
	if !ok {
		return floor
	}
	c, err := time.Parse(layout, v)
	if err != nil { // checked before the read started
		return floor
	}
	start := utcDay(c).AddDate(0, 0, -lookback)
	if start.Before(floor) {
		return floor
	}
	return start
}

// settled reports whether a partition that stopped accruing on its last
// day (a closed account, a canceled SIM) has nothing left to read: its
// cursor reached that day, and that day is older than the lookback, so
// Twilio will not revise it any more.
func settled(st *state.Stream, partition, layout string, last, today time.Time, lookback int) bool {
	if st == nil {
		return false
	}
	v, ok := st.Cursor(partition)
	if !ok {
		return false
	}
	c, err := time.Parse(layout, v)
	return err == nil && !utcDay(c).Before(last) && last.AddDate(0, 0, lookback).Before(today)
}

// advanceCursor moves partition's cursor to value unless it is already
// past it: a cursor never goes back.
func advanceCursor(st *state.Stream, partition string, value time.Time, layout string) {
	if cur, ok := st.Cursor(partition); ok {
		if c, err := time.Parse(layout, cur); err == nil && !c.Before(value) {
			return
		}
	}
	st.Set(partition, value.UTC().Format(layout))
}

// window is a range of whole UTC days, both ends included.
type window struct{ first, last time.Time }

func (w window) days() int { return int(w.last.Sub(w.first)/day) + 1 }

// windows splits [first, last] into windows of at most size days.
func windows(first, last time.Time, size int) []window {
	var out []window
	for s := first; !s.After(last); s = s.AddDate(0, 0, size) {
		e := s.AddDate(0, 0, size-1)
		if e.After(last) {
			e = last
		}
		out = append(out, window{s, e})
	}
	return out
}

// partitionWorkers is how many partitions are read at once: twice the
// request slots, so that while one partition decodes a page or waits for
// its turn another has a request ready, and no slot idles. The transport
// still caps the requests in flight at maxConcurrency.
func partitionWorkers(maxConcurrency int) int { return 2 * maxConcurrency }

// forEachPartition runs fn for every item with at most workers running at
// once. It stops starting new items when ctx ends and returns every
// error fn returned.
func forEachPartition[T any](ctx context.Context, workers int, items []T, fn func(context.Context, T) error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan T)
	for range max(1, min(workers, len(items))) {
		wg.Go(func() {
			for it := range next {
				if err := fn(ctx, it); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
