package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	twclient "github.com/twilio/twilio-go/client"
)

// The retry budget's defaults; Options may change each. The package
// documentation explains them and the worst case they add up to.
const (
	defaultMaxAttempts    = 10
	defaultBaseBackoff    = 500 * time.Millisecond
	defaultMaxBackoff     = 20 * time.Second
	defaultMaxRetryAfter  = 2 * time.Minute
	defaultRequestTimeout = 60 * time.Second

	// backoffJitter spreads each wait uniformly over ±50% of its
	// interval, so that workers that failed together do not come back
	// together.
	backoffJitter = 0.5
)

// retryPolicy is the budget of one request: how often it is tried and
// how long it waits between tries. It is the only place the client tries
// anything again.
type retryPolicy struct {
	maxAttempts   int           // tries of one request, the first included
	baseBackoff   time.Duration // first wait's interval; it doubles
	maxBackoff    time.Duration // the interval stops growing here
	maxRetryAfter time.Duration // a longer Retry-After is cut to this
}

// waits returns the schedule of waits between the tries of one request:
// the interval doubles from baseBackoff up to maxBackoff, and each wait
// is drawn at random within ±backoffJitter of it.
func (p retryPolicy) waits() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     p.baseBackoff,
		RandomizationFactor: backoffJitter,
		Multiplier:          2,
		MaxInterval:         p.maxBackoff,
	}
}

// outcome is what one try of a request came to.
type outcome struct {
	err         error // nil on success; else what the caller gets if this try is the last
	retry       bool  // the failure may pass: the request is worth another try
	status      int   // HTTP status; 0 when no response came
	rateLimited bool  // a 429: every request of the client waits
	// retryAfter is the server's Retry-After, capped, when hasRetryAfter.
	retryAfter    time.Duration
	hasRetryAfter bool
}

// getJSON fetches rawURL (absolute) with query and decodes the JSON body
// into v. A nil query keeps rawURL's own query, as paging requires.
func (c *Client) getJSON(ctx context.Context, rawURL string, query url.Values, v any) error {
	return c.getDecoded(ctx, rawURL, query, func(body []byte) error { return json.Unmarshal(body, v) })
}

// getDecoded fetches rawURL with query and hands the body to decode,
// under the retry policy: a try that failed in a way that may pass (see
// classify) is made again after a wait, up to maxAttempts tries in all.
// decode is part of the try: a 2xx body that is not a JSON object, or
// that decode finds is not JSON, is asked for again. decode must copy
// what it keeps: the body's buffer is reused once decode returns.
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

	var (
		last                outcome
		tries               int
		unauthorizedRetried bool // a request retries one 401 at most
	)
	try := func() (struct{}, error) {
		tries++
		last = c.try(ctx, handler, call, rawURL, query, where, decode)
		if last.retry && last.status == http.StatusUnauthorized {
			last.retry = !unauthorizedRetried
			unauthorizedRetried = true
		}
		switch {
		case last.err == nil:
			return struct{}{}, nil
		case !last.retry:
			return struct{}{}, backoff.Permanent(last.err)
		case last.hasRetryAfter:
			return struct{}{}, &backoff.RetryAfterError{Duration: last.retryAfter}
		}
		return struct{}{}, last.err
	}
	waiting := func(_ error, wait time.Duration) {
		c.transport.retries.Add(1)
		if last.rateLimited {
			// Twilio's concurrency limit is per account: every request
			// of the client waits, not only this one.
			c.transport.pause(wait)
			c.transport.rateLimitWaits.Add(1)
		}
		c.log.Debug("retrying Twilio request", "path", where, "attempt", tries,
			"status", last.status, "error", last.err.Error(), "wait", wait)
	}
	_, err := backoff.Retry(ctx, try,
		backoff.WithBackOff(c.policy.waits()),
		backoff.WithMaxTries(uint(c.policy.maxAttempts)),
		backoff.WithMaxElapsedTime(0), // the budget is in tries
		backoff.WithNotify(waiting))
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("GET %s: %w", where, ctx.Err())
	}
	return last.err
}

