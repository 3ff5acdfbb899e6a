package connector_test

import (
	"context"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// superSIMUsageRequests returns the /v1/UsageRecords requests e's
// emulator received, in order.
func superSIMUsageRequests(e *env) []twiliotest.RequestInfo {
	var out []twiliotest.RequestInfo
	for _, r := range e.emu.Requests() {
		if r.Path == "/v1/UsageRecords" {
			out = append(out, r)
		}
	}
	return out
}

// TestSuperSIMUsageExact reads both Super SIM streams and holds every
// record to the emulator's truth as of the read: bytes and billed amounts
// exact, billed_unit null exactly where Twilio's billing has not caught
// up, every SIM-day once.
func TestSuperSIMUsageExact(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 21, Days: 40, SuperSIMs: 60}, nil)
	got := e.read(t, configured(t, catalog.FullRefresh, connector.SuperSIMs, connector.SuperSIMUsageRecords), nil)

	if n := len(got.records(connector.SuperSIMs)); n != len(e.emu.SuperSIMs()) {
		t.Errorf("super_sims emitted %d SIMs, Twilio has %d", n, len(e.emu.SuperSIMs()))
	}
	type key struct{ sim, start string }
	type usage struct{ Upload, Download, Total, Billed, Unit string }
	want := map[key]usage{}
	for _, d := range e.emu.SuperSIMDays() {
		if d.Day.Format(time.DateOnly) < e.cfg.StartDate {
			continue
		}
		up, down, billed, isBilled := twiliotest.SuperSIMDayAt(d, now)
		u := usage{strconv.FormatInt(up, 10), strconv.FormatInt(down, 10), strconv.FormatInt(up+down, 10),
			new(big.Rat).SetFrac64(billed, 100000).RatString(), "null"}
		if isBilled {
			u.Unit = `"USD"`
		}
		want[key{d.SIMSID, d.Day.Format(time.RFC3339)}] = u
	}
	gotUsage := map[key]usage{}
	unbilled := 0
	for _, row := range got.records(connector.SuperSIMUsageRecords) {
		k := key{unquote(t, row["sim_sid"]), unquote(t, row["period_start"])}
		if _, dup := gotUsage[k]; dup {
			t.Errorf("%v emitted twice", k)
		}
		billed, ok := new(big.Rat).SetString(string(row["data_total_billed"]))
		if !ok || strings.HasPrefix(string(row["data_total_billed"]), `"`) {
			t.Errorf("%v: data_total_billed %s is not an exact JSON number", k, row["data_total_billed"])
			continue
		}
		gotUsage[k] = usage{text(row["data_upload"]), text(row["data_download"]), text(row["data_total"]), billed.RatString(), text(row["billed_unit"])}
		if text(row["billed_unit"]) == "null" {
			unbilled++
			if billed.Sign() != 0 {
				t.Errorf("%v: billed_unit null with data_total_billed %s", k, row["data_total_billed"])
			}
		}
		if unquote(t, row["account_sid"]) != e.emu.MainAccountSID() {
			t.Errorf("%v: account_sid %s", k, row["account_sid"])
		}
	}
	if diff := cmp.Diff(want, gotUsage); diff != "" {
		t.Errorf("Super SIM usage (-twilio +records):\n%s", diff)
	}
	if unbilled == 0 {
		t.Error("no SIM-day with a null billed_unit: the unbilled case is not exercised")
	}
}

// TestSuperSIMRequestsDoNotGrowWithTheFleet: the usage of a fleet ten
// times bigger costs the same requests, one listing per window, as long
// as a window fits a page; the SIMs cost nothing more.
func TestSuperSIMRequestsDoNotGrowWithTheFleet(t *testing.T) {
	count := func(sims int) (usage, windows int) {
		e := newEnv(t, twiliotest.Options{Seed: 22, Days: 30, SuperSIMs: sims}, nil)
		e.read(t, configured(t, catalog.Incremental, connector.SuperSIMUsageRecords), nil)
		seen := map[string]bool{}
		for _, r := range superSIMUsageRequests(e) {
			if r.Query.Get("Group") != "sim" || r.Query.Get("Granularity") != "day" {
				t.Errorf("request %v: want Group=sim and Granularity=day", r.Query)
			}
			seen[r.Query.Get("StartTime")] = true
		}
		return len(superSIMUsageRequests(e)), len(seen)
	}
	small, smallWindows := count(3)
	big, bigWindows := count(30)
	if small != smallWindows || big != small || bigWindows != smallWindows {
		t.Errorf("3 SIMs: %d requests over %d windows; 30 SIMs: %d over %d: want one request per window whatever the fleet",
			small, smallWindows, big, bigWindows)
	}
	// A fleet whose window spans several pages pays only the pages.
	e := newEnv(t, twiliotest.Options{Seed: 22, Days: 7, SuperSIMs: 400}, nil)
	got := e.read(t, configured(t, catalog.FullRefresh, connector.SuperSIMUsageRecords), nil)
	rows := len(got.records(connector.SuperSIMUsageRecords))
	if pages := (rows + 999) / 1000; len(superSIMUsageRequests(e)) != pages || pages < 2 {
		t.Errorf("%d SIM-days took %d requests, want %d pages (and at least 2 to test paging)", rows, len(superSIMUsageRequests(e)), pages)
	}
}

