-- test_lifecycle.lua: the built-in lifecycle plugin, driven through cx.ingest
-- and cx.refresh and checked through cx.customer and cx.query.
-- Every expected value below is computed by hand from the plugin's rules
-- (plugins/lifecycle.lua) and its default settings: new_days = 90,
-- lapsing_days = 180, lapsed_days = 365, purchase_types = {"purchase"}.
--   bash tests/lua/run.sh build/cxhost tests/lua/test_lifecycle.lua

local DAY = 86400
local eq, t, one = cx.test.eq, cx.test.time, cx.test.one
local suite = cx.test.suite("lifecycle")

-- The lifecycle facts of a customer (a table, empty when it has none).
local function lc(customer)
  local c = cx.customer(customer)
  assert(c, "customer '" .. customer .. "' should exist")
  return c.facts.lifecycle or {}, c
end

local function buy(id, customer, at, amount)
  return cx.ingest { id = id, type = "purchase", customer = customer, at = at, amount = amount,
                     touchpoint = "web" }
end

local T1 = t("2024-03-10T12:00:00Z")

suite:case("first purchase sets every fact and stage new", function()
  eq(buy("a-1", "alice", T1, "19.99"), "inserted", "cx.ingest result")
  local f, c = lc("alice")
  eq(f.first_purchase_at, T1, "first_purchase_at")
  eq(f.last_purchase_at, T1, "last_purchase_at")
  eq(f.purchase_count, 1, "purchase_count")
  eq(f.total_spend_cents, 1999, "total_spend_cents")
  eq(math.type(f.total_spend_cents), "integer", "spend is an integer count of cents")
  eq(f.stage, "new", "stage after one purchase")
  eq(c.events, 1, "events of the customer")
  eq(c.first_seen_at, T1, "first_seen_at")
end)

suite:case("second purchase: count, spend, last purchase, stage new -> active", function()
  eq(buy("a-2", "alice", T1 + 10 * DAY, "5.01"), "inserted", "cx.ingest result")
  local f = lc("alice")
  eq(f.first_purchase_at, T1, "first_purchase_at unchanged")
  eq(f.last_purchase_at, T1 + 10 * DAY, "last_purchase_at")
  eq(f.purchase_count, 2, "purchase_count")
  eq(f.total_spend_cents, 2500, "total_spend_cents 1999 + 501")
  eq(f.stage, "active", "stage after the second purchase")
end)

suite:case("an earlier purchase arriving late moves first_purchase_at only", function()
  eq(buy("a-0", "alice", T1 - 5 * DAY, "0.50"), "inserted", "cx.ingest result")
  local f = lc("alice")
  eq(f.first_purchase_at, T1 - 5 * DAY, "first_purchase_at")
  eq(f.last_purchase_at, T1 + 10 * DAY, "last_purchase_at unchanged")
  eq(f.purchase_count, 3, "purchase_count")
  eq(f.total_spend_cents, 2550, "total_spend_cents")
end)

suite:case("a purchase without an amount counts but adds nothing to spend", function()
  eq(cx.ingest { id = "a-3", type = "purchase", customer = "alice", at = T1 + 11 * DAY }, "inserted", "result")
  local f = lc("alice")
  eq(f.purchase_count, 4, "purchase_count")
  eq(f.total_spend_cents, 2550, "total_spend_cents")
  eq(f.last_purchase_at, T1 + 11 * DAY, "last_purchase_at")
end)

suite:case("amounts are exact cents (no floating point)", function()
  -- 0.10 + 0.20 is not 0.30 in floating point; in cents it is 30.
  buy("f-1", "frank", T1, "0.10")
  buy("f-2", "frank", T1 + DAY, "0.20")
  buy("f-3", "frank", T1 + 2 * DAY, "1234567.89")
  eq(lc("frank").total_spend_cents, 123456819, "total_spend_cents")
end)

suite:case("duplicate event id is a no-op", function()
  local before = lc("alice")
  local events = one("SELECT COUNT(*) AS n FROM events")
  local audits = one("SELECT COUNT(*) AS n FROM audit")
  -- Same id, different content: still a duplicate, nothing changes.
  eq(buy("a-2", "alice", T1 + 400 * DAY, "999.99"), "duplicate", "cx.ingest result")
  eq(buy("a-2", "bob", T1, "1.00"), "duplicate", "cx.ingest result for another customer")
  local after = lc("alice")
  for _, k in ipairs { "first_purchase_at", "last_purchase_at", "purchase_count", "total_spend_cents", "stage" } do
    eq(after[k], before[k], "fact " .. k .. " after the duplicate")
  end
  eq(one("SELECT COUNT(*) AS n FROM events"), events, "events after the duplicate")
  eq(one("SELECT COUNT(*) AS n FROM audit"), audits, "audit rows after the duplicate")
  eq(cx.customer("bob"), nil, "no customer created by a duplicate")
  eq(one("SELECT amount_cents AS n FROM events WHERE external_id = 'a-2'"), 501, "stored amount of a-2")
end)

