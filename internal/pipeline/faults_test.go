package pipeline_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/spec"
)

var update = flag.Bool("update", false, "rewrite the README's reliability table")

// faultCase is a row of the fault matrix: a fault the emulator injects,
// and what a sync must come to under it.
type faultCase struct {
	faults twiliotest.Faults
	sends  string // what the emulator sends, for the table
	// fails: the sync exits non-zero with an error containing message,
	// and a clean rerun gives the clean tables; else the sync gives them
	// itself.
	fails   bool
	message string
}

// faultSends says what each kind sends, for the table.
var faultSends = map[twiliotest.FaultKind]string{
	twiliotest.Fault500:        "500, code 20500",
	twiliotest.Fault503:        "503, code 20503",
	twiliotest.Fault429:        "429, code 20429, `Retry-After: 1`",
	twiliotest.FaultTruncated:  "200 whose body stops halfway, then the connection closes",
	twiliotest.FaultSlow:       "the answer after 2 s (beyond the test's 1 s header timeout)",
	twiliotest.FaultReset:      "the connection closed before any answer",
	twiliotest.FaultHang:       "no answer at all",
	twiliotest.FaultHTML502:    "502 with a proxy's HTML page",
	twiliotest.FaultNonJSON:    "200 with an HTML page",
	twiliotest.FaultNoRecords:  "200 page whose records key is missing, `null` or an object, or `{}`",
	twiliotest.FaultDuplicates: "200 page with records repeated in it",
	twiliotest.FaultRepeatPage: "200 page whose next page is the listing's first",
	twiliotest.FaultSelfPage:   "200 page whose next page is itself",
}

func faultMatrix() []faultCase {
	var cases []faultCase
	for _, k := range twiliotest.FaultKinds() {
		cases = append(cases, faultCase{faults: twiliotest.Faults{Rate: 0.25, Kinds: []twiliotest.FaultKind{k}}, sends: faultSends[k]})
	}
	persistent := []struct {
		kind    twiliotest.FaultKind
		message string
	}{
		{twiliotest.Fault503, "503"},
		{twiliotest.FaultHang, "Twilio has not answered any request"},
		{twiliotest.FaultNonJSON, "expected a JSON object, got"},
		{twiliotest.FaultNoRecords, "the page breaks Twilio's contract"},
		{twiliotest.FaultSelfPage, "was already read in this listing"},
	}
	for _, p := range persistent {
		cases = append(cases, faultCase{
			faults: twiliotest.Faults{Rate: 1, Kinds: []twiliotest.FaultKind{p.kind}},
			sends:  faultSends[p.kind] + ", every time", fails: true, message: p.message,
		})
	}
	return append(cases, faultCase{
		faults: twiliotest.Faults{UnauthorizedFrom: 6},
		sends:  "401, code 20003, from the 6th request on (a key revoked mid-run)", fails: true, message: "401",
	})
}

func (c faultCase) kind() string {
	if c.faults.UnauthorizedFrom > 0 {
		return "401 from request N"
	}
	return c.faults.Kinds[0].String()
}

func (c faultCase) result() string {
	if !c.fails {
		return "tables identical to a clean sync"
	}
	return fmt.Sprintf("exit non-zero, the error says %q; a clean rerun gives identical tables", c.message)
}

