-- test_loyalty_rules.lua: the built-in loyalty plugin with a client's rules,
-- test_loyalty_rules.d/config.lua:
--   touchpoint_multipliers  app x2, store x1.15
--   category_multipliers    electronics x1.5 (the purchase's data.category)
--   promotions              spring x2 from 2026-03-07 to 2026-03-08 (whole days);
--                           app_week x3 from 2026-05-01 to 2026-05-07, touchpoint app only
--   daily_cap               1000 points a customer a UTC day, bonuses included
--   tiers by spend          member 0, silver 500.00 spent (x1.2), gold 2000.00 (x2),
--                           over the last 12 months
--   bonus                   referral 100 and birthday 50 (defaults), anniversary 200,
--                           survey 0 (none); birthday and anniversary once a calendar year
--   rewards                 mug 120 points, with the default voucher_5 (500), voucher_25 (2000)
--   refund.return_days      14 days, 30 for electronics: a return is accepted up to the last
--                           second of its window; the points are spendable from the next
-- Points = floor(cents * product of the multipliers / 100); every expected
-- value below is computed by hand from those rules (plugins/loyalty.lua).
-- After every scenario the ledger's invariants are checked (the core of
-- `cxhost check`): replaying each customer's entries finds no problem and
-- gives the sum of the entries as the balance.
--   bash tests/lua/run.sh build/cxhost tests/lua/test_loyalty_rules.lua

local DAY = 86400
local eq, t, one = cx.test.eq, cx.test.time, cx.test.one

