-- Win back valuable customers who are drifting away.
--
-- What it does: finds the customers who used to buy from us but have not
-- been back for a while (the RFM segments "at risk", "cannot lose" and
-- "hibernating": see `cxhost report rfm`) and who have spent at least 30.00
-- with us in all, so that the offer goes to customers worth winning back.
-- Each of them gets 250 loyalty points, as a welcome back, and an email
-- with an offer of 5.00 off their next visit (the code is in the message).
--
-- Why: a lapsed customer who once spent well is cheaper to win back than a
-- new customer is to find. A tenth of the chosen customers get nothing, on
-- purpose (the holdout): comparing them with the others tells whether the
-- offer brought anyone back, or whether they would have come back anyway.
-- `cxhost campaign report` shows that comparison: a customer counts as won
-- back when they buy within 30 days of the offer.
--
-- The budget: at most 500.00 of offers (100 emails of 5.00), 25,000 points
-- and 100 messages in all; the campaign stops when the next customer would
-- go over one of them. No customer gets more than one offer from it, even
-- when it is run again for another period.
--
-- How to run it: look first, without writing anything, then run it:
--   cxhost campaign check scripts/campaigns/winback.lua
--   cxhost campaign run --client NAME scripts/campaigns/winback.lua --dry-run
--   cxhost campaign run --client NAME scripts/campaigns/winback.lua
--   cxhost campaign report --client NAME winback        (a month later)
-- Running it twice does nothing the second time. To run it again next
-- quarter, name the period: --period 2026-Q2 (customers who already had the
-- offer are skipped).

return {
  name = "winback",
  description = "Win back lapsed customers who spent at least 30.00: 250 points and 5.00 off their next visit",
  module = "feel",

  -- Lapsed (by RFM) and worth it (30.00 or more spent, over all time).
  audience = rfm("at risk", "cannot lose", "hibernating") & spend{ at_least = 30 },

  trigger = "once",

  actions = {
    points(250, { note = "welcome back", expires_days = 90 }),
    send("email", "winback", { offer = "5.00 off your next visit", code = "COMEBACK5", valid_days = 30 },
      { value = "5.00" }),
  },

  budget = {
    money = "500.00",
    points = 25000,
    contacts = 100,
    per_customer = { contacts = 1 },
  },

  -- One in ten of the audience is kept out, to measure what the offer does.
  holdout = 0.1,

  -- Won back: a purchase within 30 days.
  response = { event = "purchase", days = 30 },
}
