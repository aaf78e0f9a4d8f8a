-- value-thanks: the customers the value models rate highest get a
-- thank-you letter and the tag "high-value". A fifth of them get nothing,
-- to measure what the letter does.
--   cxhost campaign run --client NAME docs/examples/value-thanks.lua
return {
  name = "value-thanks",
  description = "Thank the customers worth most to us",
  module = "relate",

  -- Worth 100.00 or more over the next 12 months (CLV), and more likely
  -- than not still buying (P(alive) of one half or more).
  audience = clv{ at_least = "100.00" } & p_alive{ at_least = 0.5 },

  actions = {
    send("letter", "thank-you"),
    tag("high-value"),
  },

  holdout = 0.2,
  response = { event = "purchase", days = 90 },
}
