-- test_calendar.lua: the built-in calendar library (plugins/lib/calendar.lua),
-- cx.calendar: schedule texts, their next and latest slots, period labels,
-- the reasons a text is refused, and durations.
-- Every expected value is worked out by hand from a calendar: 2026-11-25 is
-- a Wednesday, 2026-12-01 a Tuesday, 2027-01-01 a Friday, 2027-02-01 a
-- Monday; 2028 is a leap year, 2027 and 2100 are not.
--   bash tests/lua/run.sh build/cxhost tests/lua/test_calendar.lua

local cal = cx.calendar
local eq, t = cx.test.eq, cx.test.time
local suite = cx.test.suite("calendar")

-- A schedule that must parse.
local function sched(text)
  local s, why = cal.schedule(text)
  if not s then error(("schedule '%s' should parse: %s"):format(text, why), 2) end
  return s
end

-- A time as its ISO text (or "nil"), so that a failure reads as dates.
local function iso(x)
  return x and cx.time.iso(x) or "nil"
end

-- s:next(from) should be want (a time text, or nil).
local function next_is(s, from, want)
  eq(iso(s:next(t(from))), want and iso(t(want)) or "nil", ("'%s': next after %s"):format(s.text, from))
end

-- s:latest(at) should be want (a time text, or nil).
local function latest_is(s, at, want)
  eq(iso(s:latest(t(at))), want and iso(t(want)) or "nil", ("'%s': latest at %s"):format(s.text, at))
end

-- cx.calendar.schedule(text) should refuse text with reason.
local function refused(text, reason)
  local s, why = cal.schedule(text)
  eq(s, nil, ("'%s' should be refused"):format(tostring(text)))
  eq(why, reason, ("the reason for '%s'"):format(tostring(text)))
end

-- cx.calendar.duration(text) should refuse text with reason.
local function bad_duration(text, reason)
  local n, why = cal.duration(text)
  eq(n, nil, ("duration '%s' should be refused"):format(tostring(text)))
  eq(why, reason, ("the reason for duration '%s'"):format(tostring(text)))
end

-- daily -----------------------------------------------------------------

suite:case("daily 09:00: kind, text, next is strictly after, latest is at or before", function()
  local s = sched("daily 09:00")
  eq(s.kind, "daily", "kind")
  eq(s.text, "daily 09:00", "text")
  next_is(s, "2026-11-25T08:59:59", "2026-11-25T09:00")
  next_is(s, "2026-11-25T09:00:00", "2026-11-26T09:00")
  latest_is(s, "2026-11-25T09:00:00", "2026-11-25T09:00")
  latest_is(s, "2026-11-25T08:59:59", "2026-11-24T09:00")
end)

suite:case("daily 09:00 across month and year ends", function()
  local s = sched("daily 09:00")
  next_is(s, "2026-11-30T10:00", "2026-12-01T09:00")
  next_is(s, "2026-12-31T09:00", "2027-01-01T09:00")
  latest_is(s, "2027-01-01T08:00", "2026-12-31T09:00")
  latest_is(s, "2026-03-01T08:00", "2026-02-28T09:00")
  latest_is(s, "2028-03-01T08:00", "2028-02-29T09:00")
end)

suite:case("daily alone is midnight; case and spaces do not matter; text is kept as given", function()
  local s = sched("daily")
  next_is(s, "2026-11-25T09:00", "2026-11-26T00:00")
  latest_is(s, "2026-11-26T00:00", "2026-11-26T00:00")
  local odd = sched("  DAILY   9:05 ")
  eq(odd.text, "  DAILY   9:05 ", "text as given")
  eq(odd.kind, "daily", "kind")
  next_is(odd, "2026-11-25T09:00", "2026-11-25T09:05")
end)

-- weekly ----------------------------------------------------------------

