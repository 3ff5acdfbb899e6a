package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// fakeDest records the batches committed to it.
type fakeDest struct {
	batches []batchSummary
	// categories counts the rows of the taxonomy batches, which are
	// kept out of batches.
	categories map[string]int64
	fail       error
}

type batchSummary struct {
	Replace []string
	Rows    map[string]int64
	States  []string
}

func (f *fakeDest) Setup(context.Context, []warehouse.Table) error      { return nil }
func (f *fakeDest) CreateViews(context.Context, []warehouse.View) error { return nil }
func (f *fakeDest) States(context.Context) (map[string]json.RawMessage, error) {
	return map[string]json.RawMessage{}, nil
}
func (f *fakeDest) Commit(_ context.Context, b warehouse.Batch) error {
	if f.fail != nil {
		return f.fail
	}
	s := batchSummary{Rows: map[string]int64{}}
	for _, g := range b.Replace {
		var vals []string
		for _, v := range g.Values {
			if tm, ok := v.(time.Time); ok {
				v = tm.Format(time.DateOnly)
			}
			vals = append(vals, fmt.Sprint(v))
		}
		s.Replace = append(s.Replace, g.Table+"("+strings.Join(vals, ",")+")")
	}
	for name, r := range b.Rows {
		s.Rows[name] = r.NumRows()
	}
	if n := s.Rows[transforms.UsageCategories]; n > 0 && len(b.States) == 0 && len(s.Rows) == 2 {
		if f.categories == nil {
			f.categories = map[string]int64{}
		}
		for name, n := range s.Rows {
			f.categories[name] += n
		}
		return nil
	}
	for stream := range b.States {
		s.States = append(s.States, stream)
	}
	f.batches = append(f.batches, s)
	return nil
}

const acA = "AC00000000000000000000000000000001"

func usage(day, category, price string) string {
	return fmt.Sprintf(`{"type":"RECORD","record":{"stream":"usage_records","data":{"account_sid":"%s","category":"%s","start_date":"%s","count":1,"usage":1,"price":%s,"price_unit":"USD"},"emitted_at":1767225600000}}`,
		acA, category, day, price)
}

func stateMsg(stream, cursor string) string {
	return fmt.Sprintf(`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"%s"},"stream_state":{"cursor":"%s"}},"sourceStats":{"recordCount":1.0}}}`, stream, cursor)
}

