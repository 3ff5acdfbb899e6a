package twilio_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

const (
	usagePath   = "/2010-04-01/Accounts/" + testAccount + "/Usage/Records/Daily.json"
	usageRecord = `{"account_sid":"` + testAccount + `","category":"sms","start_date":"2026-11-01","end_date":"2026-11-01","count":"1","usage":"1","price":"0.0079","price_unit":"USD"}`
)

// usagePageBody is a usage page holding n copies of usageRecord, whose
// next page is next ("" for none).
func usagePageBody(n int, next string) string {
	recs := strings.TrimSuffix(strings.Repeat(usageRecord+",", n), ",")
	nextJSON := "null"
	if next != "" {
		nextJSON = `"` + next + `"`
	}
	return `{"usage_records":[` + recs + `],"next_page_uri":` + nextJSON + `,"page":0,"page_size":50}`
}

// A page that breaks a listing's contract is never an empty page: it is
// asked for again, and when it persists the listing fails with a
// *ContractError that names the request and what is wrong, and nothing
// of the listing after it is yielded.
func TestListingContractViolations(t *testing.T) {
	second := usagePath + "?Page=1&PageSize=50&PageToken=PA1"
	first := usagePath + "?EndDate=2026-11-02&IncludeSubaccounts=false&PageSize=50&StartDate=2026-11-01"
	tests := []struct {
		name, bad, reason string
	}{
		{"records key missing", `{"next_page_uri":null,"page":0}`, `no "usage_records" key`},
		{"an empty object", `{}`, `no "usage_records" key`},
		{"records null", `{"usage_records":null,"next_page_uri":null}`, `"usage_records" is null, not a list`},
		{"records an object", `{"usage_records":{"sms":1},"next_page_uri":null}`, `"usage_records" is an object, not a list`},
		{"records a string", `{"usage_records":"none","next_page_uri":null}`, `"usage_records" is a string, not a list`},
		{"next page points at itself", usagePageBody(1, second), "already read in this listing"},
		{"next page points back at the first", usagePageBody(1, first), "already read in this listing"},
		{"next page points at the first as Twilio's first_page_uri names it", usagePageBody(1, first+"&Page=0"), "already read in this listing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Page 1 is good and points at page 2; page 2 is bad on every try.
			srv, log := scripted(t, ok(usagePageBody(2, second)), ok(tt.bad))
			c := newClient(t, srv, func(o *twilio.Options) { o.MaxAttempts = 3 })
			var yielded int
			err := c.DailyUsage(t.Context(), testAccount, day(2026, 11, 1), day(2026, 11, 2), 50, func(p []twilio.UsageRecord) error {
				yielded += len(p)
				return nil
			})
			var contract *twilio.ContractError
			if !errors.As(err, &contract) {
				t.Fatalf("DailyUsage = %v, want a *ContractError", err)
			}
			if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), "/Usage/Records/Daily.json") {
				t.Errorf("error %q does not name the request and %q", err, tt.reason)
			}
			if !twilio.IsTransient(err) {
				t.Errorf("IsTransient(%v) = false: a page that breaks the contract may pass", err)
			}
			if yielded != 2 {
				t.Errorf("yielded %d records, want page 1's 2 only", yielded)
			}
			if n := log.count(); n != 1+3 {
				t.Errorf("server saw %d requests, want page 1 and 3 tries of page 2", n)
			}
		})
	}
}

