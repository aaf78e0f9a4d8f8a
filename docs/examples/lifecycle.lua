-- lifecycle, acme's own: it replaces the built-in plugin of the same name.
-- Acme's customers buy about once a month, so a customer is "lapsing" after
-- 30 days without a purchase and "lapsed" after 60. It keeps the built-in's
-- facts, so the summary report and the lifecycle view work as before.
local DAY = 86400

local function stage_of(last_purchase_at, now)
  if not last_purchase_at then
    return "prospect"
  end
  local days = (now - last_purchase_at) // DAY
  if days >= 60 then
    return "lapsed"
  elseif days >= 30 then
    return "lapsing"
  end
  return "active"
end

return {
  name = "lifecycle",
  version = "1.0-acme",
  description = "Monthly buyers: lapsing after 30 days, lapsed after 60",
  order = 10,
  events = { "purchase" },

  on_event = function(ev, ctx)
    if not ev.customer then
      return
    end
    local f = ctx.facts(ev.customer)
    f.first_purchase_at = math.min(f.first_purchase_at or ev.at, ev.at)
    f.last_purchase_at = math.max(f.last_purchase_at or ev.at, ev.at)
    f.purchase_count = (f.purchase_count or 0) + 1
    f.total_spend_cents = (f.total_spend_cents or 0) + (ev.amount_cents or 0)
    f.stage = stage_of(f.last_purchase_at, ev.at)
    ctx.facts_set(ev.customer, f)
  end,

  on_refresh = function(ctx, as_of)
    for _, row in ipairs(cx.query("SELECT customer, stage, last_purchase_at FROM lifecycle")) do
      local stage = stage_of(row.last_purchase_at, as_of)
      if stage ~= row.stage then
        ctx.fact_set(row.customer, "stage", stage)
      end
    end
  end,
}
