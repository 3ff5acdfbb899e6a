-- One row per usage category and each of its ancestors (distance 1 is
-- the parent, 2 the grandparent, …).

{% if var('twilio_cost_source') == 'usage_records' %}

-- The shipped categories' ancestors (a seed generated from twilio-elt's Go
-- taxonomy), and those of the categories placed by prefix: their parent,
-- then its ancestors.
with shipped as (

    select category, ancestor, cast(distance as int64) as distance
    from {{ ref('twilio_elt__category_ancestors') }}

),

placed as (

    select category, parent
    from {{ ref('stg_twilio__usage_categories') }}
    where not is_known

)

select category, ancestor, distance
from shipped

union all

select category, parent as ancestor, 1 as distance
from placed

union all

select p.category, s.ancestor, s.distance + 1 as distance
from placed as p
inner join shipped as s
    on s.category = p.parent

{% else %}

select
    category,
    ancestor,
    cast(distance as int64) as distance
from {{ source('twilio', 'twilio_usage_category_ancestors') }}

{% endif %}
