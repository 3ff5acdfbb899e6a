-- twilio_cost_doit: twilio_cost_daily in DoiT Cloud Analytics' Twilio
-- dimensions, one row per cost row (a projection of the table, no join):
-- Provider, Billing Account (the account SID billed), Project/Account ID
-- (the account SID), Service (the usage category), SKU (its description),
-- and the labels Category (the category family: the top-level usage
-- category such as sms, calls or recordings, as the integration documents
-- it), Billing Account (its display name) and Service (the high-level
-- service group).
SELECT
  d.usage_date,
  'Twilio' AS provider,
  d.billing_account_sid AS billing_account,
  d.account_sid AS project_account_id,
  d.category AS service,
  d.description AS sku,
  d.category_family AS label_category,
  d.billing_account_name AS label_billing_account,
  d.service_group AS label_service,
  d.usage,
  d.usage_unit,
  d.cost,
  d.currency
FROM {{table "twilio_cost_daily"}} d
