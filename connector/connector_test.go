package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/spec"
)

// now is the fixed clock of every test: the emulator's "today" and the
// connector's agree.
var now = time.Date(2026, 11, 24, 15, 4, 5, 0, time.UTC)

func clock() time.Time { return now }

// capture is a protocol.Writer that keeps every message. stopAfterStates,
// when set, cancels the read after that many STATE messages, like a kill.
type capture struct {
	mu              sync.Mutex
	msgs            []protocol.Message
	stopAfterStates int
	cancel          context.CancelFunc
	states          int
}

func (c *capture) Write(m protocol.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil && c.states >= c.stopAfterStates {
		return errors.New("killed")
	}
	if r, ok := m.(protocol.Record); ok {
		r.Data = bytes.Clone(r.Data) // Write may not keep it
		m = r
	}
	c.msgs = append(c.msgs, m)
	if _, ok := m.(protocol.State); ok {
		c.states++
		if c.cancel != nil && c.states >= c.stopAfterStates {
			c.cancel()
		}
	}
	return nil
}

func (c *capture) records(stream string) []map[string]json.RawMessage {
	var out []map[string]json.RawMessage
	for _, m := range c.msgs {
		if r, ok := m.(protocol.Record); ok && r.Stream == stream {
			var row map[string]json.RawMessage
			if err := json.Unmarshal(r.Data, &row); err != nil {
				panic(err)
			}
			out = append(out, row)
		}
	}
	return out
}

// committed returns the records of stream up to its last STATE: what a
// destination keeps from a run that was killed.
func (c *capture) committed(stream string) ([]map[string]json.RawMessage, json.RawMessage) {
	last := -1
	var blob json.RawMessage
	for i, m := range c.msgs {
		if s, ok := m.(protocol.State); ok && s.Stream == stream {
			last, blob = i, s.Data
		}
	}
	kept := &capture{msgs: c.msgs[:last+1]}
	return kept.records(stream), blob
}

func (c *capture) lastState(stream string) json.RawMessage {
	_, blob := c.committed(stream)
	return blob
}

func (c *capture) statuses(stream string) []protocol.Status {
	var out []protocol.Status
	for _, m := range c.msgs {
		if s, ok := m.(protocol.StreamStatus); ok && s.Stream == stream {
			out = append(out, s.Status)
		}
	}
	return out
}

// logs collects log lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "")
}

func (l *logs) contains(level, substr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, "level="+level) && strings.Contains(line, substr) {
			return true
		}
	}
	return false
}

type env struct {
	emu  *twiliotest.Server
	cfg  spec.Config
	api  *twilio.Client
	conn *connector.Connector
	logs *logs
}

func newEnv(t *testing.T, opts twiliotest.Options, edit func(map[string]any)) *env {
	t.Helper()
	opts.Now = clock
	emu := twiliotest.NewTestServer(t, opts)
	var raw map[string]any
	if err := json.Unmarshal(emu.ConnectorConfig(emu.URL()), &raw); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(raw)
	}
	b, _ := json.Marshal(raw)
	cfg, err := spec.Load(b, now)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	l := &logs{}
	log := slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	user, pass, _ := cfg.Credentials()
	api, err := twilio.New(twilio.Options{
		Username: user, Password: pass, AccountSID: cfg.AccountSID, BaseURL: cfg.BaseURL,
		MaxConcurrency: cfg.Concurrency(), BaseBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := connector.New(cfg, api, log)
	conn.SetClock(clock)
	return &env{emu: emu, cfg: cfg, api: api, conn: conn, logs: l}
}

func configured(t *testing.T, mode catalog.SyncMode, names ...string) []catalog.Configured {
	t.Helper()
	var out []catalog.Configured
	for _, n := range names {
		s, ok := connector.Catalog().Lookup(n)
		if !ok {
			t.Fatalf("no stream %s", n)
		}
		m := mode
		if !s.Supports(m) {
			m = catalog.FullRefresh
		}
		out = append(out, catalog.Configured{Stream: s, SyncMode: m})
	}
	return out
}

func (e *env) read(t *testing.T, streams []catalog.Configured, blobs state.Blobs) *capture {
	t.Helper()
	c := &capture{}
	if err := e.conn.Read(context.Background(), streams, blobs, c); err != nil {
		t.Fatalf("read: %v", err)
	}
	return c
}

func text(raw json.RawMessage) string { return string(raw) }

func unquote(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("not a string: %s", raw)
	}
	return s
}

