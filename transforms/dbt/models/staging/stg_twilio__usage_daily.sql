-- Twilio's daily usage records, one row per account, category and day.
-- Categories overlap (totalprice and roll-ups contain their children):
-- use twilio__cost_daily to add up cost.

select
    usage_date,
    account_sid,
    coalesce(billing_account_sid, account_sid) as billing_account_sid,
    category,
    description,
    `count`,
    count_unit,
    `usage`,
    usage_unit,
    price,
    upper(currency) as currency,
    as_of,
    _loaded_at
from {{ source('twilio', 'twilio_usage_daily') }}
