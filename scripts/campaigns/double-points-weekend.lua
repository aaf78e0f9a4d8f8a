-- Double points at the weekend, for gold members and above.
--
-- What it does: every purchase that a customer in the gold tier (or a higher
-- one) makes on a Saturday or a Sunday earns its loyalty points twice. The
-- loyalty plugin gives the usual points for the purchase; this campaign then
-- adds the same number of points again, as a bonus entry in the ledger marked
-- "campaign:double-points-weekend". A purchase that earned nothing (too small)
-- gets nothing extra.
--
-- Why: the best customers come mostly on weekdays. Rewarding their weekend
-- visits gives them a reason to come at a quieter time and a visible thank
-- you for being gold. A budget caps the cost: once 50,000 bonus points have
-- been given, the campaign gives no more.
--
-- The weekend is the weekend in UTC, the time zone of the events' times.
-- "Gold and above" follows the loyalty plugin's tiers (clients/NAME/config.lua
-- may move the thresholds); a customer counts as gold from the purchase that
-- lifts them into the tier.
--
-- How to run it: it reacts to purchases as they arrive, so register it once
-- with the client, and then import events or run the service:
--   cxhost campaign check scripts/campaigns/double-points-weekend.lua
--   cxhost campaign start --client NAME scripts/campaigns/double-points-weekend.lua
--   cxhost import --client NAME purchases.ndjson       (or: cxhost serve --client NAME ...)
--   cxhost campaign report --client NAME double-points-weekend
-- Stop it with: cxhost campaign stop --client NAME double-points-weekend

local DAY = 86400

-- The day of the week of a time: 0 = Sunday, 1 = Monday ... 6 = Saturday
-- (1 January 1970, day 0, was a Thursday).
local function weekday(at)
  return ((at // DAY) + 4) % 7
end

-- The points the loyalty plugin gave for this purchase: its `earn` entry in
-- the ledger (tier multipliers and promotions included). Without one (the
-- loyalty plugin switched off), one point per whole 1.00, its default.
local function points_earned(c)
  local ev = c.event
  local row = cx.query([[SELECT COALESCE(SUM(l.points), 0) AS points, COUNT(*) AS n FROM ledger l
    JOIN events e ON e.id = l.event_id
    WHERE e.external_id = ?1 AND l.rule = 'purchase' AND l.kind = 'earn' AND l.plugin = 'loyalty']], ev.id)[1]
  if row.n > 0 then
    return row.points
  end
  return (ev.amount_cents or 0) // 100
end

return {
  name = "double-points-weekend",
  description = "Gold members and above earn double points on purchases made on Saturdays and Sundays",
  module = "act",

  audience = tier_at_least("gold"),

  trigger = event("purchase", function(ev, c)
    local day = weekday(ev.at)
    return day == 0 or day == 6
  end),

  actions = {
    -- The same points again; 0 (a purchase under 1.00) gives nothing.
    points(points_earned, { note = "double points weekend" }),
  },

  budget = { points = 50000 },

  -- A purchase within a week of the bonus counts as a response.
  response = { event = "purchase", days = 7 },
}