-- The invariants of the ledger, for every customer that has entries; and the
-- tier in the facts is the last of tier_history (cx.loyalty.ledger_problems, tier_problems).
local function check_invariants()
  local problems = cx.loyalty.ledger_problems()
  for _, text in ipairs(cx.loyalty.tier_problems()) do
    problems[#problems + 1] = text
  end
  assert(#problems == 0, table.concat(problems, "; "))
end

local suite = cx.test.suite("loyalty rules", { after = check_invariants })

local n = 0

-- A purchase; returns the points of its ledger entry.
local function buy(customer, at, amount, touchpoint, category)
  n = n + 1
  local id = ("%s-%d"):format(customer, n)
  eq(cx.ingest { id = id, type = "purchase", customer = customer, at = t(at), amount = amount,
                 touchpoint = touchpoint or "web", data = category and { category = category } or nil },
     "inserted", "cx.ingest result")
  local rows = cx.query([[SELECT l.points FROM ledger l JOIN events e ON e.id = l.event_id
    WHERE e.external_id = ?1]], id)
  eq(#rows, 1, "ledger entries of purchase " .. id)
  return rows[1].points, id
end

-- A bonus event; returns the points of its entry, or nil when it has none.
local function bonus(kind, customer, at)
  n = n + 1
  local id = ("%s-%d"):format(customer, n)
  eq(cx.ingest { id = id, type = kind, customer = customer, at = t(at) }, "inserted", "cx.ingest result")
  local rows = cx.query([[SELECT l.points FROM ledger l JOIN events e ON e.id = l.event_id
    WHERE e.external_id = ?1]], id)
  assert(#rows <= 1, "at most one entry for a bonus")
  return rows[1] and rows[1].points
end

local function entry(id)
  local rows = cx.query([[SELECT l.* FROM ledger l JOIN events e ON e.id = l.event_id
    WHERE e.external_id = ?1]], id)
  eq(#rows, 1, "ledger entries of event " .. id)
  return rows[1]
end

local function tiers(customer)
  return cx.query([[SELECT h.tier, h.previous, h.at, h.reason FROM tier_history h
    JOIN customers c ON c.id = h.customer_id WHERE c.external_id = ?1 ORDER BY h.id]], customer)
end

local function has(text, part)
  assert(text:find(part, 1, true), ("%q should contain %q"):format(text, part))
end

-- Multipliers ------------------------------------------------------------------

suite:case("no multiplier: 1 point per 1.00", function()
  eq(buy("base", "2026-02-02T10:00:00Z", "10.00", "web"), 10, "10.00 on the web")
end)

suite:case("touchpoint multipliers: app x2, store x1.15 without float error", function()
  eq(buy("app", "2026-02-02T10:00:00Z", "10.00", "app"), 20, "10.00 in the app: 10 x2")
  -- 100 * 1.15 is 114.99999999999999 in floating point; in basis points
  -- 10000 cents * 11500 / 10000 / 100 = 115 exactly.
  eq(buy("st", "2026-02-02T10:00:00Z", "100.00", "store"), 115, "100.00 in store: 100 x1.15")
  eq(buy("st", "2026-02-03T10:00:00Z", "0.99", "store"), 1, "0.99 in store: 1.1385, rounded down")
end)

suite:case("category multiplier: electronics x1.5 from data.category", function()
  eq(buy("el", "2026-02-02T10:00:00Z", "10.00", "web", "electronics"), 15, "10.00 electronics: 10 x1.5")
  eq(buy("el", "2026-02-02T11:00:00Z", "10.00", "web", "books"), 10, "10.00 books: no multiplier")
  eq(buy("el", "2026-02-02T12:00:00Z", "0.99", "web", "electronics"), 1, "0.99 electronics: 1.485, rounded down")
end)

suite:case("multipliers multiply", function()
  eq(buy("mul", "2026-02-02T10:00:00Z", "10.00", "app", "electronics"), 30, "10.00 app electronics: x2 x1.5 = x3")
  -- x1.15 x1.5 = x1.725: 172.5 points, rounded down.
  eq(buy("mul", "2026-02-02T11:00:00Z", "100.00", "store", "electronics"), 172, "100.00 store electronics")
end)

-- Promotions -----------------------------------------------------------------

suite:case("promotion spring: from its first day to the end of its last, not a second more", function()
  eq(buy("pr", "2026-03-06T23:59:59Z", "10.00"), 10, "the second before it starts")
  eq(buy("pr", "2026-03-07T00:00:00Z", "10.00"), 20, "its first second: x2")
  eq(buy("pr", "2026-03-08T23:59:59Z", "10.00"), 20, "the last second of its last day: x2")
  eq(buy("pr", "2026-03-09T00:00:00Z", "10.00"), 10, "the day after")
end)

suite:case("promotion with touchpoint and category multipliers: all multiply", function()
  eq(buy("pr", "2026-03-08T12:00:00Z", "10.00", "app"), 40, "app x2, spring x2")
  eq(buy("pr", "2026-03-08T13:00:00Z", "10.00", "app", "electronics"), 60, "app x2, electronics x1.5, spring x2")
end)

suite:case("promotion app_week: for its touchpoint only", function()
  eq(buy("pr", "2026-05-03T10:00:00Z", "10.00", "app"), 60, "app x2, app_week x3")
  eq(buy("pr", "2026-05-03T11:00:00Z", "10.00", "web"), 10, "web: app_week does not apply")
  eq(buy("pr", "2026-05-07T23:59:59Z", "10.00", "app"), 60, "its last second")
  eq(buy("pr", "2026-05-08T00:00:00Z", "10.00", "app"), 20, "the day after: app x2 only")
end)

-- Daily cap ---------------------------------------------------------------------

suite:case("daily cap: exactly at the cap keeps everything; past it nothing; the next day resets", function()
  eq(buy("cap1", "2026-06-01T09:00:00Z", "200.00", "app", "electronics"), 600, "200.00 x3")
  eq(buy("cap1", "2026-06-01T10:00:00Z", "100.00", "app", "electronics"), 300, "100.00 x3 (900 today)")
  -- 33.34 x3 = 100.02: 100 points, 1000 today, exactly the cap.
  eq(buy("cap1", "2026-06-01T11:00:00Z", "33.34", "app", "electronics"), 100, "up to the cap")
  eq(buy("cap1", "2026-06-01T23:59:59Z", "10.00"), 0, "the cap is reached: nothing")
  eq(buy("cap1", "2026-06-02T00:00:00Z", "10.00"), 10, "the next UTC day")
  eq(cx.loyalty.account("cap1").balance, 1010, "balance 600 + 300 + 100 + 0 + 10")
end)

suite:case("daily cap: a purchase over it keeps the room left; bonuses count too", function()
  eq(buy("cap2", "2026-06-01T09:00:00Z", "300.00", "app", "electronics"), 900, "300.00 x3")
  eq(buy("cap2", "2026-06-01T10:00:00Z", "100.00", "app"), 100, "200 earned, 100 of room")
  eq(bonus("referral", "cap2", "2026-06-01T23:59:59Z"), 0, "a referral on a full day")
  eq(bonus("referral", "cap2", "2026-06-02T00:00:00Z"), 100, "a referral the next day")
  -- 316.67 x3 = 950.01: 950, then a referral of 100 with 50 of room.
  eq(buy("cap3", "2026-06-01T09:00:00Z", "316.67", "app", "electronics"), 950, "316.67 x3")
  eq(bonus("referral", "cap3", "2026-06-01T10:00:00Z"), 50, "a referral with 50 of room")
  -- 333.00 x3 = 999, then 2 points with 1 of room.
  eq(buy("cap5", "2026-06-01T09:00:00Z", "333.00", "app", "electronics"), 999, "333.00 x3")
  eq(buy("cap5", "2026-06-01T10:00:00Z", "2.00"), 1, "2 points, 1 of room")
end)

suite:case("daily cap: an earlier day's event arriving late does not reopen today's cap", function()
  eq(buy("cap4", "2026-06-11T12:00:00Z", "300.00", "app", "electronics"), 900, "day 2: 900")
  eq(buy("cap4", "2026-06-10T10:00:00Z", "100.00", "app", "electronics"), 300, "day 1, arriving late: 300")
  -- Day 2 has 900: 150 earned, 100 of room.
  eq(buy("cap4", "2026-06-11T13:00:00Z", "50.00", "app", "electronics"), 100, "day 2 again: 100 of 150")
end)

-- Tiers by spend ----------------------------------------------------------------

suite:case("tiers by spend: 499.99 stays member, 500.00 makes silver even with 0 points", function()
  eq(buy("sp", "2026-07-01T10:00:00Z", "499.99"), 499, "499.99")
  eq(cx.loyalty.account("sp").tier, "member", "tier after 499.99 spent")
  eq(#tiers("sp"), 0, "tier_history rows")
  local points, id = buy("sp", "2026-07-02T10:00:00Z", "0.01")
  eq(points, 0, "0.01 earns 0 points")
  eq(entry(id).spend_cents, 1, "spend_cents of 0.01")
  eq(cx.loyalty.account("sp").tier, "silver", "tier after 500.00 spent")
  local h = tiers("sp")
  eq(#h, 1, "tier_history rows")
  eq(h[1].tier, "silver", "tier")
  eq(h[1].previous, "member", "previous")
  eq(h[1].at, t("2026-07-02T10:00:00Z"), "at")
  has(h[1].reason, "500.00 spent")
  has(h[1].reason, "silver needs 500.00")
end)

suite:case("tiers by spend: the tier multiplies with the others; capped points still count their spend", function()
  -- silver x1.2 x store x1.15 = x1.38.
  eq(buy("sp", "2026-07-03T10:00:00Z", "100.00", "store"), 138, "100.00 in store at silver")
  -- 1400.00 x1.2 = 1680, capped at 1000; 499.99 + 0.01 + 100.00 + 1400.00 = 2000.00 spent: gold.
  eq(buy("sp", "2026-07-04T10:00:00Z", "1400.00"), 1000, "1400.00 at silver, capped")
  eq(cx.loyalty.account("sp").tier, "gold", "tier after 2000.00 spent")
  local h = tiers("sp")
  eq(#h, 2, "tier_history rows")
  eq(h[2].tier, "gold", "tier")
  eq(h[2].previous, "silver", "previous")
  eq(buy("sp", "2026-07-05T10:00:00Z", "10.00"), 20, "10.00 at gold's x2")
end)

suite:case("tiers by spend: a bonus spends nothing", function()
  local before = one([[SELECT SUM(l.spend_cents) AS n FROM ledger l JOIN customers c ON c.id = l.customer_id
    WHERE c.external_id = 'sp']])
  eq(before, 201000, "sp's spend: 499.99 + 0.01 + 100.00 + 1400.00 + 10.00")
  eq(bonus("referral", "sp", "2026-07-06T10:00:00Z"), 100, "a referral (bonuses are not multiplied)")
  eq(one([[SELECT SUM(l.spend_cents) AS n FROM ledger l JOIN customers c ON c.id = l.customer_id
    WHERE c.external_id = 'sp']]), 201000, "sp's spend after the referral")
end)

-- Bonuses -----------------------------------------------------------------------

suite:case("bonuses: referral keeps its default 100, a survey worth 0 gives nothing", function()
  eq(bonus("referral", "bon", "2026-02-02T10:00:00Z"), 100, "referral")
  eq(bonus("survey", "bon", "2026-02-02T11:00:00Z"), nil, "survey (0 points: no entry)")
end)

suite:case("birthday and anniversary: each once per calendar year", function()
  eq(bonus("birthday", "bd", "2026-01-10T10:00:00Z"), 50, "birthday 2026")
  eq(bonus("anniversary", "bd", "2026-02-01T10:00:00Z"), 200, "anniversary 2026 (another type)")
  eq(bonus("birthday", "bd", "2026-11-01T10:00:00Z"), nil, "a second birthday in 2026")
  eq(bonus("anniversary", "bd", "2026-12-31T23:59:59Z"), nil, "a second anniversary in 2026")
  eq(bonus("birthday", "bd", "2027-01-10T10:00:00Z"), 50, "birthday 2027")
  eq(bonus("anniversary", "bd", "2027-01-01T00:00:00Z"), 200, "anniversary 2027")
  eq(cx.loyalty.account("bd").balance, 500, "balance 50 + 200 + 50 + 200")
end)

suite:case("birthday: once per calendar year, also when a year's event arrives late", function()
  eq(bonus("birthday", "bd2", "2027-02-01T10:00:00Z"), 50, "birthday 2027")
  eq(bonus("birthday", "bd2", "2026-02-01T10:00:00Z"), 50, "birthday 2026, arriving late (2026 had none)")
  eq(bonus("birthday", "bd2", "2027-03-01T10:00:00Z"), nil, "a second birthday in 2027")
end)

-- Pending by category and rewards ----------------------------------------------

local RW = t("2026-09-01T10:00:00Z")

suite:case("pending by category: 14 days, 30 for electronics (and 1 second)", function()
  local _, a = buy("rw", "2026-09-01T10:00:00Z", "200.00")
  local _, b = buy("rw", "2026-09-01T10:00:00Z", "10.00", "web", "electronics")
  eq(entry(a).available_at, RW + 14 * DAY + 1, "available_at of the default category")
  eq(entry(b).available_at, RW + 30 * DAY + 1, "available_at of electronics")
  eq(entry(b).points, 15, "10.00 electronics")
  local acc = cx.loyalty.account("rw", RW + 14 * DAY)
  eq(acc.pending, 215, "pending at the last second of the 14-day window")
  eq(acc.available, 0, "available")
end)

suite:case("pending by line: a purchase with an electronics line waits for the longest window, 30 days", function()
  -- No category of its own (14 days), one line in electronics (30 days): the TV may come back
  -- until day 30, so the purchase's points are pending that long.
  local id = "rwl-1"
  eq(cx.ingest { id = id, type = "purchase", customer = "rwl", at = RW, amount = "300.00", touchpoint = "web",
                 data = { lines = { { sku = "tv", qty = 1, unit_cents = 25000, category = "electronics" },
                                    { sku = "cable", qty = 1, unit_cents = 5000 } } } },
     "inserted", "cx.ingest result")
  eq(entry(id).available_at, RW + 30 * DAY + 1, "available_at of a purchase with an electronics line")
  check_invariants()
end)

suite:case("custom reward: a mug for 120 points, once the points are available", function()
  local ok, err = pcall(cx.loyalty.redeem, "rw", "mug", { id = "rw-r0", at = RW + 14 * DAY })
  assert(not ok, "a redemption of pending points should fail")
  has(tostring(err), "rw has 0 points available (215 more pending); reward 'mug' needs 120")
  eq(one("SELECT COUNT(*) AS n FROM events WHERE external_id = 'rw-r0'"), 0, "the refused redemption's event")
  local r = cx.loyalty.redeem("rw", "mug", { id = "rw-r1", at = RW + 14 * DAY + 1 })
  eq(r.result, "inserted", "result")
  eq(r.points, -120, "points")
  eq(r.reward, "mug", "reward")
  eq(entry("rw-r1").note, "A cxhost mug", "note: the reward's description")
  local acc = cx.loyalty.account("rw", RW + 14 * DAY + 1)
  eq(acc.available, 80, "available 200 - 120")
  eq(acc.pending, 15, "pending: the electronics")
  eq(cx.loyalty.account("rw", RW + 30 * DAY + 1).available, 95, "available once electronics' window closes")
end)

suite:case("rewards: the catalogue keeps the default vouchers; an unknown reward names it", function()
  local ledger = one("SELECT COUNT(*) AS n FROM ledger")
  local ok, err = pcall(cx.loyalty.redeem, "rw", "toaster", { id = "rw-r2", at = RW + 15 * DAY })
  assert(not ok, "an unknown reward should fail")
  has(tostring(err), "no reward 'toaster' in the catalogue (rewards: mug, voucher_25, voucher_5)")
  ok, err = pcall(cx.loyalty.redeem, "rw", "voucher_5", { id = "rw-r3", at = RW + 15 * DAY })
  assert(not ok, "voucher_5 with 80 points should fail")
  has(tostring(err), "rw has 80 points available (15 more pending); reward 'voucher_5' needs 500")
  eq(one("SELECT COUNT(*) AS n FROM ledger"), ledger, "ledger rows after the refused redemptions")
end)

-- Refunds and spend tiers at a refresh -------------------------------------------

suite:case("tiers by spend: a return takes its spend back; the refresh starts the grace", function()
  local _, id = buy("rf", "2028-01-03T10:00:00Z", "500.00")
  eq(cx.loyalty.account("rf").tier, "silver", "tier after 500.00 spent")
  n = n + 1
  cx.ingest { id = "rf-x", type = "refund_request", customer = "rf", at = t("2028-01-05T10:00:00Z"),
              data = { purchase = id } }
  local e = entry("rf-x")
  eq(e.points, -500, "clawback points")
  eq(e.spend_cents, -50000, "clawback spend")
  cx.refresh(t("2028-01-10T00:00:00Z"))
  local f = cx.customer("rf").facts.loyalty
  eq(f.tier, "silver", "tier during the grace")
  eq(f.grace_until, t("2028-01-10T00:00:00Z") + 90 * DAY, "grace_until: 0.00 spent in the window")
end)

suite:finish()
