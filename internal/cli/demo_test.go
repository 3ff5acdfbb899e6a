package cli

import (
	"bytes"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/summary"
	"github.com/twilio-elt/twilio-elt/transforms"
)

func amount(t *testing.T, s string) decimal128.Num {
	t.Helper()
	n, err := transforms.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// section returns the lines of the summary from the one starting with
// heading to the next blank line.
func section(out, heading string) []string {
	_, rest, _ := strings.Cut(out, "\n"+heading)
	block, _, _ := strings.Cut(rest, "\n\n")
	return strings.Split(block, "\n")[1:]
}

// cents reads "  name   12.34 USD" as 1234, false for other lines.
func centsOf(t *testing.T, line string) (int64, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || f[len(f)-1] != "USD" {
		return 0, false
	}
	r, ok := new(big.Rat).SetString(f[len(f)-2])
	if !ok {
		t.Fatalf("not an amount: %q", line)
	}
	r.Mul(r, big.NewRat(100, 1))
	return r.Num().Int64(), true
}

// TestSummaryAddsUpOnScreen: the lines of each list add up, to the cent,
// to the total printed under them, which is the total at the top.
func TestSummaryAddsUpOnScreen(t *testing.T) {
	usd := func(name, sid, v string) summary.Spend {
		return summary.Spend{Name: name, SID: sid, Amount: amount(t, v), Currency: "USD"}
	}
	s := summary.Summary{
		From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 30, 0, 0, 0, 0, time.UTC),
		Total: []summary.Spend{usd("", "", "31843.145000000")},
		ByAccount: []summary.Spend{usd("Acme IoT", "AC1", "18809.585"), usd("Acme IoT Production", "AC2", "12675.035"),
			usd("Acme IoT Staging", "AC3", "358.525")},
		ByService: []summary.Spend{usd("Wireless/IoT", "", "21883.404"), usd("Messaging", "", "9959.231"),
			usd(transforms.OtherGroup, "", "0.004"), usd(summary.Unattributed, "", "0.506")},
		Accounts: []summary.Account{{SID: "AC1", Name: "Acme IoT", Status: "active", IsMain: true}, {SID: "AC2", Name: "Acme IoT Production", Status: "active"},
			{SID: "AC3", Name: "Acme IoT Staging", Status: "suspended"}, {SID: "AC4", Name: "Acme IoT Legacy", Status: "closed"},
			{SID: "AC5", Name: "Partner Billing", Status: "active"}},
		DataBilled: amount(t, "195.234"), DataCurrency: "USD",
	}
	skipped := []connector.Skipped{{Stream: "usage_records", Partition: "AC5", Reason: "Twilio answers 404 for its usage"}}
	var b bytes.Buffer
	printSummary(&b, s, "w.duckdb", 10, skipped, "")
	out := b.String()

	if !strings.Contains(out, "Total: 31843.15 USD\n") {
		t.Fatalf("total line:\n%s", out)
	}
	for _, heading := range []string{"By service", "By account"} {
		var sum int64
		var last int64
		lines := 0
		for _, line := range section(out, heading) {
			c, ok := centsOf(t, line)
			if !ok {
				continue
			}
			if strings.TrimSpace(line) == "31843.15 USD" {
				last = c
				continue
			}
			sum += c
			lines++
		}
		if last != 3184315 || sum != last {
			t.Errorf("%s: %d lines add up to %d cents, the total under them is %d, at the top 3184315:\n%s", heading, lines, sum, last, out)
		}
	}
	for _, want := range []string{
		"(rounding each line above to the cent)",
		"Other: categories in none of the groups above",
		"Unattributed: part of Twilio's totalprice that no usage category accounts for.",
		"Partner Billing (AC5): skipped: Twilio answers 404 for its usage",
		"Acme IoT Legacy (AC4): no usage in these days (closed)",
		"SIM data:", "billed 195.23 USD", "data only, on the main account's own SIMs",
		`Query it: twilio-elt query --path w.duckdb "SELECT`,
		"Check it: twilio-elt verify --path w.duckdb",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Acme IoT Staging (AC3)") {
		t.Errorf("an account with usage is listed as left out:\n%s", out)
	}
}

func TestCents(t *testing.T) {
	for in, want := range map[string]string{
		"0.005": "0.01", "0.0049": "0.00", "-0.005": "-0.01", "-0.004": "0.00", "1234.565": "1234.57", "0": "0.00", "99.995": "100.00",
	} {
		if got := money(cents(amount(t, in)), ""); got != want {
			t.Errorf("money(cents(%s)) = %q, want %q", in, got, want)
		}
	}
}

func TestInvocation(t *testing.T) {
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "cmd", "twilio-elt"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "twilio-elt")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	goRun := filepath.Join(os.TempDir(), "go-build2873498/b001/exe/twilio-elt")
	lookPath := execLookPath
	t.Cleanup(func() { execLookPath = lookPath })
	tests := []struct {
		name, program, dir, onPath, want string
	}{
		{"unknown", "", repo, "", "twilio-elt"},
		{"go run in the repository", goRun, repo, "", "go run ./cmd/twilio-elt"},
		{"go run elsewhere", goRun, t.TempDir(), "", "go run github.com/twilio-elt/twilio-elt/cmd/twilio-elt@latest"},
		{"found on PATH", "twilio-elt", repo, "", "twilio-elt"},
		{"a path, the same file as on PATH", bin, repo, bin, "twilio-elt"},
		{"a path not on PATH", "./bin/twilio-elt", repo, "", "./bin/twilio-elt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(tt.dir)
			execLookPath = func(string) (string, error) {
				if tt.onPath == "" {
					return "", os.ErrNotExist
				}
				return tt.onPath, nil
			}
			if got := invocation(tt.program); got != tt.want {
				t.Errorf("invocation(%q) = %q, want %q", tt.program, got, tt.want)
			}
		})
	}
}
