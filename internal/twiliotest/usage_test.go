package twiliotest

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// wireUsage is a usage record as served.
type wireUsage struct {
	AccountSID  string  `json:"account_sid"`
	APIVersion  string  `json:"api_version"`
	AsOf        string  `json:"as_of"`
	Category    string  `json:"category"`
	Count       *string `json:"count"`
	CountUnit   string  `json:"count_unit"`
	Description string  `json:"description"`
	StartDate   string  `json:"start_date"`
	EndDate     string  `json:"end_date"`
	Price       string  `json:"price"`
	PriceUnit   string  `json:"price_unit"`
	Usage       string  `json:"usage"`
	UsageUnit   string  `json:"usage_unit"`
	URI         string  `json:"uri"`
}

type usagePage struct {
	FirstPageURI    string      `json:"first_page_uri"`
	URI             string      `json:"uri"`
	NextPageURI     *string     `json:"next_page_uri"`
	PreviousPageURI *string     `json:"previous_page_uri"`
	Page            int         `json:"page"`
	PageSize        int         `json:"page_size"`
	Start           int         `json:"start"`
	End             int         `json:"end"`
	UsageRecords    []wireUsage `json:"usage_records"`
}

func (u wireUsage) record(t testing.TB) UsageRecord {
	t.Helper()
	date, err := time.Parse(dateLayout, u.StartDate)
	if err != nil || u.EndDate != u.StartDate {
		t.Fatalf("record %+v: start_date %q, end_date %q", u, u.StartDate, u.EndDate)
	}
	r := UsageRecord{
		AccountSID: u.AccountSID, Category: u.Category, Description: u.Description, Date: date,
		CountUnit: u.CountUnit, Usage: u.Usage, UsageUnit: u.UsageUnit, Price: u.Price, PriceUnit: u.PriceUnit,
	}
	if u.Count != nil {
		r.Count = *u.Count
	}
	return r
}

// readAllUsage follows next_page_uri from first and returns every record
// and the pages seen.
func readAllUsage(t testing.TB, s *Server, c creds, first string) ([]wireUsage, []usagePage) {
	t.Helper()
	var recs []wireUsage
	var pages []usagePage
	for next := first; next != ""; {
		r := get(t, s, c, next, "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", next, r.status, r.body)
		}
		p := decode[usagePage](t, r.body)
		recs = append(recs, p.UsageRecords...)
		pages = append(pages, p)
		next = ""
		if p.NextPageURI != nil {
			next = *p.NextPageURI
		}
	}
	return recs, pages
}

func TestUsagePaging(t *testing.T) {
	s := NewTestServer(t, testOptions())
	for _, a := range s.Accounts() {
		if a.UsageForbidden {
			continue
		}
		for _, size := range []int{337, 1000} {
			first := "/2010-04-01/Accounts/" + a.SID + "/Usage/Records/Daily.json?IncludeSubaccounts=false&PageSize=" + strconv.Itoa(size)
			recs, pages := readAllUsage(t, s, mainCreds(s), first)
			var got []UsageRecord
			for _, r := range recs {
				got = append(got, r.record(t))
			}
			if diff := cmp.Diff(s.UsageRecords(a.SID), got); diff != "" {
				t.Errorf("%s (%s), PageSize %d: records (-want +got):\n%s", a.SID, a.FriendlyName, size, diff)
			}
			for i, p := range pages {
				if p.Page != i || p.PageSize != size || p.Start != i*size || (len(p.UsageRecords) > 0 && p.End != p.Start+len(p.UsageRecords)-1) {
					t.Errorf("page %d: page %d, page_size %d, start %d, end %d, %d records", i, p.Page, p.PageSize, p.Start, p.End, len(p.UsageRecords))
				}
				if (i == 0) != (p.PreviousPageURI == nil) {
					t.Errorf("page %d: previous_page_uri %v", i, p.PreviousPageURI)
				}
				if !strings.Contains(p.FirstPageURI, "IncludeSubaccounts=false") || !strings.HasPrefix(p.URI, "/2010-04-01/Accounts/"+a.SID) {
					t.Errorf("page %d: first_page_uri %s, uri %s", i, p.FirstPageURI, p.URI)
				}
				if p.NextPageURI != nil && !regexp.MustCompile(`[?&]PageToken=PA[A-Za-z0-9_-]+$`).MatchString(*p.NextPageURI) {
					t.Errorf("page %d: next_page_uri %s has no PageToken", i, *p.NextPageURI)
				}
			}
		}
	}
}

