-- test-goodwill: tests of the goodwill plugin (goodwill.lua) against what the
-- shop agreed: 10 points a day late, at most 50 in 30 days, points not spent
-- expire 90 days later. A test writes to the store: run it against a client
-- made for it, with the plugin in its plugins folder.
--   cxhost run --client NAME docs/examples/test-goodwill.lua
local check = cx.test
local eq = check.eq
local suite = check.suite("goodwill")

-- A delivery of the customer's order, `days` late.
local function delay(id, customer, at, order, days)
  local result = cx.ingest({ id = id, type = "delay", customer = customer, at = at,
    data = { order = order, days = days } })
  eq(result, "inserted", "event " .. id)
end

-- Each case has customers of its own, so that one failing does not spoil the next.
suite:case("10 points a day late, at most 50 in 30 days", function()
  delay("d-1", "ann", "2026-03-02T09:00:00Z", "o-1", 3)
  eq(cx.customer("ann").points, 30, "ann's points after 3 days late")
  delay("d-2", "ann", "2026-03-10T09:00:00Z", "o-2", 4)
  eq(cx.customer("ann").points, 50, "ann's points after 4 more days (40 due, 20 left under the cap)")
  eq(check.one("SELECT decision AS n FROM refunds WHERE external_id = ?1", "d-2"), "partial",
    "the decision on d-2")
end)

suite:case("points not spent expire 90 days later", function()
  delay("d-3", "bob", "2026-03-05T09:00:00Z", "o-3", 1)
  cx.refresh("2026-06-03T08:59:59Z")
  eq(cx.customer("bob").points, 10, "bob's points one second before they expire")
  cx.refresh("2026-06-03T09:00:00Z")
  eq(cx.customer("bob").points, 0, "bob's points when they expire")
  eq(check.one([[SELECT l.at AS n FROM ledger l JOIN customers c ON c.id = l.customer_id
    WHERE c.external_id = ?1 AND l.kind = 'expire']], "bob"), check.time("2026-06-03T09:00:00Z"),
    "the time of bob's expiry entry")
end)

suite:finish()
