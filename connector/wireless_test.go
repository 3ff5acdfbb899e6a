package connector_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

// decodeExact decodes JSON keeping every number's text.
func decodeExact(t *testing.T, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func TestSIMUsageRoundTripsNestedObjectsExactly(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 7, Days: 40, SIMs: 12}, nil)
	got := e.read(t, configured(t, catalog.FullRefresh, connector.SIMs, connector.SIMUsageRecords), nil)

	type key struct{ sim, start string }
	want := map[key]map[string]any{}
	for _, s := range e.emu.SIMs() {
		for _, raw := range e.emu.SIMUsageJSON(s.SID) {
			obj := decodeExact(t, raw).(map[string]any)
			start := obj["period"].(map[string]any)["start"].(string)
			if start < e.cfg.StartDate {
				continue
			}
			want[key{s.SID, start}] = obj
		}
	}
	rows := got.records(connector.SIMUsageRecords)
	if len(rows) != len(want) {
		t.Errorf("got %d SIM usage records, Twilio has %d", len(rows), len(want))
	}
	roaming := 0
	for _, row := range rows {
		k := key{unquote(t, row["sim_sid"]), unquote(t, row["period_start"])}
		w, ok := want[k]
		if !ok {
			t.Errorf("record %v is not in Twilio's data", k)
			continue
		}
		for _, field := range []string{"commands", "data"} {
			if diff := cmp.Diff(w[field], decodeExact(t, row[field])); diff != "" {
				t.Errorf("%v %s differs (-twilio +record):\n%s", k, field, diff)
			}
		}
		if bytes.Contains(row["data"], []byte(`"international_roaming":[{`)) {
			roaming++
		}
	}
	if roaming == 0 {
		t.Error("no record has international roaming: the nested-array check is weak")
	}
	if n := len(got.records(connector.SIMs)); n != len(e.emu.SIMs()) {
		t.Errorf("sims stream emitted %d SIMs, Twilio has %d", n, len(e.emu.SIMs()))
	}
}

func TestSIMsOutsideTheWindowCostNoRequest(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 8, Days: 60, SIMs: 40}, nil)
	// Read only the last 10 days, from a state, so that SIMs ended before
	// them must not be asked about.
	blob := &bytes.Buffer{}
	st := state.NewStream("sim_sid", "period_start")
	from := now.AddDate(0, 0, -10).Truncate(24 * time.Hour)
	for _, s := range e.emu.SIMs() {
		st.Set(s.SID, from.Format(time.RFC3339))
	}
	blob.Write(st.Airbyte())
	e.read(t, configured(t, catalog.Incremental, connector.SIMUsageRecords), state.Blobs{connector.SIMUsageRecords: blob.Bytes()})

	asked := map[string]bool{}
	for _, r := range e.emu.Requests() {
		if sid, ok := strings.CutSuffix(strings.TrimPrefix(r.Path, "/v1/Sims/"), "/UsageRecords"); ok {
			asked[sid] = true
		}
	}
	windowStart := from.AddDate(0, 0, -max(e.cfg.Lookback(), 2))
	skipped := 0
	for _, s := range e.emu.SIMs() {
		ended := s.Status == "canceled" || s.Status == "deactivated"
		switch {
		case ended && s.DateUpdated.Before(windowStart):
			skipped++
			if asked[s.SID] {
				t.Errorf("SIM %s (%s since %s) was asked about", s.SID, s.Status, s.DateUpdated.Format(time.DateOnly))
			}
		case ended:
			// Ended inside the window: read or settled, both are right.
		case !asked[s.SID]:
			t.Errorf("SIM %s (%s) was not read", s.SID, s.Status)
		}
	}
	if skipped == 0 {
		t.Error("no SIM ended before the window: the test proves nothing")
	}
}

func TestSIMUsageIncrementalAndResume(t *testing.T) {
	opts := twiliotest.Options{Seed: 9, Days: 70, SIMs: 8}
	streams := configured(t, catalog.Incremental, connector.SIMUsageRecords)
	full := newEnv(t, opts, nil).read(t, streams, nil)
	want := primaryKeys(t, full.records(connector.SIMUsageRecords), "sim_sid", "period_start")

	e := newEnv(t, opts, nil)
	blob := full.lastState(connector.SIMUsageRecords)
	second := e.read(t, streams, state.Blobs{connector.SIMUsageRecords: blob})
	cursors, err := state.FromAirbyte(blob, "sim_sid", "period_start")
	if err != nil {
		t.Fatal(err)
	}
	lookback := max(e.cfg.Lookback(), 2)
	if len(second.records(connector.SIMUsageRecords)) == 0 {
		t.Error("second read re-read nothing; Twilio's 48 h lag needs a lookback")
	}
	for _, row := range second.records(connector.SIMUsageRecords) {
		sim := unquote(t, row["sim_sid"])
		cursor, ok := cursors.Cursor(sim)
		if !ok {
			t.Fatalf("SIM %s has no cursor after a full read", sim)
		}
		c, _ := time.Parse(time.RFC3339, cursor)
		earliest := c.AddDate(0, 0, -lookback).Format(time.RFC3339)
		if p := unquote(t, row["period_start"]); p < earliest {
			t.Errorf("second read emitted %s of %s, before its cursor − lookback %s", p, sim, earliest)
		}
	}

	ctxKilled := newEnv(t, opts, nil)
	killed := &capture{stopAfterStates: 4}
	ctx, cancel := contextWithCancel()
	defer cancel()
	killed.cancel = cancel
	if err := ctxKilled.conn.Read(ctx, streams, nil, killed); err == nil {
		t.Fatal("killed read returned no error")
	}
	kept, resumeFrom := killed.committed(connector.SIMUsageRecords)
	resumed := ctxKilled.read(t, streams, state.Blobs{connector.SIMUsageRecords: resumeFrom})
	got := primaryKeys(t, append(kept, resumed.records(connector.SIMUsageRecords)...), "sim_sid", "period_start")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kill + resume differs (-want +got):\n%s", diff)
	}
}

func TestLargeFleetSpacesOutStates(t *testing.T) {
	e := newEnv(t, twiliotest.Options{Seed: 10, Days: 4, SIMs: 700}, nil)
	got := e.read(t, configured(t, catalog.Incremental, connector.SIMUsageRecords), nil)
	states := 0
	for _, m := range got.msgs {
		if s, ok := m.(protocol.State); ok && s.Stream == connector.SIMUsageRecords {
			states++
		}
	}
	final, err := state.FromAirbyte(got.lastState(connector.SIMUsageRecords), "sim_sid", "period_start")
	if err != nil {
		t.Fatal(err)
	}
	read := len(final.Partitions())
	if read <= 500 {
		t.Fatalf("only %d SIMs were read: the fleet is too small to test spacing", read)
	}
	// One STATE per SIM would write read² cursors; spaced out, far fewer.
	if states > read/10 {
		t.Errorf("%d STATE messages for %d SIMs: each carries every cursor, so this is quadratic", states, read)
	}
	if n := len(got.records(connector.SIMUsageRecords)); n == 0 {
		t.Fatal("no records")
	}
}
