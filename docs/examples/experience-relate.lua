-- relate, one client's own version: the built-in relate module
-- (plugins/relate.lua) plus public reviews. A `review` event's `stars`
-- (1 to 5) say how the customer spoke of the brand to others: 1 star is 0,
-- 5 stars 100. Copied into cxhome/clients/NAME/plugins/, it replaces the
-- built-in relate for that client; it keeps the name "relate", so
-- cx.experience and the experience report read its scores.

local experience = cx.experience
local MODULE = "relate"

return {
  name = "relate",
  version = "1.0-reviews",
  description = "Social identity, with public reviews (Schmitt's RELATE)",
  order = 25,

  defaults = {
    half_life_days = 120,
    prior = 0,
    prior_weight = 3,
    types = { referral = 3, community = 1, club_join = 2, share = 1, survey = 2, review = 2 },
  },

  on_load = function(ctx)
    -- the types with a weight above 0, as set in config.lua
    ctx.listen(experience.types(ctx.config))
  end,

  on_event = function(ev, ctx)
    local weight = ctx.config.types[ev.type]
    local value
    if ev.type == "review" then
      local stars = experience.rating(ev, "stars", 1, 5) -- nil when not given
      if not stars then
        return
      end
      value = experience.scale(stars, 1, 5)
    else
      local rating = experience.rating(ev, MODULE, 1, 7)
      if not rating and ev.type == "survey" then
        return -- a survey that does not rate relate
      end
      value = rating and experience.scale(rating, 1, 7) or 100
    end
    experience.observe(ctx, MODULE, ev, value, weight, ev.data.episode)
  end,
}