// try makes one attempt of the request and decodes its body.
func (c *Client) try(ctx context.Context, handler *twclient.RequestHandler, call *callTransport, rawURL string, query url.Values, where string, decode func([]byte) error) outcome {
	call.resp = nil
	resp, err := handler.Get(rawURL, query, nil, "")
	if err != nil {
		o := c.classify(ctx, call.resp, err)
		o.err = c.requestError(ctx, where, call.resp, err)
		if call.resp != nil {
			c.transport.release(call.resp) // the error was decoded from it
		}
		return o
	}
	body, err := readBody(resp)
	if err != nil {
		return outcome{err: fmt.Errorf("GET %s: %w", where, err), status: resp.StatusCode}
	}
	err = jsonObject(body)
	if err == nil {
		err = decode(body)
	}
	c.transport.release(resp) // decode keeps nothing of body
	var syntax *json.SyntaxError
	switch {
	case err == nil:
		return outcome{status: resp.StatusCode}
	case errors.As(err, &syntax) || errors.Is(err, errNotObject):
		// An HTML page from a proxy, or a body cut short without the
		// transport noticing: what Twilio sent is not what the contract
		// says, and asking again may get it.
		return outcome{err: fmt.Errorf("GET %s: %w", where, &malformedError{err: err}), retry: true, status: resp.StatusCode}
	}
	// JSON that does not fit the contract (a field of the wrong type):
	// Twilio's data, which another try would not change.
	return outcome{err: fmt.Errorf("GET %s: decode response: %w", where, err), status: resp.StatusCode}
}

// classify says whether a try that failed with err, and resp when a
// response came, is worth another, and how long the server asked to
// wait. Before any request has succeeded, a 401 (wrong credentials) and a
// base_url that nothing answers are mistakes in the configuration; after
// one has, they may pass.
func (c *Client) classify(ctx context.Context, resp *http.Response, err error) outcome {
	if ctx.Err() != nil {
		return outcome{}
	}
	accepted := c.transport.accepted.Load()
	if resp != nil {
		o := outcome{status: resp.StatusCode}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			o.retry, o.rateLimited = true, true
		case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
			o.retry = true
		case resp.StatusCode == http.StatusUnauthorized:
			// Twilio answers a rare 401 to good credentials under load:
			// once a request has succeeded, one more try tells that apart
			// from a key that may not read this resource.
			o.retry = accepted
		}
		if o.retry {
			o.retryAfter, o.hasRetryAfter = retryAfter(resp.Header, c.policy.maxRetryAfter)
		}
		return o
	}
	var urlErr *url.Error
	var trunc *truncatedError
	switch {
	case errors.As(err, &trunc):
		return outcome{retry: true}
	case !errors.As(err, &urlErr):
		// Not from the HTTP exchange: twilio-go refused to build the
		// request (credentials with symbols, say).
		return outcome{}
	case c.transport.origin != nil && !accepted && unreachable(err) != "":
		return outcome{}
	}
	// A reset, a timeout, a DNS server down: worth another try.
	return outcome{retry: true}
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date,
// and caps it at limit.
func retryAfter(h http.Header, limit time.Duration) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		switch {
		case math.IsNaN(secs):
			return 0, false
		case secs <= 0:
			return 0, true
		case secs >= limit.Seconds():
			return limit, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(0, min(time.Until(at), limit)), true
	}
	return 0, false
}

// jsonObject checks that body is, at first sight, a JSON object: every
// Twilio response is one.
func jsonObject(body []byte) error {
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return errNotObject
	}
	return nil
}

var errNotObject = errors.New("the response body is not a JSON object")

// malformedError is a 2xx response whose body is not JSON, or not a JSON
// object: not what Twilio's contract says.
type malformedError struct{ err error }

func (e *malformedError) Error() string { return "malformed response body: " + e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }
