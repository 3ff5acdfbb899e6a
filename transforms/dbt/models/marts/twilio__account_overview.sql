-- Spend per account and month. A main account's row also shows what its
-- subaccounts spent and the billing account's total (its own spend plus
-- its subaccounts'); those columns are NULL on subaccount rows.
--
-- Every side is aggregated to one row per key before the joins, so
-- nothing fans out: the sum of billing_account_total over main-account
-- rows is the sum of all cost.

with monthly as (

    select
        billing_account_sid,
        account_sid,
        date_trunc(usage_date, month) as usage_month,
        currency,
        sum(cost) as cost,
        sum(case when attribution = 'unattributed' then cost else 0 end) as unattributed_cost,
        sum(case when attribution = 'residual' then cost else 0 end) as residual_cost
    from {{ ref('twilio__cost_daily') }}
    group by billing_account_sid, account_sid, usage_month, currency

),

billing_totals as (

    select
        billing_account_sid,
        usage_month,
        currency,
        sum(case when account_sid != billing_account_sid then cost else 0 end) as subaccounts_cost,
        sum(cost) as billing_account_total,
        count(distinct case when account_sid != billing_account_sid then account_sid end) as subaccounts_with_spend
    from monthly
    group by billing_account_sid, usage_month, currency

),

-- One row per account and month with spend, plus each billing account's
-- own row, even in a month when only its subaccounts spent.
spine as (

    select billing_account_sid, account_sid, usage_month, currency
    from monthly
    union distinct
    select billing_account_sid, billing_account_sid as account_sid, usage_month, currency
    from billing_totals

)

select
    s.billing_account_sid,
    billing.account_name as billing_account_name,
    s.account_sid,
    acct.account_name,
    s.account_sid = s.billing_account_sid as is_billing_account,
    s.usage_month,
    s.currency,
    coalesce(m.cost, 0) as cost,
    coalesce(m.unattributed_cost, 0) as unattributed_cost,
    coalesce(m.residual_cost, 0) as residual_cost,
    case when s.account_sid = s.billing_account_sid then b.subaccounts_with_spend end as subaccounts_with_spend,
    case when s.account_sid = s.billing_account_sid then b.subaccounts_cost end as subaccounts_cost,
    case when s.account_sid = s.billing_account_sid then b.billing_account_total end as billing_account_total
from spine as s
left join monthly as m
    on m.account_sid = s.account_sid
    and m.billing_account_sid = s.billing_account_sid
    and m.usage_month = s.usage_month
    and m.currency = s.currency
left join billing_totals as b
    on b.billing_account_sid = s.account_sid
    and b.usage_month = s.usage_month
    and b.currency = s.currency
left join {{ ref('stg_twilio__accounts') }} as acct
    on acct.account_sid = s.account_sid
left join {{ ref('stg_twilio__accounts') }} as billing
    on billing.account_sid = s.billing_account_sid