type usageKey struct{ account, category, date string }

// expectedUsage is the emulator's ground truth for the accounts the read
// can see, from start on.
func expectedUsage(e *env, start time.Time) map[usageKey]twiliotest.UsageRecord {
	want := map[usageKey]twiliotest.UsageRecord{}
	for _, a := range e.emu.Accounts() {
		if a.UsageForbidden {
			continue
		}
		for _, r := range e.emu.UsageRecords(a.SID) {
			if r.Date.Before(start) {
				continue
			}
			want[usageKey{a.SID, r.Category, r.Date.Format(time.DateOnly)}] = r
		}
	}
	return want
}

func TestUsageRecordsMirrorTwilioExactly(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 5, Days: 70}, nil)
	got := e.read(t, configured(t, catalog.FullRefresh, connector.UsageRecords), nil)

	want := expectedUsage(e, e.cfg.Start())
	seen := map[usageKey]bool{}
	var negative, bigPrices int
	for _, row := range got.records(connector.UsageRecords) {
		k := usageKey{unquote(t, row["account_sid"]), unquote(t, row["category"]), unquote(t, row["start_date"])}
		if seen[k] {
			t.Errorf("record %v emitted twice", k)
		}
		seen[k] = true
		w, ok := want[k]
		if !ok {
			t.Errorf("record %v is not in Twilio's data", k)
			continue
		}
		wantCount := w.Count
		if wantCount == "" {
			wantCount = "null"
		}
		if diff := cmp.Diff([]string{w.Price, w.Usage, wantCount}, []string{text(row["price"]), text(row["usage"]), text(row["count"])}); diff != "" {
			t.Errorf("record %v: price, usage, count differ from Twilio's text (-want +got):\n%s", k, diff)
		}
		if strings.HasPrefix(w.Price, "-") {
			negative++
		}
		if len(w.Price) > 8 {
			bigPrices++
		}
	}
	if len(seen) != len(want) {
		t.Errorf("got %d distinct records, Twilio has %d", len(seen), len(want))
	}
	if negative == 0 || bigPrices == 0 {
		t.Errorf("test data lacks negative (%d) or large (%d) prices: the exactness check is weak", negative, bigPrices)
	}
	if s := got.statuses(connector.UsageRecords); !slices.Equal(s, []protocol.Status{protocol.StatusStarted, protocol.StatusRunning, protocol.StatusComplete}) {
		t.Errorf("statuses = %v", s)
	}
}

func TestUsageNeverIncludesSubaccounts(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 2, Subaccounts: 3, Days: 20}, nil)
	got := e.read(t, configured(t, catalog.FullRefresh, connector.UsageRecords), nil)

	daily := 0
	for _, r := range e.emu.Requests() {
		if strings.HasSuffix(r.Path, "/Usage/Records/Daily.json") {
			daily++
			if q := r.Query.Get("IncludeSubaccounts"); q != "false" {
				t.Errorf("request %s asks IncludeSubaccounts=%q", r.Path, q)
			}
		}
	}
	if daily == 0 {
		t.Fatal("no Daily.json request was made")
	}
	// The main account's totalprice is its own, not its own plus its
	// children's, which is what Twilio answers by default.
	main := e.emu.MainAccountSID()
	own := map[string]string{}
	for _, r := range e.emu.UsageRecords(main) {
		if r.Category == "totalprice" {
			own[r.Date.Format(time.DateOnly)] = r.Price
		}
	}
	checked := 0
	for _, row := range got.records(connector.UsageRecords) {
		if unquote(t, row["account_sid"]) == main && unquote(t, row["category"]) == "totalprice" {
			date := unquote(t, row["start_date"])
			if own[date] != text(row["price"]) {
				t.Errorf("main totalprice on %s = %s, own usage is %s", date, row["price"], own[date])
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no main-account totalprice record")
	}
}

func TestUsageIncrementalRereadsOnlyTheLookback(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 3, Subaccounts: 2, Days: 50}, nil)
	streams := configured(t, catalog.Incremental, connector.UsageRecords)
	first := e.read(t, streams, nil)
	blob := first.lastState(connector.UsageRecords)

	st, err := state.FromAirbyte(blob, "account_sid", "start_date")
	if err != nil {
		t.Fatal(err)
	}
	yesterday := now.AddDate(0, 0, -1).Format(time.DateOnly)
	for _, p := range st.Partitions() {
		if c, _ := st.Cursor(p); c != yesterday {
			t.Errorf("cursor of %s = %s, want the last complete day %s", p, c, yesterday)
		}
	}

	e.emu.ResetRequests()
	second := e.read(t, streams, state.Blobs{connector.UsageRecords: blob})
	earliest := now.AddDate(0, 0, -1-e.cfg.Lookback()).Format(time.DateOnly)
	rows := second.records(connector.UsageRecords)
	if len(rows) == 0 {
		t.Fatal("second read emitted nothing: it must re-read the lookback and today")
	}
	dates := map[string]bool{}
	for _, row := range rows {
		d := unquote(t, row["start_date"])
		dates[d] = true
		if d < earliest {
			t.Errorf("second read emitted %s, before cursor − lookback %s", d, earliest)
		}
	}
	if !dates[earliest] || !dates[now.Format(time.DateOnly)] {
		t.Errorf("second read covered %v, want %s through today", slices.Sorted(mapsKeys(dates)), earliest)
	}
	for _, r := range e.emu.Requests() {
		if sd := r.Query.Get("StartDate"); sd != "" && sd < earliest {
			t.Errorf("second read requested StartDate=%s", sd)
		}
	}
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func primaryKeys(t *testing.T, rows []map[string]json.RawMessage, fields ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, row := range rows {
		var parts []string
		for _, f := range fields {
			parts = append(parts, text(row[f]))
		}
		out[strings.Join(parts, "|")] = true
	}
	return out
}