// TestSuperSIMUsageIncrementalLookbackAndResume: a second read re-reads
// from the cursor less the lookback (at least 2 days), the cursor stops
// at the last complete UTC day, and a read killed mid-way resumes to the
// same records as one clean read.
func TestSuperSIMUsageIncrementalLookbackAndResume(t *testing.T) {
	opts := twiliotest.Options{Seed: 23, Days: 50, SuperSIMs: 25}
	streams := configured(t, catalog.Incremental, connector.SuperSIMUsageRecords)
	first := newEnv(t, opts, nil)
	full := first.read(t, streams, nil)
	want := primaryKeys(t, full.records(connector.SuperSIMUsageRecords), "sim_sid", "period_start")
	blob := full.lastState(connector.SuperSIMUsageRecords)
	cursors, err := state.FromAirbyte(blob, "account_sid", "period_start")
	if err != nil {
		t.Fatal(err)
	}
	cursor, ok := cursors.Cursor(first.emu.MainAccountSID())
	yesterday := now.Truncate(24*time.Hour).AddDate(0, 0, -1)
	if !ok || cursor != yesterday.Format(time.RFC3339) {
		t.Fatalf("cursor after a full read %q (%v), want the last complete UTC day %s", cursor, ok, yesterday.Format(time.RFC3339))
	}

	e := newEnv(t, opts, func(c map[string]any) { c["lookback_days"] = 0 })
	second := e.read(t, streams, state.Blobs{connector.SuperSIMUsageRecords: blob})
	reqs := superSIMUsageRequests(e)
	wantStart := yesterday.AddDate(0, 0, -2).Format(time.RFC3339)
	if len(reqs) != 1 || reqs[0].Query.Get("StartTime") != wantStart {
		var starts []string
		for _, r := range reqs {
			starts = append(starts, r.Query.Get("StartTime"))
		}
		t.Errorf("second read asked from %v, want one listing from %s (cursor − 2 days)", starts, wantStart)
	}
	if len(second.records(connector.SuperSIMUsageRecords)) == 0 {
		t.Error("the second read re-read nothing")
	}
	for _, row := range second.records(connector.SuperSIMUsageRecords) {
		if p := unquote(t, row["period_start"]); p < wantStart {
			t.Errorf("second read emitted %s, before cursor − lookback %s", p, wantStart)
		}
	}

	killedEnv := newEnv(t, opts, nil)
	killed := &capture{stopAfterStates: 3}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	killed.cancel = cancel
	if err := killedEnv.conn.Read(ctx, streams, nil, killed); err == nil {
		t.Fatal("killed read returned no error")
	}
	kept, resumeFrom := killed.committed(connector.SuperSIMUsageRecords)
	resumed := killedEnv.read(t, streams, state.Blobs{connector.SuperSIMUsageRecords: resumeFrom})
	got := primaryKeys(t, append(kept, resumed.records(connector.SuperSIMUsageRecords)...), "sim_sid", "period_start")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kill + resume differs (-want +got):\n%s", diff)
	}
}

// TestSuperSIMAbsent: an account Super SIM does not serve ends both
// streams INCOMPLETE with a warning; the other streams go on.
func TestSuperSIMAbsent(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 24, Days: 10, NoSuperSIM: true}, nil)
	c := &capture{}
	streams := configured(t, catalog.Incremental, connector.Accounts, connector.SuperSIMs, connector.SuperSIMUsageRecords)
	if err := e.conn.Read(context.Background(), streams, nil, c); err != nil {
		t.Fatalf("read failed: %v", err)
	}
	for _, s := range []string{connector.SuperSIMs, connector.SuperSIMUsageRecords} {
		if st := c.statuses(s); !slices.Equal(st, []protocol.Status{protocol.StatusStarted, protocol.StatusIncomplete}) {
			t.Errorf("%s: statuses %v, want STARTED, INCOMPLETE", s, st)
		}
	}
	if st := c.statuses(connector.Accounts); st[len(st)-1] != protocol.StatusComplete {
		t.Errorf("accounts: statuses %v, want it COMPLETE", st)
	}
	if !strings.Contains(e.logs.String(), "Super SIM API refused") {
		t.Errorf("no warning about Super SIM in the logs:\n%s", e.logs.String())
	}
}

