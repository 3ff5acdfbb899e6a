package transforms

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	goccyjson "github.com/goccy/go-json"
)

// Number is an exact number as a record carries it: its JSON text, a
// number or a string holding one ("" and null are NULL). A stream's
// record struct uses it for money and quantities, so that encoding the
// record writes Twilio's text verbatim and decoding it keeps the text for
// Fields.Decimal to parse, exactly, never through a float.
type Number string

// MarshalJSON writes the number's text, or null.
func (n Number) MarshalJSON() ([]byte, error) {
	if n == "" {
		return []byte("null"), nil
	}
	return []byte(n), nil
}

// UnmarshalJSON keeps the value's JSON text; Fields.Decimal judges it.
func (n *Number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = ""
		return nil
	}
	*n = Number(b)
	return nil
}

// NullInt64 is a nullable INT64.
type NullInt64 struct {
	Int   int64
	Valid bool
}

// NullTimestamp is a nullable TIMESTAMP (µs, UTC).
type NullTimestamp struct {
	Micros int64
	Valid  bool
}

// Fields parses the values of one record, collecting every problem, so
// that a record is judged whole before anything of it is appended and
// its error names each bad field.
type Fields struct {
	errs []string
}

// Fail records that field, whose value was raw, is wrong.
func (f *Fields) Fail(field, raw string, err error) {
	f.errs = append(f.errs, fmt.Sprintf("%s %s %v", field, raw, err))
}

// Err returns the problems found, or nil.
func (f *Fields) Err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(f.errs, "; "))
}

// Decimal parses a Number as an exact decimal.
func (f *Fields) Decimal(name string, n Number) NullDecimal {
	s, null, ok := numberText(string(n))
	if null {
		return NullDecimal{}
	}
	if !ok {
		f.Fail(name, string(n), errNotNumber)
		return NullDecimal{}
	}
	v, err := ParseDecimal(s)
	if err != nil {
		f.Fail(name, strconv.Quote(s), err)
		return NullDecimal{}
	}
	return NullDecimal{Num: v, Valid: true}
}

// Int64 parses a Number as a whole number.
func (f *Fields) Int64(name string, n Number) NullInt64 {
	d := f.Decimal(name, n)
	if !d.Valid {
		return NullInt64{}
	}
	v, err := toInt64(d.Num)
	if err != nil {
		f.Fail(name, string(n), err)
		return NullInt64{}
	}
	return NullInt64{v, true}
}

func numberText(raw string) (s string, null, ok bool) {
	if raw == "" || raw == "null" {
		return "", true, true
	}
	if raw[0] == '"' {
		var str string
		if err := goccyjson.Unmarshal([]byte(raw), &str); err != nil {
			return "", false, false
		}
		str = strings.TrimSpace(str)
		return str, str == "", true
	}
	return raw, false, true
}

// Date parses a YYYY-MM-DD date.
func (f *Fields) Date(name, s string) arrow.Date32 {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		f.Fail(name, strconv.Quote(s), errors.New("is not a date YYYY-MM-DD"))
		return 0
	}
	return arrow.Date32FromTime(t)
}

// Timestamp parses an RFC 3339 instant; nil and "" are NULL.
func (f *Fields) Timestamp(name string, s *string) NullTimestamp {
	if s == nil || *s == "" {
		return NullTimestamp{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		f.Fail(name, strconv.Quote(*s), errors.New("is not an RFC 3339 timestamp"))
		return NullTimestamp{}
	}
	return NullTimestamp{t.UnixMicro(), true}
}

// Required fails a missing value.
func (f *Fields) Required(name, v string) {
	if v == "" {
		f.Fail(name, `""`, errors.New("is missing"))
	}
}

// Currency returns an ISO 4217 code, upper case ("" for none).
func (f *Fields) Currency(name string, s *string) string {
	if s == nil || *s == "" {
		return ""
	}
	c := strings.ToUpper(strings.TrimSpace(*s))
	if len(c) != 3 || strings.IndexFunc(c, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		f.Fail(name, strconv.Quote(*s), errors.New("is not an ISO 4217 currency code"))
		return ""
	}
	return c
}

// Str is a nullable string from a record: nil is NULL.
func Str(s *string) NullString {
	if s == nil {
		return NullString{}
	}
	return NullString{S: *s, Valid: true}
}

// NullString is a nullable STRING that tells "" from NULL.
type NullString struct {
	S     string
	Valid bool
}
