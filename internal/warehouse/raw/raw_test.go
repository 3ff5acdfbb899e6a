package raw

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestArchiveHoldsFlushedRecordsOnly(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	w := NewWriter(dir, "20260102T030405.000000Z")
	for _, r := range []struct{ stream, data string }{
		{"usage_records", `{"price":-0.00750}`},
		{"accounts", `{"sid":"AC1"}`},
	} {
		if err := w.Append(r.stream, at, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Append("usage_records", at, `{"not":"committed"}`)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	runs, err := Runs(dir)
	if err != nil || !cmp.Equal(runs, []string{"20260102T030405.000000Z"}) {
		t.Fatalf("Runs = %v, %v", runs, err)
	}
	streams, err := Streams(dir, runs[0], []string{"accounts", "usage_records"})
	if err != nil || !cmp.Equal(streams, []string{"accounts", "usage_records"}) {
		t.Fatalf("Streams = %v, %v", streams, err)
	}
	var got []Row
	for _, s := range streams {
		if err := Read(context.Background(), dir, runs[0], s, func(r Row) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	want := []Row{
		{Stream: "accounts", EmittedAt: at.UnixMilli(), Data: `{"sid":"AC1"}`},
		{Stream: "usage_records", EmittedAt: at.UnixMilli(), Data: `{"price":-0.00750}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archived rows (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, runs[0], "usage_records.parquet.partial")); !os.IsNotExist(err) {
		t.Errorf("a closed archive left a .partial file: %v", err)
	}
}

func TestArchiveHoldsCommittedStates(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	run := RunID(at)
	w := NewWriter(dir, run)
	w.Append("usage_records", at, `{"price":1}`)
	w.AppendState("usage_records", []byte(`{"states":[1]}`))
	w.AppendState("sim_usage_records", []byte(`{"states":[]}`))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.AppendState("usage_records", []byte(`{"states":[2]}`))
	if _, err := os.Stat(filepath.Join(dir, run, StatesFile)); !os.IsNotExist(err) {
		t.Errorf("states are final before Close: %v", err)
	}
	if err := w.AppendState("usage_records", []byte(`{"states":`)); err == nil {
		t.Error("AppendState took a state that is not JSON")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, ok, err := States(dir, run)
	if err != nil || !ok {
		t.Fatalf("States = %v, %v, %v", got, ok, err)
	}
	want := map[string]string{"usage_records": `{"states":[2]}`, "sim_usage_records": `{"states":[]}`}
	gotText := map[string]string{}
	for k, v := range got {
		gotText[k] = string(v)
	}
	if diff := cmp.Diff(want, gotText); diff != "" {
		t.Errorf("last states (-want +got):\n%s", diff)
	}
	streams, err := Streams(dir, run, nil)
	if err != nil || !cmp.Equal(streams, []string{"usage_records"}) {
		t.Errorf("Streams = %v, %v: the states file is not a stream", streams, err)
	}

	// A run archived without states says so.
	old := NewWriter(dir, RunID(at.Add(time.Hour)))
	old.Append("accounts", at, `{}`)
	old.Flush()
	old.Close()
	if got, ok, err := States(dir, RunID(at.Add(time.Hour))); ok || err != nil || got != nil {
		t.Errorf("States of a run without states = %v, %v, %v", got, ok, err)
	}
}

// FlushTo writes the records before its mark only: those appended after
// it (the next batch, not yet committed) stay out of the file.
func TestFlushToWritesUpToTheMark(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter(dir, "run1")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, d := range []string{`{"n":1}`, `{"n":2}`} {
		if err := w.Append("usage_records", at, d); err != nil {
			t.Fatal(err)
		}
	}
	first := w.Mark()
	w.Append("usage_records", at, `{"n":3}`)
	w.Append("accounts", at, `{"n":"a"}`)
	second := w.Mark()
	w.Append("usage_records", at, `{"n":4}`) // never committed
	if err := w.FlushTo(first); err != nil {
		t.Fatal(err)
	}
	if err := w.FlushTo(second); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for stream, want := range map[string][]string{
		"usage_records": {`{"n":1}`, `{"n":2}`, `{"n":3}`},
		"accounts":      {`{"n":"a"}`},
	} {
		var got []string
		if err := Read(context.Background(), dir, "run1", stream, func(r Row) error { got = append(got, r.Data); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", stream, got, want)
		}
	}
}
