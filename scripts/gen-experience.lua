#!/usr/bin/env lua5.4
-- gen-experience.lua: a synthetic event stream for the experience modules
-- (Schmitt's sense, feel, think, act, relate), as NDJSON that
-- `cxhost import --format ndjson` reads. See docs/generator.md.
--
--   lua5.4 scripts/gen-experience.lua [--scenario coffee|property] [--seed N]
--       [--customers N] [--start YYYY-MM-DD] [--days N] [--config FILE] > events.ndjson
--
-- The output depends only on the options: the random numbers come from a
-- generator written here (xorshift64* seeded through splitmix64, on Lua's
-- 64-bit integers), never from math.random; every time is integer Unix
-- seconds turned into text by the calendar code below, never by os.date;
-- money is integer cents; no table is walked with pairs. The same options
-- give the same bytes on any machine with Lua 5.4.

local USAGE = [[
usage: lua5.4 scripts/gen-experience.lua [OPTIONS] > events.ndjson

Writes synthetic customer-experience events to standard output, one JSON
object a line, sorted by time, for `cxhost import --format ndjson`.

options:
  --scenario coffee|property  the client to simulate (default coffee)
  --seed N                    the random seed, a whole number (default 42)
  --customers N               how many customers (default 300 for coffee,
                              120 for property)
  --start YYYY-MM-DD          the first day, UTC (default 2025-01-01)
  --days N                    how many days (default 365)
  --config FILE               also write the scenario's touchpoints, as a
                              config.lua table, to FILE
  --help                      show this and exit

The same options give the same output, byte for byte, on any machine.
See docs/generator.md.]]

local MAX_CUSTOMERS = 100000
local MAX_DAYS = 3660

-- ---------------------------------------------------------------------------
-- Errors

local function usage_error(fmt, ...)
  io.stderr:write("gen-experience: ", string.format(fmt, ...), " (see --help)\n")
  os.exit(2)
end

local function fatal(fmt, ...)
  io.stderr:write("gen-experience: ", string.format(fmt, ...), "\n")
  os.exit(1)
end

-- ---------------------------------------------------------------------------
-- Random numbers: xorshift64* on 64-bit integers (Lua 5.4 integer arithmetic
-- wraps around and >> is a logical shift, so this is exact everywhere).

local function splitmix64(x)
  x = x + 0x9E3779B97F4A7C15
  x = (x ~ (x >> 30)) * 0xBF58476D1CE4E5B9
  x = (x ~ (x >> 27)) * 0x94D049BB133111EB
  return x ~ (x >> 31)
end

local Rng = {}
Rng.__index = Rng

-- A generator for one stream of one seed: each customer has a stream of its
-- own, so customer C0007 does the same whatever --customers says.
local function new_rng(seed, stream)
  local state = splitmix64(splitmix64(seed) ~ splitmix64(stream * 0x632BE59BD9B4E019))
  if state == 0 then
    state = 0x2545F4914F6CDD1D
  end
  return setmetatable({ state = state }, Rng)
end

function Rng:next()
  local x = self.state
  x = x ~ (x >> 12)
  x = x ~ (x << 25)
  x = x ~ (x >> 27)
  self.state = x
  return x * 0x2545F4914F6CDD1D
end

-- A whole number from lo to hi, both included.
function Rng:int(lo, hi)
  local n = hi - lo + 1
  return lo + (self:next() >> 11) % n
end

-- True with a chance of per_mille in 1000.
function Rng:chance(per_mille)
  return self:int(0, 999) < per_mille
end

function Rng:pick(list)
  return list[self:int(1, #list)]
end

-- Symmetric noise from -2w to 2w, most often near 0 (two uniform draws).
function Rng:noise(w)
  return self:int(-w, w) + self:int(-w, w)
end

-- ---------------------------------------------------------------------------
-- Calendar: days since 1970-01-01 <-> year, month, day (proleptic Gregorian).

local DAY = 86400
local MINUTE = 60
local CUM_DAYS = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 }

local function is_leap(y)
  return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
end

local function month_length(y, m)
  if m == 2 then
    return is_leap(y) and 29 or 28
  end
  return (m == 4 or m == 6 or m == 9 or m == 11) and 30 or 31
end

-- Leap years from year 1 to year y, included.
local function leaps_through(y)
  return y // 4 - y // 100 + y // 400
end

local function days_from_civil(y, m, d)
  local days = 365 * (y - 1970) + leaps_through(y - 1) - leaps_through(1969)
  days = days + CUM_DAYS[m] + d - 1
  if m > 2 and is_leap(y) then
    days = days + 1
  end
  return days
end

local function civil_from_days(z)
  local y = 1970 + z // 365 -- never too small; step back to the year
  while days_from_civil(y, 1, 1) > z do
    y = y - 1
  end
  local doy = z - days_from_civil(y, 1, 1)
  local m = 1
  while m < 12 and doy >= month_length(y, m) do
    doy = doy - month_length(y, m)
    m = m + 1
  end
  return y, m, doy + 1
end

local date_cache = {}

-- 2025-03-04T08:15:00Z for Unix seconds t.
local function iso_utc(t)
  local z, s = t // DAY, t % DAY
  local date = date_cache[z]
  if not date then
    date = string.format("%04d-%02d-%02d", civil_from_days(z))
    date_cache[z] = date
  end
  return string.format("%sT%02d:%02d:%02dZ", date, s // 3600, s // 60 % 60, s % 60)
end

-- ---------------------------------------------------------------------------
-- Events. Each is kept with its time and the order it was made in; at the
-- end they are sorted by (time, order), numbered, and written.

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then
      return '\\"'
    elseif c == "\\" then
      return "\\\\"
    end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function json_value(v)
  if math.type(v) == "integer" then
    return string.format("%d", v)
  end
  assert(type(v) == "string", "only whole numbers and texts are written")
  return json_string(v)
end

local function money(cents)
  assert(math.type(cents) == "integer" and cents >= 0)
  return string.format("%d.%02d", cents // 100, cents % 100)
end

local function clamp(x, lo, hi)
  if x < lo then
    return lo
  elseif x > hi then
    return hi
  end
  return x
end

-- A world: the window of days, the list of events, and counters shared by
-- all customers of a run.
local function new_world(opts)
  local w = {
    days = opts.days,
    t0 = opts.start_day * DAY,
    events = {},
    seq = 0,
    episodes = 0,
  }
  w.t_end = w.t0 + opts.days * DAY

  -- Unix seconds of minute `minute` of day d (d = 0 is the first day).
  function w.time(d, minute)
    return w.t0 + d * DAY + minute * MINUTE
  end

  -- Day of the week of day d: 0 Sunday .. 6 Saturday.
  function w.weekday(d)
    return (opts.start_day + d + 4) % 7
  end

  function w.weekend(d)
    local wd = w.weekday(d)
    return wd == 0 or wd == 6
  end

  -- A new episode id. It is provisional: the output numbers episodes again
  -- in the order they first appear (see main).
  function w.episode(prefix)
    w.episodes = w.episodes + 1
    return string.format("%s%d", prefix, w.episodes)
  end

  -- Records one event; fields is a list of name, value, name, value, ...
  -- Events outside the window are dropped.
  function w.emit(at, type_, customer, touchpoint, cents, fields)
    if at < w.t0 or at >= w.t_end then
      return false
    end
    local parts = { ',"type":', json_string(type_) }
    if customer then
      parts[#parts + 1] = ',"customer":' .. json_string(customer)
    end
    parts[#parts + 1] = ',"at":' .. json_string(iso_utc(at))
    parts[#parts + 1] = ',"touchpoint":' .. json_string(touchpoint)
    if cents then
      parts[#parts + 1] = ',"amount":' .. json_string(money(cents))
    end
    if fields then
      for i = 1, #fields, 2 do
        parts[#parts + 1] = "," .. json_string(fields[i]) .. ":" .. json_value(fields[i + 1])
      end
    end
    w.seq = w.seq + 1
    w.events[#w.events + 1] = { at = at, seq = w.seq, rest = table.concat(parts) .. "}" }
    return true
  end

  return w
end

-- ---------------------------------------------------------------------------
-- Ratings. A customer's latent satisfaction runs from -100 (furious) to 100
-- (delighted); ratings are drawn around it, so they agree with each other and
-- with complaints.

-- A 1..7 agreement rating for satisfaction s, shifted by bias (in
-- hundredths of a scale point).
local function rate7(r, s, bias)
  return clamp((400 + 3 * s + bias + r:noise(35) + 50) // 100, 1, 7)
end

local function nps_of(r, s)
  return clamp((530 + 5 * s + r:noise(55) + 50) // 100, 0, 10)
end

local function csat_of(r, s)
  return clamp((310 + 2 * s + r:noise(35) + 50) // 100, 1, 5)
end

local DIMENSIONS = { "sense", "feel", "think", "act", "relate" }

-- The fields of a survey: all five dimensions or a few of them, then maybe
-- nps and csat. bias(dim) gives each dimension's shift for this customer.
local function survey_fields(r, s, bias, nps_per_mille, csat_per_mille, fields)
  fields = fields or {}
  local mood = r:noise(10) -- shared by the answers of one survey
  local all = r:chance(400)
  local any = false
  for i, dim in ipairs(DIMENSIONS) do
    local last_chance = i == #DIMENSIONS and not any
    if all or last_chance or r:chance(450) then
      fields[#fields + 1] = dim
      fields[#fields + 1] = rate7(r, s + mood, bias(dim))
      any = true
    end
  end
  if r:chance(nps_per_mille) then
    fields[#fields + 1] = "nps"
    fields[#fields + 1] = nps_of(r, s + mood)
  end
  if r:chance(csat_per_mille) then
    fields[#fields + 1] = "csat"
    fields[#fields + 1] = csat_of(r, s + mood)
  end
  return fields
end

-- The rating of one moment of an episode: always feel, sometimes sense (and
-- think, where the moment is about learning something).
local function moment_fields(r, episode, q, with_sense, with_think)
  local fields = { "episode", episode }
  if with_sense then
    fields[#fields + 1] = "sense"
    fields[#fields + 1] = rate7(r, q, 40)
  end
  fields[#fields + 1] = "feel"
  fields[#fields + 1] = rate7(r, q, 0)
  if with_think then
    fields[#fields + 1] = "think"
    fields[#fields + 1] = rate7(r, q, 0)
  end
  return fields
end

local function severity_of(r, q)
  if q < -60 then
    return r:chance(600) and 3 or 2
  elseif q < -20 then
    return r:chance(600) and 2 or 1
  end
  return r:chance(850) and 1 or 2
end

-- A touchpoint audit: each sense as a 1..7 rating around its baseline (in
-- hundredths); senses is a list of name, baseline, name, baseline, ...
local function audit(w, r, at, touchpoint, senses)
  local fields = {}
  for i = 1, #senses, 2 do
    fields[#fields + 1] = senses[i]
    fields[#fields + 1] = clamp((senses[i + 1] + r:noise(45) + 50) // 100, 1, 7)
  end
  w.emit(at, "audit", nil, touchpoint, nil, fields)
end

-- ---------------------------------------------------------------------------
-- Scenario: a coffee chain.

local coffee = {
  name = "coffee",
  id_prefix = "coffee",
  default_customers = 300,
  stream = 1,
  touchpoints = {
    { "social", "before", "communications" },
    { "website", "before", "website" },
    { "app", "during", "website" },
    { "counter", "during", "people" },
    { "seating", "during", "spatial environment" },
    { "drive_thru", "during", "people" },
    { "loyalty_club", "after", "communications" },
    { "barista_class", "after", "people" },
  },
}

-- Prices in cents: espresso, filter, cappuccino, latte, flat white, chai,
-- croissant, muffin, cold brew, sandwich.
local MENU = { 250, 280, 360, 390, 380, 370, 290, 320, 420, 550 }

local function coffee_basket(r)
  local roll = r:int(0, 99)
  local want = roll < 55 and 1 or roll < 90 and 2 or 3
  local cents, items = 0, 0
  for _ = 1, want do
    local price = r:pick(MENU)
    if cents + price <= 1200 then
      cents = cents + price
      items = items + 1
    end
  end
  return cents, items
end

-- A seasonal drink is on trial for the first 21 days of each quarter
-- (counted from the first day of the run).
local function trial_season(d)
  return d % 91 < 21
end

-- Minute of the day of a visit.
local function coffee_minute(r, regular, weekend)
  local roll = r:int(0, 99)
  local morning = regular and 70 or 30
  if roll < morning then
    return weekend and r:int(9 * 60, 11 * 60 + 29) or r:int(7 * 60, 9 * 60 + 29)
  elseif roll < morning + (100 - morning) // 2 then
    return r:int(12 * 60, 13 * 60 + 59)
  end
  return r:int(15 * 60, 17 * 60 + 59)
end

function coffee.customer(w, r, index)
  local id = string.format("C%04d", index)
  local roll = r:int(0, 99)
  local kind = roll < 28 and "regular" or roll < 90 and "occasional" or "unhappy"
  local regular, unhappy = kind == "regular", kind == "unhappy"
  local days = w.days

  local sat, first, last, visit_rate
  if regular then
    sat = r:int(30, 95)
    first = r:int(0, days // 12)
    last = days
    visit_rate = r:int(350, 600)
  elseif unhappy then
    sat = r:int(-90, -30)
    first = r:int(0, days * 70 // 100)
    last = days
    visit_rate = r:int(60, 160)
  else
    sat = r:int(-20, 70)
    first = r:int(0, days * 85 // 100)
    last = first + r:int(20, days)
    visit_rate = r:int(20, 80)
  end
  local app_user = r:chance(regular and 700 or unhappy and 300 or 250)
  local drives = r:chance(200)
  local member = false
  local churned = false

  local function bias(dim)
    if dim == "sense" then
      return 30
    elseif dim == "think" then
      return -60
    elseif dim == "act" then
      return regular and 60 or -20
    elseif dim == "relate" then
      return member and 80 or -80
    end
    return 0
  end

  local function complain(at, touchpoint, severity, episode)
    w.emit(at, "complaint", id, touchpoint, nil,
      episode and { "severity", severity, "episode", episode } or { "severity", severity })
    sat = clamp(sat - 4 * severity, -100, 100)
    local churn = unhappy and 450 or regular and (severity == 3 and 200 or 0) or 60 * severity
    if r:chance(churn) then
      churned = true
    end
  end

  -- How they heard of the place.
  if not regular and r:chance(600) then
    local d = first - r:int(1, 14)
    w.emit(w.time(d, r:int(8 * 60, 22 * 60)), "content", id, r:chance(600) and "social" or "website")
  end

  local function visit(d)
    local weekend = w.weekend(d)
    local minute = coffee_minute(r, regular, weekend)
    local t = w.time(d, minute)
    local episode = w.episode("V")
    local drive = drives and r:chance(600)
    local place = drive and "drive_thru" or "counter"
    local rush = not weekend and minute >= 8 * 60 and minute < 9 * 60
    local q = sat + r:noise(12) - (rush and 12 or 0)

    -- The moments of the visit: where, and how good. One may be a peak.
    local moments = { { place = place, q = q, at = t + 2 * MINUTE } }
    local seated = not drive and r:chance(350)
    if seated then
      moments[2] = { place = "seating", q = q - 5 + r:noise(8), at = t + r:int(8, 40) * MINUTE }
    end
    local peak_roll = r:int(0, 999)
    local peak = peak_roll < 70 and r:int(35, 60) or peak_roll < 130 and -r:int(50, 90) or 0
    if peak ~= 0 then
      local m = moments[r:int(1, #moments)]
      m.q = m.q + peak
    end
    local worst, best = moments[1], moments[1]
    for _, m in ipairs(moments) do
      if m.q < worst.q then worst = m end
      if m.q > best.q then best = m end
    end

    if app_user and r:chance(500) then
      w.emit(t - r:int(3, 15) * MINUTE, "app_open", id, "app")
    end
    w.emit(t, "visit", id, place, nil, { "episode", episode })
    local walked_out = peak < 0 and worst.place == place and r:chance(300)
    if not walked_out then
      local cents, items = coffee_basket(r)
      local ordered_in_app = app_user and not drive and r:chance(450)
      w.emit(t + r:int(1, 4) * MINUTE, "purchase", id, ordered_in_app and "app" or place, cents,
        { "items", items, "episode", episode })
      if not drive and trial_season(d) and r:chance(200) then
        w.emit(t + 5 * MINUTE, "trial", id, "counter", nil, { "episode", episode })
      end
      if not drive and r:chance(20) then
        w.emit(t + 6 * MINUTE, "question", id, "counter", nil, { "episode", episode })
      end
      if not drive and r:chance(10) then
        w.emit(t + 7 * MINUTE, "demo", id, "counter", nil, { "episode", episode })
      end
    end
    if seated and not walked_out then
      w.emit(moments[2].at - MINUTE, "visit", id, "seating", nil, { "episode", episode })
    else
      moments[2] = nil
    end

    -- Rated moments, in the app afterwards: the last one is the end.
    if r:chance(app_user and 80 or 20) then
      for _, m in ipairs(moments) do
        w.emit(m.at + MINUTE, "survey", id, m.place, nil,
          moment_fields(r, episode, m.q, r:chance(500), false))
      end
    end

    local p = worst.q < -50 and 350 or worst.q < -20 and 150 or worst.q < 0 and 50 or worst.q < 30 and 15 or 4
    if walked_out then
      p = p + 200
    end
    if unhappy then
      p = p + 50
    end
    local end_t = moments[#moments].at + 3 * MINUTE
    if r:chance(p) then
      complain(end_t, worst.place, severity_of(r, worst.q), episode)
    elseif (best.q >= 80 and r:chance(120)) or (peak > 0 and r:chance(200)) then
      w.emit(end_t, "compliment", id, best.place, nil, { "episode", episode })
      sat = clamp(sat + 2, -100, 100)
    end

    -- Now and then a survey in the app about the brand as a whole.
    if app_user and r:chance(30) then
      w.emit(end_t + r:int(30, 240) * MINUTE, "survey", id, "app", nil,
        survey_fields(r, sat, bias, 700, 600))
    end
  end

  -- A barista class: an episode of its own.
  local function barista_class(d)
    local t = w.time(d, w.weekend(d) and 10 * 60 or 18 * 60 + 30)
    local episode = w.episode("V")
    local q = sat + 15 + r:noise(10)
    w.emit(t, "visit", id, "barista_class", nil, { "episode", episode })
    w.emit(t + 5 * MINUTE, "workshop", id, "barista_class", nil, { "episode", episode })
    w.emit(t + 50 * MINUTE, "demo", id, "barista_class", nil, { "episode", episode })
    if r:chance(300) then
      w.emit(t + 30 * MINUTE, "survey", id, "barista_class", nil, moment_fields(r, episode, q, true, true))
      w.emit(t + 80 * MINUTE, "survey", id, "barista_class", nil, moment_fields(r, episode, q + 10, false, true))
    end
    if r:chance(200) then
      w.emit(t + 90 * MINUTE, "compliment", id, "barista_class", nil, { "episode", episode })
    end
    sat = clamp(sat + 5, -100, 100)
  end

  for d = first, math.min(last, days) - 1 do
    if churned then
      break
    end
    if unhappy and r:chance(3) then
      churned = true
      break
    end
    local weekend = w.weekend(d)
    local rate = weekend and (regular and visit_rate // 2 or visit_rate + visit_rate // 2) or visit_rate
    if r:chance(rate) then
      visit(d)
    end
    -- Days without a visit still happen: social media, the app, the club.
    local evening = r:int(18 * 60, 22 * 60 + 59)
    if r:chance(regular and 25 or unhappy and 8 or 10) then
      w.emit(w.time(d, evening), "content", id, "social")
    end
    if sat > 30 and r:chance(member and 6 or regular and 3 or 1) then
      w.emit(w.time(d, evening + 1), "share", id, "social")
    end
    if sat > 20 and r:chance(member and 10 or 2) then
      w.emit(w.time(d, evening + 2), "community", id, "social")
    end
    if not regular and r:chance(4) then
      w.emit(w.time(d, evening + 3), "content", id, "website")
    end
    if r:chance(1) then
      w.emit(w.time(d, evening + 4), "question", id, "website")
    end
    if app_user then
      if r:chance(20) then
        w.emit(w.time(d, evening + 5), "app_open", id, "app")
      end
      if r:chance(1) then
        complain(w.time(d, evening + 6), "app", 1, nil)
      end
    end
    if not member and sat > 0 and r:chance(regular and 6 or unhappy and 0 or 1) then
      member = true
      w.emit(w.time(d, evening + 7), "club_join", id, "loyalty_club")
      sat = clamp(sat + 3, -100, 100)
    end
    if member and sat > 40 and r:chance(3) then
      w.emit(w.time(d, evening + 8), "referral", id, "loyalty_club")
    elseif not member and regular and sat > 60 and r:chance(1) then
      w.emit(w.time(d, evening + 8), "referral", id, "app")
    end
    if r:chance(member and 3 or regular and 1 or 0) and (weekend or w.weekday(d) == 3) then
      barista_class(d)
    end
  end
end

function coffee.audits(w, r)
  local function at(d)
    return w.time(d, r:int(10 * 60, 16 * 60))
  end
  local offset = r:int(0, 13)
  for d = offset, w.days - 1, 14 do
    audit(w, r, at(d), "counter", { "sight", 600, "sound", 480, "smell", 640, "taste", 590, "touch", 520 })
    -- Acoustic panels go up in the seating area halfway through the year.
    local sound = d < 180 and 330 or 520
    audit(w, r, at(d), "seating", { "sight", 540, "sound", sound, "smell", 560, "touch", 450 })
    audit(w, r, at(d), "drive_thru", { "sight", 430, "sound", 310, "taste", 560 })
  end
  for d = offset + 3, w.days - 1, 28 do
    audit(w, r, at(d), "app", { "sight", 580 })
    audit(w, r, at(d), "website", { "sight", 500 })
  end
end

-- ---------------------------------------------------------------------------
-- Scenario: a property developer selling flats off plan.

local property = {
  name = "property",
  id_prefix = "property",
  default_customers = 120,
  stream = 2,
  touchpoints = {
    { "website", "before", "website" },
    { "sales_office", "before", "people" },
    { "show_flat", "before", "spatial environment" },
    { "contract_signing", "during", "people" },
    { "handover", "after", "product presence" },
    { "after_sales", "after", "people" },
    { "community_events", "after", "co-branding" },
  },
}

-- Office hours, in minutes of the day.
local function office_minute(r)
  return r:int(10 * 60, 17 * 60)
end

-- An amount in whole hundreds from lo to hi (all in cents).
local function round_amount(r, lo, hi)
  return r:int(lo // 10000, hi // 10000) * 10000
end

function property.customer(w, r, index)
  local id = string.format("C%04d", index)
  local roll = r:int(0, 99)
  local kind = roll < 35 and "browser" or roll < 75 and "prospect" or "buyer"
  local days = w.days
  local sat, first
  if kind == "browser" then
    sat = r:int(-20, 70)
    first = r:int(0, days * 80 // 100)
  elseif kind == "prospect" then
    sat = r:int(-50, 80)
    first = r:int(0, days * 80 // 100)
  else
    sat = r:int(10, 90)
    first = r:int(0, days * 40 // 100)
  end
  local owner, member = false, false

  local function bias(dim)
    if dim == "sense" then
      return 40
    elseif dim == "think" then
      return 30
    elseif dim == "act" then
      return owner and 20 or -40
    elseif dim == "relate" then
      return member and 60 or owner and -20 or -90
    end
    return 0
  end

  local function complain(at, touchpoint, severity, episode)
    w.emit(at, "complaint", id, touchpoint, nil,
      episode and { "severity", severity, "episode", episode } or { "severity", severity })
    sat = clamp(sat - 5 * severity, -100, 100)
  end

  -- Reading the website: content, maybe a question.
  local d = first
  for _ = 1, r:int(1, 4) do
    w.emit(w.time(d, r:int(7 * 60, 23 * 60)), "content", id, "website")
    d = d + r:int(0, 6)
  end
  if r:chance(300) then
    w.emit(w.time(d, r:int(7 * 60, 23 * 60)), "question", id, "website")
  end
  if kind == "browser" then
    if r:chance(150) then
      w.emit(w.time(d, r:int(7 * 60, 23 * 60)), "survey", id, "website", nil,
        { "sense", rate7(r, sat, 40), "think", rate7(r, sat, 30), "nps", nps_of(r, sat) })
    end
    if sat > 30 and r:chance(100) then
      w.emit(w.time(d, r:int(7 * 60, 23 * 60)), "share", id, "website")
    end
    if sat < 0 and r:chance(100) then
      complain(w.time(d, r:int(7 * 60, 23 * 60)), "website", 1, nil)
    end
    return
  end

  -- At the sales office: an episode per visit.
  local function sales_office(day)
    local t = w.time(day, office_minute(r))
    local episode = w.episode("J")
    local q = sat + r:noise(12)
    w.emit(t, "visit", id, "sales_office", nil, { "episode", episode })
    local m = 10
    for _ = 1, r:int(1, 3) do
      w.emit(t + m * MINUTE, "question", id, "sales_office", nil, { "episode", episode })
      m = m + r:int(5, 20)
    end
    if r:chance(500) then
      w.emit(t + m * MINUTE, "demo", id, "sales_office", nil, { "episode", episode })
      m = m + 20
    end
    if r:chance(200) then
      w.emit(t + 2 * MINUTE, "survey", id, "sales_office", nil, moment_fields(r, episode, q + 10, true, false))
      w.emit(t + (m + 5) * MINUTE, "survey", id, "sales_office", nil, moment_fields(r, episode, q, false, true))
    end
    if q < -20 and r:chance(200) then
      complain(t + (m + 10) * MINUTE, "sales_office", severity_of(r, q), episode)
    end
    if r:chance(300) then
      w.emit(w.time(day + 1, r:int(9 * 60, 21 * 60)), "survey", id, "sales_office", nil,
        survey_fields(r, sat, bias, 800, 300))
    end
  end

  -- At the show flat: entrance, living room and kitchen, the view.
  local function show_flat(day)
    local t = w.time(day, office_minute(r))
    local episode = w.episode("J")
    local q = sat + r:noise(12)
    -- Building work next door spoils the view for the first months.
    local view = day < 200 and r:chance(400) and -r:int(40, 70) or r:int(25, 50)
    w.emit(t, "visit", id, "show_flat", nil, { "episode", episode })
    if r:chance(400) then
      w.emit(t + 15 * MINUTE, "demo", id, "show_flat", nil, { "episode", episode })
    end
    if r:chance(250) then
      w.emit(t + 3 * MINUTE, "survey", id, "show_flat", nil, moment_fields(r, episode, q, true, false))
      w.emit(t + 20 * MINUTE, "survey", id, "show_flat", nil, moment_fields(r, episode, q + 10, true, false))
      w.emit(t + 35 * MINUTE, "survey", id, "show_flat", nil, moment_fields(r, episode, q + view, true, false))
    end
    if view < 0 and r:chance(80) then
      complain(t + 40 * MINUTE, "show_flat", 1, episode)
    elseif q + view > 70 and r:chance(100) then
      w.emit(t + 40 * MINUTE, "compliment", id, "show_flat", nil, { "episode", episode })
    end
    if r:chance(80) then
      -- A trial weekend in the show flat, some days later.
      local td = day + r:int(5, 20)
      w.emit(w.time(td, 11 * 60), "trial", id, "show_flat")
    end
  end

  d = d + r:int(2, 20)
  local office_visits = r:int(1, 2)
  if kind == "prospect" and r:chance(300) then
    office_visits = office_visits - 1 -- straight to the show flat
  end
  for _ = 1, office_visits do
    sales_office(d)
    d = d + r:int(3, 15)
  end
  local flats = kind == "buyer" and r:int(1, 3) or r:int(0, 2)
  for _ = 1, flats do
    show_flat(d)
    d = d + r:int(3, 25)
  end
  if kind == "prospect" then
    return
  end

  -- The contract, with the deposit.
  local sign = d
  local t = w.time(sign, r:int(10 * 60, 15 * 60))
  local episode = w.episode("J")
  w.emit(t, "visit", id, "contract_signing", nil, { "episode", episode })
  if r:chance(500) then
    w.emit(t + 10 * MINUTE, "question", id, "contract_signing", nil, { "episode", episode })
  end
  w.emit(t + 30 * MINUTE, "purchase", id, "contract_signing", round_amount(r, 500000, 2000000),
    { "episode", episode })
  if r:chance(150) then
    w.emit(t + 45 * MINUTE, "compliment", id, "contract_signing", nil, { "episode", episode })
  elseif sat < 30 and r:chance(100) then
    complain(t + 45 * MINUTE, "contract_signing", 1, episode)
  end
  if r:chance(600) then
    w.emit(t + 120 * MINUTE, "survey", id, "contract_signing", nil, survey_fields(r, sat, bias, 800, 700))
  end

  -- Stage payments while the flat is built, then the handover.
  local handover = sign + r:int(100, 170)
  local pay = sign
  for _ = 1, r:int(1, 2) do
    pay = pay + r:int(30, 45)
    w.emit(w.time(pay, r:int(9 * 60, 12 * 60)), "purchase", id, "contract_signing",
      round_amount(r, 2000000, 8000000))
  end

  owner = true
  local bad = r:chance(300)
  local hq = sat + r:noise(10) - (bad and r:int(60, 100) or 0)
  t = w.time(handover, r:int(10 * 60, 15 * 60))
  episode = w.episode("J")
  w.emit(t, "visit", id, "handover", nil, { "episode", episode })
  w.emit(t + 5 * MINUTE, "purchase", id, "handover", round_amount(r, 2000000, 8000000), { "episode", episode })
  if r:chance(700) then
    -- The keys (a small ceremony), the walk through the flat, the snag list.
    w.emit(t + 15 * MINUTE, "survey", id, "handover", nil, moment_fields(r, episode, hq + 20, true, false))
    w.emit(t + 60 * MINUTE, "survey", id, "handover", nil, moment_fields(r, episode, hq, true, true))
    w.emit(t + 90 * MINUTE, "survey", id, "handover", nil,
      moment_fields(r, episode, bad and hq - 30 or hq + 5, false, false))
  end
  if bad and r:chance(500) then
    complain(t + 100 * MINUTE, "handover", r:int(2, 3), episode)
  elseif not bad and hq > 50 and r:chance(300) then
    w.emit(t + 100 * MINUTE, "compliment", id, "handover", nil, { "episode", episode })
  end
  sat = bad and math.min(sat, hq) or clamp(sat + 5, -100, 100)
  if r:chance(800) then
    w.emit(w.time(handover + 1, r:int(9 * 60, 21 * 60)), "survey", id, "handover", nil,
      survey_fields(r, sat, bias, 900, 800))
  end

  -- After sales: a bad handover brings complaints and repair visits.
  d = handover
  if bad then
    for i = 1, r:int(2, 5) do
      d = d + r:int(5, 40)
      local ct = w.time(d, r:int(8 * 60, 20 * 60))
      complain(ct, "after_sales", i == 1 and 3 or r:int(2, 3), nil)
      local rd = d + r:int(2, 10)
      local repair = w.episode("J")
      local rt = w.time(rd, r:int(9 * 60, 16 * 60))
      w.emit(rt, "visit", id, "after_sales", nil, { "episode", repair })
      local fixed = r:chance(600)
      if r:chance(400) then
        w.emit(rt + 90 * MINUTE, "survey", id, "after_sales", nil,
          moment_fields(r, repair, sat + (fixed and 30 or -10), false, false))
      end
      if fixed then
        sat = clamp(sat + 8, -100, 100)
      end
      d = rd
    end
  elseif r:chance(150) then
    d = d + r:int(10, 60)
    complain(w.time(d, r:int(8 * 60, 20 * 60)), "after_sales", 1, nil)
    local repair = w.episode("J")
    w.emit(w.time(d + r:int(2, 7), r:int(9 * 60, 16 * 60)), "visit", id, "after_sales", nil, { "episode", repair })
  end
  if r:chance(700) then
    w.emit(w.time(d + r:int(20, 40), r:int(9 * 60, 21 * 60)), "survey", id, "after_sales", nil,
      survey_fields(r, sat, bias, 900, 800))
  end

  -- Owners' life: referrals from happy owners, community events.
  if sat > 40 and r:chance(450) then
    w.emit(w.time(handover + r:int(20, 150), r:int(9 * 60, 21 * 60)), "referral", id, "after_sales")
  end
  local events_rate = sat > 30 and 650 or sat > 0 and 350 or 150
  if r:chance(events_rate) then
    local cd = handover + r:int(10, 40)
    while cd < days do
      local ct = w.time(cd, r:int(10 * 60, 19 * 60))
      w.emit(ct, "community", id, "community_events")
      if not member and r:chance(350) then
        member = true
        w.emit(ct + 30 * MINUTE, "club_join", id, "community_events")
      end
      if r:chance(250) then
        w.emit(ct + 40 * MINUTE, "workshop", id, "community_events")
      end
      if sat > 20 and r:chance(300) then
        w.emit(ct + 120 * MINUTE, "share", id, "community_events")
      end
      cd = cd + r:int(20, 60)
    end
  end
end

function property.audits(w, r)
  local function at(d)
    return w.time(d, r:int(10 * 60, 16 * 60))
  end
  local offset = r:int(0, 29)
  for d = offset, w.days - 1, 30 do
    audit(w, r, at(d), "sales_office", { "sight", 620, "sound", 550, "smell", 580, "touch", 600 })
    -- Building work next door is loud until day 200.
    audit(w, r, at(d), "show_flat", { "sight", 650, "sound", d < 200 and 400 or 560, "smell", 600, "touch", 620 })
    audit(w, r, at(d), "website", { "sight", 600 })
  end
  for d = offset + 10, w.days - 1, 60 do
    audit(w, r, at(d), "handover", { "sight", 520, "touch", 480 })
    audit(w, r, at(d), "community_events", { "sight", 560, "sound", 500 })
  end
end

local SCENARIOS = { coffee = coffee, property = property }

-- ---------------------------------------------------------------------------
-- Options.

local function parse_whole(option, text, lo, hi)
  if not text:match("^%d+$") or #text > 18 then
    usage_error("%s: '%s' is not a whole number", option, text)
  end
  local n = math.tointeger(tonumber(text))
  if n < lo or n > hi then
    usage_error("%s: %s is out of range (%d to %d)", option, text, lo, hi)
  end
  return n
end

local function parse_date(option, text)
  local y, m, d = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then
    usage_error("%s: '%s' is not a date YYYY-MM-DD", option, text)
  end
  y, m, d = math.tointeger(tonumber(y)), math.tointeger(tonumber(m)), math.tointeger(tonumber(d))
  if y < 1970 then
    usage_error("%s: '%s' is before 1970", option, text)
  elseif m < 1 or m > 12 then
    usage_error("%s: '%s' has no month %d", option, text, m)
  elseif d < 1 or d > month_length(y, m) then
    usage_error("%s: '%s' is not a day (%04d-%02d has %d days)", option, text, y, m, month_length(y, m))
  end
  return days_from_civil(y, m, d)
end

local function parse_options(args)
  local opts = { scenario = "coffee", seed = 42, start_day = days_from_civil(2025, 1, 1), days = 365 }
  local takes_value = {
    ["--scenario"] = true, ["--seed"] = true, ["--customers"] = true,
    ["--start"] = true, ["--days"] = true, ["--config"] = true,
  }
  local seen = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if name == "--help" or name == "-h" then
      if value then
        usage_error("option --help takes no value")
      end
      io.stdout:write(USAGE, "\n")
      os.exit(0)
    elseif not takes_value[name] then
      if a:sub(1, 1) == "-" then
        usage_error("unknown option '%s'", name)
      end
      usage_error("unexpected argument '%s'", a)
    end
    if not value then
      i = i + 1
      value = args[i]
      if value == nil then
        usage_error("option %s needs a value", name)
      end
    end
    if seen[name] then
      usage_error("option %s given twice", name)
    end
    seen[name] = true
    if name == "--scenario" then
      if not SCENARIOS[value] then
        usage_error("--scenario: '%s' is not a scenario (coffee or property)", value)
      end
      opts.scenario = value
    elseif name == "--seed" then
      opts.seed = parse_whole(name, value, 0, 999999999999999999)
    elseif name == "--customers" then
      opts.customers = parse_whole(name, value, 1, MAX_CUSTOMERS)
    elseif name == "--start" then
      opts.start_day = parse_date(name, value)
    elseif name == "--days" then
      opts.days = parse_whole(name, value, 1, MAX_DAYS)
    elseif name == "--config" then
      if value == "" then
        usage_error("option --config needs a file name")
      end
      opts.config = value
    end
    i = i + 1
  end
  if opts.start_day + opts.days > days_from_civil(10000, 1, 1) then
    usage_error("--start and --days go past the year 9999")
  end
  return opts
end

-- ---------------------------------------------------------------------------
-- Output.

local function write_config(path, scenario)
  local lines = {
    string.format("-- The touchpoints of the %s scenario of scripts/gen-experience.lua:", scenario.name),
    "-- each one's lifecycle stage (before, during, after purchase) and",
    "-- experience provider.",
    "return {",
    "  touchpoints = {",
  }
  for _, tp in ipairs(scenario.touchpoints) do
    lines[#lines + 1] = string.format("    %s = { stage = %q, provider = %q },", tp[1], tp[2], tp[3])
  end
  lines[#lines + 1] = "  },"
  lines[#lines + 1] = "}"
  local f, why = io.open(path, "w")
  if not f then
    fatal("cannot write --config file: %s", why)
  end
  local ok, werr = f:write(table.concat(lines, "\n"), "\n")
  local closed, cerr = f:close()
  if not ok or not closed then
    fatal("cannot write --config file %s: %s", path, werr or cerr)
  end
end

local function main(args)
  local opts = parse_options(args)
  local scenario = SCENARIOS[opts.scenario]
  local customers = opts.customers or scenario.default_customers
  if opts.config then
    write_config(opts.config, scenario)
  end

  local w = new_world(opts)
  local base = scenario.stream << 32
  for i = 1, customers do
    scenario.customer(w, new_rng(opts.seed, base + i), i)
  end
  scenario.audits(w, new_rng(opts.seed, base))

  local events = w.events
  table.sort(events, function(a, b)
    if a.at ~= b.at then
      return a.at < b.at
    end
    return a.seq < b.seq
  end)
  local episodes, count = {}, 0
  local function renumber(prefix, n)
    local new = episodes[n]
    if not new then
      count = count + 1
      new = string.format("%s%06d", prefix, count)
      episodes[n] = new
    end
    return '"episode":"' .. new .. '"'
  end
  local out = io.stdout
  out:setvbuf("full")
  local chunk = {}
  local prefix = '{"id":"' .. scenario.id_prefix .. "-"
  for i, e in ipairs(events) do
    local rest = e.rest:gsub('"episode":"(%u)(%d+)"', renumber)
    chunk[#chunk + 1] = string.format('%s%06d"%s\n', prefix, i, rest)
    if #chunk == 1000 then
      out:write(table.concat(chunk))
      chunk = {}
    end
  end
  out:write(table.concat(chunk))
  local ok, why = out:flush()
  if not ok then
    fatal("cannot write the events: %s", why)
  end
end

main(arg)
