package costmodel

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twilio-elt/twilio-elt/transforms"
)

// Version names how the cost tables are computed. A warehouse whose
// MetaVersionKey holds another value (or none: it was loaded by a version
// that computed cost in views) has its cost tables rebuilt by the first
// load of this version.
const Version = "2"

// MetaVersionKey is the warehouse.MetaTable key of Version.
const MetaVersionKey = "cost_model_version"

// TaxonomyChanges compares the category taxonomy stored in the warehouse
// (twilio_usage_categories and twilio_usage_category_ancestors) with the
// one this version places categories by — the shipped table, and the
// prefix rule for categories it lacks — and returns the categories whose
// stored rows differ or are missing, as they should now be.
func TaxonomyChanges(ctx context.Context, s Scanner) ([]transforms.Category, error) {
	stored := map[string]string{}
	q, err := s.Dialect().Render(`SELECT category, parent, CAST(is_rollup AS {{string}}), CAST(is_overlay AS {{string}}),
  CAST(is_known AS {{string}}), hierarchy, service_group, service_name, service_category, service_subcategory,
  charge_frequency, description
FROM {{table "twilio_usage_categories"}}`)
	if err != nil {
		return nil, err
	}
	err = s.QueryEach(ctx, q, func(row []sql.NullString) error {
		f := make([]string, len(row)-1)
		for i, v := range row[1:] {
			f[i] = v.String
		}
		stored[row[0].String] = strings.Join(f, "\x1f")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read twilio_usage_categories: %w", err)
	}
	ancestors := map[string][]string{}
	q, err = s.Dialect().Render(`SELECT category, ancestor, CAST(distance AS {{string}})
FROM {{table "twilio_usage_category_ancestors"}}`)
	if err != nil {
		return nil, err
	}
	type anc struct {
		name string
		d    int
	}
	byDistance := map[string][]anc{}
	err = s.QueryEach(ctx, q, func(row []sql.NullString) error {
		d, _ := strconv.Atoi(row[2].String)
		byDistance[row[0].String] = append(byDistance[row[0].String], anc{row[1].String, d})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read twilio_usage_category_ancestors: %w", err)
	}
	for name, as := range byDistance {
		slices.SortFunc(as, func(a, b anc) int { return a.d - b.d })
		for _, a := range as {
			ancestors[name] = append(ancestors[name], a.name)
		}
	}

	var names []string
	for _, c := range transforms.Categories() {
		names = append(names, c.Name)
	}
	for name := range stored {
		if _, known := transforms.LookupCategory(name); !known {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out []transforms.Category
	for _, name := range names {
		c := transforms.ClassifyCategory(name)
		have, ok := stored[name]
		if !ok || have != taxonomyRow(c) || !slices.Equal(ancestors[name], transforms.Ancestors(c)) {
			out = append(out, c)
		}
	}
	return out, nil
}

// taxonomyRow is c as TaxonomyChanges reads a stored row.
func taxonomyRow(c transforms.Category) string {
	return strings.Join([]string{
		c.Parent, strconv.FormatBool(c.Rollup), strconv.FormatBool(c.Overlay), strconv.FormatBool(c.Known),
		c.Hierarchy, c.ServiceGroup, c.ServiceName, c.ServiceCategory, c.ServiceSubcategory, c.ChargeFrequency, c.Description,
	}, "\x1f")
}

// DaysWithCategories returns the account-days that have usage in any of
// categories: those whose attribution a change of them changes.
func DaysWithCategories(ctx context.Context, s Scanner, categories []string) ([]DayKey, error) {
	d := s.Dialect()
	seen := map[DayKey]bool{}
	var out []DayKey
	const perQuery = 100 // an IN list the BigQuery emulator can run
	for i := 0; i < len(categories); i += perQuery {
		chunk := categories[i:min(i+perQuery, len(categories))]
		lits := make([]string, len(chunk))
		for i, c := range chunk {
			lits[i] = d.Literal(c)
		}
		q, err := d.Render(`SELECT DISTINCT account_sid, CAST(usage_date AS {{string}})
FROM {{table "twilio_usage_daily"}} WHERE category IN (` + strings.Join(lits, ", ") + `)`)
		if err != nil {
			return nil, err
		}
		err = s.QueryEach(ctx, q, func(row []sql.NullString) error {
			k, err := dayKey(row[0].String, row[1].String)
			if err != nil {
				return err
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find the days of changed categories: %w", err)
		}
	}
	return out, nil
}
