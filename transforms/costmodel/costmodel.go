// Package costmodel turns loaded usage into costs people can add up.
//
// Attribution is computed here, in Go, with exact decimals, one
// account-day at a time (Attributor): the loader runs it as it loads each
// (account_sid, usage_date) group and stores the result, in the same
// transaction as the usage, in two tables — twilio_cost_daily and
// twilio_reconciliation — so queries, Verify, the demo and the report read
// tables and never re-derive the attribution. Rebuild recomputes them from
// twilio_usage_daily (after an upgrade, when the shipped category table
// changes, or on demand). twilio_cost_focus and twilio_cost_doit are views:
// projections of twilio_cost_daily, written once for DuckDB and BigQuery.
//
// The attribution rule, the tables it reads and the columns it writes are
// in docs/cost-model.md; the category taxonomy it relies on is in package
// transforms. The dbt package (transforms/dbt) reads these tables; its
// own SQL attribution, for usage loaded by other tools, is tested row for
// row against this one.
package costmodel

import (
	"embed"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// Views returns the views over the cost tables.
func Views() []warehouse.View {
	var out []warehouse.View
	for _, name := range []string{CostFOCUS, CostDoiT} {
		q, err := sqlFiles.ReadFile("sql/" + name + ".sql")
		if err != nil {
			panic(err)
		}
		out = append(out, warehouse.View{Name: name, Query: string(q)})
	}
	return out
}
