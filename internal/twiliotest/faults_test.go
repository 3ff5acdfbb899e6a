package twiliotest

import (
	"encoding/json"
	"slices"
	"testing"
)

// Each fault kind that changes a good list page changes it as it says,
// on the 2010 API and on a v1 API.
func TestPageFaults(t *testing.T) {
	s := NewTestServer(t, testOptions())
	c := mainCreds(s)
	usage := "/2010-04-01/Accounts/" + s.MainAccountSID() + "/Usage/Records/Daily.json?PageSize=20"
	for _, target := range []struct{ path, key, next, self string }{
		{usage, "usage_records", "next_page_uri", "uri"},
		{"/v1/Sims?PageSize=5", "sims", "next_page_url", "url"},
	} {
		clean := get(t, s, c, target.path, "")
		var want map[string]any
		if err := json.Unmarshal(clean.body, &want); err != nil {
			t.Fatal(err)
		}
		meta := func(page map[string]any) map[string]any {
			if m, ok := page["meta"].(map[string]any); ok {
				return m
			}
			return page
		}
		for _, kind := range []FaultKind{FaultNoRecords, FaultDuplicates, FaultRepeatPage, FaultSelfPage} {
			t.Run(kind.String()+target.key, func(t *testing.T) {
				s.SetFaults(Faults{Rate: 1, Kinds: []FaultKind{kind}})
				defer s.SetFaults(Faults{})
				for range 8 { // seeded variants
					r := get(t, s, c, target.path, "")
					var got map[string]any
					if r.status != 200 || json.Unmarshal(r.body, &got) != nil {
						t.Fatalf("status %d, body %.200s", r.status, r.body)
					}
					recs, isList := got[target.key].([]any)
					switch kind {
					case FaultNoRecords:
						if isList {
							t.Fatalf("%s still a list: %.200s", target.key, r.body)
						}
					case FaultDuplicates:
						if n := len(want[target.key].([]any)); len(recs) < n {
							t.Fatalf("%d records, want at least the %d of the page", len(recs), n)
						}
					case FaultRepeatPage:
						if meta(got)[target.next] != meta(want)["first_page_"+target.self] {
							t.Fatalf("next %v, want the first page %v", meta(got)[target.next], meta(want)["first_page_"+target.self])
						}
					case FaultSelfPage:
						if meta(got)[target.next] != meta(want)[target.self] {
							t.Fatalf("next %v, want the page itself %v", meta(got)[target.next], meta(want)[target.self])
						}
					}
				}
			})
		}
	}
}

// A key revoked mid-run: from the n-th authenticated request on, 401.
func TestUnauthorizedFrom(t *testing.T) {
	s := NewTestServer(t, testOptions())
	s.SetFaults(Faults{UnauthorizedFrom: 3})
	var statuses []int
	for range 4 {
		statuses = append(statuses, get(t, s, mainCreds(s), "/v1/Sims", "").status)
	}
	if want := []int{200, 200, 401, 401}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
}
