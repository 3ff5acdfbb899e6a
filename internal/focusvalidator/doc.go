// Package focusvalidator checks a DuckDB table or view against the FOCUS
// 1.2 Cost and Usage rules the way the FinOps Foundation's focus_validator
// (v2, config_objects/focus_to_duckdb_converter.py) does. It embeds that
// tool's rule file, model-1.2.json, and is used by the tests of the FOCUS
// view to catch what the official validator would report, without Python.
//
// Each model rule becomes one DuckDB query or an aggregate of other rules,
// following the official evaluation:
//
//   - Rules of Type "Dynamic" and rules whose keyword is MAY or OPTIONAL
//     are skipped; the static MUST, MUST NOT, SHOULD, SHOULD NOT and
//     RECOMMENDED rules run.
//   - A rule with ApplicabilityCriteria runs when at least one of them is
//     enabled. Otherwise it is skipped together with every rule that
//     references or depends on it, and a skipped column-presence rule
//     (CostAndUsage-D-…) skips every rule of that column.
//   - A rule that depends on a skipped rule is skipped, except a
//     composite, which is skipped only when every rule it references was.
//   - A leaf rule counts the rows matching its violation predicate and its
//     effective condition: its own Condition ANDed with the Conditions of
//     the composite rules that reference or depend on it. A Condition
//     without a CheckFunction or without its arguments filters nothing.
//   - A query DuckDB rejects while binding, such as one naming a missing
//     column, counts as one violation.
//   - A composite rule is the AND or OR of the rules it references,
//     ignoring skipped ones.
//   - CheckDecimalValue is skipped as unimplemented, as in the official
//     tool; FormatUnit uses its unit-format regular expression,
//     CheckNationalCurrency an embedded ISO 4217 list, FormatString an
//     ASCII-only test, and FormatKeyValue a JSON test.
//
// It deviates from focus_validator where that tool's behaviour depends on
// Python-side details or is evidently unintended:
//
//   - AND and OR inside one rule's requirement are evaluated per row: a
//     row breaks an OR when it matches none of its items. focus_validator
//     passes each OR item that has fewer violating rows than the table has
//     rows, so an enum rule (ServiceCategory-C-003-M) misses a bad value
//     among good rows, and an OR of ANDs (ServiceSubcategory-C-004-M)
//     passes any table of two or more rows. The per-row reading is
//     stricter, so data that passes these rules here passes them there.
//   - TypeDecimal accepts DECIMAL(p,s). The official query compares
//     typeof() with 'DECIMAL', which DuckDB never returns for a decimal
//     column ('DECIMAL(38,9)').
//   - A composite rule's violation count is the number of referenced
//     rules that failed.
//   - A query error other than a binder, catalog or parser error, and a
//     CheckFunction this package cannot evaluate where the model uses it,
//     make Validate return an error naming the rule.
//
// Three consequences of the model itself show up in reports:
//
//   - InvoiceId-C-004-C ("MUST be null") and InvoiceId-C-005-C ("MUST NOT
//     be null") carry no Condition, so at least one fails whenever InvoiceId
//     is present, and InvoiceId-C-001-M through C-005-C fail when it is
//     absent.
//   - ConsumedQuantity-C-006-C applies to ChargeClass = 'Correction' rows
//     (the spec says "is not"), so a null ConsumedQuantity on an ordinary
//     Usage row is caught only by ConsumedUnit-C-005-C when ConsumedUnit
//     is set.
//   - ConsumedQuantity-C-004-C and C-006-C name CommitmentDiscountStatus in
//     their effective conditions and fail unless that column exists, even
//     if it holds only nulls.
//
// With the criteria SUB_ACCOUNT_SUPPORTED, USAGE_MEASUREMENT_SUPPORTED and
// ACCOUNT_NAMING_SUPPORTED, 166 of the 621 rules run on a Twilio-shaped
// table: 130 MUST, 26 MUST NOT, 6 SHOULD, 1 SHOULD NOT, 3 RECOMMENDED.
package focusvalidator