suite:case("every monday 09:00: from Monday 09:00 exactly, the next is the following Monday", function()
  local s = sched("every monday 09:00")
  eq(s.kind, "weekly", "kind")
  next_is(s, "2026-11-23T09:00", "2026-11-30T09:00")
  next_is(s, "2026-11-23T08:59", "2026-11-23T09:00")
  next_is(s, "2026-11-25T12:00", "2026-11-30T09:00")
  latest_is(s, "2026-11-25T12:00", "2026-11-23T09:00")
  latest_is(s, "2026-11-23T09:00", "2026-11-23T09:00")
  latest_is(s, "2026-11-23T08:59:59", "2026-11-16T09:00")
end)

suite:case("weekly with short names, across the year end", function()
  local s = sched("weekly fri 17:30")
  eq(s.kind, "weekly", "kind")
  next_is(s, "2026-12-28T00:00", "2027-01-01T17:30")
  latest_is(s, "2027-01-01T17:29", "2026-12-25T17:30")
  local sun = sched("Every Sun")
  next_is(sun, "2026-11-28T12:00", "2026-11-29T00:00")
  local wed = sched("weekly wednesday 9:00")
  latest_is(wed, "2026-11-25T09:00", "2026-11-25T09:00")
  next_is(wed, "2026-11-25T09:00", "2026-12-02T09:00")
end)

suite:case("every weekday and every weekend", function()
  local wd = sched("every weekday 08:00")
  eq(wd.kind, "weekly", "kind")
  next_is(wd, "2026-11-25T07:00", "2026-11-25T08:00")
  next_is(wd, "2026-11-27T08:00", "2026-11-30T08:00")       -- Friday to Monday
  latest_is(wd, "2026-11-29T20:00", "2026-11-27T08:00")     -- Sunday back to Friday
  local we = sched("every weekend 10:30")
  next_is(we, "2026-11-25T09:00", "2026-11-28T10:30")       -- Saturday
  next_is(we, "2026-11-28T10:30", "2026-11-29T10:30")       -- Sunday
  next_is(we, "2026-11-29T10:30", "2026-12-05T10:30")       -- the next Saturday
  latest_is(we, "2026-11-27T23:59", "2026-11-22T10:30")
end)

-- monthly ---------------------------------------------------------------

suite:case("monthly 31 skips the months that have no 31st", function()
  local s = sched("monthly 31")
  eq(s.kind, "monthly", "kind")
  next_is(s, "2026-11-25T09:00", "2026-12-31T00:00")
  latest_is(s, "2026-11-25T09:00", "2026-10-31T00:00")
  next_is(s, "2026-12-31T00:00", "2027-01-31T00:00")
  next_is(s, "2027-01-31T00:00", "2027-03-31T00:00")        -- no 31 February
  next_is(s, "2027-03-31T00:00", "2027-05-31T00:00")        -- no 31 April
  latest_is(s, "2027-03-30T23:59", "2027-01-31T00:00")
end)

suite:case("monthly 1 09:00 and monthly 29 in leap and common years", function()
  local first = sched("monthly 1 09:00")
  next_is(first, "2026-12-01T09:00", "2027-01-01T09:00")
  latest_is(first, "2026-12-01T08:59", "2026-11-01T09:00")
  local s = sched("monthly 29")
  next_is(s, "2027-01-29T00:00", "2027-03-29T00:00")
  next_is(s, "2028-01-29T00:00", "2028-02-29T00:00")
  latest_is(s, "2027-03-28T00:00", "2027-01-29T00:00")
end)

-- cron ------------------------------------------------------------------

suite:case("0 9 * * 1-5: weekdays at nine", function()
  local s = sched("0 9 * * 1-5")
  eq(s.kind, "cron", "kind")
  eq(s.text, "0 9 * * 1-5", "text")
  next_is(s, "2026-11-25T08:00", "2026-11-25T09:00")
  next_is(s, "2026-11-27T09:00", "2026-11-30T09:00")
  latest_is(s, "2026-11-29T23:59", "2026-11-27T09:00")
  next_is(s, "2026-12-31T09:00", "2027-01-01T09:00")        -- a Friday
  next_is(s, "2027-01-01T09:00", "2027-01-04T09:00")
end)

