-- Each account's daily cost, attributed so that nothing is counted twice
-- and every account-day adds up to Twilio's totalprice exactly
-- (docs/cost-model.md in the twilio-elt repository):
--
-- P is an account-day's usage rows whose category is not an overlay. A
-- row's nearest present ancestor is its closest ancestor that also has a
-- row in P. Each row's amount is its price minus the prices of the rows
-- whose nearest present ancestor it is (a NULL price counts as 0):
--   totalprice              -> one 'Unattributed' row (when non-zero)
--   a roll-up, or a parent  -> one '<category> (other)' residual row (when non-zero)
--   anything else           -> a leaf row at its price (unless price, usage and count are all 0 or NULL)

{{ config(partition_by={'field': 'usage_date', 'data_type': 'date'}, cluster_by=['account_sid', 'category']) }}

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

-- The ancestors of the categories that occur.
ancestors as (

    select
        category,
        ancestor,
        distance
    from {{ ref('stg_twilio__category_ancestors') }}
    where category in (select category from summed)

),

-- Each row with every ancestor of its category.
row_ancestors as (

    select
        s.account_sid,
        s.usage_date,
        s.category,
        s.price,
        a.ancestor,
        a.distance
    from summed as s
    inner join ancestors as a
        on a.category = s.category

),

-- The ancestors that have a row of their own the same account-day: the
-- row_ancestors and the rows themselves, grouped by account, day and
-- (ancestor or own) category; a group with a row of its own is present.
-- (A grouping rather than a join back to summed: the same result, and one
-- pass.)
present_ancestors as (

    select
        g.account_sid,
        g.usage_date,
        d.category,
        d.price,
        g.ancestor,
        d.distance
    from (
        select
            account_sid,
            usage_date,
            k as ancestor,
            array_agg(struct(category, price, distance)) as descendants
        from (
            select account_sid, usage_date, ancestor as k, category, price, distance, false as is_row
            from row_ancestors
            union all
            select account_sid, usage_date, category as k, null, null, null, true as is_row
            from summed
        )
        group by account_sid, usage_date, k
        having logical_or(is_row)
    ) as g,
    unnest(g.descendants) as d
    where d.category is not null

),

-- Each row's nearest present ancestor.
nearest_ancestor as (

    select
        account_sid,
        usage_date,
        category,
        any_value(price) as price,
        array_agg(ancestor order by distance limit 1)[offset(0)] as ancestor
    from present_ancestors
    group by account_sid, usage_date, category

),

-- What the rows directly under each row (by nearest present ancestor) bill.
children as (

    select
        account_sid,
        usage_date,
        ancestor as category,
        sum(price) as children_price
    from nearest_ancestor
    group by account_sid, usage_date, ancestor

),

amounts as (

    select
        s.*,
        s.price - coalesce(ch.children_price, 0) as amount,
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
        usage_date,
        billing_account_sid,
        account_sid,
        case attribution
            when 'unattributed' then 'Unattributed'
            when 'residual' then concat(category, ' (other)')
            else category
        end as category,
        case attribution
            when 'unattributed' then 'Cost in no usage category'
            when 'residual' then concat(coalesce(description, category), ' (other)')
            else description
        end as description,
        case when attribution = 'leaf' then `usage` end as `usage`,
        case when attribution = 'leaf' then usage_unit end as usage_unit,
        amount as cost,
        currency,
        attribution,
        category as source_category,
        case when attribution = 'leaf' then `count` end as `count`,
        case when attribution = 'leaf' then count_unit end as count_unit
    from amounts
    where
        (attribution = 'leaf' and not (price = 0 and coalesce(`usage`, 0) = 0 and coalesce(`count`, 0) = 0))
        or (attribution != 'leaf' and amount != 0)

)

select
    a.usage_date,
    a.billing_account_sid,
    a.account_sid,
    acct.account_name,
    coalesce(c.service_group, 'Other') as service_group,
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
left join {{ ref('stg_twilio__accounts') }} as acct
    on acct.account_sid = a.account_sid
left join categories as c
    on c.category = a.source_category
