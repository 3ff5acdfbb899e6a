package report_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/spec"
)

// testNow is the clock of every test warehouse: data is generated for
// it, so results do not move with the day the tests run.
var testNow = time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)

// syncEmulator syncs the Twilio emulator into a new DuckDB warehouse at
// path ("" for a temporary file).
func syncEmulator(t testing.TB, opts twiliotest.Options, path string) (*duckdb.Destination, *twiliotest.Server) {
	t.Helper()
	ctx := context.Background()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	emu := twiliotest.NewTestServer(t, opts)
	cfg, err := spec.Load(emu.ConnectorConfig(emu.URL()), opts.Now())
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := cfg.Credentials()
	api, err := twilio.New(twilio.Options{Username: user, Password: pass, AccountSID: cfg.AccountSID, BaseURL: cfg.BaseURL, MaxConcurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		path = filepath.Join(t.TempDir(), "twilio.duckdb")
	}
	d, err := duckdb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	conn := connector.New(cfg, api, nil)
	conn.SetClock(opts.Now)
	if _, err := pipeline.Sync(ctx, conn, d, pipeline.Options{MainAccountSID: cfg.AccountSID, Now: opts.Now}); err != nil {
		t.Fatal(err)
	}
	return d, emu
}
