-- detractor-care: a customer who answers 0 to 6 to "would you recommend
-- us?" gets an apology at once. Two days later: a customer who has bought
-- again since is thanked with 100 points; the others get an offer, and a
-- week after that, the ones who came back are thanked too. A tenth of the
-- detractors are held out.
--   cxhost campaign start --client NAME docs/examples/campaign-detractor-care.lua
return {
  name = "detractor-care",
  description = "Follow up the customers who would not recommend us",
  module = "feel",
  audience = everyone(),
  trigger = event("survey", function(ev, c) return ev.data.nps ~= nil and ev.data.nps <= 6 end),
  journey = {
    { step = "sorry", send("email", "sorry-to-hear"), wait = "2 days" },
    { step = "back", decide = function(c)
        if c.answered("purchase") then return "thanks" end
        return "offer"
      end },
    { step = "offer", send("email", "come-back-offer", { offer = "a free pastry" }, { value = "3.00" }),
      wait = "7 days", next = "last-look" },
    { step = "last-look", decide = function(c)
        if c.answered("purchase") then return "thanks" end
        return nil   -- the journey ends
      end },
    { step = "thanks", points(100, { note = "thank you for coming back" }), stop = true },
  },
  holdout = 0.1,
  response = { event = "purchase", days = 30 },
}
