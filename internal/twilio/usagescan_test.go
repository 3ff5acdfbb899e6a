package twilio

import (
	"encoding/json"
	"errors"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fast usage-page decoder must agree with encoding/json on every page
// it accepts, and refuse the rest.
var usagePages = []string{
	`{"usage_records":[],"next_page_uri":null}`,
	`{"uri":"/2010-04-01/Accounts/AC1/Usage/Records/Daily.json","page":0,"usage_records":[{"account_sid":"AC1","api_version":"x"}],"next_page_uri":null}`,
	`{"first_page_uri":"/x","end":1,"usage_records":[{"account_sid":"AC1","api_version":"2010-04-01","as_of":"2026-11-24T03:00:00+00:00",
	  "category":"sms","count":"12","count_unit":"messages","description":"SMS","end_date":"2026-11-01","price":"-0.00750","price_unit":"usd",
	  "start_date":"2026-11-01","subresource_uris":{"all_time":"/a","nested":[1,2.5e3,true,false,null,{"k":"v"}]},"uri":"/u?a=1\u0026b=2","usage":"12","usage_unit":"messages"}],
	  "next_page_uri":"/2010-04-01/Accounts/AC1/Usage/Records/Daily.json?Page=1&PageToken=PA1"}`,
	`{"usage_records":[{"account_sid":"AC1","category":"totalprice","count":null,"price":498.84515,"usage":"","as_of":"","start_date":"2026-11-01","description":"Total \"price\" \u00e9"}]}`,
	"{ \"usage_records\" : [ { \"account_sid\" : \"AC1\" , \"price\" : 0 } ] , \"page\" : 0 }\n",
}

var unusualPages = []string{
	`{"usage_records":[{"price":"abc"}]}`,
	`{"usage_records":[{"price":"1.2.3"}]}`,
	`{"usage_records":[{"price":"+1"}]}`,
	`{"usage_records":[{"as_of":"yesterday"}]}`,
	`{"usage_records":[{"account_sid":"AC1"`,
	`{"usage_records":[{"account_sid":"AC1"}]} trailing`,
	`{"usage_records":[{"account_sid":"AC1",}]}`,
}

func TestDecodeUsagePageAgreesWithEncodingJSON(t *testing.T) {
	for _, page := range usagePages {
		got, err := new(usageDecoder).decode([]byte(page))
		if err != nil {
			t.Errorf("decode(%s): %v", page, err)
			continue
		}
		want, err := decodeUsagePageJSON([]byte(page))
		if err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(Decimal{}, usagePage{}, ContractError{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("page %s (-encoding/json +fast):\n%s", page, diff)
		}
	}
	for _, page := range unusualPages {
		if _, err := new(usageDecoder).decode([]byte(page)); err == nil {
			t.Errorf("decode accepted %s", page)
		}
	}
}

// The decoder does not read the strings it skips, so a malformed one
// there does not stop it; the same string in a field it keeps does.
func TestDecodeUsagePageSkipsWithoutReading(t *testing.T) {
	for _, bad := range []string{"a\x01b", `a\qb`, `a\u12zzb`} {
		skipped := `{"usage_records":[{"account_sid":"AC1","subresource_uris":{"daily":"` + bad + `"},"uri":"/u"}],"next_page_uri":null}`
		page, err := new(usageDecoder).decode([]byte(skipped))
		if err != nil {
			t.Errorf("decode(%q): %v", skipped, err)
		} else if len(page.UsageRecords) != 1 || page.UsageRecords[0].AccountSID != "AC1" || *page.UsageRecords[0].URI != "/u" {
			t.Errorf("decode(%q) = %+v", skipped, page.UsageRecords)
		}
		kept := `{"usage_records":[{"account_sid":"AC1","uri":"` + bad + `"}],"next_page_uri":null}`
		if _, err := new(usageDecoder).decode([]byte(kept)); err == nil {
			t.Errorf("decode(%q) accepted a malformed uri", kept)
		}
	}
}

// Strings that encoding/json refuses and the decoder may skip unread.
var unreadStringError = regexp.MustCompile(`in string literal|in string escape code|in \\u hexadecimal character escape`)

func FuzzDecodeUsagePage(f *testing.F) {
	for _, p := range append(usagePages, unusualPages...) {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := new(usageDecoder).decode(body)
		if err != nil {
			return
		}
		want, err := decodeUsagePageJSON(body)
		if err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) && unreadStringError.MatchString(err.Error()) {
				return // a malformed string the decoder skipped
			}
			t.Fatalf("fast decoder accepted what encoding/json refuses (%v): %q", err, body)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(Decimal{}, usagePage{}, ContractError{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%q (-encoding/json +fast):\n%s", body, diff)
		}
	})
}

// The transport reuses a body's buffer once it is decoded, so nothing
// decoded may point into it.
func TestDecodeUsagePageKeepsNothingOfTheBody(t *testing.T) {
	for _, page := range usagePages {
		body := []byte(page)
		got, err := new(usageDecoder).decode(body)
		if err != nil {
			t.Fatalf("decode(%s): %v", page, err)
		}
		want, err := decodeUsagePageJSON([]byte(page))
		if err != nil {
			t.Fatal(err)
		}
		for i := range body {
			body[i] = 'x'
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(Decimal{}, usagePage{}, ContractError{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("page %s changed with its body's buffer (-before +after):\n%s", page, diff)
		}
	}
}
