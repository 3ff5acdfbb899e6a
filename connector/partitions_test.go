package connector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testWindows returns n one-day windows from 2026-01-01.
func testWindows(n int) []window {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return windows(start, start.AddDate(0, 0, n-1), 1)
}

// A single partition's windows are read at once, and handed over in order
// even when later ones are read first.
func TestForEachWindowHandsOverInOrder(t *testing.T) {
	const n = 8
	var (
		mu                  sync.Mutex
		handed              []int
		reading, maxReading int
	)
	ws := testWindows(n)
	read := func(ctx context.Context, r windowRead[string]) (bool, error) {
		i := int(r.w.first.Sub(ws[0].first) / day)
		mu.Lock()
		reading++
		maxReading = max(maxReading, reading)
		mu.Unlock()
		time.Sleep(time.Duration(n-i) * 5 * time.Millisecond) // later windows come back first
		mu.Lock()
		reading--
		mu.Unlock()
		if !r.waitTurn() {
			return false, nil
		}
		mu.Lock()
		handed = append(handed, i)
		mu.Unlock()
		return true, nil
	}
	if err := forEachWindow(t.Context(), 4, []string{"p"}, func(string) []window { return ws }, read); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 1, 2, 3, 4, 5, 6, 7}, handed); diff != "" {
		t.Errorf("handed over (-want +got):\n%s", diff)
	}
	if maxReading < 2 {
		t.Errorf("at most %d windows of one partition were read at once, want several", maxReading)
	}
}

// A window that fails stops its partition: nothing after it is handed
// over, and the error is reported once. A partition whose first window
// ends it is not read further.
func TestForEachWindowStopsAPartitionAtItsFailure(t *testing.T) {
	ws := testWindows(6)
	boom := errors.New("boom")
	var (
		mu     sync.Mutex
		handed = map[string][]int{}
		reads  = map[string]int{}
	)
	read := func(ctx context.Context, r windowRead[string]) (bool, error) {
		i := int(r.w.first.Sub(ws[0].first) / day)
		mu.Lock()
		reads[r.part]++
		mu.Unlock()
		var err error
		switch {
		case r.part == "fails" && i == 2:
			err = boom
		case r.part == "refused" && i == 0:
			return false, nil
		}
		if !r.waitTurn() {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("window %d: %w", i, err)
		}
		mu.Lock()
		handed[r.part] = append(handed[r.part], i)
		mu.Unlock()
		return true, nil
	}
	err := forEachWindow(t.Context(), 3, []string{"fails", "refused", "fine"}, func(string) []window { return ws }, read)
	if !errors.Is(err, boom) || len(multiErrors(err)) != 1 {
		t.Errorf("error = %v, want one window 2 failure", err)
	}
	want := map[string][]int{"fails": {0, 1}, "fine": {0, 1, 2, 3, 4, 5}}
	if diff := cmp.Diff(want, handed); diff != "" {
		t.Errorf("handed over (-want +got):\n%s", diff)
	}
	if reads["refused"] != 1 {
		t.Errorf("refused partition read %d windows, want its first only", reads["refused"])
	}
}

func TestForEachWindowStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	reads := 0
	read := func(ctx context.Context, r windowRead[int]) (bool, error) {
		mu.Lock()
		reads++
		mu.Unlock()
		cancel()
		return r.waitTurn(), nil
	}
	parts := make([]int, 100)
	err := forEachWindow(ctx, 2, parts, func(int) []window { return testWindows(3) }, read)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if reads > 2 {
		t.Errorf("%d windows read after the context ended, want at most the 2 under way", reads)
	}
}

func multiErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
