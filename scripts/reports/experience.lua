-- experience: how a client's customers experience the brand, in Bernd Schmitt's five
-- experience modules (sense, feel, think, act, relate), scored from 0 to 100.
-- It shows, as of a day:
--   - each module's customer scores: how many customers, mean, median, and how they spread;
--   - the modules at each lifecycle stage (before, during, after purchase, or unstaged);
--   - NPS (net promoter score) and CSAT (customer satisfaction), overall and by stage;
--   - the experience grid: every touchpoint against the five modules.
-- Run it with:
--   cxhost report experience --client NAME [--format table|csv|json] [--as-of DATE]
-- --format table (the default) is for reading; csv is one long table for a spreadsheet;
-- json is everything, as it comes, for other programs. --as-of judges the scores at a past
-- day or time (2025-06-30, 2025-06-30T12:00:00Z) instead of now.

local MODULES = { "sense", "feel", "think", "act", "relate" }
local STAGES = { "before", "during", "after", "unstaged" }

-- cxhost has checked both options: --format is table, csv or json, and --as-of
-- is a time no earlier than the latest event (cx.experience reads it as text).
local format = arg.format or "table"
local as_of = arg.as_of

local summary = cx.experience.summary(as_of)
local grid = cx.experience.grid()   -- a cell's score does not depend on the day
local modules = summary.modules or {}
local stages = summary.stages or {}
local nps = summary.nps or {}
local csat = summary.csat or {}

-- json: everything as it comes, on one line, for other programs.
if format == "json" then
  print(cx.json.encode({ summary = summary, grid = grid }))
  return
end

-- A number with a fixed count of decimals; "-0.0" (a tiny negative rounded away) is shown
-- as "0.0", so nobody reads a sign into nothing.
local decimals = cx.report.decimals

-- csv: one long table, one measure per row, easy to filter and pivot in a spreadsheet.
if format == "csv" then
  -- A field is quoted only when it has to be: when it holds a comma, a quote or a line break.
  local function field(value)
    local text = tostring(value or "")
    if text:find('[,"\r\n]') then text = '"' .. text:gsub('"', '""') .. '"' end
    return text
  end
  -- One row; stage, touchpoint and provider are left empty where they do not apply.
  local function row(section, stage, touchpoint, provider, measure, score, observations)
    print(table.concat({ field(section), field(stage), field(touchpoint), field(provider),
      field(measure), score, ("%d"):format(observations) }, ","))
  end
  -- The NPS and CSAT rows of one section ("overall", or "stage" with its stage), if answered.
  local function answers(section, stage, n, c)
    if n then row(section, stage, "", "", "nps", decimals(n.score, 1), n.answers) end
    if c then row(section, stage, "", "", "csat", decimals(c.mean, 2), c.answers) end
  end

  print("section,stage,touchpoint,provider,measure,score,observations")
  for _, name in ipairs(MODULES) do
    local m = modules[name]
    if m then row("overall", "", "", "", name, decimals(m.mean, 1), m.customers) end
  end
  answers("overall", "", nps.overall, csat.overall)
  for _, stage in ipairs(STAGES) do
    local observed = stages[stage] or {}
    for _, name in ipairs(MODULES) do
      local c = observed[name]
      if c then row("stage", stage, "", "", name, decimals(c.score, 1), c.observations) end
    end
    answers("stage", stage, nps[stage], csat[stage])
  end
  for _, g in ipairs(grid) do
    local observed = g.cells or {}
    for _, name in ipairs(MODULES) do
      local c = observed[name]
      if c then
        row("grid", g.stage, g.touchpoint, g.provider, name, decimals(c.score, 1), c.observations)
      end
    end
  end
  return
end

-- table: a report to read.

-- 12345 as "12,345", easier to read (as in the summary report).
local count = cx.report.count

-- Text padded to a width counted in letters, not bytes, so names with accents
-- ("café", "entrée") still line up; left: text first, then spaces. A line break or tab
-- in a name becomes a space, so a row stays on one line.
local function width(text)
  return utf8.len(text) or #text
end
local function left(text, size)
  text = text:gsub("%c", " ")
  return text .. (" "):rep(size - width(text))
end
local function right(text, size)
  return (" "):rep(size - width(text)) .. text
end

-- A 0-100 score as a whole number, halves rounded up (72.5 is 73).
local function whole(score)
  return ("%d"):format(math.floor(score + 0.5))
