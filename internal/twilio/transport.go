package twilio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// transport is the one http.RoundTripper under twilio-go. Every request
// passes through it, so it is where the base-URL override, the
// concurrency cap, retries and request counting live.
//
// A response it returns carries its whole body in memory: reading the
// body is part of the attempt, so a body cut short is retried like any
// other transient failure.
type transport struct {
	next   http.RoundTripper
	origin *url.URL // nil: requests go where twilio-go sends them
	slots  chan struct{}
	bodies chan []byte // response buffers to reuse, up to one per slot
	log    *slog.Logger

	maxAttempts    int
	max5xxAttempts int
	baseBackoff    time.Duration
	maxBackoff     time.Duration
	maxRetryAfter  time.Duration
	attemptTimeout time.Duration

	mu          sync.Mutex
	pausedUntil time.Time // after a 429, no request starts before this

	// accepted is set by the first 2xx answer: from then on the
	// credentials are known to be good, and a 401 may be transient.
	accepted atomic.Bool

	requests       atomic.Int64
	retries        atomic.Int64
	rateLimitWaits atomic.Int64
	inFlight       atomic.Int64
}

// RoundTrip sends req, retrying transient failures, and returns the last
// response with its body fully read.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.origin != nil {
		req = req.Clone(ctx)
		req.Host = req.URL.Host // the service name stays in the Host header
		req.URL.Scheme = t.origin.Scheme
		req.URL.Host = t.origin.Host
	}
	var (
		unauthorizedRetried bool
		serverErrors        int
	)
	for attempt := 1; ; attempt++ {
		resp, err := t.attempt(ctx, req)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		delay := t.backoff(attempt)
		retry := false
		switch {
		case isTruncated(err):
			retry = true
		case err != nil:
			// A refused connection or a reset: worth a few tries, not the
			// full budget, so an unreachable host fails in seconds.
			serverErrors++
			retry = serverErrors < t.max5xxAttempts
		case resp.StatusCode == http.StatusTooManyRequests:
			retry = true
			if d, ok := retryAfter(resp.Header, t.maxRetryAfter); ok {
				delay = d
			}
			t.pause(delay)
			t.rateLimitWaits.Add(1)
		case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
			serverErrors++
			retry = serverErrors < t.max5xxAttempts
			if d, ok := retryAfter(resp.Header, t.maxRetryAfter); ok {
				delay = d
			}
		case resp.StatusCode == http.StatusUnauthorized && !unauthorizedRetried && t.accepted.Load():
			// Twilio answers a rare 401 to valid credentials under load:
			// once a request has succeeded, one more try tells that apart
			// from a key that may not read this resource. A 401 before any
			// success is definite (wrong credentials) and not retried.
			unauthorizedRetried = true
			retry = true
		}
		if !retry || attempt >= t.maxAttempts {
			if err != nil {
				return nil, err
			}
			return resp, nil
		}
		t.retries.Add(1)
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.log.Debug("retrying Twilio request", "method", req.Method, "path", req.URL.Path,
			"attempt", attempt, "status", status, "error", errString(err), "delay", delay)
		if resp != nil {
			t.release(resp)
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// attempt makes one request inside a concurrency slot and reads its body.
func (t *transport) attempt(ctx context.Context, req *http.Request) (*http.Response, error) {
	if err := t.waitPause(ctx); err != nil {
		return nil, err
	}
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer t.releaseSlot()
	t.requests.Add(1)
	t.inFlight.Add(1)
	defer t.inFlight.Add(-1)

	ctx, cancel := context.WithTimeout(ctx, t.attemptTimeout)
	defer cancel()
	resp, err := t.next.RoundTrip(req.Clone(ctx))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		t.accepted.Store(true) // even if the body is then cut short
	}
	body, err := t.readAll(resp.Body, resp.ContentLength)
	resp.Body.Close()
	if err != nil {
		return nil, &truncatedError{err: err}
	}
	resp.Body = &bufferedBody{Reader: bytes.NewReader(body), data: body}
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// releaseSlot frees a concurrency slot and steps aside. A worker waiting
// for the slot is woken to run next on this thread, but only once this
// goroutine stops running, and it is about to decode the page it just
// read: without the yield the slot sat idle for that long (2.8 ms a
// request on average in a 200-account backfill, the slowest far longer).
func (t *transport) releaseSlot() {
	<-t.slots
	runtime.Gosched()
}

type truncatedError struct{ err error }

func (e *truncatedError) Error() string { return "incomplete response body: " + e.err.Error() }
func (e *truncatedError) Unwrap() error { return e.err }

func isTruncated(err error) bool {
	var t *truncatedError
	return errors.As(err, &t)
}

// readAll reads r to its end into a buffer sized for length when the
// server announced it: usage pages are megabytes. Large buffers are kept
// for reuse: whoever is done with a response gives its buffer back with
// release.
func (t *transport) readAll(r io.Reader, length int64) ([]byte, error) {
	if length <= 0 || length > 64<<20 {
		return io.ReadAll(r)
	}
	// bytes.Buffer.ReadFrom wants MinRead bytes free to see the end, or it
	// grows the buffer, copying the body, just before EOF.
	size := int(length) + bytes.MinRead
	var buf []byte
	if length >= reusedBodySize {
		select {
		case b := <-t.bodies:
			if cap(b) >= size {
				buf = b[:0]
			}
		default:
		}
	}
	if buf == nil {
		buf = make([]byte, 0, size)
	}
	b := bytes.NewBuffer(buf)
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

// A backfill reads gigabytes of usage pages, each read whole, decoded
// into fresh strings and dropped: reusing their buffers spares the
// allocator and the garbage collector that churn. The transport keeps one
// buffer per concurrency slot at most. Smaller bodies are not worth it.
const reusedBodySize = 64 << 10

// bufferedBody is a response body already read whole.
type bufferedBody struct {
	*bytes.Reader
	data []byte
}

func (*bufferedBody) Close() error { return nil }

// release gives resp's body buffer back for another response. Nothing may
// use the body, or anything sliced from it, afterwards.
func (t *transport) release(resp *http.Response) {
	b, ok := resp.Body.(*bufferedBody)
	if !ok || cap(b.data) < reusedBodySize {
		return
	}
	data := b.data[:0]
	b.data, b.Reader = nil, bytes.NewReader(nil)
	select {
	case t.bodies <- data:
	default:
	}
}

// pause holds every new request of the client for d: Twilio's
// concurrency limit is per account, so one 429 concerns all workers.
func (t *transport) pause(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until := time.Now().Add(d); until.After(t.pausedUntil) {
		t.pausedUntil = until
	}
}

func (t *transport) waitPause(ctx context.Context) error {
	t.mu.Lock()
	wait := time.Until(t.pausedUntil)
	t.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	return sleep(ctx, wait)
}

// backoff is exponential with jitter: a random duration in [d/2, d] for
// d = baseBackoff·2^(attempt-1), capped at maxBackoff.
func (t *transport) backoff(attempt int) time.Duration {
	d := t.baseBackoff << min(attempt-1, 20)
	if d <= 0 || d > t.maxBackoff {
		d = t.maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(h http.Header, limit time.Duration) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		d = time.Duration(secs * float64(time.Second))
	} else if at, err := http.ParseTime(v); err == nil {
		d = time.Until(at)
	} else {
		return 0, false
	}
	return max(0, min(d, limit)), true
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// callTransport binds one call's context to the shared transport (twilio-go
// builds its requests without one) and remembers the last response.
type callTransport struct {
	ctx  context.Context
	next *transport
	resp *http.Response
}

func (c *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req.WithContext(c.ctx))
	c.resp = resp
	return resp, err
}