func TestSuperSIMUsageRows(t *testing.T) {
	n := transforms.NewNormalizer(transforms.Options{})
	defer n.Release()
	const hs = "HS00000000000000000000000000000001"
	recs := []string{
		`{"account_sid":"` + mainSID + `","sim_sid":"` + hs + `","fleet_sid":null,"network_sid":null,"iso_country":null,
		"period_start":"2026-01-05T00:00:00Z","period_end":"2026-01-06T00:00:00Z",
		"data_upload":100,"data_download":900,"data_total":1000,"data_total_billed":0,"billed_unit":null}`,
		`{"account_sid":"` + mainSID + `","sim_sid":"` + hs + `","fleet_sid":"HF00000000000000000000000000000001","network_sid":"HW00000000000000000000000000000001","iso_country":"US",
		"period_start":"2026-01-04T00:00:00Z","period_end":"2026-01-05T00:00:00Z",
		"data_upload":123456789012,"data_download":1,"data_total":123456789013,"data_total_billed":12345678901.123456789,"billed_unit":"usd"}`,
	}
	for _, rec := range recs {
		if _, err := normalize(n, connector.SuperSIMUsageRecords, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	got := flush(t, n)
	want := [][]string{
		{"2026-01-05", hs, mainSID, "NULL", "NULL", "NULL", "100", "900", "1000", "0", "NULL"},
		{"2026-01-04", hs, mainSID, "HF00000000000000000000000000000001", "HW00000000000000000000000000000001", "US",
			"123456789012", "1", "123456789013", "12345678901.123456789", "USD"},
	}
	if diff := cmp.Diff(want, rows(t, got["twilio_super_sim_usage_daily"])); diff != "" {
		t.Errorf("twilio_super_sim_usage_daily (-want +got):\n%s", diff)
	}
	bad := `{"account_sid":"` + mainSID + `","sim_sid":"` + hs + `","period_start":"2026-01-05T00:00:00Z","data_upload":1.5,"data_total_billed":"x","billed_unit":"dollars"}`
	_, err := normalize(n, connector.SuperSIMUsageRecords, []byte(bad))
	for _, field := range []string{"data_upload", "data_total_billed", "billed_unit"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
}

// TestSuperSIMUsageUnderListingFaults: a page with records repeated in it,
// or pointing back at a page already read, never changes what the read
// emits: repeated identical records are kept once, and a page that
// would be read twice fails the read loudly.
func TestSuperSIMUsageUnderListingFaults(t *testing.T) {
	opts := twiliotest.Options{Seed: 25, Days: 12, SuperSIMs: 30}
	streams := configured(t, catalog.FullRefresh, connector.SuperSIMUsageRecords)
	want := primaryKeys(t, newEnv(t, opts, nil).read(t, streams, nil).records(connector.SuperSIMUsageRecords), "sim_sid", "period_start", "data_total")

	dup := opts
	dup.Faults = twiliotest.Faults{Rate: 1, Kinds: []twiliotest.FaultKind{twiliotest.FaultDuplicates}}
	e := newEnv(t, dup, nil)
	rows := e.read(t, streams, nil).records(connector.SuperSIMUsageRecords)
	if diff := cmp.Diff(want, primaryKeys(t, rows, "sim_sid", "period_start", "data_total")); diff != "" || len(rows) != len(want) {
		t.Errorf("with repeated records: %d records (-clean +faulty):\n%s", len(rows), diff)
	}

	loop := opts
	loop.Faults = twiliotest.Faults{Rate: 1, Kinds: []twiliotest.FaultKind{twiliotest.FaultSelfPage}}
	e = newEnv(t, loop, nil)
	if err := e.conn.Read(context.Background(), streams, nil, &capture{}); err == nil || !strings.Contains(err.Error(), "already read") {
		t.Errorf("a page whose next page is itself: %v, want the read to fail naming it", err)
	}
}
