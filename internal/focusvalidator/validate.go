package focusvalidator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Validate checks relation, a DuckDB table or view, against the static
// rules of the FOCUS 1.2 model. Criteria name the ApplicabilityCriteria
// the data's provider supports (SUB_ACCOUNT_SUPPORTED, …); a rule with
// criteria runs only if at least one of them is enabled.
//
// A rule that breaks is reported in the Report, not as an error. Validate
// returns an error when the criteria are unknown, the relation cannot be
// read, a query fails for a reason other than a missing column or a type
// mismatch, or the model uses a CheckFunction this package cannot
// evaluate.
func Validate(ctx context.Context, db *sql.DB, relation string, criteria ...string) (Report, error) {
	m, err := loadModel()
	if err != nil {
		return Report{}, err
	}
	return validate(ctx, m, db, relation, criteria)
}

func validate(ctx context.Context, m *model, db *sql.DB, relation string, criteria []string) (Report, error) {
	enabled := make(map[string]bool, len(criteria))
	for _, c := range criteria {
		if !m.criteria[c] {
			return Report{}, fmt.Errorf("unknown FOCUS applicability criterion %q", c)
		}
		enabled[c] = true
	}
	cp, err := newCompiler(relation)
	if err != nil {
		return Report{}, err
	}
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+relation+" LIMIT 0")
	if err != nil {
		return Report{}, fmt.Errorf("read %s: %w", relation, err)
	}
	rows.Close()

	v := &validation{m: m, cp: cp, db: db, results: make(map[string]*Result, len(m.rules))}
	v.skipStatic()
	v.skipNonApplicable(enabled)
	v.skipDependents()
	if err := v.runLeaves(ctx); err != nil {
		return Report{}, err
	}
	if err := v.aggregateComposites(); err != nil {
		return Report{}, err
	}

	rep := Report{Model: m.version, Relation: relation, Criteria: slices.Sorted(slices.Values(criteria))}
	for _, id := range slices.Sorted(maps.Keys(v.results)) {
		rep.Results = append(rep.Results, *v.results[id])
	}
	return rep, nil
}

type validation struct {
	m       *model
	cp      *compiler
	db      *sql.DB
	results map[string]*Result // Status 0 until decided
}

func (v *validation) skip(id, reason string) {
	res := v.results[id]
	res.Status, res.Reason, res.Violations = Skipped, reason, 0
}

// skipStatic marks the rules focus_validator never turns into SQL:
// dynamic rules, MAY/OPTIONAL rules, and CheckDecimalValue, which it
// leaves unimplemented.
func (v *validation) skipStatic() {
	for id, r := range v.m.rules {
		v.results[id] = &Result{ID: id, Keyword: r.Keyword, MustSatisfy: r.MustSatisfy}
		switch {
		case r.Type == "Dynamic":
			v.skip(id, "dynamic rule")
		case r.Keyword == "MAY" || r.Keyword == "OPTIONAL":
			v.skip(id, "MAY/OPTIONAL rule")
		case r.Requirement.Function == "CheckDecimalValue":
			v.skip(id, "CheckDecimalValue is not implemented by focus_validator")
		}
	}
}

