package twilio

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// usageDecoder decodes the pages of one usage listing, each in one pass
// over its bytes. Usage pages are the bulk of what the connector reads,
// and encoding/json needs several passes and a reflect walk per field;
// this decoder knows the record's flat shape. Anything it does not expect
// is reported as errUnusualPage, and the caller decodes the page with
// encoding/json instead, whose errors name the field.
//
// What repeats from record to record and page to page is kept: one copy
// of each short string (account SIDs, categories, descriptions, units and
// dates repeat on every day of a listing), the last as_of, and the
// records slice, which every page overwrites.
type usageDecoder struct {
	strings map[string]*string
	// last holds each interned field's previous value: consecutive
	// records mostly repeat it, and comparing is cheaper than hashing.
	last        [numInternedFields]*string
	lastAsOfRaw string
	lastAsOf    Timestamp
	records     []UsageRecord
	uris        []string // backing for records' URI pointers, a chunk at a time
}

// The fields usageDecoder interns, as indexes into its last array.
const (
	fieldAccountSID = iota
	fieldCategory
	fieldStartDate
	fieldDescription
	fieldEndDate
	fieldCountUnit
	fieldUsageUnit
	fieldPriceUnit
	numInternedFields
)

// usageDecoders keeps decoders between listings, for their records slices:
// a backfill lists hundreds of windows of a thousand records a page.
var usageDecoders = sync.Pool{New: func() any { return new(usageDecoder) }}

// reset readies d for another listing. The records slice stays, to be
// overwritten; the strings handed out stay with the records that have them.
func (d *usageDecoder) reset() {
	clear(d.strings)
	d.last = [numInternedFields]*string{}
	d.lastAsOfRaw, d.lastAsOf = "", Timestamp{}
	d.uris = nil
}

// decode decodes one page. The page's records live until the next call.
func (d *usageDecoder) decode(body []byte) (usagePage, error) {
	page := usagePage{UsageRecords: d.records[:0]}
	listed := false
	s := scanner{data: body, d: d}
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "usage_records":
			listed = true
			return s.array(func() error {
				page.UsageRecords = append(page.UsageRecords, UsageRecord{})
				return s.usageRecord(&page.UsageRecords[len(page.UsageRecords)-1])
			})
		case "next_page_uri":
			v, err := s.nullableString(-1)
			page.NextPageURI = v
			return err
		default:
			if caseVariant(key, pageKeys) {
				return errUnusualPage
			}
			return s.skip()
		}
	})
	if err == nil {
		s.space()
		if s.pos != len(s.data) {
			err = errUnusualPage
		}
	}
	d.records = page.UsageRecords
	if !listed {
		page.contract = (&list[UsageRecord]{}).check("usage_records")
	}
	return page, err
}

var errUnusualPage = errors.New("usage page is not in the expected shape")

func (s *scanner) usageRecord(rec *UsageRecord) error {
	return s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "account_sid":
			rec.AccountSID, err = s.str(fieldAccountSID)
		case "category":
			rec.Category, err = s.str(fieldCategory)
		case "start_date":
			rec.StartDate, err = s.str(fieldStartDate)
		case "description":
			rec.Description, err = s.nullableString(fieldDescription)
		case "end_date":
			rec.EndDate, err = s.nullableString(fieldEndDate)
		case "count_unit":
			rec.CountUnit, err = s.nullableString(fieldCountUnit)
		case "usage_unit":
			rec.UsageUnit, err = s.nullableString(fieldUsageUnit)
		case "price_unit":
			rec.PriceUnit, err = s.nullableString(fieldPriceUnit)
		case "uri":
			rec.URI, err = s.nullableString(-1)
		case "count":
			rec.Count, err = s.decimal()
		case "usage":
			rec.Usage, err = s.decimal()
		case "price":
			rec.Price, err = s.decimal()
		case "as_of":
			rec.AsOf, err = s.timestamp()
		default:
			if caseVariant(key, recordKeys) {
				return errUnusualPage
			}
			err = s.skip()
		}
		return err
	})
}

// scanner reads JSON from data. Its methods return errUnusualPage for
// anything outside the subset it handles.
type scanner struct {
	data []byte
	pos  int
	d    *usageDecoder
}

