package transforms

import (
	"strconv"
	"strings"
	"testing"
)

// TestObjectReadsMembersAsAStructDecoderWould: each accessor takes the
// plausible shapes of a member (absent, null, the type, a number as a
// string), fails the record naming the member for another type, and
// reads escapes, invalid UTF-8 and repeated keys as encoding/json does.
func TestObjectReadsMembersAsAStructDecoderWould(t *testing.T) {
	n := NewNormalizer(Options{})
	for _, c := range []struct {
		data string
		read func(Object) string
		want string
		err  string // in Fields.Err, "" for none
	}{
		{`{"a":"x"}`, str("a"), "x", ""},
		{`{"a":"caf\u00e9 \"q\" \ud83d\ude00"}`, str("a"), `café "q" 😀`, ""},
		{"{\"a\":\"\xff\"}", str("a"), "\uFFFD", ""},
		{`{"a":"first","a":"last"}`, str("a"), "last", ""},
		{`{"a\u0062":"escaped key"}`, str("ab"), "escaped key", ""},
		{`{}`, nullStr("a"), "NULL", ""},
		{`{"a":null}`, nullStr("a"), "NULL", ""},
		{`{"a":""}`, nullStr("a"), `""`, ""},
		{`{"a":5}`, str("a"), "", "a 5 is a JSON number, not a string"},
		{`{"a":{"b":1}}`, nullStr("a"), "NULL", `a {"b":1} is a JSON object, not a string`},
		{`{"p":1.50000}`, dec("p"), "1.5", ""},
		{`{"p":"-0.0025 "}`, dec("p"), "-0.0025", ""},
		{`{"p":1e3}`, dec("p"), "1000", ""},
		{`{"p":""}`, dec("p"), "NULL", ""},
		{`{"p":null}`, dec("p"), "NULL", ""},
		{`{"p":true}`, dec("p"), "NULL", "p true is not a decimal number"},
		{`{"p":"abc"}`, dec("p"), "NULL", `p "abc" is not a decimal number`},
		{`{"t":"2026-01-02T03:04:05Z"}`, ts("t"), "1767323045000000", ""},
		{`{"t":"2026-01-02T03:04:05.5+01:00"}`, ts("t"), "1767319445500000", ""},
		{`{"t":""}`, ts("t"), "NULL", ""},
		{`{"t":"yesterday"}`, ts("t"), "NULL", `t "yesterday" is not an RFC 3339 timestamp`},
		{`{"t":17}`, ts("t"), "NULL", "t 17 is a JSON number, not an RFC 3339 timestamp"},
	} {
		var f Fields
		o, err := n.Parse([]byte(c.data), &f)
		if err != nil {
			t.Errorf("%s: %v", c.data, err)
			continue
		}
		got := c.read(o)
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.data, got, c.want)
		}
		var gotErr string
		if err := f.Err(); err != nil {
			gotErr = err.Error()
		}
		if gotErr != c.err {
			t.Errorf("%s: error %q, want %q", c.data, gotErr, c.err)
		}
	}
}

// TestParseRefusesWhatIsNotAnObject: malformed JSON (strictly: a bad
// escape or a raw control character, which a lenient parser would pass)
// and JSON that is not an object are decode errors.
func TestParseRefusesWhatIsNotAnObject(t *testing.T) {
	n := NewNormalizer(Options{})
	for data, want := range map[string]string{
		`{"a":"x"`:        "malformed JSON",
		`{"a":"\x"}`:      "malformed JSON",
		"{\"a\":\"\t\"}":  "malformed JSON",
		`{"a":1} {"b":2}`: "malformed JSON",
		`[1,2]`:           "a JSON array, not an object",
		`null`:            "a JSON null, not an object",
	} {
		_, err := n.Parse([]byte(data), &Fields{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", data, err, want)
		}
	}
}

// TestObjectStringsOutliveTheRecord: the strings an Object returns stay
// intact after the next record is parsed (they are kept in maps and
// group keys).
func TestObjectStringsOutliveTheRecord(t *testing.T) {
	n := NewNormalizer(Options{})
	var kept []string
	for _, data := range []string{`{"sid":"AC1"}`, `{"sid":"AC2"}`, `{"sid":"AC1"}`, `{"sid":"XX9"}`} {
		o, err := n.Parse([]byte(data), &Fields{})
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, o.String("sid"))
	}
	if got := strings.Join(kept, ","); got != "AC1,AC2,AC1,XX9" {
		t.Fatalf("strings after later records: %s", got)
	}
}

func str(key string) func(Object) string { return func(o Object) string { return o.String(key) } }

func nullStr(key string) func(Object) string {
	return func(o Object) string {
		s := o.NullString(key)
		if !s.Valid {
			return "NULL"
		}
		if s.S == "" {
			return `""`
		}
		return s.S
	}
}

func dec(key string) func(Object) string {
	return func(o Object) string {
		d := o.Decimal(key)
		if !d.Valid {
			return "NULL"
		}
		return FormatDecimal(d.Num)
	}
}

func ts(key string) func(Object) string {
	return func(o Object) string {
		v := o.Timestamp(key)
		if !v.Valid {
			return "NULL"
		}
		return strconv.FormatInt(v.Micros, 10)
	}
}

// TestValidateJSONQuotesNoInput: the error of malformed JSON says what is
// wrong but shows none of the line, which may hold a secret (an accounts
// record's auth_token from another connector).
func TestValidateJSONQuotesNoInput(t *testing.T) {
	const secret = "s3cr3tt0ken0123456789abcdef"
	for data, want := range map[string]string{
		`{"auth_token":"` + secret + `","x":t` + secret + `}`:  "malformed JSON: unexpected value found",
		`{"auth_token":"` + secret + `"} trailing ` + secret:   "malformed JSON: unexpected tail",
		`{"auth_token":"` + secret + `","bad":"\q"}`:           "malformed JSON: unknown escape sequence",
		`{"auth_token":"` + secret + `","n":1.}`:               "malformed JSON: expecting 0..9 digit in fractional part",
		`{"auth_token":"` + secret + `"` + "\n" + secret + `}`: "malformed JSON: missing ',' after object value",
	} {
		err := ValidateJSON([]byte(data))
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "s3cr") {
			t.Errorf("%q: error %v, want one starting %q that quotes none of the input", data, err, want)
		}
	}
	if err := ValidateJSON([]byte(`{"a":[1,"b",null,{"c":true}]}`)); err != nil {
		t.Errorf("valid JSON: %v", err)
	}
}
