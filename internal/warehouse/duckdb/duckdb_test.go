package duckdb_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
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

// A view whose query changed is replaced, in one transaction with the
// others: a failing view leaves the earlier ones as they were.
func TestCreateViewsReplaces(t *testing.T) {
	ctx := context.Background()
	d := newDest(t).(*duckdb.Destination)
	v := func(name, q string) warehouse.View { return warehouse.View{Name: name, Query: q} }
	if err := d.CreateViews(ctx, []warehouse.View{v("a", "SELECT 1 AS n"), v("b", `SELECT n + 1 AS n FROM {{table "a"}}`)}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateViews(ctx, []warehouse.View{v("a", "SELECT 10 AS n"), v("b", `SELECT n + 1 AS n FROM {{table "a"}}`)}); err != nil {
		t.Fatal(err)
	}
	if rows, err := d.QueryStrings(ctx, `SELECT n FROM b`); err != nil || len(rows) != 1 || rows[0][0] != "11" {
		t.Fatalf("b after a changed: %v, %v", rows, err)
	}
	err := d.CreateViews(ctx, []warehouse.View{v("a", "SELECT 20 AS n"), v("b", "SELECT * FROM no_such_table")})
	if err == nil || !strings.Contains(err.Error(), "create view b") {
		t.Fatalf("CreateViews with a broken view: %v", err)
	}
	if rows, err := d.QueryStrings(ctx, `SELECT n FROM a`); err != nil || rows[0][0] != "10" {
		t.Errorf("a after a failed CreateViews: %v, %v; want it unchanged", rows, err)
	}
}
