-- experience: what Schmitt's five experience modules (the plugins sense,
-- feel, think, act and relate) share, and how their results are read.
--
-- Plugins and scripts find it as cx.experience. The model, every formula and
-- every setting are explained in docs/experience.md; in short:
--
--   An observation is a value from 0 to 100 with a weight, at a time: a
--   survey rating of 1 to 7 becomes 0 to 100, an engagement (a visit, a
--   demo, a referral) is 100, a complaint is 0.
--
--   A customer's score in a module, as of a time T, is the weighted mean of
--   their observations and of a prior (where every customer starts, and what
--   they drift back to when nothing new happens), each observation's weight
--   halving every half_life_days before T:
--
--       score(T) = (sum of w * d * v  +  prior * prior_weight)
--                / (sum of w * d      +  prior_weight),    d = 2 ^ -((T - t) / half_life)
--
--   Moments that share an episode (a visit, one stage of a journey) count as
--   one observation whose value is the mean of the episode's peak (its most
--   intense moment: farthest from the neutral 50) and its end (its latest
--   moment): the peak-end rule. Its weight is the largest of its moments'.
--
--   The sums are kept up to date as events arrive (two numbers per customer
--   and module, brought forward in time by the decay), so no event is ever
--   read twice.
--
--   At a touchpoint, every observation also goes into the client's running
--   cell for (module, touchpoint), the experience grid: there a cell's score is
--   the recency-weighted mean of its observations, with no prior. NPS and
--   CSAT answers are counted per touchpoint the same way, undecayed.

local DAY = 86400
local NEUTRAL = 50
local MODULES = { "sense", "feel", "think", "act", "relate" }
local STAGES = { "before", "during", "after", "unstaged" }

local M = {}

M.modules = MODULES
M.stages = STAGES

-- How much weight is left of an observation made at `from`, seen from `to`.
local function decay(from, to, half_life_days)
  if half_life_days <= 0 or from == to then
    return 1.0
  end
  return 2.0 ^ (-math.abs(to - from) / (half_life_days * DAY))
end
M.decay = decay

local function round1(x)
  return x and math.floor(x * 10 + 0.5) / 10
end
M.round1 = round1

-- A rating of `low` to `high` (1 to 7 agreement) on the 0 to 100 scale.
function M.scale(rating, low, high)
  return (rating - low) / (high - low) * 100
end

-- The number in the event's data field `field`, checked to lie in low..high;
-- nil when the event has none. Text that holds a number (from CSV) is read as
-- the number.
function M.rating(ev, field, low, high)
  local raw = ev.data[field]
  if raw == nil then
    return nil
  end
  local n = tonumber(raw)
  if not n or n < low or n > high then
    error(("%s '%s': data.%s must be a number from %s to %s, not %s"):format(
      ev.type, ev.id, field, low, high, tostring(raw)), 0)
  end
  return n
end

-- Checks a module's settings (its defaults with the client's config.lua over
-- them), so that a wrong value stops the client's plugins from loading with a
-- message naming it, instead of skewing every score.
function M.check_settings(module, settings)
  local function check(name, value, low, high)
    if type(value) ~= "number" or value ~= value or value < low or value > high then
      error(("config.lua: %s.%s must be a number from %s to %s, not %s"):format(
        module, name, low, high, tostring(value)), 0)
    end
  end
  check("half_life_days", settings.half_life_days, 0, 36500)
  check("prior", settings.prior, 0, 100)
  check("prior_weight", settings.prior_weight, 0, 1000000)
  for kind, weight in pairs(settings.types) do
    check("types." .. tostring(kind), weight, 0, 1000000)
  end
end

