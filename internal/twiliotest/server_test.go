package twiliotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

// testOptions are small options for fast tests.
func testOptions() Options {
	return Options{Seed: 1, Subaccounts: 5, Days: 30, SIMs: 13, Now: fixedClock}
}

// creds is a basic auth user and password; the zero value sends none.
type creds struct{ user, pass string }

func mainCreds(s *Server) creds { return creds{s.MainAccountSID(), s.AuthToken()} }

type response struct {
	status int
	header http.Header
	body   []byte
}

// get requests path (or a full URL) from s. Absolute Twilio URLs are sent to
// s with their original Host.
func get(t testing.TB, s *Server, c creds, target string, host string) response {
	t.Helper()
	r, err := fetch(s, c, target, host)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fetch is get for use outside the test goroutine.
func fetch(s *Server, c creds, target string, host string) (response, error) {
	u := target
	for _, origin := range []string{"https://api.twilio.com", "https://wireless.twilio.com", "https://supersim.twilio.com"} {
		if rest, ok := strings.CutPrefix(target, origin); ok {
			u, host = rest, strings.TrimPrefix(origin, "https://")
		}
	}
	req, err := http.NewRequest(http.MethodGet, s.URL()+u, nil)
	if err != nil {
		return response{}, err
	}
	if host != "" {
		req.Host = host
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: read body: %w", target, err)
	}
	return response{resp.StatusCode, resp.Header, body}, nil
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func TestDeterministic(t *testing.T) {
	paths := func(s *Server) []string {
		main := s.MainAccountSID()
		sim := s.SIMs()[0].SID
		return []string{
			"/2010-04-01/Accounts.json",
			"/2010-04-01/Accounts/" + main + "/Usage/Records/Daily.json?PageSize=1000",
			"/2010-04-01/Accounts/" + main + "/Usage/Records/Daily.json?IncludeSubaccounts=false&PageSize=100&Page=3",
			"/2010-04-01/Accounts/" + main + "/Usage/Records.json",
			"/v1/Sims",
			"/v1/Sims/" + sim + "/UsageRecords?Granularity=daily",
		}
	}
	a := NewTestServer(t, testOptions())
	b := NewTestServer(t, testOptions())
	for _, p := range paths(a) {
		ra, rb := get(t, a, mainCreds(a), p, ""), get(t, b, mainCreds(b), p, "")
		if ra.status != http.StatusOK || string(ra.body) != string(rb.body) {
			t.Errorf("GET %s: status %d; bodies differ between two servers with the same seed", p, ra.status)
		}
	}
	if diff := cmp.Diff(a.ConnectorConfig("http://x"), b.ConnectorConfig("http://x")); diff != "" {
		t.Errorf("ConnectorConfig differs (-a +b):\n%s", diff)
	}
	opts := testOptions()
	opts.Seed = 2
	c := New(opts)
	if c.MainAccountSID() == a.MainAccountSID() {
		t.Errorf("seeds 1 and 2 gave the same main account SID %s", c.MainAccountSID())
	}
}

func TestConnectorConfig(t *testing.T) {
	s := New(testOptions())
	got := decode[map[string]string](t, s.ConnectorConfig("http://127.0.0.1:1234"))
	want := map[string]string{
		"account_sid": s.MainAccountSID(),
		"auth_token":  s.AuthToken(),
		"base_url":    "http://127.0.0.1:1234",
		"start_date":  "2026-10-26",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConnectorConfig (-want +got):\n%s", diff)
	}
}

func TestAuth(t *testing.T) {
	s := NewTestServer(t, testOptions())
	accts := s.Accounts()
	main, production, closed := accts[0], accts[1], accts[3]
	mainKey, mainSecret := s.MainAPIKey()
	stdKey, stdSecret := s.StandardAPIKey()
	daily := func(sid string) string { return "/2010-04-01/Accounts/" + sid + "/Usage/Records/Daily.json" }
	tests := []struct {
		name string
		c    creds
		path string
		want int
	}{
		{"no credentials", creds{}, "/2010-04-01/Accounts.json", 401},
		{"wrong token", creds{main.SID, strings.Repeat("0", 32)}, "/2010-04-01/Accounts.json", 401},
		{"main token", creds{main.SID, main.AuthToken}, "/2010-04-01/Accounts.json", 200},
		{"main key", creds{mainKey, mainSecret}, "/2010-04-01/Accounts.json", 200},
		{"main key wrong secret", creds{mainKey, stdSecret}, "/2010-04-01/Accounts.json", 401},
		{"standard key on Accounts.json", creds{stdKey, stdSecret}, "/2010-04-01/Accounts.json", 401},
		{"standard key on account fetch", creds{stdKey, stdSecret}, "/2010-04-01/Accounts/" + main.SID + ".json", 401},
		{"standard key on usage", creds{stdKey, stdSecret}, daily(production.SID), 200},
		{"standard key on SIMs", creds{stdKey, stdSecret}, "/v1/Sims", 200},
		{"main token on subaccount usage", creds{main.SID, main.AuthToken}, daily(production.SID), 200},
		{"subaccount on own usage", creds{production.SID, production.AuthToken}, daily(production.SID), 200},
		{"subaccount on main usage", creds{production.SID, production.AuthToken}, daily(main.SID), 401},
		{"subaccount token for main SID", creds{main.SID, production.AuthToken}, daily(main.SID), 401},
		{"closed subaccount", creds{closed.SID, closed.AuthToken}, daily(closed.SID), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, s, tt.c, tt.path, "")
			if r.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.want, r.body)
			}
			if tt.want == 401 {
				want := twilioError{20003, "Authenticate", "https://www.twilio.com/docs/errors/20003", 401}
				if diff := cmp.Diff(want, decode[twilioError](t, r.body)); diff != "" {
					t.Errorf("error body (-want +got):\n%s", diff)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	s := NewTestServer(t, testOptions())
	accts := s.Accounts()
	main := accts[0].SID
	daily := "/2010-04-01/Accounts/" + main + "/Usage/Records/Daily.json"
	simUsage := "/v1/Sims/" + s.SIMs()[0].SID + "/UsageRecords"
	tests := []struct {
		name       string
		path, host string
		wantStatus int
		wantCode   int
		wantInMsg  string
	}{
		{"unknown path", "/2010-04-01/Accounts/" + main + "/Nope.json", "", 404, 20404, "Nope.json"},
		{"unknown service path", "/v2/Things", "", 404, 20404, "/v2/Things"},
		{"unknown account", "/2010-04-01/Accounts/AC00000000000000000000000000000000.json", "", 404, 20404, "was not found"},
		{"forbidden usage", "/2010-04-01/Accounts/" + accts[4].SID + "/Usage/Records/Daily.json", "", 404, 20404, "was not found"},
		{"api path on wireless host", daily, "wireless.twilio.com", 404, 20404, ""},
		{"wireless path on api host", "/v1/Sims", "api.twilio.com", 404, 20404, ""},
		{"bad StartDate", daily + "?StartDate=-30days", "", 400, 20001, "StartDate"},
		{"bad EndDate", daily + "?EndDate=2026-13-01", "", 400, 20001, "EndDate"},
		{"StartDate after EndDate", daily + "?StartDate=2026-11-10&EndDate=2026-11-01", "", 400, 20001, "StartDate"},
		{"bad IncludeSubaccounts", daily + "?IncludeSubaccounts=maybe", "", 400, 20001, "IncludeSubaccounts"},
		{"bad PageSize", daily + "?PageSize=0", "", 400, 20001, "PageSize"},
		{"tampered PageToken", daily + "?Page=1&PageToken=PAMTAwMC5kZWFkYmVlZg", "", 400, 20001, "PageToken"},
		{"garbage PageToken", daily + "?PageToken=hello", "", 400, 20001, "PageToken"},
		{"bad account Status", "/2010-04-01/Accounts.json?Status=frozen", "", 400, 20001, "Status"},
		{"unknown SIM", "/v1/Sims/DE00000000000000000000000000000000/UsageRecords", "", 404, 20404, "was not found"},
		{"SIM usage beyond retention", simUsage + "?Start=2025-05-01T00:00:00Z&Granularity=daily", "", 400, 20001, "Start"},
		{"SIM usage Start after End", simUsage + "?Start=2026-11-02T00:00:00Z&End=2026-11-01T00:00:00Z", "", 400, 20001, "Start"},
		{"SIM usage bad End", simUsage + "?End=yesterday", "", 400, 20001, "End"},
		{"SIM usage hourly", simUsage + "?Granularity=hourly", "", 400, 20001, "Granularity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, s, mainCreds(s), tt.path, tt.host)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			e := decode[twilioError](t, r.body)
			if e.Code != tt.wantCode || e.Status != tt.wantStatus || !strings.HasSuffix(e.MoreInfo, "/errors/"+strconv.Itoa(tt.wantCode)) {
				t.Errorf("error = %+v, want code %d status %d", e, tt.wantCode, tt.wantStatus)
			}
			if !strings.Contains(e.Message, tt.wantInMsg) {
				t.Errorf("message %q does not mention %q", e.Message, tt.wantInMsg)
			}
		})
	}
}

func TestHosts(t *testing.T) {
	s := NewTestServer(t, testOptions())
	tests := []struct {
		host, path string
		want       int
	}{
		{"api.twilio.com", "/2010-04-01/Accounts.json", 200},
		{"api.dublin.ie1.twilio.com", "/2010-04-01/Accounts.json", 200},
		{"wireless.twilio.com", "/v1/Sims", 200},
		{"localhost:8080", "/v1/Sims", 200},
		{"wireless.twilio.com", "/2010-04-01/Accounts.json", 404},
		{"api.twilio.com", "/v1/Sims", 404},
		{"preview.twilio.com", "/v1/Sims", 404},
	}
	for _, tt := range tests {
		if r := get(t, s, mainCreds(s), tt.path, tt.host); r.status != tt.want {
			t.Errorf("GET %s with Host %s: status %d, want %d", tt.path, tt.host, r.status, tt.want)
		}
	}
}

func TestAccounts(t *testing.T) {
	s := NewTestServer(t, testOptions())
	accts := s.Accounts()
	type wireAccount struct {
		SID             string            `json:"sid"`
		FriendlyName    string            `json:"friendly_name"`
		Status          string            `json:"status"`
		Type            string            `json:"type"`
		OwnerAccountSID string            `json:"owner_account_sid"`
		AuthToken       string            `json:"auth_token"`
		DateCreated     string            `json:"date_created"`
		DateUpdated     string            `json:"date_updated"`
		URI             string            `json:"uri"`
		SubresourceURIs map[string]string `json:"subresource_uris"`
	}
	type list struct {
		Accounts []wireAccount `json:"accounts"`
		Next     *string       `json:"next_page_uri"`
	}
	toWire := func(a Account) wireAccount {
		return wireAccount{
			SID: a.SID, FriendlyName: a.FriendlyName, Status: a.Status, Type: a.Type,
			OwnerAccountSID: a.OwnerAccountSID, AuthToken: a.AuthToken,
			DateCreated: a.DateCreated.Format(time.RFC1123Z), DateUpdated: a.DateUpdated.Format(time.RFC1123Z),
			URI: "/2010-04-01/Accounts/" + a.SID + ".json",
		}
	}
	ignoreSubresources := func(l list) list {
		for i := range l.Accounts {
			l.Accounts[i].SubresourceURIs = nil
		}
		return l
	}

	var want []wireAccount
	statuses := map[string]int{}
	for _, a := range accts {
		want = append(want, toWire(a))
		statuses[a.Status]++
		if a.OwnerAccountSID != accts[0].SID {
			t.Errorf("account %s: owner_account_sid %s, want the main account", a.SID, a.OwnerAccountSID)
		}
	}
	if statuses["suspended"] != 1 || statuses["closed"] != 1 || !accts[4].UsageForbidden {
		t.Errorf("statuses %v, forbidden %v: want one suspended, one closed, subaccount 4 forbidden", statuses, accts[4].UsageForbidden)
	}

	// Pages of two, followed to the end.
	var got []wireAccount
	next := "/2010-04-01/Accounts.json?PageSize=2"
	for next != "" {
		l := decode[list](t, get(t, s, mainCreds(s), next, "").body)
		got = append(got, ignoreSubresources(l).Accounts...)
		next = ""
		if l.Next != nil {
			next = *l.Next
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		c    creds
		path string
		want []wireAccount
	}{
		{"Status filter", mainCreds(s), "/2010-04-01/Accounts.json?Status=closed", []wireAccount{toWire(accts[3])}},
		{"FriendlyName filter", mainCreds(s), "/2010-04-01/Accounts.json?FriendlyName=Acme+IoT+Sandbox", []wireAccount{toWire(accts[5])}},
		{"subaccount sees itself", creds{accts[1].SID, accts[1].AuthToken}, "/2010-04-01/Accounts.json", []wireAccount{toWire(accts[1])}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ignoreSubresources(decode[list](t, get(t, s, tt.c, tt.path, "").body))
			if diff := cmp.Diff(tt.want, l.Accounts); diff != "" {
				t.Errorf("accounts (-want +got):\n%s", diff)
			}
		})
	}

	fetched := decode[wireAccount](t, get(t, s, mainCreds(s), "/2010-04-01/Accounts/"+accts[2].SID+".json", "").body)
	fetched.SubresourceURIs = nil
	if diff := cmp.Diff(toWire(accts[2]), fetched); diff != "" {
		t.Errorf("fetch (-want +got):\n%s", diff)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	opts := testOptions()
	opts.ConcurrencyLimit = 2
	opts.Latency = 300 * time.Millisecond
	s := NewTestServer(t, opts)
	const n = 6
	var wg sync.WaitGroup
	results := make([]response, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = fetch(s, mainCreds(s), "/v1/Sims", "") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	for _, r := range results {
		counts[r.status]++
		if r.status == http.StatusTooManyRequests {
			if got := r.header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After = %q, want 1", got)
			}
			if e := decode[twilioError](t, r.body); e.Code != 20429 {
				t.Errorf("code = %d, want 20429", e.Code)
			}
		}
	}
	if counts[200] < 1 || counts[429] < 1 || counts[200]+counts[429] != n {
		t.Errorf("statuses %v: want some 200 and some 429", counts)
	}
	if got := s.MaxInFlight(); got < 3 {
		t.Errorf("MaxInFlight = %d, want at least 3", got)
	}

	s.SetConcurrencyLimit(0)
	s.SetLatency(0)
	if r := get(t, s, mainCreds(s), "/v1/Sims", ""); r.status != 200 {
		t.Errorf("without limit: status %d", r.status)
	}
}

// A response starts Latency after its request arrived, whatever it is:
// a page, an error, or a refused login.
func TestLatency(t *testing.T) {
	opts := testOptions()
	opts.Latency = 150 * time.Millisecond
	s := NewTestServer(t, opts)
	usage := "/2010-04-01/Accounts/" + s.MainAccountSID() + "/Usage/Records/Daily.json"
	for _, tc := range []struct {
		name   string
		creds  creds
		target string
		status int
	}{
		{"page", mainCreds(s), usage, http.StatusOK},
		{"not found", mainCreds(s), "/2010-04-01/Accounts/" + s.MainAccountSID() + "/Nothing.json", http.StatusNotFound},
		{"wrong secret", creds{s.MainAccountSID(), "wrong"}, usage, http.StatusUnauthorized},
	} {
		start := time.Now()
		r := get(t, s, tc.creds, tc.target, "")
		if elapsed := time.Since(start); elapsed < opts.Latency {
			t.Errorf("%s: answered after %v, before the latency of %v", tc.name, elapsed, opts.Latency)
		}
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, r.status, tc.status)
		}
	}
}

func TestFaults(t *testing.T) {
	s := NewTestServer(t, testOptions())
	path := "/2010-04-01/Accounts/" + s.MainAccountSID() + "/Usage/Records/Daily.json"
	tests := []struct {
		kind           FaultKind
		wantStatus     int
		wantCode       int
		wantRetryAfter string
	}{
		{Fault500, 500, 20500, ""},
		{Fault503, 503, 20503, ""},
		{Fault429, 429, 20429, "1"},
	}
	for _, tt := range tests {
		s.SetFaults(Faults{Rate: 1, Kinds: []FaultKind{tt.kind}})
		r := get(t, s, mainCreds(s), path, "")
		if r.status != tt.wantStatus || decode[twilioError](t, r.body).Code != tt.wantCode || r.header.Get("Retry-After") != tt.wantRetryAfter {
			t.Errorf("fault %d: status %d, Retry-After %q, body %s", tt.kind, r.status, r.header.Get("Retry-After"), r.body)
		}
	}

	// Faults come after authentication.
	s.SetFaults(Faults{Rate: 1, Kinds: []FaultKind{Fault500}})
	if r := get(t, s, creds{}, path, ""); r.status != 401 {
		t.Errorf("unauthenticated with faults: status %d, want 401", r.status)
	}

	t.Run("truncated", func(t *testing.T) {
		s.SetFaults(Faults{Rate: 1, Kinds: []FaultKind{FaultTruncated}})
		req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
		req.SetBasicAuth(s.MainAccountSID(), s.AuthToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength <= 0 {
			t.Errorf("status %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
		}
		body, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reading a truncated body: %d bytes, err %v; want io.ErrUnexpectedEOF", len(body), err)
		}
	})

	t.Run("slow", func(t *testing.T) {
		s.SetFaults(Faults{Rate: 1, Kinds: []FaultKind{FaultSlow}})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+path, nil)
		req.SetBasicAuth(s.MainAccountSID(), s.AuthToken())
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("slow fault: err %v, want a deadline exceeded", err)
		}
	})

	s.SetFaults(Faults{})
	if r := get(t, s, mainCreds(s), path, ""); r.status != 200 {
		t.Errorf("after clearing faults: status %d", r.status)
	}
}

