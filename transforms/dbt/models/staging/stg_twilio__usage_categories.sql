-- twilio-elt's taxonomy of Twilio usage categories, one row per category.

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
