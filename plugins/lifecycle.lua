-- lifecycle: where each customer stands with the client.
--
-- For every customer it keeps these facts (read them with cx.customer(id),
-- or in SQL from the view `lifecycle`):
--   first_purchase_at, last_purchase_at   times of the first and latest purchase
--   purchase_count                        how many purchases
--   total_spend_cents                     what they spent, in cents
--   stage                                 one of the stages below
--
-- The stages, judged at a moment "now" (an event's time, or a refresh's):
--   prospect  known to the client (any event), no purchase yet
--   new       one purchase only, made less than new_days ago
--   active    bought less than lapsing_days ago
--   lapsing   last purchase between lapsing_days and lapsed_days ago
--   lapsed    no purchase for lapsed_days or more
--
-- The day counts are settings. To change them for one client, put in
-- clients/NAME/config.lua:
--   return { lifecycle = { lapsing_days = 120, lapsed_days = 270 } }

local DAY = 86400

-- The stage of a customer with these facts at time `now`.
local function stage_of(facts, now, settings)
  if not facts.last_purchase_at then
    return "prospect"
  end
  local days_since = (now - facts.last_purchase_at) // DAY
  if days_since >= settings.lapsed_days then
    return "lapsed"
  elseif days_since >= settings.lapsing_days then
    return "lapsing"
  elseif facts.purchase_count == 1 and days_since < settings.new_days then
    return "new"
  else
    return "active"
  end
end

-- The event types that count as purchases, as a set (filled by on_load from
-- the purchase_types setting): is_purchase[ev.type] is true for them.
local is_purchase = {}

return {
  name = "lifecycle",
  version = "1.0",
  description = "First and last purchase, purchase count, total spend and lifecycle stage",
  order = 10, -- early: other plugins read the stage

  defaults = {
    new_days = 90,
    lapsing_days = 180,
    lapsed_days = 365,
    purchase_types = { "purchase" },
  },

  on_load = function(ctx)
    local s = ctx.config
    assert(s.new_days > 0 and s.lapsing_days > 0, "lifecycle: day counts must be positive")
    assert(s.lapsing_days < s.lapsed_days, "lifecycle: lapsing_days must be less than lapsed_days")
    for _, kind in ipairs(s.purchase_types) do
      is_purchase[kind] = true
    end
  end,

  on_event = function(ev, ctx)
    if not ev.customer then
      return
    end
    local facts = ctx.facts(ev.customer)
    if not is_purchase[ev.type] then
      if facts.stage == nil then
        ctx.fact_set(ev.customer, "stage", "prospect")
      end
      return
    end
    local first = facts.first_purchase_at
    local last = facts.last_purchase_at
    facts.first_purchase_at = (first and first < ev.at) and first or ev.at
    facts.last_purchase_at = (last and last > ev.at) and last or ev.at
    facts.purchase_count = (facts.purchase_count or 0) + 1
    facts.total_spend_cents = (facts.total_spend_cents or 0) + (ev.amount_cents or 0)
    facts.stage = stage_of(facts, facts.last_purchase_at, ctx.config)
    ctx.facts_set(ev.customer, facts)
  end,

  -- Time passes: customers who stopped buying move on to lapsing and lapsed.
  on_refresh = function(ctx, as_of)
    ctx.each_customer(function(customer, facts)
      local stage = stage_of(facts, as_of, ctx.config)
      if stage ~= facts.stage then
        ctx.fact_set(customer, "stage", stage)
      end
    end)
  end,
}