// TestFaultMatrix syncs under each fault of the emulator, one at a time,
// and compares the tables with a clean sync's. A fault injected at 25%
// of requests is retried away: identical tables. One injected every
// time fails the sync with an error that names it, nothing is taken for
// read that was not, and a clean sync afterwards gives identical tables.
// The README's reliability table is this matrix.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix takes a minute")
	}
	ctx := context.Background()
	clock := time.Now().UTC()
	opts := twiliotest.Options{Seed: 11, Subaccounts: 2, Days: 40, SIMs: 3, Now: func() time.Time { return clock }}
	sync := func(t *testing.T, emu *twiliotest.Server, path string) error {
		cfg, err := spec.Load(emu.ConnectorConfig(emu.URL()), clock)
		if err != nil {
			t.Fatal(err)
		}
		user, pass, _ := cfg.Credentials()
		api, err := twilio.New(twilio.Options{
			Username: user, Password: pass, AccountSID: cfg.AccountSID, BaseURL: cfg.BaseURL, MaxConcurrency: 4,
			BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxRetryAfter: time.Second,
			HeaderTimeout: time.Second, SilenceLimit: 4 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		conn := connector.New(cfg, api, nil)
		conn.SetClock(func() time.Time { return clock })
		dest := openDBAt(t, path)
		defer dest.Close()
		_, err = pipeline.Sync(ctx, conn, dest, pipeline.Options{MainAccountSID: cfg.AccountSID, MaxRows: 2000})
		return err
	}
	sums := func(t *testing.T, path string) map[string]string {
		d := openDBAt(t, path)
		defer d.Close()
		return checksums(t, d)
	}

	cleanPath := filepath.Join(t.TempDir(), "clean.duckdb")
	if err := sync(t, twiliotest.NewTestServer(t, opts), cleanPath); err != nil {
		t.Fatal(err)
	}
	clean := sums(t, cleanPath)

	cases := faultMatrix()
	for _, c := range cases {
		t.Run(c.kind()+map[bool]string{true: "-always"}[c.fails], func(t *testing.T) {
			t.Parallel()
			o := opts
			o.Faults = c.faults
			emu := twiliotest.NewTestServer(t, o)
			path := filepath.Join(t.TempDir(), "faulty.duckdb")
			err := sync(t, emu, path)
			switch {
			case c.fails && err == nil:
				t.Fatalf("the sync succeeded under %s", c.sends)
			case c.fails && !strings.Contains(err.Error(), c.message):
				t.Fatalf("error %q does not say %q", err, c.message)
			case !c.fails && err != nil:
				t.Fatalf("sync under %s: %v", c.sends, err)
			}
			if c.fails {
				emu.SetFaults(twiliotest.Faults{})
				if err := sync(t, emu, path); err != nil {
					t.Fatalf("clean rerun: %v", err)
				}
			}
			if diff := cmp.Diff(clean, sums(t, path)); diff != "" {
				t.Errorf("tables differ from a clean sync's (-clean +faulty):\n%s", diff)
			}
		})
	}
	t.Run("README", func(t *testing.T) { checkReliabilityTable(t, cases) })
}

var reliabilitySection = regexp.MustCompile(`(?s)<!-- reliability:start -->\n.*<!-- reliability:end -->`)

// checkReliabilityTable holds the README's table to the matrix, or
// rewrites it with -update.
func checkReliabilityTable(t *testing.T, cases []faultCase) {
	var b strings.Builder
	b.WriteString("<!-- reliability:start -->\n| fault (`-faults`) | what the emulator sends | rate | result |\n|---|---|---|---|\n")
	for _, c := range cases {
		rate := fmt.Sprintf("%g%%", c.faults.Rate*100)
		if c.faults.UnauthorizedFrom > 0 {
			rate = "—"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.kind(), c.sends, rate, c.result())
	}
	b.WriteString("<!-- reliability:end -->")
	const readme = "../../README.md"
	text, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	got := reliabilitySection.Find(text)
	if got == nil {
		t.Fatal("README.md has no <!-- reliability:start --> … <!-- reliability:end --> section")
	}
	if string(got) == b.String() {
		return
	}
	if !*update {
		t.Fatalf("README.md's reliability table is out of date: run go test ./internal/pipeline -run TestFaultMatrix -update\n%s", cmp.Diff(string(got), b.String()))
	}
	out := reliabilitySection.ReplaceAllLiteral(text, []byte(b.String()))
	if err := os.WriteFile(readme, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func openDBAt(t *testing.T, path string) *duckdb.Destination {
	t.Helper()
	d, err := duckdb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
