package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/protocol/airbyte"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/raw"
	"github.com/twilio-elt/twilio-elt/spec"
	"github.com/twilio-elt/twilio-elt/transforms"
)

func newConnector(t *testing.T, emu *twiliotest.Server) (*connector.Connector, spec.Config) {
	t.Helper()
	cfg, err := spec.Load(emu.ConnectorConfig(emu.URL()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg.StartDate = time.Now().UTC().AddDate(0, 0, -40).Format(spec.DateLayout)
	user, pass, _ := cfg.Credentials()
	api, err := twilio.New(twilio.Options{Username: user, Password: pass, AccountSID: cfg.AccountSID, BaseURL: cfg.BaseURL, MaxConcurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	return connector.New(cfg, api, nil), cfg
}

func openDB(t *testing.T, name string) *duckdb.Destination {
	t.Helper()
	d, err := duckdb.Open(context.Background(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func checksums(t *testing.T, d *duckdb.Destination) map[string]string {
	t.Helper()
	// as_of is when Twilio answered: it moves with every read.
	sums, err := d.Checksums(context.Background(), transforms.Tables(), "as_of")
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestSyncReadLoadAndRawAgree: a second sync changes nothing; loading the
// output of read gives the same tables; so does a rebuild from the raw
// archive.
func TestSyncReadLoadAndRawAgree(t *testing.T) {
	ctx := context.Background()
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 7, Subaccounts: 3, Days: 45, SIMs: 5})
	conn, cfg := newConnector(t, emu)
	opts := pipeline.Options{MainAccountSID: cfg.AccountSID, MaxRows: 500}

	synced := openDB(t, "sync.duckdb")
	rawDir := filepath.Join(t.TempDir(), "raw")
	archive := raw.NewWriter(rawDir, "run1")
	first := opts
	first.Archive = archive
	first.OnCommitted = func(s protocol.State) error { return archive.AppendState(s.Stream, s.Data) }
	stats, err := pipeline.Sync(ctx, conn, synced, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := archive.Close(); err != nil {
		t.Fatal(err)
	}
	if stats.Rows[transforms.UsageDaily] == 0 || stats.Rows[transforms.SIMUsageDaily] == 0 || stats.Rows[transforms.SIMUsageRoaming] == 0 || stats.Commits < 3 {
		t.Fatalf("first sync loaded too little to prove anything: %+v", stats)
	}
	once := checksums(t, synced)
	states, err := synced.States(ctx)
	if err != nil || len(states) != 4 {
		t.Fatalf("states after a sync: %v, %v; want one per stream", states, err)
	}

	archive2 := raw.NewWriter(rawDir, "run2")
	second := opts
	second.Archive = archive2
	second.OnCommitted = func(s protocol.State) error { return archive2.AppendState(s.Stream, s.Data) }
	stats2, err := pipeline.Sync(ctx, conn, synced, second)
	if err != nil {
		t.Fatal(err)
	}
	archive2.Close()
	if stats2.Records == 0 || stats2.Rows[transforms.UsageDaily] == 0 {
		t.Errorf("second sync re-read nothing (%+v): it proves nothing about replacing", stats2)
	}
	if stats2.Records >= stats.Records {
		t.Errorf("second sync read %d records, the first %d: not incremental", stats2.Records, stats.Records)
	}
	if diff := cmp.Diff(once, checksums(t, synced)); diff != "" {
		t.Errorf("a second sync changed the tables (-first +second):\n%s", diff)
	}

	// read | load
	var out bytes.Buffer
	w := airbyte.NewWriter(&out)
	if err := conn.Read(ctx, catalog.All(), state.Blobs{}, w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	loaded := openDB(t, "load.duckdb")
	if _, err := pipeline.Load(ctx, &out, loaded, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(once, checksums(t, loaded)); diff != "" {
		t.Errorf("read | load differs from sync (-sync +load):\n%s", diff)
	}

	rebuilt := openDB(t, "rebuilt.duckdb")
	if _, err := pipeline.LoadRaw(ctx, rawDir, rebuilt, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(once, checksums(t, rebuilt)); diff != "" {
		t.Errorf("rebuild from the raw archive differs from sync (-sync +rebuilt):\n%s", diff)
	}
	// The rebuild restores the states of the last run, so the next sync
	// goes on from there instead of reading everything again.
	wantStates, err := synced.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gotStates, err := rebuilt.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonTexts(wantStates), jsonTexts(gotStates)); diff != "" {
		t.Errorf("states after a rebuild from the raw archive (-sync +rebuilt):\n%s", diff)
	}
}

func jsonTexts(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}
