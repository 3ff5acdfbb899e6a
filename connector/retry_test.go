package connector_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

// A usage window whose page keeps failing costs one request's retry
// budget (package twilio's policy, the only one: no re-read with smaller
// pages), then fails the read loudly, naming the account and window; that
// account's cursor stays where it was while the others move on.
func TestUsageWindowThatKeepsFailingFailsLoudly(t *testing.T) {
	var (
		emu      atomic.Pointer[twiliotest.Server]
		failing  atomic.Pointer[string] // the subaccount whose usage Twilio fails
		failures atomic.Int64
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sid := failing.Load(); sid != nil && strings.HasPrefix(r.URL.Path, "/2010-04-01/Accounts/"+*sid+"/Usage/Records/Daily.json") {
			failures.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"code":20503,"message":"Service Unavailable","status":503}`)
			return
		}
		emu.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	e := newEnv(t, twiliotest.Options{Seed: 9, Subaccounts: 1, Days: 40}, func(c map[string]any) { c["base_url"] = proxy.URL })
	emu.Store(e.emu)
	main, sub := e.emu.Accounts()[0].SID, e.emu.Accounts()[1].SID

	streams := configured(t, catalog.Incremental, connector.UsageRecords)
	before := state.NewStream("account_sid", "start_date")
	old := now.AddDate(0, 0, -20).Format(time.DateOnly)
	before.Set(main, old)
	before.Set(sub, old)

	failing.Store(&sub)
	c := &capture{}
	err := e.conn.Read(t.Context(), streams, state.Blobs{connector.UsageRecords: before.Airbyte()}, c)
	if err == nil {
		t.Fatal("the read succeeded")
	}
	if !twilio.IsServerError(err) || !strings.Contains(err.Error(), "read usage of "+sub) {
		t.Errorf("error %q: want Twilio's 503, naming the account", err)
	}
	if n := failures.Load(); n != 10 {
		t.Errorf("the failing window cost %d requests, want 10: one request's budget", n)
	}
	after, err := state.FromAirbyte(c.lastState(connector.UsageRecords), "account_sid", "start_date")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := after.Cursor(sub); got != old {
		t.Errorf("cursor of the failing account = %s, want it unmoved at %s", got, old)
	}
	if got, _ := after.Cursor(main); got != now.AddDate(0, 0, -1).Format(time.DateOnly) {
		t.Errorf("cursor of the main account = %s, want yesterday", got)
	}
}
