-- sense: the sensory quality of the touchpoints (Bernd Schmitt's SENSE module).
--
-- What it listens to, and what each event is worth (a weight; 0 switches a
-- type off, and a client may add its own types):
--   audit        a touchpoint audit by staff or a mystery shopper: each of
--                `sight`, `sound`, `smell`, `taste`, `touch` it rates (1 to 7;
--                7 = 100, 1 = 0) is one observation of the touchpoint. Audits
--                have no customer: they feed the experience grid only.
--   survey       a customer's `sense` rating (1 to 7)
--   other types  a client maps to sense: their `sense` rating, or 100
-- A moment with an `episode` (part of a visit or a journey stage) is
-- remembered with the rest of its episode by the peak-end rule.
--
-- Each customer's score, 0 to 100, starts at the prior (50, neutral) and
-- drifts back to it as observations age (their weight halves every
-- half_life_days). The formulas: docs/experience.md. To change a setting for
-- one client, in clients/NAME/config.lua:
--   return { sense = { half_life_days = 365, types = { audit = 2 } } }

local experience = cx.experience
local MODULE = "sense"
local SENSES = { "sight", "sound", "smell", "taste", "touch" }

return {
  name = "sense",
  version = "1.0",
  description = "Sensory quality at touchpoints: audits and survey ratings (Schmitt's SENSE)",
  order = 21,

  defaults = {
    half_life_days = 180,
    prior = 50,
    prior_weight = 1,
    types = { audit = 1, survey = 2 },
  },

  on_load = function(ctx)
    experience.check_settings(MODULE, ctx.config)
    ctx.listen(experience.types(ctx.config))
  end,

  on_event = function(ev, ctx)
    if ev.type == "audit" then
      local weight = ctx.config.types.audit
      for _, sense in ipairs(SENSES) do
        local rating = experience.rating(ev, sense, 1, 7)
        if rating then
          experience.observe(ctx, MODULE, ev, experience.scale(rating, 1, 7), weight)
        end
      end
    else
      experience.observe_event(ctx, MODULE, ev)
    end
  end,
}
