package cli

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

func queryFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "q.duckdb")
	d, err := duckdb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE cost (usage_date DATE, account_name VARCHAR, cost DECIMAL(38,9), rows BIGINT)`,
		`INSERT INTO cost VALUES (DATE '2026-01-02', 'Acme, "Prod"', 1234.567890123, 3), (DATE '2026-01-03', NULL, -0.0075, NULL)`,
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

func TestQueryFormats(t *testing.T) {
	path := queryFixture(t)
	const sql = "SELECT * FROM cost ORDER BY usage_date"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"table", []string{"query", "--path", path, sql}, "" +
			"usage_date  account_name            cost  rows\n" +
			"----------  ------------  --------------  ----\n" +
			"2026-01-02  Acme, \"Prod\"  1234.567890123     3\n" +
			"2026-01-03  NULL            -0.007500000  NULL\n" +
			"(2 rows)\n"},
		{"csv", []string{"query", "--path", path, "--csv", sql}, "" +
			"usage_date,account_name,cost,rows\n" +
			"2026-01-02,\"Acme, \"\"Prod\"\"\",1234.567890123,3\n" +
			"2026-01-03,,-0.007500000,\n"},
		{"json lines", []string{"query", "--path", path, "--json", sql}, "" +
			`{"usage_date":"2026-01-02","account_name":"Acme, \"Prod\"","cost":1234.567890123,"rows":3}` + "\n" +
			`{"usage_date":"2026-01-03","account_name":null,"cost":-0.007500000,"rows":null}` + "\n"},
		{"flags after the SQL", []string{"query", sql, "--path", path, "--csv"}, "" +
			"usage_date,account_name,cost,rows\n" +
			"2026-01-02,\"Acme, \"\"Prod\"\"\",1234.567890123,3\n" +
			"2026-01-03,,-0.007500000,\n"},
		{"SQL after --", []string{"query", "--path", path, "--json", "--", "SELECT COUNT(*) AS n FROM cost"}, `{"n":2}` + "\n"},
		{"one row", []string{"query", "--path", path, "SELECT 1 AS one"}, "one\n---\n  1\n(1 row)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := run(t, "", tt.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
	// SQL on stdin.
	out, stderr, code := run(t, "SELECT COUNT(*) AS n FROM cost", "query", "--path", path, "--csv")
	if code != 0 || out != "n\n2\n" {
		t.Errorf("SQL on stdin: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func TestQueryFailsClearly(t *testing.T) {
	path := queryFixture(t)
	tests := []struct {
		name, stderr string
		args         []string
	}{
		{"no warehouse", "no DuckDB warehouse at nope.duckdb", []string{"query", "--path", "nope.duckdb", "SELECT 1"}},
		{"a write", "read-only", []string{"query", "--path", path, "DELETE FROM cost"}},
		{"bad SQL", "cosst", []string{"query", "--path", path, "SELECT * FROM cosst"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := run(t, "", tt.args...)
			if code != 1 || out != "" || !contains(stderr, "twilio-elt query: ") || !contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, stderr, tt.stderr)
			}
		})
	}
}
