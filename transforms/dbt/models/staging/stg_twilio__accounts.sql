-- One row per Twilio account: the main account and its subaccounts.
-- billing_account_sid is the account that pays: the main account itself,
-- or a subaccount's parent. account_name is the name people know it by:
-- its display name, else Twilio's friendly name, else its SID (as the
-- loader names accounts in twilio_cost_daily).

{% if var('twilio_cost_source') == 'usage_records' %}

-- The accounts stream as another tool lands it. An append sync keeps every
-- record of an account: the latest one (by date_updated, then by when it
-- was landed) is the account.
with latest as (

    select
        array_agg(a order by
            unix_micros(cast(a.date_updated as timestamp)) desc,
            unix_micros(cast(a.{{ var('twilio_loaded_at_field') }} as timestamp)) desc
            limit 1)[offset(0)] as account
    from {{ source('twilio_streams', 'accounts') }} as a
    group by a.sid

),

accounts as (

    select
        account.sid as account_sid,
        -- Twilio names a main account its own owner.
        case when account.is_main or account.owner_account_sid = account.sid then null else account.owner_account_sid end as parent_account_sid,
        account.friendly_name,
        account.display_name,
        account.status,
        account.type,
        account.is_main,
        cast(account.date_created as timestamp) as created_at,
        cast(account.date_updated as timestamp) as updated_at,
        cast(account.{{ var('twilio_loaded_at_field') }} as timestamp) as _loaded_at
    from latest

)

{% else %}

with accounts as (

    select
        account_sid,
        parent_account_sid,
        friendly_name,
        display_name,
        status,
        type,
        is_main,
        created_at,
        updated_at,
        _loaded_at
    from {{ source('twilio', 'twilio_accounts') }}

)

{% endif %}

select
    account_sid,
    parent_account_sid,
    case when is_main then account_sid else coalesce(parent_account_sid, account_sid) end as billing_account_sid,
    coalesce(nullif(display_name, ''), nullif(friendly_name, ''), account_sid) as account_name,
    friendly_name,
    display_name,
    status as account_status,
    type as account_type,
    coalesce(is_main, false) as is_main,
    created_at,
    updated_at,
    _loaded_at
from accounts
