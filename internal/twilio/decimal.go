package twilio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
)

// Decimal is a number exactly as Twilio wrote it, such as "-0.00750" or
// "498.84515". It never passes through a float. The zero Decimal is null.
//
// Twilio sends money and quantities as JSON strings (sometimes as JSON
// numbers); both decode to the same text. An empty string decodes to
// null, as Twilio uses it for "no value".
type Decimal struct {
	text string
}

// DecimalOf returns the Decimal for text, which must be a JSON number.
func DecimalOf(text string) (Decimal, error) {
	if !numberPattern.MatchString(text) {
		return Decimal{}, fmt.Errorf("%q is not a decimal number", text)
	}
	return Decimal{text: text}, nil
}

// numberPattern is the JSON number grammar.
var numberPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// Valid reports whether d holds a number (false for null).
func (d Decimal) Valid() bool { return d.text != "" }

// String returns the decimal text, or "" for null.
func (d Decimal) String() string { return d.text }

// UnmarshalJSON accepts a JSON number, a string holding one, "" or null.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*d = Decimal{}
		return nil
	case len(b) > 0 && b[0] == '"':
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("decimal: %w", err)
		}
		if s == "" {
			*d = Decimal{}
			return nil
		}
		v, err := DecimalOf(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	default:
		v, err := DecimalOf(string(b))
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
}

// MarshalJSON writes the number verbatim, or null.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d.text == "" {
		return []byte("null"), nil
	}
	return []byte(d.text), nil
}

var _ json.Marshaler = Decimal{}
