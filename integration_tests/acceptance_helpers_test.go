package integration_tests

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

// acceptanceLookback is the lookback_days of the acceptance configs. It
// is above the SIM stream's minimum of 2 days, so every incremental
// stream re-reads exactly this many days before its cursor.
const acceptanceLookback = 3

// acceptanceEmulator serves a small account: the main account, two
// subaccounts, three SIMs, 40 days (two date windows per partition).
func acceptanceEmulator(t *testing.T) (*twiliotest.Server, string) {
	t.Helper()
	return emulatorConfig(t, twiliotest.Options{Seed: 7, Subaccounts: 2, Days: 40, SIMs: 3, SuperSIMs: 4}, func(c map[string]any) {
		c["lookback_days"] = acceptanceLookback
	})
}

// dayOf parses a cursor or record date (a date or an RFC 3339 time) to
// its UTC day.
func dayOf(t *testing.T, v string) time.Time {
	t.Helper()
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		return d
	}
	ts, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("%q is neither a date nor an RFC 3339 time", v)
	}
	return ts.UTC().Truncate(24 * time.Hour)
}

// checkNotBeforeCursors fails for any record of stream older than its
// partition's cursor less the lookback. It returns how many records had
// a cursor to compare with.
func checkNotBeforeCursors(t *testing.T, stream string, records []map[string]any, cursors map[string]string) int {
	t.Helper()
	s, ok := connector.Catalog().Lookup(stream)
	if !ok || s.Cursor == "" {
		t.Fatalf("stream %s has no cursor", stream)
	}
	n := 0
	for _, rec := range records {
		part, _ := rec[s.PartitionKey].(string)
		c, ok := cursors[part]
		if !ok {
			continue
		}
		n++
		v, _ := rec[s.Cursor].(string)
		floor := dayOf(t, c).AddDate(0, 0, -acceptanceLookback)
		if dayOf(t, v).Before(floor) {
			t.Errorf("%s record of %s has %s %s, before cursor %s less %d days", stream, part, s.Cursor, v, c, acceptanceLookback)
			return n
		}
	}
	return n
}

// incrementalStreams are the streams with a cursor.
func incrementalStreams() []string {
	var out []string
	for _, s := range connector.Catalog() {
		if s.Cursor != "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// withoutVolatile returns records as sorted JSON strings, without the
// fields that change from one read to the next (as_of: when Twilio
// computed the row).
func withoutVolatile(t *testing.T, records []map[string]any) []string {
	t.Helper()
	var out []string
	for _, r := range records {
		c := map[string]any{}
		for k, v := range r {
			if k != "as_of" {
				c[k] = v
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// futureCursor is a cursor far in the future in the layout of stream's
// cursor.
// clampedCursors returns, per partition of stream, the cursor a future one
// is moved back to: the last complete UTC day.
func clampedCursors(emu *twiliotest.Server, stream string) map[string]string {
	yesterday := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	layout := cursorLayout(stream)
	out := map[string]string{}
	for _, p := range partitionsOf(emu, stream) {
		out[p] = yesterday.Format(layout)
	}
	return out
}

func futureCursor(stream string) string {
	return time.Date(2999, 12, 31, 0, 0, 0, 0, time.UTC).Format(cursorLayout(stream))
}

// cursorLayout is how stream's cursors are written, from its cursor
// policy in the registry.
func cursorLayout(stream string) string {
	s, _ := connector.Lookup(stream)
	return s.Cursor.Layout
}

// partitionsOf returns the emulator's partitions of stream.
func partitionsOf(emu *twiliotest.Server, stream string) []string {
	var out []string
	switch stream {
	case connector.UsageRecords:
		for _, a := range emu.Accounts() {
			out = append(out, a.SID)
		}
	case connector.SIMUsageRecords:
		for _, s := range emu.SIMs() {
			out = append(out, s.SID)
		}
	case connector.SuperSIMUsageRecords:
		// One listing per window covers the fleet of the account the
		// credentials belong to.
		out = append(out, emu.MainAccountSID())
	}
	return out
}

// secretsOf returns every account's auth token: none may be printed.
func secretsOf(emu *twiliotest.Server) []string {
	var out []string
	for _, a := range emu.Accounts() {
		out = append(out, a.AuthToken)
	}
	return out
}

func checkNoSecrets(t *testing.T, secrets []string, outputs ...[]byte) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, o := range outputs {
			if strings.Contains(string(o), s) {
				t.Errorf("a secret (%s…) was printed", s[:min(4, len(s))])
			}
		}
	}
}