suite:case("a non-purchase event makes a prospect", function()
  eq(cx.ingest { id = "p-1", type = "visit", customer = "pat", at = T1 }, "inserted", "result")
  local f = lc("pat")
  eq(f.stage, "prospect", "stage")
  eq(f.purchase_count, nil, "purchase_count")
  eq(f.first_purchase_at, nil, "first_purchase_at")
  eq(f.total_spend_cents, nil, "total_spend_cents")
end)

suite:case("a prospect's first purchase makes it new; later visits keep the stage", function()
  buy("p-2", "pat", T1 + DAY, "7.00")
  local f = lc("pat")
  eq(f.stage, "new", "stage after the purchase")
  eq(f.purchase_count, 1, "purchase_count")
  eq(f.total_spend_cents, 700, "total_spend_cents")
  cx.ingest { id = "p-3", type = "complaint", customer = "pat", at = T1 + 2 * DAY }
  f = lc("pat")
  eq(f.stage, "new", "stage after a complaint")
  eq(f.purchase_count, 1, "purchase_count after a complaint")
end)

suite:case("an event without a customer creates none and sets no facts", function()
  local customers = one("SELECT COUNT(*) AS n FROM customers")
  eq(cx.ingest { id = "anon-1", type = "purchase", at = T1, amount = "3.00" }, "inserted", "result")
  eq(one("SELECT COUNT(*) AS n FROM customers"), customers, "customers")
  eq(one("SELECT COUNT(*) AS n FROM events WHERE external_id = 'anon-1' AND customer_id IS NULL"), 1, "event stored")
  eq(one("SELECT COUNT(*) AS n FROM audit a JOIN events e ON e.id = a.event_id WHERE e.external_id = 'anon-1'"), 0,
     "audit rows of anon-1")
end)

suite:case("a bad event is refused and leaves nothing behind", function()
  local ok, err = pcall(buy, "bad-1", "bert", T1, "1.234")
  assert(not ok, "an amount with three decimals should be refused")
  assert(tostring(err):find("more than two decimals", 1, true), "error says why: " .. tostring(err))
  eq(cx.customer("bert"), nil, "customer of the refused event")
  eq(one("SELECT COUNT(*) AS n FROM events WHERE external_id = 'bad-1'"), 0, "refused event")
end)

-- Refresh. A refresh judges every customer as of a time no earlier than the
-- latest event (an earlier one is refused), so each refresh test below lives
-- on its own stretch of time, later than everything before it.
local function stage_at(customer, as_of)
  cx.refresh(as_of)
  return lc(customer).stage
end

suite:case("refresh before the latest event is refused", function()
  local ok, err = pcall(cx.refresh, T1)
  assert(not ok, "a refresh as of a time before the latest event should be refused")
  assert(tostring(err):find("before the latest event", 1, true), "error says why: " .. tostring(err))
end)

local R0 = t("2030-01-01")

suite:case("refresh: the day thresholds, exactly", function()
  buy("r-1", "rita", R0, "10.00")
  eq(lc("rita").stage, "new", "stage at the purchase")
  eq(stage_at("rita", R0 + 89 * DAY), "new", "89 days")
  eq(stage_at("rita", R0 + 90 * DAY), "active", "90 days (new_days)")
  eq(stage_at("rita", R0 + 179 * DAY), "active", "179 days")
  eq(stage_at("rita", R0 + 180 * DAY - 1), "active", "one second short of 180 days")
  eq(stage_at("rita", R0 + 180 * DAY), "lapsing", "180 days (lapsing_days)")
  eq(stage_at("rita", R0 + 364 * DAY), "lapsing", "364 days")
  eq(stage_at("rita", R0 + 365 * DAY), "lapsed", "365 days (lapsed_days)")
  eq(stage_at("rita", R0 + 3000 * DAY), "lapsed", "3000 days")
end)

suite:case("refresh takes ISO text and the lifecycle view follows the facts", function()
  cx.refresh("2030-06-29T23:59:59Z")   -- one second short of 180 days after 2030-01-01
  eq(lc("rita").stage, "active", "stage as of 2030-06-29T23:59:59Z")
  cx.refresh("2030-06-30")             -- 180 days after 2030-01-01
  eq(lc("rita").stage, "lapsing", "stage as of 2030-06-30")
  local row = cx.query("SELECT * FROM lifecycle WHERE customer = 'rita'")[1]
  assert(row, "rita is in the lifecycle view")
  eq(row.stage, "lapsing", "view stage")
  eq(row.purchase_count, 1, "view purchase_count")
  eq(row.total_spend_cents, 1000, "view total_spend_cents")
  eq(row.first_purchase_at, R0, "view first_purchase_at")
end)

