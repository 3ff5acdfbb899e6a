package connector

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/twilio-elt/twilio-elt/transforms"
)

// Usage records are most of what the connector writes; encoding them by
// hand, in json.Marshal's exact output, keeps reflection off that path.

// rowArena hands out encoded rows carved from shared chunks: a window's
// thousands of small rows cost a few allocations instead of one each.
// Once the rows are written, free gives the chunks back for other windows.
type rowArena struct {
	chunk []byte
	used  [][]byte // chunks handed out before chunk
}

const arenaChunk = 256 << 10

var arenaChunks = sync.Pool{New: func() any { return new([arenaChunk]byte) }}

// add appends one row with encode and returns it. A row larger than what
// is left of the chunk moves the chunk (rows already handed out keep the
// old one).
func (a *rowArena) add(encode func([]byte) []byte) json.RawMessage {
	if cap(a.chunk)-len(a.chunk) < 4<<10 {
		if a.chunk != nil {
			a.used = append(a.used, a.chunk)
		}
		a.chunk = arenaChunks.Get().(*[arenaChunk]byte)[:0]
	}
	start, chunk := len(a.chunk), a.chunk
	a.chunk = encode(a.chunk)
	if cap(a.chunk) != cap(chunk) {
		a.used = append(a.used, chunk) // outgrown: rows handed out keep it
	}
	return a.chunk[start:len(a.chunk):len(a.chunk)]
}

// free gives a's chunks back. Nothing may use the rows it handed out
// afterwards.
func (a *rowArena) free() {
	for _, c := range append(a.used, a.chunk) {
		if cap(c) == arenaChunk {
			arenaChunks.Put((*[arenaChunk]byte)(c[:arenaChunk]))
		}
	}
	*a = rowArena{}
}

// appendJSON appends r as json.Marshal would encode it.
func (r *usageRecord) appendJSON(b []byte) []byte {
	b = append(b, `{"account_sid":`...)
	b = appendString(b, r.AccountSID)
	b = append(b, `,"category":`...)
	b = appendString(b, r.Category)
	b = append(b, `,"description":`...)
	b = appendNullableString(b, r.Description)
	b = append(b, `,"start_date":`...)
	b = appendString(b, r.StartDate)
	b = append(b, `,"end_date":`...)
	b = appendNullableString(b, r.EndDate)
	b = append(b, `,"count":`...)
	b = appendDecimal(b, r.Count)
	b = append(b, `,"count_unit":`...)
	b = appendNullableString(b, r.CountUnit)
	b = append(b, `,"usage":`...)
	b = appendDecimal(b, r.Usage)
	b = append(b, `,"usage_unit":`...)
	b = appendNullableString(b, r.UsageUnit)
	b = append(b, `,"price":`...)
	b = appendDecimal(b, r.Price)
	b = append(b, `,"price_unit":`...)
	b = appendNullableString(b, r.PriceUnit)
	b = append(b, `,"as_of":`...)
	if r.AsOf == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = r.AsOf.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"uri":`...)
	b = appendNullableString(b, r.URI)
	return append(b, '}')
}

// appendString appends s as a JSON string, as json.Marshal writes it.
// Printable ASCII is copied, with json.Marshal's HTML escapes for <, >
// and & (every Twilio URI has an &); anything else goes through
// json.Marshal.
func appendString(b []byte, s string) []byte {
	start := len(b)
	b = append(b, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		switch jsonByte[s[i]] {
		case plainByte:
			continue
		case htmlByte:
			c := s[i]
			b = append(b, s[last:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			last = i + 1
		default:
			enc, _ := json.Marshal(s)
			return append(b[:start], enc...)
		}
	}
	b = append(b, s[last:]...)
	return append(b, '"')
}

// How appendString treats each byte.
const (
	plainByte = iota // copied as is
	htmlByte         // <, > and &: escaped as json.Marshal does
	otherByte        // quotes, backslashes, control and non-ASCII bytes
)

var jsonByte = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c == '<' || c == '>' || c == '&':
			t[c] = htmlByte
		case c < 0x20 || c >= 0x7f || c == '"' || c == '\\':
			t[c] = otherByte
		}
	}
	return t
}()

const hexDigits = "0123456789abcdef"

func appendNullableString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

func appendDecimal(b []byte, d transforms.Number) []byte {
	if d == "" {
		return append(b, "null"...)
	}
	return append(b, d...)
}
