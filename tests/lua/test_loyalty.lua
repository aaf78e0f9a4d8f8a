-- test_loyalty.lua: the built-in loyalty plugin (with refund for returns),
-- driven through cx.ingest, cx.refresh and cx.loyalty.redeem and checked
-- through the ledger, tier_history and refunds tables and cx.loyalty.account.
-- Every expected value below is computed by hand from the plugin's rules
-- (plugins/loyalty.lua, plugins/lib/loyalty.lua, plugins/refund.lua) and
-- their default settings: points_per_unit = 1, no multipliers but the tiers',
-- no daily cap, tiers member 0 / silver 500 (x1.25) / gold 2000 (x1.5) by
-- points over the last 12 months, tier_grace_days = 90, expiry_months = 24,
-- bonus referral 100 / survey 10 / birthday 50 (birthday once a calendar
-- year), rewards voucher_5 (500) and voucher_25 (2000), refund.return_days
-- = 30 and refund.clawback = "within_balance". A return is accepted up to
-- the last second of its window (purchase + 30 days, included), so a
-- purchase's points are spendable from the second after it.
-- A refresh is refused before the latest event, so the scenarios move forward
-- in time: earning and redeeming in 2024-2026, expiry in 2026-2027, tier
-- downgrades in 2030-2031, clawbacks and tiers in 2035-2036.
-- After every scenario the ledger's invariants are checked (the core of
-- `cxhost check`): replaying each customer's entries finds no problem and
-- gives the sum of the entries as the balance.
--   bash tests/lua/run.sh build/cxhost tests/lua/test_loyalty.lua

local DAY = 86400
local eq, t, one, facts = cx.test.eq, cx.test.time, cx.test.one, cx.test.facts

