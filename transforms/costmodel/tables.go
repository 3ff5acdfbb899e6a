package costmodel

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// Tables and views of the cost model.
const (
	// CostDaily and Reconciliation are tables the loader computes as it
	// loads each account-day.
	CostDaily      = "twilio_cost_daily"
	Reconciliation = "twilio_reconciliation"
	// CostFOCUS and CostDoiT are views: projections of CostDaily.
	CostFOCUS = "twilio_cost_focus"
	CostDoiT  = "twilio_cost_doit"
)

type (
	costCol  = transforms.Column[Cost]
	reconCol = transforms.Column[Recon]
)

// CostColumns defines twilio_cost_daily (docs/cost-model.md).
var CostColumns = []costCol{
	transforms.DateColumn("usage_date", func(c *Cost) arrow.Date32 { return c.UsageDate }),
	transforms.StringColumn("billing_account_sid", func(c *Cost) string { return c.BillingAccountSID }),
	transforms.StringColumn("account_sid", func(c *Cost) string { return c.AccountSID }),
	transforms.StringColumn("account_name", func(c *Cost) string { return c.AccountName }),
	transforms.StringColumn("service_group", func(c *Cost) string { return c.ServiceGroup }),
	transforms.StringColumn("category", func(c *Cost) string { return c.Category }),
	transforms.StringColumn("description", func(c *Cost) string { return c.Description }),
	transforms.NullDecimalColumn("usage", func(c *Cost) transforms.NullDecimal { return c.Usage }),
	transforms.OptionalString("usage_unit", func(c *Cost) string { return c.UsageUnit }),
	transforms.DecimalColumn("cost", func(c *Cost) decimal128.Num { return c.Cost }),
	transforms.OptionalString("currency", func(c *Cost) string { return c.Currency }),
	transforms.StringColumn("attribution", func(c *Cost) string { return c.Attribution }),
	transforms.StringColumn("source_category", func(c *Cost) string { return c.SourceCategory }),
	transforms.NullDecimalColumn("count", func(c *Cost) transforms.NullDecimal { return c.Count }),
	transforms.OptionalString("count_unit", func(c *Cost) string { return c.CountUnit }),
	transforms.StringColumn("service_name", func(c *Cost) string { return c.ServiceName }),
	transforms.StringColumn("service_category", func(c *Cost) string { return c.ServiceCategory }),
	transforms.StringColumn("service_subcategory", func(c *Cost) string { return c.ServiceSubcategory }),
	transforms.StringColumn("charge_frequency", func(c *Cost) string { return c.ChargeFrequency }),
	transforms.StringColumn("billing_account_name", func(c *Cost) string { return c.BillingAccountName }),
	transforms.StringColumn("category_family", func(c *Cost) string { return c.CategoryFamily }),
}

// ReconciliationColumns defines twilio_reconciliation.
var ReconciliationColumns = []reconCol{
	transforms.DateColumn("usage_date", func(r *Recon) arrow.Date32 { return r.UsageDate }),
	transforms.StringColumn("account_sid", func(r *Recon) string { return r.AccountSID }),
	transforms.StringColumn("billing_account_sid", func(r *Recon) string { return r.BillingAccountSID }),
	transforms.StringColumn("account_name", func(r *Recon) string { return r.AccountName }),
	transforms.OptionalString("currency", func(r *Recon) string { return r.Currency }),
	transforms.NullDecimalColumn("totalprice", func(r *Recon) transforms.NullDecimal { return r.Totalprice }),
	transforms.DecimalColumn("attributed", func(r *Recon) decimal128.Num { return r.Attributed }),
	transforms.DecimalColumn("unattributed", func(r *Recon) decimal128.Num { return r.Unattributed }),
	transforms.DecimalColumn("leaf_cost", func(r *Recon) decimal128.Num { return r.LeafCost }),
	transforms.DecimalColumn("residual_cost", func(r *Recon) decimal128.Num { return r.ResidualCost }),
	transforms.DecimalColumn("rollup_excess", func(r *Recon) decimal128.Num { return r.RollupExcess }),
	transforms.OptionalString("excess_rollup", func(r *Recon) string { return r.ExcessRollup }),
	transforms.OptionalString("residuals", func(r *Recon) string { return r.Residuals }),
	transforms.StringColumn("status", func(r *Recon) string { return r.Status }),
}

// Tables returns the cost model's tables. Both are replaced per
// (account_sid, usage_date), with the usage they are computed from.
func Tables() []warehouse.Table {
	return []warehouse.Table{
		{
			Name:        CostDaily,
			Schema:      transforms.ColumnsSchema(CostColumns),
			Key:         []string{"account_sid", "usage_date", "category"},
			Group:       []string{"account_sid", "usage_date"},
			PartitionBy: "usage_date",
			ClusterBy:   []string{"account_sid", "category"},
			UniqueKeys:  true,
		},
		{
			Name:        Reconciliation,
			Schema:      transforms.ColumnsSchema(ReconciliationColumns),
			Key:         []string{"account_sid", "usage_date"},
			Group:       []string{"account_sid", "usage_date"},
			PartitionBy: "usage_date",
			ClusterBy:   []string{"account_sid"},
			UniqueKeys:  true,
		},
	}
}

// CostGroups returns the replace groups of the cost tables for one
// account-day.
func CostGroups(accountSID string, day arrow.Date32) []warehouse.Group {
	v := []any{accountSID, day.ToTime().UTC()}
	return []warehouse.Group{{Table: CostDaily, Values: v}, {Table: Reconciliation, Values: v}}
}
