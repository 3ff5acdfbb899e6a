package integration_tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

// usageLine is one usage_records RECORD as `read` writes it.
func usageLine(sid, category, date, price string) string {
	return fmt.Sprintf(`{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":%q,"category":%q,"start_date":%q,"end_date":%q,"count":1,"count_unit":"messages","usage":1,"usage_unit":"messages","price":%s,"price_unit":"usd"},"emitted_at":1767225600000}}`,
		sid, category, date, date, price)
}

// verify passes on a sync of consistent data; a load whose children
// exceed their roll-up is reported by the loader as a WARN and fails
// verify, which names the day, the account and the roll-up.
func TestVerifyCommand(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 5, Subaccounts: 2, Days: 20, SIMs: 1}, nil)
	dir := t.TempDir()
	db := filepath.Join(dir, "twilio.duckdb")
	if r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", db); r.code != 0 {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	} else if strings.Contains(string(r.stderr), "does not reconcile") {
		t.Errorf("sync of consistent data warned:\n%s", r.stderr)
	}
	r := runIn(t, dir, nil, "verify", "--path", db)
	if r.code != 0 || !strings.Contains(string(r.stdout), "ok: every roll-up covers its children") {
		t.Fatalf("verify after sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	const sid = "AC0123456789abcdef0123456789abcdef"
	input := strings.Join([]string{
		usageLine(sid, "totalprice", "2026-01-05", "10.00000"),
		usageLine(sid, "sms", "2026-01-05", "5.00000"),
		usageLine(sid, "sms-outbound", "2026-01-05", "3.00000"),
		usageLine(sid, "sms-outbound-longcode", "2026-01-05", "4.00000"),
		usageLine(sid, "totalprice", "2026-01-06", "1.00000"),
		usageLine(sid, "verify-push", "2026-01-06", "2.50000"),
		`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{"states":[]}}}}`,
	}, "\n")
	r = runIn(t, dir, []byte(input), "load", "--path", db, "--account-sid", sid)
	if r.code != 0 {
		t.Fatalf("load: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"the children of sms-outbound exceed it by 1 USD", "attributed cost exceeds totalprice", "2026-01-05", "2026-01-06"} {
		if !strings.Contains(string(r.stderr), want) {
			t.Errorf("load's WARNs lack %q:\n%s", want, r.stderr)
		}
	}
	r = runIn(t, dir, nil, "verify", "--path", db, "--from", "2026-01-01", "--to", "2026-01-31")
	if r.code != 1 {
		t.Errorf("verify of a broken day: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"FAILED on 2 account-days",
		"2026-01-05 " + sid, "the children of sms-outbound exceed it by 1 USD",
		"2026-01-06 " + sid, "attributed cost exceeds totalprice 1 by 1.5 USD",
	} {
		if !strings.Contains(string(r.stdout), want) {
			t.Errorf("verify output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := runIn(t, dir, nil, "verify", "--path", db, "--from", "01/02/2026"); r.code != 2 || !strings.Contains(string(r.stderr), "--from") {
		t.Errorf("verify --from 01/02/2026: exit %d\n%s", r.code, r.stderr)
	}
}
