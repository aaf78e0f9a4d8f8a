-- silver-welcome: when a customer reaches the silver tier (or a higher
-- one), a welcome email and 50 points.
--   cxhost campaign start --client NAME docs/examples/campaign-silver-welcome.lua
return {
  name = "silver-welcome",
  description = "Welcome customers to silver",
  module = "relate",
  audience = everyone(),
  trigger = enters(tier_at_least("silver")),
  actions = {
    send("email", "welcome-to-silver", function(c) return { tier = c.tier } end),
    points(50, { note = "welcome to silver" }),
  },
}
