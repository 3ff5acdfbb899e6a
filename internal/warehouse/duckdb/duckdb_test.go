package duckdb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/twilio-elt/twilio-elt/internal/warehouse/conformance"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

func newDest(t *testing.T) conformance.Destination {
	t.Helper()
	d, err := duckdb.Open(context.Background(), filepath.Join(t.TempDir(), "test.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newDest)
}