-- The invariants of the ledger and the tiers (the core of `cxhost check`,
-- cx.loyalty.ledger_problems and tier_problems): replaying each customer's
-- entries finds no problem (no redemption beyond what was available, no
-- expiry beyond a lot's rest, lots that hold the balance less any debt), the
-- replayed balance is the SQL sum of the entries, and the tier in the facts
-- is the last of tier_history.
local function check_invariants()
  local problems = cx.loyalty.ledger_problems()
  for _, text in ipairs(cx.loyalty.tier_problems()) do
    problems[#problems + 1] = text
  end
  assert(#problems == 0, table.concat(problems, "; "))
end

local suite = cx.test.suite("loyalty", { after = check_invariants })

-- A customer's ledger entries, in the order they were written.
local function ledger(customer)
  return cx.query([[
    SELECT l.id, l.points, l.kind, l.rule, l.at, l.available_at, l.expires_at, l.lot_id, l.spend_cents,
      e.external_id AS event
    FROM ledger l JOIN customers c ON c.id = l.customer_id LEFT JOIN events e ON e.id = l.event_id
    WHERE c.external_id = ?1 ORDER BY l.id]], customer)
end

-- The entries of the event with this id (one for a purchase or a bonus).
local function entry_of(event)
  local rows = cx.query([[SELECT l.* FROM ledger l JOIN events e ON e.id = l.event_id
    WHERE e.external_id = ?1 ORDER BY l.id]], event)
  eq(#rows, 1, "ledger entries of event " .. event)
  return rows[1]
end

local function tiers(customer)
  return cx.query([[SELECT h.tier, h.previous, h.at, h.reason, h.plugin, e.external_id AS event
    FROM tier_history h JOIN customers c ON c.id = h.customer_id LEFT JOIN events e ON e.id = h.event_id
    WHERE c.external_id = ?1 ORDER BY h.id]], customer)
end

local function buy(id, customer, at, amount)
  return cx.ingest { id = id, type = "purchase", customer = customer, at = at, amount = amount, touchpoint = "web" }
end

local function bonus(id, kind, customer, at)
  return cx.ingest { id = id, type = kind, customer = customer, at = at }
end

local function redeem(id, customer, reward, at)
  return cx.ingest { id = id, type = "redeem", customer = customer, at = at, data = { reward = reward } }
end

local function refund(id, customer, purchase, at)
  return cx.ingest { id = id, type = "refund_request", customer = customer, at = at, data = { purchase = purchase } }
end

-- Rows that a refused event must not change.
local function counts()
  return { ledger = one("SELECT COUNT(*) AS n FROM ledger"), events = one("SELECT COUNT(*) AS n FROM events"),
           points = one("SELECT COALESCE(SUM(points), 0) AS n FROM ledger"),
           tiers = one("SELECT COUNT(*) AS n FROM tier_history"), refunds = one("SELECT COUNT(*) AS n FROM refunds") }
end

local function same_counts(before, what)
  local after = counts()
  for _, k in ipairs { "ledger", "events", "points", "tiers", "refunds" } do
    eq(after[k], before[k], k .. " rows after " .. what)
  end
end

-- Calls fn, which must fail; returns its error text.
local function fails(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "the call should fail")
  return tostring(err)
end

local function has(text, part)
  assert(text:find(part, 1, true), ("%q should contain %q"):format(text, part))
end

-- Earning -------------------------------------------------------------------

local A1 = t("2024-03-10T12:00:00Z")

suite:case("a purchase earns 1 point per 1.00, rounded down, pending 30 days and 1 second, expiring in 24 months", function()
  eq(buy("ann-1", "ann", A1, "12.99"), "inserted", "cx.ingest result")
  local e = entry_of("ann-1")
  eq(e.points, 12, "points for 12.99 (1299 cents * 1 / 100 = 12.99, rounded down)")
  eq(e.kind, "earn", "kind")
  eq(e.rule, "purchase", "rule")
  eq(e.spend_cents, 1299, "spend_cents")
  eq(e.at, A1, "at")
  -- 2024-03-10T12:00:00Z + 30 days = 2024-04-09T12:00:00Z, the window's last
  -- second; spendable from the next.
  eq(e.available_at, t("2024-04-09T12:00:01Z"), "available_at (the second after the return window)")
  -- Midnight of 2024-03-10, plus 24 calendar months.
  eq(e.expires_at, t("2026-03-10T00:00:00Z"), "expires_at")
  eq(e.lot_id, nil, "lot_id of an earn entry")
  local acc = cx.loyalty.account("ann", A1)
  eq(acc.balance, 12, "balance")
  eq(acc.pending, 12, "pending")
  eq(acc.available, 0, "available")
  eq(acc.tier, "member", "tier")
end)

local S = t("2024-04-01T09:00:00Z")

suite:case("tiers: 499 points stay member, the 500th upgrades to silver at once", function()
  buy("sil-1", "sil", S, "499.99")
  eq(entry_of("sil-1").points, 499, "points for 499.99 (rounded down)")
  eq(cx.loyalty.account("sil").tier, "member", "tier at 499 points")
  eq(#tiers("sil"), 0, "tier_history rows at 499 points")
  buy("sil-2", "sil", S + DAY, "1.00")
  eq(entry_of("sil-2").points, 1, "points for 1.00 (the purchase that upgrades earns at member rate)")
  eq(cx.loyalty.account("sil").tier, "silver", "tier at 500 points")
  local h = tiers("sil")
  eq(#h, 1, "tier_history rows")
  eq(h[1].tier, "silver", "tier")
  eq(h[1].previous, "member", "previous")
  eq(h[1].at, S + DAY, "at (the time of the event)")
  eq(h[1].event, "sil-2", "event")
  eq(h[1].plugin, "loyalty", "plugin")
  has(h[1].reason, "500 points")
  has(h[1].reason, "silver needs 500")
end)

suite:case("tiers: the silver multiplier x1.25 applies after the upgrade, rounded down; 2000 makes gold", function()
  buy("sil-3", "sil", S + 2 * DAY, "10.00")
  eq(entry_of("sil-3").points, 12, "10.00 at x1.25 = 12.5, rounded down")
  buy("sil-4", "sil", S + 3 * DAY, "1190.00")
  eq(entry_of("sil-4").points, 1487, "1190.00 at x1.25 = 1487.5, rounded down")
  -- 499 + 1 + 12 + 1487 = 1999: one short of gold.
  eq(cx.loyalty.account("sil").tier, "silver", "tier at 1999 points")
  buy("sil-5", "sil", S + 4 * DAY, "0.80")
  eq(entry_of("sil-5").points, 1, "0.80 at x1.25 = 1.00 exactly")
  eq(cx.loyalty.account("sil").tier, "gold", "tier at 2000 points")
  local h = tiers("sil")
  eq(#h, 2, "tier_history rows")
  eq(h[2].tier, "gold", "tier")
  eq(h[2].previous, "silver", "previous")
  eq(h[2].event, "sil-5", "event")
  buy("sil-6", "sil", S + 5 * DAY, "100.00")
  eq(entry_of("sil-6").points, 150, "100.00 at gold's x1.5")
  eq(cx.loyalty.account("sil").balance, 2150, "balance 499 + 1 + 12 + 1487 + 1 + 150")
end)

suite:case("tiers: one big purchase goes from member straight to gold", function()
  buy("big-1", "big", S, "2000.00")
  eq(entry_of("big-1").points, 2000, "points")
  local h = tiers("big")
  eq(#h, 1, "tier_history rows (no stop at silver)")
  eq(h[1].tier, "gold", "tier")
  eq(h[1].previous, "member", "previous")
end)

-- Bonus events --------------------------------------------------------------

suite:case("bonus events: referral 100, survey 10, birthday 50, available at once", function()
  eq(bonus("bo-1", "referral", "bo", t("2024-06-01T10:00:00Z")), "inserted", "result")
  bonus("bo-2", "survey", "bo", t("2024-06-02T10:00:00Z"))
  bonus("bo-3", "birthday", "bo", t("2024-06-03T10:00:00Z"))
  local rows = ledger("bo")
  eq(#rows, 3, "entries")
  local want = { { 100, "referral", "2026-06-01" }, { 10, "survey", "2026-06-02" }, { 50, "birthday", "2026-06-03" } }
  for i, w in ipairs(want) do
    eq(rows[i].points, w[1], "points of entry " .. i)
    eq(rows[i].kind, "bonus", "kind of entry " .. i)
    eq(rows[i].rule, w[2], "rule of entry " .. i)
    eq(rows[i].available_at, nil, "available_at of entry " .. i .. " (a bonus is not pending)")
    eq(rows[i].expires_at, t(w[3]), "expires_at of entry " .. i .. " (24 months after the day)")
    eq(rows[i].spend_cents, 0, "spend_cents of entry " .. i)
  end
  local acc = cx.loyalty.account("bo", t("2024-06-03T10:00:00Z"))
  eq(acc.available, 160, "available 100 + 10 + 50")
  eq(acc.pending, 0, "pending")
  eq(cx.ingest { id = "bo-v", type = "visit", customer = "bo", at = t("2024-06-04") }, "inserted", "a visit")
  eq(#ledger("bo"), 3, "entries after a visit (no bonus)")
end)

suite:case("birthday: once per calendar year", function()
  -- The last second of 2024: a second birthday in 2024, nothing.
  eq(bonus("bo-4", "birthday", "bo", t("2024-12-31T23:59:59Z")), "inserted", "result")
  eq(#ledger("bo"), 3, "entries after a second birthday in 2024")
  -- The first second of 2025: a new year.
  bonus("bo-5", "birthday", "bo", t("2025-01-01T00:00:00Z"))
  local e = entry_of("bo-5")
  eq(e.points, 50, "birthday in 2025")
  eq(e.expires_at, t("2027-01-01"), "expires_at")
  eq(cx.loyalty.account("bo", t("2025-01-01")).balance, 210, "balance 100 + 10 + 50 + 50")
end)

-- Pending points and returns --------------------------------------------------

local P = t("2025-03-01T10:00:00Z")
local P_CLOSE = P + 30 * DAY -- 2025-03-31T10:00:00Z: the last second of the return window
local P_OPEN = P_CLOSE + 1   -- the first second the points may be spent

suite:case("pending: not spendable during the return window, spendable the second after it", function()
  buy("pen-1", "pen", P, "600.00")
  eq(entry_of("pen-1").available_at, t("2025-03-31T10:00:01Z"), "available_at = purchase + 30 days + 1 second")
  local acc = cx.loyalty.account("pen", P_CLOSE)
  eq(acc.balance, 600, "balance at the window's last second")
  eq(acc.pending, 600, "pending at the window's last second")
  eq(acc.available, 0, "available at the window's last second")
  local before = counts()
  local err = fails(cx.loyalty.redeem, "pen", "voucher_5", { id = "pen-r0", at = P_CLOSE })
  has(err, "pen has 0 points available (600 more pending); reward 'voucher_5' needs 500")
  same_counts(before, "a redemption of pending points")
  acc = cx.loyalty.account("pen", P_OPEN)
  eq(acc.pending, 0, "pending the second after the window")
  eq(acc.available, 600, "available the second after the window")
  local r = cx.loyalty.redeem("pen", "voucher_5", { id = "pen-r1", at = P_OPEN })
  eq(r.result, "inserted", "redeem result")
  eq(r.points, -500, "redeemed points")
  eq(r.reward, "voucher_5", "reward")
  eq(r.available, 100, "available after: 600 - 500")
  local e = entry_of("pen-r1")
  eq(e.kind, "redeem", "kind")
  eq(e.rule, "voucher_5", "rule")
  eq(e.at, P_OPEN, "at")
  eq(e.lot_id, nil, "a redemption names no lot")
end)

suite:case("pending: a return inside the window cancels the points before they are spendable", function()
  buy("ret-1", "ret", P, "50.00")
  eq(cx.loyalty.account("ret", P).pending, 50, "pending after the purchase")
  eq(refund("ret-x1", "ret", "ret-1", P + 10 * DAY), "inserted", "refund request")
  local d = cx.query("SELECT decision, approved_cents, clawback_points FROM refunds WHERE external_id = 'ret-x1'")[1]
  assert(d, "a refund decision for ret-x1")
  eq(d.decision, "approved", "decision (10 days into a 30-day window)")
  eq(d.approved_cents, 5000, "approved_cents")
  eq(d.clawback_points, 50, "clawback_points: all 50 points")
  local e = entry_of("ret-x1")
  eq(e.points, -50, "clawback points")
  eq(e.kind, "clawback", "kind")
  eq(e.lot_id, entry_of("ret-1").id, "the clawback takes from the purchase's lot")
  eq(e.spend_cents, -5000, "spend taken back")
  for _, as_of in ipairs { P + 10 * DAY, P_CLOSE, P_OPEN, P_OPEN + DAY } do
    local acc = cx.loyalty.account("ret", as_of)
    eq(acc.balance, 0, "balance as of " .. cx.time.iso(as_of))
    eq(acc.pending, 0, "pending as of " .. cx.time.iso(as_of))
    eq(acc.available, 0, "available as of " .. cx.time.iso(as_of))
    eq(acc.lots[1].left, 0, "left of the returned purchase's lot")
  end
end)

suite:case("pending: a return at the window's last second still takes back the pending points", function()
  buy("ret-3", "ret3", P, "30.00")
  refund("ret-x3", "ret3", "ret-3", P_CLOSE)
  eq(one("SELECT decision AS n FROM refunds WHERE external_id = 'ret-x3'"), "approved", "decision")
  eq(entry_of("ret-x3").points, -30, "clawback")
  local acc = cx.loyalty.account("ret3", P_OPEN)
  eq(acc.available, 0, "available the second after the window")
  eq(acc.balance, 0, "balance")
end)

suite:case("pending: a return the second after the window is rejected and the points stay", function()
  buy("ret-2", "ret", P, "20.00")
  refund("ret-x2", "ret", "ret-2", P_OPEN)
  eq(one("SELECT decision AS n FROM refunds WHERE external_id = 'ret-x2'"), "rejected", "decision")
  eq(one([[SELECT COUNT(*) AS n FROM ledger l JOIN events e ON e.id = l.event_id
           WHERE e.external_id = 'ret-x2']]), 0, "ledger entries of the rejected return")
  local acc = cx.loyalty.account("ret", P_OPEN)
  eq(acc.available, 20, "available: the 20 points of ret-2")
  eq(acc.balance, 20, "balance")
end)

-- Redemption ----------------------------------------------------------------

local F = t("2025-06-01T10:00:00Z")

suite:case("redemption: oldest available lots first, across partial redemptions; pending lots skipped", function()
  buy("f-1", "fifo", F, "600.00")                  -- lot 1: 600, available F + 30 days + 1 s; makes silver
  buy("f-2", "fifo", F + DAY, "300.00")            -- lot 2: 300 x1.25 = 375, available F + 31 days + 1 s
  bonus("f-3", "referral", "fifo", F + 2 * DAY)    -- lot 3: 100, available at once
  eq(entry_of("f-2").points, 375, "300.00 at silver's x1.25")
  -- F + 30 days + 1 s: lots 1 (600) and 3 (100) are available, lot 2 is pending.
  local r = cx.loyalty.redeem("fifo", "voucher_5", { id = "f-r1", at = F + 30 * DAY + 1 })
  eq(r.result, "inserted", "first redemption")
  local lots = cx.loyalty.account("fifo", F + 30 * DAY + 1).lots
  eq(lots[1].left, 100, "lot 1: 600 - 500")
  eq(lots[2].left, 375, "lot 2 untouched (pending)")
  eq(lots[3].left, 100, "lot 3 untouched (newer than lot 1)")
  eq(r.available, 200, "available after: 100 + 100")
  -- F + 30 days + 1 hour: rewards need 500, only 200 available (375 pending).
  local before = counts()
  local err = fails(cx.loyalty.redeem, "fifo", "voucher_5", { id = "f-r2", at = F + 30 * DAY + 3600 })
  has(err, "fifo has 200 points available (375 more pending); reward 'voucher_5' needs 500")
  same_counts(before, "a redemption with too few points")
  eq(cx.loyalty.account("fifo").balance, 575, "balance after the refused redemption: 600 + 375 + 100 - 500")
  -- F + 31 days + 1 s: all three available (575): 100 from lot 1, 375 from lot 2, 25 from lot 3.
  r = cx.loyalty.redeem("fifo", "voucher_5", { id = "f-r3", at = F + 31 * DAY + 1 })
  eq(r.result, "inserted", "third redemption")
  lots = cx.loyalty.account("fifo", F + 31 * DAY + 1).lots
  eq(#lots, 3, "lots")
  eq(lots[1].left, 0, "lot 1 finished")
  eq(lots[2].left, 0, "lot 2 spent")
  eq(lots[3].left, 75, "lot 3: 100 - 25")
  eq(r.available, 75, "available after")
  eq(cx.loyalty.account("fifo", F + 31 * DAY + 1).balance, 75, "balance 575 - 500")
end)

suite:case("redemption: the same request id redeems once", function()
  local before = counts()
  local r = cx.loyalty.redeem("fifo", "voucher_5", { id = "f-r3", at = F + 32 * DAY })
  eq(r.result, "duplicate", "result")
  same_counts(before, "a duplicate redemption")
  eq(cx.loyalty.account("fifo", F + 32 * DAY).balance, 75, "balance")
end)

suite:case("redemption: an unknown reward is an error naming the catalogue, and writes nothing", function()
  buy("u-1", "uma", F - 60 * DAY, "900.00")
  eq(cx.loyalty.account("uma", F).available, 900, "available")
  local before = counts()
  local err = fails(cx.loyalty.redeem, "uma", "toaster", { id = "u-r1", at = F })
  has(err, "no reward 'toaster' in the catalogue (rewards: voucher_25, voucher_5)")
  same_counts(before, "an unknown reward")
  err = fails(cx.loyalty.redeem, "uma", "voucher_25", { id = "u-r2", at = F })
  has(err, "uma has 900 points available; reward 'voucher_25' needs 2000")
  same_counts(before, "a reward that costs more than available")
  eq(cx.loyalty.account("uma", F).balance, 900, "balance")
end)

-- Replay: the same stream twice gives the same ledger ------------------------

local X = t("2026-01-05T09:00:00Z")

local function stream(p, c)
  buy(p .. "p1", c, X, "250.00")                              -- 250, member
  bonus(p .. "ref", "referral", c, X + 3600)                  -- 100
  buy(p .. "p2", c, X + DAY, "300.00")                        -- 300 at member; 650: silver
  buy(p .. "p3", c, X + 2 * DAY, "80.00")                     -- 80 x1.25 = 100
  refund(p .. "x3", c, p .. "p3", X + 5 * DAY)                -- the 100 of p3 taken back
  redeem(p .. "r1", c, "voucher_5", X + 32 * DAY)             -- 250 + 100 + 150 of p2's 300
  bonus(p .. "bd", "birthday", c, X + 40 * DAY)               -- 50
end

suite:case("replay: the same event stream gives the same ledger", function()
  stream("a-", "x1")
  stream("b-", "x2")
  local l1, l2 = ledger("x1"), ledger("x2")
  -- By hand: points, kind, rule, at.
  local want = {
    { 250, "earn", "purchase", X }, { 100, "bonus", "referral", X + 3600 }, { 300, "earn", "purchase", X + DAY },
    { 100, "earn", "purchase", X + 2 * DAY }, { -100, "clawback", "within_balance", X + 5 * DAY },
    { -500, "redeem", "voucher_5", X + 32 * DAY }, { 50, "bonus", "birthday", X + 40 * DAY },
  }
  eq(#l1, #want, "entries of x1")
  eq(#l2, #want, "entries of x2")
  for i, w in ipairs(want) do
    eq(l1[i].points, w[1], "x1 entry " .. i .. " points")
    eq(l1[i].kind, w[2], "x1 entry " .. i .. " kind")
    eq(l1[i].rule, w[3], "x1 entry " .. i .. " rule")
    eq(l1[i].at, w[4], "x1 entry " .. i .. " at")
  end
  -- Row by row, x2 as x1 (lots compared by position in the customer's ledger).
  local function position(rows, id)
    for i, r in ipairs(rows) do
      if r.id == id then
        return i
      end
    end
    return id
  end
  for i = 1, #want do
    for _, k in ipairs { "points", "kind", "rule", "at", "available_at", "expires_at", "spend_cents" } do
      eq(l2[i][k], l1[i][k], "entry " .. i .. " " .. k .. " of x2 and x1")
    end
    eq(l2[i].event, "b-" .. l1[i].event:sub(3), "entry " .. i .. " event")
    eq(l1[i].lot_id and position(l1, l1[i].lot_id), l1[i].lot_id and 4 or nil, "x1 entry " .. i .. " lot")
    eq(l2[i].lot_id and position(l2, l2[i].lot_id), l1[i].lot_id and position(l1, l1[i].lot_id),
       "entry " .. i .. " lot of x2 and x1")
  end
  local a1, a2 = cx.loyalty.account("x1", X + 40 * DAY), cx.loyalty.account("x2", X + 40 * DAY)
  eq(a1.balance, 200, "x1 balance 250 + 100 + 300 + 100 - 100 - 500 + 50")
  eq(a1.lots[3].left, 150, "x1 p2 left after the redemption")
  for _, k in ipairs { "balance", "available", "pending", "tier" } do
    eq(a2[k], a1[k], "account " .. k .. " of x2 and x1")
  end
  eq(a2.tier, "silver", "tier")
end)

-- Expiry --------------------------------------------------------------------

local E = t("2026-02-28T00:00:00Z")

suite:case("expiry: 29 February + 24 months is 28 February", function()
  buy("leap-1", "leap", t("2024-02-29T08:00:00Z"), "100.00")
  eq(entry_of("leap-1").expires_at, E, "expires_at")
end)

local function expiries(customer)
  return cx.query([[SELECT l.points, l.rule, l.at, l.lot_id FROM ledger l JOIN customers c ON c.id = l.customer_id
    WHERE c.external_id = ?1 AND l.kind = 'expire' ORDER BY l.id]], customer)
end

suite:case("expiry: nothing one second before the day, the lot's rest at the day", function()
  cx.refresh(E - 1)
  eq(one("SELECT COUNT(*) AS n FROM ledger WHERE kind = 'expire'"), 0, "expire entries as of E - 1 second")
  local acc = cx.loyalty.account("leap", E - 1)
  eq(acc.available, 100, "available one second before")
  eq(acc.expired, 0, "expired one second before")
  acc = cx.loyalty.account("leap", E)
  eq(acc.expired, 100, "expired at E, before the refresh wrote it")
  eq(acc.available, 0, "available at E")
  cx.refresh(E)
  local x = expiries("leap")
  eq(#x, 1, "expire entries of leap")
  eq(x[1].points, -100, "points")
  eq(x[1].rule, "expiry", "rule")
  eq(x[1].at, E, "at: the expiry time")
  eq(x[1].lot_id, entry_of("leap-1").id, "lot")
  -- ann's lot expires on 2026-03-10, sil's from 2026-04-01: only leap's so far.
  eq(one("SELECT COUNT(*) AS n FROM ledger WHERE kind = 'expire'"), 1, "expire entries in the ledger")
  acc = cx.loyalty.account("leap", E)
  eq(acc.balance, 0, "balance")
  eq(acc.expired, 0, "expired, once written")
end)

suite:case("expiry: a second refresh expires nothing twice", function()
  cx.refresh(E)
  eq(#expiries("leap"), 1, "expire entries of leap after the same refresh again")
  eq(one("SELECT COUNT(*) AS n FROM ledger WHERE kind = 'expire'"), 1, "expire entries in the ledger")
end)

suite:case("expiry: a late refresh dates each expiry at its lot's expiry", function()
  cx.refresh(t("2026-07-01"))
  local x = expiries("bo")
  eq(#x, 3, "expire entries of bo (the 2025 birthday expires in 2027)")
  local want = { { -100, "2026-06-01" }, { -10, "2026-06-02" }, { -50, "2026-06-03" } }
  local lots = ledger("bo")
  for i, w in ipairs(want) do
    eq(x[i].points, w[1], "points of expiry " .. i)
    eq(x[i].at, t(w[2]), "at of expiry " .. i)
    eq(x[i].lot_id, lots[i].id, "lot of expiry " .. i)
  end
  eq(cx.loyalty.account("bo", t("2026-07-01")).balance, 50, "balance: the 2025 birthday")
  eq(#expiries("leap"), 1, "leap's expiry not repeated")
  eq(#expiries("ann"), 1, "ann's 12 points expired on 2026-03-10")
  eq(expiries("ann")[1].points, -12, "ann's expiry")
end)

suite:case("expiry: only what is left of a lot expires; spent lots leave no entry", function()
  -- fifo's lots 1, 2, 3 expire on 2027-06-01, -02, -03 with 0, 0 and 75 left.
  cx.refresh(t("2027-06-03"))
  local x = expiries("fifo")
  eq(#x, 1, "expire entries of fifo")
  eq(x[1].points, -75, "points")
  eq(x[1].at, t("2027-06-03"), "at")
  eq(x[1].lot_id, entry_of("f-3").id, "lot (the referral)")
  eq(cx.loyalty.account("fifo", t("2027-06-03")).balance, 0, "balance")
  cx.refresh(t("2027-07-01"))
  eq(#expiries("fifo"), 1, "expire entries of fifo after a later refresh")
end)

-- Tier downgrade and grace -----------------------------------------------------

local G0 = t("2030-01-01T10:00:00Z")
local W = t("2031-01-01T10:00:00Z")   -- G0 + 12 months: G0's points leave the window (at > as_of - 12 months)
local GU = W + 90 * DAY               -- 2031-04-01T10:00:00Z: grace_until

suite:case("downgrade: the first refresh below the tier starts 90 days of grace", function()
  buy("g-1", "g", G0, "500.00")
  buy("h-1", "h", G0, "500.00")
  buy("gd-1", "gd", G0, "2000.00")
  buy("gd-2", "gd", t("2030-07-01T10:00:00Z"), "600.00")   -- gold x1.5: 900
  eq(cx.loyalty.account("g").tier, "silver", "g's tier")
  eq(cx.loyalty.account("gd").tier, "gold", "gd's tier")
  eq(entry_of("gd-2").points, 900, "600.00 at gold")
  cx.refresh(W - 1)   -- the window starts one second before G0: g-1 still counts
  eq(facts("g", "loyalty").grace_until, nil, "g's grace_until one second before G0 leaves the window")
  eq(facts("gd", "loyalty").grace_until, nil, "gd's grace_until")
  cx.refresh(W)       -- 0 points for g and h, 900 for gd
  eq(facts("g", "loyalty").grace_until, GU, "g's grace_until = as_of + 90 days")
  eq(facts("gd", "loyalty").grace_until, GU, "gd's grace_until")
  eq(cx.loyalty.account("g").tier, "silver", "g keeps silver during the grace")
  eq(#tiers("g"), 1, "g's tier_history rows")
end)

suite:case("downgrade: a refresh before grace_until keeps the tier; qualifying again clears the grace", function()
  buy("h-2", "h", W + DAY, "500.00")   -- silver x1.25: 625 in h's window
  eq(entry_of("h-2").points, 625, "500.00 at silver")
  cx.refresh(GU - 1)
  eq(cx.loyalty.account("g").tier, "silver", "g's tier one second before grace_until")
  eq(facts("g", "loyalty").grace_until, GU, "g's grace_until unchanged")
  eq(facts("h", "loyalty").grace_until, nil, "h's grace cleared (625 points reach silver)")
  eq(#tiers("g"), 1, "g's tier_history rows")
end)

suite:case("downgrade: at grace_until the tier moves down to the tier reached", function()
  cx.refresh(GU)
  local f = facts("g", "loyalty")
  eq(f.tier, "member", "g's tier")
  eq(f.grace_until, nil, "g's grace_until")
  eq(cx.loyalty.account("g").tier, "member", "g's account tier")
  local h = tiers("g")
  eq(#h, 2, "g's tier_history rows")
  eq(h[2].tier, "member", "tier")
  eq(h[2].previous, "silver", "previous")
  eq(h[2].at, GU, "at: the refresh's as_of")
  eq(h[2].event, nil, "a refresh's change names no event")
  has(h[2].reason, "grace of 90 days")
  -- gd: 900 points in the window reach silver, not gold.
  h = tiers("gd")
  eq(#h, 2, "gd's tier_history rows")
  eq(h[2].tier, "silver", "gd moves down to the tier its points reach")
  eq(h[2].previous, "gold", "previous")
  -- h qualified again: still silver, no downgrade.
  eq(cx.loyalty.account("h").tier, "silver", "h's tier")
  eq(#tiers("h"), 1, "h's tier_history rows")
end)

-- Clawbacks and tiers ----------------------------------------------------------

local K0 = t("2035-01-01T10:00:00Z")

suite:case("tiers: a clawback inside the window takes its points off the qualifying total", function()
  buy("k-1", "k", K0, "300.00")
  refund("k-x1", "k", "k-1", K0 + 10 * DAY)
  eq(entry_of("k-x1").points, -300, "clawback")
  buy("k-2", "k", t("2035-07-01T10:00:00Z"), "400.00")
  -- 300 - 300 + 400 = 400 in the 12 months to 2035-07-01: below silver.
  eq(cx.loyalty.account("k").tier, "member", "k's tier")
  eq(#tiers("k"), 0, "k's tier_history rows")
end)

suite:case("tiers: a clawback counts at its purchase's time", function()
  buy("m-1", "m", K0, "300.00")
  refund("m-x1", "m", "m-1", K0 + 10 * DAY)
  buy("m-2", "m", t("2035-07-01T10:00:00Z"), "500.00")
  -- 300 - 300 + 500 = 500: silver.
  eq(cx.loyalty.account("m").tier, "silver", "m's tier")
  -- As of 2036-01-02T10:00 the window starts 2035-01-02T10:00: m-1 (2035-01-01)
  -- is out of it, and so is its clawback (dated 2035-01-11, counted at
  -- 2035-01-01); m-2's 500 keep silver, no grace. Counted at its own date
  -- the clawback would leave 200.
  cx.refresh(t("2036-01-02T10:00:00Z"))
  eq(facts("m", "loyalty").grace_until, nil, "m's grace_until")
  eq(facts("m", "loyalty").tier, "silver", "m's tier")
end)

suite:finish()