end

-- One module at a stage or a touchpoint: "72 (140)", the score and how many observations
-- it rests on; "-" when nothing was observed there.
local function cell(c)
  if c == nil then return "-" end
  return whole(c.score) .. " (" .. count(c.observations) .. ")"
end

-- The five module cells of a row, each right-aligned in its column.
local CELL = 12
local function cells(row)
  local out = {}
  for _, name in ipairs(MODULES) do out[#out + 1] = right(cell(row and row[name]), CELL) end
  return table.concat(out, " ")
end
local function module_heads()
  local out = {}
  for _, name in ipairs(MODULES) do out[#out + 1] = right(name, CELL) end
  return table.concat(out, " ")
end

-- NPS with its sign, as it is usually written: +12.5, -3.0, and 0.0 without one.
local signed = cx.report.signed

-- The entries of NPS or CSAT that are there: overall first, then the stages in order.
local function entries(by)
  local out = {}
  for _, key in ipairs({ "overall", "before", "during", "after", "unstaged" }) do
    if by[key] then out[#out + 1] = { key = key, value = by[key] } end
  end
  return out
end

if summary.customers == 0 and #grid == 0 then
  print(("Experience of client %s"):format(cx.client))
  print("No experience observations yet: import events with cxhost import --client "
    .. cx.client .. " FILE")
  return
end
print(("Experience of client %s, as of %s"):format(cx.client, cx.time.date(summary.as_of)))
print(("  %s %s with experience scores"):format(count(summary.customers),
  summary.customers == 1 and "customer" or "customers"))

print("")
print("Modules (customers' scores, 0-100)")
local present = false
for _, name in ipairs(MODULES) do present = present or modules[name] ~= nil end
if present then
  print(("  %-8s %10s %7s %7s %7s %7s %7s %7s %7s"):format(
    "module", "customers", "mean", "median", "0-20", "20-40", "40-60", "60-80", "80-100"))
  for _, name in ipairs(MODULES) do
    local m = modules[name]
    if m then
      local d = m.distribution or {}
      print(("  %-8s %10s %7.1f %7.1f %7s %7s %7s %7s %7s"):format(name, count(m.customers),
        m.mean, m.median, count(d[1] or 0), count(d[2] or 0), count(d[3] or 0),
        count(d[4] or 0), count(d[5] or 0)))
    end
  end
else
  print("  no customer scores yet")
end

print("")
print("By lifecycle stage (observations at touchpoints, 0-100)")
present = false
for _, stage in ipairs(STAGES) do present = present or stages[stage] ~= nil end
if present then
  print(("  %-9s %s"):format("stage", module_heads()))
  for _, stage in ipairs(STAGES) do
    if stages[stage] then print(("  %-9s %s"):format(stage, cells(stages[stage]))) end
  end
else
  print("  no observations at touchpoints with a stage yet")
end

print("")
print("NPS")
local list = entries(nps)
if #list > 0 then
  print(("  %-9s %7s %9s %10s %9s %11s"):format(
    "", "score", "answers", "promoters", "passives", "detractors"))
  for _, e in ipairs(list) do
    local n = e.value
    print(("  %-9s %7s %9s %10s %9s %11s"):format(e.key, signed(n.score), count(n.answers),
      count(n.promoters), count(n.passives), count(n.detractors)))
  end
else
  print("  no answers yet")
end

print("")
print("CSAT")
list = entries(csat)
if #list > 0 then
  print(("  %-9s %7s %9s %10s %13s"):format("", "mean", "answers", "satisfied", "dissatisfied"))
  for _, e in ipairs(list) do
    local c = e.value
    print(("  %-9s %7s %9s %10s %13s"):format(e.key, decimals(c.mean, 2), count(c.answers),
      count(c.satisfied), count(c.dissatisfied)))
  end
else
  print("  no answers yet")
end

print("")
print("Experience grid (touchpoint x module: score (observations))")
if #grid > 0 then
  print(("  %s %-9s %s %s"):format(left("touchpoint", 20), "stage", left("provider", 20),
    module_heads()))
  for _, g in ipairs(grid) do
    print(("  %s %-9s %s %s"):format(left(tostring(g.touchpoint), 20), g.stage or "-",
      left(g.provider or "-", 20), cells(g.cells)))
  end
else
  print("  no observations at touchpoints yet")
end
