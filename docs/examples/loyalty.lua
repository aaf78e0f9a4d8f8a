-- loyalty: points for every purchase, a welcome bonus, and a VIP tag.
-- Put it in clients/NAME/plugins/ to use it for client NAME.
return {
  name = "loyalty",
  version = "1.0",
  description = "Points per dollar, a welcome bonus, VIP tag",
  events = { "purchase" }, -- on_event sees purchases only
  order = 50,              -- runs after lifecycle (order 10)

  -- Settings, and their defaults. A client changes them in config.lua.
  defaults = {
    points_per_dollar = 1,
    welcome_bonus = 50,
    vip_points = 200,
  },

  on_load = function(ctx)
    assert(ctx.config.points_per_dollar >= 0, "loyalty: points_per_dollar must not be negative")
  end,

  on_event = function(ev, ctx)
    local who = ev.customer
    if not who or not ev.amount_cents then
      return
    end

    -- Points for the money spent: whole dollars only.
    local points = ev.amount_cents // 100 * ctx.config.points_per_dollar
    ctx.ledger_add(who, points, { rule = "per_dollar", note = "order " .. ev.id })

    -- The first purchase earns a welcome bonus, and a welcome email.
    if not ctx.fact(who, "welcomed") then
      ctx.ledger_add(who, ctx.config.welcome_bonus, { kind = "bonus", rule = "welcome" })
      ctx.fact_set(who, "welcomed", true)
      ctx.outbox_send(who, "email", "welcome", { points = ctx.config.welcome_bonus })
    end

    -- Enough points make a VIP.
    if ctx.balance(who) >= ctx.config.vip_points and not ctx.has_tag(who, "vip") then
      ctx.tag(who, "vip")
      ctx.log(who, "is now a VIP, on", cx.time.date(ctx.now()))
    end
  end,
}
