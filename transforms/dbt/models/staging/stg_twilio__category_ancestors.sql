-- One row per usage category and each of its ancestors (distance 1 is
-- the parent, 2 the grandparent, …).

select
    category,
    ancestor,
    cast(distance as int64) as distance
from {{ source('twilio', 'twilio_usage_category_ancestors') }}
