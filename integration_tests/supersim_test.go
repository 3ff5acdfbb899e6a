package integration_tests

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// superUsageLine is one super_sim_usage_records RECORD as `read` writes it.
func superUsageLine(account, sim, day, billed, unit string) string {
	return fmt.Sprintf(`{"type":"RECORD","record":{"stream":"super_sim_usage_records","data":{"account_sid":%q,"sim_sid":%q,"fleet_sid":null,"network_sid":null,"iso_country":null,`+
		`"period_start":"%sT00:00:00Z","period_end":null,"data_upload":1000,"data_download":4000,"data_total":5000,"data_total_billed":%s,"billed_unit":%s},"emitted_at":1767225600000}}`,
		account, sim, day, billed, unit)
}

// TestSuperSIMIsDetailNotCost: Super SIM's cost is in the account's usage
// records, as its categories, attributed once; loading the Super SIM
// streams beside them changes no cost table, and their billed amounts,
// exact to the last digit, stay in twilio_super_sim_usage_daily.
func TestSuperSIMIsDetailNotCost(t *testing.T) {
	const sid = "AC0123456789abcdef0123456789abcdef"
	const hs1, hs2 = "HS0123456789abcdef0123456789abcdef", "HSfedcba9876543210fedcba9876543210"
	usage := []string{
		usageLine(sid, "totalprice", "2026-01-05", "10.00000"),
		usageLine(sid, "wireless", "2026-01-05", "6.00000"),
		usageLine(sid, "wireless-super-sim", "2026-01-05", "6.00000"),
		usageLine(sid, "wireless-super-sim-data", "2026-01-05", "6.00000"),
		usageLine(sid, "wireless-super-sim-data-payg", "2026-01-05", "6.00000"),
		usageLine(sid, "wireless-super-sim-data-payg-north-america", "2026-01-05", "6.00000"),
		usageLine(sid, "sms", "2026-01-05", "4.00000"),
		usageLine(sid, "sms-outbound", "2026-01-05", "4.00000"),
		`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{"states":[]}}}}`,
	}
	super := []string{
		superUsageLine(sid, hs1, "2026-01-05", "5.999999999", `"USD"`),
		superUsageLine(sid, hs2, "2026-01-05", "0.000000001", `"usd"`),
		superUsageLine(sid, hs2, "2026-01-06", "0", "null"),
		`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"super_sim_usage_records"},"stream_state":{"states":[]}}}}`,
	}
	dir := t.TempDir()
	load := func(name string, lines []string) string {
		db := filepath.Join(dir, name)
		if r := runIn(t, dir, []byte(strings.Join(lines, "\n")), "load", "--path", db, "--account-sid", sid); r.code != 0 {
			t.Fatalf("load %s: exit %d\n%s", name, r.code, r.stderr)
		}
		return db
	}
	without := load("usage.duckdb", usage)
	with := load("usage-and-super.duckdb", append(append([]string{}, super[:2]...), append(usage, super[2:]...)...))
	a, b := tableChecksums(t, without), tableChecksums(t, with)
	for _, table := range []string{"twilio_cost_daily", "twilio_reconciliation", "twilio_usage_daily"} {
		if a[table] != b[table] || strings.HasPrefix(a[table], "0 rows") {
			t.Errorf("%s: %s without Super SIM streams, %s with them", table, a[table], b[table])
		}
	}

	d, err := duckdb.Open(context.Background(), with)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	query := func(q string) [][]string {
		rows, err := d.DB().Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out [][]string
		for rows.Next() {
			var x, y, z *string
			if err := rows.Scan(&x, &y, &z); err != nil {
				t.Fatal(err)
			}
			row := []string{}
			for _, v := range []*string{x, y, z} {
				if v == nil {
					row = append(row, "NULL")
				} else {
					row = append(row, *v)
				}
			}
			out = append(out, row)
		}
		return out
	}
	// The day's cost adds up to totalprice, and Super SIM's 6 USD is in it once.
	got := query(`SELECT CAST(SUM(cost) AS VARCHAR),
		CAST(SUM(CASE WHEN source_category LIKE 'wireless-super-sim%' THEN cost ELSE 0 END) AS VARCHAR), CAST(COUNT(*) AS VARCHAR)
		FROM twilio_cost_daily WHERE usage_date = DATE '2026-01-05'`)
	if got[0][0] != "10.000000000" || got[0][1] != "6.000000000" {
		t.Errorf("twilio_cost_daily on 2026-01-05: total %s, Super SIM %s; want 10 and 6", got[0][0], got[0][1])
	}
	got = query(`SELECT sim_sid || ' ' || CAST(usage_date AS VARCHAR), CAST(data_total_billed AS VARCHAR), billed_unit
		FROM twilio_super_sim_usage_daily ORDER BY usage_date, sim_sid`)
	want := [][]string{
		{hs1 + " 2026-01-05", "5.999999999", "USD"},
		{hs2 + " 2026-01-05", "0.000000001", "USD"},
		{hs2 + " 2026-01-06", "0.000000000", "NULL"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("twilio_super_sim_usage_daily (-want +got):\n%s", diff)
	}
}

// TestSuperSIMCostFromTheEmulator: against the emulator, whose main
// account bills its Super SIMs' data under the wireless-super-sim
// categories, loading the Super SIM streams too leaves every cost table
// as it was, and the cost attributed to those categories is, day by
// settled day, exactly what the SIM-days were billed: once.
func TestSuperSIMCostFromTheEmulator(t *testing.T) {
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 26, Subaccounts: 1, Days: 15, SuperSIMs: 25}, nil)
	dir := t.TempDir()
	load := func(name string, streams ...string) string {
		read := runIn(t, dir, nil, "read", "--config", cfg, "--catalog", configuredCatalog(t, catalog.FullRefresh, streams...))
		if read.code != 0 {
			t.Fatalf("read %v: exit %d\n%s%s", streams, read.code, read.stdout, read.stderr)
		}
		db := filepath.Join(dir, name)
		if r := runIn(t, dir, read.stdout, "load", "--path", db); r.code != 0 {
			t.Fatalf("load %s: exit %d\n%s", name, r.code, r.stderr)
		}
		return db
	}
	without := load("cost.duckdb", "accounts", "usage_records")
	with := load("cost-and-super.duckdb", "accounts", "usage_records", "super_sims", "super_sim_usage_records")
	a, b := tableChecksums(t, without), tableChecksums(t, with)
	for _, table := range []string{"twilio_cost_daily", "twilio_reconciliation", "twilio_usage_daily"} {
		if a[table] != b[table] || strings.HasPrefix(a[table], "0 rows") {
			t.Errorf("%s: %s without Super SIM streams, %s with them", table, a[table], b[table])
		}
	}
	if strings.HasPrefix(b["twilio_super_sim_usage_daily"], "0 rows") {
		t.Fatal("no Super SIM usage loaded")
	}
	d, err := duckdb.Open(context.Background(), with)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	settled := "usage_date < CURRENT_DATE - INTERVAL 2 DAY"
	var cost, billed, days string
	err = d.DB().QueryRow(`SELECT
		CAST((SELECT SUM(cost) FROM twilio_cost_daily WHERE source_category LIKE 'wireless-super-sim%' AND `+settled+`) AS VARCHAR),
		CAST((SELECT SUM(data_total_billed) FROM twilio_super_sim_usage_daily WHERE `+settled+`) AS VARCHAR),
		CAST((SELECT COUNT(DISTINCT usage_date) FROM twilio_super_sim_usage_daily WHERE `+settled+`) AS VARCHAR)`).Scan(&cost, &billed, &days)
	if err != nil {
		t.Fatal(err)
	}
	if cost != billed || days == "0" {
		t.Errorf("settled days (%s): Super SIM categories cost %s, the SIM-days were billed %s", days, cost, billed)
	}
}
