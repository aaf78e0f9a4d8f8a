-- Make it right after a complaint (service recovery, the FEEL module).
--
-- What it does: whenever a customer complains, they get loyalty points as
-- compensation, more for a worse complaint (100 points for a complaint of
-- severity 1, 200 for severity 2, 300 for severity 3, the worst), and an
-- email that apologises and says the points are on their account.
--
-- Why: how a company answers a complaint weighs more on how the customer
-- feels about it than the problem itself did. A quick, automatic gesture,
-- in proportion to what went wrong, turns many complaints around.
--
-- Limits, so that it stays a gesture and not a habit:
--   - per customer: at most 600 points and 4 apologies from this campaign
--     over its whole life. A customer who reaches either gets nothing more
--     from it (neither points nor apology): someone who complains that often
--     needs a call from a person, not another automatic email;
--   - at most 2 messages to one customer in any 7 days (across all
--     campaigns), so a bad week does not bring a pile of emails;
--   - in all: 30,000 points and 500 emails.
-- There is no holdout: every customer who complains is answered.
--
-- How to run it: it reacts to complaints as they arrive, so register it once
-- with the client, and then import events or run the service:
--   cxhost campaign check scripts/campaigns/feel-recovery.lua
--   cxhost campaign start --client NAME scripts/campaigns/feel-recovery.lua
--   cxhost import --client NAME events.ndjson          (or: cxhost serve --client NAME ...)
-- Stop it with: cxhost campaign stop --client NAME feel-recovery

-- The complaint's severity, 1 (mild) to 3 (the worst); 1 when not given.
local function severity(c)
  local s = math.tointeger(tonumber(c.event.data.severity)) or 1
  return math.max(1, math.min(3, s))
end

return {
  name = "feel-recovery",
  description = "Compensate each complaint: 100 points per level of severity and an apology",
  module = "feel",

  audience = everyone(),

  trigger = event("complaint"),

  actions = {
    points(function(c) return 100 * severity(c) end, { note = "sorry: compensation for a complaint" }),
    send("email", "apology", function(c)
      return { points = 100 * severity(c), severity = severity(c), touchpoint = c.event.touchpoint }
    end),
  },

  budget = {
    points = 30000,
    contacts = 500,
    per_customer = { points = 600, contacts = 4 },
  },

  frequency = { contacts = 2, days = 7 },

  -- Recovered: the customer buys again within 30 days of the complaint.
  response = { event = "purchase", days = 30 },
}
