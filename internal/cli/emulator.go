package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

// runEmulator serves the Twilio emulator until ctx ends. Its first
// stdout line is a connector config pointing at it.
func runEmulator(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("emulator")
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address`")
	seed := fs.Int64("seed", 1, "data seed: the same seed gives the same data")
	subaccounts := fs.Int("subaccounts", 5, "number of subaccounts")
	days := fs.Int("days", 120, "days of usage history, ending today")
	sims := fs.Int("sims", 20, "number of SIMs")
	superSIMs := fs.Int("super-sims", 20, "number of Super SIMs")
	latency := fs.Duration("latency", 0, "added to every request")
	limit := fs.Int("concurrency-limit", 0, "requests in flight beyond this get 429 (0: no limit)")
	faultRate := fs.Float64("fault-rate", 0, "probability of an injected fault per request, of a kind drawn from -faults (seeded)")
	faultKinds := fs.String("faults", "500,503,429,truncated,slow", "the fault `kinds` to draw from, comma-separated, or all: "+
		strings.Join(faultKindNames(), ", "))
	unauthorizedFrom := fs.Int("unauthorized-from", 0, "answer 401 from the `N`th authenticated request on, as a key revoked mid-run (0: never)")
	var spikes []twiliotest.Spike
	fs.Func("spike", "inject a burst of usage, `KIND:ACCOUNT_INDEX:DAYS_AGO:FACTOR` (kind sms, calls or data; account 0 is the main one); repeatable", func(v string) error {
		sp, err := twiliotest.ParseSpike(v)
		if err == nil {
			spikes = append(spikes, sp)
		}
		return err
	})
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	opts := twiliotest.Options{
		Seed:             *seed,
		Subaccounts:      *subaccounts,
		Days:             *days,
		SIMs:             *sims,
		SuperSIMs:        *superSIMs,
		Latency:          *latency,
		ConcurrencyLimit: *limit,
		Spikes:           spikes,
	}
	kinds, err := twiliotest.ParseFaultKinds(*faultKinds)
	if err != nil {
		fmt.Fprintf(sys.Stderr, "emulator: -faults: %v\n", err)
		return 2
	}
	opts.Faults = twiliotest.Faults{Rate: *faultRate, Kinds: kinds, UnauthorizedFrom: *unauthorizedFrom}
	srv := twiliotest.New(opts)
	url, err := srv.Start(*addr)
	if err != nil {
		fmt.Fprintf(sys.Stderr, "emulator: %v\n", err)
		return 1
	}
	defer srv.Close()
	fmt.Fprintf(sys.Stdout, "%s\n", srv.ConnectorConfig(url))
	fmt.Fprintf(sys.Stderr, "Twilio emulator serving on %s (seed %d, %d subaccounts, %d days, %d SIMs, %d Super SIMs); interrupt to stop\n",
		url, *seed, *subaccounts, *days, *sims, *superSIMs)
	for _, sp := range srv.InjectedSpikes() {
		fmt.Fprintf(sys.Stderr, "spike %s: %s on %s gained %d × %s, %s USD\n", sp.Spike, sp.AccountSID, sp.Date, sp.Count, sp.Category, sp.Price)
	}
	if n := len(spikes) - len(srv.InjectedSpikes()); n > 0 {
		fmt.Fprintf(sys.Stderr, "%d spikes fell on days without usage (no such account, or before it was created or after it closed) and were not injected\n", n)
	}
	<-ctx.Done()
	return 0
}

func faultKindNames() []string {
	var out []string
	for _, k := range twiliotest.FaultKinds() {
		out = append(out, k.String())
	}
	return out
}
