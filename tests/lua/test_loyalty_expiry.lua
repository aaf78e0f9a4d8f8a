-- test_loyalty_expiry.lua: expiry of loyalty points by calendar months, with
-- test_loyalty_expiry.d/config.lua: loyalty.expiry_months = 1 (the default is
-- 24) and loyalty.pending = false (points are available at once). The other
-- settings are the defaults: 1 point per 1.00, tiers member / silver 500
-- (x1.25) / gold 2000, reward voucher_5 for 500 points, refund clawback
-- within_balance.
-- A lot expires at midnight (UTC) of the day it was earned plus one calendar
-- month; a day the month does not have becomes its last (31 January + 1 month
-- is 28 or 29 February). The refresh writes one expiry entry per lot with
-- points left, dated its expiry. Every expected value below is computed by
-- hand from those rules (plugins/loyalty.lua, plugins/lib/loyalty.lua).
-- A refresh is refused before the latest event, so the scenarios move forward
-- in time through 2023 and 2024. After every scenario the ledger's invariants
-- are checked (the core of `cxhost check`).
--   bash tests/lua/run.sh build/cxhost tests/lua/test_loyalty_expiry.lua

local eq, t = cx.test.eq, cx.test.time

-- The invariants of the ledger, for every customer that has entries (cx.loyalty.ledger_problems).
local function check_invariants()
  local problems = cx.loyalty.ledger_problems()
  assert(#problems == 0, table.concat(problems, "; "))
end

local suite = cx.test.suite("loyalty expiry", { after = check_invariants })

local function buy(id, customer, at, amount)
  eq(cx.ingest { id = id, type = "purchase", customer = customer, at = t(at), amount = amount, touchpoint = "web" },
     "inserted", "cx.ingest result")
end

local function entry(id)
  local rows = cx.query([[SELECT l.* FROM ledger l JOIN events e ON e.id = l.event_id
    WHERE e.external_id = ?1]], id)
  eq(#rows, 1, "ledger entries of event " .. id)
  return rows[1]
end

local function expiries(customer)
  return cx.query([[SELECT l.points, l.rule, l.at, l.lot_id FROM ledger l JOIN customers c ON c.id = l.customer_id
    WHERE c.external_id = ?1 AND l.kind = 'expire' ORDER BY l.id]], customer)
end

suite:case("add_months: the same day and time of day, or the month's last day", function()
  local add = cx.loyalty.add_months
  eq(add(t("2024-01-31"), 1), t("2024-02-29"), "2024-01-31 + 1 month (leap year)")
  eq(add(t("2023-01-31"), 1), t("2023-02-28"), "2023-01-31 + 1 month")
  eq(add(t("2024-03-31"), -1), t("2024-02-29"), "2024-03-31 - 1 month")
  eq(add(t("2024-01-31T23:59:59Z"), 1), t("2024-02-29T23:59:59Z"), "the time of day is kept")
  eq(add(t("2024-12-15T13:45:10Z"), 1), t("2025-01-15T13:45:10Z"), "across a year")
  eq(add(t("2024-02-29"), 12), t("2025-02-28"), "2024-02-29 + 12 months")
  eq(add(t("2024-02-29"), 48), t("2028-02-29"), "2024-02-29 + 48 months")
  eq(add(t("2024-05-31"), -12), t("2023-05-31"), "2024-05-31 - 12 months")
end)

suite:case("pending off: a purchase's points are available at once", function()
  buy("im-1", "im", "2023-01-10T10:00:00Z", "600.00")
  local e = entry("im-1")
  eq(e.points, 600, "points")
  eq(e.available_at, nil, "available_at (not pending)")
  eq(e.expires_at, t("2023-02-10T00:00:00Z"), "expires_at: midnight + 1 month")
  local r = cx.loyalty.redeem("im", "voucher_5", { id = "im-r1", at = t("2023-01-10T10:00:00Z") })
  eq(r.result, "inserted", "a redemption the second the points were earned")
  eq(r.available, 100, "available after 600 - 500")
end)

suite:case("31 January + 1 month: the lot expires on 28 February", function()
  buy("jan-1", "jan", "2023-01-31T15:00:00Z", "10.00")
  eq(entry("jan-1").expires_at, t("2023-02-28T00:00:00Z"), "expires_at")
end)

suite:case("expiry: nothing one second before, the lot at its expiry; a later refresh dates it at the expiry", function()
  cx.refresh(t("2023-02-27T23:59:59Z"))
  eq(#expiries("jan"), 0, "jan's expire entries one second before")
  eq(cx.loyalty.account("jan", t("2023-02-27T23:59:59Z")).available, 10, "jan's available one second before")
  -- im's 100 points left expired on 2023-02-10: the refresh dates them then.
  local x = expiries("im")
  eq(#x, 1, "im's expire entries")
  eq(x[1].points, -100, "im's expiry: what was left of the lot")
  eq(x[1].at, t("2023-02-10T00:00:00Z"), "im's expiry date")
  eq(x[1].lot_id, entry("im-1").id, "im's lot")
  cx.refresh(t("2023-02-28T00:00:00Z"))
  x = expiries("jan")
  eq(#x, 1, "jan's expire entries at 2023-02-28")
  eq(x[1].points, -10, "points")
  eq(x[1].rule, "expiry", "rule")
  eq(x[1].at, t("2023-02-28T00:00:00Z"), "at")
  eq(cx.loyalty.account("jan", t("2023-02-28T00:00:00Z")).balance, 0, "jan's balance")
  eq(#expiries("im"), 1, "im's expire entries after another refresh")
end)

suite:case("redemption skips a lot past its expiry even before the refresh wrote it", function()
  buy("ex-1", "ex", "2023-03-01T10:00:00Z", "600.00")   -- 600, expires 2023-04-01; makes silver
  buy("ex-2", "ex", "2023-03-20T10:00:00Z", "400.00")   -- 400 x1.25 = 500, expires 2023-04-20
  eq(entry("ex-2").points, 500, "400.00 at silver")
  local acc = cx.loyalty.account("ex", t("2023-04-05T10:00:00Z"))
  eq(acc.expired, 600, "expired (not written yet)")
  eq(acc.available, 500, "available: ex-2 only")
  local r = cx.loyalty.redeem("ex", "voucher_5", { id = "ex-r1", at = t("2023-04-05T10:00:00Z") })
  eq(r.result, "inserted", "result")
  local lots = cx.loyalty.account("ex", t("2023-04-05T10:00:00Z")).lots
  eq(lots[1].left, 600, "the expired lot is not spent")
  eq(lots[2].left, 0, "the live lot is spent")
  cx.refresh(t("2023-04-05T10:00:00Z"))
  local x = expiries("ex")
  eq(#x, 1, "ex's expire entries")
  eq(x[1].points, -600, "points")
  eq(x[1].at, t("2023-04-01T00:00:00Z"), "at")
  eq(x[1].lot_id, entry("ex-1").id, "lot")
  eq(cx.loyalty.account("ex", t("2023-04-05T10:00:00Z")).balance, 0, "balance")
  local ledger = cx.query("SELECT COUNT(*) AS n FROM ledger")[1].n
  local ok, err = pcall(cx.loyalty.redeem, "ex", "voucher_5", { id = "ex-r2", at = t("2023-04-06T10:00:00Z") })
  assert(not ok, "a redemption with nothing available should fail")
  assert(tostring(err):find("ex has 0 points available; reward 'voucher_5' needs 500", 1, true), tostring(err))
  eq(cx.query("SELECT COUNT(*) AS n FROM ledger")[1].n, ledger, "ledger rows after the refused redemption")
end)

suite:case("31 January 2024 + 1 month is 29 February; expired once however often refreshed", function()
  buy("leap-1", "leap", "2024-01-31T15:00:00Z", "10.00")
  eq(entry("leap-1").expires_at, t("2024-02-29T00:00:00Z"), "expires_at")
  cx.refresh(t("2024-02-28T23:59:59Z"))
  eq(#expiries("leap"), 0, "expire entries one second before")
  cx.refresh(t("2024-02-29T00:00:00Z"))
  eq(#expiries("leap"), 1, "expire entries at 2024-02-29")
  cx.refresh(t("2024-02-29T00:00:00Z"))
  cx.refresh(t("2024-06-01T00:00:00Z"))
  local x = expiries("leap")
  eq(#x, 1, "expire entries after two more refreshes")
  eq(x[1].points, -10, "points")
  eq(x[1].at, t("2024-02-29T00:00:00Z"), "at")
end)

suite:case("a lot partly taken back by a refund: only its rest expires", function()
  buy("pc-1", "pc", "2024-06-05T10:00:00Z", "100.00")   -- 100, expires 2024-07-05
  -- A refund of 40.00 of 100.00 takes back 100 * 4000 / 10000 = 40 points.
  cx.ingest { id = "pc-x1", type = "refund_request", customer = "pc", at = t("2024-06-10T10:00:00Z"),
              amount = "40.00", data = { purchase = "pc-1" } }
  local e = entry("pc-x1")
  eq(e.points, -40, "clawback")
  eq(e.lot_id, entry("pc-1").id, "clawback lot")
  cx.refresh(t("2024-07-05T00:00:00Z"))
  local x = expiries("pc")
  eq(#x, 1, "expire entries")
  eq(x[1].points, -60, "expired: 100 - 40")
  eq(cx.loyalty.account("pc", t("2024-07-05T00:00:00Z")).balance, 0, "balance")
end)

suite:finish()
