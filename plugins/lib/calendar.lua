-- calendar: when campaigns fire. Plugins and scripts find it as cx.calendar.
-- It owns the schedule texts ("daily 09:00", "every monday 09:00",
-- "monthly 1", "every 15 minutes", cron "0 9 * * 1-5"), the slots they
-- fire at, the labels that name a slot (idempotency keys), and durations
-- ("3 days"). All times are Unix seconds, UTC; nothing here reads a clock.
--
--   local s = assert(cx.calendar.schedule("every monday 09:00"))
--   local slot = s:latest(now)        -- the run that is due, if any
--   local key = s:period(slot)        -- "2026-11-23T09:00Z"
--   local after = s:next(now)         -- when to look again
--
-- daily, weekly and monthly schedules compile to the same matcher as cron
-- expressions (sets of minutes, hours, days of the month, months, days of
-- the week); "every N units" are fixed intervals counted from the epoch.

local MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 604800
local M = {}

-- How far next and latest search, in days. The longest wait between two
-- firings of an expression that fires at all is 29 February, 8 years apart
-- around 2100 (2096 to 2104, 2922 days); searching a little further means
-- nil stands for "never fires" and nothing else.
local HORIZON = 8 * 366

-- Days since 1970-01-01 of a civil date, and back (proleptic Gregorian;
-- Howard Hinnant's algorithms, with eras of 400 years).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  return m <= 2 and y + 1 or y, m, d
end

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function month_days(y, m)
  if m == 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then
    return 29
  end
  return MONTH_DAYS[m]
end

-- The civil calendar, for other libraries (cx.loyalty adds months with it).
M.days_from_civil, M.civil_from_days, M.month_days = days_from_civil, civil_from_days, month_days

-- Day number d's weekday, 0 = Sunday: 1970-01-01 was a Thursday.
local function weekday(d)
  return (d + 4) % 7
end

-- "2026-11-25T09:00Z", or with seconds "2026-11-25T09:00:05Z".
local function label(t, with_seconds)
  local days, secs = t // DAY, t % DAY
  local y, m, d = civil_from_days(days)
  local h, mi, s = secs // HOUR, secs % HOUR // MINUTE, secs % MINUTE
  if with_seconds then
    return ("%04d-%02d-%02dT%02d:%02d:%02dZ"):format(y, m, d, h, mi, s)
  end
  return ("%04d-%02d-%02dT%02d:%02dZ"):format(y, m, d, h, mi)
end

-- A time argument as an integer; a caller passing anything else has a bug.
local function whole(t, method)
  local n = type(t) == "number" and math.tointeger(t)
  if not n then
    error(("calendar: %s wants a time in Unix seconds, got %s"):format(method, tostring(t)), 3)
  end
  return n
end

---------------------------------------------------------------------------
-- Fixed intervals: slots at every multiple of step seconds since the epoch.

local Interval = {}
Interval.__index = Interval

-- The first slot strictly after t.
function Interval:next(t)
  return (whole(t, "next") // self.step + 1) * self.step
end

-- The last slot at or before t (there always is one).
function Interval:latest(t)
  return whole(t, "latest") // self.step * self.step
end

-- The slot's label; to the second only for intervals counted in seconds.
function Interval:period(slot)
  return label(whole(slot, "period"), self.seconds)
end

---------------------------------------------------------------------------
-- The cron matcher. Fields are sets (value -> true); minutes and hours are
-- also kept as sorted lists, to find the first or last time in a day
-- without stepping minute by minute.

local Cron = {}
Cron.__index = Cron

-- Whether month m of year y can have a firing day at all, so that the
-- search skips whole months. A restricted day of the week matches some day
-- of every month; a day of the month only when the month is long enough.
local function month_can_fire(c, y, m)
  if not c.month[m] then return false end
  if not c.dow_star then return true end
  return c.first_dom <= month_days(y, m)
end

-- Whether day number day (the d-th of its month) fires. When both the day
-- of the month and the day of the week are restricted, either one will do
-- (the standard cron rule); otherwise the restricted one decides. Only a
-- plain "*" leaves a field unrestricted: "*/2" restricts it (Vixie cron
-- would count it as "*" here).
local function day_fires(c, day, d)
  local by_dom, by_dow = c.dom[d], c.dow[weekday(day)]
  if c.dom_star or c.dow_star then
    return by_dom and by_dow
  end
  return by_dom or by_dow
end

-- The first firing minute of a day at or after minute mod of it, or nil.
local function first_time(c, mod)
  local h0, m0 = mod // 60, mod % 60
  for _, h in ipairs(c.hours) do
    if h > h0 then return h * 60 + c.minutes[1] end
    if h == h0 then
      for _, mi in ipairs(c.minutes) do
        if mi >= m0 then return h * 60 + mi end
      end
    end
  end
  return nil
end

-- The last firing minute of a day at or before minute mod of it, or nil.
local function last_time(c, mod)
  local h0, m0 = mod // 60, mod % 60
  for i = #c.hours, 1, -1 do
    local h = c.hours[i]
    if h < h0 then return h * 60 + c.minutes[#c.minutes] end
    if h == h0 then
      for j = #c.minutes, 1, -1 do
        if c.minutes[j] <= m0 then return h * 60 + c.minutes[j] end
      end
    end
  end
  return nil
end

-- The first slot strictly after t; nil when the expression never fires.
function Cron:next(t)
  local start = whole(t, "next") // MINUTE + 1       -- slots are whole minutes
  local day, mod = start // 1440, start % 1440
  local limit = day + HORIZON
  while day <= limit do
    local y, m, d = civil_from_days(day)
    if not month_can_fire(self, y, m) then
      day = day - d + 1 + month_days(y, m)            -- the 1st of next month
    else
      local hm = day_fires(self, day, d) and first_time(self, mod)
      if hm then return day * DAY + hm * MINUTE end
      day = day + 1
    end
    mod = 0
  end
  return nil
end

-- The last slot at or before t; nil when the expression never fires.
function Cron:latest(t)
  local stop = whole(t, "latest") // MINUTE
  local day, mod = stop // 1440, stop % 1440
  local limit = day - HORIZON
  while day >= limit do
    local y, m, d = civil_from_days(day)
    if not month_can_fire(self, y, m) then
      day = day - d                                   -- the last of the month before
    else
      local hm = day_fires(self, day, d) and last_time(self, mod)
      if hm then return day * DAY + hm * MINUTE end
      day = day - 1
    end
    mod = 1439
  end
  return nil
end

-- The slot's label, to the minute.
function Cron:period(slot)
  return label(whole(slot, "period"), false)
end

-- A set of lo..hi.
local function span(lo, hi)
  local set = {}
  for v = lo, hi do set[v] = true end
  return set
end

-- The sorted members of a set within lo..hi.
local function sorted(set, lo, hi)
  local list = {}
  for v = lo, hi do
    if set[v] then list[#list + 1] = v end
  end
  return list
end

-- A cron schedule from its five sets; dom_star and dow_star say the field
-- was "*" (unrestricted), which the day rule needs.
local function compile(text, kind, f)
  local c = setmetatable({ text = text, kind = kind }, Cron)
  c.minute, c.hour, c.dom, c.month, c.dow = f.minute, f.hour, f.dom, f.month, f.dow
  c.dom_star, c.dow_star = f.dom_star or false, f.dow_star or false
  if c.dow[7] then c.dow[0] = true end                -- 7 is Sunday too
  c.minutes, c.hours = sorted(c.minute, 0, 59), sorted(c.hour, 0, 23)
  c.first_dom = sorted(c.dom, 1, 31)[1]
  return c
end

---------------------------------------------------------------------------
-- Parsing.

local DAYS = {
  sunday = 0, monday = 1, tuesday = 2, wednesday = 3, thursday = 4, friday = 5, saturday = 6,
  sun = 0, mon = 1, tue = 2, wed = 3, thu = 4, fri = 5, sat = 6,
}
local DAY_GROUPS = { weekday = { 1, 2, 3, 4, 5 }, weekend = { 6, 0 } }

local UNITS = {
  second = 1, seconds = 1, minute = MINUTE, minutes = MINUTE,
  hour = HOUR, hours = HOUR, day = DAY, days = DAY,
}

-- The words of a text, lower-cased (case does not matter), and the text
-- as a reason quotes it: those words, single-spaced.
local function words(text)
  local list = {}
  for w in text:lower():gmatch("%S+") do list[#list + 1] = w end
  return list, "'" .. table.concat(list, " ") .. "'"
end

-- A count of at most 9 digits as an integer, or nil (keeps products in range).
local function count(word)
  if word and word:match("^%d+$") and #word <= 9 then
    return math.tointeger(tonumber(word))
  end
  return nil
end

-- "HH:MM" (nil meaning midnight) as hour, minute; or nil, reason.
local function clock(word, quoted)
  if word == nil then return 0, 0 end
  local h, mi = word:match("^(%d%d?):(%d%d)$")
  if not h then
    return nil, quoted .. ": the time must be HH:MM, as in 09:00"
  end
  h, mi = tonumber(h), tonumber(mi)
  if h > 23 then return nil, quoted .. ": the hour must be 0 to 23" end
  if mi > 59 then return nil, quoted .. ": the minute must be 0 to 59" end
  return h, mi
end

-- The fields of a schedule firing at h:mi on the days the other fields say.
local function at(h, mi, fields)
  fields.minute, fields.hour = { [mi] = true }, { [h] = true }
  fields.dom = fields.dom or span(1, 31)
  fields.month = span(1, 12)
  fields.dow = fields.dow or span(0, 6)
  return fields
end

-- "daily [HH:MM]".
local function parse_daily(text, w, quoted)
  if #w > 2 then return nil, quoted .. ": expected 'daily HH:MM'" end
  local h, mi = clock(w[2], quoted)
  if not h then return nil, mi end
  return compile(text, "daily", at(h, mi, { dom_star = true, dow_star = true }))
end

-- "every|weekly DAYNAME|weekday|weekend [HH:MM]", from the day word on.
local function parse_weekly(text, w, quoted)
  if #w < 2 then return nil, quoted .. ": name a day, as in '" .. w[1] .. " monday 09:00'" end
  if #w > 3 then return nil, quoted .. ": expected '" .. w[1] .. " DAY HH:MM'" end
  local days = DAY_GROUPS[w[2]] or (DAYS[w[2]] and { DAYS[w[2]] })
  if not days then
    return nil, ("%s: '%s' is not a day of the week (monday to sunday, mon to sun, weekday or weekend)")
      :format(quoted, w[2])
  end
  local h, mi = clock(w[3], quoted)
  if not h then return nil, mi end
  local dow = {}
  for _, d in ipairs(days) do dow[d] = true end
  return compile(text, "weekly", at(h, mi, { dow = dow, dom_star = true }))
end

-- "monthly D [HH:MM]".
local function parse_monthly(text, w, quoted)
  if #w < 2 then return nil, quoted .. ": name a day of the month, as in 'monthly 1 09:00'" end
  if #w > 3 then return nil, quoted .. ": expected 'monthly DAY HH:MM'" end
  local d = count(w[2])
  if not d or d < 1 or d > 31 then
    return nil, quoted .. ": the day of the month must be 1 to 31"
  end
  local h, mi = clock(w[3], quoted)
  if not h then return nil, mi end
  return compile(text, "monthly", at(h, mi, { dom = { [d] = true }, dow_star = true }))
end

-- "every N units", "every unit", or "every DAYNAME ...".
local function parse_every(text, w, quoted)
  if #w < 2 then
    return nil, quoted .. ": say how often, as in 'every monday 09:00' or 'every 15 minutes'"
  end
  local n, unit, size = 1, w[2], 2          -- "every minute": two words
  if w[2]:match("^%d+$") then
    n, unit, size = count(w[2]), w[3], 3     -- "every 15 minutes": three
    if not n then return nil, quoted .. ": the count is too large" end
    if n < 1 then return nil, quoted .. ": the count must be at least 1" end
    if not unit then return nil, quoted .. ": name a unit, as in 'every " .. w[2] .. " minutes'" end
    if not UNITS[unit] then
      return nil, quoted .. ": the unit must be seconds, minutes, hours or days"
    end
  elseif not UNITS[unit] then
    return parse_weekly(text, w, quoted)
  end
  if #w > size then
    return nil, quoted .. ": expected 'every N minutes' (or seconds, hours, days)"
  end
  return setmetatable({ text = text, kind = "interval", step = n * UNITS[unit], seconds = UNITS[unit] == 1 },
                      Interval)
end

local FIELDS = {
  { key = "minute", name = "minute", lo = 0, hi = 59 },
  { key = "hour", name = "hour", lo = 0, hi = 23 },
  { key = "dom", name = "day-of-month", lo = 1, hi = 31 },
  { key = "month", name = "month", lo = 1, hi = 12 },
  { key = "dow", name = "day-of-week", lo = 0, hi = 7 },
}

-- One cron field ("*", "5", "1,15", "1-5", "*/15", "10-50/20") as a set;
-- or nil, reason.
local function parse_field(word, field, quoted)
  local set = {}
  for item in (word .. ","):gmatch("([^,]*),") do
    local range, step = item:match("^([^/]+)/(.*)$")
    range = range or item
    local lo, hi
    if range == "*" then
      lo, hi = field.lo, field.hi
    elseif range:match("^%d+$") then
      lo = count(range); hi = lo
    elseif range:match("^%d+%-%d+$") then
      local a, b = range:match("^(%d+)%-(%d+)$")
      lo, hi = count(a), count(b)
    else
      return nil, ("%s: the %s field '%s' is not a number, range, list or step"):format(quoted, field.name, word)
    end
    local function outside(v) return not v or v < field.lo or v > field.hi end
    if outside(lo) or outside(hi) then
      return nil, ("%s: the %s field must be within %d to %d"):format(quoted, field.name, field.lo, field.hi)
    end
    if lo > hi then
      return nil, ("%s: the %s range %s runs backwards"):format(quoted, field.name, range)
    end
    local by = 1
    if step then
      if range ~= "*" and not range:find("-", 1, true) then
        return nil, ("%s: the %s step needs * or a range before it, as in */15 or 0-30/5")
          :format(quoted, field.name)
      end
      by = count(step)
      if not by then
        return nil, ("%s: the %s step '%s' is not a number"):format(quoted, field.name, step)
      end
      if by < 1 then return nil, ("%s: the %s step must be at least 1"):format(quoted, field.name) end
    end
    for v = lo, hi, by do set[v] = true end
  end
  return set
end

-- A five-field cron expression.
local function parse_cron(text, w, quoted)
  if #w ~= 5 then
    return nil, ("%s: a cron expression has 5 fields (minute hour day-of-month month day-of-week), not %d")
      :format(quoted, #w)
  end
  local fields = {}
  for i, field in ipairs(FIELDS) do
    local set, why = parse_field(w[i], field, quoted)
    if not set then return nil, why end
    fields[field.key] = set
  end
  fields.dom_star, fields.dow_star = w[3] == "*", w[5] == "*"
  return compile(text, "cron", fields)
end

local PARSERS = { daily = parse_daily, weekly = parse_weekly, monthly = parse_monthly, every = parse_every }

-- A schedule from its text ("daily 09:00", "every monday 09:00", "monthly 1",
-- "every 15 minutes", "0 9 * * 1-5"); or nil, reason.
function M.schedule(text)
  if type(text) ~= "string" then
    return nil, "a schedule must be a text, such as 'daily 09:00', not " .. type(text)
  end
  local w, quoted = words(text)
  if #w == 0 then return nil, "the schedule is empty" end
  local parse = PARSERS[w[1]]
  if not parse then
    if not w[1]:match("^[%d*]") then
      return nil, quoted .. ": unknown schedule; expected daily, weekly, monthly, every ..., "
        .. "or a cron expression such as '0 9 * * 1-5'"
    end
    parse = parse_cron
  end
  local s, why = parse(text, w, quoted)
  if not s then return nil, why end
  if s.kind ~= "interval" and not s:next(0) then
    return nil, quoted .. ": it never fires; none of its months has that day of the month"
  end
  return s
end

local DURATION_UNITS = {
  second = 1, seconds = 1, minute = MINUTE, minutes = MINUTE, hour = HOUR, hours = HOUR,
  day = DAY, days = DAY, week = WEEK, weeks = WEEK,
}

-- A duration ("3 days", "1 week", "90 minutes", or a whole number of
-- seconds) in seconds; or nil, reason.
function M.duration(text)
  if type(text) == "number" then
    local n = math.tointeger(text)
    if not n then return nil, ("%s: a duration in seconds must be a whole number"):format(tostring(text)) end
    if n < 0 then return nil, ("%d: a duration cannot be negative"):format(n) end
    return n
  end
  if type(text) ~= "string" then
    return nil, "a duration must be a text such as '3 days' or a number of seconds, not " .. type(text)
  end
  local w, quoted = words(text)
  if #w == 0 then return nil, "the duration is empty" end
  if #w ~= 2 then return nil, quoted .. ": expected a count and a unit, as in '3 days'" end
  local n = count(w[1])
  if not n then return nil, quoted .. ": the count must be a whole number, as in '3 days'" end
  local unit = DURATION_UNITS[w[2]]
  if not unit then
    return nil, quoted .. ": the unit must be seconds, minutes, hours, days or weeks"
  end
  return n * unit
end

return M
