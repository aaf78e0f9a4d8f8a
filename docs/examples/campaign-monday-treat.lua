-- monday-treat: every Monday at 09:00 (UTC), 25 points and a push message
-- for this month's regulars: four purchases or more in the last 30 days.
-- No customer gets more than four treats from it.
--   cxhost campaign run --client NAME docs/examples/campaign-monday-treat.lua
return {
  name = "monday-treat",
  description = "A Monday treat for this month's regulars",
  module = "act",
  audience = purchases{ at_least = 4, within_days = 30 },
  trigger = "every monday 09:00",
  actions = {
    points(25, { note = "monday treat" }),
    send("push", "monday-treat"),
  },
  budget = { points = 10000, per_customer = { points = 100 } },
}
