package integration_tests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// docTable is a row of a README table that documents a table or relation.
type docTable struct {
	line     int
	name     string
	key      []string // from the "key" cell
	columns  []string // from the "columns" cell
	complete bool     // the row has a "columns" cell: it lists every column
}

var backticked = regexp.MustCompile("`([^`]+)`")

// identifiers returns the backticked names in cell, or, when it has
// none, its comma-separated words.
func identifiers(cell string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	if len(out) > 0 {
		return out
	}
	for _, w := range strings.Split(cell, ",") {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

func cells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	out := strings.Split(line, "|")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// readmeTables parses every Markdown table of the README whose first
// column is "table" or "relation".
func readmeTables(t *testing.T, text string) []docTable {
	t.Helper()
	lines := strings.Split(text, "\n")
	var out []docTable
	for i := 0; i+1 < len(lines); i++ {
		header := cells(lines[i])
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), "|") || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|---") ||
			(header[0] != "table" && header[0] != "relation") {
			continue
		}
		keyCol, colsCol := slices.Index(header, "key"), slices.Index(header, "columns")
		for j := i + 2; j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "|"); j++ {
			row := cells(lines[j])
			if len(row) != len(header) {
				t.Errorf("README.md:%d: %d cells, the table's header has %d", j+1, len(row), len(header))
				continue
			}
			names := backticked.FindStringSubmatch(row[0])
			if names == nil {
				t.Errorf("README.md:%d: the first cell names no table in backticks: %q", j+1, row[0])
				continue
			}
			d := docTable{line: j + 1, name: names[1]}
			if keyCol >= 0 {
				d.key = identifiers(row[keyCol])
			}
			if colsCol >= 0 {
				d.columns, d.complete = identifiers(row[colsCol]), true
			}
			out = append(out, d)
		}
	}
	return out
}

// sqlBlocks returns the README's ```sql blocks.
func sqlBlocks(text string) []string {
	var out []string
	for _, part := range strings.Split(text, "```sql\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		out = append(out, block)
	}
	return out
}

// TestReadmeNamesRealTablesAndColumns syncs the emulator into DuckDB and
// checks every table and column the README's tables name against it (and
// that a "columns" cell lists them all), and runs its SQL examples.
func TestReadmeNamesRealTablesAndColumns(t *testing.T) {
	text, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	docs := readmeTables(t, string(text))
	withColumns := 0
	for _, d := range docs {
		if d.complete {
			withColumns++
		}
	}
	if len(docs) < 8 || withColumns < 6 {
		t.Fatalf("found %d documented tables, %d with their columns: has the README's layout changed?", len(docs), withColumns)
	}

	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 2, Subaccounts: 2, Days: 10, SIMs: 3}, func(c map[string]any) {
		c["start_date"] = daysAgo(12)
	})
	dir := t.TempDir()
	db := filepath.Join(dir, "readme.duckdb")
	if r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", db); r.code != 0 {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	}
	ctx := context.Background()
	wh, err := duckdb.OpenReadOnly(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	res, err := wh.Query(ctx, "SELECT table_name, column_name FROM information_schema.columns ORDER BY table_name, ordinal_position")
	if err != nil {
		t.Fatal(err)
	}
	actual := map[string][]string{}
	for res.Next() {
		row, err := res.Row()
		if err != nil {
			t.Fatal(err)
		}
		actual[row[0].Text] = append(actual[row[0].Text], row[1].Text)
	}
	res.Close()

	for _, d := range docs {
		have, ok := actual[d.name]
		if !ok {
			t.Errorf("README.md:%d names table %s, which a sync does not create", d.line, d.name)
			continue
		}
		for _, c := range append(slices.Clone(d.key), d.columns...) {
			if !slices.Contains(have, c) {
				t.Errorf("README.md:%d: %s has no column %s; it has %v", d.line, d.name, c, have)
			}
		}
		if d.complete {
			for _, c := range have {
				if !slices.Contains(d.columns, c) {
					t.Errorf("README.md:%d: the columns of %s leave out %s", d.line, d.name, c)
				}
			}
		}
	}
	blocks := sqlBlocks(string(text))
	if len(blocks) == 0 {
		t.Error("no ```sql example found in the README")
	}
	for _, q := range blocks {
		res, err := wh.Query(ctx, q)
		if err == nil {
			for res.Next() {
			}
			err = res.Err()
			res.Close()
		}
		if err != nil {
			t.Errorf("the README's SQL fails: %v\n%s", err, q)
		}
	}
}

// TestReadmeCheckCatchesAWrongName makes sure the parser sees the names
// it must check: a wrong column name in a table row is found.
func TestReadmeCheckCatchesAWrongName(t *testing.T) {
	doc := "| table | key | one row per | columns | notes |\n|---|---|---|---|---|\n" +
		"| `twilio_sim_usage_daily` | sim_sid, usage_date | SIM, day | `usage_date`, `billed` | x |\n"
	got := readmeTables(t, doc)
	if len(got) != 1 || got[0].name != "twilio_sim_usage_daily" || !slices.Equal(got[0].key, []string{"sim_sid", "usage_date"}) ||
		!slices.Equal(got[0].columns, []string{"usage_date", "billed"}) || !got[0].complete {
		t.Errorf("parsed %+v", got)
	}
}
