// Package twilio reads the Twilio REST API for the connector, on top of
// the official github.com/twilio/twilio-go library.
//
// twilio-go provides the credentials, the request building (query
// encoding, edge and region) and its error type. This package adds what
// twilio-go lacks and the connector needs:
//
//   - one http.RoundTripper under twilio-go that overrides the base URL,
//     caps the requests in flight, bounds each attempt in time and counts
//     requests;
//   - one retry policy, below, for every request;
//   - page decoding into our own structs, so money stays the exact decimal
//     text Twilio sent (twilio-go's typed prices are float32);
//   - paging that follows next_page_uri (2010 API) and meta.next_page_url
//     (v1 APIs) verbatim.
//
// # Retries
//
// Every request (one page of a listing, one account) is made under one
// retry policy (retry.go), the only place the package tries anything
// again. Its budget, with the defaults of Options:
//
//   - Tries: at most 10 per request (MaxAttempts), whatever the mix of
//     failures.
//   - What is tried again: 429; 5xx except 501; a body cut short; a 2xx
//     body that is not a JSON object (an HTML page from a proxy, say); a
//     page that breaks a listing's contract (listing.go: its records key
//     missing, null or not a list, a next page already read); a
//     network failure (a reset, a timeout, a DNS server down); and one
//     401 per request once an earlier request has succeeded, since Twilio
//     answers a rare 401 to good credentials under load. Before any
//     request has succeeded, a 401 and a base_url host that refuses
//     connections or does not resolve are mistakes in the configuration
//     and fail at once. So does everything else: another 4xx, or JSON
//     that does not fit the contract (a field of the wrong type).
//   - Waits: the Retry-After of a 429 or 5xx when it has one, capped at
//     2 minutes (MaxRetryAfter); otherwise exponential with jitter: an
//     interval of 0.5 s (BaseBackoff) that doubles up to 20 s
//     (MaxBackoff), each wait drawn at random within ±50% of it, so
//     0.25–0.75 s, 0.5–1.5 s, 1–3 s, 2–6 s, 4–12 s, 8–24 s, then 10–30 s.
//     A 429 holds every request of the client for its wait: Twilio's
//     concurrency limit is per account.
//   - Each try is bounded by 60 s (RequestTimeout), reading the body
//     included, and its response headers must come within 30 s
//     (HeaderTimeout).
//   - Silence: once no request of the client has had any answer for 3
//     minutes (SilenceLimit) — every try timed out or failed on the
//     network — a try that gets none is its request's last, failing
//     with a *NoAnswerError: Twilio is down, or unreachable from here. A
//     Twilio that accepts connections and never answers so fails a run
//     in 3–4 minutes rather than after every request's budget.
//   - Worst case for one request: 9 waits, 46–137 s in all, when every
//     answer is an error without Retry-After (a Twilio outage); about 3.5
//     minutes when nothing answers at all (the silence limit); and the
//     bound, every try taking 60 s (headers in time, a body that
//     trickles) and asking for the longest Retry-After: 10 × 60 s + 9 ×
//     2 min = 28 min.
//
// A listing's pages are read one after another, each with its own budget,
// and a listing fails with the first page whose budget is spent: so a
// usage window (31 days of one account, 3 pages at 70 categories a day,
// about 20 when Twilio lists all its categories) whose requests keep
// failing fails after one request's budget, 46–137 s in an outage, and
// its worst case is its number of pages times a request's. There is no
// other retry above this one, and no page-size fallback: a page that
// keeps failing fails its window loudly, and the window's cursor does not
// move. Above it, the connector bounds a whole window (15 minutes,
// connector.DefaultWindowDeadline).
package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	twclient "github.com/twilio/twilio-go/client"
)

// Service origins.
const (
	APIOrigin      = "https://api.twilio.com"
	WirelessOrigin = "https://wireless.twilio.com"
)

// Options configures a Client.
type Options struct {
	// Username and Password are the HTTP Basic credentials: an account SID
	// and auth token, or an API key SID and secret.
	Username, Password string
	// AccountSID is the main account the client reads.
	AccountSID string
	// BaseURL, when set, is an origin (scheme://host[:port]) that replaces
	// https://<service>.twilio.com for every request; the Host header
	// keeps the service name.
	BaseURL string
	// Edge and Region are Twilio's edge location and processing region
	// (TWILIO_EDGE and TWILIO_REGION for the command line); empty means
	// Twilio's default.
	Edge, Region string
	// MaxConcurrency caps the requests in flight; default 8. 429s lower
	// the cap for a while (limiter.go).
	MaxConcurrency int
	// Shared, when set, is a cap on requests in flight that this client
	// shares with others (several accounts synced at once): a request
	// takes one of the client's own slots, then one of Shared's.
	Shared *Limit
	// The retry budget (see the package documentation). MaxAttempts
	// bounds the tries of one request (default 10). BaseBackoff is the
	// first wait's interval (default 500ms), doubling up to MaxBackoff
	// (default 20s); each wait is within ±50% of its interval.
	// MaxRetryAfter caps a Retry-After (default 2m). RequestTimeout
	// bounds one try, its body included (default 60s); HeaderTimeout
	// bounds the wait for its response headers (default 30s). Once no
	// request has had an answer for SilenceLimit (default 3m), a try
	// that gets none is the request's last.
	MaxAttempts                            int
	BaseBackoff, MaxBackoff, MaxRetryAfter time.Duration
	RequestTimeout, HeaderTimeout          time.Duration
	SilenceLimit                           time.Duration
	// Transport sends the requests; default http.DefaultTransport's clone.
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Client reads Twilio. It is safe for concurrent use.
type Client struct {
	creds      *twclient.Credentials
	accountSID string
	edge       string
	region     string
	transport  *transport
	policy     retryPolicy
	log        *slog.Logger
}

// New returns a Client. It makes no request.
func New(opts Options) (*Client, error) {
	if opts.Username == "" || opts.Password == "" {
		return nil, errors.New("twilio: credentials are required")
	}
	var origin *url.URL
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("twilio: base URL %q is not an http(s) origin", opts.BaseURL)
		}
		origin = &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	next := opts.Transport
	if next == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		next = t
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	slots := orDefault(opts.MaxConcurrency, 8)
	tr := &transport{
		next:   next,
		origin: origin,
		limit: newLimiter(slots, func(n int) {
			log.Info("Twilio answered 429 (too many requests): lowering the requests in flight", "max_in_flight", n)
		}),
		shared:         opts.Shared,
		bodies:         make(chan []byte, slots),
		attemptTimeout: orDefault(opts.RequestTimeout, defaultRequestTimeout),
		headerTimeout:  orDefault(opts.HeaderTimeout, defaultHeaderTimeout),
	}
	return &Client{
		creds:      twclient.NewCredentials(opts.Username, opts.Password),
		accountSID: opts.AccountSID,
		edge:       opts.Edge,
		region:     opts.Region,
		transport:  tr,
		policy: retryPolicy{
			maxAttempts:   orDefault(opts.MaxAttempts, defaultMaxAttempts),
			baseBackoff:   orDefault(opts.BaseBackoff, defaultBaseBackoff),
			maxBackoff:    orDefault(opts.MaxBackoff, defaultMaxBackoff),
			maxRetryAfter: orDefault(opts.MaxRetryAfter, defaultMaxRetryAfter),
			silenceLimit:  orDefault(opts.SilenceLimit, defaultSilenceLimit),
		},
		log: log,
	}, nil
}

