package twilio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testSub     = "AC00000000000000000000000000000002"
	// testPassword is distinctive so that a leak into an error is obvious.
	testPassword = "Zq9SecretValueXq7"
	accountPath  = "/2010-04-01/Accounts/" + testAccount + ".json"
	accountBody  = `{"sid":"` + testAccount + `","friendly_name":"Main","status":"active","type":"Full","owner_account_sid":"` + testAccount + `",` +
		`"auth_token":"` + testPassword + `","date_created":"Tue, 09 May 2023 12:03:47 +0000","date_updated":"Tue, 09 May 2023 12:03:47 +0000","uri":"/2010-04-01/Accounts/` + testAccount + `.json"}`
)

// newClient returns a client for srv with fast retries; change adjusts
// the options.
func newClient(t *testing.T, srv *httptest.Server, change ...func(*twilio.Options)) *twilio.Client {
	t.Helper()
	opts := twilio.Options{
		Username:    testAccount,
		Password:    testPassword,
		AccountSID:  testAccount,
		BaseURL:     srv.URL,
		BaseBackoff: time.Millisecond,
		MaxBackoff:  5 * time.Millisecond,
	}
	for _, f := range change {
		f(&opts)
	}
	c, err := twilio.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// reply is one scripted answer of a fake server.
type reply struct {
	status int
	header map[string]string
	body   string
	// truncate sends the headers promising more body than is sent, then
	// closes the connection.
	truncate bool
}

func twilioError(status, code int) reply {
	return reply{status: status, body: fmt.Sprintf(`{"code":%d,"message":"Twilio says %d","more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, code, code, code, status)}
}

func ok(body string) reply { return reply{status: http.StatusOK, body: body} }

// requestLog is what a fake server saw.
type requestLog struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (l *requestLog) add(r *http.Request) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
	return len(l.reqs) - 1
}

func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

func (l *requestLog) get(i int) *http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reqs[i]
}

// scripted serves replies in order, repeating the last one.
func scripted(t *testing.T, replies ...reply) (*httptest.Server, *requestLog) {
	t.Helper()
	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := log.add(r)
		rep := replies[min(i, len(replies)-1)]
		write(t, w, rep)
	}))
	t.Cleanup(srv.Close)
	return srv, log
}

func write(t *testing.T, w http.ResponseWriter, rep reply) {
	if rep.truncate {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			rep.status, http.StatusText(rep.status), len(rep.body)+1000, rep.body)
		buf.Flush()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	fmt.Fprint(w, rep.body)
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		opts twilio.Options
	}{
		{"no username", twilio.Options{Password: testPassword}},
		{"no password", twilio.Options{Username: testAccount}},
		{"base URL without scheme", twilio.Options{Username: testAccount, Password: testPassword, BaseURL: "127.0.0.1:8080"}},
		{"base URL ftp", twilio.Options{Username: testAccount, Password: testPassword, BaseURL: "ftp://example.com"}},
		{"base URL without host", twilio.Options{Username: testAccount, Password: testPassword, BaseURL: "http://"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := twilio.New(tt.opts)
			if err == nil {
				t.Fatalf("New succeeded: %v", c)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestBaseURLOverrideAndAuth(t *testing.T) {
	type seen struct {
		Host, Path, Query, User, Password string
		Method                            string
	}
	tests := []struct {
		name   string
		call   func(context.Context, *twilio.Client) error
		user   string
		opts   func(*twilio.Options)
		body   string
		want   seen
		wantOK bool
	}{
		{
			name: "api.twilio.com",
			call: func(ctx context.Context, c *twilio.Client) error {
				_, err := c.Account(ctx, testAccount)
				return err
			},
			user: testAccount,
			body: accountBody,
			want: seen{Host: "api.twilio.com", Path: accountPath, User: testAccount, Password: testPassword, Method: "GET"},
		},
		{
			name: "edge and region",
			call: func(ctx context.Context, c *twilio.Client) error {
				_, err := c.Account(ctx, testAccount)
				return err
			},
			user: testAccount,
			opts: func(o *twilio.Options) { o.Edge, o.Region = "sydney", "au1" },
			body: accountBody,
			want: seen{Host: "api.sydney.au1.twilio.com", Path: accountPath, User: testAccount, Password: testPassword, Method: "GET"},
		},
		{
			name: "api key credentials",
			call: func(ctx context.Context, c *twilio.Client) error {
				return c.UsageToday(ctx, testSub)
			},
			user: "SK0123456789abcdef0123456789abcdef",
			body: `{"usage_records":[],"next_page_uri":null}`,
			want: seen{Host: "api.twilio.com", Path: "/2010-04-01/Accounts/" + testSub + "/Usage/Records/Today.json", Query: "PageSize=1",
				User: "SK0123456789abcdef0123456789abcdef", Password: testPassword, Method: "GET"},
		},
		{
			name: "supersim.twilio.com",
			call: func(ctx context.Context, c *twilio.Client) error {
				s, err := c.SampleSuperSIMs(ctx, 50)
				if err == nil && (s.N != 1 || !s.More) {
					err = fmt.Errorf("sample = %+v, want 1 SIM and more", s)
				}
				return err
			},
			user: testAccount,
			body: `{"sims":[{"sid":"HS1"}],"meta":{"next_page_url":"https://supersim.twilio.com/v1/Sims?PageSize=50&Page=1"}}`,
			want: seen{Host: "supersim.twilio.com", Path: "/v1/Sims", Query: "PageSize=50", User: testAccount, Password: testPassword, Method: "GET"},
		},
		{
			name: "wireless.twilio.com sample",
			call: func(ctx context.Context, c *twilio.Client) error {
				s, err := c.SampleSIMs(ctx, 50)
				if err == nil && (s.N != 0 || s.More) {
					err = fmt.Errorf("sample = %+v, want none", s)
				}
				return err
			},
			user: testAccount,
			body: `{"sims":[],"meta":{"next_page_url":null}}`,
			want: seen{Host: "wireless.twilio.com", Path: "/v1/Sims", Query: "PageSize=50", User: testAccount, Password: testPassword, Method: "GET"},
		},
		{
			name: "wireless.twilio.com",
			call: func(ctx context.Context, c *twilio.Client) error {
				return c.SIMs(ctx, func([]twilio.SIM) error { return nil })
			},
			user: testAccount,
			body: `{"sims":[],"meta":{"next_page_url":null}}`,
			want: seen{Host: "wireless.twilio.com", Path: "/v1/Sims", Query: "PageSize=1000", User: testAccount, Password: testPassword, Method: "GET"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, log := scripted(t, ok(tt.body))
			c := newClient(t, srv, func(o *twilio.Options) {
				o.Username = tt.user
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			if err := tt.call(t.Context(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			if n := log.count(); n != 1 {
				t.Fatalf("server saw %d requests, want 1", n)
			}
			r := log.get(0)
			user, password, _ := r.BasicAuth()
			got := seen{Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, User: user, Password: password, Method: r.Method}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccountDecoding(t *testing.T) {
	srv, _ := scripted(t, ok(accountBody))
	c := newClient(t, srv)
	a, err := c.Account(t.Context(), testAccount)
	if err != nil {
		t.Fatal(err)
	}
	if a.SID != testAccount || a.FriendlyName == nil || *a.FriendlyName != "Main" || a.Status == nil || *a.Status != twilio.StatusActive {
		t.Errorf("Account = %+v", a)
	}
	if want := time.Date(2023, time.May, 9, 12, 3, 47, 0, time.UTC); !a.DateCreated.Equal(want) {
		t.Errorf("DateCreated = %v, want %v", a.DateCreated, want)
	}
	// The auth token Twilio returns is dropped.
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testPassword) {
		t.Errorf("decoded account keeps the auth token: %s", b)
	}
	if c.AccountSID() != testAccount {
		t.Errorf("AccountSID() = %q", c.AccountSID())
	}
}

func TestRetriesThenSuccess(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name    string
		replies []reply
		want    twilio.Stats
	}{
		{"no retry", []reply{ok(accountBody)}, twilio.Stats{Requests: 1}},
		{"500", []reply{twilioError(500, 20500), ok(accountBody)}, twilio.Stats{Requests: 2, Retries: 1}},
		{"503 twice", []reply{twilioError(503, 20503), twilioError(503, 20503), ok(accountBody)}, twilio.Stats{Requests: 3, Retries: 2}},
		{"502 with Retry-After 0", []reply{{status: 502, header: map[string]string{"Retry-After": "0"}, body: `{}`}, ok(accountBody)}, twilio.Stats{Requests: 2, Retries: 1}},
		{"429 with Retry-After 0", []reply{{status: 429, header: map[string]string{"Retry-After": "0"}, body: `{"code":20429,"message":"Too Many Requests","status":429}`}, ok(accountBody)}, twilio.Stats{Requests: 2, Retries: 1, RateLimitWaits: 1}},
		{"429 with fractional Retry-After", []reply{{status: 429, header: map[string]string{"Retry-After": "0.001"}, body: `{"code":20429,"status":429}`}, ok(accountBody)}, twilio.Stats{Requests: 2, Retries: 1, RateLimitWaits: 1}},
		{"429 with a past HTTP-date Retry-After", []reply{{status: 429, header: map[string]string{"Retry-After": past}, body: `{}`}, ok(accountBody)}, twilio.Stats{Requests: 2, Retries: 1, RateLimitWaits: 1}},
		{"429 without Retry-After", []reply{twilioError(429, 20429), twilioError(429, 20429), ok(accountBody)}, twilio.Stats{Requests: 3, Retries: 2, RateLimitWaits: 2}},
		{"truncated body", []reply{{status: 200, body: `{"sid":"AC`, truncate: true}, ok(accountBody)}, twilio.Stats{Requests: 2, Retries: 1}},
		{"invalid JSON on 200", []reply{ok(`{"sid":"AC`), ok(accountBody)}, twilio.Stats{Requests: 2, Retries: 1}},
		{"null on 200", []reply{ok(`null`), ok(accountBody)}, twilio.Stats{Requests: 2, Retries: 1}},
		{"mixed", []reply{twilioError(500, 20500), twilioError(429, 20429), {status: 200, body: `{`, truncate: true}, ok(`<html>`), twilioError(401, 20003), ok(accountBody)}, twilio.Stats{Requests: 6, Retries: 5, RateLimitWaits: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, log := scripted(t, tt.replies...)
			c := newClient(t, srv)
			a, err := c.Account(t.Context(), testAccount)
			if err != nil {
				t.Fatalf("Account: %v", err)
			}
			if a.SID != testAccount {
				t.Errorf("SID = %q", a.SID)
			}
			if diff := cmp.Diff(tt.want, c.Stats(), ignoreLowest); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if got := log.count(); int64(got) != tt.want.Requests {
				t.Errorf("server saw %d requests, want %d", got, tt.want.Requests)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	type result struct {
		Requests     int
		Status, Code int
		Message      string
		NotFound     bool
		Unauthorized bool
		ServerError  bool
		Transient    bool
	}
	tests := []struct {
		name    string
		opts    func(*twilio.Options)
		replies []reply
		want    result
	}{
		{
			name:    "5xx bounded by the default MaxAttempts",
			replies: []reply{twilioError(500, 20500)},
			want:    result{Requests: 10, Status: 500, Code: 20500, Message: "Twilio says 20500", ServerError: true, Transient: true},
		},
		{
			name:    "5xx bounded by MaxAttempts",
			opts:    func(o *twilio.Options) { o.MaxAttempts = 3 },
			replies: []reply{twilioError(503, 20503)},
			want:    result{Requests: 3, Status: 503, Code: 20503, Message: "Twilio says 20503", ServerError: true, Transient: true},
		},
		{
			name:    "failures of every kind count together",
			opts:    func(o *twilio.Options) { o.MaxAttempts = 4 },
			replies: []reply{twilioError(500, 20500), twilioError(429, 20429), {status: 200, body: `{`, truncate: true}, twilioError(502, 20502), ok(accountBody)},
			want:    result{Requests: 4, Status: 502, Code: 20502, Message: "Twilio says 20502", ServerError: true, Transient: true},
		},
		{
			name:    "5xx with an HTML body",
			opts:    func(o *twilio.Options) { o.MaxAttempts = 2 },
			replies: []reply{{status: 502, body: `<html>Bad Gateway</html>`}},
			want:    result{Requests: 2, Status: 502, Message: "unreadable error response", ServerError: true, Transient: true},
		},
		{
			name:    "501 is not retried",
			replies: []reply{twilioError(501, 20501)},
			want:    result{Requests: 1, Status: 501, Code: 20501, Message: "Twilio says 20501", ServerError: true, Transient: true},
		},
		{
			name:    "a 401 before any success is definite: not retried",
			replies: []reply{twilioError(401, 20003)},
			want:    result{Requests: 1, Status: 401, Code: 20003, Message: "Twilio says 20003", Unauthorized: true},
		},
		{
			name:    "403 is not retried",
			replies: []reply{twilioError(403, 20403)},
			want:    result{Requests: 1, Status: 403, Code: 20403, Message: "Twilio says 20403"},
		},
		{
			name:    "404 is not retried",
			replies: []reply{twilioError(404, 20404)},
			want:    result{Requests: 1, Status: 404, Code: 20404, Message: "Twilio says 20404", NotFound: true},
		},
		{
			name:    "400 is not retried",
			replies: []reply{twilioError(400, 21608)},
			want:    result{Requests: 1, Status: 400, Code: 21608, Message: "Twilio says 21608"},
		},
		{
			name:    "429 bounded by MaxAttempts",
			opts:    func(o *twilio.Options) { o.MaxAttempts = 3 },
			replies: []reply{{status: 429, header: map[string]string{"Retry-After": "0"}, body: `{"code":20429,"message":"Too Many Requests","status":429}`}},
			want:    result{Requests: 3, Status: 429, Code: 20429, Message: "Too Many Requests", Transient: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, log := scripted(t, tt.replies...)
			opts := []func(*twilio.Options){}
			if tt.opts != nil {
				opts = append(opts, tt.opts)
			}
			c := newClient(t, srv, opts...)
			_, err := c.Account(t.Context(), testAccount)
			if err == nil {
				t.Fatal("Account succeeded")
			}
			var apiErr *twilio.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T) is not an *APIError", err, err)
			}
			got := result{
				Requests:     log.count(),
				Status:       apiErr.Status,
				Code:         apiErr.Code,
				Message:      apiErr.Message,
				NotFound:     twilio.IsNotFound(err),
				Unauthorized: twilio.IsUnauthorized(err),
				ServerError:  twilio.IsServerError(err),
				Transient:    twilio.IsTransient(err),
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("failure (-want +got):\n%s", diff)
			}
			if st := c.Stats(); st.Requests != int64(got.Requests) || st.Retries != int64(got.Requests-1) {
				t.Errorf("Stats = %+v after %d requests", st, got.Requests)
			}
			if apiErr.Method != http.MethodGet || apiErr.Path != accountPath {
				t.Errorf("APIError names %s %s, want GET %s", apiErr.Method, apiErr.Path, accountPath)
			}
			msg := err.Error()
			for _, want := range []string{"fetch account " + testAccount, "GET " + accountPath, fmt.Sprintf("HTTP %d", tt.want.Status)} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, testPassword) {
				t.Errorf("error %q contains the password", msg)
			}
		})
	}
}

// Once a request has succeeded, the credentials are good: a 401 then may
// be one of Twilio's rare transient ones, and is tried once more.
func TestUnauthorizedAfterSuccess(t *testing.T) {
	tests := []struct {
		name      string
		replies   []reply
		calls     int // Account calls; all but the last succeed
		wantErr   bool
		wantStats twilio.Stats
	}{
		{"transient 401", []reply{ok(accountBody), twilioError(401, 20003), ok(accountBody)}, 2, false, twilio.Stats{Requests: 3, Retries: 1}},
		{"401 retried exactly once", []reply{ok(accountBody), twilioError(401, 20003)}, 2, true, twilio.Stats{Requests: 3, Retries: 1}},
		{"a 200 whose body was cut short proves the credentials", []reply{{status: 200, body: `{"sid":"AC`, truncate: true}, twilioError(401, 20003), ok(accountBody)}, 1, false, twilio.Stats{Requests: 3, Retries: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, log := scripted(t, tt.replies...)
			c := newClient(t, srv)
			for i := 1; i < tt.calls; i++ {
				if _, err := c.Account(t.Context(), testAccount); err != nil {
					t.Fatalf("Account call %d: %v", i, err)
				}
			}
			_, err := c.Account(t.Context(), testAccount)
			if (err != nil) != tt.wantErr || (err != nil && !twilio.IsUnauthorized(err)) {
				t.Fatalf("last Account call: error %v, want an error: %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantStats, c.Stats(), ignoreLowest); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if got := log.count(); int64(got) != tt.wantStats.Requests {
				t.Errorf("server saw %d requests, want %d", got, tt.wantStats.Requests)
			}
		})
	}
}

func TestPersistentBodyFailures(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
	}{
		{"truncated", reply{status: 200, body: `{"sid":"`, truncate: true}},
		{"invalid JSON", ok(`{"sid":`)},
		{"an HTML page", ok(`<html><body>Proxy login</body></html>`)},
		{"null", ok(`null`)},
		{"an array", ok(`[]`)},
		{"empty", ok(``)},
		{"an object and more", ok(accountBody + `<html>`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, log := scripted(t, tt.reply)
			c := newClient(t, srv, func(o *twilio.Options) { o.MaxAttempts = 3 })
			_, err := c.Account(t.Context(), testAccount)
			if err == nil {
				t.Fatal("Account succeeded")
			}
			if n := log.count(); n != 3 {
				t.Errorf("server saw %d requests, want 3 (MaxAttempts)", n)
			}
			if !twilio.IsTransient(err) {
				t.Errorf("IsTransient(%v) = false", err)
			}
			var apiErr *twilio.APIError
			if errors.As(err, &apiErr) {
				t.Errorf("a body failure is an APIError: %v", err)
			}
			if !strings.Contains(err.Error(), accountPath) || strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q must name the path and not the password", err)
			}
		})
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func failWith(err error) roundTripFunc {
	return func(*http.Request) (*http.Response, error) { return nil, err }
}

// A network failure is retried like any other. Nothing listening at the
// base_url, or a base_url host that does not resolve, before any request
// has gone through, is a configuration error naming the host, and is not
// retried; without base_url (Twilio itself) or for a failure that may
// pass, it is transient.
func TestNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	closed := srv.URL
	srv.Close() // nothing listens there any more
	closedHost := strings.TrimPrefix(closed, "http://")
	tests := []struct {
		name      string
		baseURL   string
		transport http.RoundTripper
		wantHost  string // of a *BaseURLError; "" for a transient error
		reason    string
		requests  int64
	}{
		{"base_url refuses", closed, nil, closedHost, "refused the connection", 1},
		{"base_url does not resolve", "http://proxy.example.invalid:8080", failWith(&net.OpError{Op: "dial", Net: "tcp",
			Err: &net.DNSError{Err: "no such host", Name: "proxy.example.invalid", IsNotFound: true}}), "proxy.example.invalid:8080", "does not resolve", 1},
		{"base_url DNS server down", "http://proxy.example.invalid:8080", failWith(&net.OpError{Op: "dial", Net: "tcp",
			Err: &net.DNSError{Err: "server misbehaving", Name: "proxy.example.invalid", IsTemporary: true}}), "", "", 3},
		{"base_url resets", closed, failWith(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), "", "", 3},
		{"Twilio refuses", "", failWith(&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}), "", "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := twilio.New(twilio.Options{
				Username: testAccount, Password: testPassword, BaseURL: tt.baseURL, Transport: tt.transport,
				BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 3,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Account(t.Context(), testAccount)
			if err == nil {
				t.Fatal("Account succeeded")
			}
			var baseErr *twilio.BaseURLError
			switch {
			case tt.wantHost == "":
				if !twilio.IsTransient(err) || errors.As(err, &baseErr) {
					t.Errorf("error %v: want a transient error, not a base_url one", err)
				}
			case !errors.As(err, &baseErr) || baseErr.Host != tt.wantHost || baseErr.Reason != tt.reason:
				t.Errorf("error %v (%#v): want a *BaseURLError for %s that %s", err, baseErr, tt.wantHost, tt.reason)
			case twilio.IsTransient(err):
				t.Errorf("IsTransient(%v) = true: a wrong base_url does not cure itself", err)
			case !strings.Contains(err.Error(), "base_url host "+tt.wantHost+" "+tt.reason):
				t.Errorf("error %q does not name the base_url host", err)
			}
			if st := c.Stats(); st.Requests != tt.requests || st.Retries != tt.requests-1 {
				t.Errorf("Stats = %+v, want %d requests and %d retries", st, tt.requests, tt.requests-1)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// Once a request has gone through base_url, the configuration is right:
// a proxy that then refuses connections is down for a while, which is
// retried, and at the end transient.
func TestBaseURLRefusingAfterASuccessIsTransient(t *testing.T) {
	srv, _ := scripted(t, ok(accountBody))
	var calls atomic.Int64
	refuse := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	c := newClient(t, srv, func(o *twilio.Options) {
		o.MaxAttempts = 3
		o.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				return http.DefaultTransport.RoundTrip(r)
			}
			return nil, refuse
		})
	})
	if _, err := c.Account(t.Context(), testAccount); err != nil {
		t.Fatalf("first Account call: %v", err)
	}
	_, err := c.Account(t.Context(), testAccount)
	var baseErr *twilio.BaseURLError
	if err == nil || errors.As(err, &baseErr) || !twilio.IsTransient(err) {
		t.Errorf("error %v: want a transient error, not a base_url one", err)
	}
	if st := c.Stats(); st.Requests != 4 || st.Retries != 2 {
		t.Errorf("Stats = %+v, want 4 requests (1 + MaxAttempts) and 2 retries", st)
	}
}

func TestIllegalPasswordNeverSent(t *testing.T) {
	// twilio-go refuses credentials with symbols before sending anything.
	secret := testPassword + "/+="
	srv, log := scripted(t, ok(accountBody))
	c := newClient(t, srv, func(o *twilio.Options) { o.Password = secret })
	_, err := c.Account(t.Context(), testAccount)
	if err == nil {
		t.Fatal("Account succeeded")
	}
	if n := log.count(); n != 0 {
		t.Errorf("server saw %d requests", n)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error %q contains the password", err)
	}
}

func TestConcurrencyCap(t *testing.T) {
	t.Run("one client", func(t *testing.T) {
		checkCap(t, 3, func(srv *httptest.Server) []*twilio.Client {
			return []*twilio.Client{newClient(t, srv, func(o *twilio.Options) { o.MaxConcurrency = 3 })}
		})
	})
	// Clients of several accounts, each with its own cap of 3, share a
	// cap of 4.
	t.Run("shared by three clients", func(t *testing.T) {
		checkCap(t, 4, func(srv *httptest.Server) []*twilio.Client {
			shared := twilio.NewLimit(4)
			var out []*twilio.Client
			for range 3 {
				out = append(out, newClient(t, srv, func(o *twilio.Options) { o.MaxConcurrency, o.Shared = 3, shared }))
			}
			return out
		})
	})
}

// checkCap makes 20 requests at once with each client newClients returns
// and checks that exactly limit of them were in flight at most.
func checkCap(t *testing.T, limit int64, newClients func(*httptest.Server) []*twilio.Client) {
	const calls = 20
	var inFlight, maxInFlight atomic.Int64
	// gate holds the first requests until one more than the cap is in
	// flight (the cap is broken) or, once the cap is reached, for a short
	// while in which a request beyond the cap would arrive.
	gate := make(chan struct{})
	var openGate sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		switch {
		case n > limit:
			openGate.Do(func() { close(gate) })
		case n == limit:
			go func() {
				time.Sleep(100 * time.Millisecond)
				openGate.Do(func() { close(gate) })
			}()
		}
		select {
		case <-gate:
		case <-time.After(5 * time.Second):
		}
		write(t, w, ok(accountBody))
	}))
	t.Cleanup(srv.Close)
	clients := newClients(srv)

	var wg sync.WaitGroup
	errs := make(chan error, calls*len(clients))
	for _, c := range clients {
		for range calls {
			wg.Go(func() {
				_, err := c.Account(t.Context(), testAccount)
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := maxInFlight.Load(); got != limit {
		t.Errorf("most requests in flight = %d, want %d", got, limit)
	}
	for _, c := range clients {
		if st := c.Stats(); st.Requests != calls {
			t.Errorf("Stats().Requests = %d, want %d", st.Requests, calls)
		}
	}
}

// TestRateLimitPausesOtherRequests checks that a 429 holds requests of
// other callers, not just the retry of the one that got it, and that
// cancelling the contexts ends those waits.
func TestRateLimitPausesOtherRequests(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		first := len(paths) == 1
		mu.Unlock()
		if first {
			write(t, w, reply{status: 429, header: map[string]string{"Retry-After": "60"}, body: `{"code":20429,"status":429}`})
			return
		}
		write(t, w, ok(accountBody))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv)

	ctxA, cancelA := context.WithCancel(t.Context())
	defer cancelA()
	errA := make(chan error, 1)
	go func() {
		_, err := c.Account(ctxA, testAccount)
		errA <- err
	}()
	for c.Stats().RateLimitWaits == 0 {
		select {
		case err := <-errA:
			t.Fatalf("first call ended before its 429 was counted: %v", err)
		case <-time.After(time.Millisecond):
		}
	}

	ctxB, cancelB := context.WithCancel(t.Context())
	defer cancelB()
	errB := make(chan error, 1)
	go func() {
		_, err := c.Account(ctxB, testSub)
		errB <- err
	}()
	// Give B every chance to (wrongly) reach the server.
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	seen := append([]string(nil), paths...)
	mu.Unlock()
	if diff := cmp.Diff([]string{accountPath}, seen); diff != "" {
		t.Errorf("requests during the pause (-want +got):\n%s", diff)
	}

	cancelB()
	cancelA()
	for name, ch := range map[string]chan error{"paused call": errB, "rate-limited call": errA} {
		select {
		case err := <-ch:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: error = %v, want context.Canceled", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not stop when its context was cancelled", name)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 {
		t.Errorf("server saw %d requests, want 1: %v", len(paths), paths)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	srv, log := scripted(t, reply{status: 503, header: map[string]string{"Retry-After": "60"}, body: `{"code":20503,"status":503}`})
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Account(ctx, testAccount)
		done <- err
	}()
	for log.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		var apiErr *twilio.APIError
		if errors.As(err, &apiErr) {
			t.Errorf("a cancelled call is an APIError: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("call did not stop when its context was cancelled")
	}
	if n := log.count(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestCancelledBeforeCall(t *testing.T) {
	srv, log := scripted(t, ok(accountBody))
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Account(ctx, testAccount)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if n := log.count(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

// pager serves pages keyed by the request's path and exact raw query.
func pager(t *testing.T, pages map[string]string) (*httptest.Server, *requestLog) {
	t.Helper()
	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		key := r.URL.Path
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		body, found := pages[key]
		if !found {
			t.Errorf("unexpected request %s (Host %s)", key, r.Host)
			write(t, w, twilioError(404, 20404))
			return
		}
		write(t, w, ok(body))
	}))
	t.Cleanup(srv.Close)
	return srv, log
}

func requested(log *requestLog) []string {
	var out []string
	for i := range log.count() {
		r := log.get(i)
		s := r.Host + r.URL.Path
		if r.URL.RawQuery != "" {
			s += "?" + r.URL.RawQuery
		}
		out = append(out, s)
	}
	return out
}

func TestAccountsPaging(t *testing.T) {
	next := "/2010-04-01/Accounts.json?PageSize=1000&Page=1&PageToken=PAAC0001%3D%3D"
	srv, log := pager(t, map[string]string{
		"/2010-04-01/Accounts.json?PageSize=1000": `{"accounts":[` + accountBody + `],"next_page_uri":"` + next + `"}`,
		next: `{"accounts":[{"sid":"` + testSub + `","auth_token":"` + testPassword + `","date_created":"","status":"suspended"}],"next_page_uri":null}`,
	})
	c := newClient(t, srv)
	var sids []string
	err := c.Accounts(t.Context(), func(page []twilio.Account) error {
		for _, a := range page {
			sids = append(sids, a.SID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	if diff := cmp.Diff([]string{testAccount, testSub}, sids); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	want := []string{"api.twilio.com/2010-04-01/Accounts.json?PageSize=1000", "api.twilio.com" + next}
	if diff := cmp.Diff(want, requested(log)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestPagingStopsOnYieldError(t *testing.T) {
	srv, log := pager(t, map[string]string{
		"/2010-04-01/Accounts.json?PageSize=1000": `{"accounts":[],"next_page_uri":"/2010-04-01/Accounts.json?Page=1"}`,
	})
	c := newClient(t, srv)
	stop := errors.New("stop")
	if err := c.Accounts(t.Context(), func([]twilio.Account) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("error = %v, want %v", err, stop)
	}
	if n := log.count(); n != 1 {
		t.Errorf("server saw %d requests after the yield failed, want 1", n)
	}
}

func TestDailyUsage(t *testing.T) {
	first := "/2010-04-01/Accounts/" + testSub + "/Usage/Records/Daily.json"
	next := first + "?EndDate=2026-01-31&IncludeSubaccounts=false&Page=1&PageSize=2&PageToken=PASMS&StartDate=2026-01-01"
	row := func(cat, date, price string) string {
		return `{"account_sid":"` + testSub + `","category":"` + cat + `","description":"d","start_date":"` + date + `","end_date":"` + date +
			`","count":"1","count_unit":"messages","usage":"1","usage_unit":"messages","price":` + price +
			`,"price_unit":"usd","as_of":"2026-02-01T03:00:00+00:00","uri":"/x"}`
	}
	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := log.add(r)
		switch i {
		case 0:
			write(t, w, ok(`{"usage_records":[`+row("sms", "2026-01-01", `"-0.00750"`)+`,`+row("calls", "2026-01-01", `""`)+`],"next_page_uri":"`+next+`"}`))
		default:
			write(t, w, ok(`{"usage_records":[`+row("totalprice", "2026-01-02", `498.84515`)+`],"next_page_uri":null}`))
		}
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv)

	start := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	// The end is given in another zone: the UTC date counts.
	end := time.Date(2026, time.January, 31, 20, 0, 0, 0, time.FixedZone("EST", -5*3600))
	var got []string
	err := c.DailyUsage(t.Context(), testSub, start, end, 2, func(page []twilio.UsageRecord) error {
		for _, r := range page {
			got = append(got, fmt.Sprintf("%s %s %s price=%s valid=%v as_of=%s", r.AccountSID, r.Category, r.StartDate, r.Price, r.Price.Valid(), r.AsOf.Format(time.RFC3339)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("DailyUsage: %v", err)
	}
	want := []string{
		testSub + " sms 2026-01-01 price=-0.00750 valid=true as_of=2026-02-01T03:00:00Z",
		testSub + " calls 2026-01-01 price= valid=false as_of=2026-02-01T03:00:00Z",
		testSub + " totalprice 2026-01-02 price=498.84515 valid=true as_of=2026-02-01T03:00:00Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if n := log.count(); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
	r0 := log.get(0)
	wantQuery := url.Values{
		"StartDate":          {"2026-01-01"},
		"EndDate":            {"2026-02-01"},
		"IncludeSubaccounts": {"false"},
		"PageSize":           {"2"},
	}
	if diff := cmp.Diff(wantQuery, r0.URL.Query()); diff != "" {
		t.Errorf("first page query (-want +got):\n%s", diff)
	}
	if r0.Host != "api.twilio.com" || r0.URL.Path != first {
		t.Errorf("first page = %s%s, want api.twilio.com%s", r0.Host, r0.URL.Path, first)
	}
	r1 := log.get(1)
	if got := r1.URL.RequestURI(); got != next {
		t.Errorf("second page = %s, want next_page_uri verbatim %s", got, next)
	}
}

func TestDailyUsageBadRecords(t *testing.T) {
	tests := []struct {
		name string
		row  string
		want []string
	}{
		{"bad price", `{"account_sid":"AC1","category":"sms","start_date":"2026-01-01","price":"abc"}`, []string{"usage_records[0]", "field price", `"abc"`}},
		{"bad usage", `{"account_sid":"AC1","category":"sms","start_date":"2026-01-01","usage":"1.2.3"}`, []string{"usage_records[0]", "field usage"}},
		{"bad count", `{"account_sid":"AC1","category":"sms","start_date":"2026-01-01","count":"+1"}`, []string{"usage_records[0]", "field count"}},
		{"bad start_date", `{"account_sid":"AC1","category":"sms","start_date":"01/01/2026"}`, []string{"usage_records[0]", `start_date "01/01/2026" is not a date`}},
		{"bad as_of", `{"account_sid":"AC1","category":"sms","start_date":"2026-01-01","as_of":"now"}`, []string{"usage_records[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, log := scripted(t, ok(`{"usage_records":[`+tt.row+`],"next_page_uri":"/2010-04-01/next"}`))
			c := newClient(t, srv)
			called := false
			day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			err := c.DailyUsage(t.Context(), testAccount, day, day, 1000, func([]twilio.UsageRecord) error {
				called = true
				return nil
			})
			if err == nil {
				t.Fatal("DailyUsage succeeded")
			}
			for _, w := range append(tt.want, "/Usage/Records/Daily.json") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if called {
				t.Error("a page with a bad record was yielded")
			}
			if n := log.count(); n != 1 {
				t.Errorf("server saw %d requests, want 1: a bad record is not retried", n)
			}
		})
	}
}

func TestSIMsPaging(t *testing.T) {
	// v1 APIs give the next page as an absolute URL; it is followed
	// verbatim, through the base-URL override.
	next := "https://wireless.twilio.com/v1/Sims?PageSize=1&Page=1&PageToken=PADE0001"
	srv, log := pager(t, map[string]string{
		"/v1/Sims?PageSize=1000":                        `{"sims":[{"sid":"DE1","unique_name":"one","date_created":"2026-01-01T00:00:00Z"}],"meta":{"next_page_url":"` + next + `"}}`,
		"/v1/Sims?PageSize=1&Page=1&PageToken=PADE0001": `{"sims":[{"sid":"DE2","date_created":null}],"meta":{"next_page_url":null}}`,
	})
	c := newClient(t, srv)
	var sids []string
	err := c.SIMs(t.Context(), func(page []twilio.SIM) error {
		for _, s := range page {
			sids = append(sids, s.SID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("SIMs: %v", err)
	}
	if diff := cmp.Diff([]string{"DE1", "DE2"}, sids); diff != "" {
		t.Errorf("SIMs (-want +got):\n%s", diff)
	}
	want := []string{"wireless.twilio.com/v1/Sims?PageSize=1000", "wireless.twilio.com/v1/Sims?PageSize=1&Page=1&PageToken=PADE0001"}
	if diff := cmp.Diff(want, requested(log)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestSIMDailyUsage(t *testing.T) {
	next := "https://wireless.twilio.com/v1/Sims/DE1/UsageRecords?Granularity=daily&PageSize=50&Page=1&PageToken=PAx"
	data := `{"billing_units":"USD","billed":"0.25","total":1024,"home":{"total":1024,"billed":"0.25"},"international_roaming":[]}`
	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := log.add(r)
		if i == 0 {
			write(t, w, ok(`{"usage_records":[{"sim_sid":"DE1","account_sid":"`+testAccount+`","period":{"start":"2026-01-01T00:00:00+00:00","end":"2026-01-02T00:00:00+00:00"},"commands":{"total":2},"data":`+data+`}],"meta":{"next_page_url":"`+next+`"}}`))
			return
		}
		write(t, w, ok(`{"usage_records":[],"meta":{"next_page_url":null}}`))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var got []twilio.SIMUsageRecord
	err := c.SIMDailyUsage(t.Context(), "DE1", start, start.AddDate(0, 0, 7), 50, func(page []twilio.SIMUsageRecord) error {
		got = append(got, page...)
		return nil
	})
	if err != nil {
		t.Fatalf("SIMDailyUsage: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d records, want 1", len(got))
	}
	if got[0].SIMSID != "DE1" || !got[0].Period.Start.Equal(start) || string(got[0].Data) != data {
		t.Errorf("record = %+v; data %s", got[0], got[0].Data)
	}
	if n := log.count(); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
	r0 := log.get(0)
	wantQuery := url.Values{
		"Start":       {"2026-01-01T00:00:00Z"},
		"End":         {"2026-01-08T00:00:00Z"},
		"Granularity": {"daily"},
		"PageSize":    {"50"},
	}
	if diff := cmp.Diff(wantQuery, r0.URL.Query()); diff != "" {
		t.Errorf("first page query (-want +got):\n%s", diff)
	}
	if r0.Host != "wireless.twilio.com" || r0.URL.Path != "/v1/Sims/DE1/UsageRecords" {
		t.Errorf("first page = %s%s", r0.Host, r0.URL.Path)
	}
	if got, want := log.get(1).Host+log.get(1).URL.RequestURI(), strings.TrimPrefix(next, "https://"); got != want {
		t.Errorf("second page = %s, want %s", got, want)
	}
}

func TestNotFoundPartition(t *testing.T) {
	// Twilio answers 404 for some subaccounts' usage: callers skip them.
	srv, log := scripted(t, twilioError(404, 20404))
	c := newClient(t, srv)
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := c.DailyUsage(t.Context(), testSub, day, day, 1000, func([]twilio.UsageRecord) error { return nil })
	if !twilio.IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}
	if twilio.IsTransient(err) || twilio.IsUnauthorized(err) || twilio.IsServerError(err) {
		t.Errorf("a 404 is classified as something else: %v", err)
	}
	if n := log.count(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestAPIErrorText(t *testing.T) {
	tests := []struct {
		err  twilio.APIError
		want string
	}{
		{
			twilio.APIError{Method: "GET", Path: "/2010-04-01/Accounts.json?PageSize=1000", Status: 401, Code: 20003, Message: "Authenticate", MoreInfo: "https://www.twilio.com/docs/errors/20003"},
			"GET /2010-04-01/Accounts.json?PageSize=1000: HTTP 401, Twilio error 20003: Authenticate (https://www.twilio.com/docs/errors/20003)",
		},
		{
			twilio.APIError{Method: "GET", Path: "/v1/Sims", Status: 503},
			"GET /v1/Sims: HTTP 503: Service Unavailable",
		},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.err.Error()); diff != "" {
			t.Errorf("Error() (-want +got):\n%s", diff)
		}
	}
	// Classification also works on the Twilio code alone.
	if !twilio.IsUnauthorized(&twilio.APIError{Status: 403, Code: twilio.CodeAuthenticate}) {
		t.Error("IsUnauthorized ignores code 20003")
	}
	if !twilio.IsNotFound(fmt.Errorf("wrapped: %w", &twilio.APIError{Status: 400, Code: twilio.CodeNotFound})) {
		t.Error("IsNotFound ignores a wrapped code 20404")
	}
	if twilio.IsTransient(errors.New("plain")) || twilio.IsNotFound(nil) {
		t.Error("plain errors are classified")
	}
}

// ignoreLowest leaves the limiter's LowestConcurrency out of a Stats
// comparison: limiter_test.go tests it.
var ignoreLowest = cmpopts.IgnoreFields(twilio.Stats{}, "LowestConcurrency")

func TestSuperSIMDailyUsage(t *testing.T) {
	next := "https://supersim.twilio.com/v1/UsageRecords?Group=sim&Granularity=day&PageSize=1&Page=1&PageToken=PA1"
	rec := func(sim, billed, unit string) string {
		return `{"period":{"start_time":"2026-01-01T00:00:00Z","end_time":"2026-01-02T00:00:00Z"},"account_sid":"` + testAccount +
			`","sim_sid":"` + sim + `","fleet_sid":null,"network_sid":null,"iso_country":null,"data_upload":1,"data_download":"2","data_total":3,` +
			`"data_total_billed":` + billed + `,"billed_unit":` + unit + `}`
	}
	srv, log := pager(t, map[string]string{
		"/v1/UsageRecords?EndTime=2026-01-08T00%3A00%3A00Z&Granularity=day&Group=sim&PageSize=1000&StartTime=2026-01-01T00%3A00%3A00Z": `{"usage_records":[` +
			rec("HS1", `"123456789.123456789"`, `"USD"`) + `],"meta":{"key":"usage_records","next_page_url":"` + next + `"}}`,
		"/v1/UsageRecords?Group=sim&Granularity=day&PageSize=1&Page=1&PageToken=PA1": `{"usage_records":[` + rec("HS2", `0`, `null`) + `],"meta":{"next_page_url":null}}`,
	})
	c := newClient(t, srv)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var got []string
	err := c.SuperSIMDailyUsage(t.Context(), start, start.AddDate(0, 0, 7), 1000, func(page []twilio.SuperSIMUsageRecord) error {
		for _, r := range page {
			unit := "null"
			if r.BilledUnit != nil {
				unit = *r.BilledUnit
			}
			got = append(got, fmt.Sprintf("%s %d+%d=%d %s %s", *r.SIMSID, r.DataUpload.N, r.DataDownload.N, r.DataTotal.N, r.DataTotalBilled, unit))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("SuperSIMDailyUsage: %v", err)
	}
	want := []string{"HS1 1+2=3 123456789.123456789 USD", "HS2 1+2=3 0 null"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if n := log.count(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestSuperSIMContractViolations: a page that breaks Twilio's contract
// fails with an error naming the request and what is wrong: a records key
// missing, null or not a list is a *ContractError, asked for again like a
// malformed body before it fails; a record of the wrong shape is Twilio's
// data and fails at once.
func TestSuperSIMContractViolations(t *testing.T) {
	good := `{"period":{"start_time":"2026-01-01T00:00:00Z"},"sim_sid":"HS1","data_total":3}`
	tests := []struct {
		name, body string
		want       []string
		contract   bool // a *ContractError, tried again
	}{
		{"no records key", `{"meta":{"next_page_url":null}}`, []string{`no "usage_records" key`}, true},
		{"records null", `{"usage_records":null,"meta":{}}`, []string{`"usage_records" is null`}, true},
		{"records not a list", `{"usage_records":{},"meta":{}}`, []string{`"usage_records" is an object`}, true},
		{"bytes not a number", `{"usage_records":[` + strings.Replace(good, `"data_total":3`, `"data_total":"lots"`, 1) + `],"meta":{}}`,
			[]string{"usage_records[0]", "field data_total"}, false},
		{"bytes fractional", `{"usage_records":[` + strings.Replace(good, `"data_total":3`, `"data_total":3.5`, 1) + `],"meta":{}}`,
			[]string{"usage_records[0]", "field data_total"}, false},
		{"billed not a number", `{"usage_records":[` + strings.Replace(good, `"data_total":3`, `"data_total_billed":"free"`, 1) + `],"meta":{}}`,
			[]string{"usage_records[0]", "field data_total_billed"}, false},
		{"sim_sid missing", `{"usage_records":[` + strings.Replace(good, `"sim_sid":"HS1",`, ``, 1) + `],"meta":{}}`,
			[]string{"usage_records[0]", "sim_sid is missing"}, false},
		{"period missing", `{"usage_records":[{"sim_sid":"HS1"}],"meta":{}}`, []string{"usage_records[0]", "period.start_time is missing"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, log := scripted(t, ok(tt.body))
			c := newClient(t, srv)
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			err := c.SuperSIMDailyUsage(t.Context(), start, start.AddDate(0, 0, 1), 1000, func([]twilio.SuperSIMUsageRecord) error {
				t.Error("a page that breaks the contract was yielded")
				return nil
			})
			if err == nil {
				t.Fatal("SuperSIMDailyUsage succeeded")
			}
			for _, w := range append(tt.want, "GET /v1/UsageRecords?") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var contract *twilio.ContractError
			if errors.As(err, &contract) != tt.contract {
				t.Errorf("error %v: a *ContractError %v, want %v", err, !tt.contract, tt.contract)
			}
			if n := log.count(); tt.contract && n < 2 || !tt.contract && n != 1 {
				t.Errorf("%d requests: a contract error is tried again, a bad record is not", n)
			}
		})
	}
	srv, _ := scripted(t, ok(`{"meta":{}}`))
	err := newClient(t, srv).SuperSIMs(t.Context(), 50, func([]twilio.SuperSIM) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `no "sims" key`) || !strings.Contains(err.Error(), "GET /v1/Sims") {
		t.Errorf("SuperSIMs without a sims key: %v", err)
	}
}
