-- waits: how long customers wait, at each touchpoint, as a running measure
-- of the client (recent weeks count most). The events carry the wait in
-- minutes, in a free field wait_minutes.
return {
  name = "waits",
  version = "1.0",
  description = "Waiting times per touchpoint, in minutes",

  defaults = {
    -- The event types that carry a wait, and how much each counts. A client
    -- adds its own in config.lua: waits = { types = { chat = 1 } }.
    types = { visit = 1, call = 1 },
    too_long = 10,        -- minutes: a longer wait is counted as too long
    half_life_days = 30,  -- a wait counts half as much 30 days later
  },

  -- The types to listen to come from the settings, so on_event is told here.
  on_load = function(ctx)
    local types = {}
    for kind, weight in pairs(ctx.config.types) do
      if weight > 0 then
        types[#types + 1] = kind
      end
    end
    ctx.listen(types)
  end,

  on_event = function(ev, ctx)
    local minutes = tonumber(ev.data.wait_minutes)
    if not minutes then
      return
    end
    ctx.cell_add("wait", ev.touchpoint, minutes, ctx.config.types[ev.type], {
      half_life_days = ctx.config.half_life_days,
      high = minutes > ctx.config.too_long,
    })
  end,
}
