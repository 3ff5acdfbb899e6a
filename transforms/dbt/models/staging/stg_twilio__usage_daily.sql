-- Twilio's daily usage records, one row per account, category and day.
-- Categories overlap (totalprice and roll-ups contain their children):
-- use twilio__cost_daily to add up cost.

{% if var('twilio_cost_source') == 'usage_records' %}

-- The usage_records stream as another tool lands it, read as twilio-elt's
-- loader reads the same records into twilio_usage_daily:
--   * a record supersedes the earlier ones of its account, category and
--     day (an append sync keeps each re-read): the latest by as_of (when
--     Twilio computed it), then by when it was landed, then the larger
--     price, usage and count;
--   * a record whose count, usage and price are all 0 or missing is no
--     row (Twilio returns one for every category, every day);
--   * the currency is price_unit in upper case.
with latest as (

    select
        -- (Times as epoch microseconds: the same order, and one that the
        -- BigQuery emulator the package is tested on also sorts right
        -- beside NUMERIC keys.)
        array_agg(r order by
            unix_micros(cast(r.as_of as timestamp)) desc,
            unix_micros(cast(r.{{ var('twilio_loaded_at_field') }} as timestamp)) desc,
            cast(r.price as numeric) desc, cast(r.`usage` as numeric) desc, cast(r.`count` as numeric) desc
            limit 1)[offset(0)] as record
    from {{ source('twilio_streams', 'usage_records') }} as r
    group by r.account_sid, r.category, r.start_date

),

records as (

    select
        cast(record.start_date as date) as usage_date,
        record.account_sid,
        record.category,
        record.description,
        cast(record.`count` as numeric) as `count`,
        record.count_unit,
        cast(record.`usage` as numeric) as `usage`,
        record.usage_unit,
        cast(record.price as numeric) as price,
        nullif(upper(trim(record.price_unit)), '') as currency,
        cast(record.as_of as timestamp) as as_of,
        cast(record.{{ var('twilio_loaded_at_field') }} as timestamp) as _loaded_at
    from latest

)

select
    u.usage_date,
    u.account_sid,
    coalesce(a.billing_account_sid, u.account_sid) as billing_account_sid,
    u.category,
    u.description,
    u.`count`,
    u.count_unit,
    u.`usage`,
    u.usage_unit,
    u.price,
    u.currency,
    u.as_of,
    u._loaded_at
from records as u
left join {{ ref('stg_twilio__accounts') }} as a
    on a.account_sid = u.account_sid
where coalesce(u.`count`, 0) != 0 or coalesce(u.`usage`, 0) != 0 or coalesce(u.price, 0) != 0

{% else %}

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

{% endif %}