// intern returns raw as a string shared by every record with the same
// value of field (see the field constants); field -1 is a value that does
// not repeat, such as a record's URI.
func (d *usageDecoder) intern(raw []byte, field int) *string {
	if field < 0 {
		if len(d.uris) == cap(d.uris) {
			d.uris = make([]string, 0, 1024)
		}
		d.uris = append(d.uris, string(raw))
		return &d.uris[len(d.uris)-1]
	}
	if p := d.last[field]; p != nil && *p == string(raw) {
		return p
	}
	p, ok := d.strings[string(raw)]
	if !ok {
		if d.strings == nil {
			d.strings = make(map[string]*string, 256)
		}
		v := string(raw)
		p = &v
		d.strings[v] = p
	}
	d.last[field] = p
	return p
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.space()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

// object calls field for each key, with the scanner at its value.
func (s *scanner) object(field func(key []byte) error) error {
	if !s.consume('{') {
		return errUnusualPage
	}
	if s.consume('}') {
		return nil
	}
	for {
		key, escaped, err := s.rawString()
		if err != nil || escaped {
			return errUnusualPage
		}
		if !s.consume(':') {
			return errUnusualPage
		}
		if err := field(key); err != nil {
			return err
		}
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			return nil
		}
		return errUnusualPage
	}
}

func (s *scanner) array(elem func() error) error {
	if !s.consume('[') {
		return errUnusualPage
	}
	if s.consume(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return nil
		}
		return errUnusualPage
	}
}

// rawString reads a string and returns its content between the quotes,
// and whether it needs decoding (escapes or non-ASCII bytes, which
// encoding/json validates and may replace).
func (s *scanner) rawString() ([]byte, bool, error) {
	if !s.consume('"') {
		return nil, false, errUnusualPage
	}
	start := s.pos
	needsDecoding := false
	for s.pos < len(s.data) {
		s.pos = skipPlain(s.data, s.pos)
		for s.pos < len(s.data) && plainStringByte[s.data[s.pos]] {
			s.pos++
		}
		if s.pos == len(s.data) {
			break
		}
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return s.data[start : s.pos-1], needsDecoding, nil
		case c == '\\':
			needsDecoding = true
			if s.pos+1 >= len(s.data) {
				return nil, false, errUnusualPage
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) || !isHex(s.data[s.pos+2:s.pos+6]) {
					return nil, false, errUnusualPage
				}
				s.pos += 6
			default:
				return nil, false, errUnusualPage
			}
		case c < 0x20:
			return nil, false, errUnusualPage
		case c >= 0x80:
			needsDecoding = true
			s.pos++
		default:
			s.pos++
		}
	}
	return nil, false, errUnusualPage
}

// skipString passes over a string the decoder does not keep, such as the
// eight URIs of a record's subresource_uris, which are most of a usage
// page. It finds the closing quote as a JSON parser must, but does not
// check the bytes before it: a control character or a bad escape inside a
// skipped value, which encoding/json would refuse, does not stop the page.
func (s *scanner) skipString() error {
	if !s.consume('"') {
		return errUnusualPage
	}
	start := s.pos
	for {
		i := bytes.IndexByte(s.data[s.pos:], '"')
		if i < 0 {
			return errUnusualPage
		}
		end := s.pos + i
		s.pos = end + 1
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		backslashes := 0
		for end-backslashes > start && s.data[end-backslashes-1] == '\\' {
			backslashes++
		}
		if backslashes%2 == 0 {
			return nil
		}
	}
}

