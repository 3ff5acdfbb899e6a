package twiliotest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current implementation")

// goldenNow is not midnight, so as_of and the SIM usage defaults show the
// time of day.
var goldenNow = time.Date(2026, 11, 24, 3, 4, 5, 0, time.UTC)

func goldenOptions() Options {
	return Options{Seed: 7, Subaccounts: 9, Days: 40, SIMs: 26, Now: func() time.Time { return goldenNow }}
}

// goldenCase is one request of the golden test; with next set it follows
// the previous answer's next page link instead of target.
type goldenCase struct {
	name   string
	target string
	creds  creds
	method string
	host   string
	faults *Faults
	next   bool // target is the next_page_uri (or next_page_url) of the previous answer
}

func goldenCases(s *Server) []goldenCase {
	main := mainCreds(s)
	ksid, ksecret := s.StandardAPIKey()
	std := creds{ksid, ksecret}
	msid, msecret := s.MainAPIKey()
	mkey := creds{msid, msecret}
	accts := s.Accounts()
	m := accts[0].SID
	byName := map[string]Account{}
	for _, a := range accts {
		byName[a.FriendlyName] = a
	}
	prod := byName["Acme IoT Production"]
	staging := byName["Acme IoT Staging"]
	legacy := byName["Acme IoT Legacy"]
	partner := byName["Acme IoT Partner Billing"]
	sandbox := byName["Acme IoT Sandbox"]
	prod2 := byName["Acme IoT Production 2"]
	acc := func(sid, rest string) string { return apiPrefix + "/Accounts/" + sid + rest }
	daily := func(sid, q string) string { return acc(sid, "/Usage/Records/Daily.json"+q) }
	sims := s.SIMs()
	var newSIM, activeSIM, canceledSIM SIM
	for _, sm := range sims {
		switch {
		case sm.Status == "new" && newSIM.SID == "":
			newSIM = sm
		case sm.Status == "active" && activeSIM.SID == "":
			activeSIM = sm
		case sm.Status == "canceled" && canceledSIM.SID == "":
			canceledSIM = sm
		}
	}
	simU := func(sid, q string) string { return "/v1/Sims/" + sid + "/UsageRecords" + q }
	return []goldenCase{
		{name: "accounts", target: apiPrefix + "/Accounts.json", creds: main},
		{name: "accounts-paged", target: apiPrefix + "/Accounts.json?PageSize=3&Page=1", creds: main},
		{name: "accounts-next", next: true, creds: main},
		{name: "accounts-status", target: apiPrefix + "/Accounts.json?Status=active&PageSize=4", creds: mkey},
		{name: "accounts-friendlyname", target: apiPrefix + "/Accounts.json?FriendlyName=" + "Acme%20IoT%20Legacy", creds: main},
		{name: "accounts-as-sub", target: apiPrefix + "/Accounts.json", creds: creds{prod.SID, prod.AuthToken}},
		{name: "accounts-bad-status", target: apiPrefix + "/Accounts.json?Status=gone", creds: main},
		{name: "accounts-standard-key", target: apiPrefix + "/Accounts.json", creds: std},
		{name: "account", target: acc(m, ".json"), creds: main},
		{name: "account-sub", target: acc(legacy.SID, ".json"), creds: main},
		{name: "account-standard-key", target: acc(m, ".json"), creds: std},

		{name: "daily-main-1000", target: daily(m, "?PageSize=1000"), creds: main},
		{name: "daily-main-1000-next", next: true, creds: main},
		{name: "daily-main-default", target: daily(m, ""), creds: main},
		{name: "daily-main-exclusive", target: daily(m, "?IncludeSubaccounts=false&PageSize=200&Page=5"), creds: main},
		{name: "daily-main-exclusive-next", next: true, creds: main},
		{name: "daily-main-inclusive-filtered", target: daily(m, "?IncludeSubaccounts=true&Category=sms&StartDate=2026-10-20&EndDate=2026-11-02&PageSize=7"), creds: main},
		{name: "daily-main-inclusive-filtered-next", next: true, creds: main},
		{name: "daily-main-totalprice", target: daily(m, "?Category=totalprice&PageSize=15&Page=1"), creds: mkey},
		{name: "daily-main-standard-key", target: daily(m, "?PageSize=120&Page=3&IncludeSubaccounts=False"), creds: std},
		{name: "daily-main-escaped-category", target: daily(m, "?Category=sms%26x+y&EndDate=2026-11-01"), creds: main},
		{name: "daily-main-beyond", target: daily(m, "?PageSize=1000&Page=100"), creds: main},
		{name: "daily-main-capped", target: daily(m, "?PageSize=5000&StartDate=2026-11-22"), creds: main},
		{name: "daily-prod-main-creds", target: daily(prod.SID, "?PageSize=100&Page=3"), creds: main},
		{name: "daily-prod-own-creds", target: daily(prod.SID, "?PageSize=200&IncludeSubaccounts=true"), creds: creds{prod.SID, prod.AuthToken}},
		{name: "daily-prod2", target: daily(prod2.SID, "?PageSize=250&Page=4&IncludeSubaccounts=false"), creds: main},
		{name: "daily-sandbox", target: daily(sandbox.SID, "?PageSize=1000&Page=1"), creds: main},
		{name: "daily-staging", target: daily(staging.SID, "?PageSize=150&Page=7"), creds: main},
		{name: "daily-forbidden", target: daily(partner.SID, ""), creds: main},
		{name: "daily-other-sub", target: daily(legacy.SID, ""), creds: creds{prod.SID, prod.AuthToken}},
		{name: "daily-bad-pagesize", target: daily(m, "?PageSize=0"), creds: main},
		{name: "daily-bad-page", target: daily(m, "?Page=x"), creds: main},
		{name: "daily-bad-token", target: daily(m, "?PageToken=PAxyz"), creds: main},
		{name: "daily-bad-include", target: daily(m, "?IncludeSubaccounts=maybe"), creds: main},
		{name: "daily-bad-date", target: daily(m, "?StartDate=2026-13-01"), creds: main},
		{name: "daily-start-after-end", target: daily(m, "?StartDate=2026-11-10&EndDate=2026-11-01"), creds: main},
		{name: "daily-unknown-category", target: daily(m, "?Category=nope"), creds: main},
		{name: "daily-unknown-account", target: daily("AC00000000000000000000000000000000", ""), creds: main},

		{name: "today-main", target: acc(m, "/Usage/Records/Today.json?PageSize=20&Page=1"), creds: main},
		{name: "today-main-exclusive", target: acc(m, "/Usage/Records/Today.json?IncludeSubaccounts=false&Category=calls"), creds: main},
		{name: "today-staging", target: acc(staging.SID, "/Usage/Records/Today.json"), creds: main},
		{name: "alltime-main", target: acc(m, "/Usage/Records.json?PageSize=100"), creds: main},
		{name: "alltime-main-filtered", target: acc(m, "/Usage/Records.json?IncludeSubaccounts=false&StartDate=2026-11-01&EndDate=2026-11-15&Category=wireless-usage-data"), creds: main},
		{name: "alltime-sandbox", target: acc(sandbox.SID, "/Usage/Records.json?PageSize=30&Page=1"), creds: main},
		{name: "alltime-legacy-empty", target: acc(legacy.SID, "/Usage/Records.json?StartDate=2026-11-20"), creds: main},

		{name: "sims", target: "/v1/Sims", creds: main},
		{name: "sims-paged", target: "/v1/Sims?PageSize=5&Page=2", creds: main},
		{name: "sims-next", next: true, creds: main},
		{name: "sims-status", target: "/v1/Sims?Status=active", creds: std},
		{name: "sims-rateplan", target: "/v1/Sims?RatePlan=iot-basic&PageSize=4", creds: main},
		{name: "sims-iccid", target: "/v1/Sims?Iccid=" + sims[3].ICCID, creds: main},
		{name: "sims-bad-status", target: "/v1/Sims?Status=broken", creds: main},
		{name: "sims-as-sub", target: "/v1/Sims", creds: creds{prod.SID, prod.AuthToken}},
		{name: "sim", target: "/v1/Sims/" + activeSIM.SID, creds: main},
		{name: "sim-by-name", target: "/v1/Sims/" + sims[4].UniqueName, creds: main},
		{name: "sim-unknown", target: "/v1/Sims/DE00", creds: main},
		{name: "simusage-all", target: simU(activeSIM.SID, ""), creds: main},
		{name: "simusage-all-explicit", target: simU(activeSIM.SID, "?Granularity=all&Start=2026-10-25T12:00:00Z&End=2026-11-20"), creds: main},
		{name: "simusage-daily", target: simU(activeSIM.SID, "?Granularity=daily"), creds: main},
		{name: "simusage-daily-paged", target: simU(activeSIM.SID, "?Granularity=daily&PageSize=10&Page=1"), creds: main},
		{name: "simusage-daily-next", next: true, creds: main},
		{name: "simusage-daily-range", target: simU(sims[2].SID, "?Granularity=daily&Start=2026-10-16T06:00:00&End=2026-11-23T00:00:00Z&PageSize=1000"), creds: main},
		{name: "simusage-daily-canceled", target: simU(canceledSIM.SID, "?Granularity=daily&Start=2026-10-16"), creds: main},
		{name: "simusage-new", target: simU(newSIM.UniqueName, "?Granularity=daily"), creds: main},
		{name: "simusage-new-all", target: simU(newSIM.SID, ""), creds: main},
		{name: "simusage-hourly", target: simU(activeSIM.SID, "?Granularity=hourly"), creds: main},
		{name: "simusage-bad-granularity", target: simU(activeSIM.SID, "?Granularity=weekly"), creds: main},
		{name: "simusage-bad-start", target: simU(activeSIM.SID, "?Start=yesterday"), creds: main},
		{name: "simusage-start-after-end", target: simU(activeSIM.SID, "?Start=2026-11-10&End=2026-11-01"), creds: main},
		{name: "simusage-too-old", target: simU(activeSIM.SID, "?Start=2024-01-01"), creds: main},
		{name: "simusage-as-sub", target: simU(activeSIM.SID, ""), creds: creds{prod.SID, prod.AuthToken}},
		{name: "simusage-bad-sub", target: "/v1/Sims/" + activeSIM.SID + "/Other", creds: main},

		{name: "err-unknown-path", target: "/2010-04-01/Calls.json", creds: main},
		{name: "err-unknown-service", target: "/v2/Things", creds: main},
		{name: "err-no-auth", target: apiPrefix + "/Accounts.json"},
		{name: "err-bad-password", target: apiPrefix + "/Accounts.json", creds: creds{m, "nope"}},
		{name: "err-suspended-sub", target: daily(staging.SID, ""), creds: creds{staging.SID, staging.AuthToken}},
		{name: "err-method", target: apiPrefix + "/Accounts.json", creds: main, method: http.MethodPost},
		{name: "err-wrong-host", target: "/v1/Sims", creds: main, host: "api.twilio.com"},
		{name: "ok-regional-host", target: "/v1/Sims?PageSize=2", creds: main, host: "wireless.dublin.ie1.twilio.com"},
		{name: "head-daily", target: daily(m, "?PageSize=3"), creds: main, method: http.MethodHead},

		{name: "fault-500", target: daily(m, ""), creds: main, faults: &Faults{Rate: 1}},
		{name: "fault-503", target: daily(m, ""), creds: main, faults: &Faults{Rate: 1, Kinds: []FaultKind{Fault503}}},
		{name: "fault-429", target: "/v1/Sims", creds: main, faults: &Faults{Rate: 1, Kinds: []FaultKind{Fault429}}},
		{name: "fault-mixed", target: daily(m, "?PageSize=5"), creds: main, faults: &Faults{Rate: 0.5, Kinds: []FaultKind{Fault500, Fault503, Fault429}}},
		{name: "fault-mixed-2", target: daily(m, "?PageSize=6"), creds: main, faults: &Faults{Rate: 0.5, Kinds: []FaultKind{Fault500, Fault503, Fault429}}},
		{name: "fault-mixed-3", target: "/v1/Sims/" + activeSIM.SID + "/UsageRecords?Granularity=daily&PageSize=3", creds: main, faults: &Faults{Rate: 0.5, Kinds: []FaultKind{Fault500, Fault503, Fault429}}},
		{name: "after-faults", target: daily(sandbox.SID, "?PageSize=3"), creds: main, faults: &Faults{}},
	}
}

