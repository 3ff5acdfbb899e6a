package twiliotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Faults injects failures into authenticated requests: each request
// draws a fault with probability Rate, its kind uniformly from Kinds,
// from a generator seeded by Options.Seed, so a run is repeatable.
type Faults struct {
	Rate  float64     // probability per request of a fault
	Kinds []FaultKind // chosen uniformly; empty means Fault500
	// UnauthorizedFrom, when positive, answers the UnauthorizedFrom-th
	// authenticated request and every later one with 401, code 20003: a
	// key revoked in the middle of a run.
	UnauthorizedFrom int
}

// A FaultKind is a kind of injected failure.
type FaultKind int

const (
	Fault500        FaultKind = iota // 500, code 20500
	Fault503                         // 503, code 20503
	Fault429                         // 429, code 20429, Retry-After: 1
	FaultTruncated                   // 200 with the full Content-Length, half the body, then the connection is aborted
	FaultSlow                        // the answer comes after 2s (or never, if the request is canceled first)
	FaultReset                       // the connection is closed before any answer
	FaultHang                        // no answer at all, until the client gives up
	FaultHTML502                     // 502 with an HTML page, as a proxy in front of Twilio sends
	FaultNonJSON                     // 200 with an HTML page instead of JSON
	FaultNoRecords                   // a list page whose records key is missing, null or an object, or a body of {}
	FaultDuplicates                  // a list page with some of its records repeated in it
	FaultRepeatPage                  // a list page whose next page is the listing's first page
	FaultSelfPage                    // a list page whose next page is itself
)

var faultNames = []string{
	Fault500: "500", Fault503: "503", Fault429: "429", FaultTruncated: "truncated", FaultSlow: "slow",
	FaultReset: "reset", FaultHang: "hang", FaultHTML502: "html-502", FaultNonJSON: "non-json",
	FaultNoRecords: "no-records", FaultDuplicates: "duplicates", FaultRepeatPage: "repeat-page", FaultSelfPage: "self-page",
}

// FaultKinds returns every fault kind, in order.
func FaultKinds() []FaultKind {
	out := make([]FaultKind, len(faultNames))
	for i := range out {
		out[i] = FaultKind(i)
	}
	return out
}

func (k FaultKind) String() string {
	if int(k) < len(faultNames) {
		return faultNames[k]
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

// ParseFaultKinds reads a comma-separated list of fault kind names
// ("500,reset,no-records"), or "all".
func ParseFaultKinds(s string) ([]FaultKind, error) {
	if s == "all" {
		return FaultKinds(), nil
	}
	var out []FaultKind
	for name := range strings.SplitSeq(s, ",") {
		i := slices.Index(faultNames, strings.TrimSpace(name))
		if i < 0 {
			return nil, fmt.Errorf("unknown fault kind %q (known: %s, or all)", name, strings.Join(faultNames, ", "))
		}
		out = append(out, FaultKind(i))
	}
	return out, nil
}

// serveFault answers r with fault kind and reports whether it did; the
// kinds that change a good answer (a list page's body) are served from
// what route would have answered, and only a 200 list page is changed.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, p principal, svc string, kind FaultKind) bool {
	switch kind {
	case Fault503:
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: 20503, message: "Service Unavailable"})
	case Fault429:
		w.Header().Set("Retry-After", "1")
		writeError(w, errTooManyRequests)
	case FaultTruncated:
		s.serveTruncated(w, r, p, svc)
	case FaultSlow:
		if !sleep(r.Context(), slowDelay) {
			return true
		}
		return false
	case FaultReset:
		panic(http.ErrAbortHandler) // net/http closes the connection, unanswered
	case FaultHang:
		<-r.Context().Done()
	case FaultHTML502:
		writeHTML(w, http.StatusBadGateway, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>")
	case FaultNonJSON:
		writeHTML(w, http.StatusOK, "<!DOCTYPE html><html><body>Please enable cookies to continue.</body></html>")
	case FaultNoRecords, FaultDuplicates, FaultRepeatPage, FaultSelfPage:
		rec := &recorder{header: http.Header{}}
		s.route(rec, r, p, svc)
		body := rec.body.Bytes()
		if rec.status == http.StatusOK {
			if changed, ok := s.changePage(body, kind); ok {
				body = changed
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		writeJSON(w, rec.status, body)
	default:
		writeError(w, &apiError{status: http.StatusInternalServerError, code: 20500, message: "Internal Server Error"})
	}
	return true
}

func writeHTML(w http.ResponseWriter, status int, page string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	w.Write([]byte(page))
}

// changePage applies kind to a list page's body, and reports whether
// body was a list page. The page's keys come out in sorted order, which
// JSON allows.
func (s *Server) changePage(body []byte, kind FaultKind) ([]byte, bool) {
	var page map[string]json.RawMessage
	if json.Unmarshal(body, &page) != nil {
		return nil, false
	}
	key, self, first := listKey(page)
	if key == "" {
		return nil, false
	}
	switch kind {
	case FaultNoRecords:
		s.mu.Lock()
		variant := s.faultRNG.IntN(4)
		s.mu.Unlock()
		switch variant {
		case 0:
			delete(page, key)
		case 1:
			page[key] = json.RawMessage("null")
		case 2:
			page[key] = json.RawMessage(`{}`)
		default:
			return []byte("{}"), true
		}
	case FaultDuplicates:
		var recs []json.RawMessage
		if json.Unmarshal(page[key], &recs) != nil || len(recs) == 0 {
			return nil, false
		}
		s.mu.Lock()
		var out []json.RawMessage
		for _, rec := range recs {
			out = append(out, rec)
			if s.faultRNG.IntN(3) == 0 {
				out = append(out, rec)
			}
		}
		s.mu.Unlock()
		page[key] = marshal(out)
	case FaultRepeatPage:
		setNext(page, first)
	case FaultSelfPage:
		setNext(page, self)
	}
	return marshal(page), true
}

// listKey returns a list page's records key and the links to the page
// itself and to the listing's first page: the 2010 API's uri and
// first_page_uri, or the v1 APIs' meta.url and meta.first_page_url.
func listKey(page map[string]json.RawMessage) (key, self, first string) {
	if raw, ok := page["meta"]; ok {
		var meta struct {
			Key          string `json:"key"`
			URL          string `json:"url"`
			FirstPageURL string `json:"first_page_url"`
		}
		if json.Unmarshal(raw, &meta) == nil && meta.Key != "" {
			return meta.Key, meta.URL, meta.FirstPageURL
		}
		return "", "", ""
	}
	for k, v := range page {
		if bytes.HasPrefix(v, []byte("[")) {
			key = k
		}
	}
	json.Unmarshal(page["uri"], &self)
	json.Unmarshal(page["first_page_uri"], &first)
	return key, self, first
}

// setNext points a list page's next page at uri.
func setNext(page map[string]json.RawMessage, uri string) {
	raw, ok := page["meta"]
	if !ok {
		page["next_page_uri"] = marshal(uri)
		return
	}
	var meta map[string]json.RawMessage
	json.Unmarshal(raw, &meta)
	meta["next_page_url"] = marshal(uri)
	page["meta"] = marshal(meta)
}
