package twiliotest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
)

// This file holds the append-style encoders of the hot paths (usage and SIM
// usage pages). They write exactly the bytes marshal would write for the
// same values, without reflection; the tests hold them to that against the
// reflection-based encoders.

// appendJSONString appends s as a JSON string, as marshal encodes it
// (without HTML escaping).
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	if !jsonPlain(s) {
		// Escapes, U+2028, U+2029 and invalid UTF-8: let encoding/json
		// decide.
		return append(dst, marshal(string(s))...)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// jsonPlain reports whether JSON encodes s as is, between quotes.
func jsonPlain[S string | []byte](s S) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == '"' || b == '\\' || b >= 0x80 {
			return false
		}
	}
	return true
}

// unreserved reports whether s is only ASCII letters, digits and "-_.~":
// url.QueryEscape leaves it as is, and so does JSON.
func unreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '.' || b == '~') {
			return false
		}
	}
	return true
}

// appendJSONStringPtr appends s as a JSON string, or null if s is nil.
func appendJSONStringPtr(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, *s)
}

// appendFixed appends formatFixed(v, decimals).
func appendFixed(dst []byte, v int64, decimals int) []byte {
	if v == math.MinInt64 {
		return append(dst, formatFixed(v, decimals)...)
	}
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	p := int64(math.Pow10(decimals))
	dst = strconv.AppendInt(dst, v/p, 10)
	dst = append(dst, '.')
	frac := v % p
	for q := p / 10; q > 1 && frac < q; q /= 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, frac, 10)
}

// appendTrimmed appends trimZeros(formatFixed(v, decimals)).
func appendTrimmed(dst []byte, v int64, decimals int) []byte {
	start := len(dst)
	dst = appendFixed(dst, v, decimals)
	for dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}

// appendPrice appends formatPrice(p).
func appendPrice(dst []byte, p int64) []byte {
	if p == 0 {
		return append(dst, '0')
	}
	return appendFixed(dst, p, 5)
}

// appendUsage appends formatUsage(u).
func appendUsage(dst []byte, u int64) []byte { return appendTrimmed(dst, u, 4) }

// appendBilled appends formatBilled(p).
func appendBilled(dst []byte, p int64) []byte { return appendTrimmed(dst, p, 5) }

// bodyPool recycles response bodies of list pages, which run to a few
// megabytes.
var bodyPool = sync.Pool{New: func() any { return new([]byte) }}

func getBody() *[]byte { return bodyPool.Get().(*[]byte) }

// writeBody writes body as a JSON answer and recycles it.
func writeBody(w http.ResponseWriter, status int, body *[]byte) {
	writeJSON(w, status, *body)
	*body = (*body)[:0]
	bodyPool.Put(body)
}

// listWriter appends a list page: the envelope around items appended one at
// a time. For a 2010-04-01 list (v1 false) it writes the fields in the order
// writeList does; for a v1 list those of writeV1List.
type listWriter struct {
	buf   []byte
	key   string
	v1    bool
	pr    pageRequest
	l     pageLinks
	items int
}

// begin appends everything before the first item of a page of n items.
func (lw *listWriter) begin(n int) {
	b := lw.buf[:0]
	if lw.v1 {
		b = append(b, '{')
		b = appendJSONString(b, lw.key)
		b = append(b, ":["...)
		lw.buf = b
		return
	}
	b = append(b, `{"first_page_uri":`...)
	b = appendJSONString(b, lw.l.first)
	b = append(b, `,"end":`...)
	b = strconv.AppendInt(b, int64(lw.pr.offset+max(n-1, 0)), 10)
	b = append(b, `,"previous_page_uri":`...)
	b = appendJSONStringPtr(b, lw.l.prev)
	b = append(b, ',')
	b = appendJSONString(b, lw.key)
	b = append(b, ":["...)
	lw.buf = b
}

// next appends the separator before an item.
func (lw *listWriter) next() {
	if lw.items > 0 {
		lw.buf = append(lw.buf, ',')
	}
	lw.items++
}

// end appends everything after the last item.
func (lw *listWriter) end() {
	b := append(lw.buf, ']')
	if lw.v1 {
		b = append(b, `,"meta":{"first_page_url":`...)
		b = appendJSONString(b, lw.l.first)
		b = append(b, `,"key":`...)
		b = appendJSONString(b, lw.key)
		b = append(b, `,"next_page_url":`...)
		b = appendJSONStringPtr(b, lw.l.next)
		b = append(b, `,"page":`...)
		b = strconv.AppendInt(b, int64(lw.pr.page), 10)
		b = append(b, `,"page_size":`...)
		b = strconv.AppendInt(b, int64(lw.pr.size), 10)
		b = append(b, `,"previous_page_url":`...)
		b = appendJSONStringPtr(b, lw.l.prev)
		b = append(b, `,"url":`...)
		b = appendJSONString(b, lw.l.self)
		lw.buf = append(b, "}}"...)
		return
	}
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, lw.l.self)
	b = append(b, `,"page_size":`...)
	b = strconv.AppendInt(b, int64(lw.pr.size), 10)
	b = append(b, `,"start":`...)
	b = strconv.AppendInt(b, int64(lw.pr.offset), 10)
	b = append(b, `,"next_page_uri":`...)
	b = appendJSONStringPtr(b, lw.l.next)
	b = append(b, `,"page":`...)
	b = strconv.AppendInt(b, int64(lw.pr.page), 10)
	lw.buf = append(b, '}')
}