-- The event types a module's settings give a weight to, for ctx.listen.
function M.types(settings)
  local list = {}
  for kind, weight in pairs(settings.types) do
    if weight > 0 then
      list[#list + 1] = kind
    end
  end
  table.sort(list)
  return list
end

-- A customer's score from their facts in a module, as of time `as_of`, with
-- the module's settings; nil when there is no evidence at all.
function M.score(facts, as_of, settings)
  local weight_sum = facts.weight_sum
  if not weight_sum then
    return nil
  end
  local d = as_of > facts.as_of and decay(facts.as_of, as_of, settings.half_life_days) or 1.0
  local w = weight_sum * d + settings.prior_weight
  if w <= 0 then
    return nil
  end
  local score = (facts.value_sum * d + settings.prior * settings.prior_weight) / w
  return math.max(0, math.min(100, score))
end

-- Records one observation of `module` (the calling plugin's own) made by
-- event ev: value 0..100, weight > 0, and the episode it belongs to (or nil).
-- It goes into the touchpoint's cell, and into the customer's running sums
-- (the plugin's facts: value_sum, weight_sum, as_of, observations, and
-- the open episode's episode, episode_peak, episode_end, episode_value,
-- episode_weight, episode_at, episode_moments).
-- ctx.cell_add's options for a half-life, made once for each (not a new
-- table for every observation).
local cell_options = {}

function M.observe(ctx, module, ev, value, weight, episode)
  local settings = ctx.config
  local h = settings.half_life_days
  if ev.touchpoint then
    local options = cell_options[h]
    if not options then
      options = { half_life_days = h }
      cell_options[h] = options
    end
    ctx.cell_add(module, ev.touchpoint, value, weight, options)
  end
  local who = ev.customer
  if not who then
    return
  end
  local f = ctx.facts(who)
  local t = ev.at
  local sum, wsum, as_of = f.value_sum or 0.0, f.weight_sum or 0.0, f.as_of or t
  if t > as_of then -- bring the sums forward to this observation
    local d = decay(as_of, t, h)
    sum, wsum, as_of = sum * d, wsum * d, t
  end
  if episode ~= nil and f.episode == episode then
    -- A further moment of the open episode: the episode is re-remembered,
    -- its old contribution taken out and its new one put in.
    local d = decay(f.episode_at, as_of, h)
    sum = sum - f.episode_weight * f.episode_value * d
    wsum = wsum - f.episode_weight * d
    if math.abs(value - NEUTRAL) > math.abs(f.episode_peak - NEUTRAL) then
      f.episode_peak = value
    end
    if t >= f.episode_at then
      f.episode_end, f.episode_at = value, t
    end
    f.episode_weight = math.max(f.episode_weight, weight)
    f.episode_value = (f.episode_peak + f.episode_end) / 2
    f.episode_moments = f.episode_moments + 1
    d = decay(f.episode_at, as_of, h)
    sum = sum + f.episode_weight * f.episode_value * d
    wsum = wsum + f.episode_weight * d
  else
    local d = decay(t, as_of, h)
    sum = sum + weight * value * d
    wsum = wsum + weight * d
    if episode ~= nil then
      f.episode, f.episode_peak, f.episode_end, f.episode_value = episode, value, value, value
      f.episode_weight, f.episode_at, f.episode_moments = weight, t, 1
    end
  end
  if wsum < 1e-9 then -- what rounding leaves after taking an episode back
    sum, wsum = 0.0, 0.0
  end
  f.value_sum, f.weight_sum, f.as_of = sum, wsum, as_of
  f.observations = (f.observations or 0) + 1
  -- f is the customer's facts table itself: what it holds is kept, with this
  -- event as its origin, without ctx.facts_set (docs/plugins.md).
end

-- Observes event ev in `module` the plain way: with the weight the module's
-- settings give its type, as the event's rating for the module (data.<module>,
-- 1 to 7) when it has one, else as a full-intensity moment (100); a survey
-- without that rating is not an observation.
function M.observe_event(ctx, module, ev)
  local rating = M.rating(ev, module, 1, 7)
  if rating or ev.type ~= "survey" then
    M.observe(ctx, module, ev, rating and M.scale(rating, 1, 7) or 100, ctx.config.types[ev.type],
      ev.episode)
  end
end

-- --- reading ------------------------------------------------------------------

-- The settings of each loaded module plugin, by module name.
local function module_settings()
  local out = {}
  for _, p in ipairs(cx.plugins()) do
    for _, m in ipairs(MODULES) do
      if p.name == m then
        out[m] = p.config
      end
    end
  end
  return out
end

-- as_of, or the time of the client's latest event. The sums hold every
-- event imported, so a time before the latest one is refused.
local function when(as_of, fn)
  local latest = cx.query("SELECT COALESCE(MAX(at), 0) AS t FROM events WHERE type <> 'campaign'")[1].t
  if as_of == nil then
    return latest
  end
  if type(as_of) == "string" then
    local t, why = cx.time.parse(as_of)
    if not t then
      error(("cx.experience.%s: '%s' is not a valid time (%s)"):format(fn, as_of, why), 3)
    end
    as_of = t
  end
  if math.type(as_of) ~= "integer" then
    error(("cx.experience.%s: as_of must be a time (Unix seconds or text such as \"2025-06-30\"), not %s"):format(
      fn, tostring(as_of)), 3)
  end
  if as_of < latest then
    error(("cx.experience.%s: as of %s is before the latest event (%s); scores hold every event "
      .. "imported, so give a later time"):format(fn, cx.time.iso(as_of), cx.time.iso(latest)), 3)
  end
  return as_of
end