suite:case("*/15 * * * *: quarter hours, into the new year", function()
  local s = sched("*/15 * * * *")
  next_is(s, "2026-11-25T09:00:00", "2026-11-25T09:15")
  next_is(s, "2026-11-25T09:07:30", "2026-11-25T09:15")
  next_is(s, "2026-12-31T23:50", "2027-01-01T00:00")
  latest_is(s, "2026-11-25T09:14:59", "2026-11-25T09:00")
  latest_is(s, "2026-11-25T09:15:00", "2026-11-25T09:15")
  latest_is(s, "2027-01-01T00:14", "2027-01-01T00:00")
  latest_is(s, "2026-12-01T00:00:30", "2026-12-01T00:00")
end)

suite:case("ranges with steps, lists, months", function()
  local s = sched("10-50/20 * * * *")                      -- minutes 10, 30, 50
  next_is(s, "2026-11-25T09:50", "2026-11-25T10:10")
  latest_is(s, "2026-11-25T09:09", "2026-11-25T08:50")
  local twice = sched("0 0 1,15 * *")
  next_is(twice, "2026-11-15T00:00", "2026-12-01T00:00")
  next_is(twice, "2026-12-01T00:00", "2026-12-15T00:00")
  local yearly = sched("0 0 1 1 *")
  next_is(yearly, "2026-11-25T09:00", "2027-01-01T00:00")
  latest_is(yearly, "2026-11-25T09:00", "2026-01-01T00:00")
  local eve = sched("30 23 31 12 *")
  latest_is(eve, "2026-12-31T23:29", "2025-12-31T23:30")
  next_is(eve, "2026-12-31T23:29", "2026-12-31T23:30")
  local hours = sched("0 8-18/5 * * *")                    -- 8, 13, 18
  next_is(hours, "2026-11-25T13:00", "2026-11-25T18:00")
  next_is(hours, "2026-11-25T18:00", "2026-11-26T08:00")
  latest_is(hours, "2026-11-25T07:59", "2026-11-24T18:00")
end)

suite:case("day of month and day of week both restricted: either one fires", function()
  local s = sched("0 0 13 * 5")                            -- the 13th, or any Friday
  next_is(s, "2026-11-25T09:00", "2026-11-27T00:00")       -- Friday the 27th
  latest_is(s, "2026-11-25T09:00", "2026-11-20T00:00")     -- Friday the 20th
  next_is(s, "2026-12-05T00:00", "2026-12-11T00:00")       -- Friday the 11th
  next_is(s, "2026-12-11T00:00", "2026-12-13T00:00")       -- the 13th, a Sunday
  next_is(s, "2026-12-13T00:00", "2026-12-18T00:00")
  local feb = sched("0 0 31 2 1")                          -- no 31 February, but Mondays in February
  next_is(feb, "2026-11-25T09:00", "2027-02-01T00:00")
  -- with the day of month "*", only the day of the week counts
  local fridays = sched("0 0 * * 5")
  next_is(fridays, "2026-12-11T00:00", "2026-12-18T00:00")
  -- with the day of week "*", only the day of the month counts
  local thirteenth = sched("0 0 13 * *")
  next_is(thirteenth, "2026-11-25T09:00", "2026-12-13T00:00")
end)

suite:case("day of week 0 and 7 are both Sunday", function()
  next_is(sched("0 12 * * 7"), "2026-11-25T09:00", "2026-11-29T12:00")
  next_is(sched("0 12 * * 0"), "2026-11-25T09:00", "2026-11-29T12:00")
  next_is(sched("0 12 * * 5-7"), "2026-11-28T12:00", "2026-11-29T12:00")
end)

