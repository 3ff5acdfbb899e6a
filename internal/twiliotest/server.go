package twiliotest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. The zero value is a main account without
// subaccounts or SIMs and 120 days of history.
type Options struct {
	Seed        int64 // data seed; the same seed (and clock) gives the same bytes
	Subaccounts int   // number of subaccounts
	Days        int   // days of daily usage history ending today (UTC), inclusive; 0 means 120
	SIMs        int   // number of SIMs on the main account
	SuperSIMs   int   // number of Super SIMs on the main account
	// NoSuperSIM makes the Super SIM API answer 404 (code 20404) to
	// every request: an account Super SIM does not serve.
	NoSuperSIM bool
	Now        func() time.Time // clock; nil means time.Now. Data is generated for Now() at New.
	// Latency is how long after a request arrives its response starts:
	// the emulator builds the response meanwhile, as a remote server would,
	// so its own work does not add to the latency a client sees unless it
	// takes longer. A request over the concurrency limit, or for a host or
	// path of no Twilio service, is answered at once.
	Latency time.Duration
	// ConcurrencyLimit, when positive, answers requests in flight beyond it
	// with 429, code 20429, Retry-After: 1.
	ConcurrencyLimit int
	Faults           Faults
	// Spikes are bursts of usage to inject (see Spike).
	Spikes []Spike
}

// slowDelay is how long FaultSlow delays an answer.
const slowDelay = 2 * time.Second

// RequestInfo describes one request the server received.
type RequestInfo struct {
	Method string
	Host   string
	Path   string
	Query  url.Values
	Status int // 0 if the client went away before an answer
	Time   time.Time
}

// Account is the ground truth for one account, main or subaccount.
type Account struct {
	SID, FriendlyName, Status, Type, OwnerAccountSID, AuthToken string
	DateCreated, DateUpdated                                    time.Time
	UsageForbidden                                              bool // its usage endpoints answer 404, code 20404
}

type account struct {
	Account
	scale    float64   // activity scale
	activity float64   // share of categories in use
	first    time.Time // first day with usage
	last     time.Time // last day with usage (before first: none)
	days     [][]amount
	// inclusive is days with all subaccounts' usage added; main account only.
	inclusive [][]amount
}

type apiKey struct {
	sid, secret string
	standard    bool
	account     *account // whose key: nil is the main account
}

// Server is a Twilio emulator. Create one with New or NewTestServer.
type Server struct {
	now        func() time.Time
	seed       int64
	today      time.Time // 00:00 UTC of Now() at New
	dataStart  time.Time // first day of usage history
	numDays    int
	dayDates   []time.Time // day d of the history
	dayStrings []string    // day d of the history as YYYY-MM-DD

	accounts       []*account // main first
	accountBySID   map[string]*account
	keys           []apiKey // main key, standard key
	categoryByName []int    // category indexes ordered by name
	sims           []*sim
	simBySID       map[string]*sim
	ratePlans      []ratePlan
	superSIMs      []*superSIM
	superNetworks  []superNetwork
	superSIMUsage  map[time.Time]map[string]amount // the main account's Super SIM categories, by day
	noSuperSIM     bool
	spikes         []Spike
	injected       []InjectedSpike

	mu          sync.Mutex
	faults      Faults
	latency     time.Duration
	limit       int
	faultRNG    *rand.Rand
	requests    []RequestInfo
	inFlight    int
	maxInFlight int
	requestSeq  uint64
	// authenticated counts authenticated requests, for
	// Faults.UnauthorizedFrom.
	authenticated int
	httpServer    *http.Server
	url           string
}

// New returns a Server with all its data generated, deterministically from
// opts.Seed and the date of opts.Now().
func New(opts Options) *Server {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	days := opts.Days
	if days <= 0 {
		days = 120
	}
	today := now().UTC().Truncate(day)
	s := &Server{
		now:          now,
		seed:         opts.Seed,
		today:        today,
		dataStart:    today.AddDate(0, 0, 1-days),
		numDays:      days,
		accountBySID: map[string]*account{},
		simBySID:     map[string]*sim{},
		faults:       opts.Faults,
		latency:      opts.Latency,
		limit:        opts.ConcurrencyLimit,
		faultRNG:     rand.New(rand.NewPCG(uint64(opts.Seed), 0xfa017)),
		spikes:       opts.Spikes,
		noSuperSIM:   opts.NoSuperSIM,
	}
	s.dayDates, s.dayStrings = make([]time.Time, days), make([]string, days)
	for d := range days {
		s.dayDates[d] = s.dataStart.AddDate(0, 0, d)
		s.dayStrings[d] = s.dayDates[d].Format(dateLayout)
	}
	for i, c := range categoryTable {
		if !c.superSIM || opts.SuperSIMs > 0 { // as Categories says
			s.categoryByName = append(s.categoryByName, i)
		}
	}
	sortByName(s.categoryByName)

	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 1))
	s.generateAccounts(rng, opts.Subaccounts)
	s.keys = []apiKey{
		{sid: "SK" + hexString(rng, 32), secret: alnumString(rng, 32)},
		{sid: "SK" + hexString(rng, 32), secret: alnumString(rng, 32), standard: true},
	}
	s.generateSuperSIMs(opts.Seed, opts.SuperSIMs) // before the usage, which shows it
	for i, a := range s.accounts {
		s.generateUsage(a, opts.Seed, i)
	}
	s.sumSubaccounts()
	s.generateSIMs(opts.Seed, opts.SIMs)
	// A Standard key per subaccount, derived from the subaccount alone
	// (not from the random stream, which the data above follows).
	for _, a := range s.accounts[1:] {
		sid := sha256.Sum256([]byte("standard key of " + a.SID))
		secret := sha256.Sum256([]byte("secret of " + a.AuthToken))
		s.keys = append(s.keys, apiKey{sid: "SK" + hex.EncodeToString(sid[:16]), secret: hex.EncodeToString(secret[:16]), standard: true, account: a})
	}
	return s
}