func TestFaultRate(t *testing.T) {
	opts := testOptions()
	opts.Faults = Faults{Rate: 0.5, Kinds: []FaultKind{Fault500, Fault503}}
	s := NewTestServer(t, opts)
	counts := map[int]int{}
	for range 40 {
		counts[get(t, s, mainCreds(s), "/v1/Sims?PageSize=1", "").status]++
	}
	if counts[200] == 0 || counts[500] == 0 || counts[503] == 0 || counts[200]+counts[500]+counts[503] != 40 {
		t.Errorf("statuses %v: want a mix of 200, 500 and 503", counts)
	}
}

func TestRequests(t *testing.T) {
	s := NewTestServer(t, testOptions())
	get(t, s, creds{}, "/v1/Sims?PageSize=2", "")
	get(t, s, mainCreds(s), "/v1/Sims?PageSize=2", "wireless.twilio.com")
	got := s.Requests()
	for i := range got {
		if !got[i].Time.Equal(testNow) {
			t.Errorf("request %d: time %v", i, got[i].Time)
		}
		got[i].Time = time.Time{}
	}
	want := []RequestInfo{
		{Method: "GET", Host: strings.TrimPrefix(s.URL(), "http://"), Path: "/v1/Sims", Query: map[string][]string{"PageSize": {"2"}}, Status: 401},
		{Method: "GET", Host: "wireless.twilio.com", Path: "/v1/Sims", Query: map[string][]string{"PageSize": {"2"}}, Status: 200},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Requests (-want +got):\n%s", diff)
	}
	s.ResetRequests()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("after ResetRequests: %d requests", n)
	}
}

func TestStart(t *testing.T) {
	s := New(testOptions())
	u, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if u != s.URL() || !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("Start returned %q, URL() %q", u, s.URL())
	}
	if r := get(t, s, mainCreds(s), "/2010-04-01/Accounts.json", ""); r.status != 200 {
		t.Errorf("status %d", r.status)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
