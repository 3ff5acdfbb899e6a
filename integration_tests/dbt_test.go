package integration_tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
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
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"go.yaml.in/yaml/v3"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// The dbt package in transforms/dbt cannot be run by dbt here, so these
// tests do what dbt would: read dbt_project.yml and the properties files
// (with a YAML library), render every model in the Jinja subset the
// package keeps to on purpose, create the seeds and models in order in
// the BigQuery emulator, run the package's generic data tests, and check
// the marts — in both of the package's modes (var twilio_cost_source):
// loader, over the tables twilio-elt's loader wrote, and usage_records,
// over the connector's streams landed as Airbyte lands them, where the
// package computes the attribution in SQL and must equal the loader's Go
// attribution row for row.
//
// The Jinja subset, and all this renderer knows:
//
//	{{ ref('m') }}  {{ source('s', 't') }}  {{ var('v') }}  {{ config(...) }} (rendered as nothing)
//	{{ var('v') == 'x' }} (True or False)  {{ var('v') or target.database }}
//	{{ 'a' if var('v') == 'x' else 'b' }}
//	{% if var('v') == 'x' %} … {% else %} … {% endif %}
//
// Anything else — macros, filters, loops, {%- -%}, {# #} — is an error,
// so the package stays within what this test checks. As in dbt, a ref or
// source in a branch not taken is no dependency, and a ref to a disabled
// model or a source to a disabled source is an error.

const dbtDir = "../transforms/dbt"

// dbtPackage is what the tests read of the package.
type dbtPackage struct {
	name      string
	vars      map[string]string // defaults, from dbt_project.yml
	modelTree map[string]any    // dbt_project.yml models: <name>:
	seedTree  map[string]any    // dbt_project.yml seeds: <name>:
	models    map[string]*dbtModel
	seeds     map[string]*dbtSeed
	sources   map[string]*sourceDoc
	// documented holds the properties of models and seeds, by name.
	documented map[string]*resourceDoc
}

type dbtModel struct {
	name string
	path []string // folders under its model path
	sql  string
}

type dbtSeed struct {
	name string
	path []string
	rows [][]string // header first
}

// The files' shapes. Decoding is strict: a property this test does not
// know is an error, so nothing in the files goes unread.

type projectFile struct {
	Name              string            `yaml:"name"`
	Version           string            `yaml:"version"`
	ConfigVersion     int               `yaml:"config-version"`
	RequireDbtVersion string            `yaml:"require-dbt-version"`
	Profile           string            `yaml:"profile"`
	ModelPaths        []string          `yaml:"model-paths"`
	SeedPaths         []string          `yaml:"seed-paths"`
	CleanTargets      []string          `yaml:"clean-targets"`
	Vars              map[string]string `yaml:"vars"`
	Models            map[string]any    `yaml:"models"`
	Seeds             map[string]any    `yaml:"seeds"`
}

type propertiesFile struct {
	Version int            `yaml:"version"`
	Sources []*sourceDoc   `yaml:"sources"`
	Models  []*resourceDoc `yaml:"models"`
	Seeds   []*resourceDoc `yaml:"seeds"`
}

type sourceDoc struct {
	Name          string         `yaml:"name"`
	Description   string         `yaml:"description"`
	Database      string         `yaml:"database"`
	Schema        string         `yaml:"schema"`
	Config        resourceConfig `yaml:"config"`
	LoadedAtField string         `yaml:"loaded_at_field"`
	Freshness     *freshness     `yaml:"freshness"`
	Tables        []*sourceTable `yaml:"tables"`
}

type sourceTable struct {
	Name          string         `yaml:"name"`
	Identifier    string         `yaml:"identifier"`
	Description   string         `yaml:"description"`
	LoadedAtField string         `yaml:"loaded_at_field"`
	Freshness     *freshness     `yaml:"freshness"`
	Config        resourceConfig `yaml:"config"`
	DataTests     []testEntry    `yaml:"data_tests"`
	Tests         []testEntry    `yaml:"tests"`
	Columns       []columnDoc    `yaml:"columns"`
}

// resourceDoc is the properties of a model or seed.
type resourceDoc struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Config      resourceConfig `yaml:"config"`
	DataTests   []testEntry    `yaml:"data_tests"`
	Tests       []testEntry    `yaml:"tests"`
	Columns     []columnDoc    `yaml:"columns"`
}

type resourceConfig struct {
	Enabled     string            `yaml:"enabled"` // true, false or Jinja; "" is true
	ColumnTypes map[string]string `yaml:"column_types"`
}

type columnDoc struct {
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	DataTests   []testEntry `yaml:"data_tests"`
	Tests       []testEntry `yaml:"tests"`
}

type freshness struct {
	WarnAfter  *period `yaml:"warn_after"`
	ErrorAfter *period `yaml:"error_after"`
}

type period struct {
	Count  int    `yaml:"count"`
	Period string `yaml:"period"`
}

// testEntry is one generic data test: "unique", or a one-key mapping of
// the test to its arguments.
type testEntry struct {
	name string
	args testArgs
}

type testArgs struct {
	ColumnName string   `yaml:"column_name"`
	Values     []string `yaml:"values"`
	To         string   `yaml:"to"`
	Field      string   `yaml:"field"`
}

func (e *testEntry) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		e.name = n.Value
		return nil
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			return fmt.Errorf("line %d: a test entry with %d keys", n.Line, len(n.Content)/2)
		}
		e.name = n.Content[0].Value
		if args := n.Content[1]; args.Kind == yaml.MappingNode {
			for i := 0; i < len(args.Content); i += 2 {
				if k := args.Content[i].Value; !slices.Contains([]string{"column_name", "values", "to", "field"}, k) {
					return fmt.Errorf("line %d: test %s: unknown argument %s", args.Content[i].Line, e.name, k)
				}
			}
		}
		return n.Content[1].Decode(&e.args)
	}
	return fmt.Errorf("line %d: a test entry must be a name or a mapping", n.Line)
}

func decodeYAMLFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readDbtPackage(t *testing.T) *dbtPackage {
	t.Helper()
	var project projectFile
	if err := decodeYAMLFile(filepath.Join(dbtDir, "dbt_project.yml"), &project); err != nil {
		t.Fatal(err)
	}
	if project.Name == "" {
		t.Fatal("dbt_project.yml: no name")
	}
	if project.ConfigVersion != 2 {
		t.Errorf("dbt_project.yml: config-version %d, want 2", project.ConfigVersion)
	}
	p := &dbtPackage{
		name:       project.Name,
		vars:       project.Vars,
		models:     map[string]*dbtModel{},
		seeds:      map[string]*dbtSeed{},
		sources:    map[string]*sourceDoc{},
		documented: map[string]*resourceDoc{},
	}
	p.modelTree, _ = project.Models[p.name].(map[string]any)
	p.seedTree, _ = project.Seeds[p.name].(map[string]any)
	if len(project.ModelPaths) == 0 {
		t.Fatal("dbt_project.yml: no model-paths")
	}
	walk := func(root string, file func(path string, folders []string) error) {
		err := filepath.WalkDir(filepath.Join(dbtDir, root), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(filepath.Join(dbtDir, root), path)
			folders := strings.Split(filepath.ToSlash(filepath.Dir(rel)), "/")
			if folders[0] == "." {
				folders = nil
			}
			if filepath.Ext(path) == ".yml" || filepath.Ext(path) == ".yaml" {
				return p.readProperties(path)
			}
			return file(path, folders)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, mp := range project.ModelPaths {
		walk(mp, func(path string, folders []string) error {
			if filepath.Ext(path) != ".sql" {
				return nil
			}
			name := strings.TrimSuffix(filepath.Base(path), ".sql")
			if p.models[name] != nil {
				return fmt.Errorf("model %s is defined twice", name)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			p.models[name] = &dbtModel{name: name, path: folders, sql: string(b)}
			return nil
		})
	}
	for _, sp := range project.SeedPaths {
		walk(sp, func(path string, folders []string) error {
			if filepath.Ext(path) != ".csv" {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			rows, err := csv.NewReader(f).ReadAll()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			name := strings.TrimSuffix(filepath.Base(path), ".csv")
			p.seeds[name] = &dbtSeed{name: name, path: folders, rows: rows}
			return nil
		})
	}
	return p
}

// readProperties reads the sources, models and seeds of one properties
// file.
func (p *dbtPackage) readProperties(path string) error {
	var doc propertiesFile
	if err := decodeYAMLFile(path, &doc); err != nil {
		return err
	}
	if doc.Version != 2 {
		return fmt.Errorf("%s: version %d, want 2", path, doc.Version)
	}
	for _, s := range doc.Sources {
		if p.sources[s.Name] != nil {
			return fmt.Errorf("%s: source %s is declared twice", path, s.Name)
		}
		for _, tb := range s.Tables {
			if tb.Name == "" {
				return fmt.Errorf("%s: source %s has a table without a name", path, s.Name)
			}
			// Source-level settings apply to the tables that do not
			// override them.
			if tb.LoadedAtField == "" {
				tb.LoadedAtField = s.LoadedAtField
			}
			if tb.Freshness == nil {
				tb.Freshness = s.Freshness
			}
		}
		p.sources[s.Name] = s
	}
	for _, r := range append(doc.Models, doc.Seeds...) {
		if p.documented[r.Name] != nil {
			return fmt.Errorf("%s: %s is documented twice", path, r.Name)
		}
		p.documented[r.Name] = r
	}
	return nil
}

func (s *sourceDoc) table(name string) *sourceTable {
	for _, tb := range s.Tables {
		if tb.Name == name {
			return tb
		}
	}
	return nil
}

// The Jinja subset.
var (
	refRE     = regexp.MustCompile(`^ref\(\s*'(\w+)'\s*\)$`)
	sourceRE  = regexp.MustCompile(`^source\(\s*'(\w+)'\s*,\s*'(\w+)'\s*\)$`)
	varRE     = regexp.MustCompile(`^var\(\s*'(\w+)'\s*\)$`)
	compareRE = regexp.MustCompile(`^var\(\s*'(\w+)'\s*\)\s*==\s*'([^']*)'$`)
	orRE      = regexp.MustCompile(`^var\(\s*'(\w+)'\s*\)\s+or\s+target\.(database|schema)$`)
	configRE  = regexp.MustCompile(`(?s)^config\((.*)\)$`)
	ternaryRE = regexp.MustCompile(`^'([^']*)'\s+if\s+(.+?)\s+else\s+'([^']*)'$`)
	ifRE      = regexp.MustCompile(`^if\s+(.+)$`)
)

// target is where dbt creates seeds and models: a project and dataset.
type target struct {
	project, dataset string
}

func (t target) of(name string) string { return relation(t.project, t.dataset, name) }

func relation(project, dataset, name string) string {
	return fmt.Sprintf("`%s.%s.%s`", project, dataset, name)
}

// jinja renders text in the subset, with vars, target, and ref and source
// resolved by the given functions.
type jinja struct {
	vars   map[string]string
	target target
	ref    func(name string) (string, error)
	source func(src, table string) (string, error)
}

func (j *jinja) variable(name string) (string, error) {
	v, ok := j.vars[name]
	if !ok {
		return "", fmt.Errorf("var %s has no value (dbt_project.yml declares no default)", name)
	}
	return v, nil
}

// cond evaluates a var comparison.
func (j *jinja) cond(expr string) (bool, error) {
	m := compareRE.FindStringSubmatch(strings.TrimSpace(expr))
	if m == nil {
		return false, fmt.Errorf("unsupported condition %q: only var('v') == 'x'", expr)
	}
	v, err := j.variable(m[1])
	if err != nil {
		return false, err
	}
	return v == m[2], nil
}

// expr evaluates the inside of {{ }}.
func (j *jinja) expr(expr string) (string, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case refRE.MatchString(expr):
		if j.ref == nil {
			return "", errors.New("ref is not available here")
		}
		return j.ref(refRE.FindStringSubmatch(expr)[1])
	case sourceRE.MatchString(expr):
		if j.source == nil {
			return "", errors.New("source is not available here")
		}
		m := sourceRE.FindStringSubmatch(expr)
		return j.source(m[1], m[2])
	case varRE.MatchString(expr):
		return j.variable(varRE.FindStringSubmatch(expr)[1])
	case compareRE.MatchString(expr):
		ok, err := j.cond(expr)
		return map[bool]string{true: "True", false: "False"}[ok], err
	case orRE.MatchString(expr):
		m := orRE.FindStringSubmatch(expr)
		v, err := j.variable(m[1])
		if v == "" {
			v = map[string]string{"database": j.target.project, "schema": j.target.dataset}[m[2]]
		}
		return v, err
	case ternaryRE.MatchString(expr):
		m := ternaryRE.FindStringSubmatch(expr)
		ok, err := j.cond(m[2])
		return map[bool]string{true: m[1], false: m[3]}[ok], err
	case configRE.MatchString(expr):
		if strings.Contains(configRE.FindStringSubmatch(expr)[1], "enabled") {
			return "", errors.New("config(enabled=…): enable models in dbt_project.yml, where this test reads it")
		}
		return "", nil
	}
	return "", fmt.Errorf("unsupported Jinja {{ %s }}", expr)
}

// render renders text: the expressions, and the branches of if blocks
// whose condition holds.
func (j *jinja) render(text string) (string, error) {
	// A block is one {% if %}: whether the text around it is rendered,
	// its condition, whether its text now is, and whether its else came.
	type block struct {
		outer, cond, active, sawElse bool
	}
	var out strings.Builder
	var stack []block
	active := func() bool { return len(stack) == 0 || stack[len(stack)-1].active }
	for {
		i := strings.IndexByte(text, '{')
		for i >= 0 && (i+1 >= len(text) || !strings.ContainsRune("{%#", rune(text[i+1]))) {
			next := strings.IndexByte(text[i+1:], '{')
			if next < 0 {
				i = -1
				break
			}
			i += 1 + next
		}
		if i < 0 {
			if active() {
				out.WriteString(text)
			}
			break
		}
		if active() {
			out.WriteString(text[:i])
		}
		kind := text[i+1]
		if kind == '#' {
			return "", errors.New("a Jinja comment {# #}: use SQL comments")
		}
		closer := map[byte]string{'{': "}}", '%': "%}"}[kind]
		end := strings.Index(text[i+2:], closer)
		if end < 0 {
			return "", fmt.Errorf("unterminated {%c", kind)
		}
		inner := text[i+2 : i+2+end]
		text = text[i+2+end+2:]
		if strings.HasPrefix(inner, "-") || strings.HasSuffix(inner, "-") {
			return "", errors.New("whitespace control ({%- -%}, {{- -}}) is not in the subset")
		}
		if kind == '{' {
			if !active() {
				continue
			}
			v, err := j.expr(inner)
			if err != nil {
				return "", err
			}
			out.WriteString(v)
			continue
		}
		stmt := strings.TrimSpace(inner)
		switch m := ifRE.FindStringSubmatch(stmt); {
		case m != nil:
			b := block{outer: active()}
			ok, err := j.cond(m[1])
			if err != nil {
				return "", err
			}
			b.cond, b.active = ok, b.outer && ok
			stack = append(stack, b)
		case stmt == "else":
			if len(stack) == 0 || stack[len(stack)-1].sawElse {
				return "", errors.New("{% else %} outside an if, or twice")
			}
			b := &stack[len(stack)-1]
			b.active, b.sawElse = b.outer && !b.cond, true
		case stmt == "endif":
			if len(stack) == 0 {
				return "", errors.New("{% endif %} without an if")
			}
			stack = stack[:len(stack)-1]
		default:
			return "", fmt.Errorf("unsupported Jinja statement {%% %s %%}", stmt)
		}
	}
	if len(stack) > 0 {
		return "", errors.New("an {% if %} without its {% endif %}")
	}
	return out.String(), nil
}

// enabled evaluates an enabled config: "" (unset) is true.
func (j *jinja) enabled(v string) (bool, error) {
	if v == "" {
		return true, nil
	}
	s, err := j.render(v)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("enabled %q is %q, not a boolean", v, s)
}

// projectConfig is the dbt_project.yml config of a resource at path
// (folders, then its name) in tree: the +keys of each level, the deeper
// overriding.
func projectConfig(tree map[string]any, path []string) map[string]string {
	cfg := map[string]string{}
	for level := tree; level != nil; {
		for k, v := range level {
			if key, ok := strings.CutPrefix(k, "+"); ok {
				cfg[key] = fmt.Sprint(v)
			}
		}
		if len(path) == 0 {
			break
		}
		level, _ = level[path[0]].(map[string]any)
		path = path[1:]
	}
	return cfg
}

// dbtBuild is the package as dbt would build it with some vars: the
// enabled seeds, sources and models, each model rendered.
type dbtBuild struct {
	p       *dbtPackage
	vars    map[string]string
	target  target
	seeds   map[string]*dbtSeed
	sources map[string]map[string]string // source → table → relation
	models  map[string]*builtModel
	order   []string // models, each after those it refs
}

type builtModel struct {
	*dbtModel
	materialized string
	sql          string
	refs         []string
}

// build resolves the package with the vars overrides (as `dbt --vars`)
// into tgt.
func (p *dbtPackage) build(overrides map[string]string, tgt target) (*dbtBuild, error) {
	b := &dbtBuild{p: p, vars: maps.Clone(p.vars), target: tgt,
		seeds: map[string]*dbtSeed{}, sources: map[string]map[string]string{}, models: map[string]*builtModel{}}
	maps.Copy(b.vars, overrides)
	j := &jinja{vars: b.vars, target: tgt}
	var problems []error
	for _, name := range slices.Sorted(maps.Keys(p.sources)) {
		s := p.sources[name]
		on, err := j.enabled(s.Config.Enabled)
		if err != nil {
			problems = append(problems, fmt.Errorf("source %s: %w", name, err))
		}
		if !on {
			continue
		}
		b.sources[name] = map[string]string{}
		for _, tb := range s.Tables {
			on, err := j.enabled(tb.Config.Enabled)
			if err != nil {
				problems = append(problems, fmt.Errorf("source %s.%s: %w", name, tb.Name, err))
			}
			if !on {
				continue
			}
			var parts [3]string
			for i, v := range []string{s.Database, s.Schema, tb.Identifier} {
				if parts[i], err = j.render(v); err != nil {
					problems = append(problems, fmt.Errorf("source %s.%s: %w", name, tb.Name, err))
				}
			}
			if parts[0] == "" {
				parts[0] = tgt.project
			}
			if parts[1] == "" {
				parts[1] = name
			}
			if parts[2] == "" {
				parts[2] = tb.Name
			}
			b.sources[name][tb.Name] = relation(parts[0], parts[1], parts[2])
		}
	}
	for name, s := range p.seeds {
		on, err := j.enabled(projectConfig(p.seedTree, append(slices.Clone(s.path), name))["enabled"])
		if err == nil && on && p.documented[name] != nil {
			on, err = j.enabled(p.documented[name].Config.Enabled)
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("seed %s: %w", name, err))
		}
		if on {
			b.seeds[name] = s
		}
	}
	for name, m := range p.models {
		cfg := projectConfig(p.modelTree, append(slices.Clone(m.path), name))
		on, err := j.enabled(cfg["enabled"])
		materialized, merr := j.render(cfg["materialized"])
		if err = errors.Join(err, merr); err != nil {
			problems = append(problems, fmt.Errorf("model %s: %w", name, err))
		}
		if on {
			b.models[name] = &builtModel{dbtModel: m, materialized: materialized}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.models)) {
		m := b.models[name]
		mj := &jinja{vars: b.vars, target: tgt,
			ref: func(ref string) (string, error) {
				rel, err := b.ref(ref)
				if err == nil {
					m.refs = append(m.refs, ref)
				}
				return rel, err
			},
			source: b.source,
		}
		var err error
		if m.sql, err = mj.render(m.dbtModel.sql); err != nil {
			problems = append(problems, fmt.Errorf("model %s: %w", name, err))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
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
		for _, dep := range b.models[name].refs {
			if b.models[dep] != nil {
				if err := visit(dep, append(path, name)); err != nil {
					return err
				}
			}
		}
		state[name] = 2
		b.order = append(b.order, name)
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(b.models)) {
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ref resolves ref('name'): an enabled model or seed.
func (b *dbtBuild) ref(name string) (string, error) {
	if b.models[name] != nil || b.seeds[name] != nil {
		return b.target.of(name), nil
	}
	if b.p.models[name] != nil || b.p.seeds[name] != nil {
		return "", fmt.Errorf("ref to %s, which is disabled", name)
	}
	return "", fmt.Errorf("ref to a missing model %s", name)
}

// source resolves source('src', 'table'): an enabled source table.
func (b *dbtBuild) source(src, table string) (string, error) {
	if rel, ok := b.sources[src][table]; ok {
		return rel, nil
	}
	if s := b.p.sources[src]; s != nil && s.table(table) != nil {
		return "", fmt.Errorf("source %s.%s is disabled", src, table)
	}
	return "", fmt.Errorf("source %s.%s is not declared", src, table)
}

// resolve resolves a test's relation ("model", "seed", "src.table") or a
// relationships "to" (ref('m'), source('s', 't')).
func (b *dbtBuild) resolve(name string) (string, error) {
	switch {
	case refRE.MatchString(name):
		return b.ref(refRE.FindStringSubmatch(name)[1])
	case sourceRE.MatchString(name):
		m := sourceRE.FindStringSubmatch(name)
		return b.source(m[1], m[2])
	}
	if src, table, ok := strings.Cut(name, "."); ok {
		return b.source(src, table)
	}
	return b.ref(name)
}

// The tables twilio-elt's loader writes, which the package declares as
// the source twilio, and the connector's streams it declares as the
// source twilio_streams.
var (
	loadedTables = []string{
		"twilio_accounts", "twilio_usage_daily", "twilio_sims", "twilio_sim_usage_daily",
		"twilio_sim_usage_roaming", "twilio_super_sims", "twilio_super_sim_usage_daily", "twilio_usage_categories", "twilio_usage_category_ancestors",
		"twilio_cost_daily", "twilio_reconciliation",
	}
	streamTables = []string{"accounts", "usage_records"}
	dbtMarts     = []string{"twilio__cost_daily", "twilio__reconciliation", "twilio__cost_by_service_monthly",
		"twilio__account_overview", "twilio__focus", "twilio__sim_data_daily"}
)

// The package is well formed: its sources, seeds, models and properties
// agree, and every model renders, in both modes, with the Jinja this test
// understands.
func TestDbtPackage(t *testing.T) {
	p := readDbtPackage(t)
	for _, v := range []string{"twilio_database", "twilio_schema", "twilio_cost_source",
		"twilio_usage_records_identifier", "twilio_accounts_identifier", "twilio_loaded_at_field"} {
		if _, ok := p.vars[v]; !ok {
			t.Errorf("dbt_project.yml declares no var %s", v)
		}
	}
	if p.vars["twilio_cost_source"] != "loader" {
		t.Errorf("twilio_cost_source defaults to %q, want loader", p.vars["twilio_cost_source"])
	}

	tgt := target{"proj", "ds"}
	for _, tc := range []struct {
		mode     string
		sources  []string
		seeds    bool
		disabled []string
	}{
		{"loader", []string{"twilio"}, false, nil},
		{"usage_records", []string{"twilio_streams"}, true, []string{"stg_twilio__sim_usage_daily", "stg_twilio__super_sims",
			"stg_twilio__super_sim_usage_daily", "twilio__sim_data_daily"}},
	} {
		b, err := p.build(map[string]string{"twilio_cost_source": tc.mode}, tgt)
		if err != nil {
			t.Errorf("%s: %v", tc.mode, err)
			continue
		}
		if got := slices.Sorted(maps.Keys(b.sources)); !slices.Equal(got, tc.sources) {
			t.Errorf("%s: enabled sources %v, want %v", tc.mode, got, tc.sources)
		}
		if want := map[bool]int{true: len(p.seeds), false: 0}[tc.seeds]; len(b.seeds) != want || len(p.seeds) == 0 {
			t.Errorf("%s: %d of %d seeds enabled, want %d", tc.mode, len(b.seeds), len(p.seeds), want)
		}
		var disabled []string
		for name := range p.models {
			if b.models[name] == nil {
				disabled = append(disabled, name)
			}
		}
		if diff := cmpStrings(tc.disabled, disabled); diff != "" {
			t.Errorf("%s: disabled models: %s", tc.mode, diff)
		}
		for name, m := range b.models {
			if m.materialized != "view" && m.materialized != "table" {
				t.Errorf("%s: model %s is materialized %q, want view or table", tc.mode, name, m.materialized)
			}
		}
		for _, mart := range dbtMarts {
			if b.models[mart] == nil && !slices.Contains(tc.disabled, mart) {
				t.Errorf("%s: no model %s", tc.mode, mart)
			}
		}
		for _, dt := range b.allTests() {
			if dt.err != nil {
				t.Errorf("%s: %v", dt.relation, dt.err)
			} else if _, err := b.failuresSQL(dt); err != nil {
				t.Errorf("%s %s(%s): %v", dt.relation, dt.test, dt.column, err)
			}
		}
		t.Logf("%s: models in order: %v", tc.mode, b.order)
	}
	// A mode that is neither fails, as in dbt: the models read a disabled
	// source.
	if _, err := p.build(map[string]string{"twilio_cost_source": "usage_record"}, tgt); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("twilio_cost_source usage_record: %v, want an error naming a disabled source", err)
	}

	// Every model and seed is documented and every documented one exists;
	// every model has a materialization.
	for name, m := range p.models {
		if p.documented[name] == nil {
			t.Errorf("model %s is not documented in a yml file", name)
		}
		if projectConfig(p.modelTree, append(slices.Clone(m.path), name))["materialized"] == "" {
			t.Errorf("model %s: dbt_project.yml gives it no materialization", name)
		}
	}
	for name := range p.documented {
		if p.models[name] == nil && p.seeds[name] == nil {
			t.Errorf("a yml file documents %s, which is no model or seed", name)
		}
	}
	// dbt_project.yml's configs name folders, models and seeds that exist.
	for _, tree := range []struct {
		what  string
		tree  map[string]any
		paths [][]string
	}{
		{"models", p.modelTree, modelPaths(p)},
		{"seeds", p.seedTree, seedPaths(p)},
	} {
		for _, key := range configKeys(tree.tree, nil) {
			if !slices.ContainsFunc(tree.paths, func(path []string) bool {
				return len(path) >= len(key) && slices.Equal(path[:len(key)], key)
			}) {
				t.Errorf("dbt_project.yml %s: %s names no folder, model or seed", tree.what, strings.Join(key, "."))
			}
		}
	}

	// Seeds: each has its column types, for exactly its columns.
	for name, s := range p.seeds {
		doc := p.documented[name]
		if doc == nil {
			continue
		}
		if got, want := slices.Sorted(maps.Keys(doc.Config.ColumnTypes)), slices.Sorted(slices.Values(s.rows[0])); !slices.Equal(got, want) {
			t.Errorf("seed %s: column_types for %v, columns %v", name, got, want)
		}
	}

	// Sources: the loaded tables and the streams, fresh usage, the
	// service groups shipped.
	for _, tc := range []struct {
		source string
		tables []string
		fresh  []string
	}{
		{"twilio", loadedTables, []string{"twilio_usage_daily", "twilio_sim_usage_daily", "twilio_sim_usage_roaming", "twilio_super_sim_usage_daily"}},
		{"twilio_streams", streamTables, []string{"usage_records"}},
	} {
		src := p.sources[tc.source]
		if src == nil {
			t.Errorf("no source %s", tc.source)
			continue
		}
		var got []string
		for _, tb := range src.Tables {
			got = append(got, tb.Name)
		}
		if diff := cmpStrings(tc.tables, got); diff != "" {
			t.Errorf("source %s declares: %s", tc.source, diff)
		}
		for _, table := range tc.fresh {
			tb := src.table(table)
			if tb == nil {
				continue
			}
			j := &jinja{vars: p.vars}
			if field, err := j.render(tb.LoadedAtField); err != nil || field == "" {
				t.Errorf("source %s.%s: loaded_at_field %q renders as %q, %v", tc.source, table, tb.LoadedAtField, field, err)
			}
			f := tb.Freshness
			if f == nil || f.WarnAfter == nil || f.ErrorAfter == nil ||
				*f.WarnAfter != (period{2, "day"}) || *f.ErrorAfter != (period{4, "day"}) {
				t.Errorf("source %s.%s: freshness %+v, want a warning after 2 days and an error after 4", tc.source, table, f)
			}
		}
	}
	var gotGroups []string
	if tb := p.sources["twilio"].table("twilio_usage_categories"); tb != nil {
		for _, c := range tableTests("twilio.twilio_usage_categories", tb.DataTests, tb.Tests, tb.Columns) {
			if c.test == "accepted_values" && c.column == "service_group" {
				gotGroups = c.values
			}
		}
	}
	if diff := cmpStrings(shippedServiceGroups(t), gotGroups); diff != "" {
		t.Errorf("accepted service_group values of twilio_usage_categories: %s", diff)
	}
}

func modelPaths(p *dbtPackage) [][]string {
	var out [][]string
	for name, m := range p.models {
		out = append(out, append(slices.Clone(m.path), name))
	}
	return out
}

func seedPaths(p *dbtPackage) [][]string {
	var out [][]string
	for name, s := range p.seeds {
		out = append(out, append(slices.Clone(s.path), name))
	}
	return out
}

// configKeys lists the paths of tree's non-+ keys.
func configKeys(tree map[string]any, prefix []string) [][]string {
	var out [][]string
	for k, v := range tree {
		if strings.HasPrefix(k, "+") {
			continue
		}
		key := append(slices.Clone(prefix), k)
		out = append(out, key)
		if sub, ok := v.(map[string]any); ok {
			out = append(out, configKeys(sub, key)...)
		}
	}
	return out
}

// The renderer refuses what dbt would do differently here, and renders the
// subset as Jinja does.
func TestDbtJinjaSubset(t *testing.T) {
	j := &jinja{vars: map[string]string{"mode": "a", "db": ""}, target: target{"proj", "ds"},
		ref:    func(name string) (string, error) { return "<" + name + ">", nil },
		source: func(s, tb string) (string, error) { return "<" + s + "." + tb + ">", nil }}
	for _, tc := range []struct{ in, want string }{
		{"select {{ ref('m') }}, {{ source('s', 't') }}, {{var('mode')}}", "select <m>, <s.t>, a"},
		{"{{ config(materialized='table') }}x", "x"},
		{"{{ var('mode') == 'a' }} {{ var('mode') == 'b' }} {{ var('db') or target.database }}", "True False proj"},
		{"{{ 'x' if var('mode') == 'a' else 'y' }}{{ 'x' if var('mode') == 'b' else 'y' }}", "xy"},
		{"1{% if var('mode') == 'a' %}2{% else %}3{% endif %}4", "124"},
		{"1{% if var('mode') == 'b' %}2{% else %}3{% endif %}", "13"},
		{"{% if var('mode') == 'b' %}{{ ref('never') }}{% if var('mode') == 'a' %}x{% endif %}{% else %}y{% endif %}", "y"},
		{"{% if var('mode') == 'a' %}{% if var('mode') == 'b' %}x{% else %}y{% endif %}{% endif %}", "y"},
		{"a { b } {x}", "a { b } {x}"},
	} {
		if got, err := j.render(tc.in); err != nil || got != tc.want {
			t.Errorf("render(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"select 1 {% if true %}x{% endif %}",
		"select {{ my_macro() }}",
		"select {{ var('no_such_var') }}",
		"select {# note #} 1",
		"{% for x in y %}{% endfor %}",
		"{% if var('mode') == 'a' %}x",
		"x{% endif %}",
		"{% if var('mode') == 'a' %}{% else %}{% else %}{% endif %}",
		"{% if var('mode') == 'a' %}{% elif var('mode') == 'b' %}{% endif %}",
		"{{ var('mode') != 'a' }}",
		"{%- if var('mode') == 'a' -%}{% endif %}",
		"{{ var('mode') | upper }}",
		"{{ config(enabled=false) }}",
		"{{ ref('m') ",
	} {
		if got, err := j.render(bad); err == nil {
			t.Errorf("render(%q) = %q, want an error", bad, got)
		}
	}
	p := readDbtPackage(t)
	b, err := p.build(nil, target{"proj", "ds"})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"select * from {{ ref('no_such_model') }}", "select * from {{ source('twilio', 'no_such_table') }}",
		"select * from {{ source('twilio_streams', 'usage_records') }}"} {
		mj := &jinja{vars: b.vars, target: b.target, ref: b.ref, source: b.source}
		if got, err := mj.render(bad); err == nil {
			t.Errorf("render(%q) in loader mode = %q, want an error", bad, got)
		}
	}
}

// shippedServiceGroups is the distinct service_group of the category
// table the loader ships, plus Other.
func shippedServiceGroups(t *testing.T) []string {
	t.Helper()
	set := map[string]bool{transforms.OtherGroup: true}
	b, err := os.ReadFile("../transforms/usage_categories.tsv")
	if err != nil {
		t.Fatal(err)
	}
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

// dataTest is one generic data test of a model, seed or source table.
type dataTest struct {
	relation string // model or seed name, or "source.table"
	test     string // unique, not_null, accepted_values, relationships
	column   string // column or expression
	values   []string
	to       string // relationships: ref('m') or source('s', 't')
	field    string
	err      error
}

// tableTests lists the generic tests of one model, seed or source table:
// its own (with column_name) and its columns'. Only dbt's four generic
// tests are allowed: the package needs no other package.
func tableTests(relation string, own, deprecated []testEntry, columns []columnDoc) []dataTest {
	var out []dataTest
	add := func(column string, list []testEntry) {
		for _, e := range list {
			tc := dataTest{relation: relation, test: e.name, column: column}
			if e.args.ColumnName != "" {
				tc.column = e.args.ColumnName
			}
			switch e.name {
			case "unique", "not_null":
			case "accepted_values":
				tc.values = e.args.Values
				if len(tc.values) == 0 {
					tc.err = fmt.Errorf("accepted_values on %s without values", column)
				}
			case "relationships":
				tc.to, tc.field = e.args.To, e.args.Field
				if tc.to == "" || tc.field == "" {
					tc.err = fmt.Errorf("relationships on %s without to and field", column)
				}
			default:
				tc.err = fmt.Errorf("test %q on %s: only unique, not_null, accepted_values and relationships", e.name, column)
			}
			if tc.column == "" && tc.err == nil {
				tc.err = fmt.Errorf("test %s has no column", e.name)
			}
			out = append(out, tc)
		}
	}
	add("", own)
	if len(deprecated) > 0 {
		out = append(out, dataTest{relation: relation, err: errors.New("tests: is deprecated, use data_tests:")})
	}
	for _, c := range columns {
		add(c.Name, c.DataTests)
		if len(c.Tests) > 0 {
			out = append(out, dataTest{relation: relation, err: fmt.Errorf("column %s: tests: is deprecated, use data_tests:", c.Name)})
		}
	}
	return out
}

// allTests lists the data tests of the enabled models, seeds and source
// tables.
func (b *dbtBuild) allTests() []dataTest {
	var out []dataTest
	for _, name := range slices.Sorted(maps.Keys(b.p.documented)) {
		if b.models[name] == nil && b.seeds[name] == nil {
			continue
		}
		d := b.p.documented[name]
		out = append(out, tableTests(name, d.DataTests, d.Tests, d.Columns)...)
	}
	for _, sname := range slices.Sorted(maps.Keys(b.sources)) {
		for _, tb := range b.p.sources[sname].Tables {
			if _, ok := b.sources[sname][tb.Name]; ok {
				out = append(out, tableTests(sname+"."+tb.Name, tb.DataTests, tb.Tests, tb.Columns)...)
			}
		}
	}
	return out
}

// failuresSQL is the query that counts a test's failing rows, as dbt's
// own generic tests do.
func (b *dbtBuild) failuresSQL(tc dataTest) (string, error) {
	from, err := b.resolve(tc.relation)
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
		to, err := b.resolve(tc.to)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("select count(*) from (select %s as v from %s) as child left join (select %s as v from %s) as parent on child.v = parent.v where child.v is not null and parent.v is null",
			tc.column, from, tc.field, to), nil
	}
	return "", fmt.Errorf("test %s", tc.test)
}

// The models, created in the BigQuery emulator in both modes over the same
// Twilio data, pass their tests; the mode that computes the attribution in
// SQL equals the loader's Go attribution row for row, every column, to the
// billionth; and the marts agree with twilio__cost_daily and the loaded
// usage.
//
// The data: `twilio-elt read` of the Twilio emulator, plus a few usage
// records of categories twilio-elt's table does not know (Twilio adds
// them often), which exercise every rule placing such a category. The
// loader loads that output (`twilio-elt load`); the same records are
// landed as Airbyte's BigQuery destination lands the streams, with the
// earlier, superseded versions an append sync keeps.
func TestDbtModelsOnBigQuery(t *testing.T) {
	endpoint := bigQueryEmulator(t)
	p := readDbtPackage(t)

	// Six days of a main account and one subaccount, on a fixed clock so
	// that the data is the same every day and the days cross a month
	// boundary (Feb 26 to Mar 3). Small on purpose: the BigQuery emulator
	// (zetasqlite) joins by nested loops and numbers rows in quadratic
	// time, which the loader's commit and the models pay for.
	now := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 11, Subaccounts: 1, Days: 6, SIMs: 2, SuperSIMs: 3, Now: func() time.Time { return now }}, nil)
	dir := t.TempDir()
	read := runIn(t, dir, nil, "read", "--config", cfg, "--catalog", abs(t, "configured_catalog.json"))
	if read.code != 0 {
		t.Fatalf("read: exit %d\n%s", read.code, read.stderr)
	}
	messages := withUnknownCategories(t, read.stdout)
	validMessages(t, messages)

	raw := fmt.Sprintf("it_dbt_%d", time.Now().UnixNano())
	start := time.Now()
	if r := runIn(t, dir, messages, "load", "--destination", "bigquery", "--project", "test",
		"--dataset", raw, "--endpoint", endpoint, "--staging", "ndjson"); r.code != 0 {
		t.Fatalf("bigquery load: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("loaded into %s in %v", raw, time.Since(start).Round(time.Millisecond))

	ctx := context.Background()
	client, err := bigquery.NewClient(ctx, "test", option.WithEndpoint(endpoint), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	landStreams(t, client, raw, messages)

	for _, mode := range []string{"loader", "usage_records"} {
		t.Run(mode, func(t *testing.T) {
			tgt := target{"test", raw + "_" + mode}
			b, err := p.build(map[string]string{"twilio_cost_source": mode, "twilio_schema": raw}, tgt)
			if err != nil {
				t.Fatal(err)
			}
			if err := client.Dataset(tgt.dataset).Create(ctx, nil); err != nil {
				t.Fatal(err)
			}
			for _, name := range slices.Sorted(maps.Keys(b.seeds)) {
				loadSeed(t, client, tgt, b.seeds[name], p.documented[name])
			}
			for _, name := range b.order {
				m := b.models[name]
				kind := map[string]string{"view": "VIEW", "table": "TABLE"}[m.materialized]
				if kind == "" {
					t.Fatalf("model %s: materialization %q", name, m.materialized)
				}
				start := time.Now()
				if err := runQuery(ctx, client.Query(fmt.Sprintf("CREATE %s %s AS\n%s", kind, tgt.of(name), m.sql))); err != nil {
					t.Fatalf("create %s %s: %v", strings.ToLower(kind), name, err)
				}
				t.Logf("created %s %s in %v", strings.ToLower(kind), name, time.Since(start).Round(time.Millisecond))
			}

			// The package's own data tests.
			start := time.Now()
			tests := b.allTests()
			for _, tc := range tests {
				q, err := b.failuresSQL(tc)
				if err != nil {
					t.Errorf("%s %s(%s): %v", tc.relation, tc.test, tc.column, err)
					continue
				}
				if n := queryRows(t, client, q)[0][0].(int64); n != 0 {
					t.Errorf("data test %s %s(%s) fails on %d rows", tc.relation, tc.test, tc.column, n)
				}
			}
			t.Logf("ran %d data tests in %v", len(tests), time.Since(start).Round(time.Millisecond))

			loaded := target{"test", raw}
			checkCostDaily(t, client, tgt, loaded)
			recon := sameRows(t, client, tgt.of("twilio__reconciliation"), loaded.of("twilio_reconciliation"), "account_sid", "usage_date")
			statuses := map[string]bool{}
			for _, r := range recon {
				statuses[r["status"]] = true
			}
			for _, want := range []string{"ok", "rollup_exceeded", "over_total"} {
				if !statuses[want] {
					t.Errorf("no account-day of status %s: the data exercises too little of the reconciliation", want)
				}
			}
			if mode == "usage_records" {
				// What the SQL read and placed is what the loader read and
				// placed.
				sameRows(t, client, tgt.of("stg_twilio__usage_daily"), loaded.of("twilio_usage_daily"), "account_sid", "usage_date", "category")
				sameRows(t, client, tgt.of("stg_twilio__usage_categories"), loaded.of("twilio_usage_categories"), "category")
				sameRows(t, client, tgt.of("stg_twilio__category_ancestors"), loaded.of("twilio_usage_category_ancestors"), "category", "ancestor")
				checkUnknownCategories(t, client, tgt)
			}
			checkMarts(t, client, tgt, loaded, b.models["twilio__sim_data_daily"] != nil)
		})
	}
}

// unknownCategories are usage categories twilio-elt's table does not know,
// one for each rule that places such a category: under a roll-up by
// prefix, past a bare string prefix, past an overlay roll-up, a Voice
// service of its own (trunking), the plain Voice service although a
// Voice Intelligence category is its prefix (transcriptions), charge
// frequencies by prefix and by substring, no prefix at all, an empty
// description, a negative price, and nothing billed (only the taxonomy
// learns of it). The roll-ups over the first two bill nothing for them:
// their children exceed them (rollup_exceeded).
var unknownCategories = []unknownCategory{
	{"sms-outbound-rcs", "RCS Outbound Messages", "messages", "messages", 40, 40, "0.31000"},
	{"wireless-data-quota1x-foo", "Wireless Data Quota", "sims", "sims", 1, 1, "2.00000"},
	{"channels-rcs", "Channels - RCS", "messages", "messages", 5, 5, "0.02500"},
	{"trunking-origination-newzone", "", "calls", "minutes", 3, 12, "0.05400"},
	{"transcriptions-realtime", "Real-time Transcriptions", "transcriptions", "minutes", 2, 9, "0.22500"},
	{"phonenumbers-local-newzone", "Local Numbers in a New Zone", "numbers", "numbers", 1, 1, "1.15000"},
	{"a2p-10dlc-registrationfees-newfee-onetime", "A New One-time Fee", "fees", "fees", 1, 1, "4.00000"},
	{"totalprice-adjustments", "Adjustments", "", "", 0, 0, "-0.50000"},
	{"voice-newfeature", "A Feature Nobody Used", "calls", "minutes", 0, 0, "0"},
}

// overTotal is a fee of a category the table does not know, larger than
// its day's cost in no category: on a day of no other such record, the
// day's categories exceed its totalprice (over_total).
var overTotal = unknownCategory{"a2p-10dlc-registrationfees-newfee-monthly", "A New Monthly Fee", "fees", "fees", 1, 1, "400.00000"}

type unknownCategory struct {
	name, description, countUnit, usageUnit string
	count, usage                            int
	price                                   string
}

// withUnknownCategories returns the messages of a read with a record of
// each of unknownCategories for the main account's first day of usage,
// and of overTotal for its second, each right after the day's first
// record.
func withUnknownCategories(t *testing.T, stdout []byte) []byte {
	t.Helper()
	type message struct {
		Type   string
		Record struct {
			Stream    string
			Data      map[string]any
			EmittedAt int64 `json:"emitted_at"`
		}
	}
	lines := bytes.Split(bytes.TrimSpace(stdout), []byte("\n"))
	var main string
	for _, line := range lines {
		var m message
		if json.Unmarshal(line, &m) == nil && m.Record.Stream == "accounts" && m.Record.Data["is_main"] == true {
			main, _ = m.Record.Data["sid"].(string)
		}
	}
	if main == "" {
		t.Fatal("the read emitted no main account")
	}
	var out bytes.Buffer
	var days []any
	for _, line := range lines {
		out.Write(line)
		out.WriteByte('\n')
		var m message
		if len(days) == 2 || json.Unmarshal(line, &m) != nil || m.Type != "RECORD" || m.Record.Stream != "usage_records" ||
			m.Record.Data["account_sid"] != main || slices.Contains(days, m.Record.Data["start_date"]) {
			continue
		}
		d := m.Record.Data
		add := unknownCategories
		if len(days) == 1 {
			add = []unknownCategory{overTotal}
		}
		days = append(days, d["start_date"])
		for _, c := range add {
			data := map[string]any{
				"account_sid": d["account_sid"], "category": c.name, "description": c.description,
				"start_date": d["start_date"], "end_date": d["end_date"],
				"count": c.count, "count_unit": c.countUnit, "usage": c.usage, "usage_unit": c.usageUnit,
				"price": json.Number(c.price), "price_unit": "usd", "as_of": d["as_of"],
				"uri": fmt.Sprintf("/2010-04-01/Accounts/%s/Usage/Records/Daily.json?Category=%s&StartDate=%s&EndDate=%s",
					d["account_sid"], c.name, d["start_date"], d["end_date"]),
			}
			line, err := json.Marshal(map[string]any{"type": "RECORD",
				"record": map[string]any{"stream": "usage_records", "data": data, "emitted_at": m.Record.EmittedAt}})
			if err != nil {
				t.Fatal(err)
			}
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	if len(days) < 2 {
		t.Fatalf("the read emitted usage of the main account on %d days, want 2 or more", len(days))
	}
	return out.Bytes()
}

// landStreams creates the usage_records and accounts tables of dataset as
// Airbyte's BigQuery destination lands the streams: a column per property
// of the stream's JSON schema (catalog/schemas), typed as Airbyte types
// them (number NUMERIC, integer INT64, boolean BOOL, format date DATE,
// format date-time TIMESTAMP, else STRING), plus _airbyte_raw_id,
// _airbyte_extracted_at (the record's emitted_at) and
// _airbyte_generation_id. (Its _airbyte_meta, JSON, is left out: the
// package does not read it.) Like an append sync, the tables also keep
// earlier versions of some records, which the later ones supersede: each
// usage record of the last day as Twilio reported it a day earlier, with a
// larger price, and the subaccount as it was named before.
func landStreams(t *testing.T, client *bigquery.Client, dataset string, messages []byte) {
	t.Helper()
	rows := map[string][]map[string]any{}
	var lastDay string
	sc := bufio.NewScanner(bytes.NewReader(messages))
	sc.Buffer(nil, 16<<20)
	for n := 0; sc.Scan(); n++ {
		var m struct {
			Type   string
			Record struct {
				Stream    string
				Data      map[string]any
				EmittedAt int64 `json:"emitted_at"`
			}
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "RECORD" || !slices.Contains(streamTables, m.Record.Stream) {
			continue
		}
		row := maps.Clone(m.Record.Data)
		row["_airbyte_raw_id"] = fmt.Sprintf("raw-%06d", n)
		row["_airbyte_extracted_at"] = time.UnixMilli(m.Record.EmittedAt).UTC().Format(time.RFC3339Nano)
		row["_airbyte_generation_id"] = 0
		rows[m.Record.Stream] = append(rows[m.Record.Stream], row)
		if d, _ := row["start_date"].(string); d > lastDay {
			lastDay = d
		}
	}
	earlier := func(row map[string]any, field string) {
		tm, err := time.Parse(time.RFC3339Nano, row[field].(string))
		if err != nil {
			t.Fatal(err)
		}
		row[field] = tm.Add(-24 * time.Hour).Format(time.RFC3339Nano)
	}
	var stale int
	for _, row := range rows["usage_records"] {
		if row["start_date"] != lastDay {
			continue
		}
		old := maps.Clone(row)
		old["_airbyte_raw_id"] = fmt.Sprint(row["_airbyte_raw_id"], "-earlier")
		earlier(old, "_airbyte_extracted_at")
		earlier(old, "as_of")
		price, ok := new(big.Rat).SetString(fmt.Sprint(row["price"]))
		if !ok {
			t.Fatalf("price %v", row["price"])
		}
		old["price"] = json.Number(price.Add(price, big.NewRat(1, 1)).FloatString(5))
		rows["usage_records"] = append(rows["usage_records"], old)
		stale++
	}
	for _, row := range rows["accounts"] {
		if row["is_main"] == false {
			old := maps.Clone(row)
			old["_airbyte_raw_id"] = fmt.Sprint(row["_airbyte_raw_id"], "-earlier")
			earlier(old, "_airbyte_extracted_at")
			earlier(old, "date_updated")
			old["friendly_name"], old["display_name"] = "Former Name", "Former Name"
			rows["accounts"] = append(rows["accounts"], old)
			stale++
		}
	}
	if stale < 10 {
		t.Fatalf("only %d superseded records: the data should exercise the streams' deduplication", stale)
	}
	for _, stream := range streamTables {
		schema := airbyteSchema(t, stream)
		loadRows(t, client, target{"test", dataset}, stream, schema, rows[stream])
		t.Logf("landed %d %s records as Airbyte does", len(rows[stream]), stream)
	}
}

// airbyteSchema is the BigQuery schema Airbyte's BigQuery destination
// gives a stream's table.
func airbyteSchema(t *testing.T, stream string) bigquery.Schema {
	t.Helper()
	var js struct {
		Properties map[string]struct {
			Type   any    `json:"type"`
			Format string `json:"format"`
		} `json:"properties"`
	}
	b, err := os.ReadFile(filepath.Join("../catalog/schemas", stream+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	schema := bigquery.Schema{
		{Name: "_airbyte_raw_id", Type: bigquery.StringFieldType, Required: true},
		{Name: "_airbyte_extracted_at", Type: bigquery.TimestampFieldType, Required: true},
		{Name: "_airbyte_generation_id", Type: bigquery.IntegerFieldType},
	}
	for _, name := range slices.Sorted(maps.Keys(js.Properties)) {
		prop := js.Properties[name]
		var typ string
		switch v := prop.Type.(type) {
		case string:
			typ = v
		case []any:
			for _, x := range v {
				if x != "null" {
					typ = fmt.Sprint(x)
				}
			}
		}
		ft := map[string]bigquery.FieldType{"number": bigquery.NumericFieldType, "integer": bigquery.IntegerFieldType,
			"boolean": bigquery.BooleanFieldType, "string": bigquery.StringFieldType}[typ]
		switch {
		case typ == "string" && prop.Format == "date":
			ft = bigquery.DateFieldType
		case typ == "string" && prop.Format == "date-time":
			ft = bigquery.TimestampFieldType
		case ft == "":
			t.Fatalf("%s.%s: JSON type %v has no column type here", stream, name, prop.Type)
		}
		schema = append(schema, &bigquery.FieldSchema{Name: name, Type: ft})
	}
	return schema
}

// loadSeed creates a seed's table as `dbt seed` does: the column types of
// its config, an empty cell NULL.
func loadSeed(t *testing.T, client *bigquery.Client, tgt target, s *dbtSeed, doc *resourceDoc) {
	t.Helper()
	if doc == nil {
		t.Fatalf("seed %s has no properties", s.name)
	}
	var schema bigquery.Schema
	for _, col := range s.rows[0] {
		ft := map[string]bigquery.FieldType{"string": bigquery.StringFieldType, "bool": bigquery.BooleanFieldType,
			"int64": bigquery.IntegerFieldType}[doc.Config.ColumnTypes[col]]
		if ft == "" {
			t.Fatalf("seed %s: column %s has type %q", s.name, col, doc.Config.ColumnTypes[col])
		}
		schema = append(schema, &bigquery.FieldSchema{Name: col, Type: ft})
	}
	var rows []map[string]any
	for _, r := range s.rows[1:] {
		row := map[string]any{}
		for i, v := range r {
			if v != "" {
				row[s.rows[0][i]] = v
			}
		}
		rows = append(rows, row)
	}
	loadRows(t, client, tgt, s.name, schema, rows)
}

// loadRows creates table with schema and loads rows into it with a load
// job of newline-delimited JSON.
func loadRows(t *testing.T, client *bigquery.Client, tgt target, table string, schema bigquery.Schema, rows []map[string]any) {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rows {
		for k, v := range r {
			if n, ok := v.(json.Number); ok {
				r[k] = n.String() // NUMERIC as its exact decimal text
			}
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	tb := client.Dataset(tgt.dataset).Table(table)
	if err := tb.Create(ctx, &bigquery.TableMetadata{Schema: schema}); err != nil {
		t.Fatalf("create %s: %v", table, err)
	}
	src := bigquery.NewReaderSource(&buf)
	src.SourceFormat = bigquery.JSON
	src.Schema = schema
	job, err := tb.LoaderFrom(src).Run(ctx)
	if err == nil {
		var status *bigquery.JobStatus
		if status, err = job.Wait(ctx); err == nil {
			err = status.Err()
		}
	}
	if err != nil {
		t.Fatalf("load %s: %v", table, err)
	}
}

// checkCostDaily compares twilio__cost_daily with the loader's table
// twilio_cost_daily row for row, every column; and checks each
// account-day against its totalprice.
func checkCostDaily(t *testing.T, client *bigquery.Client, tgt, loaded target) {
	t.Helper()
	ours := sameRows(t, client, tgt.of("twilio__cost_daily"), loaded.of("twilio_cost_daily"), "account_sid", "usage_date", "category")
	if len(ours) == 0 {
		t.Fatal("twilio__cost_daily is empty")
	}

	// Every account-day adds up to its totalprice exactly, and nothing
	// is attributed where there is no totalprice.
	sums := map[string]*big.Rat{}
	var residuals, unattributed, residualUsage int
	for _, r := range ours {
		addRat(sums, r["account_sid"]+"|"+r["usage_date"], mustRat(t, r["cost"]))
		switch r["attribution"] {
		case "residual":
			residuals++
			if r["usage"] != "NULL" {
				residualUsage++
			}
		case "unattributed":
			unattributed++
		}
	}
	if residuals == 0 || unattributed == 0 || residualUsage == 0 {
		t.Errorf("%d residual rows (%d with usage) and %d unattributed rows: the data exercises too little of the attribution", residuals, residualUsage, unattributed)
	}
	totals := map[string]*big.Rat{}
	for _, r := range queryRows(t, client, "select account_sid, cast(usage_date as string), price from "+loaded.of("twilio_usage_daily")+" where category = 'totalprice'") {
		totals[r[0].(string)+"|"+r[1].(string)] = ratValue(t, r[2])
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

// checkUnknownCategories checks that the data held the categories the
// table does not know, with cost.
func checkUnknownCategories(t *testing.T, client *bigquery.Client, tgt target) {
	t.Helper()
	r := queryRows(t, client, fmt.Sprintf(`select
		(select count(*) from %s where not is_known),
		(select count(distinct source_category) from %s where source_category in (select category from %s where not is_known))`,
		tgt.of("stg_twilio__usage_categories"), tgt.of("twilio__cost_daily"), tgt.of("stg_twilio__usage_categories")))[0]
	placed, costed := r[0].(int64), r[1].(int64)
	// Every injected one is placed; all but the one with no usage cost.
	if want := int64(len(unknownCategories) + 1); placed < want || costed < want-1 {
		t.Errorf("%d categories placed by prefix, %d with cost; want at least %d and %d", placed, costed, want, want-1)
	}
}

// sameRows checks that ours holds the rows of theirs, by key, with every
// column of theirs but _loaded_at, each value the same (decimals to the
// billionth), and returns ours.
func sameRows(t *testing.T, client *bigquery.Client, ours, theirs string, key ...string) map[string]map[string]string {
	t.Helper()
	ourCols, our := tableRows(t, client, ours, key)
	theirCols, their := tableRows(t, client, theirs, key)
	var cols []string
	for _, c := range theirCols {
		switch {
		case c == "_loaded_at":
		case !slices.Contains(ourCols, c):
			t.Errorf("%s has no column %s, which %s has", ours, c, theirs)
		default:
			cols = append(cols, c)
		}
	}
	if len(their) == 0 {
		t.Errorf("%s is empty", theirs)
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(their)) {
		o, ok := our[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("only %s has %s", theirs, k))
			continue
		}
		for _, c := range cols {
			if o[c] != their[k][c] {
				diffs = append(diffs, fmt.Sprintf("%s %s: %s, %s", k, c, o[c], their[k][c]))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(our)) {
		if _, ok := their[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("only %s has %s", ours, k))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%s and %s differ in %d values (ours, theirs), the first:\n%s", ours, theirs, len(diffs), strings.Join(diffs[:min(len(diffs), 25)], "\n"))
	} else {
		t.Logf("%s = %s: %d rows, %d columns", ours, theirs, len(our), len(cols))
	}
	return our
}

// tableRows reads every row of a relation, keyed by the key columns
// joined by "|", each column's value as text: NULL, exact decimals to the
// billionth, dates YYYY-MM-DD, timestamps RFC 3339.
func tableRows(t *testing.T, client *bigquery.Client, rel string, key []string) ([]string, map[string]map[string]string) {
	t.Helper()
	it, err := client.Query("select * from " + rel).Read(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	out := map[string]map[string]string{}
	var cols []string
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", rel, err)
		}
		if cols == nil {
			for _, f := range it.Schema {
				cols = append(cols, f.Name)
			}
		}
		r := map[string]string{}
		for i, v := range row {
			r[cols[i]] = valueText(t, v)
		}
		parts := make([]string, len(key))
		for i, k := range key {
			parts[i] = r[k]
		}
		k := strings.Join(parts, "|")
		if _, dup := out[k]; dup {
			t.Errorf("%s holds %s twice", rel, k)
		}
		out[k] = r
	}
	return cols, out
}

func valueText(t *testing.T, v bigquery.Value) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case *big.Rat:
		return x.FloatString(9)
	case civil.Date:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case string, bool, int64:
		return fmt.Sprint(x)
	}
	t.Fatalf("%v (%T): a value this test does not compare", v, v)
	return ""
}

// checkMarts checks the marts built on twilio__cost_daily against it, and
// the SIM mart, when enabled, against the loaded SIM usage.
func checkMarts(t *testing.T, client *bigquery.Client, tgt, loaded target, sims bool) {
	t.Helper()
	// Σ cost per month, and per account and month, of cost_daily.
	perMonth, perAccountMonth := map[string]*big.Rat{}, map[string]*big.Rat{}
	var rows int64
	total := new(big.Rat)
	for _, r := range queryRows(t, client, "select account_sid, cast(date_trunc(usage_date, month) as string), cost from "+tgt.of("twilio__cost_daily")) {
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
		from `+tgt.of("twilio__focus"))[0]
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
	for _, r := range queryRows(t, client, "select account_sid, cast(usage_month as string), cost from "+tgt.of("twilio__cost_by_service_monthly")) {
		addRat(byService, r[0].(string)+"|"+r[1].(string), ratValue(t, r[2]))
	}
	if !equalRats(perAccountMonth, byService) {
		t.Errorf("twilio__cost_by_service_monthly per account and month:\n got %v\nwant %v", ratStrings(byService), ratStrings(perAccountMonth))
	}

	// twilio__account_overview: cost per account and month; the main
	// accounts' roll-ups add up to all the cost, without fan-out.
	own, rolledUp := map[string]*big.Rat{}, map[string]*big.Rat{}
	var mains int
	for _, r := range queryRows(t, client, "select account_sid, cast(usage_month as string), is_billing_account, cost, subaccounts_cost, billing_account_total from "+tgt.of("twilio__account_overview")) {
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

	if !sims {
		return
	}
	// twilio__sim_data_daily: one row per loaded SIM-day, the same bytes
	// and money.
	const simSums = "select count(*), sum(%s), sum(%s), sum(%s) from %s"
	want := queryRows(t, client, fmt.Sprintf(simSums, "data_total", "data_billed", "commands_total", loaded.of("twilio_sim_usage_daily")))[0]
	got := queryRows(t, client, fmt.Sprintf(simSums, "data_bytes", "data_billed", "commands", tgt.of("twilio__sim_data_daily")))[0]
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
