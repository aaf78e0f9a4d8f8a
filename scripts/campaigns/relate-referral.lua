-- Ask our fans to bring a friend (referral drive, the RELATE module).
--
-- What it does: invites the customers who feel part of the brand to refer
-- friends. They are the active customers (they bought recently) who either
--   - have a relate score of 60 or more (out of 100): they refer friends,
--     share, take part in the community or the club, and did so lately; or
--   - are promoters: their last answer to "would you recommend us?" was 9
--     or 10.
-- Each gets one email with a personal referral code (REF- and their id) and
-- is tagged "referral-invited", so that no one is invited twice: a later run
-- leaves the tagged customers out.
--
-- Why: a friend brought by a fan is the cheapest new customer there is, and
-- being asked makes the fan feel like an insider. A tenth of the invited are
-- held back (the holdout) to see whether the invitation makes people refer
-- more than they do anyway: `cxhost campaign report` counts a referral
-- within 60 days as a response.
--
-- The budget: at most 500 invitations in all, one per customer.
--
-- How to run it: look first, without writing anything, then run it:
--   cxhost campaign check scripts/campaigns/relate-referral.lua
--   cxhost campaign run --client NAME scripts/campaigns/relate-referral.lua --dry-run
--   cxhost campaign run --client NAME scripts/campaigns/relate-referral.lua
--   cxhost campaign report --client NAME relate-referral   (two months later)
-- Running it twice does nothing the second time; a run for a new period
-- (--period 2026-Q2) invites only the fans who were not invited yet.

-- Promoters: the feel plugin keeps each customer's last NPS answer (0 to 10)
-- as its fact `nps`.
local promoters = query("SELECT c.external_id AS customer FROM facts f JOIN customers c ON c.id = f.customer_id"
  .. " WHERE json_extract(f.data, '$.feel.nps') >= 9")

return {
  name = "relate-referral",
  description = "Invite active fans (relate score 60+ or NPS promoters) to refer a friend, with a personal code",
  module = "relate",

  audience = (score("relate", ">=", 60) | promoters) & stage("active") & ~tagged("referral-invited"),

  trigger = "once",

  actions = {
    send("email", "refer_a_friend", function(c)
      return { code = "REF-" .. c.id, friend_offer = "a free coffee", reward_points = 300 }
    end),
    tag("referral-invited"),
  },

  budget = {
    contacts = 500,
    per_customer = { contacts = 1 },
  },

  holdout = 0.1,

  -- Responded: the customer refers someone within 60 days.
  response = { event = "referral", days = 60 },
}
