-- goodwill: points for customers the shop kept waiting. A `delay` event (a
-- late delivery, with the free fields order and days) earns points for each
-- day late, within a cap per customer; the points expire if not spent. Each
-- delay is a compensation decision, and says why for cxhost explain.
local DAY = 86400

return {
  name = "goodwill",
  version = "1.0",
  description = "Points for late deliveries, within a cap; they expire",
  events = { "delay" },
  order = 60,

  defaults = {
    points_per_day = 10, -- points for each day late
    cap = 50,            -- at most this many points of compensation ...
    cap_days = 30,       -- ... in this many days, per customer
    valid_days = 90,     -- what is not spent expires this long after
  },

  on_event = function(ev, ctx)
    local who, c = ev.customer, ctx.config
    if not who then
      return
    end
    local days = math.tointeger(tonumber(ev.data.days)) or 0
    local due = days * c.points_per_day
    ctx.explain("per_day", due > 0, "{1:points} for {2} days late with order {3}", due, days, ev.data.order)

    -- The compensation the customer got in the last cap_days.
    local given = ctx.ledger_sum(who, ev.at - c.cap_days * DAY, { "compensation" })
    local points = math.max(0, math.min(due, c.cap - given))
    ctx.explain("cap", points < due, "{1} of {2} points given in the {3} days to {4:date}",
      given, c.cap, c.cap_days, ev.at)

    if points > 0 then
      ctx.ledger_add(who, points, {
        kind = "compensation", rule = "per_day", note = "order " .. tostring(ev.data.order),
        expires_at = ev.at + c.valid_days * DAY,
      })
    end
    ctx.refund_record(who, {
      kind = "compensation", rule = "per_day", purchase = ev.data.order, points = points,
      decision = points == 0 and "rejected" or points < due and "partial" or "approved",
      reason = ("%d of %d points for %d days late"):format(points, due, days),
    })
  end,

  -- What is left of a lot past its expiry is taken back, with one entry
  -- that names the lot and is dated when it expired. cx.loyalty works out
  -- what is left of each lot (redemptions take the oldest points first).
  -- Where the built-in loyalty plugin runs, its refresh has done it already.
  on_refresh = function(ctx, as_of)
    local rows = cx.query([[SELECT DISTINCT c.external_id AS customer FROM ledger l
      JOIN customers c ON c.id = l.customer_id WHERE l.plugin = ?1 AND l.expires_at <= ?2]], ctx.plugin, as_of)
    for _, row in ipairs(rows) do
      local account = cx.loyalty.replay(cx.loyalty.entries(row.customer), as_of)
      for _, lot in ipairs(account.lots) do
        if lot.rule == "per_day" and lot.left > 0 and lot.expires_at and lot.expires_at <= as_of then
          ctx.ledger_add(row.customer, -lot.left, {
            kind = "expire", rule = "valid_days", lot = lot.id, at = lot.expires_at,
          })
        end
      end
    end
  end,
}
