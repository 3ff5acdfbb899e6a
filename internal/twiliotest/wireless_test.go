package twiliotest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type v1Meta struct {
	FirstPageURL    string  `json:"first_page_url"`
	Key             string  `json:"key"`
	NextPageURL     *string `json:"next_page_url"`
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	PreviousPageURL *string `json:"previous_page_url"`
	URL             string  `json:"url"`
}

// readAllV1 follows meta.next_page_url from first and returns the items
// under key.
func readAllV1(t testing.TB, s *Server, first, key string) []json.RawMessage {
	t.Helper()
	var items []json.RawMessage
	for next, page := first, 0; next != ""; page++ {
		r := get(t, s, mainCreds(s), next, "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", next, r.status, r.body)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		meta := decode[v1Meta](t, body["meta"])
		if meta.Key != key || meta.Page != page || !strings.HasPrefix(meta.URL, "https://wireless.twilio.com/v1/Sims") {
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

func TestSIMs(t *testing.T) {
	s := NewTestServer(t, testOptions())
	type wireSIM struct {
		SID          string  `json:"sid"`
		UniqueName   string  `json:"unique_name"`
		AccountSID   string  `json:"account_sid"`
		RatePlanSID  string  `json:"rate_plan_sid"`
		FriendlyName *string `json:"friendly_name"`
		ICCID        string  `json:"iccid"`
		EID          *string `json:"e_id"`
		Status       string  `json:"status"`
		DateCreated  string  `json:"date_created"`
		DateUpdated  string  `json:"date_updated"`
		URL          string  `json:"url"`
	}
	var want []SIM
	statuses := map[string]bool{}
	for _, sm := range s.SIMs() {
		want = append(want, sm)
		statuses[sm.Status] = true
	}
	var got []SIM
	for _, raw := range readAllV1(t, s, "/v1/Sims?PageSize=4", "sims") {
		w := decode[wireSIM](t, raw)
		created, err1 := time.Parse(time.RFC3339, w.DateCreated)
		updated, err2 := time.Parse(time.RFC3339, w.DateUpdated)
		if err1 != nil || err2 != nil || w.URL != "https://wireless.twilio.com/v1/Sims/"+w.SID {
			t.Errorf("SIM %s: date_created %q, date_updated %q, url %q", w.SID, w.DateCreated, w.DateUpdated, w.URL)
		}
		sm := SIM{SID: w.SID, UniqueName: w.UniqueName, AccountSID: w.AccountSID, RatePlanSID: w.RatePlanSID,
			ICCID: w.ICCID, Status: w.Status, DateCreated: created, DateUpdated: updated}
		if w.FriendlyName != nil {
			sm.FriendlyName = *w.FriendlyName
		}
		if w.EID != nil {
			sm.EID = *w.EID
		}
		got = append(got, sm)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SIMs (-want +got):\n%s", diff)
	}
	for _, st := range []string{"active", "canceled", "deactivated", "suspended", "new", "ready"} {
		if !statuses[st] {
			t.Errorf("no SIM is %s", st)
		}
	}

	tests := []struct {
		query string
		want  int
	}{
		{"Status=active", countSIMs(s.SIMs(), func(sm SIM) bool { return sm.Status == "active" })},
		{"Iccid=" + want[2].ICCID, 1},
		{"RatePlan=" + want[0].RatePlanSID, countSIMs(s.SIMs(), func(sm SIM) bool { return sm.RatePlanSID == want[0].RatePlanSID })},
		{"RatePlan=iot-roaming", countSIMs(s.SIMs(), func(sm SIM) bool { return sm.RatePlanSID == want[1].RatePlanSID })},
	}
	for _, tt := range tests {
		if n := len(readAllV1(t, s, "/v1/Sims?PageSize=2&"+tt.query, "sims")); n != tt.want {
			t.Errorf("%s: %d SIMs, want %d", tt.query, n, tt.want)
		}
	}

	sub := s.Accounts()[1]
	r := get(t, s, creds{sub.SID, sub.AuthToken}, "/v1/Sims", "")
	if !strings.Contains(string(r.body), `"sims":[]`) {
		t.Errorf("a subaccount sees the main account's SIMs: %s", r.body)
	}
}

func countSIMs(sims []SIM, f func(SIM) bool) int {
	n := 0
	for _, sm := range sims {
		if f(sm) {
			n++
		}
	}
	return n
}

type simUsage struct {
	SIMSID string `json:"sim_sid"`
	Period struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"period"`
	Data struct {
		Billed  json.Number `json:"billed"`
		Total   int64       `json:"total"`
		Units   string      `json:"units"`
		Home    struct{ Total int64 }
		Roaming []struct {
			Country string `json:"country"`
			Total   int64  `json:"total"`
		} `json:"international_roaming"`
	} `json:"data"`
}

func TestSIMUsage(t *testing.T) {
	s := NewTestServer(t, testOptions())
	const window = "Start=2026-10-26T00:00:00Z&End=2026-11-25T00:00:00Z"
	roaming := 0
	for _, sm := range s.SIMs() {
		want := s.SIMUsageJSON(sm.SID)
		got := readAllV1(t, s, "/v1/Sims/"+sm.SID+"/UsageRecords?Granularity=daily&PageSize=7&"+window, "usage_records")
		if len(got) != len(want) {
			t.Fatalf("SIM %s (%s): %d records, want %d", sm.SID, sm.Status, len(got), len(want))
		}
		for i := range want {
			if string(got[i]) != string(want[i]) {
				t.Errorf("SIM %s record %d:\n got %s\nwant %s", sm.SID, i, got[i], want[i])
			}
		}
		switch sm.Status {
		case "new", "ready":
			if len(want) != 0 {
				t.Errorf("SIM %s is %s but has %d usage records", sm.SID, sm.Status, len(want))
			}
			continue
		}
		var total int64
		for i, raw := range want {
			u := decode[simUsage](t, raw)
			start, _ := time.Parse(time.RFC3339, u.Period.Start)
			end, _ := time.Parse(time.RFC3339, u.Period.End)
			if end.Sub(start) != 24*time.Hour || start.Before(sm.DateCreated.Truncate(24*time.Hour)) {
				t.Errorf("SIM %s record %d: period %+v, created %s", sm.SID, i, u.Period, sm.DateCreated)
			}
			if sm.Status == "canceled" || sm.Status == "deactivated" {
				if !start.Before(sm.DateUpdated.Truncate(24 * time.Hour)) {
					t.Errorf("SIM %s is %s since %s but has usage on %s", sm.SID, sm.Status, sm.DateUpdated, start)
				}
			}
			if u.Data.Units != "bytes" {
				t.Errorf("units %q", u.Data.Units)
			}
			roaming += len(u.Data.Roaming)
			total += u.Data.Total
		}
		all := readAllV1(t, s, "/v1/Sims/"+sm.SID+"/UsageRecords?"+window, "usage_records")
		if len(want) > 0 && (len(all) != 1 || decode[simUsage](t, all[0]).Data.Total != total) {
			t.Errorf("SIM %s: Granularity=all gave %s, want one record with data.total %d", sm.SID, all, total)
		}
	}
	if roaming == 0 {
		t.Error("no international roaming anywhere")
	}
}

// Twilio does not document the key an international roaming entry names
// its country under: the emulator varies it by SIM, so readers meet
// every spelling it knows.
func TestRoamingCountryKeyVaries(t *testing.T) {
	s := New(Options{Seed: 3, SIMs: 40, Days: 30})
	seen := map[string]bool{}
	for _, sm := range s.sims {
		for _, u := range sm.days {
			if len(u.international) > 0 && bytes.Contains(appendSIMUsage(nil, sm, u), []byte(`"`+sm.countryKey+`":"`)) {
				seen[sm.countryKey] = true
			}
		}
	}
	if len(seen) != len(RoamingCountryKeys) {
		t.Errorf("roaming entries name their country under %v, want each of %v", seen, RoamingCountryKeys)
	}
}
