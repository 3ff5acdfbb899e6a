package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
	"github.com/twilio-elt/twilio-elt/transforms/costmodel"
)

// Tables returns every table the loader writes, each once: the streams'
// (the connector's registry), the category taxonomy and the cost model's.
func Tables() []warehouse.Table {
	var out []warehouse.Table
	seen := map[string]bool{}
	for _, t := range slices.Concat(connector.Tables(), transforms.Tables(), costmodel.Tables()) {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	return out
}

// setup readies dest for a run (Prepare, unless opts.Prepared) and sets
// opts.Accounts to the accounts already loaded.
func setup(ctx context.Context, dest Destination, opts *Options) error {
	if !opts.Prepared {
		if err := Prepare(ctx, dest, *opts); err != nil {
			return err
		}
	}
	accounts, err := costmodel.ReadAccounts(ctx, dest)
	if err != nil {
		return err
	}
	for sid, a := range opts.Listed {
		if _, ok := accounts[sid]; !ok {
			accounts[sid] = a
		}
	}
	opts.Accounts = accounts
	return nil
}

// Prepare readies dest for runs: it creates the tables and the cost
// model's views, and brings the cost tables up to this version (see
// migrateCosts). Runs that share dest (a multi-account sync) call it once
// and set Options.Prepared.
func Prepare(ctx context.Context, dest Destination, opts Options) error {
	return prepare(ctx, dest, opts, false)
}

// prepare is Prepare; rebuild re-attributes every account-day.
func prepare(ctx context.Context, dest Destination, opts Options, rebuild bool) error {
	if err := dest.Setup(ctx, Tables()); err != nil {
		return err
	}
	if err := dest.CreateViews(ctx, costmodel.Views()); err != nil {
		return err
	}
	return migrateCosts(ctx, dest, opts, rebuild)
}

// migrateCosts brings the cost tables and the category taxonomy up to
// this version, with no call to Twilio:
//
//   - cost tables another version built (or none: an older version
//     computed cost in views, which Setup dropped) are rebuilt from
//     twilio_usage_daily, every account-day;
//   - otherwise, when the taxonomy stored differs from this version's (a
//     new release moved a category, or knows one the data brought first),
//     the account-days with usage in the changed categories are
//     re-attributed; all = true re-attributes every day.
//
// Then the changed categories' rows and the version are committed. A run
// that changes nothing commits nothing, and one killed half way does the
// work again next time.
func migrateCosts(ctx context.Context, dest Destination, opts Options, all bool) error {
	meta, err := dest.Meta(ctx)
	if err != nil {
		return err
	}
	changed, err := costmodel.TaxonomyChanges(ctx, dest)
	if err != nil {
		return err
	}
	log := opts.Log
	if log == nil {
		log = discardLogger
	}
	rebuild := costmodel.RebuildOptions{Progress: opts.RebuildProgress, Now: opts.Now}
	switch {
	case all:
	case meta[costmodel.MetaVersionKey] != costmodel.Version:
		if loaded, err := hasRows(ctx, dest, transforms.UsageDaily); err != nil {
			return err
		} else if loaded {
			log.Info("building the cost tables from the loaded usage (first run of cost model version " + costmodel.Version + "); Twilio is not called")
		}
	case len(changed) > len(transforms.Categories())/4:
		log.Info(fmt.Sprintf("the usage category table changed (%d categories): rebuilding the cost tables from the loaded usage", len(changed)))
	case len(changed) > 0:
		names := make([]string, len(changed))
		for i, c := range changed {
			names[i] = c.Name
		}
		days, err := costmodel.DaysWithCategories(ctx, dest, names)
		if err != nil {
			return err
		}
		if len(days) > 0 {
			log.Info(fmt.Sprintf("the usage category table changed (%d categories): re-attributing the cost of %d account-days", len(changed), len(days)))
		}
		rebuild.Days = days
		if rebuild.Days == nil {
			rebuild.Days = []costmodel.DayKey{}
		}
	default:
		return nil
	}
	start := time.Now()
	st, err := costmodel.Rebuild(ctx, dest, rebuild)
	if err != nil {
		return err
	}
	if st.Days > 0 {
		log.Info("cost tables rebuilt", "account_days", st.Days, "cost_rows", st.CostRows, "took", time.Since(start).Round(time.Millisecond))
	}
	n := transforms.NewNormalizer(transforms.Options{})
	defer n.Release()
	replace := n.AddCategories(changed)
	rows, err := n.Flush(opts.now())
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range rows {
			r.Release()
		}
	}()
	b := warehouse.Batch{Replace: replace, Rows: rows, Meta: map[string]string{costmodel.MetaVersionKey: costmodel.Version}}
	if err := dest.Commit(ctx, b); err != nil {
		return fmt.Errorf("load the usage category table: %w", err)
	}
	return nil
}

// hasRows reports whether table holds a row.
func hasRows(ctx context.Context, dest Destination, table string) (bool, error) {
	q, err := dest.Dialect().Render(`SELECT 1 FROM {{table "` + table + `"}} LIMIT 1`)
	if err != nil {
		return false, err
	}
	found := false
	if err := dest.QueryEach(ctx, q, func([]sql.NullString) error { found = true; return nil }); err != nil {
		return false, fmt.Errorf("check %s for rows: %w", table, err)
	}
	return found, nil
}

// RebuildCosts recomputes the cost tables of dest from its loaded usage,
// every account-day, with no call to Twilio: `twilio-elt rebuild-costs`.
func RebuildCosts(ctx context.Context, dest Destination, opts Options) error {
	return prepare(ctx, dest, opts, true)
}