func TestGroupsAreReplacedOnFirstSightOnly(t *testing.T) {
	input := strings.Join([]string{
		`{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":1,"stream_status":{"stream_descriptor":{"name":"usage_records"},"status":"STARTED"}}}`,
		usage("2026-01-01", "sms", "1"),
		usage("2026-01-01", "calls", "2"), // the bound cuts here: (A, 01-01) straddles
		usage("2026-01-01", "mms", "3"),
		usage("2026-01-02", "sms", "4"),
		stateMsg("usage_records", "c1"),
		usage("2026-01-02", "calls", "5"), // a group seen in an earlier batch
		strings.NewReplacer(`"count":1,"usage":1`, `"count":0,"usage":0`).Replace(usage("2026-01-03", "sms", "0")), // a zero row: dropped, its group still replaced
		stateMsg("usage_records", "c2"),
		stateMsg("sims", "{}"), // a full-refresh stream with no records
	}, "\n")
	dest := &fakeDest{}
	var echoed []string
	_, err := Load(context.Background(), strings.NewReader(input), dest, Options{
		MaxRows: 2,
		OnCommitted: func(s protocol.State) error {
			echoed = append(echoed, fmt.Sprintf("%s after %d commits", s.Data, len(dest.batches)))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []batchSummary{
		{Replace: []string{"twilio_usage_daily(" + acA + ",2026-01-01)"}, Rows: map[string]int64{"twilio_usage_daily": 2}},
		{Replace: []string{"twilio_usage_daily(" + acA + ",2026-01-02)"}, Rows: map[string]int64{"twilio_usage_daily": 2}},
		{States: []string{"usage_records"}, Rows: map[string]int64{}},
		{Replace: []string{"twilio_usage_daily(" + acA + ",2026-01-03)"}, Rows: map[string]int64{"twilio_usage_daily": 1}, States: []string{"usage_records"}},
		{Replace: []string{"twilio_sims()"}, Rows: map[string]int64{}, States: []string{"sims"}},
	}
	if diff := cmp.Diff(want, dest.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	// The setup wrote the shipped taxonomy once, apart from the data.
	wantCategories := map[string]int64{transforms.UsageCategories: int64(len(transforms.Categories()))}
	for _, c := range transforms.Categories() {
		wantCategories[transforms.CategoryAncestors] += int64(len(transforms.Ancestors(c)))
	}
	if diff := cmp.Diff(wantCategories, dest.categories); diff != "" {
		t.Errorf("taxonomy rows committed (-want +got):\n%s", diff)
	}
	wantEchoed := []string{`{"cursor":"c1"} after 3 commits`, `{"cursor":"c2"} after 4 commits`, `{"cursor":"{}"} after 5 commits`}
	if diff := cmp.Diff(wantEchoed, echoed); diff != "" {
		t.Errorf("states echoed (-want +got):\n%s", diff)
	}
}

func TestMalformedRecordCommitsNothing(t *testing.T) {
	input := strings.Join([]string{
		usage("2026-01-01", "sms", "1"),
		usage("2026-01-01", "calls", `"12,50"`),
		stateMsg("usage_records", "c1"),
	}, "\n")
	dest := &fakeDest{}
	var echoed int
	_, err := Load(context.Background(), strings.NewReader(input), dest, Options{
		OnCommitted: func(protocol.State) error { echoed++; return nil },
	})
	if err == nil {
		t.Fatal("Load of a malformed record succeeded")
	}
	for _, m := range []string{"usage_records", "account_sid=" + acA, "category=calls", "start_date=2026-01-01", "price"} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	if len(dest.batches) != 0 || echoed != 0 {
		t.Errorf("%d batches committed and %d states echoed after a malformed record", len(dest.batches), echoed)
	}
}

func TestFailedCommitEchoesNoState(t *testing.T) {
	input := usage("2026-01-01", "sms", "1") + "\n" + stateMsg("usage_records", "c1") + "\n"
	var echoed int
	_, err := Load(context.Background(), strings.NewReader(input), &fakeDest{fail: fmt.Errorf("disk full")}, Options{
		OnCommitted: func(protocol.State) error { echoed++; return nil },
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Load error = %v, want the commit's", err)
	}
	if echoed != 0 {
		t.Errorf("%d states echoed although the commit failed", echoed)
	}
}

func TestSourceErrorFailsTheLoadAfterCommitting(t *testing.T) {
	input := strings.Join([]string{
		usage("2026-01-01", "sms", "1"),
		stateMsg("usage_records", "c1"),
		`{"type":"TRACE","trace":{"type":"ERROR","emitted_at":1,"error":{"message":"Twilio did not answer","failure_type":"transient_error"}}}`,
	}, "\n")
	dest := &fakeDest{}
	_, err := Load(context.Background(), strings.NewReader(input), dest, Options{})
	if err == nil || !strings.Contains(err.Error(), "Twilio did not answer") {
		t.Fatalf("Load error = %v, want the source's", err)
	}
	if len(dest.batches) != 1 {
		t.Errorf("%d batches committed, want the one before the error", len(dest.batches))
	}
}

func TestNotAnAirbyteMessage(t *testing.T) {
	_, err := Load(context.Background(), bytes.NewReader([]byte("{\"type\":\"RECORD\"}\nnot json\n")), &fakeDest{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("Load error = %v, want one naming line 1", err)
	}
}

func TestTrackerDays(t *testing.T) {
	tr := newTracker()
	k := func(day int32) transforms.GroupKey {
		return transforms.GroupKey{Stream: "usage_records", SID: acA, Day: arrowDay(day)}
	}
	var got []bool
	for _, d := range []int32{100, 100, 37, 500, 37, -3, -3, 100, 101, -64, -65} {
		got = append(got, tr.firstSight(k(d)))
	}
	want := []bool{true, false, true, true, false, true, false, false, true, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("firstSight (-want +got):\n%s", diff)
	}
}