local S0 = t("2040-01-01")

suite:case("refresh counts from the latest purchase, and a new purchase revives", function()
  buy("s-1", "sam", S0, "1.00")
  buy("s-2", "sam", S0 + 100 * DAY, "2.00")
  eq(stage_at("sam", S0 + 279 * DAY), "active", "179 days after the latest purchase")
  eq(stage_at("sam", S0 + 280 * DAY), "lapsing", "180 days after the latest purchase")
  eq(stage_at("sam", S0 + 465 * DAY), "lapsed", "365 days after the latest purchase")
  buy("s-3", "sam", S0 + 466 * DAY, "3.00")
  local f = lc("sam")
  eq(f.stage, "active", "stage after buying again")
  eq(f.purchase_count, 3, "purchase_count")
  eq(f.total_spend_cents, 600, "total_spend_cents")
end)

local Q0 = t("2050-01-01")

suite:case("refresh leaves prospects prospects", function()
  cx.ingest { id = "q-1", type = "survey", customer = "quinn", at = Q0 }
  eq(stage_at("quinn", Q0 + 1000 * DAY), "prospect", "stage 1000 days later")
end)

-- Origins. store.h: every effect names its origin (plugin and event). A
-- customer's facts are one row (the table facts, each plugin's under its
-- name; the view customer_facts has a row per fact): it names the event that
-- last changed any of them (no event for a refresh); the other effects leave
-- a row in the audit table.
local function origin(customer, name)
  local r = cx.query([[SELECT f.plugin, f.event_id, e.external_id AS event, f.updated_at
    FROM customer_facts f JOIN customers c ON c.id = f.customer_id
    LEFT JOIN events e ON e.id = f.event_id
    WHERE c.external_id = ?1 AND f.name = ?2]], customer, name)
  assert(#r == 1, ("one fact %s of %s, got %d"):format(name, customer, #r))
  return r[1]
end

suite:case("origin: a customer's facts name the plugin and the event that last changed them", function()
  local G0 = t("2055-01-01")
  buy("g-1", "gina", G0, "5.00")
  eq(origin("gina", "purchase_count").event, "g-1", "event of gina's facts after her first purchase")
  buy("g-2", "gina", G0 + DAY, "7.00")
  local o = origin("gina", "purchase_count")
  eq(o.plugin, "lifecycle", "plugin of gina's purchase_count")
  eq(o.event, "g-2", "event of gina's purchase_count")
  eq(o.updated_at, G0 + DAY, "time of gina's purchase_count (the event's time)")
  eq(origin("gina", "first_purchase_at").event, "g-2", "one origin for all of a plugin's facts about her")
  -- An event that changes none of her facts leaves their origin alone (no
  -- built-in plugin keeps facts on a note).
  cx.ingest { id = "g-3", type = "note", customer = "gina", at = G0 + 2 * DAY }
  eq(origin("gina", "stage").event, "g-2", "origin after an event that changed nothing")
  -- The complaint p-3 changed nothing: no fact names it.
  eq(one([[SELECT COUNT(*) AS n FROM customer_facts f JOIN events e ON e.id = f.event_id
           WHERE e.external_id = 'p-3' AND f.plugin = 'lifecycle']]), 0, "facts naming an event with no effect")
  -- Facts set by an event come from a purchase of that customer (or, for a
  -- prospect, from its event).
  eq(one([[SELECT COUNT(*) AS n FROM customer_facts f
           WHERE f.plugin = 'lifecycle' AND f.name = 'purchase_count' AND f.event_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = f.event_id AND e.customer_id = f.customer_id
               AND e.type = 'purchase')]]), 0, "purchase_count facts not from a purchase of the customer")
  eq(origin("quinn", "stage").event, "q-1", "event of quinn's stage")
end)

suite:case("origin: a refresh's change names no event, and its time is as_of", function()
  local O0 = t("2060-01-01")
  buy("o-1", "olga", O0, "1.00")
  eq(origin("olga", "stage").event, "o-1", "stage set by the purchase")
  cx.refresh(O0 + 400 * DAY)
  local o = origin("olga", "stage")
  eq(o.plugin, "lifecycle", "plugin of the refreshed stage")
  eq(o.event_id, nil, "event of the refreshed stage")
  eq(o.updated_at, O0 + 400 * DAY, "time of the refreshed stage")
  eq(origin("olga", "purchase_count").event_id, nil, "the refresh is now the origin of all her lifecycle facts")
  eq(origin("olga", "purchase_count").updated_at, O0 + 400 * DAY, "and its time")
end)

suite:finish()