func TestUsageResumeAfterKillLosesNothing(t *testing.T) {
	opts := twiliotest.Options{Seed: 4, Subaccounts: 4, Days: 80}
	streams := configured(t, catalog.Incremental, connector.UsageRecords)
	full := newEnv(t, opts, nil).read(t, streams, nil)
	want := primaryKeys(t, full.records(connector.UsageRecords), "account_sid", "category", "start_date")

	for _, killAfter := range []int{1, 3, 7} {
		t.Run(fmt.Sprintf("after %d states", killAfter), func(t *testing.T) {
			e := newEnv(t, opts, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			killed := &capture{stopAfterStates: killAfter, cancel: cancel}
			if err := e.conn.Read(ctx, streams, nil, killed); err == nil {
				t.Fatal("a killed read returned no error")
			}
			kept, blob := killed.committed(connector.UsageRecords)
			if blob == nil {
				t.Fatal("no state before the kill")
			}
			resumed := e.read(t, streams, state.Blobs{connector.UsageRecords: blob})
			got := primaryKeys(t, append(kept, resumed.records(connector.UsageRecords)...), "account_sid", "category", "start_date")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("kill + resume differs from one clean run (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsageSurvivesRateLimitsAndServerErrors(t *testing.T) {
	opts := twiliotest.Options{Seed: 5, Subaccounts: 2, Days: 35}
	streams := configured(t, catalog.FullRefresh, connector.Accounts, connector.UsageRecords)
	clean := newEnv(t, opts, nil).read(t, streams, nil)
	want := primaryKeys(t, clean.records(connector.UsageRecords), "account_sid", "category", "start_date", "price")

	for _, tc := range []struct {
		name   string
		faults []twiliotest.FaultKind
		rate   float64
	}{
		{"429 storm", []twiliotest.FaultKind{twiliotest.Fault429}, 0.4},
		{"5xx burst", []twiliotest.FaultKind{twiliotest.Fault500, twiliotest.Fault503}, 0.4},
		{"truncated bodies", []twiliotest.FaultKind{twiliotest.FaultTruncated}, 0.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.Faults = twiliotest.Faults{Rate: tc.rate, Kinds: tc.faults}
			e := newEnv(t, o, nil)
			got := e.read(t, streams, nil)
			if diff := cmp.Diff(want, primaryKeys(t, got.records(connector.UsageRecords), "account_sid", "category", "start_date", "price")); diff != "" {
				t.Errorf("data under faults differs (-want +got):\n%s", diff)
			}
			if e.api.Stats().Retries == 0 {
				t.Error("no retry happened: the faults were not injected")
			}
		})
	}
}

func TestUsageStaysWithinTwilioConcurrencyLimit(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 6, Subaccounts: 8, Days: 40, ConcurrencyLimit: 2, Latency: 5 * time.Millisecond},
		func(c map[string]any) { c["max_concurrency"] = 6 })
	clean := newEnv(t, twiliotest.Options{Seed: 6, Subaccounts: 8, Days: 40}, nil)
	streams := configured(t, catalog.FullRefresh, connector.UsageRecords)
	want := primaryKeys(t, clean.read(t, streams, nil).records(connector.UsageRecords), "account_sid", "category", "start_date")
	got := primaryKeys(t, e.read(t, streams, nil).records(connector.UsageRecords), "account_sid", "category", "start_date")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data under a concurrency limit differs (-want +got):\n%s", diff)
	}
}

func TestUsageSkipsClosedAndForbiddenSubaccounts(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 5, Days: 60}, nil)
	got := e.read(t, configured(t, catalog.FullRefresh, connector.UsageRecords), nil)
	if s := got.statuses(connector.UsageRecords); s[len(s)-1] != protocol.StatusComplete {
		t.Errorf("final status = %v, want COMPLETE", s)
	}
	var forbidden, closed *twiliotest.Account
	for _, a := range e.emu.Accounts() {
		switch {
		case a.UsageForbidden:
			forbidden = &a
		case a.Status == "closed":
			closed = &a
		}
	}
	if forbidden == nil || closed == nil {
		t.Fatal("emulator has no forbidden or closed subaccount")
	}
	if !e.logs.contains("WARN", forbidden.SID) {
		t.Errorf("no WARN names the subaccount %s whose usage is forbidden", forbidden.SID)
	}
	closedDay := closed.DateUpdated.UTC().Format(time.DateOnly)
	for _, r := range e.emu.Requests() {
		if strings.Contains(r.Path, closed.SID+"/Usage") && r.Query.Get("StartDate") > closedDay {
			t.Errorf("asked for usage of closed %s after it closed on %s: %v", closed.SID, closedDay, r.Query)
		}
	}
	for _, row := range got.records(connector.UsageRecords) {
		if unquote(t, row["account_sid"]) == forbidden.SID {
			t.Fatalf("records of forbidden subaccount %s were emitted", forbidden.SID)
		}
	}
}

