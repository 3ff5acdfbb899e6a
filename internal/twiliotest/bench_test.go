package twiliotest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// discardWriter is a ResponseWriter that throws the body away, so the
// benchmarks measure the emulator and not a network stack.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// benchOptions are the options of the end-to-end benchmark's emulator
// (integration_tests/bench_test.go), without latency or concurrency limit.
func benchOptions() Options {
	return Options{Seed: 1, Subaccounts: 199, Days: 90, SIMs: 1000, Now: fixedClock}
}

var benchServer = sync.OnceValue(func() *Server { return New(benchOptions()) })

// benchPage is one request of a crawl and the number of records it answers.
type benchPage struct {
	target  string
	records int
}

// crawl follows every page from each first URL and returns the requests
// made.
func crawl(tb testing.TB, s *Server, c creds, firsts []string) []benchPage {
	var pages []benchPage
	for _, next := range firsts {
		for next != "" {
			w := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, next, nil)
			req.SetBasicAuth(c.user, c.pass)
			s.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				tb.Fatalf("GET %s: %d %s", next, w.Code, w.Body)
			}
			var p struct {
				Records []json.RawMessage `json:"usage_records"`
				Next    *string           `json:"next_page_uri"`
				Meta    struct {
					Next *string `json:"next_page_url"`
				} `json:"meta"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				tb.Fatal(err)
			}
			pages = append(pages, benchPage{next, len(p.Records)})
			next = ""
			if p.Next != nil {
				next = *p.Next
			} else if p.Meta.Next != nil {
				next = *p.Meta.Next
			}
		}
	}
	return pages
}

// BenchmarkServeUsagePages serves pages of 1000 usage records the way
// twilio-elt reads them and reports the cost per record: ns/record is wall
// time, cpu-ns/record the process's CPU time (GC included).
func BenchmarkServeUsagePages(b *testing.B) {
	s := benchServer()
	c := mainCreds(s)
	start, end := s.dataStart.Format(dateLayout), s.today.Format(dateLayout)
	b.Run("Daily", func(b *testing.B) {
		var firsts []string
		for _, a := range s.Accounts() {
			if !a.UsageForbidden {
				firsts = append(firsts, apiPrefix+"/Accounts/"+a.SID+"/Usage/Records/Daily.json?StartDate="+start+"&EndDate="+end+"&IncludeSubaccounts=false&PageSize=1000")
			}
		}
		benchPages(b, s, c, crawl(b, s, c, firsts))
	})
	b.Run("DailyInclusive", func(b *testing.B) {
		firsts := []string{apiPrefix + "/Accounts/" + s.MainAccountSID() + "/Usage/Records/Daily.json?PageSize=1000"}
		benchPages(b, s, c, crawl(b, s, c, firsts))
	})
	b.Run("SIMDaily", func(b *testing.B) {
		var firsts []string
		st, en := s.dataStart.Format(time.RFC3339), s.today.AddDate(0, 0, 1).Format(time.RFC3339)
		for _, sm := range s.SIMs() {
			firsts = append(firsts, "/v1/Sims/"+sm.SID+"/UsageRecords?Start="+st+"&End="+en+"&Granularity=daily&PageSize=1000")
		}
		benchPages(b, s, c, crawl(b, s, c, firsts))
	})
}

// BenchmarkServeSmallRequest measures the fixed cost of a request: auth,
// logging, fault and limit checks, query parsing, links and the envelope,
// on a one-record page of Today.json (the request twilio-elt makes to check
// credentials).
func BenchmarkServeSmallRequest(b *testing.B) {
	s := benchServer()
	c := mainCreds(s)
	pages := []benchPage{{apiPrefix + "/Accounts/" + s.MainAccountSID() + "/Usage/Records/Today.json?PageSize=1", 1}}
	benchPages(b, s, c, pages)
}

func benchPages(b *testing.B, s *Server, c creds, pages []benchPage) {
	reqs := make([]*http.Request, len(pages))
	for i, p := range pages {
		reqs[i] = httptest.NewRequest(http.MethodGet, p.target, nil)
		reqs[i].SetBasicAuth(c.user, c.pass)
	}
	records, bytes := 0, 0
	runtime.GC()
	s.ResetRequests()
	cpu0 := processCPU()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%len(pages) == 0 {
			s.ResetRequests() // the log would otherwise grow without bound
		}
		w := &discardWriter{}
		s.ServeHTTP(w, reqs[i%len(pages)])
		if w.status != http.StatusOK {
			b.Fatalf("GET %s: %d", pages[i%len(pages)].target, w.status)
		}
		records += pages[i%len(pages)].records
		bytes += w.n
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
	}
	b.ReportMetric(float64(bytes)/float64(records), "B/record")
}

// BenchmarkNew builds the emulator of the end-to-end benchmark, with 5000
// SIMs over 30 days, and reports the live heap it keeps.
func BenchmarkNew(b *testing.B) {
	for _, o := range []Options{
		{Seed: 1, Subaccounts: 199, Days: 90, Now: fixedClock},
		{Seed: 1, Subaccounts: 199, Days: 90, SIMs: 20, Now: fixedClock},
		{Seed: 1, Days: 30, SIMs: 5000, Now: fixedClock},
	} {
		b.Run("accounts="+strconv.Itoa(o.Subaccounts+1)+"/days="+strconv.Itoa(o.Days)+"/sims="+strconv.Itoa(o.SIMs), func(b *testing.B) {
			var s *Server
			var heap uint64
			for b.Loop() {
				s = nil
				runtime.GC()
				var m0 runtime.MemStats
				runtime.ReadMemStats(&m0)
				s = New(o)
				b.StopTimer()
				runtime.GC()
				var m1 runtime.MemStats
				runtime.ReadMemStats(&m1)
				heap = m1.HeapAlloc - m0.HeapAlloc
				b.StartTimer()
			}
			runtime.KeepAlive(s)
			b.ReportMetric(float64(heap)/(1<<20), "MB-live")
		})
	}
}