// TB is what NewTestServer needs of a test: a *testing.T or *testing.B
// has it. The package does not import testing (nor net/http/httptest), so
// the binaries that serve the emulator, for the emulator and demo
// commands, do not link them.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// NewTestServer returns a Server for opts listening on a local port for
// the duration of the test.
func NewTestServer(t TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start listens on addr (such as "127.0.0.1:0") and serves in the
// background. It returns the base URL, such as "http://127.0.0.1:41234".
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("twiliotest: listen %s: %w", addr, err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.httpServer, s.url = hs, "http://"+ln.Addr().String()
	u := s.url
	s.mu.Unlock()
	go hs.Serve(ln)
	return u, nil
}

// URL returns the base URL of a server started with NewTestServer or Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops a server started with NewTestServer or Start.
func (s *Server) Close() error {
	s.mu.Lock()
	hs := s.httpServer
	s.httpServer = nil
	s.mu.Unlock()
	if hs != nil {
		return hs.Close()
	}
	return nil
}

// SetFaults changes fault injection.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// SetLatency changes the latency of every request (see Options.Latency).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetConcurrencyLimit changes the concurrency limit; 0 means none.
func (s *Server) SetConcurrencyLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = n
}

// MainAccountSID returns the main account's SID.
func (s *Server) MainAccountSID() string { return s.accounts[0].SID }

// AuthToken returns the main account's auth token.
func (s *Server) AuthToken() string { return s.accounts[0].AuthToken }

// MainAPIKey returns an API key of the main account that may read everything.
func (s *Server) MainAPIKey() (sid, secret string) { return s.keys[0].sid, s.keys[0].secret }

// StandardAPIKey returns a Standard API key of the main account: it may read
// usage and wireless resources but not Account resources (401, code 20003).
func (s *Server) StandardAPIKey() (sid, secret string) { return s.keys[1].sid, s.keys[1].secret }

// SubaccountStandardAPIKey returns a Standard API key of subaccount sid
// (ok false when there is none): it may read that subaccount's usage, as
// when an organization connects a subaccount on its own, but not Account
// resources.
func (s *Server) SubaccountStandardAPIKey(sid string) (keySID, secret string, ok bool) {
	for _, k := range s.keys {
		if k.account != nil && k.account.SID == sid {
			return k.sid, k.secret, true
		}
	}
	return "", "", false
}

// ConnectorConfig returns connector configuration for the main account:
// a JSON object with account_sid, auth_token, base_url and start_date (the
// first day of usage history).
func (s *Server) ConnectorConfig(baseURL string) []byte {
	return marshal(struct {
		AccountSID string `json:"account_sid"`
		AuthToken  string `json:"auth_token"`
		BaseURL    string `json:"base_url"`
		StartDate  string `json:"start_date"`
	}{s.MainAccountSID(), s.AuthToken(), baseURL, s.dataStart.Format(dateLayout)})
}

// Accounts returns the main account then its subaccounts.
func (s *Server) Accounts() []Account {
	out := make([]Account, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = a.Account
	}
	return out
}

// Requests returns every request received since the last ResetRequests, in
// arrival order.
func (s *Server) Requests() []RequestInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RequestInfo, len(s.requests))
	for i, r := range s.requests {
		r.Query = cloneValues(r.Query)
		out[i] = r
	}
	return out
}

// ResetRequests forgets the requests received so far and restarts
// MaxInFlight from the number of requests now in flight.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.maxInFlight = s.inFlight
}

// MaxInFlight returns the largest number of requests observed in flight at
// once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// delayedWriter holds a response back until a moment: its first write
// waits for it.
type delayedWriter struct {
	http.ResponseWriter
	ctx   context.Context
	until time.Time
	err   error // the request's end, if it came first
	due   bool
}

func (w *delayedWriter) wait() error {
	if !w.due {
		w.due = true
		if !sleep(w.ctx, time.Until(w.until)) {
			w.err = w.ctx.Err()
		}
	}
	return w.err
}