suite:case("29 February: found across the 8 years around 2100, which is not a leap year", function()
  local s = sched("0 0 29 2 *")
  next_is(s, "2026-11-25T09:00", "2028-02-29T00:00")
  latest_is(s, "2026-11-25T09:00", "2024-02-29T00:00")
  next_is(s, "2096-03-01T00:00", "2104-02-29T00:00")
  latest_is(s, "2104-02-28T00:00", "2096-02-29T00:00")
end)

-- intervals -------------------------------------------------------------

suite:case("every 6 hours: slots at multiples of six hours since the epoch", function()
  local s = sched("every 6 hours")
  eq(s.kind, "interval", "kind")
  next_is(s, "2026-11-25T09:00", "2026-11-25T12:00")
  next_is(s, "2026-11-25T18:00", "2026-11-26T00:00")
  next_is(s, "2026-12-31T23:59:59", "2027-01-01T00:00")
  latest_is(s, "2026-11-25T05:59:59", "2026-11-25T00:00")
  latest_is(s, "2026-11-25T12:00", "2026-11-25T12:00")
end)

suite:case("every 2 seconds, every minute, every hour, every 90 minutes, every 7 days", function()
  local s = sched("every 2 seconds")
  next_is(s, "2026-11-25T09:00:00", "2026-11-25T09:00:02")
  next_is(s, "2026-11-25T09:00:01", "2026-11-25T09:00:02")
  latest_is(s, "2026-11-25T09:00:03", "2026-11-25T09:00:02")
  next_is(sched("every minute"), "2026-11-25T09:00:30", "2026-11-25T09:01")
  latest_is(sched("Every Hour"), "2026-11-25T09:59:59", "2026-11-25T09:00")
  next_is(sched("every 1 hour"), "2026-11-25T09:00", "2026-11-25T10:00")
  next_is(sched("every 90 minutes"), "2026-11-25T09:00", "2026-11-25T10:30")
  -- 1970-01-01 was a Thursday, so seven-day slots fall on Thursdays
  next_is(sched("every 7 days"), "2026-11-25T09:00", "2026-11-26T00:00")
  latest_is(sched("every day"), "2026-11-25T09:00", "2026-11-25T00:00")
end)

-- period labels ---------------------------------------------------------

suite:case("period labels: to the minute, and to the second only for second intervals", function()
  eq(sched("daily 09:00"):period(t("2026-11-25T09:00")), "2026-11-25T09:00Z", "daily")
  eq(sched("every monday 09:00"):period(t("2026-11-23T09:00")), "2026-11-23T09:00Z", "weekly")
  eq(sched("monthly 1"):period(t("2027-01-01T00:00")), "2027-01-01T00:00Z", "monthly")
  eq(sched("*/15 * * * *"):period(t("2026-12-31T23:45")), "2026-12-31T23:45Z", "cron")
  eq(sched("every 6 hours"):period(t("2026-11-25T12:00")), "2026-11-25T12:00Z", "hour interval")
  eq(sched("every 2 seconds"):period(t("2026-11-25T09:00:04")), "2026-11-25T09:00:04Z", "second interval")
  eq(sched("every 60 seconds"):period(t("2026-11-25T09:01")), "2026-11-25T09:01:00Z", "seconds, on a minute")
  local s = sched("0 9 * * 1-5")
  eq(s:period(s:latest(t("2026-11-29T12:00"))), "2026-11-27T09:00Z", "label of the latest slot")
  local e = sched("every 2 seconds")
  eq(e:period(e:latest(t("2026-11-25T09:00:05"))), "2026-11-25T09:00:04Z", "label of the latest interval slot")
end)

suite:case("a time that is not a whole number of seconds is a caller's bug", function()
  local s = sched("daily 09:00")
  local ok, err = pcall(function() return s:next("tomorrow") end)
  eq(ok, false, "next('tomorrow') raises")
  eq(tostring(err):find("next wants a time in Unix seconds", 1, true) ~= nil, true, "the error says so: " .. tostring(err))
  eq(iso(s:next(t("2026-11-25T08:00") + 0.0)), iso(t("2026-11-25T09:00")), "a float with a whole value is fine")
end)

