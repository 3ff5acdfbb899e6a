package transforms

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
)

// Object is a record's JSON object as a normalizer reads it, through the
// Normalizer's reused valyala/fastjson parser. Each accessor reads one
// member: a member of the wrong JSON type fails the record through its
// Fields, naming the member, as a struct decoder's error would; of a
// member given twice the last counts, as in encoding/json (whose
// case-insensitive match of member names is not followed: Twilio's names
// are lower case). Strings are interned per Normalizer (bounded), so the
// many repeats of an account SID, a category or a unit cost one
// allocation each.
//
// An Object is valid until the Normalizer parses the next record.
type Object struct {
	n *Normalizer
	f *Fields
}

// member is one member of the Object being read.
type member struct {
	key []byte
	v   *fastjson.Value
}

// internLimit bounds the strings a Normalizer interns: past it, new
// strings are allocated each time (a description per record would
// otherwise grow the table without bound).
const internLimit = 1 << 16

// Parse parses data, a record's JSON object, for the Fields f. The error
// is a decode error of the whole record: data is not valid JSON (strictly,
// as encoding/json has it), or not an object.
func (n *Normalizer) Parse(data []byte, f *Fields) (Object, error) {
	if err := ValidateJSON(data); err != nil {
		return Object{}, err
	}
	v, err := n.parser.ParseBytes(data)
	if err != nil {
		return Object{}, errors.New("malformed JSON")
	}
	o, err := v.Object()
	if err != nil {
		return Object{}, fmt.Errorf("a JSON %s, not an object", v.Type())
	}
	n.members = n.members[:0]
	o.Visit(func(k []byte, v *fastjson.Value) { n.members = append(n.members, member{k, v}) })
	return Object{n: n, f: f}, nil
}

// ValidateJSON checks that b is JSON, strictly as encoding/json has it (a
// bad escape or a raw control character in a string is an error, where
// fastjson's parser alone lets them pass). The error says what is wrong
// and quotes none of the input: a line may hold a secret, such as the
// auth_token of an accounts record from another connector.
func ValidateJSON(b []byte) error {
	err := fastjson.ValidateBytes(b)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(msg, "; unparsed tail:"); i >= 0 {
		msg = msg[:i]
	}
	// fastjson wraps the reason in "cannot parse object: cannot parse
	// object value: …", one level per nesting.
	for strings.HasPrefix(msg, "cannot parse ") {
		i := strings.Index(msg, ": ")
		if i < 0 {
			break
		}
		msg = msg[i+2:]
	}
	// "unexpected value found: %q", "unexpected tail: %q" quote the input.
	if i := strings.Index(msg, `: "`); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("malformed JSON: %s", msg)
}

// intern returns b as a string, one allocation per distinct value.
// Invalid UTF-8 becomes U+FFFD, as encoding/json decodes it.
func (n *Normalizer) intern(b []byte) string {
	if s, ok := n.strings[string(b)]; ok {
		return s
	}
	s, key := string(b), ""
	if !utf8.ValidString(s) {
		key, s = s, strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(n.strings) < internLimit {
		if key == "" {
			key = s
		}
		n.strings[key] = s
	}
	return s
}

// member returns key's value, nil when it is absent or null. Of a key
// given twice the last counts, as encoding/json has it.
func (o Object) member(key string) *fastjson.Value {
	ms := o.n.members
	for i := len(ms) - 1; i >= 0; i-- {
		if string(ms[i].key) == key {
			if ms[i].v.Type() == fastjson.TypeNull {
				return nil
			}
			return ms[i].v
		}
	}
	return nil
}

// String returns the string member key: "" when it is absent or null.
func (o Object) String(key string) string {
	s, _ := o.stringOK(key)
	return s
}

// NullString returns the string member key, NULL when absent or null.
func (o Object) NullString(key string) NullString {
	s, ok := o.stringOK(key)
	return NullString{S: s, Valid: ok}
}

func (o Object) stringOK(key string) (string, bool) {
	v := o.member(key)
	if v == nil {
		return "", false
	}
	b, err := v.StringBytes()
	if err != nil {
		o.f.Fail(key, o.text(v), fmt.Errorf("is a JSON %s, not a string", v.Type()))
		return "", false
	}
	return o.n.intern(b), true
}

// Decimal returns the exact number member key (as Fields.Decimal: a JSON
// number, or a string holding one; "", null and absent are NULL).
func (o Object) Decimal(key string) NullDecimal {
	v := o.member(key)
	if v == nil {
		return NullDecimal{}
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		o.n.scratch = v.MarshalTo(o.n.scratch[:0])
		return o.f.decimal(key, unsafe.String(unsafe.SliceData(o.n.scratch), len(o.n.scratch)))
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		s := strings.TrimSpace(unsafe.String(unsafe.SliceData(b), len(b)))
		if s == "" {
			return NullDecimal{}
		}
		return o.f.decimal(key, s)
	}
	o.f.Fail(key, o.text(v), errNotNumber)
	return NullDecimal{}
}

// Timestamp returns the RFC 3339 instant member key: NULL when absent,
// null or "".
func (o Object) Timestamp(key string) NullTimestamp {
	v := o.member(key)
	if v == nil {
		return NullTimestamp{}
	}
	b, err := v.StringBytes()
	if err != nil {
		o.f.Fail(key, o.text(v), fmt.Errorf("is a JSON %s, not an RFC 3339 timestamp", v.Type()))
		return NullTimestamp{}
	}
	s := unsafe.String(unsafe.SliceData(b), len(b))
	return o.f.Timestamp(key, &s)
}

// text is v's JSON text, for an error.
func (o Object) text(v *fastjson.Value) string {
	s := v.String()
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	return s
}

// decimal parses s, the text of a number, exactly.
func (f *Fields) decimal(name, s string) NullDecimal {
	v, err := ParseDecimal(s)
	if err != nil {
		f.Fail(name, strconv.Quote(s), err)
		return NullDecimal{}
	}
	return NullDecimal{Num: v, Valid: true}
}
