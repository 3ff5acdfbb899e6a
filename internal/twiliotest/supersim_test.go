package twiliotest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const superHost = "supersim.twilio.com"

type wireSuperUsage struct {
	Period struct {
		Start string `json:"start_time"`
		End   string `json:"end_time"`
	} `json:"period"`
	AccountSID      string  `json:"account_sid"`
	SIMSID          *string `json:"sim_sid"`
	FleetSID        *string `json:"fleet_sid"`
	NetworkSID      *string `json:"network_sid"`
	IsoCountry      *string `json:"iso_country"`
	DataUpload      int64   `json:"data_upload"`
	DataDownload    int64   `json:"data_download"`
	DataTotal       int64   `json:"data_total"`
	DataTotalBilled string  `json:"data_total_billed"`
	BilledUnit      *string `json:"billed_unit"`
}

// readSuper follows meta.next_page_url from first and returns the items
// under key, checking meta on every page.
func readSuper(t *testing.T, s *Server, first, key string) []json.RawMessage {
	t.Helper()
	var items []json.RawMessage
	for next, page := first, 0; next != ""; page++ {
		r := get(t, s, mainCreds(s), next, superHost)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", next, r.status, r.body)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		meta := decode[v1Meta](t, body["meta"])
		if meta.Key != key || meta.Page != page || !strings.HasPrefix(meta.URL, "https://supersim.twilio.com/v1/") {
			t.Errorf("GET %s: meta %+v", next, meta)
		}
		items = append(items, decode[[]json.RawMessage](t, body[key])...)
		next = ""
		if meta.NextPageURL != nil {
			next = *meta.NextPageURL
		}
	}
	return items
}

func superOptions() Options {
	o := testOptions()
	o.SuperSIMs = 40
	return o
}