-- cx.experience.profile(customer [, as_of]): one customer's five scores as
-- of as_of (default: the latest event's time), with their last NPS and CSAT
-- answers; nil for an unknown customer.
function M.profile(customer, as_of)
  as_of = when(as_of, "profile")
  local c = cx.customer(customer)
  if not c then
    return nil
  end
  local settings = module_settings()
  local out = { customer = customer, as_of = as_of, modules = {} }
  for _, m in ipairs(MODULES) do
    local f, s = c.facts[m], settings[m]
    if f and s and f.weight_sum then
      out.modules[m] = { score = round1(M.score(f, as_of, s)), observations = f.observations,
                         last_at = f.as_of }
    end
  end
  local feel = c.facts.feel
  if feel then
    out.nps, out.csat = feel.nps, feel.csat
  end
  return out
end

local stage_order = { before = 1, during = 2, after = 3 }

-- The cells of the store, each with its touchpoint's name, stage, provider.
local function cells(measures)
  return cx.query(([[
    SELECT c.measure, c.touchpoint_id, t.name AS touchpoint, t.stage, t.provider, c.value_sum,
           c.weight_sum, c.as_of, c.half_life, c.observations, c.high, c.low
    FROM experience_cells c LEFT JOIN touchpoints t ON t.id = c.touchpoint_id
    WHERE c.measure IN (%s)]]):format(measures))
end

-- cx.experience.grid(): the experience grid, one row per touchpoint (in
-- lifecycle order, then by name) with a cell per module observed there:
-- { touchpoint, stage, provider, cells = { feel = { score, observations } } }.
function M.grid()
  local rows, by_name = {}, {}
  for _, c in ipairs(cells("'sense', 'feel', 'think', 'act', 'relate'")) do
    if c.touchpoint then
      local row = by_name[c.touchpoint]
      if not row then
        row = { touchpoint = c.touchpoint, stage = c.stage, provider = c.provider, cells = {} }
        by_name[c.touchpoint] = row
        rows[#rows + 1] = row
      end
      row.cells[c.measure] = { score = round1(c.value_sum / c.weight_sum), observations = c.observations }
    end
  end
  table.sort(rows, function(a, b)
    local sa, sb = stage_order[a.stage] or 4, stage_order[b.stage] or 4
    if sa ~= sb then
      return sa < sb
    end
    return a.touchpoint < b.touchpoint
  end)
  return rows
end

local function median(sorted)
  local n = #sorted
  if n == 0 then
    return nil
  end
  if n % 2 == 1 then
    return sorted[(n + 1) // 2]
  end
  return (sorted[n // 2] + sorted[n // 2 + 1]) / 2
end

-- cx.experience.summary([as_of]): the client's profile. See docs/experience.md
-- for the shape: customers, modules (mean, median, distribution of the
-- customers' scores), stages (the cells of each lifecycle stage's
-- touchpoints, combined), nps and csat (overall and per stage).
function M.summary(as_of)
  as_of = when(as_of, "summary")
  local settings = module_settings()
  local out = { as_of = as_of, modules = {}, stages = {}, nps = {}, csat = {} }
  out.customers = cx.query([[
    SELECT COUNT(DISTINCT customer_id) AS n FROM customer_state
    WHERE plugin IN ('sense', 'feel', 'think', 'act', 'relate')
      AND json_extract(facts, '$.weight_sum') IS NOT NULL]])[1].n
  for _, m in ipairs(MODULES) do
    local s = settings[m]
    local scores = {}
    if s then
      for _, row in ipairs(cx.query("SELECT facts FROM customer_state WHERE plugin = ?1", m)) do
        local score = M.score(cx.json.decode(row.facts), as_of, s)
        if score then
          scores[#scores + 1] = score
        end
      end
    end
    if #scores > 0 then
      table.sort(scores)
      local total, buckets = 0, { 0, 0, 0, 0, 0 }
      for _, x in ipairs(scores) do
        total = total + x
        local b = math.min(5, math.floor(x / 20) + 1)
        buckets[b] = buckets[b] + 1
      end
      out.modules[m] = { customers = #scores, mean = round1(total / #scores), median = round1(median(scores)),
                         distribution = buckets }
    end
  end

  -- The cells of a stage's touchpoints, combined at the latest cell's time.
  local sums = {}
  local function cell_sums(key, measure)
    sums[key] = sums[key] or {}
    sums[key][measure] = sums[key][measure] or { v = 0.0, w = 0.0, n = 0, high = 0, low = 0, cells = {} }
    return sums[key][measure]
  end
  for _, c in ipairs(cells("'sense', 'feel', 'think', 'act', 'relate', 'nps', 'csat'")) do
    local stage = c.stage or "unstaged"
    for _, key in ipairs({ stage, "overall" }) do
      local t = cell_sums(key, c.measure)
      t.n, t.high, t.low = t.n + c.observations, t.high + c.high, t.low + c.low
      t.cells[#t.cells + 1] = c
    end
  end
  for key, measures in pairs(sums) do
    for measure, t in pairs(measures) do
      local latest = 0
      for _, c in ipairs(t.cells) do
        latest = math.max(latest, c.as_of)
      end
      for _, c in ipairs(t.cells) do
        local d = decay(c.as_of, latest, c.half_life / DAY)
        t.v, t.w = t.v + c.value_sum * d, t.w + c.weight_sum * d
      end
      if measure == "nps" then
        out.nps[key] = { score = round1(100 * (t.high - t.low) / t.n), answers = t.n, promoters = t.high,
                         passives = t.n - t.high - t.low, detractors = t.low }
      elseif measure == "csat" then
        out.csat[key] = { mean = math.floor(t.v / t.w * 100 + 0.5) / 100, answers = t.n, satisfied = t.high,
                          dissatisfied = t.low }
      elseif key ~= "overall" then
        out.stages[key] = out.stages[key] or {}
        out.stages[key][measure] = { score = round1(t.v / t.w), observations = t.n }
      end
    end
  end
  return out
end

return M
