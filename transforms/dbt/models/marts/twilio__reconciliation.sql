-- One row per account-day with cost: how Twilio's totalprice splits into
-- attributed and unattributed cost, and whether the category hierarchy
-- held (docs/cost-model.md in the twilio-elt repository).

{{ config(partition_by={'field': 'usage_date', 'data_type': 'date'}, cluster_by=['account_sid']) }}

{% if var('twilio_cost_source') == 'usage_records' %}

-- Usage landed by another tool: summed here from twilio__cost_daily, as
-- twilio-elt's loader sums each account-day's cost rows in Go
-- (transforms/costmodel, reconcile); integration_tests/dbt_test.go checks
-- every column of both on the same records.
--   residual_cost  the positive residuals; a negative one is a roll-up whose
--                  children add up to more than it: rollup_excess is the
--                  largest such excess, excess_rollup its roll-up;
--   residuals      each roll-up with its residual, 'calls 0.12; sms -0.5';
--   status         no_totalprice, else rollup_exceeded (an excess over
--                  0.01), else over_total (unattributed below -0.01), else ok.

with cost_rows as (

    select * from {{ ref('twilio__cost_daily') }}

),

days as (

    select
        usage_date,
        account_sid,
        max(billing_account_sid) as billing_account_sid,
        max(account_name) as account_name,
        max(currency) as currency,
        sum(if(attribution != 'unattributed', cost, 0)) as attributed,
        sum(if(attribution = 'unattributed', cost, 0)) as unattributed,
        sum(if(attribution = 'leaf', cost, 0)) as leaf_cost,
        sum(if(attribution = 'residual' and cost > 0, cost, 0)) as residual_cost
    from cost_rows
    group by usage_date, account_sid

),

residuals as (

    select
        usage_date,
        account_sid,
        string_agg(concat(source_category, ' ', cast(cost as string)), '; '
            order by concat(source_category, ' ', cast(cost as string))) as residuals
    from cost_rows
    where attribution = 'residual'
    group by usage_date, account_sid

),

-- The most negative residual of each day, and its roll-up (the first by
-- category of equal ones).
worst as (

    select
        c.usage_date,
        c.account_sid,
        m.cost,
        array_agg(c.source_category order by c.category limit 1)[offset(0)] as source_category
    from cost_rows as c
    inner join (
        select usage_date, account_sid, min(cost) as cost
        from cost_rows
        where attribution = 'residual' and cost < 0
        group by usage_date, account_sid
    ) as m
        on m.usage_date = c.usage_date
        and m.account_sid = c.account_sid
        and m.cost = c.cost
    where c.attribution = 'residual'
    group by c.usage_date, c.account_sid, m.cost

),

totals as (

    select usage_date, account_sid, price as totalprice
    from {{ ref('stg_twilio__usage_daily') }}
    where category = 'totalprice'

)

select
    d.usage_date,
    d.account_sid,
    d.billing_account_sid,
    d.account_name,
    d.currency,
    t.totalprice,
    d.attributed,
    d.unattributed,
    d.leaf_cost,
    d.residual_cost,
    coalesce(0 - w.cost, 0) as rollup_excess,
    w.source_category as excess_rollup,
    r.residuals,
    case
        when t.totalprice is null then 'no_totalprice'
        when w.cost < numeric '-0.01' then 'rollup_exceeded'
        when d.unattributed < numeric '-0.01' then 'over_total'
        else 'ok'
    end as status
from days as d
left join totals as t
    on t.usage_date = d.usage_date
    and t.account_sid = d.account_sid
left join residuals as r
    on r.usage_date = d.usage_date
    and r.account_sid = d.account_sid
left join worst as w
    on w.usage_date = d.usage_date
    and w.account_sid = d.account_sid

{% else %}

-- Usage loaded by twilio-elt: its loader writes twilio_reconciliation with
-- the cost, account-day by account-day.
select
    usage_date,
    account_sid,
    billing_account_sid,
    account_name,
    currency,
    totalprice,
    attributed,
    unattributed,
    leaf_cost,
    residual_cost,
    rollup_excess,
    excess_rollup,
    residuals,
    status
from {{ source('twilio', 'twilio_reconciliation') }}

{% endif %}
