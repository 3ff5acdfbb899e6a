-- Each account's daily cost, attributed so that nothing is counted twice
-- and every account-day adds up to Twilio's totalprice exactly
-- (docs/cost-model.md in the twilio-elt repository).

{{ config(partition_by={'field': 'usage_date', 'data_type': 'date'}, cluster_by=['account_sid', 'category']) }}

{% if var('twilio_cost_source') == 'usage_records' %}

-- Usage landed by another tool: the attribution computed here, as
-- twilio-elt's loader computes it in Go (transforms/costmodel, Attributor),
-- row for row — integration_tests/dbt_test.go checks every column of both
-- on the same records.
--
-- P is an account-day's usage rows whose category is not an overlay. A
-- row's nearest present ancestor is its closest ancestor that also has a
-- row in P. Each row's amount is its price minus the prices of the rows
-- whose nearest present ancestor it is (a NULL price counts as 0):
--   totalprice              -> one 'Unattributed' row (when non-zero)
--   a roll-up, or a parent  -> one '<category> (other)' residual row (when non-zero)
--   anything else           -> a leaf row at its price (unless price, usage and count are all 0 or NULL)

with categories as (

    select * from {{ ref('stg_twilio__usage_categories') }}

),

-- P: the rows that take part in the sums.
summed as (

    select
        u.usage_date,
        u.account_sid,
        u.billing_account_sid,
        u.category,
        u.description,
        u.`count`,
        u.count_unit,
        u.`usage`,
        u.usage_unit,
        coalesce(u.price, 0) as price,
        u.currency,
        coalesce(c.is_rollup, false) as is_rollup
    from {{ ref('stg_twilio__usage_daily') }} as u
    left join categories as c
        on c.category = u.category
    where not coalesce(c.is_overlay, false)

),

-- Each row with every ancestor of its category.
row_ancestors as (

    select
        s.account_sid,
        s.usage_date,
        s.category,
        s.price,
        s.`usage`,
        s.usage_unit,
        s.`count`,
        s.count_unit,
        a.ancestor,
        a.distance
    from summed as s
    inner join {{ ref('stg_twilio__category_ancestors') }} as a
        on a.category = s.category

),

-- The ancestors that have a row of their own the same account-day: the
-- row_ancestors and the rows themselves, grouped by account, day and
-- (ancestor or own) category; a group with a row of its own is present,
-- and carries that row's units. (A grouping rather than a join back to
-- summed: the same result, and one pass.)
present_ancestors as (

    select
        g.account_sid,
        g.usage_date,
        g.ancestor,
        g.ancestor_usage_unit,
        g.ancestor_count_unit,
        d.*
    from (
        select
            account_sid,
            usage_date,
            k as ancestor,
            max(if(is_row, usage_unit, null)) as ancestor_usage_unit,
            max(if(is_row, count_unit, null)) as ancestor_count_unit,
            array_agg(struct(category, price, `usage`, usage_unit, `count`, count_unit, distance)) as descendants
        from (
            select account_sid, usage_date, ancestor as k, category, price, `usage`, usage_unit, `count`, count_unit, distance, false as is_row
            from row_ancestors
            union all
            select account_sid, usage_date, category as k, null, null, null, usage_unit, null, count_unit, null, true as is_row
            from summed
        )
        group by account_sid, usage_date, k
        having logical_or(is_row)
    ) as g,
    unnest(g.descendants) as d
    where d.category is not null

),

