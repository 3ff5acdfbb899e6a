package twiliotest

import (
	"math/big"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSpike(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Spike
		wantErr bool
	}{
		{in: "sms:3:2:20", want: Spike{Kind: SpikeSMS, Account: 3, DaysAgo: 2, Factor: 20}},
		{in: "calls:0:0:1.5", want: Spike{Kind: SpikeCalls, Account: 0, DaysAgo: 0, Factor: 1.5}},
		{in: "data:1:10:4", want: Spike{Kind: SpikeData, Account: 1, DaysAgo: 10, Factor: 4}},
		{in: "sms:3:2", wantErr: true},
		{in: "fax:3:2:20", wantErr: true},
		{in: "sms:-1:2:20", wantErr: true},
		{in: "sms:1:x:20", wantErr: true},
		{in: "sms:1:2:1", wantErr: true},
		{in: "sms:1:2:NaN", wantErr: true},
	} {
		got, err := ParseSpike(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseSpike(%q): error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseSpike(%q) (-want +got):\n%s", tc.in, diff)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseSpike(%q).String() = %q", tc.in, got.String())
		}
	}
}

// A spike raises its category and every roll-up above it, up to
// totalprice, by the same price on its day and nowhere else, so the day
// still reconciles; the same seed with and without it is otherwise the
// same data.
func TestSpikeKeepsTheHierarchyConsistent(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC) }
	base := Options{Seed: 5, Subaccounts: 5, Days: 40, Now: now}
	spiked := base
	spiked.Spikes = []Spike{{Kind: SpikeSMS, Account: 4, DaysAgo: 3, Factor: 30}, {Kind: SpikeCalls, Account: 0, DaysAgo: 1, Factor: 5}}
	plain, burst := New(base), New(spiked)

	in := burst.InjectedSpikes()
	if len(in) != 2 {
		t.Fatalf("injected %+v, want both spikes", in)
	}
	chains := map[string][]string{
		"sms-outbound-longcode": {"sms-outbound-longcode", "sms-outbound", "sms", "totalprice"},
		"calls-outbound":        {"calls-outbound", "calls", "totalprice"},
	}
	accounts := burst.Accounts()
	for _, sp := range in {
		if sp.AccountSID != accounts[sp.Account].SID || sp.Date != now().AddDate(0, 0, -sp.DaysAgo).Format(dateLayout) {
			t.Errorf("spike %+v landed on the wrong account or day", sp)
		}
	}
	for _, a := range accounts {
		before, after := plain.UsageRecords(a.SID), burst.UsageRecords(a.SID)
		if len(before) != len(after) {
			t.Fatalf("%s: %d records with the spike, %d without", a.SID, len(after), len(before))
		}
		for i := range before {
			b, s := before[i], after[i]
			want := "0"
			for _, sp := range in {
				if sp.AccountSID == a.SID && sp.Date == s.Date.Format(dateLayout) {
					for _, c := range chains[sp.Category] {
						if c == s.Category {
							want = sp.Price
						}
					}
				}
			}
			if got := ratDiff(t, s.Price, b.Price); got.Cmp(rat(t, want)) != 0 {
				if s.Category == "authy-sms-outbound" || s.Category == "channels" || s.Category == "authy-calls-outbound" {
					continue // overlays follow the categories they repeat
				}
				t.Errorf("%s %s %s: price rose by %s, want %s", a.SID, s.Date.Format(dateLayout), s.Category, got.FloatString(5), want)
			}
		}
	}
	if in[0].Count < 30 {
		t.Errorf("an SMS spike of 30× on a small subaccount added only %d messages", in[0].Count)
	}
}

func ratDiff(t *testing.T, a, b string) *big.Rat { return new(big.Rat).Sub(rat(t, a), rat(t, b)) }
