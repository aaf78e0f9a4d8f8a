-- test_lifecycle_config.lua: the lifecycle plugin with a client setting.
-- test_lifecycle_config.d/config.lua sets lifecycle.lapsed_days = 200 (the
-- default is 365); lapsing_days stays 180. test_lifecycle_config.d/plugins/
-- adds `probe`, which records the lifecycle stage it sees on each purchase.
--   bash tests/lua/run.sh build/cxhost tests/lua/test_lifecycle_config.lua

local DAY = 86400
local eq, facts = cx.test.eq, cx.test.facts
local suite = cx.test.suite("lifecycle config")

local function stage_at(customer, as_of)
  cx.refresh(as_of)
  return facts(customer, "lifecycle").stage
end

local R0 = assert(cx.time.parse("2021-05-01"))

suite:case("the client's plugins are loaded, in order", function()
  local names = {}
  for _, p in ipairs(cx.plugins()) do
    names[#names + 1] = p.name .. ":" .. p.origin
  end
  eq(table.concat(names, ","), "lifecycle:built-in,probe:client,sense:built-in,feel:built-in,think:built-in,"
    .. "act:built-in,relate:built-in,loyalty:built-in,refund:built-in,campaigns:built-in", "cx.plugins()")
end)

suite:case("a purchase: lifecycle runs before probe", function()
  eq(cx.ingest { id = "r-1", type = "purchase", customer = "rita", at = R0, amount = "10.00" }, "inserted", "result")
  eq(facts("rita", "lifecycle").stage, "new", "stage")
  eq(facts("rita", "probe").seen_stage, "new", "stage seen by probe (order 20 after lifecycle's 10)")
end)

suite:case("probe's events filter: a visit reaches lifecycle only", function()
  cx.ingest { id = "v-1", type = "visit", customer = "vic", at = R0 }
  eq(facts("vic", "lifecycle").stage, "prospect", "lifecycle stage")
  eq(facts("vic", "probe").seen_stage, nil, "probe fact")
end)

suite:case("lapsed_days = 200 from config.lua", function()
  eq(stage_at("rita", R0 + 179 * DAY), "active", "179 days")
  eq(stage_at("rita", R0 + 180 * DAY), "lapsing", "180 days (lapsing_days, unchanged)")
  eq(stage_at("rita", R0 + 199 * DAY), "lapsing", "199 days")
  eq(stage_at("rita", R0 + 200 * DAY), "lapsed", "200 days (lapsed_days from config.lua)")
  eq(stage_at("rita", R0 + 300 * DAY), "lapsed", "300 days (lapsing with the default 365)")
end)

suite:finish()
