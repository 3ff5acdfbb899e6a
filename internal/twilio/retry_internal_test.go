package twilio

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	const limit = time.Minute
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"-3", 0, true},
		{"59", 59 * time.Second, true},
		{"3600", limit, true},
		{"1e400", limit, true}, // out of float64's range
		{"inf", limit, true},
		{"NaN", 0, false},
		{"soon", 0, false},
		{past, 0, true},
		{future, limit, true},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		got, ok := retryAfter(h, limit)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Retry-After %q: %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

// The default schedule is the one the package documentation states:
// intervals of 0.5, 1, 2, 4, 8, 16 s, then 20 s, each wait within ±50%.
func TestDefaultWaits(t *testing.T) {
	p := retryPolicy{baseBackoff: defaultBaseBackoff, maxBackoff: defaultMaxBackoff}
	intervals := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 20 * time.Second, 20 * time.Second, 20 * time.Second}
	firsts := map[time.Duration]bool{}
	for range 100 {
		w := p.waits()
		w.Reset()
		for i, iv := range intervals {
			got := w.NextBackOff()
			if lo, hi := iv/2, iv+iv/2; got < lo || got > hi {
				t.Fatalf("wait %d = %v, want within [%v, %v]", i+1, got, lo, hi)
			}
			if i == 0 {
				firsts[got] = true
			}
		}
	}
	if len(firsts) < 2 {
		t.Errorf("100 first waits took %d value(s): no jitter", len(firsts))
	}
}
