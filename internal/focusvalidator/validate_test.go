package focusvalidator_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/focusvalidator"
)

// criteria are the ApplicabilityCriteria a Twilio usage feed supports.
var criteria = []string{"SUB_ACCOUNT_SUPPORTED", "USAGE_MEASUREMENT_SUPPORTED", "ACCOUNT_NAMING_SUPPORTED"}

// focusTable holds a few Twilio usage rows as FOCUS 1.2: the 21 mandatory
// columns plus the conditional and recommended ones a Twilio feed fills.
// InvoiceId and CommitmentDiscountStatus are present and null; see
// baseline.
const focusTable = `
CREATE TABLE focus_rows (
	BilledCost DECIMAL(38,9),
	BillingAccountId VARCHAR,
	BillingAccountName VARCHAR,
	BillingCurrency VARCHAR,
	BillingPeriodEnd TIMESTAMP,
	BillingPeriodStart TIMESTAMP,
	ChargeCategory VARCHAR,
	ChargeClass VARCHAR,
	ChargeDescription VARCHAR,
	ChargeFrequency VARCHAR,
	ChargePeriodEnd TIMESTAMP,
	ChargePeriodStart TIMESTAMP,
	CommitmentDiscountStatus VARCHAR,
	ConsumedQuantity DECIMAL(38,9),
	ConsumedUnit VARCHAR,
	ContractedCost DECIMAL(38,9),
	EffectiveCost DECIMAL(38,9),
	InvoiceId VARCHAR,
	InvoiceIssuerName VARCHAR,
	ListCost DECIMAL(38,9),
	PricingCategory VARCHAR,
	PricingQuantity DECIMAL(38,9),
	PricingUnit VARCHAR,
	ProviderName VARCHAR,
	PublisherName VARCHAR,
	ServiceCategory VARCHAR,
	ServiceName VARCHAR,
	ServiceSubcategory VARCHAR,
	SkuId VARCHAR,
	SkuMeter VARCHAR,
	SkuPriceId VARCHAR,
	SubAccountId VARCHAR,
	SubAccountName VARCHAR
);
INSERT INTO focus_rows VALUES
	(0.996, 'AC0001', 'Acme', 'USD', '2025-02-01', '2025-01-01', 'Usage', NULL, 'SMS Outbound Longcode', 'Usage-Based',
	 '2025-01-02', '2025-01-01', NULL, 120, 'Messages', 0.996, 0.996, NULL, 'Twilio', 0.996, 'Standard', 120, 'Segments',
	 'Twilio', 'Twilio', 'Integration', 'Programmable Messaging', 'Messaging',
	 'sms-outbound-longcode', 'SMS Outbound Longcode', 'sms-outbound-longcode', 'AC0001', 'Acme'),
	(0.200, 'AC0001', 'Acme', 'USD', '2025-02-01', '2025-01-01', 'Usage', NULL, 'MMS Outbound Longcode', 'Usage-Based',
	 '2025-01-02', '2025-01-01', NULL, 10, 'Messages', 0.200, 0.200, NULL, 'Twilio', 0.200, 'Standard', 10, 'Messages',
	 'Twilio', 'Twilio', 'Integration', 'Programmable Messaging', 'Messaging',
	 'mms-outbound-longcode', 'MMS Outbound Longcode', 'mms-outbound-longcode', 'AC0002', 'Acme Support'),
	(0.588, 'AC0001', 'Acme', 'USD', '2025-02-01', '2025-01-01', 'Usage', NULL, 'Outbound Voice Minutes', 'Usage-Based',
	 '2025-01-03', '2025-01-02', NULL, 12, 'Calls', 0.588, 0.588, NULL, 'Twilio', 0.588, 'Standard', 42, 'Minutes',
	 'Twilio', 'Twilio', 'Integration', 'Programmable Voice', 'Other (Integration)',
	 'calls-outbound', 'Outbound Voice Minutes', 'calls-outbound', 'AC0002', 'Acme Support');
CREATE VIEW focus AS SELECT * FROM focus_rows;
`

// baseline is what the model fails on every conforming Twilio feed:
// InvoiceId-C-005-C ("MUST NOT be null") has no Condition, and Twilio
// usage records carry no invoice.
var baseline = []string{"InvoiceId-C-005-C"}