func (w *delayedWriter) WriteHeader(code int) {
	if w.wait() == nil {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *delayedWriter) Write(b []byte) (int, error) {
	if err := w.wait(); err != nil {
		return 0, err
	}
	return w.ResponseWriter.Write(b)
}

func (w *delayedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP answers one request the way Twilio would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s.mu.Lock()
	s.requestSeq++
	seq := s.requestSeq
	idx := len(s.requests)
	s.requests = append(s.requests, RequestInfo{
		Method: r.Method, Host: r.Host, Path: r.URL.Path,
		Query: r.URL.Query(), Time: s.now(),
	})
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		if idx < len(s.requests) {
			s.requests[idx].Status = sw.status
		}
		s.mu.Unlock()
	}()
	w.Header().Set("Twilio-Request-Id", requestID(seq))
	s.serve(sw, r, arrived)
}

// requestID returns fmt.Sprintf("RQ%032x", seq).
func requestID(seq uint64) string {
	b := make([]byte, 0, 34)
	b = append(b, "RQ0000000000000000"...)
	b = appendHex8(b, uint32(seq>>32))
	b = appendHex8(b, uint32(seq))
	return string(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, arrived time.Time) {
	svc := serviceOf(r.Host, r.URL.Path)
	if svc == "" || !hostMatches(r.Host, svc) {
		writeError(w, notFound(r.URL.Path))
		return
	}
	s.mu.Lock()
	limit, latency, inFlight := s.limit, s.latency, s.inFlight
	s.mu.Unlock()

	p, ok := s.authenticate(r)
	if !ok {
		if sleep(r.Context(), time.Until(arrived.Add(latency))) {
			writeError(w, errAuthenticate)
		}
		return
	}
	if limit > 0 && inFlight > limit {
		w.Header().Set("Retry-After", "1")
		writeError(w, errTooManyRequests)
		return
	}
	if latency > 0 {
		w = &delayedWriter{ResponseWriter: w, ctx: r.Context(), until: arrived.Add(latency)}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: 20004, message: "Method not allowed"})
		return
	}

	kind, fault, revoked := s.pickFault()
	switch {
	case revoked:
		writeError(w, errAuthenticate)
		return
	case fault && s.serveFault(w, r, p, svc, kind):
		return
	}
	s.route(w, r, p, svc)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, p principal, svc string) {
	switch svc {
	case "api":
		s.serveAPI(w, r, p)
	case "supersim":
		s.serveSuperSIM(w, r, p)
	default:
		s.serveWireless(w, r, p)
	}
}

// serveTruncated answers with the full Content-Length but only half the
// body, then aborts the connection.
func (s *Server) serveTruncated(w http.ResponseWriter, r *http.Request, p principal, svc string) {
	rec := &recorder{header: http.Header{}}
	s.route(rec, r, p, svc)
	body := rec.body.Bytes()
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.status)
	w.Write(body[:len(body)/2])
	http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// recorder is an http.ResponseWriter that keeps the response. As with a
// real one, the first WriteHeader, or Write, fixes the status.
type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// pickFault draws the fault of an authenticated request, and says
// whether its credentials count as revoked (Faults.UnauthorizedFrom).
func (s *Server) pickFault() (kind FaultKind, fault, revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authenticated++
	if n := s.faults.UnauthorizedFrom; n > 0 && s.authenticated >= n {
		return 0, false, true
	}
	kind, fault = s.drawFault()
	return kind, fault, false
}

// drawFault draws a fault kind from s.faults. s.mu is held.
func (s *Server) drawFault() (FaultKind, bool) {
	if s.faults.Rate <= 0 || s.faultRNG.Float64() >= s.faults.Rate {
		return 0, false
	}
	if len(s.faults.Kinds) == 0 {
		return Fault500, true
	}
	return s.faults.Kinds[s.faultRNG.IntN(len(s.faults.Kinds))], true
}

// sleep waits for d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// marshal encodes v as JSON without HTML escaping, as Twilio does ("&" in
// URIs stays "&").
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("twiliotest: marshal %T: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func hexString(r *rand.Rand, n int) string {
	b := make([]byte, n/2)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return hex.EncodeToString(b)
}

func alnumString(r *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// serviceOf returns the Twilio service a request belongs to: "api" for
// /2010-04-01/..., "supersim" for /v1/UsageRecords and for /v1/Sims...
// sent to a supersim.* host, "wireless" for other /v1/Sims..., "" for
// none. Wireless and Super SIM share the path /v1/Sims: the Host header
// (which the client keeps when a base URL replaces the origin) tells them
// apart.
func serviceOf(host, path string) string {
	sims := path == "/v1/Sims" || strings.HasPrefix(path, "/v1/Sims/")
	switch {
	case strings.HasPrefix(path, apiPrefix+"/"):
		return "api"
	case path == "/v1/UsageRecords" || sims && strings.HasPrefix(strings.ToLower(host), "supersim."):
		return "supersim"
	case sims:
		return "wireless"
	}
	return ""
}

// hostMatches reports whether a request for service svc may be sent to
// host. A *.twilio.com host must name the service (api.twilio.com, or a
// regional form such as api.dublin.ie1.twilio.com); any other host, such as
// 127.0.0.1:port, is accepted.
func hostMatches(host, svc string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	if host != "twilio.com" && !strings.HasSuffix(host, ".twilio.com") {
		return true
	}
	return strings.HasPrefix(host, svc+".")
}