// plainStringByte marks the bytes a JSON string holds as themselves:
// printable ASCII other than the quote and the backslash.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipPlain returns the position of the first byte at or after pos that
// may not be plain (see plainStringByte), eight bytes at a time: most of a
// usage page is long URI strings.
func skipPlain(data []byte, pos int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for pos+8 <= len(data) {
		w := binary.LittleEndian.Uint64(data[pos:])
		quote, backslash := w^(ones*'"'), w^(ones*'\\')
		special := (quote-ones)&^quote | (backslash-ones)&^backslash | (w - ones*0x20) | w
		if special&highs != 0 {
			return pos
		}
		pos += 8
	}
	return pos
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// The keys the decoder reads, per level. encoding/json matches keys
// case-insensitively; a key that differs from one of these only in case
// sends the page to encoding/json.
var (
	pageKeys   = []string{"usage_records", "next_page_uri"}
	recordKeys = []string{"account_sid", "category", "start_date", "description", "end_date",
		"count_unit", "usage_unit", "price_unit", "uri", "count", "usage", "price", "as_of"}
)

// caseVariant reports whether key, which matched none of keys exactly,
// matches one of them case-insensitively.
func caseVariant(key []byte, keys []string) bool {
	for _, k := range keys {
		if len(k) == len(key) && strings.EqualFold(k, string(key)) {
			return true
		}
	}
	return false
}

// str reads a string, interned as field (see usageDecoder.intern).
func (s *scanner) str(field int) (string, error) {
	p, err := s.strPointer(field)
	if err != nil {
		return "", err
	}
	return *p, nil
}

func (s *scanner) strPointer(field int) (*string, error) {
	raw, escaped, err := s.rawString()
	if err != nil {
		return nil, err
	}
	if !escaped {
		return s.d.intern(raw, field), nil
	}
	var v string
	// The quotes around raw are part of the input.
	if err := json.Unmarshal(s.data[s.pos-len(raw)-2:s.pos], &v); err != nil {
		return nil, errUnusualPage
	}
	return &v, nil
}

func (s *scanner) null() bool {
	if s.peek() == 'n' && s.pos+4 <= len(s.data) && string(s.data[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// nullableString reads a string or null; strings are interned as field.
func (s *scanner) nullableString(field int) (*string, error) {
	if s.null() {
		return nil, nil
	}
	return s.strPointer(field)
}

// decimal reads a number, a string holding one, "" or null.
func (s *scanner) decimal() (Decimal, error) {
	switch c := s.peek(); {
	case c == 'n':
		if s.null() {
			return Decimal{}, nil
		}
		return Decimal{}, errUnusualPage
	case c == '"':
		raw, escaped, err := s.rawString()
		if err != nil || escaped {
			return Decimal{}, errUnusualPage
		}
		if len(raw) == 0 {
			return Decimal{}, nil
		}
		if !isNumber(raw) {
			return Decimal{}, errUnusualPage
		}
		return Decimal{text: string(raw)}, nil
	default:
		start := s.pos
		for s.pos < len(s.data) && isNumberByte(s.data[s.pos]) {
			s.pos++
		}
		if !isNumber(s.data[start:s.pos]) {
			return Decimal{}, errUnusualPage
		}
		return Decimal{text: string(s.data[start:s.pos])}, nil
	}
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// isNumber reports whether b is a JSON number: the grammar of numberPattern.
func isNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}

func (s *scanner) timestamp() (Timestamp, error) {
	if s.null() {
		return Timestamp{}, nil
	}
	raw, escaped, err := s.rawString()
	if err != nil || escaped {
		return Timestamp{}, errUnusualPage
	}
	if len(raw) == 0 {
		return Timestamp{}, nil
	}
	d := s.d
	if string(raw) == d.lastAsOfRaw {
		return d.lastAsOf, nil
	}
	t, err := time.Parse(time.RFC3339, string(raw))
	if err != nil {
		return Timestamp{}, errUnusualPage
	}
	d.lastAsOfRaw, d.lastAsOf = string(raw), Timestamp{t.UTC()}
	return d.lastAsOf, nil
}

// skip reads any value.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '"':
		return s.skipString()
	case c == 'n':
		if s.null() {
			return nil
		}
	case c == 't', c == 'f':
		for _, lit := range []string{"true", "false"} {
			if s.pos+len(lit) <= len(s.data) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
				s.pos += len(lit)
				return nil
			}
		}
	default:
		start := s.pos
		for s.pos < len(s.data) && isNumberByte(s.data[s.pos]) {
			s.pos++
		}
		if isNumber(s.data[start:s.pos]) {
			return nil
		}
	}
	return fmt.Errorf("%w: unexpected value at byte %d", errUnusualPage, s.pos)
}
