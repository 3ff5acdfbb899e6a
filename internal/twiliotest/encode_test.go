package twiliotest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestAppendNumbers(t *testing.T) {
	vals := []int64{0, 1, -1, 5, -5, 9, 10, 99, 100, 999, 1000, 9999, 10000, 10001, 12345, 99999, 100000, 100001,
		-750, -1500, -2250, 123456789, -123456789, 1 << 40, math.MaxInt64, -math.MaxInt64, math.MinInt64 + 1}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		v := r.Int64N(1 << uint(1+r.IntN(62)))
		if r.IntN(3) == 0 {
			v = -v
		}
		vals = append(vals, v)
	}
	for _, v := range vals {
		if got, want := string(appendPrice([]byte("x"), v)), "x"+formatPrice(v); got != want {
			t.Errorf("appendPrice(%d) = %q, want %q", v, got, want)
		}
		if got, want := string(appendUsage([]byte("x"), v)), "x"+formatUsage(v); got != want {
			t.Errorf("appendUsage(%d) = %q, want %q", v, got, want)
		}
		if got, want := string(appendBilled([]byte("x"), v)), "x"+formatBilled(v); got != want {
			t.Errorf("appendBilled(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "abc", "a&b<c>", `q"uote`, `back\slash`, "tab\there", "nl\n", "\x00\x1f\x7f",
		"é", "\u2028\u2029", "bad\xffutf8", "/2010-04-01/Accounts/AC1/Usage/Records/Daily.json?Category=sms%26x+y&StartDate=2026-01-01"} {
		if got, want := string(appendJSONString([]byte("x"), s)), "x"+string(marshal(s)); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
		if got, want := string(appendJSONString([]byte("x"), []byte(s))), "x"+string(marshal(s)); got != want {
			t.Errorf("appendJSONString([]byte(%q)) = %s, want %s", s, got, want)
		}
	}
}

// TestUsageRowEncoding holds the usage record encoder to the
// reflection-based one for every row of every account, and for random
// amounts.
func TestUsageRowEncoding(t *testing.T) {
	s := New(goldenOptions())
	asOf := s.now().UTC().Format(asOfLayout)
	endpoints := []string{"/Usage/Records/Daily.json", "/Usage/Records/Today.json", "/Usage/Records.json"}
	r := rand.New(rand.NewPCG(3, 4))
	n := 0
	for _, a := range s.accounts {
		encs := make([]*usageEncoder, len(endpoints))
		for i, ep := range endpoints {
			encs[i] = s.newUsageEncoder(a, ep)
		}
		for _, inc := range []bool{false, true} {
			for _, row := range s.dailyRows(a, inc, s.dataStart, s.today, "") {
				k := n % len(endpoints)
				n++
				if r.IntN(4) == 0 {
					row.amt = amount{count: r.Int64N(1e9) - 1e6, usage: r.Int64N(1e12) - 1e8, price: r.Int64N(1e12) - 1e8}
				}
				if r.IntN(8) == 0 {
					row.start = row.start.AddDate(0, 0, -r.IntN(100))
				}
				want := refUsageRowJSON(row, endpoints[k], asOf)
				got := encs[k].appendRow([]byte("x"), row.category, row.amt, row.start.Format(dateLayout), row.end.Format(dateLayout))
				if string(got) != "x"+string(want) {
					t.Fatalf("row %+v:\n got %s\nwant %s", row, got[1:], want)
				}
			}
		}
	}
	if n < 10000 {
		t.Fatalf("only %d rows checked", n)
	}
	// Text that needs escaping takes the slow path.
	odd := &account{Account: Account{SID: "AC\"odd\u2028/x y"}}
	for _, dates := range [][2]string{{"2026-01-02", "2026-01-03"}, {"2026/01/02", "a b&c"}} {
		enc := s.newUsageEncoder(odd, endpoints[0])
		for c := range categoryTable {
			start, _ := time.Parse(dateLayout, "2026-01-02")
			row := usageRow{accountSID: odd.SID, category: c, amt: amount{1, 2, 3}, start: start, end: start.AddDate(0, 0, 1)}
			want := string(refUsageRowJSON(row, endpoints[0], asOf))
			got := string(enc.appendRow(nil, c, row.amt, dates[0], dates[1]))
			if dates[0] == "2026-01-02" && got != want {
				t.Fatalf("account %q:\n got %s\nwant %s", odd.SID, got, want)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(got), &v); err != nil || v["uri"] != "/2010-04-01/Accounts/"+odd.SID+endpoints[0]+"?"+encodeParams([]param{{"Category", categoryTable[c].Name}, {"StartDate", dates[0]}, {"EndDate", dates[1]}}) {
				t.Fatalf("account %q, dates %q: %s (%v)", odd.SID, dates, got, err)
			}
		}
	}
}

// TestSIMUsageEncoding holds the SIM usage record encoder to the
// reflection-based one for every day of every SIM and for sums of days.
func TestSIMUsageEncoding(t *testing.T) {
	opts := goldenOptions()
	opts.SIMs, opts.Days = 300, 90
	s := New(opts)
	n := 0
	for _, sm := range s.sims {
		var total simDay
		for _, u := range sm.days {
			if got, want := appendSIMUsage(nil, sm, u), refSIMUsageJSON(sm, u); !bytes.Equal(got, want) {
				t.Fatalf("SIM %s day %s:\n got %s\nwant %s", sm.SID, u.start, got, want)
			}
			total = total.add(u)
			n++
		}
		total.start, total.end = s.today.Add(-37*time.Hour), s.now()
		if got, want := appendSIMUsage(nil, sm, total), refSIMUsageJSON(sm, total); !bytes.Equal(got, want) {
			t.Fatalf("SIM %s total:\n got %s\nwant %s", sm.SID, got, want)
		}
	}
	if n < 10000 {
		t.Fatalf("only %d records checked", n)
	}
}

// refServeUsage answers a usage list request the way the emulator did
// before its append-style encoders: every row materialized, encoded by
// reflection and wrapped by marshalObject.
func refServeUsage(s *Server, target string) []byte {
	u, _ := url.Parse(target)
	q := u.Query()
	var a *account
	var endpoint string
	for _, acc := range s.accounts {
		for _, ep := range []string{"/Usage/Records/Daily.json", "/Usage/Records/Today.json"} {
			if u.Path == apiPrefix+"/Accounts/"+acc.SID+ep {
				a, endpoint = acc, ep
			}
		}
	}
	uq, e := s.parseUsageQuery(q)
	if e != nil {
		panic(e.message)
	}
	start, end := uq.start, uq.end
	if endpoint == "/Usage/Records/Today.json" {
		start = s.now().UTC().Truncate(day)
		end = start
	}
	var rows []usageRow
	for d, amts := range usageDays(a, uq.includeSub) {
		date := s.dataStart.AddDate(0, 0, d)
		if amts == nil || date.Before(start) || date.After(end) {
			continue
		}
		for _, c := range s.categoryByName {
			if uq.category != "" && categoryTable[c].Name != uq.category {
				continue
			}
			rows = append(rows, usageRow{accountSID: a.SID, category: c, amt: amts[c], start: date, end: date})
		}
	}
	asOf := s.now().UTC().Format(asOfLayout)
	lo, hi := uq.page.window(len(rows))
	var items []json.RawMessage
	for _, row := range rows[lo:hi] {
		items = append(items, refUsageRowJSON(row, endpoint, asOf))
	}
	filters := presentParams(q, "Category", "StartDate", "EndDate", "IncludeSubaccounts")
	l := s.links(apiPrefix+"/Accounts/"+a.SID+endpoint, filters, uq.page, len(rows))
	rec := httptest.NewRecorder()
	refWriteList(rec, usageKey, items, uq.page, l)
	return rec.Body.Bytes()
}

// TestUsagePagesEncoding holds whole usage pages, followed through every
// account's history, to what the reflection-based encoders give.
func TestUsagePagesEncoding(t *testing.T) {
	s := New(goldenOptions())
	c := mainCreds(s)
	pages := 0
	for i, a := range s.accounts {
		if a.UsageForbidden {
			continue
		}
		queries := []string{"?PageSize=" + strconv.Itoa(97+i*61), "?IncludeSubaccounts=false&PageSize=1000&StartDate=2026-10-30", "?Category=calls&EndDate=2026-11-11"}
		for _, qs := range queries {
			for _, ep := range []string{"/Usage/Records/Daily.json", "/Usage/Records/Today.json"} {
				next := apiPrefix + "/Accounts/" + a.SID + ep + qs
				for next != "" {
					w := httptest.NewRecorder()
					req := httptest.NewRequest(http.MethodGet, next, nil)
					req.SetBasicAuth(c.user, c.pass)
					s.ServeHTTP(w, req)
					if want := refServeUsage(s, next); !bytes.Equal(w.Body.Bytes(), want) {
						t.Fatalf("GET %s: body differs from the reference encoding", next)
					}
					pages++
					next = ""
					var p struct {
						Next *string `json:"next_page_uri"`
					}
					if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
						t.Fatal(err)
					}
					if p.Next != nil {
						next = *p.Next
					}
				}
			}
		}
	}
	t.Logf("%d pages compared", pages)
}

func TestTokensAndIDs(t *testing.T) {
	for _, seed := range []int64{0, 1, -7, math.MaxInt64, math.MinInt64} {
		s := &Server{seed: seed}
		for _, off := range []int{0, 1, 49, 50, 1000, 123456, math.MaxInt32, math.MaxInt64} {
			check := crc32.ChecksumIEEE([]byte(fmt.Sprintf("%d/%d", seed, off)))
			if got := s.tokenCheck(off); got != check {
				t.Errorf("seed %d: tokenCheck(%d) = %08x, want %08x", seed, off, got, check)
			}
			want := "PA" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d.%08x", off, check)))
			if got := s.pageToken("PA", off); got != want {
				t.Errorf("seed %d: pageToken(PA, %d) = %s, want %s", seed, off, got, want)
			}
			if got, ok := s.decodeToken(want); !ok || got != off {
				t.Errorf("seed %d: decodeToken(%s) = %d, %v", seed, want, got, ok)
			}
		}
	}
	for _, seq := range []uint64{0, 1, 0xabc, 1 << 32, 1<<32 - 1, math.MaxUint64} {
		if got, want := requestID(seq), fmt.Sprintf("RQ%032x", seq); got != want {
			t.Errorf("requestID(%d) = %s, want %s", seq, got, want)
		}
	}
}