-- refused schedules -----------------------------------------------------

suite:case("refused: not a text, empty, unknown", function()
  refused(42, "a schedule must be a text, such as 'daily 09:00', not number")
  refused(nil, "a schedule must be a text, such as 'daily 09:00', not nil")
  refused("", "the schedule is empty")
  refused("   ", "the schedule is empty")
  refused("hourly", "'hourly': unknown schedule; expected daily, weekly, monthly, every ..., "
    .. "or a cron expression such as '0 9 * * 1-5'")
end)

suite:case("refused: bad times of day", function()
  refused("daily 25:00", "'daily 25:00': the hour must be 0 to 23")
  refused("daily 24:00", "'daily 24:00': the hour must be 0 to 23")
  refused("Daily  09:60", "'daily 09:60': the minute must be 0 to 59")
  refused("daily 9am", "'daily 9am': the time must be HH:MM, as in 09:00")
  refused("every monday 9", "'every monday 9': the time must be HH:MM, as in 09:00")
  refused("monthly 1 9.30", "'monthly 1 9.30': the time must be HH:MM, as in 09:00")
  refused("daily 09:00 sharp", "'daily 09:00 sharp': expected 'daily HH:MM'")
end)

suite:case("refused: bad day names and weekly shapes", function()
  local days = "is not a day of the week (monday to sunday, mon to sun, weekday or weekend)"
  refused("every funday 09:00", "'every funday 09:00': 'funday' " .. days)
  refused("weekly Funday", "'weekly funday': 'funday' " .. days)
  refused("weekly mondays", "'weekly mondays': 'mondays' " .. days)
  refused("weekly", "'weekly': name a day, as in 'weekly monday 09:00'")
  refused("every monday 09:00 utc", "'every monday 09:00 utc': expected 'every DAY HH:MM'")
end)

suite:case("refused: bad monthly days", function()
  refused("monthly", "'monthly': name a day of the month, as in 'monthly 1 09:00'")
  refused("monthly 0", "'monthly 0': the day of the month must be 1 to 31")
  refused("monthly 32", "'monthly 32': the day of the month must be 1 to 31")
  refused("monthly first", "'monthly first': the day of the month must be 1 to 31")
  refused("monthly 1 09:00 x", "'monthly 1 09:00 x': expected 'monthly DAY HH:MM'")
end)

suite:case("refused: bad intervals", function()
  refused("every", "'every': say how often, as in 'every monday 09:00' or 'every 15 minutes'")
  refused("every 0 minutes", "'every 0 minutes': the count must be at least 1")
  refused("every 5", "'every 5': name a unit, as in 'every 5 minutes'")
  refused("every 2 weeks", "'every 2 weeks': the unit must be seconds, minutes, hours or days")
  refused("every 1 monday", "'every 1 monday': the unit must be seconds, minutes, hours or days")
  refused("every 9999999999 days", "'every 9999999999 days': the count is too large")
  refused("every 5 minutes please", "'every 5 minutes please': expected 'every N minutes' (or seconds, hours, days)")
  refused("every minute now", "'every minute now': expected 'every N minutes' (or seconds, hours, days)")
end)

suite:case("refused: cron field counts and shapes", function()
  local fields = "a cron expression has 5 fields (minute hour day-of-month month day-of-week)"
  refused("0 9 * *", "'0 9 * *': " .. fields .. ", not 4")
  refused("0 9 * * * *", "'0 9 * * * *': " .. fields .. ", not 6")
  refused("1,,2 * * * *", "'1,,2 * * * *': the minute field '1,,2' is not a number, range, list or step")
  refused("0 9 * * mon", "'0 9 * * mon': the day-of-week field 'mon' is not a number, range, list or step")
  refused("*/0 * * * *", "'*/0 * * * *': the minute step must be at least 1")
  refused("*/x * * * *", "'*/x * * * *': the minute step 'x' is not a number")
  refused("5/2 * * * *", "'5/2 * * * *': the minute step needs * or a range before it, as in */15 or 0-30/5")
  refused("0 9 * * 5-1", "'0 9 * * 5-1': the day-of-week range 5-1 runs backwards")
end)