// A cursor after the last complete UTC day (a clock gone wrong, a state
// edited by hand) is moved back to that day with a WARN, and the read
// goes on from there: it would otherwise skip its partition forever.
func TestUsageFutureStateIsClamped(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 1, Days: 10}, nil)
	future := `[{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{"states":[` +
		`{"partition":{"account_sid":"` + e.emu.MainAccountSID() + `"},"cursor":{"start_date":"2999-01-01"}}]}}}]`
	blobs, err := state.DecodeAirbyte([]byte(future))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.IncludeSubaccounts = new(bool)
	var logs bytes.Buffer
	conn := connector.New(e.cfg, e.api, slog.New(slog.NewTextHandler(&logs, nil)))
	conn.SetClock(clock)
	c := &capture{}
	if err := conn.Read(context.Background(), configured(t, catalog.Incremental, connector.UsageRecords), blobs, c); err != nil {
		t.Fatalf("read: %v", err)
	}
	today := clock().UTC().Truncate(24 * time.Hour)
	yesterday := today.AddDate(0, 0, -1).Format(time.DateOnly)
	days := map[string]bool{}
	for _, r := range c.records(connector.UsageRecords) {
		var d string
		if err := json.Unmarshal(r["start_date"], &d); err != nil {
			t.Fatal(err)
		}
		days[d] = true
	}
	// The lookback (3 days) before yesterday, and today.
	if want := 5; len(days) != want || !days[today.Format(time.DateOnly)] {
		t.Errorf("read %d days (%v), want the %d from the clamped cursor's lookback to today", len(days), days, want)
	}
	if !bytes.Contains(c.lastState(connector.UsageRecords), []byte(`"`+yesterday+`"`)) {
		t.Errorf("the cursor was not moved back to %s: %s", yesterday, c.lastState(connector.UsageRecords))
	}
	if !strings.Contains(logs.String(), "after the last complete UTC day") || !strings.Contains(logs.String(), "2999-01-01") {
		t.Errorf("no WARN naming the future cursor:\n%s", logs.String())
	}
}

// A state naming a stream the connector does not have is an error, before
// anything is written: the README says so, and a silently ignored state
// is a read from start_date nobody asked for.
func TestReadRejectsAStateOfAnUnknownStream(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 1, Days: 5}, nil)
	blobs := state.Blobs{"usage_record": json.RawMessage(`{"states":[]}`)}
	c := &capture{}
	err := e.conn.Read(context.Background(), configured(t, catalog.Incremental, connector.UsageRecords), blobs, c)
	var cfgErr *connector.ConfigError
	if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "usage_record,") && !strings.Contains(err.Error(), "stream usage_record ") {
		t.Fatalf("err = %v, want a ConfigError naming the stream", err)
	}
	if len(c.msgs) != 0 {
		t.Errorf("%d messages written before the error", len(c.msgs))
	}
}

