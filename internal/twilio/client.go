// Package twilio reads the Twilio REST API for the connector, on top of
// the official github.com/twilio/twilio-go library.
//
// twilio-go provides the credentials, the request building (query
// encoding, edge and region) and its error type. This package adds what
// twilio-go lacks and the connector needs:
//
//   - one http.RoundTripper under twilio-go that overrides the base URL,
//     caps the requests in flight, retries 429, 5xx, cut-short bodies and
//     a transient 401 (one after the credentials have been accepted once;
//     a 401 before that is definite) with Retry-After or exponential
//     backoff and jitter, and counts requests;
//   - page decoding into our own structs, so money stays the exact decimal
//     text Twilio sent (twilio-go's typed prices are float32);
//   - paging that follows next_page_uri (2010 API) and meta.next_page_url
//     (v1 APIs) verbatim.
package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
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
	// MaxConcurrency caps the requests in flight; default 8.
	MaxConcurrency int
	// MaxAttempts bounds the tries of one request; default 10. A 5xx or a
	// network failure is tried at most Max5xxAttempts times (default 4):
	// the caller can then try a smaller page, and an unreachable host
	// fails in seconds.
	MaxAttempts, Max5xxAttempts int
	// BaseBackoff is the first retry delay (default 500ms); MaxBackoff
	// caps it (default 30s). MaxRetryAfter caps a Retry-After (default 2m).
	BaseBackoff, MaxBackoff, MaxRetryAfter time.Duration
	// RequestTimeout bounds one attempt; default 60s.
	RequestTimeout time.Duration
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
		next:           next,
		origin:         origin,
		slots:          make(chan struct{}, slots),
		bodies:         make(chan []byte, slots),
		log:            log,
		maxAttempts:    orDefault(opts.MaxAttempts, 10),
		max5xxAttempts: orDefault(opts.Max5xxAttempts, 4),
		baseBackoff:    orDefault(opts.BaseBackoff, 500*time.Millisecond),
		maxBackoff:     orDefault(opts.MaxBackoff, 30*time.Second),
		maxRetryAfter:  orDefault(opts.MaxRetryAfter, 2*time.Minute),
		attemptTimeout: orDefault(opts.RequestTimeout, 60*time.Second),
	}
	return &Client{
		creds:      twclient.NewCredentials(opts.Username, opts.Password),
		accountSID: opts.AccountSID,
		edge:       os.Getenv("TWILIO_EDGE"),
		region:     os.Getenv("TWILIO_REGION"),
		transport:  tr,
	}, nil
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
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:       c.transport.requests.Load(),
		Retries:        c.transport.retries.Load(),
		RateLimitWaits: c.transport.rateLimitWaits.Load(),
	}
}

// getJSON fetches rawURL (absolute) with query and decodes the JSON body
// into v. A nil query keeps rawURL's own query, as paging requires.
func (c *Client) getJSON(ctx context.Context, rawURL string, query url.Values, v any) error {
	return c.getDecoded(ctx, rawURL, query, func(body []byte) error { return json.Unmarshal(body, v) })
}

// getDecoded fetches rawURL with query and hands the body to decode. A
// 200 whose body is cut short (decode reports a *json.SyntaxError) is
// asked for again. decode must copy what it keeps: the body's buffer is
// reused once decode returns.
func (c *Client) getDecoded(ctx context.Context, rawURL string, query url.Values, decode func([]byte) error) error {
	call := &callTransport{ctx: ctx, next: c.transport}
	tc := &twclient.Client{
		Credentials: c.creds,
		HTTPClient: &http.Client{
			Transport:     call,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	tc.SetAccountSid(c.accountSID)
	handler := &twclient.RequestHandler{Client: tc, Edge: c.edge, Region: c.region}

	where := describe(rawURL, query)
	for attempt := 1; ; attempt++ {
		resp, err := handler.Get(rawURL, query, nil, "")
		if err != nil {
			return c.requestError(ctx, where, call.resp, err)
		}
		body, err := readBody(resp)
		if err != nil {
			return fmt.Errorf("GET %s: %w", where, err)
		}
		err = decode(body)
		c.transport.release(resp) // decode keeps nothing of body
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			if attempt < c.transport.maxAttempts {
				c.transport.retries.Add(1)
				continue
			}
			err = &truncatedError{err: err}
		}
		if err != nil {
			return fmt.Errorf("GET %s: decode response: %w", where, err)
		}
		return nil
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
	if o := c.transport.origin; o != nil {
		if reason := unreachable(err); reason != "" {
			return fmt.Errorf("GET %s: %w", where, &BaseURLError{Host: o.Host, Reason: reason, Err: err})
		}
	}
	return fmt.Errorf("GET %s: %w: %w", where, errNetwork, err)
}

// BaseURLError is a request that never reached the base_url origin: its
// host refused the connection or does not resolve. That is a mistake in
// the configuration, not Twilio being down, and retrying later does not
// help.
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
