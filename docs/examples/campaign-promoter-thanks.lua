-- promoter-thanks: a customer who answers 9 or 10 to "would you recommend
-- us?" gets a thank-you email and the tag "promoter", once.
--   cxhost campaign start --client NAME docs/examples/campaign-promoter-thanks.lua
return {
  name = "promoter-thanks",
  description = "Thank the customers who would recommend us",
  module = "relate",
  audience = everyone(),
  trigger = event("survey", function(ev, c) return (ev.data.nps or 0) >= 9 end),
  actions = {
    send("email", "thanks-for-recommending", function(c) return { nps = c.event.data.nps } end),
    tag("promoter"),
  },
  budget = { per_customer = { contacts = 1 } },
}