func openFocus(t *testing.T, mutations ...string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range append([]string{focusTable}, mutations...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db
}

func failedIDs(r focusvalidator.Report) []string {
	var ids []string
	for _, res := range r.Failed() {
		ids = append(ids, res.ID)
	}
	return ids
}

func TestConformingTable(t *testing.T) {
	db := openFocus(t)
	rep, err := focusvalidator.Validate(context.Background(), db, "focus", criteria...)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(baseline, failedIDs(rep)); diff != "" {
		t.Errorf("failed MUST rules (-want +got):\n%s\n%s", diff, rep)
	}
	for _, res := range rep.Results {
		if res.Status == focusvalidator.Failed && !res.Mandatory() {
			t.Errorf("%s [%s] failed: %s", res.ID, res.Keyword, res.Reason)
		}
	}

	ran := make(map[string]int)
	for _, res := range rep.Results {
		if res.Status != focusvalidator.Skipped {
			ran[res.Keyword]++
		}
	}
	t.Logf("static rules evaluated with %v: %d of %d (MUST %d, MUST NOT %d, SHOULD %d, SHOULD NOT %d, RECOMMENDED %d)",
		criteria, len(rep.Results)-rep.Count(focusvalidator.Skipped), len(rep.Results),
		ran["MUST"], ran["MUST NOT"], ran["SHOULD"], ran["SHOULD NOT"], ran["RECOMMENDED"])
	if ran["MUST"]+ran["MUST NOT"] < 120 {
		t.Errorf("only %d MUST/MUST NOT rules ran", ran["MUST"]+ran["MUST NOT"])
	}
}

func TestBrokenTables(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mutations []string
		want      []string // failed MUST rules besides baseline
	}{{
		name:      "lower-case currency",
		mutations: []string{`UPDATE focus_rows SET BillingCurrency = 'usd' WHERE ServiceName = 'Programmable Voice'`},
		want:      []string{"BillingCurrency-C-000-M", "BillingCurrency-C-003-M", "BillingCurrency-C-006-M"},
	}, {
		name:      "unknown currency",
		mutations: []string{`UPDATE focus_rows SET BillingCurrency = 'XYZ'`},
		want:      []string{"BillingCurrency-C-000-M", "BillingCurrency-C-006-M"},
	}, {
		name:      "ServiceCategory not allowed",
		mutations: []string{`UPDATE focus_rows SET ServiceCategory = 'Communications' WHERE ServiceName = 'Programmable Voice'`},
		// The subcategory no longer has its parent category either.
		want: []string{"ServiceCategory-C-000-M", "ServiceCategory-C-003-M", "ServiceSubcategory-C-004-M"},
	}, {
		name:      "ServiceSubcategory of another category",
		mutations: []string{`UPDATE focus_rows SET ServiceSubcategory = 'Content Delivery' WHERE ServiceName = 'Programmable Voice'`},
		want:      []string{"ServiceSubcategory-C-004-M"},
	}, {
		name:      "non-ASCII ServiceName",
		mutations: []string{`UPDATE focus_rows SET ServiceName = 'Programmable Voice™' WHERE ServiceName = 'Programmable Voice'`},
		want:      []string{"ServiceName-C-000-M", "ServiceName-C-002-M"},
	}, {
		name:      "missing mandatory column",
		mutations: []string{`CREATE OR REPLACE VIEW focus AS SELECT * EXCLUDE (PublisherName) FROM focus_rows`},
		want: []string{"CostAndUsage-D-021-M", "PublisherName-C-000-M", "PublisherName-C-001-M",
			"PublisherName-C-002-M", "PublisherName-C-003-M"},
	}, {
		name:      "null BilledCost",
		mutations: []string{`UPDATE focus_rows SET BilledCost = NULL WHERE ServiceName = 'Programmable Voice'`},
		want:      []string{"BilledCost-C-000-M", "BilledCost-C-003-M"},
	}, {
		name:      "string BilledCost",
		mutations: []string{`CREATE OR REPLACE VIEW focus AS SELECT * REPLACE (BilledCost::VARCHAR AS BilledCost) FROM focus_rows`},
		// CheckValue compares with '0' (BilledCost-C-005-C) and still binds.
		want: []string{"BilledCost-C-000-M", "BilledCost-C-001-M"},
	}, {
		name:      "InvoiceIssuerName differs from ProviderName on a billed row",
		mutations: []string{`UPDATE focus_rows SET InvoiceIssuerName = 'Acme Reseller' WHERE ServiceName = 'Programmable Voice'`},
		want:      []string{"BilledCost-C-000-M", "BilledCost-C-005-C"},
	}, {
		name: "Purchase with nonzero EffectiveCost",
		mutations: []string{`UPDATE focus_rows SET ChargeCategory = 'Purchase', ChargeFrequency = 'One-Time',
			ConsumedQuantity = NULL, ConsumedUnit = NULL WHERE ServiceName = 'Programmable Voice'`},
		want: []string{"EffectiveCost-C-005-C"},
	}, {
		name:      "Purchase billed as Usage-Based",
		mutations: []string{`UPDATE focus_rows SET ChargeCategory = 'Purchase', EffectiveCost = 0, ConsumedQuantity = NULL, ConsumedUnit = NULL WHERE ServiceName = 'Programmable Voice'`},
		want:      []string{"ChargeFrequency-C-000-O", "ChargeFrequency-C-004-C"},
	}, {
		name:      "ServiceName in two categories",
		mutations: []string{`UPDATE focus_rows SET ServiceCategory = 'Mobile', ServiceSubcategory = 'Other (Mobile)' WHERE SkuId = 'mms-outbound-longcode'`},
		want:      []string{"ServiceName-C-000-M", "ServiceName-C-004-C", "ServiceName-C-005-C"},
	}, {
		name:      "ConsumedQuantity null on a Usage row",
		mutations: []string{`UPDATE focus_rows SET ConsumedQuantity = NULL WHERE ServiceName = 'Programmable Voice'`},
		// ConsumedQuantity-C-006-C only covers ChargeClass = 'Correction'
		// rows in the model; the unit rule catches the row.
		want: []string{"ConsumedUnit-C-000-C", "ConsumedUnit-C-004-C", "ConsumedUnit-C-005-C"},
	}, {
		name:      "ConsumedQuantity and ConsumedUnit null on a Usage row",
		mutations: []string{`UPDATE focus_rows SET ConsumedQuantity = NULL, ConsumedUnit = NULL WHERE ServiceName = 'Programmable Voice'`},
		want:      nil,
	}, {
		name:      "CommitmentDiscountStatus absent",
		mutations: []string{`CREATE OR REPLACE VIEW focus AS SELECT * EXCLUDE (CommitmentDiscountStatus) FROM focus_rows`},
		want: []string{"ConsumedQuantity-C-000-C", "ConsumedQuantity-C-003-C", "ConsumedQuantity-C-004-C",
			"ConsumedQuantity-C-005-C", "ConsumedQuantity-C-006-C"},
	}, {
		name:      "InvoiceId absent",
		mutations: []string{`CREATE OR REPLACE VIEW focus AS SELECT * EXCLUDE (InvoiceId) FROM focus_rows`},
		want:      []string{"InvoiceId-C-001-M", "InvoiceId-C-002-M", "InvoiceId-C-003-C", "InvoiceId-C-004-C"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := openFocus(t, tc.mutations...)
			rep, err := focusvalidator.Validate(context.Background(), db, "focus", criteria...)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Sorted(slices.Values(append(slices.Clone(baseline), tc.want...)))
			if diff := cmp.Diff(want, failedIDs(rep)); diff != "" {
				t.Errorf("failed MUST rules (-want +got):\n%s\n%s", diff, rep)
			}
		})
	}
}

func TestReportString(t *testing.T) {
	db := openFocus(t, `UPDATE focus_rows SET InvoiceIssuerName = 'Acme Reseller'`)
	rep, err := focusvalidator.Validate(context.Background(), db, "focus", criteria...)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.String()
	for _, want := range []string{
		"BilledCost-C-005-C [MUST] 3 violation(s): BilledCost MUST be 0 for charges where payments are received by a third party",
		"ACCOUNT_NAMING_SUPPORTED,SUB_ACCOUNT_SUPPORTED,USAGE_MEASUREMENT_SUPPORTED",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	db := openFocus(t)
	ctx := context.Background()
	if _, err := focusvalidator.Validate(ctx, db, "focus", "SUB_ACCOUNTS_SUPPORTED"); err == nil || !strings.Contains(err.Error(), "SUB_ACCOUNTS_SUPPORTED") {
		t.Errorf("unknown criterion: err = %v", err)
	}
	if _, err := focusvalidator.Validate(ctx, db, "no_such_view", criteria...); err == nil {
		t.Error("missing relation: no error")
	}
}
