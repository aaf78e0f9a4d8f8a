-- relate: customers' social identity with the brand (Bernd Schmitt's RELATE
-- module): bringing others, belonging, sharing.
--
-- What it listens to, and what each event is worth (a weight; 0 switches a
-- type off, and a client may add its own types):
--   referral 3   club_join 2   community 1   share 1
--                 each an engaged moment: 100 (or the event's `relate`
--                 rating, 1 to 7, if it has one)
--   survey 2      the `relate` rating (1 to 7 agreement: 7 = 100, 1 = 0)
-- A moment with an `episode` (part of a visit or a journey stage) is
-- remembered with the rest of its episode by the peak-end rule.
--
-- Each customer's score, 0 to 100, starts at the prior (0: no engagement
-- yet), rises with engagement and falls back as it ages (its weight halves
-- every half_life_days); prior_weight sets how much engagement it takes to
-- rise (with 3, a weight of 3 recently gives 50). The formulas:
-- docs/experience.md. To change a setting for one client, in
-- clients/NAME/config.lua:
--   return { relate = { half_life_days = 365, types = { referral = 5 } } }

local experience = cx.experience
local MODULE = "relate"

return {
  name = "relate",
  version = "1.0",
  description = "Social identity: referrals, community, club membership, sharing (Schmitt's RELATE)",
  order = 25,

  defaults = {
    half_life_days = 120,
    prior = 0,
    prior_weight = 3,
    types = { referral = 3, community = 1, club_join = 2, share = 1, survey = 2 },
  },

  on_load = function(ctx)
    experience.check_settings(MODULE, ctx.config)
    ctx.listen(experience.types(ctx.config))
  end,

  on_event = function(ev, ctx)
    experience.observe_event(ctx, MODULE, ev)
  end,
}
