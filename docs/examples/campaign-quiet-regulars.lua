-- quiet-regulars: customers who used to come back but have not bought
-- anything for two weeks get 150 points and an email that says so. A
-- quarter of them get nothing, to measure what the email does.
--   cxhost campaign run --client NAME docs/examples/campaign-quiet-regulars.lua
return {
  name = "quiet-regulars",
  description = "Bring back regulars who have not bought for two weeks",
  module = "act",

  -- Two purchases or more, but none in the last 14 days.
  audience = purchases{ at_least = 2 } & inactive{ days = 14 },

  actions = {
    points(150, { note = "we miss you", expires_days = 60 }),
    send("email", "we-miss-you", function(c) return { points = 150, tier = c.tier } end),
  },

  budget = { points = 20000, contacts = 200 },
  holdout = 0.25,
  response = { event = "purchase", days = 30 },
}
