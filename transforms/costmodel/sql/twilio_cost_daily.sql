-- twilio_cost_daily: each account's daily cost, attributed so that nothing
-- is counted twice and every account-day adds up to totalprice exactly
-- (see docs/cost-model.md).
WITH usage AS (
  SELECT u.usage_date, u.account_sid, u.billing_account_sid, u.category, NULLIF(u.description, '') AS description,
         u.count, NULLIF(u.count_unit, '') AS count_unit, u.usage, NULLIF(u.usage_unit, '') AS usage_unit,
         COALESCE(u.price, CAST(0 AS {{numeric}})) AS price, UPPER(u.currency) AS currency
  FROM {{table "twilio_usage_daily"}} u
  JOIN {{table "twilio_usage_categories"}} c ON c.category = u.category
  WHERE NOT c.is_overlay
),
-- Each row's ancestors that have a row of their own the same account and
-- day; the nearest of them is the row's parent in the sums.
present_ancestors AS (
  SELECT u.usage_date, u.account_sid, u.category, a.ancestor, a.distance
  FROM usage u
  JOIN {{table "twilio_usage_category_ancestors"}} a ON a.category = u.category
  JOIN usage p ON p.usage_date = u.usage_date AND p.account_sid = u.account_sid AND p.category = a.ancestor
),
nearest AS (
  SELECT usage_date, account_sid, category, MIN(distance) AS distance
  FROM present_ancestors
  GROUP BY usage_date, account_sid, category
),
links AS (
  SELECT pa.usage_date, pa.account_sid, pa.category, pa.ancestor AS parent
  FROM present_ancestors pa
  JOIN nearest n ON n.usage_date = pa.usage_date AND n.account_sid = pa.account_sid
    AND n.category = pa.category AND n.distance = pa.distance
),
-- What each row's children add up to; usage and count only where the
-- child counts in the parent's unit.
children AS (
  SELECT l.usage_date, l.account_sid, l.parent AS category,
         SUM(ch.price) AS price,
         SUM(CASE WHEN ch.usage_unit = p.usage_unit THEN ch.usage END) AS usage,
         SUM(CASE WHEN ch.count_unit = p.count_unit THEN ch.count END) AS count
  FROM links l
  JOIN usage ch ON ch.usage_date = l.usage_date AND ch.account_sid = l.account_sid AND ch.category = l.category
  JOIN usage p ON p.usage_date = l.usage_date AND p.account_sid = l.account_sid AND p.category = l.parent
  GROUP BY l.usage_date, l.account_sid, l.parent
),
attributed AS (
  SELECT u.*, c.service_group, c.service_name, c.service_category, c.service_subcategory,
         c.charge_frequency, c.description AS known_description,
         CASE
           WHEN u.category = 'totalprice' THEN 'unattributed'
           WHEN c.is_rollup OR ch.category IS NOT NULL THEN 'residual'
           ELSE 'leaf'
         END AS attribution,
         u.price - COALESCE(ch.price, CAST(0 AS {{numeric}})) AS amount,
         u.usage - COALESCE(ch.usage, CAST(0 AS {{numeric}})) AS rest_usage,
         u.count - COALESCE(ch.count, CAST(0 AS {{numeric}})) AS rest_count
  FROM usage u
  JOIN {{table "twilio_usage_categories"}} c ON c.category = u.category
  LEFT JOIN children ch ON ch.usage_date = u.usage_date AND ch.account_sid = u.account_sid AND ch.category = u.category
)
SELECT
  t.usage_date,
  COALESCE(t.billing_account_sid, a.parent_account_sid, t.account_sid) AS billing_account_sid,
  t.account_sid,
  COALESCE(a.display_name, a.friendly_name, t.account_sid) AS account_name,
  t.service_group,
  CASE t.attribution
    WHEN 'unattributed' THEN 'Unattributed'
    WHEN 'residual' THEN CONCAT(t.category, ' (other)')
    ELSE t.category
  END AS category,
  CASE t.attribution
    WHEN 'unattributed' THEN 'Cost in totalprice that no usage category holds'
    WHEN 'residual' THEN CONCAT(COALESCE(t.description, t.known_description, t.category), ': beyond the categories it lists')
    ELSE COALESCE(t.description, t.known_description, t.category)
  END AS description,
  CASE t.attribution WHEN 'unattributed' THEN t.amount WHEN 'residual' THEN t.rest_usage ELSE t.usage END AS usage,
  CASE t.attribution WHEN 'unattributed' THEN t.currency ELSE t.usage_unit END AS usage_unit,
  t.amount AS cost,
  t.currency,
  t.attribution,
  t.category AS source_category,
  CASE t.attribution WHEN 'unattributed' THEN NULL WHEN 'residual' THEN t.rest_count ELSE t.count END AS count,
  CASE t.attribution WHEN 'unattributed' THEN NULL ELSE t.count_unit END AS count_unit,
  t.service_name,
  t.service_category,
  t.service_subcategory,
  t.charge_frequency
FROM attributed t
LEFT JOIN {{table "twilio_accounts"}} a ON a.account_sid = t.account_sid
WHERE t.amount <> 0
   OR (t.attribution = 'leaf' AND (COALESCE(t.usage, 0) <> 0 OR COALESCE(t.count, 0) <> 0))
