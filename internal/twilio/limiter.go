package twilio

import (
	queue "container/list"
	"context"
	"sync"
)

// limiter caps the client's requests in flight, and adapts the cap to
// Twilio's concurrency limit, which is per account and not published: a
// max_concurrency above it gets 429s. It is additive-increase,
// multiplicative-decrease, as TCP's congestion control: a 429 halves the
// cap (once per round: the 429s of requests that started before the cap
// was last lowered do not lower it again), and every cap-many successful
// answers raise it by one, back up to the configured maximum. So a
// max_concurrency of 4 against an account limit of 3 settles around 2–3
// in flight and the run completes, where a fixed cap of 4 kept hitting
// 429 until its retries ran out.
//
// Waiters are served in arrival order. The standard library and
// golang.org/x/sync/semaphore have no semaphore whose size changes while
// it is held, hence this one.
type limiter struct {
	mu        sync.Mutex
	max       int        // the configured cap
	cap       int        // the cap now, 1..max
	inUse     int        // slots held
	waiters   queue.List // of chan struct{}, closed when granted a slot
	successes int        // answers since the cap last changed
	round     uint64     // counts the decreases
	lowest    int        // the lowest cap so far
	onLower   func(int)  // told the new cap after a decrease; may be nil
}

func newLimiter(max int, onLower func(int)) *limiter {
	return &limiter{max: max, cap: max, lowest: max, onLower: onLower}
}

// acquire takes a slot, waiting for one, and returns the round it was
// taken in, for throttled.
func (l *limiter) acquire(ctx context.Context) (uint64, error) {
	l.mu.Lock()
	if l.inUse < l.cap && l.waiters.Len() == 0 {
		l.inUse++
		round := l.round
		l.mu.Unlock()
		return round, nil
	}
	granted := make(chan struct{})
	elem := l.waiters.PushBack(granted)
	l.mu.Unlock()
	select {
	case <-granted:
		l.mu.Lock()
		round := l.round
		l.mu.Unlock()
		return round, nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-granted: // granted meanwhile: hand it on
			l.inUse--
			l.grant()
		default:
			l.waiters.Remove(elem)
		}
		return 0, ctx.Err()
	}
}

// release gives a slot back.
func (l *limiter) release() {
	l.mu.Lock()
	l.inUse--
	l.grant()
	l.mu.Unlock()
}

// grant hands free slots to the waiters in order. l.mu is held.
func (l *limiter) grant() {
	for l.inUse < l.cap && l.waiters.Len() > 0 {
		front := l.waiters.Front()
		l.waiters.Remove(front)
		l.inUse++
		close(front.Value.(chan struct{}))
	}
}

// throttled is told of a 429 to a request whose slot was taken in round.
func (l *limiter) throttled(round uint64) {
	l.mu.Lock()
	if round != l.round || l.cap == 1 {
		l.mu.Unlock()
		return
	}
	l.cap = max(1, l.cap/2)
	l.round++
	l.successes = 0
	l.lowest = min(l.lowest, l.cap)
	c := l.cap
	l.mu.Unlock()
	if l.onLower != nil {
		l.onLower(c)
	}
}

// succeeded is told of an answer that was not a 429.
func (l *limiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cap >= l.max {
		return
	}
	if l.successes++; l.successes >= l.cap {
		l.cap++
		l.successes = 0
		l.grant()
	}
}

// lowestCap returns the lowest cap so far.
func (l *limiter) lowestCap() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lowest
}