func TestReadRejectsBadStateBeforeWriting(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 1, Days: 5}, nil)
	blobs := state.Blobs{connector.UsageRecords: json.RawMessage(`{"states":[{"partition":{"account_sid":"AC1"},"cursor":{"start_date":"yesterday"}}]}`)}
	c := &capture{}
	err := e.conn.Read(context.Background(), configured(t, catalog.Incremental, connector.Accounts, connector.UsageRecords), blobs, c)
	var cfgErr *connector.ConfigError
	if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "yesterday") {
		t.Fatalf("err = %v, want a ConfigError naming the cursor", err)
	}
	if len(c.msgs) != 0 {
		t.Errorf("a rejected state still wrote %d messages", len(c.msgs))
	}
}

func TestAccountsNeverCarryAuthTokens(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 5, Days: 3}, func(c map[string]any) { c["account_name"] = "Acme Prod" })
	got := e.read(t, configured(t, catalog.FullRefresh, connector.Accounts), nil)
	rows := got.records(connector.Accounts)
	if len(rows) != len(e.emu.Accounts()) {
		t.Errorf("got %d accounts, Twilio lists %d", len(rows), len(e.emu.Accounts()))
	}
	var all []byte
	for _, m := range got.msgs {
		if r, ok := m.(protocol.Record); ok {
			all = append(all, r.Data...)
		}
	}
	for _, a := range e.emu.Accounts() {
		if bytes.Contains(all, []byte(a.AuthToken)) {
			t.Errorf("the auth token of %s was emitted", a.SID)
		}
	}
	if bytes.Contains(all, []byte("auth_token")) {
		t.Error("an auth_token field was emitted")
	}
	mains := 0
	for _, row := range rows {
		if text(row["is_main"]) == "true" {
			mains++
			if got := unquote(t, row["display_name"]); got != "Acme Prod" {
				t.Errorf("main display_name = %q, want the configured account_name", got)
			}
		}
	}
	if mains != 1 {
		t.Errorf("%d main accounts", mains)
	}
}

func TestStandardKeyFallsBackToConfiguredAccount(t *testing.T) {
	var e *env
	e = newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 3, Days: 5}, nil)
	sid, secret := e.emu.StandardAPIKey()
	e = newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 3, Days: 5}, func(c map[string]any) {
		delete(c, "auth_token")
		c["api_key_sid"], c["api_key_secret"] = sid, secret
	})
	got := e.read(t, configured(t, catalog.FullRefresh, connector.Accounts, connector.UsageRecords), nil)
	rows := got.records(connector.Accounts)
	if len(rows) != 1 || unquote(t, rows[0]["sid"]) != e.emu.MainAccountSID() || text(rows[0]["is_main"]) != "true" {
		t.Fatalf("accounts = %v, want only the configured main account", rows)
	}
	if !e.logs.contains("WARN", "Standard API key") {
		t.Error("no WARN explains the fallback")
	}
	if reqs := e.emu.Requests(); len(reqs) == 0 || !strings.HasSuffix(reqs[0].Path, "/Usage/Records/Today.json") || reqs[0].Status != 200 {
		t.Errorf("the read did not start by proving the key with a usage request a Standard key may make: %v", reqs[:min(len(reqs), 1)])
	}
	if len(got.records(connector.UsageRecords)) == 0 {
		t.Error("a Standard key read no usage of the main account")
	}
}

