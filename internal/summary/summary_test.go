package summary_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/summary"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
	"github.com/twilio-elt/twilio-elt/spec"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// The summary of a synced warehouse adds up: by account, by billing
// account and by service group each sum to the total, which is the
// warehouse's totalprice over the period; every account is listed, the
// main one first; the SIM data is there.
func TestReadAddsUp(t *testing.T) {
	ctx := context.Background()
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 5, Subaccounts: 2, Days: 40, SIMs: 4})
	cfg, err := spec.Load(emu.ConnectorConfig(emu.URL()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := cfg.Credentials()
	api, err := twilio.New(twilio.Options{Username: user, Password: pass, AccountSID: cfg.AccountSID, BaseURL: cfg.BaseURL})
	if err != nil {
		t.Fatal(err)
	}
	d, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := pipeline.Sync(ctx, connector.New(cfg, api, nil), d, pipeline.Options{MainAccountSID: cfg.AccountSID}); err != nil {
		t.Fatal(err)
	}
	to := time.Now().UTC().Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -29)
	s, err := summary.Read(ctx, d, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Total) != 1 || s.Total[0].Currency != "USD" {
		t.Fatalf("totals %+v, want one in USD", s.Total)
	}
	var want string
	err = d.QueryEach(ctx, `SELECT CAST(SUM(price) AS VARCHAR) FROM twilio_usage_daily WHERE category = 'totalprice'
		AND usage_date >= DATE '`+from.Format(time.DateOnly)+`' AND usage_date <= DATE '`+to.Format(time.DateOnly)+`'`,
		func(row []sql.NullString) error { want = row[0].String; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if w, err := transforms.ParseDecimal(want); err != nil || w != s.Total[0].Amount {
		t.Fatalf("total %v, want the warehouse's %s (%v)", s.Total[0].Amount, want, err)
	}
	for what, spends := range map[string][]summary.Spend{"account": s.ByAccount, "billing account": s.ByBilling, "service group": s.ByService} {
		var sum decimal128.Num
		for _, sp := range spends {
			sum = sum.Add(sp.Amount)
		}
		if sum != s.Total[0].Amount {
			t.Errorf("spend by %s adds up to %v, want the total %v", what, sum, s.Total[0].Amount)
		}
	}
	if len(s.Accounts) != 3 || !s.Accounts[0].IsMain || s.Accounts[0].SID != cfg.AccountSID {
		t.Errorf("accounts %+v, want the main account first, then its 2 subaccounts", s.Accounts)
	}
	if s.SIMs == 0 || s.DataBytes == 0 || s.DataCurrency == "" {
		t.Errorf("SIM data %d SIMs, %d bytes, currency %q: want some", s.SIMs, s.DataBytes, s.DataCurrency)
	}
}
