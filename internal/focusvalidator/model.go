package focusvalidator

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// modelJSON is focus_validator's focus_validator/rules/model-1.2.json.
//
//go:embed model-1.2.json
var modelJSON []byte

// currencyCSV lists the active ISO 4217 alphabetic codes, the stand-in
// for focus_validator's rules/currency_codes.csv.
//
//go:embed currency_codes.csv
var currencyCSV []byte

// A model is a parsed rule file with its dependency graph.
type model struct {
	version  string
	criteria map[string]bool // ApplicabilityCriteria names
	rules    map[string]*rule
	order    []string            // topological order: parents before children
	parents  map[string][]string // rules a rule references or depends on
	children map[string][]string // inverse of parents
}

type rule struct {
	ID          string
	Function    string // Composite, Validation, Nullability, Format, Presence, Type
	Reference   string
	EntityType  string // Dataset, Column, Attribute
	Type        string // Static or Dynamic
	Criteria    []string
	Keyword     string
	MustSatisfy string
	Requirement *check
	Condition   *check // nil when the rule has no condition
	DependsOn   []string
}

// A check is one Requirement or Condition node: a CheckFunction, its
// arguments, and for AND/OR the nested items.
type check struct {
	Function string
	Items    []*check
	args     map[string]json.RawMessage
}

func (c *check) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if raw, ok := m["CheckFunction"]; ok {
		if err := json.Unmarshal(raw, &c.Function); err != nil {
			return fmt.Errorf("CheckFunction: %w", err)
		}
		delete(m, "CheckFunction")
	}
	if raw, ok := m["Items"]; ok {
		if err := json.Unmarshal(raw, &c.Items); err != nil {
			return fmt.Errorf("%s Items: %w", c.Function, err)
		}
		delete(m, "Items")
	}
	c.args = m
	return nil
}

// has reports whether every named argument is present.
func (c *check) has(names ...string) bool {
	for _, n := range names {
		if _, ok := c.args[n]; !ok {
			return false
		}
	}
	return true
}

// str returns a string argument.
func (c *check) str(name string) (string, error) {
	var s string
	if err := json.Unmarshal(c.args[name], &s); err != nil {
		return "", fmt.Errorf("%s argument %s: %w", c.Function, name, err)
	}
	return s, nil
}

// value returns the Value argument as Python's str() would render it,
// or null=true for JSON null.
func (c *check) value() (s string, null bool, err error) {
	raw := bytes.TrimSpace(c.args["Value"])
	if string(raw) == "null" {
		return "", true, nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", false, fmt.Errorf("%s Value: %w", c.Function, err)
	}
	switch v := v.(type) {
	case string:
		return v, false, nil
	case json.Number:
		return v.String(), false, nil
	default:
		return "", false, fmt.Errorf("%s Value: unsupported %T", c.Function, v)
	}
}

var (
	loadOnce sync.Once
	loaded   *model
	loadErr  error
)

func loadModel() (*model, error) {
	loadOnce.Do(func() { loaded, loadErr = parseModel(modelJSON) })
	return loaded, loadErr
}

