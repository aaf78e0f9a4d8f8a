-- test_experience.lua: the five experience modules with their default
-- settings, driven through cx.ingest and checked through cx.experience,
-- cx.customer and cx.query. Every expected number is worked out by hand
-- from the formulas in plugins/lib/experience.lua (docs/experience.md):
--   observation: a 1-7 rating r is (r - 1) / 6 * 100; an engaged moment 100
--   score(T) = (sum w*d*v + prior*prior_weight) / (sum w*d + prior_weight),
--              d = 2 ^ -((T - t) / half_life)
--   an episode counts once, as (peak + end) / 2
-- Defaults used: act half_life 30 days, prior 0, prior_weight 3, visit 1,
-- purchase 1; feel half_life 90, prior 50, prior_weight 1, survey 2,
-- complaint 2 (times severity), compliment 1; sense audit 1.
--   bash tests/lua/run.sh build/cxhost tests/lua/test_experience.lua

local DAY = 86400
local eq, near, t, facts = cx.test.eq, cx.test.near, cx.test.time, cx.test.facts
local suite = cx.test.suite("experience")

local function settings(plugin)
  for _, p in ipairs(cx.plugins()) do
    if p.name == plugin then
      return p.config
    end
  end
  error("no plugin " .. plugin)
end

local function ingest(ev)
  eq(cx.ingest(ev), "inserted", "ingest " .. ev.id)
end

local T0 = t("2025-01-01T08:00:00Z")

