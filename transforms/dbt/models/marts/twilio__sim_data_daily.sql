-- Per SIM and day: data moved, commands sent, and what each was billed,
-- with the SIM's attributes.

select
    u.usage_date,
    u.sim_sid,
    coalesce(u.account_sid, sim.account_sid) as account_sid,
    sim.unique_name,
    sim.friendly_name,
    sim.iccid,
    sim.rate_plan_sid,
    sim.status as sim_status,
    u.data_units,
    u.data_total as data_bytes,
    u.data_upload as data_upload_bytes,
    u.data_download as data_download_bytes,
    u.data_billed,
    u.commands_total as commands,
    u.commands_from_sim,
    u.commands_to_sim,
    u.commands_billed,
    coalesce(u.data_billed, 0) + coalesce(u.commands_billed, 0) as billed,
    u.currency
from {{ ref('stg_twilio__sim_usage_daily') }} as u
left join {{ source('twilio', 'twilio_sims') }} as sim
    on sim.sim_sid = u.sim_sid
