-- act: customers' behavioural engagement with the brand (Bernd Schmitt's ACT
-- module): what they do with it, and how often they come back.
--
-- What it listens to, and what each event is worth (a weight; 0 switches a
-- type off, and a client may add its own types):
--   visit 1   trial 1.5   app_open 0.25
--                 each an engaged moment: 100 (or the event's `act` rating,
--                 1 to 7, if it has one)
--   purchase 1    a repeat purchase (every purchase after a customer's
--                 first; the count is the fact `purchases`): 100
--   survey 2      the `act` rating (1 to 7 agreement: 7 = 100, 1 = 0)
-- A moment with an `episode` (a visit and the purchase made during it) is
-- remembered with the rest of its episode by the peak-end rule: a visit with
-- a purchase counts once.
--
-- Each customer's score, 0 to 100, starts at the prior (0: no engagement
-- yet), rises with engagement and falls back as it ages (its weight halves
-- every half_life_days); prior_weight sets how much engagement it takes to
-- rise (with 3, a weight of 3 recently gives 50). The formulas:
-- docs/experience.md. To change a setting for one client, in
-- clients/NAME/config.lua:
--   return { act = { half_life_days = 14, types = { app_open = 0 } } }

local experience = cx.experience
local MODULE = "act"

return {
  name = "act",
  version = "1.0",
  description = "Behavioural engagement: visits, trials, app use, repeat purchases (Schmitt's ACT)",
  order = 24,

  defaults = {
    half_life_days = 30,
    prior = 0,
    prior_weight = 3,
    types = { visit = 1, trial = 1.5, app_open = 0.25, purchase = 1, survey = 2 },
  },

  on_load = function(ctx)
    experience.check_settings(MODULE, ctx.config)
    ctx.listen(experience.types(ctx.config))
  end,

  on_event = function(ev, ctx)
    if ev.type == "purchase" then
      if not ev.customer then
        return
      end
      local facts = ctx.facts(ev.customer) -- the table itself: changes are kept
      local before = facts.purchases or 0
      facts.purchases = before + 1
      if before == 0 then
        return -- a first purchase is not a repeat
      end
      experience.observe(ctx, MODULE, ev, 100, ctx.config.types.purchase, ev.episode)
      return
    end
    experience.observe_event(ctx, MODULE, ev)
  end,
}