// goldenHeaders are the response headers the golden files record.
var goldenHeaders = []string{"Content-Type", "Content-Length", "Retry-After", "Twilio-Request-Id"}

// renderResponse renders a recorded response: status line, the golden
// headers, a blank line and the body.
func renderResponse(method, target string, rec *httptest.ResponseRecorder) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n%d\n", method, target, rec.Code)
	for _, h := range goldenHeaders {
		if v := rec.Header().Values(h); len(v) > 0 {
			fmt.Fprintf(&b, "%s: %q\n", h, v)
		}
	}
	b.WriteString("\n")
	b.Write(rec.Body.Bytes())
	return b.Bytes()
}

// nextLink returns next_page_uri or meta.next_page_url of a list body.
func nextLink(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		NextPageURI *string `json:"next_page_uri"`
		Meta        struct {
			NextPageURL *string `json:"next_page_url"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode list: %v", err)
	}
	switch {
	case v.NextPageURI != nil:
		return *v.NextPageURI
	case v.Meta.NextPageURL != nil:
		return *v.Meta.NextPageURL
	}
	t.Fatalf("previous answer has no next page")
	return ""
}

// TestGolden checks that the bytes served for representative requests are
// exactly those recorded in testdata/golden (go test -run TestGolden
// -update rewrites them).
func TestGolden(t *testing.T) {
	s := New(goldenOptions())
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var prev []byte
	for i, c := range goldenCases(s) {
		if c.faults != nil {
			s.SetFaults(*c.faults)
		}
		target := c.target
		if c.next {
			target = nextLink(t, prev)
		}
		method := c.method
		if method == "" {
			method = http.MethodGet
		}
		// An absolute URL (a v1 next_page_url) is sent with its own Host.
		req := httptest.NewRequest(method, target, nil)
		if c.host != "" {
			req.Host = c.host
		}
		if c.creds.user != "" {
			req.SetBasicAuth(c.creds.user, c.creds.pass)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		prev = rec.Body.Bytes()
		got := renderResponse(method, target, rec)
		file := filepath.Join(dir, fmt.Sprintf("%02d-%s.txt", i, c.name))
		if *update {
			writeGolden(t, file, got)
			continue
		}
		want := readGolden(t, file)
		if !bytes.Equal(got, want) {
			n := 0
			for n < len(got) && n < len(want) && got[n] == want[n] {
				n++
			}
			lo := max(0, n-80)
			t.Errorf("%s: %d bytes, want %d; first difference at byte %d:\n got: %s\nwant: %s", c.name, len(got), len(want), n,
				strconv.Quote(string(got[lo:min(len(got), n+80)])), strconv.Quote(string(want[lo:min(len(want), n+80)])))
		}
	}
	reqs := s.Requests()
	if len(reqs) != len(goldenCases(s)) {
		t.Errorf("Requests() has %d entries, want %d", len(reqs), len(goldenCases(s)))
	}
}

// goldenCompressAbove is the size above which a golden file is stored
// gzipped (as name.txt.gz).
const goldenCompressAbove = 32 << 10

func writeGolden(t *testing.T, file string, b []byte) {
	t.Helper()
	if len(b) > goldenCompressAbove {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(b)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		file, b = file+".gz", z.Bytes()
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGolden(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		var zb []byte
		if zb, err = os.ReadFile(file + ".gz"); err == nil {
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(zb)); err == nil {
				b, err = io.ReadAll(zr)
			}
		}
	}
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to record)", err)
	}
	return b
}