// A bad page that a second try gets right costs one retry, and the
// listing is whole.
func TestListingContractViolationThatPasses(t *testing.T) {
	for _, kind := range []struct{ name, key, path string }{
		{"usage", "usage_records", usagePath},
		{"accounts", "accounts", "/2010-04-01/Accounts.json"},
		{"SIMs", "sims", "/v1/Sims"},
	} {
		t.Run(kind.name, func(t *testing.T) {
			good := usagePageBody(3, "")
			switch kind.key {
			case "accounts":
				good = `{"accounts":[` + accountBody + `],"next_page_uri":null}`
			case "sims":
				good = `{"sims":[{"sid":"DE00000000000000000000000000000001","status":"active"}],"meta":{"next_page_url":null,"key":"sims"}}`
			}
			srv, log := scripted(t, ok(`{"`+kind.key+`":null}`), ok(good))
			c := newClient(t, srv)
			var n int
			var err error
			switch kind.key {
			case "usage_records":
				err = c.DailyUsage(t.Context(), testAccount, day(2026, 11, 1), day(2026, 11, 2), 50, func(p []twilio.UsageRecord) error { n += len(p); return nil })
			case "accounts":
				err = c.Accounts(t.Context(), func(p []twilio.Account) error { n += len(p); return nil })
			case "sims":
				err = c.SIMs(t.Context(), func(p []twilio.SIM) error { n += len(p); return nil })
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"usage_records": 3, "accounts": 1, "sims": 1}[kind.key]
			if n != want || log.count() != 2 {
				t.Errorf("yielded %d records in %d requests, want %d in 2", n, log.count(), want)
			}
			if p := log.get(1).URL.Path; p != kind.path {
				t.Errorf("retried %s, want %s", p, kind.path)
			}
		})
	}
}

// A 200 that is not JSON is retried with backoff like any transient
// failure, and the error says what arrived.
func TestNonJSONBodySaysWhatArrived(t *testing.T) {
	html := reply{status: http.StatusOK, header: map[string]string{"Content-Type": "text/html"}, body: "<html><body>502 Bad Gateway</body></html>"}
	srv, log := scripted(t, html)
	waits := &waitLog{}
	c := newClient(t, srv, func(o *twilio.Options) {
		o.MaxAttempts = 3
		o.Logger = slog.New(waits)
	})
	_, err := c.Account(t.Context(), testAccount)
	if err == nil {
		t.Fatal("Account succeeded")
	}
	for _, want := range []string{"expected a JSON object", `"<html><body>502 Bad Gateway`, "text/html"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if log.count() != 3 || len(waits.waits) != 2 {
		t.Errorf("%d requests with %d waits, want 3 tries and 2 waits", log.count(), len(waits.waits))
	}
	for _, w := range waits.waits {
		if w <= 0 {
			t.Errorf("wait %v: a non-JSON answer is retried after a backoff", w)
		}
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// A Twilio that accepts connections and never answers: each try ends at
// the header timeout, and once nothing has answered for the silence
// limit the request gives up with a *NoAnswerError, long before its
// tries are spent.
func TestSilentTwilioFailsAtTheSilenceLimit(t *testing.T) {
	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv, func(o *twilio.Options) {
		o.MaxAttempts = 1000
		o.HeaderTimeout = 20 * time.Millisecond
		o.SilenceLimit = 200 * time.Millisecond
	})
	_, err := c.Account(t.Context(), testAccount)
	var silent *twilio.NoAnswerError
	if !errors.As(err, &silent) {
		t.Fatalf("Account = %v, want a *NoAnswerError", err)
	}
	if !strings.Contains(err.Error(), "has not answered any request") || !strings.Contains(err.Error(), "no response within 20ms") {
		t.Errorf("error %q does not say that Twilio is silent, and how each try ended", err)
	}
	if !twilio.IsTransient(err) {
		t.Errorf("IsTransient(%v) = false", err)
	}
	if n := log.count(); n < 2 || n > 20 {
		t.Errorf("%d tries, want a few: tries go on until the silence limit, not for MaxAttempts", n)
	}
}

// An answer, even an error, is not silence: a Twilio that answers 503
// spends the request's tries.
func TestAnswersAreNotSilence(t *testing.T) {
	srv, log := scripted(t, twilioError(503, 20503))
	c := newClient(t, srv, func(o *twilio.Options) {
		o.MaxAttempts = 4
		o.SilenceLimit = time.Nanosecond
	})
	_, err := c.Account(t.Context(), testAccount)
	var silent *twilio.NoAnswerError
	if err == nil || errors.As(err, &silent) {
		t.Fatalf("Account = %v, want the 503", err)
	}
	if n := log.count(); n != 4 {
		t.Errorf("%d tries, want 4", n)
	}
}
