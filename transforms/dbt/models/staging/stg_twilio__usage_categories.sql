-- twilio-elt's taxonomy of Twilio usage categories, one row per category.

{% if var('twilio_cost_source') == 'usage_records' %}

-- The shipped categories (a seed generated from twilio-elt's Go taxonomy),
-- plus every category the usage names that they lack, placed as
-- twilio-elt's loader places it (transforms.ClassifyCategory): a leaf
-- whose parent is the longest summed roll-up R such that its name starts
-- with R || '-', else totalprice; its service group that of the longest
-- shipped category (but totalprice) it so extends, else Other; its FOCUS
-- service and charge frequency from the rules in the seeds
-- twilio_elt__focus_services and twilio_elt__charge_frequencies.
with shipped as (

    select * from {{ ref('twilio_elt__usage_categories') }}

),

unknown as (

    select distinct r.category
    from {{ source('twilio_streams', 'usage_records') }} as r
    left join shipped as s
        on s.category = r.category
    where s.category is null and r.category is not null

),

-- The shipped categories each unknown one extends.
extended as (

    select
        u.category,
        s.category as prefix,
        s.is_rollup and not s.is_overlay as can_parent,
        s.service_group
    from unknown as u
    inner join shipped as s
        on starts_with(u.category, concat(s.category, '-'))
    where s.category != 'totalprice'

),

-- The longest prefix that is a summed roll-up, and the longest of all.
parents as (

    select
        category,
        array_agg(prefix order by length(prefix) desc limit 1)[offset(0)] as parent
    from extended
    where can_parent
    group by category

),

service_groups as (

    select
        category,
        array_agg(service_group order by length(prefix) desc limit 1)[offset(0)] as service_group
    from extended
    group by category

),

placed as (

    select
        u.category,
        coalesce(p.parent, 'totalprice') as parent,
        coalesce(g.service_group, 'Other') as service_group
    from unknown as u
    left join parents as p
        on p.category = u.category
    left join service_groups as g
        on g.category = u.category

),

-- The service group's rule with the longest name prefix that starts the
-- name (an empty prefix starts every name); a group without rules has
-- the Other group's service.
services as (

    select
        p.category,
        array_agg(struct(f.service_name, f.service_category, f.service_subcategory)
            order by length(coalesce(f.name_prefix, '')) desc limit 1)[offset(0)] as service
    from placed as p
    inner join {{ ref('twilio_elt__focus_services') }} as f
        on f.service_group = p.service_group
        and (f.name_prefix is null or starts_with(p.category, f.name_prefix))
    group by p.category

),

other_service as (

    select service_name, service_category, service_subcategory
    from {{ ref('twilio_elt__focus_services') }}
    where service_group = 'Other' and name_prefix is null

),

-- The matching rule with the lowest priority (an empty pattern matches
-- every name).
frequencies as (

    select
        p.category,
        array_agg(c.charge_frequency order by c.priority limit 1)[offset(0)] as charge_frequency
    from placed as p
    inner join {{ ref('twilio_elt__charge_frequencies') }} as c
        on c.pattern is null
        or (c.match = 'prefix' and starts_with(p.category, c.pattern))
        or (c.match = 'contains' and strpos(p.category, c.pattern) > 0)
    group by p.category

),

categories as (

    select
        category,
        parent,
        is_rollup,
        is_overlay,
        is_known,
        hierarchy,
        service_group,
        service_name,
        service_category,
        service_subcategory,
        charge_frequency,
        description
    from shipped

    union all

    select
        p.category,
        p.parent,
        false as is_rollup,
        false as is_overlay,
        false as is_known,
        'prefix' as hierarchy,
        p.service_group,
        coalesce(s.service.service_name, o.service_name) as service_name,
        coalesce(s.service.service_category, o.service_category) as service_category,
        coalesce(s.service.service_subcategory, o.service_subcategory) as service_subcategory,
        f.charge_frequency,
        cast(null as string) as description
    from placed as p
    left join services as s
        on s.category = p.category
    cross join other_service as o
    left join frequencies as f
        on f.category = p.category

)

select
    *,
    -- Seeds carry no load time.
    cast(null as timestamp) as _loaded_at
from categories

{% else %}

select
    category,
    parent,
    coalesce(is_rollup, false) as is_rollup,
    coalesce(is_overlay, false) as is_overlay,
    coalesce(is_known, false) as is_known,
    hierarchy,
    service_group,
    service_name,
    service_category,
    service_subcategory,
    charge_frequency,
    description,
    _loaded_at
from {{ source('twilio', 'twilio_usage_categories') }}

{% endif %}