// Limit caps the requests in flight of every client given it as
// Options.Shared.
type Limit struct{ slots chan struct{} }

// NewLimit returns a cap of n requests in flight (n < 1 means 1).
func NewLimit(n int) *Limit { return &Limit{slots: make(chan struct{}, max(n, 1))} }

// acquire takes a slot of l, or fails when ctx ends first. A nil l has
// no cap.
func (l *Limit) acquire(ctx context.Context) error {
	if l == nil {
		return nil
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Limit) release() {
	if l != nil {
		<-l.slots
	}
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// AccountSID returns the main account the client reads.
func (c *Client) AccountSID() string { return c.accountSID }

// Stats counts what the client has done so far.
type Stats struct {
	Requests       int64 // HTTP attempts sent
	Retries        int64 // attempts that were retried
	RateLimitWaits int64 // 429 answers, each pausing every request
	// LowestConcurrency is the lowest cap on requests in flight so far:
	// MaxConcurrency unless 429s lowered it.
	LowestConcurrency int
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:          c.transport.requests.Load(),
		Retries:           c.transport.retries.Load(),
		RateLimitWaits:    c.transport.rateLimitWaits.Load(),
		LowestConcurrency: c.transport.limit.lowestCap(),
	}
}

// readBody returns the body the transport already read whole.
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if b, ok := resp.Body.(*bufferedBody); ok {
		return b.data, nil
	}
	return io.ReadAll(resp.Body)
}

func (c *Client) requestError(ctx context.Context, where string, resp *http.Response, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("GET %s: %w", where, err)
	}
	var rest *twclient.TwilioRestError
	if errors.As(err, &rest) {
		apiErr := &APIError{Method: http.MethodGet, Path: where, Status: rest.Status, Code: rest.Code, Message: rest.Message, MoreInfo: rest.MoreInfo}
		if resp != nil {
			apiErr.Status = resp.StatusCode
		}
		return apiErr
	}
	if resp != nil && resp.StatusCode >= 300 {
		// twilio-go could not decode the error body (an HTML page from a
		// proxy, say): keep the status.
		return &APIError{Method: http.MethodGet, Path: where, Status: resp.StatusCode, Message: "unreadable error response"}
	}
	var trunc *truncatedError
	if errors.As(err, &trunc) {
		return fmt.Errorf("GET %s: %w", where, err)
	}
	if o := c.transport.origin; o != nil && !c.transport.accepted.Load() {
		if reason := unreachable(err); reason != "" {
			return fmt.Errorf("GET %s: %w", where, &BaseURLError{Host: o.Host, Reason: reason, Err: err})
		}
	}
	return fmt.Errorf("GET %s: %w: %w", where, errNetwork, err)
}

// BaseURLError is a request that never reached the base_url origin, before
// any request had: its host refused the connection or does not resolve.
// That is a mistake in the configuration, not Twilio being down, and
// retrying later does not help. (Once a request has gone through, the
// same failure is a network error that may pass.)
type BaseURLError struct {
	Host   string // host[:port] of base_url
	Reason string // "refused the connection" or "does not resolve"
	Err    error
}

func (e *BaseURLError) Error() string {
	return fmt.Sprintf("the base_url host %s %s: check base_url in the config (it replaces https://api.twilio.com and the other Twilio origins)",
		e.Host, e.Reason)
}

func (e *BaseURLError) Unwrap() error { return e.Err }

// unreachable says why err means nothing listens at the host, or returns
// "" for failures that may pass (a timeout, a reset, a DNS server down).
func unreachable(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused the connection"
	case errors.As(err, &dns) && dns.IsNotFound:
		return "does not resolve"
	}
	return ""
}

// describe renders a request for errors and logs: path and query only.
func describe(rawURL string, query url.Values) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	s := u.Path
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s
}

// absolute resolves a 2010 API relative URI against the API origin.
func absolute(uri string) string {
	if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
		return uri
	}
	return APIOrigin + uri
}