-- Each row's nearest present ancestor, and whether the row counts in its
-- units (then its usage, or count, adds to the ancestor's).
nearest_ancestor as (

    select
        account_sid,
        usage_date,
        category,
        nearest.ancestor,
        nearest.price,
        nearest.`usage`,
        nearest.`count`
    from (
        select
            account_sid,
            usage_date,
            category,
            array_agg(struct(
                ancestor,
                price,
                if(nullif(usage_unit, '') = ancestor_usage_unit, `usage`, null) as `usage`,
                if(nullif(count_unit, '') = ancestor_count_unit, `count`, null) as `count`
            ) order by distance limit 1)[offset(0)] as nearest
        from present_ancestors
        group by account_sid, usage_date, category
    )

),

-- What the rows directly under each row (by nearest present ancestor) add
-- up to.
children as (

    select
        account_sid,
        usage_date,
        ancestor as category,
        sum(price) as price,
        sum(`usage`) as `usage`,
        sum(`count`) as `count`
    from nearest_ancestor
    group by account_sid, usage_date, ancestor

),

amounts as (

    select
        s.*,
        s.price - coalesce(ch.price, 0) as amount,
        ch.`usage` as children_usage,
        ch.`count` as children_count,
        case
            when s.category = 'totalprice' then 'unattributed'
            when s.is_rollup or ch.category is not null then 'residual'
            else 'leaf'
        end as attribution
    from summed as s
    left join children as ch
        on ch.account_sid = s.account_sid
        and ch.usage_date = s.usage_date
        and ch.category = s.category

),

attributed as (

    select
        a.usage_date,
        a.billing_account_sid,
        a.account_sid,
        case a.attribution
            when 'unattributed' then 'Unattributed'
            when 'residual' then concat(a.category, ' (other)')
            else a.category
        end as category,
        case a.attribution
            when 'unattributed' then 'Cost in totalprice that no usage category holds'
            when 'residual' then concat(coalesce(nullif(a.description, ''), nullif(c.description, ''), a.category), ': beyond the categories it lists')
            else coalesce(nullif(a.description, ''), nullif(c.description, ''), a.category)
        end as description,
        case a.attribution
            when 'unattributed' then a.amount
            when 'residual' then a.`usage` - coalesce(a.children_usage, 0)
            else a.`usage`
        end as `usage`,
        case a.attribution
            when 'unattributed' then a.currency
            else nullif(a.usage_unit, '')
        end as usage_unit,
        a.amount as cost,
        a.currency,
        a.attribution,
        a.category as source_category,
        case a.attribution
            when 'unattributed' then null
            when 'residual' then a.`count` - coalesce(a.children_count, 0)
            else a.`count`
        end as `count`,
        case a.attribution
            when 'unattributed' then null
            else nullif(a.count_unit, '')
        end as count_unit
    from amounts as a
    left join categories as c
        on c.category = a.category
    where a.amount != 0
        or (a.attribution = 'leaf' and (coalesce(a.`usage`, 0) != 0 or coalesce(a.`count`, 0) != 0))

),

-- The top-level category of each category: its ancestor just under
-- totalprice, or itself.
families as (

    select
        category,
        array_agg(ancestor order by distance desc limit 2)[offset(1)] as family
    from {{ ref('stg_twilio__category_ancestors') }}
    group by category
    having count(*) >= 2

),

accounts as (

    select * from {{ ref('stg_twilio__accounts') }}

)

select
    a.usage_date,
    a.billing_account_sid,
    coalesce(billing.account_name, a.billing_account_sid) as billing_account_name,
    a.account_sid,
    coalesce(acct.account_name, a.account_sid) as account_name,
    coalesce(c.service_group, 'Other') as service_group,
    coalesce(f.family, a.source_category) as category_family,
    a.category,
    a.description,
    a.`usage`,
    a.usage_unit,
    a.cost,
    a.currency,
    a.attribution,
    a.source_category,
    a.`count`,
    a.count_unit,
    coalesce(c.service_name, 'Twilio Other') as service_name,
    coalesce(c.service_category, 'Other') as service_category,
    coalesce(c.service_subcategory, 'Other (Other)') as service_subcategory,
    coalesce(c.charge_frequency, 'Usage-Based') as charge_frequency
from attributed as a
left join accounts as acct
    on acct.account_sid = a.account_sid
left join accounts as billing
    on billing.account_sid = a.billing_account_sid
left join categories as c
    on c.category = a.source_category
left join families as f
    on f.category = a.source_category

{% else %}

-- Usage loaded by twilio-elt: its loader computes the attribution as it
-- loads each account-day, into the table twilio_cost_daily.
select
    usage_date,
    billing_account_sid,
    billing_account_name,
    account_sid,
    account_name,
    service_group,
    category_family,
    category,
    description,
    `usage`,
    usage_unit,
    cost,
    currency,
    attribution,
    source_category,
    `count`,
    count_unit,
    service_name,
    service_category,
    service_subcategory,
    charge_frequency
from {{ source('twilio', 'twilio_cost_daily') }}

{% endif %}
