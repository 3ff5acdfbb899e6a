-- Attributed cost per billing account, account, month and service group.

select
    billing_account_sid,
    account_sid,
    date_trunc(usage_date, month) as usage_month,
    service_group,
    currency,
    sum(cost) as cost
from {{ ref('twilio__cost_daily') }}
group by billing_account_sid, account_sid, usage_month, service_group, currency
