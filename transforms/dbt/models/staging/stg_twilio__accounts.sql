-- One row per Twilio account: the main account and its subaccounts.
-- billing_account_sid is the account that pays: the main account itself,
-- or a subaccount's parent.

select
    account_sid,
    parent_account_sid,
    case when is_main then account_sid else coalesce(parent_account_sid, account_sid) end as billing_account_sid,
    coalesce(friendly_name, display_name, account_sid) as account_name,
    friendly_name,
    display_name,
    status as account_status,
    type as account_type,
    coalesce(is_main, false) as is_main,
    created_at,
    updated_at,
    _loaded_at
from {{ source('twilio', 'twilio_accounts') }}