func parseModel(b []byte) (*model, error) {
	var f struct {
		Details struct {
			ModelVersion string
		}
		ApplicabilityCriteria map[string]json.RawMessage
		ModelRules            map[string]struct {
			Function              string
			Reference             string
			EntityType            string
			Type                  string
			ApplicabilityCriteria []string
			ValidationCriteria    struct {
				MustSatisfy  string
				Keyword      string
				Requirement  *check
				Condition    *check
				Dependencies []string
			}
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse FOCUS model: %w", err)
	}
	m := &model{
		version:  f.Details.ModelVersion,
		criteria: make(map[string]bool),
		rules:    make(map[string]*rule, len(f.ModelRules)),
		parents:  make(map[string][]string),
		children: make(map[string][]string),
	}
	for name := range f.ApplicabilityCriteria {
		m.criteria[name] = true
	}
	for id, r := range f.ModelRules {
		vc := r.ValidationCriteria
		cond := vc.Condition
		if cond != nil && cond.Function == "" && len(cond.Items) == 0 && len(cond.args) == 0 {
			cond = nil
		}
		req := vc.Requirement
		if req == nil {
			req = &check{}
		}
		m.rules[id] = &rule{
			ID:          id,
			Function:    r.Function,
			Reference:   r.Reference,
			EntityType:  r.EntityType,
			Type:        r.Type,
			Criteria:    r.ApplicabilityCriteria,
			Keyword:     vc.Keyword,
			MustSatisfy: vc.MustSatisfy,
			Requirement: req,
			Condition:   cond,
			DependsOn:   vc.Dependencies,
		}
	}
	// Edges as in focus_validator's plan builder: a composite depends on
	// the rules its top-level CheckModelRule items name, and every rule on
	// its Dependencies.
	for id, r := range m.rules {
		var ps []string
		if r.Function == "Composite" {
			for _, it := range r.Requirement.Items {
				if it.Function != "CheckModelRule" {
					continue
				}
				ref, err := it.str("ModelRuleId")
				if err != nil {
					return nil, fmt.Errorf("rule %s: %w", id, err)
				}
				if _, ok := m.rules[ref]; ok {
					ps = append(ps, ref)
				}
			}
		}
		for _, dep := range r.DependsOn {
			if _, ok := m.rules[dep]; ok {
				ps = append(ps, dep)
			}
		}
		slices.Sort(ps)
		ps = slices.Compact(ps)
		ps = slices.DeleteFunc(ps, func(p string) bool { return p == id })
		m.parents[id] = ps
		for _, p := range ps {
			m.children[p] = append(m.children[p], id)
		}
	}
	for _, cs := range m.children {
		slices.Sort(cs)
	}
	order, err := m.topoOrder()
	if err != nil {
		return nil, err
	}
	m.order = order
	return m, nil
}

var ruleNumber = regexp.MustCompile(`-([0-9]{3})-`)

// topoOrder orders rules parents-first, breaking ties like
// focus_validator's default_key_fn: -000- rules, then Dataset before
// Column rules, then by number and ID.
func (m *model) topoOrder() ([]string, error) {
	type key struct {
		notZero, entity, num int
		id                   string
	}
	keyOf := func(id string) key {
		num := 999
		if s := ruleNumber.FindStringSubmatch(id); s != nil {
			num, _ = strconv.Atoi(s[1])
		}
		entity := 2
		switch m.rules[id].EntityType {
		case "Dataset":
			entity = 0
		case "Column":
			entity = 1
		}
		k := key{notZero: 1, entity: entity, num: num, id: id}
		if num == 0 {
			k.notZero = 0
		}
		return k
	}
	less := func(a, b string) int {
		ka, kb := keyOf(a), keyOf(b)
		switch {
		case ka.notZero != kb.notZero:
			return ka.notZero - kb.notZero
		case ka.entity != kb.entity:
			return ka.entity - kb.entity
		case ka.num != kb.num:
			return ka.num - kb.num
		}
		return strings.Compare(ka.id, kb.id)
	}
	indeg := make(map[string]int, len(m.rules))
	var ready []string
	for id := range m.rules {
		indeg[id] = len(m.parents[id])
		if indeg[id] == 0 {
			ready = append(ready, id)
		}
	}
	var order []string
	for len(ready) > 0 {
		slices.SortFunc(ready, less)
		layer := ready
		ready = nil
		for _, id := range layer {
			order = append(order, id)
			for _, c := range m.children[id] {
				if indeg[c]--; indeg[c] == 0 {
					ready = append(ready, c)
				}
			}
		}
	}
	if len(order) != len(m.rules) {
		return nil, fmt.Errorf("FOCUS model: dependency cycle among %d rules", len(m.rules)-len(order))
	}
	return order, nil
}

// currencyCodes returns the embedded ISO 4217 codes.
func currencyCodes() ([]string, error) {
	var codes []string
	sc := bufio.NewScanner(bytes.NewReader(currencyCSV))
	for first := true; sc.Scan(); first = false {
		c := strings.TrimSpace(sc.Text())
		if first || c == "" {
			continue
		}
		codes = append(codes, c)
	}
	return codes, sc.Err()
}
