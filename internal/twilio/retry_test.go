package twilio_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

// waitLog is a slog.Handler that keeps the wait of every "retrying"
// record: the retry policy logs each wait it is about to make.
type waitLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (l *waitLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *waitLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *waitLog) WithGroup(string) slog.Handler            { return l }
func (l *waitLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "wait" {
			l.mu.Lock()
			l.waits = append(l.waits, a.Value.Duration())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// TestRetryWaits checks the waits of the retry policy: exponential with
// ±50% jitter, capped, and the server's Retry-After instead when it sends
// one, capped too. The waits are read from the policy's log, not timed.
func TestRetryWaits(t *testing.T) {
	const ms = time.Millisecond
	type bounds struct{ lo, hi time.Duration }
	unavailable := twilioError(503, 20503)
	tests := []struct {
		name    string
		opts    twilio.Options
		replies []reply
		want    []bounds // of each wait, in order
		stats   twilio.Stats
	}{
		{
			name:    "exponential with jitter, the interval capped at MaxBackoff",
			opts:    twilio.Options{MaxAttempts: 6, BaseBackoff: 10 * ms, MaxBackoff: 40 * ms},
			replies: []reply{unavailable},
			// Intervals 10, 20, 40, 40, 40 ms, each wait within ±50%.
			want:  []bounds{{5 * ms, 15 * ms}, {10 * ms, 30 * ms}, {20 * ms, 60 * ms}, {20 * ms, 60 * ms}, {20 * ms, 60 * ms}},
			stats: twilio.Stats{Requests: 6, Retries: 5},
		},
		{
			name:    "a 503's Retry-After is honoured",
			opts:    twilio.Options{BaseBackoff: time.Hour},
			replies: []reply{{status: 503, header: map[string]string{"Retry-After": "0.02"}, body: `{"code":20503,"status":503}`}, ok(accountBody)},
			want:    []bounds{{20 * ms, 20 * ms}},
			stats:   twilio.Stats{Requests: 2, Retries: 1},
		},
		{
			name:    "a 429's Retry-After is capped at MaxRetryAfter",
			opts:    twilio.Options{BaseBackoff: time.Hour, MaxRetryAfter: 30 * ms},
			replies: []reply{{status: 429, header: map[string]string{"Retry-After": "3600"}, body: `{"code":20429,"status":429}`}, ok(accountBody)},
			want:    []bounds{{30 * ms, 30 * ms}},
			stats:   twilio.Stats{Requests: 2, Retries: 1, RateLimitWaits: 1},
		},
		{
			name:    "a Retry-After in the past means no wait",
			opts:    twilio.Options{BaseBackoff: time.Hour},
			replies: []reply{{status: 429, header: map[string]string{"Retry-After": time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}, body: `{}`}, ok(accountBody)},
			want:    []bounds{{0, 0}},
			stats:   twilio.Stats{Requests: 2, Retries: 1, RateLimitWaits: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := scripted(t, tt.replies...)
			log := &waitLog{}
			opts := tt.opts
			opts.Username, opts.Password, opts.BaseURL, opts.Logger = testAccount, testPassword, srv.URL, slog.New(log)
			c, err := twilio.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			c.Account(t.Context(), testAccount)
			if diff := cmp.Diff(tt.stats, c.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if len(log.waits) != len(tt.want) {
				t.Fatalf("waits %v, want %d", log.waits, len(tt.want))
			}
			for i, w := range log.waits {
				if w < tt.want[i].lo || w > tt.want[i].hi {
					t.Errorf("wait %d = %v, want within [%v, %v]", i+1, w, tt.want[i].lo, tt.want[i].hi)
				}
			}
		})
	}
}

// A 2xx body that is JSON but does not fit the contract is Twilio's data:
// another try would bring the same, so there is none.
func TestJSONThatDoesNotFitIsNotRetried(t *testing.T) {
	srv, log := scripted(t, ok(`{"sid":5}`))
	c := newClient(t, srv)
	_, err := c.Account(t.Context(), testAccount)
	if err == nil {
		t.Fatal("Account succeeded")
	}
	if n := log.count(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
	if twilio.IsTransient(err) {
		t.Errorf("IsTransient(%v) = true", err)
	}
}
