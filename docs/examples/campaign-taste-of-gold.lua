-- taste-of-gold: 30 days in the gold tier, and an email that says so, for
-- the silver customers who spent 150.00 or more in the last 90 days.
--   cxhost campaign run --client NAME docs/examples/campaign-taste-of-gold.lua
return {
  name = "taste-of-gold",
  description = "Gold for 30 days for silver customers who spent 150.00 in 90 days",
  module = "relate",
  audience = tier("silver") & spend{ at_least = 150, within_days = 90 },
  actions = {
    grant_tier("gold", { days = 30 }),
    send("email", "taste-of-gold", { days = 30 }),
  },
}
