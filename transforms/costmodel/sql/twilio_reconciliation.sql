-- twilio_reconciliation: per account and day, how totalprice splits into
-- attributed and unattributed cost, and whether the hierarchy held: a
-- roll-up whose children exceed it, or attributed cost above totalprice,
-- is a failure (see docs/cost-model.md). One pass over twilio_cost_daily.
WITH days AS (
  SELECT usage_date, account_sid,
         MAX(billing_account_sid) AS billing_account_sid,
         MAX(account_name) AS account_name,
         MAX(currency) AS currency,
         SUM(CASE WHEN attribution <> 'unattributed' THEN cost ELSE 0 END) AS attributed,
         SUM(CASE WHEN attribution = 'unattributed' THEN cost ELSE 0 END) AS unattributed,
         SUM(CASE WHEN attribution = 'leaf' THEN cost ELSE 0 END) AS leaf_cost,
         SUM(CASE WHEN attribution = 'residual' AND cost > 0 THEN cost ELSE 0 END) AS residual_cost,
         -- The roll-up whose children exceed it most.
         MIN(CASE WHEN attribution = 'residual' AND cost < 0 THEN cost END) AS worst,
         {{argMin "CASE WHEN attribution = 'residual' AND cost < 0 THEN source_category END" "CASE WHEN attribution = 'residual' AND cost < 0 THEN cost END"}} AS excess_rollup,
         STRING_AGG(CASE WHEN attribution = 'residual' THEN CONCAT(source_category, ' ', CAST(cost AS {{string}})) END, '; ' ORDER BY source_category) AS residuals
  FROM {{table "twilio_cost_daily"}}
  GROUP BY usage_date, account_sid
),
totals AS (
  SELECT usage_date, account_sid, price AS totalprice
  FROM {{table "twilio_usage_daily"}}
  WHERE category = 'totalprice'
)
SELECT
  d.usage_date, d.account_sid, d.billing_account_sid, d.account_name, d.currency,
  t.totalprice,
  d.attributed,
  d.unattributed,
  d.leaf_cost,
  d.residual_cost,
  COALESCE(0 - d.worst, CAST(0 AS {{numeric}})) AS rollup_excess,
  d.excess_rollup,
  d.residuals,
  CASE
    WHEN t.totalprice IS NULL THEN 'no_totalprice'
    WHEN d.worst < CAST('-0.01' AS {{numeric}}) THEN 'rollup_exceeded'
    WHEN d.unattributed < CAST('-0.01' AS {{numeric}}) THEN 'over_total'
    ELSE 'ok'
  END AS status
FROM days d
LEFT JOIN totals t ON t.usage_date = d.usage_date AND t.account_sid = d.account_sid
