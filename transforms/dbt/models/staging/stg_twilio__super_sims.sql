-- Super SIMs (Twilio's current IoT product) of the main account: each
-- SIM's fleet and status now.

select
    sim_sid,
    account_sid,
    unique_name,
    status,
    fleet_sid,
    iccid,
    created_at,
    updated_at,
    _loaded_at
from {{ source('twilio', 'twilio_super_sims') }}
