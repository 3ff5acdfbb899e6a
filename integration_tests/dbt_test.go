package integration_tests

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

// The dbt package in transforms/dbt cannot be run by dbt here, so these
// tests do what dbt would: read dbt_project.yml and the models' yml,
// render every model's Jinja (which is kept to ref, source, config and var
// on purpose), create the models in order in the BigQuery emulator over a
// real sync, run the package's generic data tests, and check the marts
// against the loader's own views and the loaded usage.

const dbtDir = "../transforms/dbt"

// dbtPackage is what the tests read of the package.
type dbtPackage struct {
	name         string
	vars         map[string]string
	materialized map[string]string // folder under a model path → materialization
	models       map[string]*dbtModel
	sources      map[string]map[string]map[string]any // source → table → its yml
	documented   map[string]map[string]any            // model → its yml
}

type dbtModel struct {
	name, folder string
	sql          string
	refs         []string // the models it refs, set by render
}

func readDbtPackage(t *testing.T) *dbtPackage {
	t.Helper()
	project, err := parseYAMLFile(filepath.Join(dbtDir, "dbt_project.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &dbtPackage{
		name:         yamlString(project, "name"),
		vars:         map[string]string{},
		materialized: map[string]string{},
		models:       map[string]*dbtModel{},
		sources:      map[string]map[string]map[string]any{},
		documented:   map[string]map[string]any{},
	}
	if p.name == "" {
		t.Fatal("dbt_project.yml: no name")
	}
	if v := yamlString(project, "config-version"); v != "2" {
		t.Errorf("dbt_project.yml: config-version %q, want 2", v)
	}
	for k, v := range yamlMap(project, "vars") {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("dbt_project.yml: var %s is not a scalar", k)
		}
		p.vars[k] = s
	}
	for folder, cfg := range yamlMap(yamlMap(project, "models"), p.name) {
		if m, ok := cfg.(map[string]any); ok {
			p.materialized[folder] = yamlString(m, "+materialized")
		}
	}
	paths := yamlList(project, "model-paths")
	if len(paths) == 0 {
		t.Fatal("dbt_project.yml: no model-paths")
	}
	for _, mp := range paths {
		root := filepath.Join(dbtDir, fmt.Sprint(mp))
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			switch filepath.Ext(path) {
			case ".sql":
				name := strings.TrimSuffix(d.Name(), ".sql")
				if _, dup := p.models[name]; dup {
					return fmt.Errorf("model %s is defined twice", name)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				folder, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
				p.models[name] = &dbtModel{name: name, folder: folder, sql: string(b)}
			case ".yml", ".yaml":
				return p.readSchemaFile(path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// readSchemaFile reads the sources and models of one properties file.
func (p *dbtPackage) readSchemaFile(path string) error {
	doc, err := parseYAMLFile(path)
	if err != nil {
		return err
	}
	if v := yamlString(doc, "version"); v != "2" {
		return fmt.Errorf("%s: version %q, want 2", path, v)
	}
	for _, s := range yamlList(doc, "sources") {
		src, _ := s.(map[string]any)
		name := yamlString(src, "name")
		if p.sources[name] == nil {
			p.sources[name] = map[string]map[string]any{}
		}
		for _, tb := range yamlList(src, "tables") {
			table, _ := tb.(map[string]any)
			tname := yamlString(table, "name")
			if tname == "" {
				return fmt.Errorf("%s: source %s has a table without a name", path, name)
			}
			// Source-level settings apply to the tables that do not
			// override them.
			for _, k := range []string{"loaded_at_field", "freshness"} {
				if _, ok := table[k]; !ok && src[k] != nil {
					table[k] = src[k]
				}
			}
			p.sources[name][tname] = table
		}
	}
	for _, m := range yamlList(doc, "models") {
		model, _ := m.(map[string]any)
		name := yamlString(model, "name")
		if _, dup := p.documented[name]; dup {
			return fmt.Errorf("%s: model %s is documented twice", path, name)
		}
		p.documented[name] = model
	}
	return nil
}

// The Jinja a model may use: {{ ref('m') }}, {{ source('s', 't') }},
// {{ config(...) }} and {{ var('v') }}.
var (
	jinjaRE  = regexp.MustCompile(`(?s)\{\{(.*?)\}\}`)
	refRE    = regexp.MustCompile(`^ref\(\s*'([A-Za-z0-9_]+)'\s*\)$`)
	sourceRE = regexp.MustCompile(`^source\(\s*'([A-Za-z0-9_]+)'\s*,\s*'([A-Za-z0-9_]+)'\s*\)$`)
	varRE    = regexp.MustCompile(`^var\(\s*'([A-Za-z0-9_]+)'\s*\)$`)
	configRE = regexp.MustCompile(`(?s)^config\(.*\)$`)
)

// relations names the BigQuery tables of sources and models.
type relations struct {
	project, dataset string
}

func (r relations) of(name string) string {
	return fmt.Sprintf("`%s.%s.%s`", r.project, r.dataset, name)
}

// render replaces a model's Jinja by SQL, recording its refs;
// anything but ref, source, config and var is an error.
func (p *dbtPackage) render(m *dbtModel, rel relations) (string, error) {
	if i := strings.Index(m.sql, "{%"); i >= 0 {
		return "", fmt.Errorf("%s: a Jinja statement at byte %d: keep models to ref, source, config and var", m.name, i)
	}
	if i := strings.Index(m.sql, "{#"); i >= 0 {
		return "", fmt.Errorf("%s: a Jinja comment at byte %d: use SQL comments", m.name, i)
	}
	var problems []error
	m.refs = nil
	out := jinjaRE.ReplaceAllStringFunc(m.sql, func(tag string) string {
		expr := strings.TrimSpace(jinjaRE.FindStringSubmatch(tag)[1])
		switch {
		case refRE.MatchString(expr):
			name := refRE.FindStringSubmatch(expr)[1]
			if _, ok := p.models[name]; !ok {
				problems = append(problems, fmt.Errorf("%s: ref to a missing model %s", m.name, name))
			}
			m.refs = append(m.refs, name)
			return rel.of(name)
		case sourceRE.MatchString(expr):
			s := sourceRE.FindStringSubmatch(expr)
			if _, ok := p.sources[s[1]][s[2]]; !ok {
				problems = append(problems, fmt.Errorf("%s: source %s.%s is not declared", m.name, s[1], s[2]))
			}
			return rel.of(s[2])
		case varRE.MatchString(expr):
			name := varRE.FindStringSubmatch(expr)[1]
			v, ok := p.vars[name]
			if !ok {
				problems = append(problems, fmt.Errorf("%s: var %s has no default in dbt_project.yml", m.name, name))
			}
			return v
		case configRE.MatchString(expr):
			return ""
		}
		problems = append(problems, fmt.Errorf("%s: unsupported Jinja {{ %s }}", m.name, expr))
		return tag
	})
	if strings.Contains(out, "{{") || strings.Contains(out, "}}") {
		problems = append(problems, fmt.Errorf("%s: unbalanced Jinja braces", m.name))
	}
	return out, errors.Join(problems...)
}

// renderAll renders every model and orders them so each comes after the
// models it refs.
func (p *dbtPackage) renderAll(rel relations) (order []string, sql map[string]string, err error) {
	sql = map[string]string{}
	var problems []error
	for _, name := range slices.Sorted(maps.Keys(p.models)) {
		s, err := p.render(p.models[name], rel)
		if err != nil {
			problems = append(problems, err)
		}
		sql[name] = s
	}
	if err := errors.Join(problems...); err != nil {
		return nil, nil, err
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("ref cycle: %s", strings.Join(append(path, name), " → "))
		case 2:
			return nil
		}
		state[name] = 1
		for _, dep := range p.models[name].refs {
			if err := visit(dep, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, name)
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(p.models)) {
		if err := visit(name, nil); err != nil {
			return nil, nil, err
		}
	}
	return order, sql, nil
}

// The tables the loader writes, which the package declares as sources.
var loadedTables = []string{
	"twilio_accounts", "twilio_usage_daily", "twilio_sims", "twilio_sim_usage_daily",
	"twilio_sim_usage_roaming", "twilio_usage_categories", "twilio_usage_category_ancestors",
}

// The package is well formed: its sources, models and properties agree,
// and every model renders with the Jinja this test understands.
func TestDbtPackage(t *testing.T) {
	p := readDbtPackage(t)
	order, _, err := p.renderAll(relations{"proj", "ds"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"twilio_database", "twilio_schema"} {
		if _, ok := p.vars[v]; !ok {
			t.Errorf("dbt_project.yml declares no var %s", v)
		}
	}

	// Sources: the loaded tables, fresh usage, the service groups shipped.
	src := p.sources["twilio"]
	if got := slices.Sorted(maps.Keys(src)); !slices.Equal(got, slices.Sorted(slices.Values(loadedTables))) {
		t.Errorf("source twilio declares %v, want %v", got, slices.Sorted(slices.Values(loadedTables)))
	}
	for _, table := range []string{"twilio_usage_daily", "twilio_sim_usage_daily", "twilio_sim_usage_roaming"} {
		tb := src[table]
		if got := yamlString(tb, "loaded_at_field"); got != "_loaded_at" {
			t.Errorf("source %s: loaded_at_field %q, want _loaded_at", table, got)
		}
		fresh := yamlMap(tb, "freshness")
		for _, w := range []struct{ key, count string }{{"warn_after", "2"}, {"error_after", "4"}} {
			after := yamlMap(fresh, w.key)
			if yamlString(after, "count") != w.count || yamlString(after, "period") != "day" {
				t.Errorf("source %s: freshness %s = %v, want %s days", table, w.key, after, w.count)
			}
		}
	}
	wantGroups := shippedServiceGroups(t)
	var gotGroups []string
	for _, c := range dataTests(src["twilio_usage_categories"]) {
		if c.test == "accepted_values" && c.column == "service_group" {
			gotGroups = c.values
		}
	}
	if diff := cmpStrings(wantGroups, gotGroups); diff != "" {
		t.Errorf("accepted service_group values of twilio_usage_categories: %s", diff)
	}

	// Models: every one is documented, every documented one exists, and
	// the tests point at relations that exist.
	for name := range p.models {
		if _, ok := p.documented[name]; !ok {
			t.Errorf("model %s is not documented in a yml file", name)
		}
		if p.materialized[p.models[name].folder] == "" {
			t.Errorf("model %s: dbt_project.yml gives folder %q no materialization", name, p.models[name].folder)
		}
	}
	for name, doc := range p.documented {
		if _, ok := p.models[name]; !ok {
			t.Errorf("a yml file documents model %s, which has no SQL", name)
		}
		for _, c := range dataTests(doc) {
			if c.err != nil {
				t.Errorf("model %s: %v", name, c.err)
			}
		}
	}
	for table, doc := range src {
		for _, c := range dataTests(doc) {
			if c.err != nil {
				t.Errorf("source table %s: %v", table, c.err)
			}
		}
	}
	for _, tc := range p.allTests() {
		if tc.to == "" {
			continue
		}
		if _, err := p.relationOf(tc.to, relations{"proj", "ds"}); err != nil {
			t.Errorf("%s: relationships: %v", tc.relation, err)
		}
	}
	for _, mart := range []string{"twilio__cost_daily", "twilio__cost_by_service_monthly", "twilio__account_overview", "twilio__sim_data_daily", "twilio__focus"} {
		if !slices.Contains(order, mart) {
			t.Errorf("no model %s", mart)
		}
	}
	t.Logf("models in order: %v", order)

	// The renderer refuses what dbt would do differently here.
	for _, bad := range []string{
		"select 1 {% if true %}x{% endif %}",
		"select {{ my_macro() }}",
		"select * from {{ ref('no_such_model') }}",
		"select * from {{ source('twilio', 'no_such_table') }}",
		"select {{ var('no_such_var') }}",
		"select {# note #} 1",
	} {
		if _, err := p.render(&dbtModel{name: "bad", sql: bad}, relations{"proj", "ds"}); err == nil {
			t.Errorf("render(%q) succeeded", bad)
		}
	}
}

// shippedServiceGroups is the distinct service_group of the category
// table the loader ships, plus Other.
func shippedServiceGroups(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../transforms/usage_categories.tsv")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{"Other": true}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 5 {
			continue
		}
		set[f[4]] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func cmpStrings(want, got []string) string {
	want, got = slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(got))
	if slices.Equal(want, got) {
		return ""
	}
	return fmt.Sprintf("got %q, want %q", got, want)
}

// dataTest is one generic data test of a model or source table.
type dataTest struct {
	relation string // model name, or "source.table"
	test     string // unique, not_null, accepted_values, relationships
	column   string // column or expression
	values   []string
	to       string // relationships: ref('m') or source('s', 't')
	field    string
	err      error
}

// dataTests lists the generic tests of one model or source table: its
// columns' and its own (with column_name). Only dbt's four generic tests
// are allowed: the package needs no other package.
func dataTests(doc map[string]any) []dataTest {
	var out []dataTest
	add := func(column string, list []any) {
		for _, item := range list {
			var name string
			var args map[string]any
			switch v := item.(type) {
			case string:
				name = v
			case map[string]any:
				if len(v) != 1 {
					out = append(out, dataTest{err: fmt.Errorf("column %s: a test entry with %d keys", column, len(v))})
					continue
				}
				for k, a := range v {
					name = k
					args, _ = a.(map[string]any)
				}
			}
			tc := dataTest{test: name, column: column}
			if c := yamlString(args, "column_name"); c != "" {
				tc.column = c
			}
			switch name {
			case "unique", "not_null":
			case "accepted_values":
				for _, v := range yamlList(args, "values") {
					tc.values = append(tc.values, fmt.Sprint(v))
				}
				if len(tc.values) == 0 {
					tc.err = fmt.Errorf("accepted_values on %s without values", column)
				}
			case "relationships":
				tc.to, tc.field = yamlString(args, "to"), yamlString(args, "field")
				if tc.to == "" || tc.field == "" {
					tc.err = fmt.Errorf("relationships on %s without to and field", column)
				}
			default:
				tc.err = fmt.Errorf("test %q on %s: only unique, not_null, accepted_values and relationships", name, column)
			}
			if tc.column == "" && tc.err == nil {
				tc.err = fmt.Errorf("test %s has no column", name)
			}
			out = append(out, tc)
		}
	}
	add("", yamlList(doc, "data_tests"))
	if len(yamlList(doc, "tests")) > 0 {
		out = append(out, dataTest{err: errors.New("tests: is deprecated, use data_tests:")})
	}
	for _, c := range yamlList(doc, "columns") {
		col, _ := c.(map[string]any)
		add(yamlString(col, "name"), yamlList(col, "data_tests"))
	}
	return out
}

func (p *dbtPackage) allTests() []dataTest {
	var out []dataTest
	for _, name := range slices.Sorted(maps.Keys(p.documented)) {
		for _, tc := range dataTests(p.documented[name]) {
			tc.relation = name
			out = append(out, tc)
		}
	}
	for _, sname := range slices.Sorted(maps.Keys(p.sources)) {
		for _, table := range slices.Sorted(maps.Keys(p.sources[sname])) {
			for _, tc := range dataTests(p.sources[sname][table]) {
				tc.relation = sname + "." + table
				out = append(out, tc)
			}
		}
	}
	return out
}

// relationOf resolves a test's relation or a relationships "to".
func (p *dbtPackage) relationOf(name string, rel relations) (string, error) {
	switch {
	case refRE.MatchString(name):
		name = refRE.FindStringSubmatch(name)[1]
	case sourceRE.MatchString(name):
		s := sourceRE.FindStringSubmatch(name)
		name = s[1] + "." + s[2]
	}
	if src, table, ok := strings.Cut(name, "."); ok {
		if _, declared := p.sources[src][table]; !declared {
			return "", fmt.Errorf("source %s is not declared", name)
		}
		return rel.of(table), nil
	}
	if _, ok := p.models[name]; !ok {
		return "", fmt.Errorf("no model %s", name)
	}
	return rel.of(name), nil
}

// failuresSQL is the query that counts a test's failing rows, as dbt's
// own generic tests do.
func (p *dbtPackage) failuresSQL(tc dataTest, rel relations) (string, error) {
	from, err := p.relationOf(tc.relation, rel)
	if err != nil {
		return "", err
	}
	switch tc.test {
	case "unique":
		return fmt.Sprintf("select count(*) from (select %[1]s as v from %[2]s where %[1]s is not null group by 1 having count(*) > 1)", tc.column, from), nil
	case "not_null":
		return fmt.Sprintf("select count(*) from %s where %s is null", from, tc.column), nil
	case "accepted_values":
		quoted := make([]string, len(tc.values))
		for i, v := range tc.values {
			quoted[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
		}
		return fmt.Sprintf("select count(*) from %s where %s not in (%s)", from, tc.column, strings.Join(quoted, ", ")), nil
	case "relationships":
		to, err := p.relationOf(tc.to, rel)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("select count(*) from (select %s as v from %s) as child left join (select %s as v from %s) as parent on child.v = parent.v where child.v is not null and parent.v is null",
			tc.column, from, tc.field, to), nil
	}
	return "", fmt.Errorf("test %s", tc.test)
}

// The models, created in the BigQuery emulator over a sync of the Twilio
// emulator, pass their tests and agree with the loader's views and the
// loaded usage, to the billionth.
func TestDbtModelsOnBigQuery(t *testing.T) {
	endpoint := bigQueryEmulator(t)
	p := readDbtPackage(t)

	// Six days of a main account and one subaccount, on a fixed clock so
	// that the data is the same every day and the days cross a month
	// boundary (Feb 26 to Mar 3). Small on purpose: the BigQuery emulator
	// (zetasqlite) joins by nested loops and numbers rows in quadratic
	// time, which the loader's commit and views pay for.
	now := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 11, Subaccounts: 1, Days: 6, SIMs: 2, Now: func() time.Time { return now }}, nil)
	dir := t.TempDir()
	dataset := fmt.Sprintf("it_dbt_%d", time.Now().UnixNano())
	start := time.Now()
	if r := runIn(t, dir, nil, "sync", "--config", cfg, "--destination", "bigquery", "--project", "test",
		"--dataset", dataset, "--endpoint", endpoint, "--staging", "ndjson"); r.code != 0 {
		t.Fatalf("bigquery sync: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("synced into %s in %v", dataset, time.Since(start).Round(time.Millisecond))

	ctx := context.Background()
	client, err := bigquery.NewClient(ctx, "test", option.WithEndpoint(endpoint), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rel := relations{"test", dataset}
	order, sql, err := p.renderAll(rel)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range order {
		kind := map[string]string{"view": "VIEW", "table": "TABLE"}[p.materialized[p.models[name].folder]]
		if kind == "" {
			t.Fatalf("model %s: materialization %q", name, p.materialized[p.models[name].folder])
		}
		start = time.Now()
		q := client.Query(fmt.Sprintf("CREATE %s %s AS\n%s", kind, rel.of(name), sql[name]))
		if err := runQuery(ctx, q); err != nil {
			t.Fatalf("create %s %s: %v", strings.ToLower(kind), name, err)
		}
		t.Logf("created %s %s in %v", strings.ToLower(kind), name, time.Since(start).Round(time.Millisecond))
	}

	// The package's own data tests.
	start = time.Now()
	tests := p.allTests()
	for _, tc := range tests {
		q, err := p.failuresSQL(tc, rel)
		if err != nil {
			t.Errorf("%s %s(%s): %v", tc.relation, tc.test, tc.column, err)
			continue
		}
		rows := queryRows(t, client, q)
		if n := rows[0][0].(int64); n != 0 {
			t.Errorf("data test %s %s(%s) fails on %d rows", tc.relation, tc.test, tc.column, n)
		}
	}

	t.Logf("ran %d data tests in %v", len(tests), time.Since(start).Round(time.Millisecond))

	start = time.Now()
	checkCostDaily(t, client, rel)
	t.Logf("checked twilio__cost_daily against the loader's twilio_cost_daily and totalprice in %v", time.Since(start).Round(time.Millisecond))
	checkMarts(t, client, rel)
}

// checkCostDaily compares twilio__cost_daily with the loader's view
// twilio_cost_daily row by row, and each account-day with its totalprice.
func checkCostDaily(t *testing.T, client *bigquery.Client, rel relations) {
	t.Helper()
	const cols = "account_sid, cast(usage_date as string), category, attribution, source_category, currency, cost"
	ours := costRows(t, queryRows(t, client, "select "+cols+" from "+rel.of("twilio__cost_daily")))
	loaders := costRows(t, queryRows(t, client, "select "+cols+" from "+rel.of("twilio_cost_daily")))
	if len(ours) == 0 {
		t.Fatal("twilio__cost_daily is empty")
	}
	if len(ours) != len(loaders) {
		t.Errorf("twilio__cost_daily has %d rows, the loader's twilio_cost_daily %d", len(ours), len(loaders))
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(loaders)) {
		if got, ok := ours[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("only the loader's view has %s = %s", k, loaders[k]))
		} else if got != loaders[k] {
			diffs = append(diffs, fmt.Sprintf("%s: twilio__cost_daily %s, the loader's view %s", k, got, loaders[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ours)) {
		if _, ok := loaders[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("only twilio__cost_daily has %s = %s", k, ours[k]))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("twilio__cost_daily and the loader's twilio_cost_daily differ in %d rows (account|day|category|attribution|source|currency), the first:\n%s",
			len(diffs), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
	if want, got := accountDaySums(t, loaders), accountDaySums(t, ours); !equalRats(want, got) {
		t.Errorf("cost per account and day differs from the loader's view:\n ours %v\n view %v", ratStrings(got), ratStrings(want))
	}

	// Every account-day adds up to its totalprice exactly, and nothing
	// is attributed where there is no totalprice.
	sums := accountDaySums(t, ours)
	totals := map[string]*big.Rat{}
	for _, r := range queryRows(t, client, "select account_sid, cast(usage_date as string), price from "+rel.of("twilio_usage_daily")+" where category = 'totalprice'") {
		totals[r[0].(string)+"|"+r[1].(string)] = ratValue(t, r[2])
	}
	var residuals, unattributed int
	for k := range ours {
		switch strings.Split(k, "|")[3] {
		case "residual":
			residuals++
		case "unattributed":
			unattributed++
		}
	}
	if residuals == 0 || unattributed == 0 {
		t.Errorf("%d residual and %d unattributed rows: the data exercises too little of the attribution", residuals, unattributed)
	}
	for k, total := range totals {
		sum := sums[k]
		if sum == nil {
			sum = new(big.Rat)
		}
		if sum.Cmp(total) != 0 {
			t.Errorf("%s: Σ cost %s, totalprice %s", k, sum.FloatString(9), total.FloatString(9))
		}
	}
	for k, sum := range sums {
		if _, ok := totals[k]; !ok {
			t.Errorf("%s: cost %s on an account-day without totalprice", k, sum.FloatString(9))
		}
	}
}

// costRows maps account|day|category|attribution|source|currency to the
// exact cost (NUMERIC has 9 decimals).
func costRows(t *testing.T, rows [][]bigquery.Value) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range rows {
		parts := make([]string, 6)
		for i := range parts {
			parts[i] = fmt.Sprint(r[i])
		}
		k := strings.Join(parts, "|")
		if _, dup := out[k]; dup {
			t.Errorf("cost row %s twice", k)
		}
		out[k] = ratValue(t, r[6]).FloatString(9)
	}
	return out
}

// accountDaySums adds up costRows per account|day.
func accountDaySums(t *testing.T, rows map[string]string) map[string]*big.Rat {
	t.Helper()
	out := map[string]*big.Rat{}
	for k, v := range rows {
		p := strings.Split(k, "|")
		addRat(out, p[0]+"|"+p[1], mustRat(t, v))
	}
	return out
}

// checkMarts checks the marts built on twilio__cost_daily against it, and
// the SIM mart against the loaded SIM usage.
func checkMarts(t *testing.T, client *bigquery.Client, rel relations) {
	t.Helper()
	// Σ cost per month, and per account and month, of cost_daily.
	perMonth, perAccountMonth := map[string]*big.Rat{}, map[string]*big.Rat{}
	var rows int64
	total := new(big.Rat)
	for _, r := range queryRows(t, client, "select account_sid, cast(date_trunc(usage_date, month) as string), cost from "+rel.of("twilio__cost_daily")) {
		c := ratValue(t, r[2])
		addRat(perMonth, r[1].(string), c)
		addRat(perAccountMonth, r[0].(string)+"|"+r[1].(string), c)
		total.Add(total, c)
		rows++
	}
	t.Logf("twilio__cost_daily: %d rows, %d months, %d account-months, Σ cost %s", rows, len(perMonth), len(perAccountMonth), total.FloatString(9))
	if len(perMonth) < 2 || len(perAccountMonth) < 4 {
		t.Errorf("cost in %d months and %d account-months: the data should span two months and two accounts", len(perMonth), len(perAccountMonth))
	}

	// twilio__focus: one row per cost row, the same money, sane periods.
	r := queryRows(t, client, `select count(*), sum(BilledCost), sum(EffectiveCost),
		countif(not (BillingPeriodStart <= ChargePeriodStart and ChargePeriodStart < ChargePeriodEnd and ChargePeriodEnd <= BillingPeriodEnd)),
		countif(timestamp_diff(ChargePeriodEnd, ChargePeriodStart, hour) != 24),
		countif(ProviderName != InvoiceIssuerName or BilledCost != EffectiveCost or BilledCost != ListCost or BilledCost != ContractedCost),
		countif((SubAccountId = BillingAccountId) != (SubAccountType = 'Main Account'))
		from `+rel.of("twilio__focus"))[0]
	if r[0].(int64) != rows {
		t.Errorf("twilio__focus has %d rows, twilio__cost_daily %d", r[0], rows)
	}
	for i, what := range []string{"BilledCost", "EffectiveCost"} {
		if got := ratValue(t, r[1+i]); got.Cmp(total) != 0 {
			t.Errorf("twilio__focus: Σ %s %s, Σ cost %s", what, got.FloatString(9), total.FloatString(9))
		}
	}
	for i, what := range []string{"charge periods outside their billing period", "charge periods not one day", "costs or names that differ", "SubAccountType not telling the main account"} {
		if n := r[3+i].(int64); n != 0 {
			t.Errorf("twilio__focus: %d rows with %s", n, what)
		}
	}

	// twilio__cost_by_service_monthly: the same money per account and month.
	byService := map[string]*big.Rat{}
	for _, r := range queryRows(t, client, "select account_sid, cast(usage_month as string), cost from "+rel.of("twilio__cost_by_service_monthly")) {
		addRat(byService, r[0].(string)+"|"+r[1].(string), ratValue(t, r[2]))
	}
	if !equalRats(perAccountMonth, byService) {
		t.Errorf("twilio__cost_by_service_monthly per account and month:\n got %v\nwant %v", ratStrings(byService), ratStrings(perAccountMonth))
	}

	// twilio__account_overview: cost per account and month; the main
	// accounts' roll-ups add up to all the cost, without fan-out.
	own, rolledUp := map[string]*big.Rat{}, map[string]*big.Rat{}
	var mains int
	for _, r := range queryRows(t, client, "select account_sid, cast(usage_month as string), is_billing_account, cost, subaccounts_cost, billing_account_total from "+rel.of("twilio__account_overview")) {
		cost := ratValue(t, r[3])
		addRat(own, r[0].(string)+"|"+r[1].(string), cost)
		if r[2].(bool) {
			mains++
			sub, tot := ratValue(t, r[4]), ratValue(t, r[5])
			addRat(rolledUp, r[1].(string), tot)
			if new(big.Rat).Add(cost, sub).Cmp(tot) != 0 {
				t.Errorf("twilio__account_overview %s %s: cost %s + subaccounts %s ≠ total %s", r[0], r[1], cost.FloatString(9), sub.FloatString(9), tot.FloatString(9))
			}
		} else if r[4] != nil || r[5] != nil {
			t.Errorf("twilio__account_overview: subaccount %s %s has roll-up columns", r[0], r[1])
		}
	}
	if mains == 0 {
		t.Error("twilio__account_overview has no main-account row")
	}
	for k, v := range own {
		if v.Sign() == 0 && perAccountMonth[k] == nil {
			delete(own, k) // a main account's row in a month only its subaccounts spent
		}
	}
	if !equalRats(perAccountMonth, own) {
		t.Errorf("twilio__account_overview cost per account and month:\n got %v\nwant %v", ratStrings(own), ratStrings(perAccountMonth))
	}
	if !equalRats(perMonth, rolledUp) {
		t.Errorf("twilio__account_overview Σ billing_account_total of main accounts per month:\n got %v\nwant %v", ratStrings(rolledUp), ratStrings(perMonth))
	}

	// twilio__sim_data_daily: one row per loaded SIM-day, the same bytes
	// and money.
	const simSums = "select count(*), sum(%s), sum(%s), sum(%s) from %s"
	want := queryRows(t, client, fmt.Sprintf(simSums, "data_total", "data_billed", "commands_total", rel.of("twilio_sim_usage_daily")))[0]
	got := queryRows(t, client, fmt.Sprintf(simSums, "data_bytes", "data_billed", "commands", rel.of("twilio__sim_data_daily")))[0]
	if want[0].(int64) == 0 {
		t.Error("no SIM usage was loaded")
	}
	if want[0] != got[0] || want[1] != got[1] || ratValue(t, want[2]).Cmp(ratValue(t, got[2])) != 0 || want[3] != got[3] {
		t.Errorf("twilio__sim_data_daily (rows, bytes, data billed, commands) = (%v, %v, %s, %v), twilio_sim_usage_daily (%v, %v, %s, %v)",
			got[0], got[1], ratValue(t, got[2]).FloatString(9), got[3], want[0], want[1], ratValue(t, want[2]).FloatString(9), want[3])
	}
}

func runQuery(ctx context.Context, q *bigquery.Query) error {
	job, err := q.Run(ctx)
	if err != nil {
		return err
	}
	status, err := job.Wait(ctx)
	if err != nil {
		return err
	}
	return status.Err()
}

func queryRows(t *testing.T, client *bigquery.Client, sql string) [][]bigquery.Value {
	t.Helper()
	it, err := client.Query(sql).Read(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	var out [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		out = append(out, row)
	}
}

// ratValue reads an exact NUMERIC (NULL is 0).
func ratValue(t *testing.T, v bigquery.Value) *big.Rat {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return new(big.Rat)
	case *big.Rat:
		return x
	case int64:
		return new(big.Rat).SetInt64(x)
	case string:
		return mustRat(t, x)
	}
	t.Fatalf("%v (%T) is not an exact number", v, v)
	return nil
}

func mustRat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("%q is not a decimal", s)
	}
	return r
}

func addRat(m map[string]*big.Rat, k string, v *big.Rat) {
	if m[k] == nil {
		m[k] = new(big.Rat)
	}
	m[k].Add(m[k], v)
}

func equalRats(a, b map[string]*big.Rat) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func ratStrings(m map[string]*big.Rat) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v.FloatString(9))
	}
	sort.Strings(out)
	return out
}

// A small YAML reader for the package's yml files: block mappings and
// sequences by indentation, "- key: value" items, plain and quoted
// scalars, flow sequences and mappings of scalars ([a, b], {k: v}), and
// folded (>) or literal (|) block scalars. Anything else is an error, so
// the files stay within what it reads.

type yamlLine struct {
	indent int
	text   string
	n      int // 1-based line number
}

func parseYAMLFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := parseYAML(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a mapping", path)
	}
	return m, nil
}

func parseYAML(src string) (any, error) {
	var raw []yamlLine
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if strings.Contains(line, "\t") && strings.TrimLeft(line, "\t") != line {
			return nil, fmt.Errorf("line %d: tab indentation", i+1)
		}
		text := strings.TrimLeft(line, " ")
		raw = append(raw, yamlLine{indent: len(line) - len(text), text: text, n: i + 1})
	}
	y := &yamlReader{raw: raw}
	y.next()
	if y.i >= len(y.raw) {
		return map[string]any{}, nil
	}
	v, err := y.block(y.raw[y.i].indent)
	if err == nil && y.i < len(y.raw) {
		err = fmt.Errorf("line %d: unexpected indentation", y.raw[y.i].n)
	}
	return v, err
}

type yamlReader struct {
	raw []yamlLine
	i   int
}

// next skips blank and comment lines.
func (y *yamlReader) next() {
	for y.i < len(y.raw) && (y.raw[y.i].text == "" || strings.HasPrefix(y.raw[y.i].text, "#")) {
		y.i++
	}
}

func isItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

func (y *yamlReader) block(indent int) (any, error) {
	if isItem(y.raw[y.i].text) {
		return y.sequence(indent)
	}
	return y.mapping(indent)
}

func (y *yamlReader) sequence(indent int) (any, error) {
	out := []any{}
	for y.next(); y.i < len(y.raw); y.next() {
		l := y.raw[y.i]
		if l.indent < indent || (l.indent == indent && !isItem(l.text)) {
			break
		}
		if l.indent > indent || !isItem(l.text) {
			return nil, fmt.Errorf("line %d: unexpected indentation", l.n)
		}
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		switch {
		case rest == "":
			y.i++
			y.next()
			if y.i >= len(y.raw) || y.raw[y.i].indent <= indent {
				out = append(out, nil)
				continue
			}
			v, err := y.block(y.raw[y.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		case yamlKey(rest) != "":
			// "- key: value": a mapping whose first line starts after "- ".
			y.raw[y.i] = yamlLine{indent: l.indent + len(l.text) - len(rest), text: rest, n: l.n}
			v, err := y.mapping(y.raw[y.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		default:
			v, err := yamlScalar(stripComment(rest), l.n)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			y.i++
		}
	}
	return out, nil
}

// yamlKey returns the key of a "key: value" or "key:" line, or "".
var yamlKeyRE = regexp.MustCompile(`^([A-Za-z0-9_+\-.]+):(\s|$)`)

func yamlKey(text string) string {
	m := yamlKeyRE.FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return m[1]
}

func (y *yamlReader) mapping(indent int) (any, error) {
	out := map[string]any{}
	for y.next(); y.i < len(y.raw); y.next() {
		l := y.raw[y.i]
		if l.indent < indent {
			break
		}
		key := yamlKey(l.text)
		if l.indent > indent || key == "" {
			return nil, fmt.Errorf("line %d: want \"key: value\" at indentation %d", l.n, indent)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %s", l.n, key)
		}
		rest := stripComment(strings.TrimSpace(l.text[len(key)+1:]))
		y.i++
		switch {
		case rest == "":
			y.next()
			if y.i < len(y.raw) && (y.raw[y.i].indent > indent || (y.raw[y.i].indent == indent && isItem(y.raw[y.i].text))) {
				v, err := y.block(y.raw[y.i].indent)
				if err != nil {
					return nil, err
				}
				out[key] = v
			} else {
				out[key] = nil
			}
		case rest == ">" || rest == "|" || rest == ">-" || rest == "|-":
			var lines []string
			for ; y.i < len(y.raw) && (y.raw[y.i].text == "" || y.raw[y.i].indent > indent); y.i++ {
				lines = append(lines, y.raw[y.i].text)
			}
			sep := " "
			if rest[0] == '|' {
				sep = "\n"
			}
			out[key] = strings.TrimSpace(strings.Join(lines, sep))
		default:
			v, err := yamlScalar(rest, l.n)
			if err != nil {
				return nil, err
			}
			out[key] = v
		}
	}
	return out, nil
}

// stripComment removes a " # comment" outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimSpace(s[:i])
		}
	}
	return s
}

func yamlScalar(s string, n int) (any, error) {
	switch {
	case strings.HasPrefix(s, "["):
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("line %d: a flow sequence must fit on its line", n)
		}
		out := []any{}
		for _, part := range splitFlow(s[1 : len(s)-1]) {
			v, err := yamlScalar(part, n)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case strings.HasPrefix(s, "{"):
		if !strings.HasSuffix(s, "}") {
			return nil, fmt.Errorf("line %d: a flow mapping must fit on its line", n)
		}
		out := map[string]any{}
		for _, part := range splitFlow(s[1 : len(s)-1]) {
			k, v, ok := strings.Cut(part, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: %q is not key: value", n, part)
			}
			val, err := yamlScalar(strings.TrimSpace(v), n)
			if err != nil {
				return nil, err
			}
			out[strings.TrimSpace(k)] = val
		}
		return out, nil
	case strings.HasPrefix(s, `"`):
		v, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n, s, err)
		}
		return v, nil
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return nil, fmt.Errorf("line %d: unterminated %s", n, s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.ContainsAny(s[:1], "&*!%@`|>"):
		return nil, fmt.Errorf("line %d: unsupported YAML %s", n, s)
	case s == "null" || s == "~":
		return nil, nil
	}
	return s, nil
}

// splitFlow splits a flow collection's inside at top-level commas.
func splitFlow(s string) []string {
	var out []string
	var quote byte
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(s[start:]); last != "" {
		out = append(out, last)
	}
	return out
}

func yamlMap(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

func yamlList(m map[string]any, key string) []any {
	v, _ := m[key].([]any)
	return v
}

func yamlString(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}
