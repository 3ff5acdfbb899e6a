package twilio_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/twilio"
)

func TestDecimalDecode(t *testing.T) {
	tests := []struct {
		in        string // JSON text
		want      string // String()
		wantValid bool
		wantJSON  string // MarshalJSON
	}{
		{`"-0.00750"`, "-0.00750", true, `-0.00750`},
		{`"498.84515"`, "498.84515", true, `498.84515`},
		{`"0"`, "0", true, `0`},
		{`"0.000"`, "0.000", true, `0.000`},
		{`"1000000000000000000000.000000001"`, "1000000000000000000000.000000001", true, `1000000000000000000000.000000001`},
		{`"1.5e3"`, "1.5e3", true, `1.5e3`},
		{`-0.00750`, "-0.00750", true, `-0.00750`},
		{`498.84515`, "498.84515", true, `498.84515`},
		{`12`, "12", true, `12`},
		{`1E-7`, "1E-7", true, `1E-7`},
		{`""`, "", false, `null`},
		{`null`, "", false, `null`},
	}
	for _, tt := range tests {
		var d twilio.Decimal
		if err := json.Unmarshal([]byte(tt.in), &d); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Errorf("Marshal(%s): %v", tt.in, err)
			continue
		}
		got := []any{d.String(), d.Valid(), string(out)}
		if diff := cmp.Diff([]any{tt.want, tt.wantValid, tt.wantJSON}, got); diff != "" {
			t.Errorf("decode %s: (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestDecimalInStruct(t *testing.T) {
	var rec twilio.UsageRecord
	in := `{"account_sid":"AC1","category":"sms","start_date":"2026-01-01","count":"12","usage":498.84515,"price":"-0.00750"}`
	if err := json.Unmarshal([]byte(in), &rec); err != nil {
		t.Fatal(err)
	}
	type money struct {
		Count, Usage, Price twilio.Decimal
		Missing             twilio.Decimal
	}
	out, err := json.Marshal(money{rec.Count, rec.Usage, rec.Price, twilio.Decimal{}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`{"Count":12,"Usage":498.84515,"Price":-0.00750,"Missing":null}`, string(out)); diff != "" {
		t.Errorf("re-encoded (-want +got):\n%s", diff)
	}
}

func TestDecimalRejects(t *testing.T) {
	for _, in := range []string{
		`"abc"`, `"1.2.3"`, `"+1"`, `"1."`, `".5"`, `"01"`, `" 1"`, `"1 "`, `"NaN"`, `"Infinity"`,
		`"1e"`, `"0x10"`, `"1,000.00"`, `"$1.00"`, `true`, `{}`, `[]`, `"\u0031\u002e"`,
	} {
		var d twilio.Decimal
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("Unmarshal(%s) = %q, want an error", in, d)
		}
	}
	for _, in := range []string{"abc", "1.2.3", "+1", "", "-", "1e+"} {
		if d, err := twilio.DecimalOf(in); err == nil {
			t.Errorf("DecimalOf(%q) = %q, want an error", in, d)
		} else if in != "" && !strings.Contains(err.Error(), in) {
			t.Errorf("DecimalOf(%q) error %q does not name the value", in, err)
		}
	}
	for _, in := range []string{"0", "-0.00750", "498.84515", "1e10", "-1.5E-3"} {
		d, err := twilio.DecimalOf(in)
		if err != nil || d.String() != in {
			t.Errorf("DecimalOf(%q) = %q, %v", in, d, err)
		}
	}
}

func TestTimestamps(t *testing.T) {
	var ts struct {
		A, B, C twilio.Timestamp
		D, E, F twilio.RFC2822
	}
	in := `{"A":"2026-11-24T03:00:00+00:00","B":"2026-11-24T05:00:00+02:00","C":"",
		"D":"Tue, 09 May 2023 12:03:47 +0000","E":"2023-05-09T12:03:47Z","F":null}`
	if err := json.Unmarshal([]byte(in), &ts); err != nil {
		t.Fatal(err)
	}
	got := []string{ts.A.Format("2006-01-02T15:04:05Z07:00"), ts.B.Format("2006-01-02T15:04:05Z07:00"), ts.D.Format("2006-01-02T15:04:05Z07:00"), ts.E.Format("2006-01-02T15:04:05Z07:00")}
	want := []string{"2026-11-24T03:00:00Z", "2026-11-24T03:00:00Z", "2023-05-09T12:03:47Z", "2023-05-09T12:03:47Z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timestamps (-want +got):\n%s", diff)
	}
	if !ts.C.IsZero() || !ts.F.IsZero() {
		t.Errorf("empty timestamps = %v, %v; want zero", ts.C, ts.F)
	}
	for _, bad := range []string{`{"A":"yesterday"}`, `{"A":5}`, `{"D":"09/05/2023"}`} {
		if err := json.Unmarshal([]byte(bad), &ts); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}
