package twilio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// transport is the one http.RoundTripper under twilio-go. Every attempt
// passes through it, so it is where the base-URL override, the pause
// after a 429, the concurrency cap (adaptive: limiter.go), the time limit of an attempt and
// request counting live. It makes exactly one attempt per RoundTrip:
// trying again is the retry policy's decision (retry.go), which sees the
// whole attempt, the decoding of the body included.
//
// A response it returns carries its whole body in memory: reading the
// body is part of the attempt, so a body cut short is an attempt that
// failed (a *truncatedError), like any other.
type transport struct {
	next           http.RoundTripper
	origin         *url.URL // nil: requests go where twilio-go sends them
	limit          *limiter
	shared         *Limit      // nil: none
	bodies         chan []byte // response buffers to reuse, up to one per slot
	attemptTimeout time.Duration
	headerTimeout  time.Duration

	// lastAnswer is when a response last arrived (its headers), or when
	// the first attempt started: Unix nanoseconds, 0 before any attempt.
	lastAnswer atomic.Int64

	mu          sync.Mutex
	pausedUntil time.Time // after a 429, no request starts before this

	// accepted is set by the first 2xx answer: from then on the
	// credentials and the base URL are known to be good.
	accepted atomic.Bool

	requests       atomic.Int64
	retries        atomic.Int64
	rateLimitWaits atomic.Int64
	inFlight       atomic.Int64
}

// RoundTrip makes one attempt of req and returns its response with the
// body fully read.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.origin != nil {
		req = req.Clone(ctx)
		req.Host = req.URL.Host // the service name stays in the Host header
		req.URL.Scheme = t.origin.Scheme
		req.URL.Host = t.origin.Host
	}
	return t.attempt(ctx, req)
}

// attempt makes one request inside a concurrency slot and reads its body.
func (t *transport) attempt(ctx context.Context, req *http.Request) (*http.Response, error) {
	if err := t.waitPause(ctx); err != nil {
		return nil, err
	}
	round, err := t.limit.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer t.releaseSlot()
	if err := t.shared.acquire(ctx); err != nil {
		return nil, err
	}
	defer t.shared.release()
	t.requests.Add(1)
	t.inFlight.Add(1)
	defer t.inFlight.Add(-1)

	t.lastAnswer.CompareAndSwap(0, time.Now().UnixNano())

	ctx, cancel := context.WithTimeout(ctx, t.attemptTimeout)
	defer cancel()
	ctx, cancelHeaders := context.WithCancelCause(ctx)
	defer cancelHeaders(nil)
	noHeaders := &noHeadersError{after: t.headerTimeout}
	timer := time.AfterFunc(t.headerTimeout, func() { cancelHeaders(noHeaders) })
	resp, err := t.next.RoundTrip(req.Clone(ctx))
	timer.Stop()
	if err != nil {
		if context.Cause(ctx) == noHeaders {
			return nil, noHeaders
		}
		return nil, err
	}
	t.lastAnswer.Store(time.Now().UnixNano())
	if resp.StatusCode == http.StatusTooManyRequests {
		t.limit.throttled(round)
	} else {
		t.limit.succeeded()
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
	t.limit.release()
	runtime.Gosched()
}

// silence returns how long no response has arrived: since the last one,
// or since the first attempt.
func (t *transport) silence() time.Duration {
	last := t.lastAnswer.Load()
	if last == 0 {
		return 0
	}
	return time.Since(time.Unix(0, last))
}

// noHeadersError is an attempt that got no response headers in time:
// the connection was accepted, and nothing came back.
type noHeadersError struct{ after time.Duration }

func (e *noHeadersError) Error() string {
	return fmt.Sprintf("no response within %v", e.after)
}

// Timeout marks the error as a timeout, as net.Error does.
func (e *noHeadersError) Timeout() bool { return true }

// truncatedError is a response whose body ended before its end: the
// connection closed, or the attempt timed out, while it was read.
type truncatedError struct{ err error }

func (e *truncatedError) Error() string { return "incomplete response body: " + e.err.Error() }
func (e *truncatedError) Unwrap() error { return e.err }

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