suite:case("the five modules are loaded after lifecycle, with their defaults", function()
  local names = {}
  for _, p in ipairs(cx.plugins()) do
    names[#names + 1] = p.name
  end
  eq(table.concat(names, " "), "lifecycle sense feel think act relate loyalty refund campaigns", "plugins")
  eq(settings("act").half_life_days, 30, "act half-life")
  eq(settings("feel").types.complaint, 2, "feel's complaint weight")
end)

suite:case("one engaged moment: 25 at once, 14.3 one half-life later", function()
  -- act: v = 100, w = 1, prior 0, prior_weight 3.
  ingest { id = "d-1", type = "visit", customer = "dora", at = T0 }
  local f = facts("dora", "act")
  eq(f.observations, 1, "observations")
  near(f.value_sum, 100, "value_sum")
  near(f.weight_sum, 1, "weight_sum")
  eq(f.as_of, T0, "as_of")
  -- At once: 100 * 1 / (1 + 3) = 25.
  near(cx.experience.score(f, T0, settings("act")), 25, "score at once")
  -- One half-life (30 days) on, d = 1/2: 50 / (0.5 + 3) = 14.2857...
  near(cx.experience.score(f, T0 + 30 * DAY, settings("act")), 100 / 7, "score after one half-life")
  -- Two: 25 / (0.25 + 3) = 7.6923...
  near(cx.experience.score(f, T0 + 60 * DAY, settings("act")), 25 / 3.25, "score after two")
end)

suite:case("sums are kept incrementally, equal to the sum over all observations", function()
  -- Three visits of ed, 10 and 25 days apart: value_sum must equal
  -- sum 100 * 2^-((T - t) / 30 days) over them, T the last visit.
  local times = { T0, T0 + 10 * DAY, T0 + 35 * DAY }
  for i, at in ipairs(times) do
    ingest { id = "e-" .. i, type = "visit", customer = "ed", at = at }
  end
  local want_w = 0
  for _, at in ipairs(times) do
    want_w = want_w + 2 ^ (-(times[3] - at) / (30 * DAY))
  end
  local f = facts("ed", "act")
  near(f.weight_sum, want_w, "weight_sum")
  near(f.value_sum, 100 * want_w, "value_sum")
  eq(f.as_of, times[3], "as_of is the latest observation")
  eq(f.observations, 3, "observations")
  -- An older observation arriving late counts at its decayed weight.
  ingest { id = "e-0", type = "visit", customer = "ed", at = T0 - 30 * DAY }
  f = facts("ed", "act")
  near(f.weight_sum, want_w + 2 ^ (-65 / 30), "weight_sum after a late, older visit")
  eq(f.as_of, times[3], "as_of stays")
end)

suite:case("peak-end: a three-moment episode is remembered by its peak and its end", function()
  -- feel ratings 5, 1, 6 in one visit V1, a minute apart: 66.67, 0, 83.33.
  -- Peak: 0 (farthest from 50); end: 83.33; the episode: 41.67 (the plain
  -- mean would be 50), weight 2.
  local at = T0 + 40 * DAY
  ingest { id = "f-1", type = "survey", customer = "fay", at = at, data = { feel = 5, episode = "V1" } }
  ingest { id = "f-2", type = "survey", customer = "fay", at = at + 60, data = { feel = 1, episode = "V1" } }
  ingest { id = "f-3", type = "survey", customer = "fay", at = at + 120, data = { feel = 6, episode = "V1" } }
  local f = facts("fay", "feel")
  eq(f.episode, "V1", "episode")
  eq(f.episode_moments, 3, "moments")
  near(f.episode_peak, 0, "peak")
  near(f.episode_end, 500 / 6, "end")
  near(f.episode_value, 250 / 6, "remembered value")
  eq(f.observations, 3, "observations")
  near(f.weight_sum, 2, "one episode's weight, not three", 1e-4)
  -- score = (41.67 * 2 + 50 * 1) / (2 + 1) = 44.44
  near(cx.experience.score(f, at + 120, settings("feel")), (500 / 6 + 50) / 3, "score", 1e-3)
  -- A moment of a new episode counts on its own: rating 7 (100) in V2.
  ingest { id = "f-4", type = "survey", customer = "fay", at = at + 180, data = { feel = 7, episode = "V2" } }
  f = facts("fay", "feel")
  eq(f.episode, "V2", "the new episode is the open one")
  near(f.weight_sum, 4, "two episodes", 1e-4)
  near(cx.experience.score(f, at + 180, settings("feel")), (500 / 6 + 200 + 50) / 5, "score", 1e-3)
end)

suite:case("complaints weigh their severity, compliments count as 100", function()
  -- gus: a complaint of severity 3 (v 0, w 2 * 3 = 6) and a compliment (v 100, w 1)
  -- at the same moment: (0 + 100 + 50) / (6 + 1 + 1) = 18.75.
  local at = T0 + 41 * DAY
  ingest { id = "g-1", type = "complaint", customer = "gus", at = at, data = { severity = 3 } }
  ingest { id = "g-2", type = "compliment", customer = "gus", at = at }
  near(cx.experience.score(facts("gus", "feel"), at, settings("feel")), 18.75, "feel score")
end)

suite:case("a repeat purchase is an act observation, a first one is not", function()
  local at = T0 + 42 * DAY
  ingest { id = "h-1", type = "purchase", customer = "hal", at = at, amount = "5.00" }
  local f = facts("hal", "act")
  eq(f.purchases, 1, "purchases")
  eq(f.observations, nil, "no observation for a first purchase")
  ingest { id = "h-2", type = "purchase", customer = "hal", at = at + DAY, amount = "5.00" }
  f = facts("hal", "act")
  eq(f.purchases, 2, "purchases")
  eq(f.observations, 1, "the repeat is observed")
end)

suite:case("a visit and its purchase in one episode count once", function()
  local at = T0 + 43 * DAY
  ingest { id = "i-0", type = "purchase", customer = "ivy", at = at - DAY, amount = "1.00" }
  ingest { id = "i-1", type = "visit", customer = "ivy", at = at, data = { episode = "V9" } }
  ingest { id = "i-2", type = "purchase", customer = "ivy", at = at + 300, amount = "3.00", data = { episode = "V9" } }
  local f = facts("ivy", "act")
  eq(f.observations, 2, "two moments")
  near(f.weight_sum, 1, "one episode of weight 1", 1e-4)
end)

suite:case("NPS and CSAT of known answers; the experience grid", function()
  -- NPS 10, 10, 9, 8, 6 at the app: 3 promoters, 1 passive, 1 detractor:
  -- (3 - 1) / 5 = +40. CSAT 5, 4, 2: mean 3.67, 2 satisfied, 1 dissatisfied.
  local at = T0 + 44 * DAY
  local answers = { { 10, 5 }, { 10, 4 }, { 9, 2 }, { 8 }, { 6 } }
  for i, a in ipairs(answers) do
    ingest { id = "n-" .. i, type = "survey", customer = "n" .. i, at = at + i, touchpoint = "app",
             data = { nps = a[1], csat = a[2] } }
  end
  local s = cx.experience.summary()
  local nps = s.nps.overall
  eq(nps.answers, 5, "answers")
  eq(nps.promoters, 3, "promoters")
  eq(nps.passives, 1, "passives")
  eq(nps.detractors, 1, "detractors")
  near(nps.score, 40, "NPS")
  eq(s.nps.unstaged.answers, 5, "the app has no stage: unstaged")
  eq(s.csat.overall.answers, 3, "CSAT answers")
  near(s.csat.overall.mean, 3.67, "CSAT mean (two decimals)")
  eq(s.csat.overall.satisfied, 2, "satisfied")
  eq(s.csat.overall.dissatisfied, 1, "dissatisfied")
  eq(facts("n1", "feel").nps, 10, "a customer's last NPS answer")
  -- An audit at the counter: sight 7 (100), sound 1 (0): the sense cell holds
  -- two observations, mean 50; audits have no customer.
  ingest { id = "a-1", type = "audit", at = at + 10, touchpoint = "counter", data = { sight = 7, sound = 1 } }
  local grid = cx.experience.grid()
  local counter
  for _, row in ipairs(grid) do
    if row.touchpoint == "counter" then
      counter = row
    end
  end
  assert(counter, "the counter is in the grid")
  eq(counter.cells.sense.observations, 2, "sense observations at the counter")
  near(counter.cells.sense.score, 50, "sense score at the counter")
  eq(counter.cells.feel, nil, "nothing felt at the counter")
end)

suite:case("the client profile: mean, median and distribution of customers' scores", function()
  local s = cx.experience.summary()
  local act = s.modules.act
  assert(act, "act has customers")
  local n = 0
  for _, count in ipairs(act.distribution) do
    n = n + count
  end
  eq(n, act.customers, "the distribution counts every customer")
  -- The act customers are dora, ed, hal (after a repeat) and ivy.
  eq(act.customers, 4, "customers with an act score")
end)

suite:case("cx.experience.profile", function()
  local p = cx.experience.profile("fay")
  eq(p.customer, "fay", "customer")
  eq(p.modules.feel.observations, 4, "feel observations")
  eq(p.modules.act, nil, "no act observations")
  eq(cx.experience.profile("nobody"), nil, "unknown customer")
  local ok, err = pcall(cx.experience.profile, "fay", T0)
  assert(not ok and tostring(err):find("before the latest event", 1, true), "as_of in the past: " .. tostring(err))
end)

suite:case("a bad rating stops the event, naming the field", function()
  local ok, err = pcall(cx.ingest, { id = "b-1", type = "survey", customer = "bo", at = T0 + 50 * DAY,
                                     data = { feel = 9 } })
  assert(not ok, "a feel rating of 9 is refused")
  assert(tostring(err):find("survey 'b-1': data.feel must be a number from 1 to 7, not 9", 1, true), tostring(err))
  eq(cx.query("SELECT COUNT(*) AS n FROM events WHERE external_id = 'b-1'")[1].n, 0, "the event is not stored")
end)

suite:finish()
