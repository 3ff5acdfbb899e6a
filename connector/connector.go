// Package connector is the source: `check`, `discover` and `read` over
// the streams of package catalog, one file per stream. It speaks the
// neutral messages of internal/protocol, so the same read serves the
// Airbyte and the Singer entry points and the loader.
//
// A read goes stream by stream. Partitioned streams (usage per account,
// usage per SIM) read their partitions concurrently, in date windows, and
// checkpoint each partition's cursor after every finished window, through
// one emitter that keeps every STATE after the records it covers.
package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/spec"
)

// Connector reads Twilio for one configuration.
type Connector struct {
	cfg      spec.Config
	api      *twilio.Client
	log      *slog.Logger
	now      func() time.Time
	verified atomic.Bool // VerifyCredentials succeeded
	// windowDeadline bounds the reading of one window (see
	// withinWindowDeadline).
	windowDeadline time.Duration

	mu      sync.Mutex
	skipped []Skipped
}

// Skipped is a partition a read left out on purpose, and why.
type Skipped struct {
	Stream    string
	Partition string // an account SID
	Reason    string
}

// Skipped returns the partitions the reads so far left out, in the order
// they were skipped.
func (c *Connector) Skipped() []Skipped {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.skipped)
}

func (c *Connector) skip(s Skipped) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skipped = append(c.skipped, s)
}

// New returns a Connector. cfg must be validated.
func New(cfg spec.Config, api *twilio.Client, log *slog.Logger) *Connector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Connector{cfg: cfg, api: api, log: log, now: time.Now, windowDeadline: DefaultWindowDeadline}
}

// SetClock replaces the clock, for tests.
func (c *Connector) SetClock(now func() time.Time) { c.now = now }

// SetWindowDeadline replaces DefaultWindowDeadline.
func (c *Connector) SetWindowDeadline(d time.Duration) { c.windowDeadline = d }

// Discover returns the catalog of every stream.
func Discover() protocol.Catalog {
	var cat protocol.Catalog
	for _, s := range registry {
		cat.Streams = append(cat.Streams, s.AirbyteStream())
	}
	return cat
}

// ConfigError is a problem the user must fix in the config, catalog or
// state; retrying does not help.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// errStreamUnavailable marks a stream that could not be read for a
// reason outside the connector (a service the account does not have):
// the stream ends INCOMPLETE, but the read goes on and does not fail.
var errStreamUnavailable = errors.New("stream unavailable")

// Read reads the configured streams, resuming from blobs (the state
// Airbyte passed in), and writes every message to w. It returns an error
// when any stream failed; every stream it started still gets a final
// status.
//
// Before it writes anything it checks the config against the streams and
// the credentials with VerifyCredentials: credentials Twilio rejects end
// the read with a *CredentialsError and no message at all, so nothing
// downstream can take a half-read for the truth.
func (c *Connector) Read(ctx context.Context, streams []catalog.Configured, blobs state.Blobs, w protocol.Writer) (err error) {
	var errs []error
	for _, cs := range streams {
		if _, ok := Lookup(cs.Stream.Name); !ok {
			errs = append(errs, fmt.Errorf("stream %s is declared but this version of the connector cannot read it; deselect it", cs.Stream.Name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(blobs)) {
		if _, ok := Lookup(name); !ok {
			errs = append(errs, fmt.Errorf("the state names stream %s, which this connector does not have (its streams are %s); remove it from the state", name, strings.Join(Catalog().Names(), ", ")))
		}
	}
	states, err := decodeStates(streams, blobs)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return &ConfigError{Err: err}
	}
	if err := c.VerifyCredentials(ctx); err != nil {
		return err
	}
	today := c.now().UTC().Truncate(24 * time.Hour)
	for name, st := range states {
		s, _ := Lookup(name)
		moved := s.Cursor.Clamp(st, today)
		for _, p := range slices.Sorted(maps.Keys(moved)) {
			c.log.Warn("a cursor of the state is after the last complete UTC day: it is moved back to that day, and the read goes on from there",
				"stream", name, "partition", p, "cursor", moved[p])
		}
	}

	r := &run{
		conn: c,
		// Every window being read can wait to be written.
		emit:   newEmitter(w, c.now, partitionWorkers(c.cfg.Concurrency())),
		states: states,
		today:  today,
	}
	defer func() {
		if werr := r.emit.close(); werr != nil && err == nil {
			err = werr
		}
	}()
	var failed, unavailable []error
	for _, cs := range streams {
		name := cs.Stream.Name
		if err := r.emit.status(name, protocol.StatusStarted); err != nil {
			return err
		}
		s, _ := Lookup(name)
		err := s.read(c, ctx, r, cs)
		var credErr *CredentialsError
		switch {
		case errors.As(err, &credErr):
			// Rejected now: nothing more can be read.
			if serr := r.emit.status(name, protocol.StatusIncomplete); serr != nil {
				return serr
			}
			return &StreamError{Stream: name, Err: err}
		case err == nil:
			err = r.emit.status(name, protocol.StatusComplete)
		case errors.Is(err, errStreamUnavailable):
			c.log.Warn(err.Error(), "stream", name)
			unavailable = append(unavailable, &StreamError{Stream: name, Err: err})
			err = r.emit.status(name, protocol.StatusIncomplete)
		default:
			failed = append(failed, &StreamError{Stream: name, Err: err})
			c.log.Error("stream failed", "stream", name, "error", err.Error())
			err = r.emit.status(name, protocol.StatusIncomplete)
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if len(unavailable) == len(streams) {
		// Nothing selected could be read: the read failed.
		failed = append(failed, unavailable...)
	}
	return errors.Join(failed...)
}

// StreamError is the failure of one stream.
type StreamError struct {
	Stream string
	Err    error
}

func (e *StreamError) Error() string { return fmt.Sprintf("stream %s: %v", e.Stream, e.Err) }
func (e *StreamError) Unwrap() error { return e.Err }

func decodeStates(streams []catalog.Configured, blobs state.Blobs) (map[string]*state.Stream, error) {
	out := map[string]*state.Stream{}
	var errs []error
	for _, cs := range streams {
		s := cs.Stream
		if s.Cursor == "" {
			continue
		}
		blob := blobs[s.Name]
		if cs.SyncMode != catalog.Incremental {
			blob = nil
		}
		st, err := state.FromAirbyte(blob, s.PartitionKey, s.Cursor)
		if err != nil {
			errs = append(errs, fmt.Errorf("state of stream %s: %w", s.Name, err))
			continue
		}
		rs, ok := Lookup(s.Name)
		if !ok || rs.Cursor == nil {
			continue
		}
		if err := rs.Cursor.Check(s.Name, st); err != nil {
			errs = append(errs, err)
			continue
		}
		out[s.Name] = st
	}
	return out, errors.Join(errs...)
}

// run is the shared context of one read.
type run struct {
	conn   *Connector
	emit   *emitter
	states map[string]*state.Stream
	today  time.Time // UTC midnight of the day the read started

	accountsOnce sync.Once
	accounts     []account
	accountsErr  error

	simsOnce sync.Once
	sims     []twilio.SIM
	simsErr  error
}
