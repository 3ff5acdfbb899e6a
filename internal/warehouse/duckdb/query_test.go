package duckdb_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// fixture writes a DuckDB file with a table of every kind of value the
// warehouse holds.
func fixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "q.duckdb")
	d, err := duckdb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE t (d DATE, ts TIMESTAMPTZ, price DECIMAL(38,9), n BIGINT, f DOUBLE, ok BOOLEAN, s VARCHAR, l VARCHAR[], st STRUCT(a DECIMAL(10,2)))`,
		`INSERT INTO t VALUES (DATE '2026-01-02', TIMESTAMPTZ '2026-01-02 03:04:05.5+00', -0.007500000, 12, 0.5, true, 'a, "b"', ['x'], {'a': 1.5}),
		                      (NULL, NULL, 123456789012345678901234567.123456789, NULL, NULL, NULL, NULL, NULL, NULL)`,
	} {
		if _, err := d.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadOnlyQueryValues(t *testing.T) {
	ctx := context.Background()
	db, err := duckdb.OpenReadOnly(ctx, fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Query(ctx, "SELECT * FROM t ORDER BY n NULLS LAST")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var got [][]duckdb.Value
	for res.Next() {
		row, err := res.Row()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	wantCols := []duckdb.Column{{"d", "DATE"}, {"ts", "TIMESTAMPTZ"}, {"price", "DECIMAL(38,9)"}, {"n", "BIGINT"}, {"f", "DOUBLE"},
		{"ok", "BOOLEAN"}, {"s", "VARCHAR"}, {"l", "VARCHAR[]"}, {"st", `STRUCT("a" DECIMAL(10,2))`}}
	if diff := cmp.Diff(wantCols, res.Columns); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	str, num := duckdb.KindString, duckdb.KindNumber
	null := duckdb.Value{Kind: duckdb.KindNull}
	want := [][]duckdb.Value{
		{{"2026-01-02", str}, {"2026-01-02 03:04:05.5+00", str}, {"-0.007500000", num}, {"12", num}, {"0.5", num},
			{"true", duckdb.KindBool}, {`a, "b"`, str}, {`["x"]`, duckdb.KindJSON}, {`{"a":1.50}`, duckdb.KindJSON}},
		{null, null, {"123456789012345678901234567.123456789", num}, null, null, null, null, null, null},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

// Nothing a query does changes the file or writes anywhere else.
func TestReadOnlyRefusesWrites(t *testing.T) {
	ctx := context.Background()
	path := fixture(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := duckdb.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.csv")
	other := filepath.Join(t.TempDir(), "other.duckdb")
	for _, q := range []string{
		"CREATE TABLE x (a INT)",
		"INSERT INTO t (n) VALUES (1)",
		"DELETE FROM t",
		"DROP TABLE t",
		"COPY t TO '" + out + "'",
		"ATTACH '" + other + "' AS other",
		"SET enable_external_access = true",
		"SELECT * FROM read_csv('" + path + "')",
	} {
		res, err := db.Query(ctx, q)
		if err == nil {
			for res.Next() {
			}
			err = res.Err()
			res.Close()
		}
		if err == nil {
			t.Errorf("%s: succeeded on a read-only warehouse", q)
		}
	}
	db.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("the database file changed")
	}
	for _, p := range []string{out, other} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s was written", p)
		}
	}
}

func TestOpenReadOnlyNeedsAFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.duckdb")
	if _, err := duckdb.OpenReadOnly(context.Background(), missing); err == nil || !strings.Contains(err.Error(), "no DuckDB warehouse at "+missing) {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("opening a missing warehouse read-only created it")
	}
}