func TestUsageRecordFields(t *testing.T) {
	s := NewTestServer(t, testOptions())
	main := s.MainAccountSID()
	r := get(t, s, mainCreds(s), "/2010-04-01/Accounts/"+main+"/Usage/Records/Daily.json?StartDate=2026-11-01&EndDate=2026-11-01&Category=totalprice", "")
	var raw struct {
		UsageRecords []map[string]any `json:"usage_records"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.UsageRecords) != 1 {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	rec := raw.UsageRecords[0]
	price, ok := rec["price"].(string)
	if !ok || rec["count"] != nil || rec["usage"] != price || rec["usage_unit"] != "usd" {
		t.Errorf("totalprice: price %#v, count %#v, usage %#v, usage_unit %#v", rec["price"], rec["count"], rec["usage"], rec["usage_unit"])
	}
	wantURI := "/2010-04-01/Accounts/" + main + "/Usage/Records/Daily.json?Category=totalprice&StartDate=2026-11-01&EndDate=2026-11-01"
	if rec["uri"] != wantURI || rec["as_of"] != "2026-11-24T03:00:00+00:00" || rec["api_version"] != "2010-04-01" {
		t.Errorf("uri %v, as_of %v, api_version %v", rec["uri"], rec["as_of"], rec["api_version"])
	}
	var keys []string
	for k := range rec {
		keys = append(keys, k)
	}
	wantKeys := []string{"account_sid", "api_version", "as_of", "category", "count", "count_unit", "description", "end_date",
		"price", "price_unit", "start_date", "subresource_uris", "uri", "usage", "usage_unit"}
	if diff := cmp.Diff(wantKeys, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestPageSizeCap(t *testing.T) {
	s := NewTestServer(t, testOptions())
	r := get(t, s, mainCreds(s), "/2010-04-01/Accounts/"+s.MainAccountSID()+"/Usage/Records/Daily.json?PageSize=5000", "")
	p := decode[usagePage](t, r.body)
	if p.PageSize != 1000 || len(p.UsageRecords) != 1000 || p.NextPageURI == nil || !strings.Contains(*p.NextPageURI, "PageSize=1000&") {
		t.Errorf("PageSize=5000: page_size %d, %d records, next %v", p.PageSize, len(p.UsageRecords), p.NextPageURI)
	}
	r = get(t, s, mainCreds(s), "/2010-04-01/Accounts/"+s.MainAccountSID()+"/Usage/Records/Daily.json", "")
	if p := decode[usagePage](t, r.body); p.PageSize != 50 || len(p.UsageRecords) != 50 {
		t.Errorf("default: page_size %d, %d records", p.PageSize, len(p.UsageRecords))
	}
}

func rat(t testing.TB, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a decimal: %q", s)
	}
	return r
}

var priceText = regexp.MustCompile(`^(0|-?\d+\.\d{5})$`)

// summandsOf derives, from the category tree alone, what each roll-up
// sums: its non-overlay children and, through an overlay child (channels),
// that overlay's non-overlay children (channels-whatsapp), as if they were
// its own.
func summandsOf(cats []Category) map[string][]string {
	byName := map[string]Category{}
	for _, c := range cats {
		byName[c.Name] = c
	}
	out := map[string][]string{}
	for _, c := range cats {
		if c.Overlay || c.Parent == "" {
			continue
		}
		p := c.Parent
		for byName[p].Overlay {
			p = byName[p].Parent
		}
		out[p] = append(out[p], c.Name)
	}
	return out
}

func TestSummands(t *testing.T) {
	opts := testOptions()
	opts.SuperSIMs = 5 // so that every category is served
	got := summandsOf(New(opts).Categories())
	want := map[string][]string{
		"channels-whatsapp":                  {"channels-whatsapp-template-marketing", "channels-whatsapp-template-utility"},
		"a2p-registration-fees":              {"a2p-10dlc-registrationfees-onetime", "a2p-10dlc-registrationfees-monthly"},
		"a2p-10dlc-registrationfees-onetime": {"a2p-10dlc-registrationfees-brandregistration", "a2p-10dlc-registrationfees-campaignvetting"},
		"a2p-10dlc-registrationfees-monthly": {"a2p-10dlc-registrationfees-campaigncharges"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, got[k]); diff != "" {
			t.Errorf("summands of %s (-want +got):\n%s", k, diff)
		}
	}
	if got["channels"] != nil {
		t.Errorf("channels, an overlay, sums %v", got["channels"])
	}
	var top []string
	for _, n := range got["totalprice"] {
		switch n {
		case "sms", "mms", "channels-whatsapp", "a2p-registration-fees", "voice-ai-agent-minutes", "channels", "authy-sms-outbound":
			top = append(top, n)
		}
	}
	if diff := cmp.Diff([]string{"sms", "mms", "a2p-registration-fees", "channels-whatsapp", "voice-ai-agent-minutes"}, top); diff != "" {
		t.Errorf("totalprice's summands (-want +got):\n%s", diff)
	}
	// The generator sums exactly what the tree says.
	for i, c := range categoryTable {
		var names []string
		for _, j := range summands[i] {
			names = append(names, categoryTable[j].Name)
		}
		if diff := cmp.Diff(got[c.Name], names); diff != "" {
			t.Errorf("generator's summands of %s (-tree +generator):\n%s", c.Name, diff)
		}
	}
}

// TestRollups checks, for every account and day, that (a) each
// non-overlay roll-up is the sum of its summands plus a remainder that is
// the only difference (price ≥ 0; count and usage both up by the same whole
// number, which is positive exactly when the price remainder is), (b)
// totalprice is the sum of its summands (channels-whatsapp among them,
// through the overlay channels) plus unattributed cost ≥ 0, and (c)
// channels = sms + mms + channels-whatsapp exactly. It also checks that the
// hard cases occur: one-time A2P fees, monthly campaign charges,
// WhatsApp, and the two unlisted categories.
func TestRollups(t *testing.T) {
	opts := testOptions()
	opts.SuperSIMs = 40 // their categories roll up exactly too
	s := New(opts)
	cats := s.Categories()
	children := summandsOf(cats)
	var negatives, remainders, unattributed int
	seen := map[string]int{} // days with a non-zero price, by category
	for _, a := range s.Accounts() {
		byDay := map[time.Time]map[string]UsageRecord{}
		for _, r := range s.UsageRecords(a.SID) {
			if !priceText.MatchString(r.Price) {
				t.Errorf("%s %s %s: price %q", a.SID, r.Date, r.Category, r.Price)
			}
			if r.Price[0] == '-' {
				negatives++
			}
			if byDay[r.Date] == nil {
				byDay[r.Date] = map[string]UsageRecord{}
			}
			byDay[r.Date][r.Category] = r
		}
		var registrations, longcodeSMS, a2pFees int
		for date, rows := range byDay {
			day := a.SID + " " + date.Format(dateLayout)
			if len(rows) != len(cats) {
				t.Errorf("%s: %d rows, want one per category (%d)", day, len(rows), len(cats))
			}
			for _, r := range rows {
				if r.Price != "0" {
					seen[r.Category]++
				}
			}
			for _, c := range cats {
				if !c.Rollup || c.Overlay {
					continue
				}
				sum := map[string]*big.Rat{"price": new(big.Rat), "count": new(big.Rat), "usage": new(big.Rat)}
				for _, ch := range children[c.Name] {
					r := rows[ch]
					sum["price"].Add(sum["price"], rat(t, r.Price))
					sum["count"].Add(sum["count"], rat(t, r.Count))
					sum["usage"].Add(sum["usage"], rat(t, r.Usage))
				}
				r := rows[c.Name]
				rem := new(big.Rat).Sub(rat(t, r.Price), sum["price"])
				if rem.Sign() < 0 {
					t.Errorf("%s %s: price %s < sum of %v %s", day, c.Name, r.Price, children[c.Name], sum["price"].FloatString(5))
				}
				if c.Name == "totalprice" {
					if rem.Sign() > 0 {
						unattributed++
					}
					continue
				}
				if rem.Sign() > 0 {
					remainders++
				}
				dc := new(big.Rat).Sub(rat(t, r.Count), sum["count"])
				du := new(big.Rat).Sub(rat(t, r.Usage), sum["usage"])
				if dc.Cmp(du) != 0 || !dc.IsInt() || dc.Sign() < 0 || (dc.Sign() > 0) != (rem.Sign() > 0) {
					t.Errorf("%s %s: over its children by price %s, count %s, usage %s; want a remainder in all three or none",
						day, c.Name, rem.FloatString(5), dc.FloatString(0), du.FloatString(4))
				}
			}
			// Overlays.
			if p, base := rat(t, rows["authy-sms-outbound"].Price), rat(t, rows["sms-outbound"].Price); p.Sign() > 0 && p.Cmp(base) > 0 {
				t.Errorf("%s: authy-sms-outbound %s > sms-outbound %s", day, p.FloatString(5), base.FloatString(5))
			}
			for _, f := range []func(UsageRecord) string{
				func(r UsageRecord) string { return r.Price },
				func(r UsageRecord) string { return r.Count },
				func(r UsageRecord) string { return r.Usage },
			} {
				want := new(big.Rat)
				for _, n := range []string{"sms", "mms", "channels-whatsapp"} {
					want.Add(want, rat(t, f(rows[n])))
				}
				if rat(t, f(rows["channels"])).Cmp(want) != 0 {
					t.Errorf("%s: channels %+v, want sms+mms+channels-whatsapp %s", day, rows["channels"], want.FloatString(5))
				}
			}
			// A2P 10DLC: one registration day (brand 4.00 and vetting 15.00);
			// fees only where long-code SMS is sent.
			brand, vetting := rows["a2p-10dlc-registrationfees-brandregistration"].Price, rows["a2p-10dlc-registrationfees-campaignvetting"].Price
			if brand != "0" || vetting != "0" {
				registrations++
				if brand != "4.00000" || vetting != "15.00000" {
					t.Errorf("%s: brand registration %s, campaign vetting %s; want 4.00000 and 15.00000 on the same day", day, brand, vetting)
				}
			}
			if rows["a2p-registration-fees"].Price != "0" {
				a2pFees++
			}
			if rows["sms-outbound-longcode"].Count != "0" {
				longcodeSMS++
			}
		}
		if registrations > 1 || (a2pFees > 0 && longcodeSMS == 0) || (longcodeSMS > 0 && registrations == 0) {
			t.Errorf("%s: %d registration days, %d days with A2P fees, %d with long-code SMS; want one registration exactly for accounts sending long-code SMS",
				a.SID, registrations, a2pFees, longcodeSMS)
		}
	}
	if negatives == 0 || remainders == 0 || unattributed == 0 {
		t.Errorf("negative prices %d, roll-up remainders %d, unattributed totals %d: want some of each", negatives, remainders, unattributed)
	}
	for _, c := range []string{
		"a2p-10dlc-registrationfees-onetime", "a2p-10dlc-registrationfees-campaigncharges",
		"channels-whatsapp-template-marketing", "channels-whatsapp-template-utility",
		"wireless-usage-data-middleeast", "voice-ai-agent-minutes",
	} {
		if seen[c] == 0 {
			t.Errorf("%s: no day with a price", c)
		}
	}
	t.Logf("days with a price: %v", seen)
}

func TestIncludeSubaccounts(t *testing.T) {
	s := NewTestServer(t, testOptions())
	main := s.MainAccountSID()
	const date = "2026-11-01"
	base := "/2010-04-01/Accounts/" + main + "/Usage/Records/Daily.json?Category=totalprice&StartDate=" + date + "&EndDate=" + date
	total := func(query string) string {
		recs, _ := readAllUsage(t, s, mainCreds(s), base+query)
		if len(recs) != 1 {
			t.Fatalf("%d records", len(recs))
		}
		return recs[0].Price
	}
	own, all := new(big.Rat), new(big.Rat)
	for i, a := range s.Accounts() {
		for _, r := range s.UsageRecords(a.SID) {
			if r.Category == "totalprice" && r.Date.Format(dateLayout) == date {
				all.Add(all, rat(t, r.Price))
				if i == 0 {
					own.Add(own, rat(t, r.Price))
				}
			}
		}
	}
	tests := []struct {
		query string
		want  *big.Rat
	}{
		{"", all},
		{"&IncludeSubaccounts=true", all},
		{"&IncludeSubaccounts=false", own},
	}
	for _, tt := range tests {
		if got := rat(t, total(tt.query)); got.Cmp(tt.want) != 0 {
			t.Errorf("query %q: totalprice %s, want %s", tt.query, got.FloatString(5), tt.want.FloatString(5))
		}
	}
	if own.Cmp(all) == 0 {
		t.Errorf("subaccounts add nothing on %s", date)
	}
}

func TestTodayAndAllTime(t *testing.T) {
	opts := testOptions()
	opts.Days = 60 // the closed subaccount closed 30 days ago
	s := NewTestServer(t, opts)
	main := s.MainAccountSID()
	today, _ := readAllUsage(t, s, mainCreds(s), "/2010-04-01/Accounts/"+main+"/Usage/Records/Today.json?IncludeSubaccounts=false&PageSize=1000")
	var want []UsageRecord
	for _, r := range s.UsageRecords(main) {
		if r.Date.Equal(testNow.Truncate(24 * time.Hour)) {
			want = append(want, r)
		}
	}
	var got []UsageRecord
	for _, r := range today {
		got = append(got, r.record(t))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Today.json (-want +got):\n%s", diff)
	}

	closed := s.Accounts()[3]
	allTime, _ := readAllUsage(t, s, mainCreds(s), "/2010-04-01/Accounts/"+closed.SID+"/Usage/Records.json?Category=totalprice")
	sum := new(big.Rat)
	var last time.Time
	for _, r := range s.UsageRecords(closed.SID) {
		if r.Category == "totalprice" {
			sum.Add(sum, rat(t, r.Price))
			last = r.Date
		}
	}
	if len(allTime) != 1 || rat(t, allTime[0].Price).Cmp(sum) != 0 || allTime[0].EndDate != last.Format(dateLayout) {
		t.Errorf("Records.json for the closed account: %+v; want price %s ending %s", allTime, sum.FloatString(5), last.Format(dateLayout))
	}
	if !last.Before(closed.DateUpdated.Truncate(24 * time.Hour)) {
		t.Errorf("closed account has usage on %s, closed %s", last, closed.DateUpdated)
	}
}
