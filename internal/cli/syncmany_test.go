package cli

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want shard
		bad  bool
	}{
		{in: "", want: shard{0, 1}},
		{in: "0/2", want: shard{0, 2}},
		{in: "3/4", want: shard{3, 4}},
		{in: "2/2", bad: true},
		{in: "-1/2", bad: true},
		{in: "1/0", bad: true},
		{in: "1", bad: true},
		{in: "1/2x", bad: true},
		{in: "a/b", bad: true},
	} {
		got, err := parseShard(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("parseShard(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// Every account is in exactly one shard of n, the same one whatever the
// case of its SID, and n shards split 1000 accounts roughly evenly.
func TestShardSplitsAccounts(t *testing.T) {
	const n, accounts = 4, 1000
	counts := make([]int, n)
	for a := range accounts {
		sid := fmt.Sprintf("AC%032x", a*7919)
		in := 0
		for i := range n {
			s := shard{i, n}
			if s.has(sid) {
				in++
				counts[i]++
			}
			if s.has(sid) != s.has("AC"+fmt.Sprintf("%032X", a*7919)) {
				t.Errorf("%s: the case of the SID moves it", sid)
			}
		}
		if in != 1 {
			t.Fatalf("%s is in %d shards", sid, in)
		}
	}
	for i, c := range counts {
		if c < accounts/n/2 || c > accounts/n*3/2 {
			t.Errorf("shard %d/%d has %d of %d accounts: %v", i, n, c, accounts, counts)
		}
	}
	// The hash is part of the deployment contract: a worker of a new
	// version must pick the accounts an old one did.
	if diff := cmp.Diff([]bool{true, false}, []bool{shard{1, 2}.has("AC0123456789abcdef0123456789abcdef"), shard{0, 2}.has("AC0123456789abcdef0123456789abcdef")}); diff != "" {
		t.Errorf("pinned split (-want +got):\n%s", diff)
	}
}
