// Package costmodel turns loaded usage into costs people can add up: the
// views the loader creates over the tables (twilio_cost_daily,
// twilio_reconciliation, twilio_cost_focus, twilio_cost_doit), written
// once for DuckDB and BigQuery, and Verify, which checks that every
// account-day reconciles with Twilio's totalprice.
//
// The attribution rule, the tables it reads and the views' columns are in
// docs/cost-model.md; the category taxonomy it relies on is in package
// transforms.
package costmodel

import (
	"embed"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// View names.
const (
	CostDaily      = "twilio_cost_daily"
	Reconciliation = "twilio_reconciliation"
	CostFOCUS      = "twilio_cost_focus"
	CostDoiT       = "twilio_cost_doit"
)

// Views returns the views, each after the views it reads.
func Views() []warehouse.View {
	var out []warehouse.View
	for _, name := range []string{CostDaily, Reconciliation, CostFOCUS, CostDoiT} {
		q, err := sqlFiles.ReadFile("sql/" + name + ".sql")
		if err != nil {
			panic(err)
		}
		out = append(out, warehouse.View{Name: name, Query: string(q)})
	}
	return out
}
