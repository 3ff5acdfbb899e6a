package connector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultWindowDeadline bounds the reading of one window: all its pages,
// each under the client's retry budget. A usage window is a few pages
// read in seconds; one still unread after this long is failed, naming
// it, so a run against a Twilio that keeps failing or stalling ends, and
// its cursor does not move past the window.
const DefaultWindowDeadline = 15 * time.Minute

// ErrWindowDeadline is the cause of a window that was not read within
// its deadline.
var ErrWindowDeadline = errors.New("the window was not read within its deadline")

// withinWindowDeadline runs fetch, the requests of one window, under the
// connector's window deadline.
func (c *Connector) withinWindowDeadline(ctx context.Context, fetch func(context.Context) error) error {
	wctx, cancel := context.WithTimeoutCause(ctx, c.windowDeadline, ErrWindowDeadline)
	defer cancel()
	err := fetch(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wctx), ErrWindowDeadline) {
		return fmt.Errorf("%w (%v): %w", ErrWindowDeadline, c.windowDeadline, err)
	}
	return err
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

// partitionWorkers is how many partitions, or windows, are read at once:
// twice the request slots, so that while one decodes a page or waits for
// its turn another has a request ready, and no slot idles. The transport
// still caps the requests in flight at maxConcurrency.
func partitionWorkers(maxConcurrency int) int { return 2 * maxConcurrency }

// forEachPartition runs fn for every item with at most workers running at
// once: forEachWindow with each item read whole, as one piece. It stops
// starting new items when ctx ends and returns every error fn returned.
func forEachPartition[T any](ctx context.Context, workers int, items []T, fn func(context.Context, T) error) error {
	whole := func(T) []window { return []window{{}} }
	return forEachWindow(ctx, workers, items, whole, func(ctx context.Context, r windowRead[T]) (bool, error) {
		return false, fn(ctx, r.part)
	})
}

// windowRead is one window of one partition to read.
type windowRead[P any] struct {
	part P
	w    window
	// turn, for every window after its partition's first, receives whether
	// the partition goes on, once the window before has been handed over;
	// done passes the same on to the next window.
	turn <-chan bool
	done chan<- bool
}

// waitTurn waits until the window before r's has been handed over and
// reports whether the partition goes on: false when an earlier window
// failed or ended the partition.
func (r windowRead[P]) waitTurn() bool {
	if r.turn == nil {
		return true
	}
	return <-r.turn
}

// forEachWindow reads the windows of every partition, at most workers at
// once. A partition's first window is read on its own; when read reports
// that the partition goes on, its other windows are read alongside
// everything else, ahead of partitions not yet started. Each calls
// waitTurn before it hands its rows over, so a partition's windows are
// handed over in order and a cursor never moves past a window that
// failed. A partition Twilio refuses costs one request, and a single
// account's long backfill still fills every request slot.
//
// read returns whether the partition goes on after its window, and an
// error to report. forEachWindow stops starting windows when ctx ends and
// returns every error read returned.
func forEachWindow[P any](ctx context.Context, workers int, parts []P, windowsOf func(P) []window, read func(context.Context, windowRead[P]) (bool, error)) error {
	q := &windowQueue[P]{ctx: ctx, parts: parts}
	q.cond.L = &q.mu
	stop := context.AfterFunc(ctx, q.stop)
	defer stop()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for range max(1, workers) {
		wg.Go(func() {
			for {
				r, first, ok := q.take()
				if !ok {
					return
				}
				var ws []window
				if first {
					ws = windowsOf(r.part)
					if len(ws) == 0 {
						q.finish(nil)
						continue
					}
					r.w = ws[0]
				}
				goOn, err := read(ctx, r)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				if r.done != nil {
					r.done <- goOn
				}
				var rest []windowRead[P]
				if first && goOn {
					rest = chain(r.part, ws[1:])
				}
				q.finish(rest)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// chain links the windows after a partition's first, each waiting for the
// one before.
func chain[P any](part P, ws []window) []windowRead[P] {
	out := make([]windowRead[P], len(ws))
	turn := make(chan bool, 1)
	turn <- true // the first window has been handed over
	for i, w := range ws {
		done := make(chan bool, 1)
		out[i] = windowRead[P]{part: part, w: w, turn: turn, done: done}
		turn = done
	}
	return out
}

// windowQueue hands out windows: the later windows of started partitions
// first, in order, then the first window of the next partition.
type windowQueue[P any] struct {
	ctx     context.Context // when it ends, nothing more is handed out
	mu      sync.Mutex
	cond    sync.Cond
	later   []windowRead[P]
	parts   []P // not started
	reading int // windows handed out and not finished: they may add more
}

// take returns the next window and whether it is its partition's first; ok
// is false when there is nothing left or the read was stopped.
func (q *windowQueue[P]) take() (r windowRead[P], first, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		switch {
		case q.ctx.Err() != nil:
			return r, false, false
		case len(q.later) > 0:
			r, q.later = q.later[0], q.later[1:]
			q.reading++
			return r, false, true
		case len(q.parts) > 0:
			r, q.parts = windowRead[P]{part: q.parts[0]}, q.parts[1:]
			q.reading++
			return r, true, true
		case q.reading == 0:
			return r, false, false
		}
		q.cond.Wait()
	}
}

// finish ends a window handed out by take, queueing the windows it let go
// on. Workers wait only when nothing is queued: each new window wakes one,
// and the end of the last read wakes them all to leave.
func (q *windowQueue[P]) finish(later []windowRead[P]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reading--
	q.later = append(q.later, later...)
	if q.reading == 0 && len(q.later) == 0 && len(q.parts) == 0 {
		q.cond.Broadcast()
		return
	}
	for range later {
		q.cond.Signal()
	}
}

// stop wakes the workers waiting for a window once ctx has ended.
func (q *windowQueue[P]) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cond.Broadcast()
}
