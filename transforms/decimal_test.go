package transforms

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{in: "0", want: "0"},
		{in: "-0.00750", want: "-0.0075"},
		{in: "12.5", want: "12.5"},
		{in: "1e-5", want: "0.00001"},
		{in: "1.5E3", want: "1500"},
		{in: "0.123456789", want: "0.123456789"},
		{in: "0.1234567890000", want: "0.123456789"},
		{in: "12345678901234567890.123456789", want: "12345678901234567890.123456789"},
		{in: "99999999999999999999999999999.999999999", want: "99999999999999999999999999999.999999999"},
		{in: "-99999999999999999999999999999.999999999", want: "-99999999999999999999999999999.999999999"},
		{in: "100000000000000000000000000000", err: errTooLarge},
		{in: "0.0000000001", err: errTooPrecise},
		{in: "1.23456789012", err: errTooPrecise},
		{in: "abc", err: errNotNumber},
		{in: "", err: errNotNumber},
		{in: "1.", err: errNotNumber},
		{in: ".", err: errNotNumber},
		{in: "1.2.3", err: errNotNumber},
		{in: "1e", err: errNotNumber},
		{in: "NaN", err: errNotNumber},
	} {
		got, err := ParseDecimal(tc.in)
		if !errors.Is(err, tc.err) {
			t.Errorf("ParseDecimal(%q) error = %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err == nil {
			if diff := cmp.Diff(tc.want, FormatDecimal(got)); diff != "" {
				t.Errorf("ParseDecimal(%q) (-want +got):\n%s", tc.in, diff)
			}
		}
	}
}

func TestToInt64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"123456789", 123456789, nil},
		{"-42", -42, nil},
		{"7.000", 7, nil},
		{"7.5", 0, errNotInteger},
		{"1e19", 0, errIntTooLarge},
	} {
		d, err := ParseDecimal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := toInt64(d)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("toInt64(%s) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