func TestSuperSIMsListing(t *testing.T) {
	s := NewTestServer(t, superOptions())
	items := readSuper(t, s, "/v1/Sims?PageSize=7", "sims")
	var got []string
	for _, it := range items {
		var v struct {
			SID    string `json:"sid"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(it, &v); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(v.SID, "HS") || !contains(superSIMStatusValues, v.Status) {
			t.Errorf("sim %s", it)
		}
		got = append(got, v.SID)
	}
	var want []string
	for _, sm := range s.SuperSIMs() {
		want = append(want, sm.SID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Super SIMs (-want +got):\n%s", diff)
	}
	// The same path on the wireless host lists Wireless SIMs.
	w := readAllV1(t, s, "https://wireless.twilio.com/v1/Sims?PageSize=1000", "sims")
	if len(w) != len(s.SIMs()) {
		t.Errorf("wireless host: %d SIMs, want %d", len(w), len(s.SIMs()))
	}
}

// TestSuperSIMUsageBySIMDay checks Group=sim&Granularity=day against the
// ground truth: old days exact and billed, recent days short and some
// not billed, every SIM in one listing.
func TestSuperSIMUsageBySIMDay(t *testing.T) {
	s := NewTestServer(t, superOptions())
	end := testNow.UTC().Truncate(day).Add(day)
	start := end.AddDate(0, 0, -31)
	q := url.Values{"Group": {"sim"}, "Granularity": {"day"}, "PageSize": {"100"},
		"StartTime": {start.Format(time.RFC3339)}, "EndTime": {end.Format(time.RFC3339)}}
	items := readSuper(t, s, "/v1/UsageRecords?"+q.Encode(), "usage_records")
	type key struct{ sim, day string }
	want := map[key]SuperSIMDay{}
	for _, d := range s.SuperSIMDays() {
		if !d.Day.Before(start) {
			want[key{d.SIMSID, d.Day.Format(isoLayout)}] = d
		}
	}
	if len(items) != len(want) || len(want) == 0 {
		t.Fatalf("%d records, want %d", len(items), len(want))
	}
	unbilled, extras := 0, 0
	for _, it := range items {
		r := decode[wireSuperUsage](t, it)
		d, ok := want[key{*r.SIMSID, r.Period.Start}]
		if !ok {
			t.Fatalf("unexpected record %s", it)
		}
		if r.DataTotal != r.DataUpload+r.DataDownload {
			t.Errorf("data_total is not upload + download: %s", it)
		}
		if r.NetworkSID != nil {
			extras++
		}
		age := testNow.Sub(d.Day.Add(day))
		switch {
		case age >= 2*day:
			if r.DataUpload != d.Upload || r.DataDownload != d.Download || r.DataTotalBilled != formatBilled(d.Billed) || r.BilledUnit == nil {
				t.Errorf("settled day %s: got %s, want %+v", r.Period.Start, it, d)
			}
		case r.BilledUnit == nil:
			unbilled++
			if r.DataTotalBilled != "0" {
				t.Errorf("billed_unit null but data_total_billed %s", r.DataTotalBilled)
			}
		default:
			if r.DataUpload+r.DataDownload >= d.Upload+d.Download {
				t.Errorf("recent day %s is already complete: %s", r.Period.Start, it)
			}
		}
	}
	if unbilled == 0 || extras == 0 {
		t.Errorf("unbilled %d, records with network_sid %d: want some of each", unbilled, extras)
	}
}

func TestSuperSIMUsageLateData(t *testing.T) {
	o := superOptions()
	now := testNow
	o.Now = func() time.Time { return now }
	s := NewTestServer(t, o)
	day0 := testNow.UTC().Truncate(day).AddDate(0, 0, -1)
	q := url.Values{"Granularity": {"all"}, "StartTime": {day0.Format(time.RFC3339)}, "EndTime": {day0.Add(day).Format(time.RFC3339)}}
	total := func() (int64, *string) {
		items := readSuper(t, s, "/v1/UsageRecords?"+q.Encode(), "usage_records")
		if len(items) != 1 {
			t.Fatalf("%d records for Granularity=all, want 1", len(items))
		}
		r := decode[wireSuperUsage](t, items[0])
		return r.DataTotal, r.BilledUnit
	}
	before, _ := total()
	now = now.Add(3 * day)
	after, unit := total()
	if after <= before || unit == nil || *unit != "USD" {
		t.Errorf("yesterday's total %d, three days later %d (billed_unit %v): want it grown and billed", before, after, unit)
	}
}

func TestSuperSIMUsageErrors(t *testing.T) {
	s := NewTestServer(t, superOptions())
	for _, c := range []struct {
		query string
		code  int
	}{
		{"Group=sim&StartTime=2026-01-01T00:00:00Z&EndTime=2026-02-05T00:00:00Z", 83603},
		{"Group=carrier", 20001},
		{"Granularity=hour", 20001},
		{"StartTime=2026-02-05T00:00:00Z&EndTime=2026-01-01T00:00:00Z", 20001},
	} {
		r := get(t, s, mainCreds(s), "/v1/UsageRecords?"+c.query, superHost)
		if e := decode[twilioError](t, r.body); r.status != 400 || e.Code != c.code {
			t.Errorf("%s: %d %s, want 400 code %d", c.query, r.status, r.body, c.code)
		}
	}
	o := superOptions()
	o.NoSuperSIM = true
	none := NewTestServer(t, o)
	if r := get(t, none, mainCreds(none), "/v1/Sims", superHost); r.status != 404 {
		t.Errorf("NoSuperSIM: %d %s, want 404", r.status, r.body)
	}
}

// TestSuperSIMCategoriesMatchTheSIMDays: the main account's usage records
// show its Super SIMs' final data, a session per SIM-day, the billed
// amounts added up; a server without Super SIMs lists none of their
// categories.
func TestSuperSIMCategoriesMatchTheSIMDays(t *testing.T) {
	s := New(superOptions())
	want := map[string]string{}
	billed, sessions := map[string]int64{}, map[string]int64{}
	for _, d := range s.SuperSIMDays() {
		day := d.Day.Format(dateLayout)
		billed[day] += d.Billed
		sessions[day]++
	}
	for day, b := range billed {
		want[day] = formatPrice(b) + " " + fmt.Sprint(sessions[day])
	}
	got := map[string]string{}
	for _, r := range s.UsageRecords(s.MainAccountSID()) {
		if r.Category == "wireless-super-sim-data" && r.Price != "0" {
			got[r.Date.Format(dateLayout)] = r.Price + " " + r.Count
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || len(want) == 0 {
		t.Errorf("wireless-super-sim-data by day (-SIM-days +usage records):\n%s", diff)
	}
	for _, c := range New(testOptions()).Categories() {
		if strings.HasPrefix(c.Name, "wireless-super-sim") {
			t.Errorf("a server without Super SIMs serves %s", c.Name)
		}
	}
}