// Credentials Twilio rejects end a read before any message, whatever
// the streams selected, after one request: no placeholder account, no
// stream status, no retry of a definite 401.
func TestWrongCredentialsEmitNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(map[string]any)
		streams []string
	}{
		{"wrong auth token, every stream", func(c map[string]any) { c["auth_token"] = strings.Repeat("0", 32) },
			[]string{connector.Accounts, connector.UsageRecords, connector.SIMs, connector.SIMUsageRecords}},
		{"wrong auth token, no subaccounts", func(c map[string]any) {
			c["auth_token"] = strings.Repeat("0", 32)
			c["include_subaccounts"] = false
		}, []string{connector.Accounts, connector.UsageRecords}},
		{"unknown API key", func(c map[string]any) {
			delete(c, "auth_token")
			c["api_credentials"] = "SK" + strings.Repeat("0", 32) + ":" + strings.Repeat("x", 32)
		}, []string{connector.Accounts}},
		{"wrong auth token, wireless only", func(c map[string]any) { c["auth_token"] = strings.Repeat("0", 32) },
			[]string{connector.SIMs, connector.SIMUsageRecords}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 2, Days: 3, SIMs: 2}, tc.edit)
			c := &capture{}
			err := e.conn.Read(context.Background(), configured(t, catalog.FullRefresh, tc.streams...), nil, c)
			var credErr *connector.CredentialsError
			if !errors.As(err, &credErr) {
				t.Fatalf("err = %v (%T), want a *CredentialsError", err, err)
			}
			if want := "Twilio rejected the credentials for " + e.emu.MainAccountSID(); !strings.Contains(err.Error(), want) {
				t.Errorf("err = %q, want it to say %q", err, want)
			}
			if len(c.msgs) != 0 {
				t.Errorf("rejected credentials still wrote %d messages: %v", len(c.msgs), c.msgs)
			}
			if reqs := e.emu.Requests(); len(reqs) != 1 {
				t.Errorf("Twilio saw %d requests, want 1 (no retry of a definite 401): %v", len(reqs), reqs)
			}
			if e.logs.contains("WARN", "Standard API key") || e.logs.contains("WARN", "KORE") {
				t.Errorf("the log blames a Standard key or KORE for wrong credentials:\n%s", e.logs.String())
			}
		})
	}
}

// Credentials revoked between the first request and the accounts listing
// are not taken for a Standard key: no placeholder account is emitted.
func TestRevokedCredentialsAreNotAStandardKey(t *testing.T) {
	var todays atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/Usage/Records/Today.json") && todays.Add(1) == 1 {
			fmt.Fprint(w, `{"usage_records":[],"next_page_uri":null}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":20003,"message":"Authenticate","status":401}`)
	}))
	defer srv.Close()
	const sid = "AC0123456789abcdef0123456789abcdef"
	cfg, err := spec.Load([]byte(`{"account_sid":"`+sid+`","auth_token":"abc","base_url":"`+srv.URL+`"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	api, err := twilio.New(twilio.Options{Username: sid, Password: "abc", AccountSID: sid, BaseURL: srv.URL, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := &logs{}
	conn := connector.New(cfg, api, slog.New(slog.NewTextHandler(l, nil)))
	conn.SetClock(clock)
	c := &capture{}
	err = conn.Read(context.Background(), configured(t, catalog.FullRefresh, connector.Accounts, connector.UsageRecords), nil, c)
	var credErr *connector.CredentialsError
	if !errors.As(err, &credErr) {
		t.Fatalf("err = %v, want a *CredentialsError", err)
	}
	if n := len(c.records(connector.Accounts)); n != 0 {
		t.Errorf("%d accounts records emitted", n)
	}
	if s := c.statuses(connector.Accounts); !slices.Equal(s, []protocol.Status{protocol.StatusStarted, protocol.StatusIncomplete}) {
		t.Errorf("accounts statuses = %v", s)
	}
	if s := c.statuses(connector.UsageRecords); len(s) != 0 {
		t.Errorf("the read went on to usage_records: %v", s)
	}
	if l.contains("WARN", "Standard API key") {
		t.Errorf("revoked credentials were taken for a Standard key:\n%s", l.String())
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 2, Days: 3}, nil)
	if st := e.conn.Check(context.Background()); !st.Succeeded || !strings.Contains(st.Message, "2 subaccounts") {
		t.Errorf("check = %+v", st)
	}
	bad := newEnv(t, twiliotest.Options{Seed: 1, Days: 3}, func(c map[string]any) { c["auth_token"] = strings.Repeat("0", 32) })
	st := bad.conn.Check(context.Background())
	if st.Succeeded || !strings.Contains(st.Message, "rejected the credentials") {
		t.Errorf("check with a wrong token = %+v", st)
	}
	if strings.Contains(st.Message, strings.Repeat("0", 32)) {
		t.Error("check message contains the secret")
	}
}

func TestSelectingEveryStreamReadsThemAll(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 1, Subaccounts: 1, Days: 10, SIMs: 3}, nil)
	got := e.read(t, connector.Catalog().All(), nil)
	for _, s := range connector.Catalog() {
		st := got.statuses(s.Name)
		if len(st) == 0 || st[len(st)-1] != protocol.StatusComplete {
			t.Errorf("stream %s statuses %v", s.Name, st)
		}
	}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
