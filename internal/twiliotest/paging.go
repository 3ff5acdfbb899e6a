package twiliotest

import (
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// apiError is a Twilio error response.
type apiError struct {
	status  int
	code    int
	message string
}

var (
	errAuthenticate    = &apiError{status: http.StatusUnauthorized, code: 20003, message: "Authenticate"}
	errTooManyRequests = &apiError{status: http.StatusTooManyRequests, code: 20429, message: "Too Many Requests"}
)

func notFound(path string) *apiError {
	return &apiError{status: http.StatusNotFound, code: 20404, message: fmt.Sprintf("The requested resource %s was not found", path)}
}

func invalidParam(name, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: 20001, message: "Invalid " + name + ": " + fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, marshal(struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
		Status   int    `json:"status"`
	}{e.code, e.message, fmt.Sprintf("https://www.twilio.com/docs/errors/%d", e.code), e.status}))
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// pageRequest is the paging part of a list request.
type pageRequest struct {
	size   int
	page   int
	offset int
	token  string // as sent
}

// parsePage reads PageSize, Page and PageToken. PageSize above the maximum
// is treated as the maximum. Without a PageToken the page starts at
// Page×PageSize.
func (s *Server) parsePage(q url.Values) (pageRequest, *apiError) {
	pr := pageRequest{size: defaultPageSize}
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return pr, invalidParam("PageSize", "%q is not a positive integer", v)
		}
		pr.size = min(n, maxPageSize)
	}
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return pr, invalidParam("Page", "%q is not a non-negative integer", v)
		}
		pr.page = n
	}
	pr.offset = pr.page * pr.size
	if v := q.Get("PageToken"); v != "" {
		off, ok := s.decodeToken(v)
		if !ok {
			return pr, invalidParam("PageToken", "%q is not a valid page token", v)
		}
		pr.offset, pr.token = off, v
	}
	return pr, nil
}

// pageToken returns an opaque token for a page starting at offset: "PA"
// (forward) or "PB" (backward) and the base64 of the offset with a check
// value, so a tampered token is refused.
func (s *Server) pageToken(prefix string, offset int) string {
	// The payload is fmt.Sprintf("%d.%08x", offset, check).
	var buf [48]byte
	payload := strconv.AppendInt(buf[:0], int64(offset), 10)
	payload = append(payload, '.')
	payload = appendHex8(payload, s.tokenCheck(offset))
	return prefix + base64.RawURLEncoding.EncodeToString(payload)
}

func (s *Server) decodeToken(tok string) (int, bool) {
	if !strings.HasPrefix(tok, "PA") && !strings.HasPrefix(tok, "PB") {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok[2:])
	if err != nil {
		return 0, false
	}
	offText, checkText, ok := strings.Cut(string(b), ".")
	if !ok {
		return 0, false
	}
	off, err := strconv.Atoi(offText)
	if err != nil || off < 0 || checkText != string(appendHex8(nil, s.tokenCheck(off))) {
		return 0, false
	}
	return off, true
}

func (s *Server) tokenCheck(offset int) uint32 {
	// The checksum of fmt.Sprintf("%d/%d", s.seed, offset).
	var buf [48]byte
	b := strconv.AppendInt(buf[:0], s.seed, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(offset), 10)
	return crc32.ChecksumIEEE(b)
}

// appendHex8 appends v as fmt's %08x does.
func appendHex8(b []byte, v uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[v>>uint(shift)&0xf])
	}
	return b
}

// param is one query parameter, kept in order.
type param struct{ key, value string }

// presentParams returns the named parameters present in q, in the order
// given.
func presentParams(q url.Values, names ...string) []param {
	var out []param
	for _, n := range names {
		if vs, ok := q[n]; ok && len(vs) > 0 {
			out = append(out, param{n, vs[0]})
		}
	}
	return out
}

func encodeParams(ps []param) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.value))
	}
	return b.String()
}

// pageLinks are the links of one page of a list.
type pageLinks struct {
	first, self string
	prev, next  *string
}

// links returns the page links for a list of total items at base (a path or
// an absolute URL) with the given filters.
func (s *Server) links(base string, filters []param, pr pageRequest, total int) pageLinks {
	link := func(page int, token string) string {
		ps := append(append([]param(nil), filters...), param{"PageSize", strconv.Itoa(pr.size)}, param{"Page", strconv.Itoa(page)})
		if token != "" {
			ps = append(ps, param{"PageToken", token})
		}
		return base + "?" + encodeParams(ps)
	}
	l := pageLinks{first: link(0, ""), self: link(pr.page, pr.token)}
	if pr.offset+pr.size < total {
		next := link(pr.page+1, s.pageToken("PA", pr.offset+pr.size))
		l.next = &next
	}
	if pr.page > 0 && pr.offset > 0 {
		prev := link(pr.page-1, s.pageToken("PB", max(0, pr.offset-pr.size)))
		l.prev = &prev
	}
	return l
}

// window returns the bounds of the page within n items.
func (pr pageRequest) window(n int) (lo, hi int) {
	lo = min(pr.offset, n)
	return lo, min(lo+pr.size, n)
}
