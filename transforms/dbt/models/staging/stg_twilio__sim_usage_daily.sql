-- Daily usage per Programmable Wireless SIM: data (in data_units, bytes)
-- and machine-to-machine commands, with what each was billed.

select
    usage_date,
    sim_sid,
    account_sid,
    upper(currency) as currency,
    data_units,
    data_total,
    data_upload,
    data_download,
    data_billed,
    data_home_total,
    data_home_billed,
    data_national_roaming_total,
    data_national_roaming_billed,
    data_international_roaming_total,
    data_international_roaming_billed,
    commands_total,
    commands_from_sim,
    commands_to_sim,
    commands_billed,
    commands_home_total,
    commands_home_billed,
    commands_national_roaming_total,
    commands_national_roaming_billed,
    commands_international_roaming_total,
    commands_international_roaming_billed,
    _loaded_at
from {{ source('twilio', 'twilio_sim_usage_daily') }}
