-- FOCUS 1.2 cost and usage rows, one per twilio__cost_daily row. Twilio
-- bills every subaccount's usage to its main account: the main account is
-- the billing account, each account (the main one included, for its own
-- usage) a sub account. The loader's own FOCUS view is twilio_cost_focus
-- (docs/cost-model.md in the twilio-elt repository).

with quantities as (

    -- Consumed: the events Twilio counted (messages, calls), else the
    -- billed usage. Pricing: the billed usage, else the count. A row with
    -- neither (a residual of a roll-up without usage) has 0 units.
    select
        *,
        coalesce(`count`, `usage`, 0) as consumed_quantity,
        replace(case
            when `count` is not null then coalesce(count_unit, 'units')
            when `usage` is not null then coalesce(usage_unit, 'units')
            else 'units'
        end, '-', ' ') as consumed_unit_text,
        coalesce(`usage`, `count`, 0) as pricing_quantity,
        replace(case
            when `usage` is not null then coalesce(usage_unit, 'units')
            when `count` is not null then coalesce(count_unit, 'units')
            else 'units'
        end, '-', ' ') as pricing_unit_text
    from {{ ref('twilio__cost_daily') }}

)

select
    -- Costs: Twilio has no commitments or negotiated rates in usage
    -- records, so all four are the attributed cost.
    c.cost as BilledCost,
    c.cost as EffectiveCost,
    c.cost as ListCost,
    c.cost as ContractedCost,
    c.currency as BillingCurrency,

    c.billing_account_sid as BillingAccountId,
    c.billing_account_name as BillingAccountName,
    'Twilio Account' as BillingAccountType,
    c.account_sid as SubAccountId,
    coalesce(c.account_name, c.account_sid) as SubAccountName,
    case when c.account_sid = c.billing_account_sid then 'Main Account' else 'Subaccount' end as SubAccountType,

    timestamp(date_trunc(c.usage_date, month)) as BillingPeriodStart,
    timestamp(date_add(date_trunc(c.usage_date, month), interval 1 month)) as BillingPeriodEnd,
    timestamp(c.usage_date) as ChargePeriodStart,
    timestamp(date_add(c.usage_date, interval 1 day)) as ChargePeriodEnd,

    'Usage' as ChargeCategory,
    cast(null as string) as ChargeClass,
    c.description as ChargeDescription,
    c.charge_frequency as ChargeFrequency,

    -- Units in FOCUS's UnitFormat: "minutes" → "Minutes",
    -- "short-codes" → "Short codes", "megabytes" → "MB".
    c.consumed_quantity as ConsumedQuantity,
    case lower(c.consumed_unit_text)
        when 'kilobytes' then 'KB'
        when 'megabytes' then 'MB'
        when 'gigabytes' then 'GB'
        else concat(upper(substr(c.consumed_unit_text, 1, 1)), substr(c.consumed_unit_text, 2))
    end as ConsumedUnit,
    c.pricing_quantity as PricingQuantity,
    case lower(c.pricing_unit_text)
        when 'kilobytes' then 'KB'
        when 'megabytes' then 'MB'
        when 'gigabytes' then 'GB'
        else concat(upper(substr(c.pricing_unit_text, 1, 1)), substr(c.pricing_unit_text, 2))
    end as PricingUnit,
    'Standard' as PricingCategory,

    'Twilio' as ProviderName,
    'Twilio' as PublisherName,
    'Twilio' as InvoiceIssuerName,
    c.service_name as ServiceName,
    c.service_category as ServiceCategory,
    c.service_subcategory as ServiceSubcategory,

    c.category as SkuId,
    c.category as SkuPriceId,
    c.description as SkuMeter,

    c.service_group as x_ServiceGroup,
    c.`count` as x_UsageCount,
    c.count_unit as x_CountUnit,
    c.usage_date as x_UsageDate,
    c.attribution as x_Attribution,
    c.source_category as x_SourceCategory
from quantities as c