// skipNonApplicable follows focus_validator's apply_result_overrides
// phase 1: a rule whose criteria are all disabled is skipped with every
// rule that references or depends on it, directly or not; a skipped
// column-presence rule also skips every rule of that column.
func (v *validation) skipNonApplicable(enabled map[string]bool) {
	why := make(map[string]string)
	var queue []string
	columns := make(map[string]string)
	for _, id := range v.m.order {
		r := v.m.rules[id]
		if len(r.Criteria) == 0 || slices.ContainsFunc(r.Criteria, func(c string) bool { return enabled[c] }) {
			continue
		}
		why[id] = "not applicable: needs " + strings.Join(r.Criteria, " or ")
		queue = append(queue, id)
		if r.Function == "Presence" && r.EntityType == "Dataset" && r.Reference != "" && r.Reference != "CostAndUsage" {
			if _, ok := columns[r.Reference]; !ok {
				columns[r.Reference] = id
			}
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, c := range v.m.children[id] {
			if _, ok := why[c]; !ok {
				why[c] = "not applicable: depends on " + id
				queue = append(queue, c)
			}
		}
	}
	for id := range v.m.rules {
		if _, ok := why[id]; ok {
			continue
		}
		col, _, _ := strings.Cut(id, "-")
		if src, ok := columns[col]; ok {
			why[id] = "not applicable: column " + col + " is not required (" + src + ")"
		}
	}
	for id, reason := range why {
		if v.results[id].Status != Skipped {
			v.skip(id, reason)
		}
	}
}

// skipDependents follows phase 2: in dependency order, a non-composite
// rule is skipped when a rule it depends on was skipped.
func (v *validation) skipDependents() {
	for _, id := range v.m.order {
		if v.m.rules[id].Function == "Composite" || v.results[id].Status == Skipped {
			continue
		}
		var skipped []string
		for _, p := range v.m.parents[id] {
			if v.results[p].Status == Skipped {
				skipped = append(skipped, p)
			}
		}
		if len(skipped) > 0 {
			v.skip(id, "depends on skipped "+strings.Join(skipped, ", "))
		}
	}
}

// runLeaves evaluates every undecided non-composite rule in SQL.
func (v *validation) runLeaves(ctx context.Context) error {
	for _, id := range v.m.order {
		r, res := v.m.rules[id], v.results[id]
		if r.Function == "Composite" || res.Status != 0 {
			continue
		}
		n, reason, err := v.evaluate(ctx, r)
		if err != nil {
			return fmt.Errorf("FOCUS rule %s: %w", id, err)
		}
		res.Violations, res.Reason, res.Status = n, reason, Passed
		if n > 0 {
			res.Status = Failed
		}
	}
	return nil
}

// effectiveCondition is the rule's own Condition combined with the
// Conditions of the composite rules that reference or depend on it.
func (v *validation) effectiveCondition(r *rule) (string, error) {
	var parts []string
	add := func(c *check) error {
		p, err := v.cp.condition(c)
		if err != nil {
			return err
		}
		if p != "" {
			parts = append(parts, "("+p+")")
		}
		return nil
	}
	if err := add(r.Condition); err != nil {
		return "", err
	}
	for _, c := range v.m.children[r.ID] {
		if cr := v.m.rules[c]; cr.Function == "Composite" && cr.Condition != nil {
			if err := add(cr.Condition); err != nil {
				return "", fmt.Errorf("condition of %s: %w", c, err)
			}
		}
	}
	return strings.Join(parts, " AND "), nil
}

// evaluate runs one leaf rule and returns its violation count. A query
// DuckDB rejects while binding (a missing column, a type mismatch) counts
// as one violation, as in focus_validator.
func (v *validation) evaluate(ctx context.Context, r *rule) (int64, string, error) {
	req := r.Requirement
	cond, err := v.effectiveCondition(r)
	if err != nil {
		return 0, "", err
	}
	var (
		query string
		args  []any
	)
	switch req.Function {
	case "ColumnPresent":
		col, err := req.str("ColumnName")
		if err != nil {
			return 0, "", err
		}
		query = "SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM information_schema.columns WHERE table_name = ? AND column_name = ?"
		args = []any{v.cp.table, col}
		if v.cp.schema != "" {
			query += " AND table_schema = ?"
			args = append(args, v.cp.schema)
		}
	case "CheckDistinctCount":
		cols, err := req.columns("ColumnAName", "ColumnBName")
		if err != nil {
			return 0, "", err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(req.args["ExpectedCount"])))
		if err != nil {
			return 0, "", fmt.Errorf("CheckDistinctCount ExpectedCount: %w", err)
		}
		where := ""
		if cond != "" {
			where = " WHERE " + cond
		}
		query = fmt.Sprintf("SELECT count(*) FROM (SELECT %s AS grp, count(DISTINCT %s) AS n FROM %s%s GROUP BY %s) WHERE n <> %d",
			cols[0], cols[1], v.cp.relation, where, cols[0], n)
	default:
		pred, err := v.cp.violation(req)
		if err != nil {
			return 0, "", err
		}
		if cond != "" {
			pred = "(" + pred + ") AND (" + cond + ")"
		}
		query = "SELECT count(*) FROM " + v.cp.relation + " WHERE " + pred
	}
	var n int64
	if err := v.db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		var de *duckdb.Error
		if errors.As(err, &de) && (de.Type == duckdb.ErrorTypeBinder || de.Type == duckdb.ErrorTypeCatalog || de.Type == duckdb.ErrorTypeParser) {
			msg, _, _ := strings.Cut(err.Error(), "\n")
			return 1, msg, nil
		}
		return 0, "", fmt.Errorf("query %s: %w", query, err)
	}
	return n, "", nil
}

// aggregateComposites follows phase 3: in dependency order, a composite
// rule takes the AND or OR of the rules its items reference, ignoring
// skipped ones, and is skipped when all of them were.
func (v *validation) aggregateComposites() error {
	for _, id := range v.m.order {
		r, res := v.m.rules[id], v.results[id]
		if r.Function != "Composite" || res.Status != 0 {
			continue
		}
		req := r.Requirement
		if req.Function != "AND" && req.Function != "OR" {
			return fmt.Errorf("FOCUS rule %s: %w", id, &errUnported{Function: req.Function, Where: "as a composite requirement"})
		}
		var passed, failed []string
		for _, it := range req.Items {
			if it.Function != "CheckModelRule" {
				return fmt.Errorf("FOCUS rule %s: %w", id, &errUnported{Function: it.Function, Where: "as an item of a composite rule"})
			}
			ref, err := it.str("ModelRuleId")
			if err != nil {
				return fmt.Errorf("FOCUS rule %s: %w", id, err)
			}
			child, ok := v.results[ref]
			if !ok {
				return fmt.Errorf("FOCUS rule %s references unknown rule %s", id, ref)
			}
			switch child.Status {
			case Passed:
				passed = append(passed, ref)
			case Failed:
				failed = append(failed, ref)
			case Skipped:
			default:
				return fmt.Errorf("FOCUS rule %s: referenced rule %s was not evaluated first", id, ref)
			}
		}
		switch {
		case len(passed)+len(failed) == 0:
			v.skip(id, "all referenced rules skipped")
			continue
		case req.Function == "AND" && len(failed) == 0, req.Function == "OR" && len(passed) > 0:
			res.Status = Passed
		default:
			res.Status = Failed
			res.Reason = "failed: " + strings.Join(failed, ", ")
			res.Violations = int64(len(failed))
		}
	}
	return nil
}
