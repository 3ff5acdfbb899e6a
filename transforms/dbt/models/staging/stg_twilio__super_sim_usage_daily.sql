-- Daily data per Super SIM: bytes up, down and in all, and what Twilio
-- billed for them, billed_unit (currency) in upper case. billed_unit is
-- null, and data_total_billed 0, while Twilio's billing has not caught up
-- with the day. Detail, not cost: Super SIM cost is in the usage
-- categories of twilio__cost_daily; never add these amounts to it.

select
    usage_date,
    sim_sid,
    account_sid,
    fleet_sid,
    network_sid,
    iso_country,
    data_upload,
    data_download,
    data_total,
    data_total_billed,
    upper(billed_unit) as billed_unit,
    _loaded_at
from {{ source('twilio', 'twilio_super_sim_usage_daily') }}