suite:case("refused: cron fields out of range", function()
  refused("60 * * * *", "'60 * * * *': the minute field must be within 0 to 59")
  refused("0 24 * * *", "'0 24 * * *': the hour field must be within 0 to 23")
  refused("0 0 0 * *", "'0 0 0 * *': the day-of-month field must be within 1 to 31")
  refused("0 0 32 * *", "'0 0 32 * *': the day-of-month field must be within 1 to 31")
  refused("0 0 * 0 *", "'0 0 * 0 *': the month field must be within 1 to 12")
  refused("0 0 * 13 *", "'0 0 * 13 *': the month field must be within 1 to 12")
  refused("0 0 * * 8", "'0 0 * * 8': the day-of-week field must be within 0 to 7")
  refused("0 9-25 * * *", "'0 9-25 * * *': the hour field must be within 0 to 23")
end)

suite:case("refused: expressions that never fire", function()
  local never = "it never fires; none of its months has that day of the month"
  refused("0 0 31 2 *", "'0 0 31 2 *': " .. never)
  refused("0 0 30 2 *", "'0 0 30 2 *': " .. never)
  refused("0 0 30,31 2 *", "'0 0 30,31 2 *': " .. never)
  refused("0 0 31 4,6,9,11 *", "'0 0 31 4,6,9,11 *': " .. never)
end)

-- durations -------------------------------------------------------------

suite:case("durations in words and in seconds", function()
  eq(cal.duration("3 days"), 3 * 86400, "3 days")
  eq(cal.duration("1 day"), 86400, "1 day")
  eq(cal.duration("2 weeks"), 14 * 86400, "2 weeks")
  eq(cal.duration("1 week"), 7 * 86400, "1 week")
  eq(cal.duration("12 hours"), 12 * 3600, "12 hours")
  eq(cal.duration("90 minutes"), 90 * 60, "90 minutes")
  eq(cal.duration("30 seconds"), 30, "30 seconds")
  eq(cal.duration("1 second"), 1, "1 second")
  eq(cal.duration("  3   DAYS "), 3 * 86400, "case and spaces")
  eq(cal.duration("0 days"), 0, "0 days")
  eq(cal.duration(3600), 3600, "a number of seconds")
  eq(cal.duration(0), 0, "zero seconds")
  eq(math.type(cal.duration(3600.0)), "integer", "a whole float becomes an integer")
end)

suite:case("refused durations", function()
  bad_duration("3", "'3': expected a count and a unit, as in '3 days'")
  bad_duration("3d", "'3d': expected a count and a unit, as in '3 days'")
  bad_duration("3 days 2 hours", "'3 days 2 hours': expected a count and a unit, as in '3 days'")
  bad_duration("three days", "'three days': the count must be a whole number, as in '3 days'")
  bad_duration("-3 days", "'-3 days': the count must be a whole number, as in '3 days'")
  bad_duration("1.5 days", "'1.5 days': the count must be a whole number, as in '3 days'")
  bad_duration("3 fortnights", "'3 fortnights': the unit must be seconds, minutes, hours, days or weeks")
  bad_duration("", "the duration is empty")
  bad_duration(1.5, "1.5: a duration in seconds must be a whole number")
  bad_duration(-5, "-5: a duration cannot be negative")
  bad_duration({}, "a duration must be a text such as '3 days' or a number of seconds, not table")
  bad_duration(nil, "a duration must be a text such as '3 days' or a number of seconds, not nil")
end)

suite:finish()
