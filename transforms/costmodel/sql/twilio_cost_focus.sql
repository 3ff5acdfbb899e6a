-- twilio_cost_focus: twilio_cost_daily as FOCUS 1.2 cost and usage rows,
-- one per cost row: a projection of the table, no join.
-- Twilio bills every subaccount's usage to its main account: the main
-- account is the billing account, each account (the main one included)
-- the sub account. Usage records are provisional and exclude taxes, so
-- every row is ChargeCategory Usage; monthly fees are Usage with
-- ChargeFrequency Recurring (see ../shared/reference/focus/NOTES.md).
-- Usage records belong to no invoice (InvoiceId NULL) and Twilio has no
-- commitment discounts (CommitmentDiscountStatus NULL).
WITH units AS (
  SELECT *, REPLACE(COALESCE(usage_unit, count_unit, 'units'), '-', ' ') AS usage_unit_text,
            REPLACE(COALESCE(count_unit, usage_unit, 'units'), '-', ' ') AS count_unit_text
  FROM {{table "twilio_cost_daily"}}
),
-- Twilio's units ("minutes", "short-codes", "megabytes") in FOCUS's
-- UnitFormat ("Minutes", "Short codes", "MB").
d AS (
  SELECT *,
         CASE LOWER(usage_unit_text) WHEN 'megabytes' THEN 'MB' WHEN 'gigabytes' THEN 'GB' WHEN 'kilobytes' THEN 'KB'
           ELSE CONCAT(UPPER(SUBSTR(usage_unit_text, 1, 1)), SUBSTR(usage_unit_text, 2)) END AS usage_unit_focus,
         CASE LOWER(count_unit_text) WHEN 'megabytes' THEN 'MB' WHEN 'gigabytes' THEN 'GB' WHEN 'kilobytes' THEN 'KB'
           ELSE CONCAT(UPPER(SUBSTR(count_unit_text, 1, 1)), SUBSTR(count_unit_text, 2)) END AS count_unit_focus
  FROM units
)
SELECT
  d.cost AS BilledCost,
  d.cost AS EffectiveCost,
  d.cost AS ListCost,
  d.cost AS ContractedCost,
  d.currency AS BillingCurrency,
  d.billing_account_sid AS BillingAccountId,
  d.billing_account_name AS BillingAccountName,
  'Twilio Account' AS BillingAccountType,
  {{monthStart "d.usage_date" 0}} AS BillingPeriodStart,
  {{monthStart "d.usage_date" 1}} AS BillingPeriodEnd,
  {{dayStart "d.usage_date" 0}} AS ChargePeriodStart,
  {{dayStart "d.usage_date" 1}} AS ChargePeriodEnd,
  'Usage' AS ChargeCategory,
  CAST(NULL AS {{string}}) AS ChargeClass,
  d.description AS ChargeDescription,
  d.charge_frequency AS ChargeFrequency,
  COALESCE(d.count, d.usage, CAST(0 AS {{numeric}})) AS ConsumedQuantity,
  CASE
    WHEN d.count IS NOT NULL THEN d.count_unit_focus
    WHEN d.usage IS NOT NULL THEN d.usage_unit_focus
  END AS ConsumedUnit,
  COALESCE(d.usage, d.count, CAST(0 AS {{numeric}})) AS PricingQuantity,
  CASE
    WHEN d.usage IS NOT NULL THEN d.usage_unit_focus
    WHEN d.count IS NOT NULL THEN d.count_unit_focus
  END AS PricingUnit,
  'Standard' AS PricingCategory,
  CAST(NULL AS {{string}}) AS CommitmentDiscountStatus,
  CAST(NULL AS {{string}}) AS InvoiceId,
  'Twilio' AS ProviderName,
  'Twilio' AS PublisherName,
  'Twilio' AS InvoiceIssuerName,
  d.service_name AS ServiceName,
  d.service_category AS ServiceCategory,
  d.service_subcategory AS ServiceSubcategory,
  d.category AS SkuId,
  d.category AS SkuPriceId,
  d.description AS SkuMeter,
  d.account_sid AS SubAccountId,
  d.account_name AS SubAccountName,
  CASE WHEN d.account_sid = d.billing_account_sid THEN 'Main Account' ELSE 'Subaccount' END AS SubAccountType,
  d.service_group AS x_ServiceGroup,
  d.count AS x_UsageCount,
  d.count_unit AS x_CountUnit,
  d.source_category AS x_UsageCategory,
  d.attribution AS x_Attribution
FROM d
