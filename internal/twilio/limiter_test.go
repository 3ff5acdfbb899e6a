package twilio

import (
	"context"
	"testing"
	"time"
)

// The limiter's cap: halved by a 429 once per round, raised by one per
// cap-many answers, never above the maximum nor below 1.
func TestLimiterAIMD(t *testing.T) {
	var lowered []int
	l := newLimiter(8, func(n int) { lowered = append(lowered, n) })
	ctx := t.Context()
	take := func() uint64 {
		t.Helper()
		r, err := l.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Four requests in flight, all answered 429: one decrease, 8 → 4.
	rounds := []uint64{take(), take(), take(), take()}
	for _, r := range rounds {
		l.throttled(r)
		l.release()
	}
	if l.cap != 4 || len(lowered) != 1 {
		t.Fatalf("cap %d after a burst of 429s (lowered %v), want one halving to 4", l.cap, lowered)
	}
	// A request of the new round answered 429 halves again.
	r := take()
	l.throttled(r)
	l.release()
	if l.cap != 2 {
		t.Fatalf("cap %d, want 2", l.cap)
	}
	// cap-many answers raise it by one: 2 answers → 3, 3 more → 4.
	for range 5 {
		take()
		l.succeeded()
		l.release()
	}
	if l.cap != 4 {
		t.Fatalf("cap %d after 5 answers, want 4", l.cap)
	}
	for range 100 {
		take()
		l.succeeded()
		l.release()
	}
	if l.cap != 8 || l.lowestCap() != 2 {
		t.Fatalf("cap %d, lowest %d: want back at the maximum 8, lowest 2", l.cap, l.lowestCap())
	}
	for range 10 {
		l.throttled(l.round)
	}
	if l.cap != 1 {
		t.Fatalf("cap %d, want 1 at the bottom", l.cap)
	}
}

// A lowered cap holds new requests until enough in flight finish; waiters
// are served in order; a waiter whose context ends leaves the queue.
func TestLimiterWaitsForTheCap(t *testing.T) {
	l := newLimiter(2, nil)
	ctx := t.Context()
	r1, _ := l.acquire(ctx)
	l.acquire(ctx)
	l.throttled(r1) // cap 1, 2 in flight
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			l.acquire(ctx)
			got <- i
		}()
		for queued := false; !queued; { // queued in order
			l.mu.Lock()
			queued = l.waiters.Len() == i+1
			l.mu.Unlock()
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { _, err := l.acquire(canceled); done <- err }()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("acquire with a canceled context succeeded")
	}
	l.release() // 1 in flight: still at the cap
	select {
	case i := <-got:
		t.Fatalf("waiter %d started with the cap full", i)
	case <-time.After(20 * time.Millisecond):
	}
	l.release()
	if i := <-got; i != 0 {
		t.Fatalf("waiter %d served first, want 0", i)
	}
	l.release()
	if i := <-got; i != 1 {
		t.Fatalf("waiter %d served second, want 1", i)
	}
}
