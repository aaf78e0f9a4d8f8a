-- test_experience_config.lua: a client's config.lua changing the experience
-- modules' settings (test_experience_config.d/config.lua): complaint weight
-- 4 instead of 2, think listening to a new type (webinar, 1.5) and not to
-- content, act's half-life 10 days; and touchpoints with lifecycle stages.
--   bash tests/lua/run.sh build/cxhost tests/lua/test_experience_config.lua

local DAY = 86400
local eq, near, facts = cx.test.eq, cx.test.near, cx.test.facts
local settings = cx.loyalty.plugin_config -- a loaded plugin's settings (nil for none)
local suite = cx.test.suite("experience config")

local T0 = cx.time.parse("2025-03-01T09:00:00Z")

suite:case("map settings are merged entry by entry", function()
  local types = settings("feel").types
  eq(types.complaint, 4, "the client's complaint weight")
  eq(types.compliment, 1, "the default compliment weight stays")
  eq(types.survey, 2, "the default survey weight stays")
  eq(settings("think").types.webinar, 1.5, "a new type")
  eq(settings("think").types.content, 0, "a type switched off")
  eq(settings("act").half_life_days, 10, "a plain setting")
  eq(settings("act").prior_weight, 3, "the default beside it")
end)

suite:case("a heavier complaint weight lowers the score as computed", function()
  -- A complaint of severity 2: v 0, w 4 * 2 = 8 (default 2 * 2 = 4);
  -- feel prior 50, prior_weight 1: 50 / (8 + 1) = 5.556 (default: 10).
  cx.ingest { id = "c-1", type = "complaint", customer = "cal", at = T0, data = { severity = 2 } }
  local f = facts("cal", "feel")
  near(f.weight_sum, 8, "weight")
  near(cx.experience.score(f, T0, settings("feel")), 50 / 9, "feel score")
end)

suite:case("think listens to the client's new type, and no longer to content", function()
  cx.ingest { id = "w-1", type = "webinar", customer = "wes", at = T0 + 1 }
  cx.ingest { id = "w-2", type = "content", customer = "wes", at = T0 + 2 }
  local f = facts("wes", "think")
  eq(f.observations, 1, "the webinar only")
  near(f.weight_sum, 1.5, "webinar weight")
  -- 100 * 1.5 / (1.5 + 3) = 33.33
  near(cx.experience.score(f, T0 + 1, settings("think")), 100 * 1.5 / 4.5, "think score")
end)

suite:case("act's half-life of 10 days", function()
  cx.ingest { id = "v-1", type = "visit", customer = "val", at = T0 + 3 }
  -- 10 days on: 50 / (0.5 + 3)
  near(cx.experience.score(facts("val", "act"), T0 + 3 + 10 * DAY, settings("act")), 50 / 3.5, "act score")
end)

suite:case("touchpoints get their stage and provider; NPS and cells by stage", function()
  local rows = cx.query("SELECT name, stage, provider FROM touchpoints WHERE name IN ('web', 'app', 'shop') ORDER BY name")
  eq(#rows, 3, "the configured touchpoints are in the store")
  eq(rows[1].name .. "/" .. rows[1].stage .. "/" .. rows[1].provider, "app/during/website", "app")
  eq(rows[3].name .. "/" .. rows[3].stage .. "/" .. rows[3].provider, "web/before/website", "web")
  -- Before: one promoter; during: one detractor and one passive.
  cx.ingest { id = "s-1", type = "survey", customer = "sam", at = T0 + 10, touchpoint = "web", data = { nps = 10 } }
  cx.ingest { id = "s-2", type = "survey", customer = "sue", at = T0 + 11, touchpoint = "app", data = { nps = 3 } }
  cx.ingest { id = "s-3", type = "survey", customer = "sid", at = T0 + 12, touchpoint = "shop", data = { nps = 7, feel = 7 } }
  local s = cx.experience.summary()
  near(s.nps.before.score, 100, "NPS before")
  eq(s.nps.before.answers, 1, "answers before")
  near(s.nps.during.score, -50, "NPS during: (0 - 1) / 2")
  eq(s.nps.during.answers, 2, "answers during")
  near(s.nps.overall.score, 0, "NPS overall: (1 - 1) / 3")
  eq(s.nps.after, nil, "no answers after")
  -- feel during: sue's NPS 3 at the app (30, w 1); sid's rating 7 (100, w 2)
  -- and NPS 7 (70, w 1) at the shop: (30 + 200 + 70) / 4 = 75, a second
  -- apart (the decay of a second is below the rounding to one decimal).
  local during = s.stages.during.feel
  eq(during.observations, 3, "feel observations during")
  near(during.score, 75, "feel during", 1e-9)
  eq(s.stages.before.feel.observations, 1, "sam's NPS before")
  local grid = cx.experience.grid()
  eq(grid[1].touchpoint, "web", "the grid starts before purchase")
  eq(grid[1].stage, "before", "its stage")
  eq(grid[1].provider, "website", "its provider")
end)

suite:finish()
