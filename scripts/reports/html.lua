-- html: the client's data as one page to show a client: a self-contained HTML
-- file (inline CSS and inline SVG, no script, nothing fetched from anywhere)
-- that any browser opens, and that prints.
-- Run it with: cxhost report html --client NAME -o report.html
--
-- Its sections, each a chart with the same numbers as text beside or below it:
--   - the five experience scores (sense, feel, think, act, relate) as a radar,
--     with NPS and CSAT;
--   - the experience grid (touchpoints against modules) as a heat map;
--   - NPS by month, with the number of answers;
--   - the customers in each loyalty tier;
--   - the RFM grid (recency against frequency) with its segments;
--   - customer value: the spread of lifetime values, and the holdout check of
--     the model (predicted against actual repeat purchases after a cut-off);
--   - campaign uplift: treated against held-out response rates, with the
--     95% confidence interval of the difference.
-- A section without data says so in words instead of drawing an empty chart.
-- Every text that comes from the data is escaped; money is whole cents,
-- written with cx.report.money.

local count, money = cx.report.count, cx.report.money
local MODULES = cx.experience.modules

-- --- text and numbers -----------------------------------------------------------------

local ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

-- Text from the data, safe inside an element or an attribute: the five
-- characters HTML gives a meaning escaped, control characters as spaces.
local function esc(value)
  local text = tostring(value == nil and "" or value)
  text = text:gsub("[%z\1-\8\11\12\14-\31\127]", " ")
  return (text:gsub("[&<>\"']", ESCAPES))
end

-- A number with `places` decimals; "-0.0" is shown as "0.0".
local decimals = cx.report.decimals

-- A coordinate for SVG: one decimal at most.
local function num(x)
  local text = ("%.1f"):format(x)
  return (text:gsub("%.0$", ""))
end

-- A share (0.123) as "12.3%".
local function percent(share)
  return decimals(100 * share, 1) .. "%"
end

-- NPS with its sign: +12.5, -3.0, 0.0.
local signed = cx.report.signed

-- A score 0-100 as a whole number, halves up.
local function whole(x)
  return ("%d"):format(math.floor(x + 0.5))
end

local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December" }

-- Unix seconds as "1 January 2025" (UTC).
local function long_date(t)
  local y, m, d = cx.time.date(t):match("^(%-?%d+)-(%d+)-(%d+)$")
  return ("%d %s %s"):format(tonumber(d), MONTHS[tonumber(m)], y)
end

-- A nice round number at or above x (1, 2, 2.5, 5 times a power of ten).
local function nice_ceil(x)
  if x <= 0 then return 1 end
  local p = 10 ^ math.floor(math.log(x, 10))
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    if m * p >= x * (1 - 1e-12) then return m * p end
  end
  return 10 * p
end

-- --- the page ---------------------------------------------------------------------------

local page = {}
local function put(...)
  for i = 1, select("#", ...) do
    page[#page + 1] = select(i, ...)
  end
end

-- <svg> with its id, role and label (for screen readers and for the tests),
-- sized by its view box and shrinking with the page.
local function svg_open(id, label, width, height)
  return ('<svg id="%s" role="img" aria-label="%s" viewBox="0 0 %d %d" '
    .. 'width="%d" height="%d" class="chart"><title>%s</title>'):format(id, esc(label), width, height, width,
    height, esc(label))
end

local function text(x, y, content, attrs)
  return ('<text x="%s" y="%s"%s>%s</text>'):format(num(x), num(y), attrs and (" " .. attrs) or "", content)
end

local function rect(x, y, w, h, attrs)
  return ('<rect x="%s" y="%s" width="%s" height="%s"%s/>'):format(num(x), num(y), num(math.max(w, 0)),
    num(math.max(h, 0)), attrs and (" " .. attrs) or "")
end

local function line(x1, y1, x2, y2, attrs)
  return ('<line x1="%s" y1="%s" x2="%s" y2="%s"%s/>'):format(num(x1), num(y1), num(x2), num(y2),
    attrs and (" " .. attrs) or "")
end

-- An HTML table: heads, then rows of cells; a cell is text (escaped here) or
-- { html = "..." } for markup made here; columns listed in `numeric` are
-- right-aligned.
local function html_table(heads, rows, numeric, caption)
  local right = {}
  for _, i in ipairs(numeric or {}) do right[i] = true end
  local t = { '<table>' }
  if caption then t[#t + 1] = "<caption>" .. esc(caption) .. "</caption>" end
  t[#t + 1] = "<thead><tr>"
  for i, h in ipairs(heads) do
    t[#t + 1] = ("<th%s>%s</th>"):format(right[i] and ' class="num"' or "", esc(h))
  end
  t[#t + 1] = "</tr></thead><tbody>"
  for _, row in ipairs(rows) do
    t[#t + 1] = "<tr>"
    for i = 1, #heads do
      local c = row[i]
      local content = type(c) == "table" and c.html or esc(c == nil and "" or c)
      t[#t + 1] = ("<td%s>%s</td>"):format(right[i] and ' class="num"' or "", content)
    end
    t[#t + 1] = "</tr>"
  end
  t[#t + 1] = "</tbody></table>"
  return table.concat(t)
end

local function section_open(id, title, lead)
  put(('<section id="%s"><h2>%s</h2>'):format(id, esc(title)))
  if lead then put('<p class="lead">', lead, '</p>') end
end

local function section_close()
  put("</section>")
end

local function empty(message)
  put('<p class="empty">', message, '</p>')
end

-- --- colours ----------------------------------------------------------------------------

-- The heat map's scale: red (0, bad) through a light grey (50, neutral) to
-- blue (100, good); red and blue tell apart for most colour-blind readers.
local SCALE = {
  { 0, 178, 24, 43 }, { 25, 239, 138, 98 }, { 50, 247, 247, 247 }, { 75, 103, 169, 207 }, { 100, 33, 102, 172 },
}

local function score_rgb(score)
  score = math.max(0, math.min(100, score))
  for i = 2, #SCALE do
    local a, b = SCALE[i - 1], SCALE[i]
    if score <= b[1] then
      local f = (score - a[1]) / (b[1] - a[1])
      return a[2] + f * (b[2] - a[2]), a[3] + f * (b[3] - a[3]), a[4] + f * (b[4] - a[4])
    end
  end
  local last = SCALE[#SCALE]
  return last[2], last[3], last[4]
end

local function hex(r, g, b)
  return ("#%02x%02x%02x"):format(math.floor(r + 0.5), math.floor(g + 0.5), math.floor(b + 0.5))
end

-- White text on a dark fill, dark text on a light one (relative luminance).
local function ink_on(r, g, b)
  local function lin(c)
    c = c / 255
    return c <= 0.03928 and c / 12.92 or ((c + 0.055) / 1.055) ^ 2.4
  end
  local l = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
  return l < 0.35 and "#ffffff" or "#1f2933"
end

local ACCENT, ACCENT_2, MUTED = "#2f6db5", "#e0892b", "#8a96a3"

-- --- the data: what the whole page shares ---------------------------------------------------

-- The value section's options, checked before anything is written: a mistake
-- here is the user's, to be told, not a section quietly left out.
if arg.calibration_end then
  local t, why = cx.time.parse(arg.calibration_end)
  if not t then
    error(("--calibration-end '%s' is not a valid time (%s)"):format(arg.calibration_end, why), 0)
  end
end
if arg.horizon and not tostring(arg.horizon):match("^%s*%d+%.?%d*%s*[dwm]%s*$") then
  error(("--horizon '%s' is not a period: a number and d, w or m, such as 52w, 90d, 12m"):format(arg.horizon), 0)
end

local totals = cx.query([[
  SELECT (SELECT COUNT(*) FROM customers) AS customers, COUNT(*) AS events,
         MIN(at) AS first_at, MAX(at) AS last_at
  FROM events WHERE type <> 'campaign']])[1]
local purchase_types = cx.value.purchase_types()
local sales = cx.query([[
  SELECT COUNT(*) AS purchases, COALESCE(SUM(amount_cents), 0) AS revenue, COUNT(DISTINCT customer_id) AS buyers
  FROM events WHERE type IN (SELECT value FROM json_each(?1))]], purchase_types)[1]

local has_events = totals.events > 0
local range_text = has_events and ("%s to %s"):format(long_date(totals.first_at), long_date(totals.last_at))
  or "no events yet"

local summary, grid = { modules = {}, nps = {}, csat = {}, customers = 0 }, {}
if has_events then
  summary = cx.experience.summary(arg.as_of)
  grid = cx.experience.grid()
end
local nps_overall = summary.nps and summary.nps.overall
local csat_overall = summary.csat and summary.csat.overall

-- --- head -------------------------------------------------------------------------------

local CSS = [[
:root { --ink: #1f2933; --muted: #5f6b7a; --line: #e3e8ee; --accent: #2f6db5; --bg: #f5f7fa; }
* { box-sizing: border-box; }
html { background: var(--bg); }
body { margin: 0; color: var(--ink); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, sans-serif; }
.page { max-width: 1120px; margin: 0 auto; padding: 32px 24px 48px; }
header.top { background: linear-gradient(120deg, #1d4f8c, #2f6db5 60%, #3f8fc4); color: #fff;
  border-radius: 14px; padding: 28px 32px; margin-bottom: 20px; }
header.top .eyebrow { text-transform: uppercase; letter-spacing: .12em; font-size: 12px; opacity: .85; }
header.top h1 { margin: 4px 0 6px; font-size: 30px; line-height: 1.2; font-weight: 650; }
header.top .range { margin: 0; font-size: 16px; opacity: .95; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin: 0 0 20px; }
.figure { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 14px 16px; }
.figure .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .06em; }
.figure .value { font-size: 24px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.figure .note { color: var(--muted); font-size: 12px; }
nav.toc { display: flex; flex-wrap: wrap; gap: 8px; margin: 0 0 20px; }
nav.toc a { color: var(--accent); text-decoration: none; background: #fff; border: 1px solid var(--line);
  border-radius: 999px; padding: 4px 12px; font-size: 13px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 14px; padding: 22px 26px 24px;
  margin: 0 0 20px; break-inside: avoid; }
h2 { margin: 0 0 4px; font-size: 21px; font-weight: 650; }
h3 { margin: 18px 0 6px; font-size: 16px; font-weight: 650; }
p.lead { margin: 0 0 14px; color: var(--muted); max-width: 78ch; }
p.empty { margin: 8px 0 0; padding: 18px; background: var(--bg); border-radius: 10px; color: var(--muted); }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.row > figure { margin: 0; flex: 0 1 auto; }
.row > .numbers { flex: 1 1 300px; min-width: 0; overflow-x: auto; }
svg.chart { max-width: 100%; height: auto; display: block; font-family: inherit; }
svg.chart text { font-size: 12px; fill: var(--ink); }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 0 0 6px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.num, th.num { text-align: right; } td.num { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfd; }
details { margin-top: 12px; }
details summary { cursor: pointer; color: var(--accent); font-size: 13px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: 0; }
.good { color: #1b6e3a; } .bad { color: #a12a2a; }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 8px; }
@media print { html { background: #fff; } .page { padding: 0; } nav.toc { display: none; }
  section, .figure { border-color: #ccc; } header.top { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
]]

put("<!DOCTYPE html>\n", '<html lang="en"><head><meta charset="utf-8">',
  '<meta name="viewport" content="width=device-width, initial-scale=1">',
  ("<title>%s: customer experience report, %s</title>"):format(esc(cx.client), esc(range_text)),
  "<style>", CSS, "</style></head><body><div class=\"page\">")
put('<header class="top"><div class="eyebrow">Customer experience report</div>',
  ("<h1>%s</h1>"):format(esc(cx.client)),
  ('<p class="range">%s</p></header>'):format(esc(range_text)))

if not has_events then
  empty("This client has no events yet: import some with cxhost import --client " .. esc(cx.client)
    .. " FILE, then make the report again.")
  put(("<footer>Prepared by cxhost on %s.</footer></div></body></html>"):format(esc(long_date(cx.time.now()))))
  print(table.concat(page))
  return
end

-- Key figures.
local function figure(label, value, note)
  put('<div class="figure"><div class="label">', esc(label), '</div><div class="value">', esc(value), "</div>")
  if note then put('<div class="note">', esc(note), "</div>") end
  put("</div>")
end
put('<div class="figures">')
figure("Customers", count(totals.customers), count(totals.events) .. " events")
figure("Buyers", count(sales.buyers), count(sales.purchases) .. " purchases")
figure("Revenue", money(sales.revenue),
  sales.purchases > 0 and ("average order " .. money(sales.revenue // sales.purchases)) or nil)
if nps_overall then
  figure("NPS", signed(nps_overall.score), count(nps_overall.answers) .. " answers")
end
if csat_overall then
  figure("CSAT", decimals(csat_overall.mean, 2) .. " / 5", count(csat_overall.answers) .. " answers")
end
put("</div>")

-- --- the sections, in the order of the page ----------------------------------------------------

local sections = {}
local function add(id, title, fn)
  sections[#sections + 1] = { id = id, title = title, fn = fn }
end

-- Experience scores: the radar.
add("experience", "Experience scores", function()
  section_open("experience", "Experience scores",
    "How customers experience the brand in Schmitt's five modules: SENSE (the senses), FEEL (emotions), "
    .. "THINK (curiosity, ideas), ACT (actions, habits) and RELATE (belonging). Each customer's score runs "
    .. "from 0 to 100 (50 is neutral); the chart shows the mean over the customers with a score, as of "
    .. esc(long_date(summary.as_of)) .. ".")
  local modules = summary.modules or {}
  local present = 0
  for _, m in ipairs(MODULES) do
    if modules[m] then present = present + 1 end
  end
  if present == 0 then
    empty("No experience scores yet: none of the client's events is an observation of the five modules.")
    section_close()
    return
  end
  local W, H, CX, CY, R = 440, 380, 220, 192, 128
  local function point(i, value)
    local angle = -math.pi / 2 + (i - 1) * 2 * math.pi / #MODULES
    return CX + R * value / 100 * math.cos(angle), CY + R * value / 100 * math.sin(angle), angle
  end
  local s = { svg_open("chart-radar", "Radar of the five experience scores (mean, 0 to 100)", W, H) }
  for _, ring in ipairs({ 20, 40, 60, 80, 100 }) do
    local pts = {}
    for i = 1, #MODULES do
      local x, y = point(i, ring)
      pts[#pts + 1] = num(x) .. "," .. num(y)
    end
    s[#s + 1] = ('<polygon points="%s" fill="%s" stroke="#d5dce4" stroke-width="1"/>'):format(
      table.concat(pts, " "), ring == 100 and "#f8fafc" or "none")
  end
  for i = 1, #MODULES do
    local x, y = point(i, 100)
    s[#s + 1] = line(CX, CY, x, y, 'stroke="#d5dce4"')
  end
  -- The neutral 50, dashed.
  local mid = {}
  for i = 1, #MODULES do
    local x, y = point(i, 50)
    mid[#mid + 1] = num(x) .. "," .. num(y)
  end
  s[#s + 1] = ('<polygon points="%s" fill="none" stroke="#9aa5b1" stroke-dasharray="4 3"/>'):format(
    table.concat(mid, " "))
  for _, ring in ipairs({ 20, 40, 60, 80, 100 }) do
    local _, y = point(1, ring)
    s[#s + 1] = text(CX + 4, y + 11, tostring(ring), 'style="font-size:9.5px;fill:#8a96a3"')
  end
  local pts = {}
  for i, m in ipairs(MODULES) do
    if modules[m] then
      local x, y = point(i, modules[m].mean)
      pts[#pts + 1] = num(x) .. "," .. num(y)
    end
  end
  if present >= 3 then
    s[#s + 1] = ('<polygon points="%s" fill="%s" fill-opacity="0.22" stroke="%s" stroke-width="2.5" '
      .. 'stroke-linejoin="round"/>'):format(table.concat(pts, " "), ACCENT, ACCENT)
  end
  for i, m in ipairs(MODULES) do
    local lx, ly, angle = point(i, 100)
    local c = math.cos(angle)
    local anchor = math.abs(c) < 0.2 and "middle" or (c > 0 and "start" or "end")
    lx, ly = lx + 16 * c, ly + 16 * math.sin(angle)
    if math.sin(angle) < -0.9 then ly = ly - 10 end
    local mod = modules[m]
    s[#s + 1] = text(lx, ly, m:upper(), ('text-anchor="%s" style="font-weight:650;letter-spacing:.05em"'):format(anchor))
    s[#s + 1] = text(lx, ly + 16, mod and decimals(mod.mean, 1) or "no scores",
      ('text-anchor="%s" style="fill:%s;font-weight:%s"'):format(anchor, mod and ACCENT or MUTED,
        mod and "650" or "400"))
    if mod then
      local x, y = point(i, mod.mean)
      s[#s + 1] = ('<circle cx="%s" cy="%s" r="4.5" fill="%s" stroke="#fff" stroke-width="1.5"/>'):format(
        num(x), num(y), ACCENT)
    end
  end
  s[#s + 1] = "</svg>"
  put('<div class="row"><figure>', table.concat(s), "</figure>")
  local rows = {}
  for _, m in ipairs(MODULES) do
    local mod = modules[m]
    if mod then
      local d = mod.distribution or {}
      rows[#rows + 1] = { m, count(mod.customers), decimals(mod.mean, 1), decimals(mod.median, 1),
        count(d[1] or 0), count(d[2] or 0), count(d[3] or 0), count(d[4] or 0), count(d[5] or 0) }
    else
      rows[#rows + 1] = { m, "0", "-", "-", "", "", "", "", "" }
    end
  end
  put('<div class="numbers">', html_table({ "module", "customers", "mean", "median", "0-20", "20-40", "40-60",
    "60-80", "80-100" }, rows, { 2, 3, 4, 5, 6, 7, 8, 9 }, "Customers' scores, and how many fall in each band"))
  local answers = {}
  if nps_overall then
    answers[#answers + 1] = { "NPS", signed(nps_overall.score), count(nps_overall.answers),
      ("%s promoters, %s passives, %s detractors"):format(count(nps_overall.promoters),
        count(nps_overall.passives), count(nps_overall.detractors)) }
  end
  if csat_overall then
    answers[#answers + 1] = { "CSAT (1 to 5)", decimals(csat_overall.mean, 2), count(csat_overall.answers),
      ("%s satisfied (4-5), %s dissatisfied (1-2)"):format(count(csat_overall.satisfied),
        count(csat_overall.dissatisfied)) }
  end
  if #answers > 0 then
    put("<h3>Survey answers</h3>", html_table({ "measure", "score", "answers", "of which" }, answers, { 2, 3 }))
  end
  put("</div></div>")
  section_close()
end)

-- The experience grid: the heat map.
add("grid", "Experience grid", function()
  section_open("grid", "Experience grid",
    "Every touchpoint against the five modules: what customers experienced there, from 0 (bad) to 100 "
    .. "(good), each cell the recency-weighted mean of its observations, with how many there were.")
  if #grid == 0 then
    empty("No observations at touchpoints yet: the events have no touchpoint, or none of them is an "
      .. "experience observation.")
    section_close()
    return
  end
  local LABEL, CW, CH, TOP = 200, 96, 44, 34
  local W = LABEL + CW * #MODULES + 20
  local legend_y = TOP + CH * #grid + 22
  local H = legend_y + 58
  local s = { svg_open("chart-grid", "Heat map of the experience grid: touchpoints against the five modules", W, H) }
  s[#s + 1] = '<defs><linearGradient id="grid-scale" x1="0" x2="1" y1="0" y2="0">'
  for _, stop in ipairs(SCALE) do
    s[#s + 1] = ('<stop offset="%d%%" stop-color="%s"/>'):format(stop[1], hex(stop[2], stop[3], stop[4]))
  end
  s[#s + 1] = "</linearGradient></defs>"
  for j, m in ipairs(MODULES) do
    s[#s + 1] = text(LABEL + (j - 0.5) * CW, TOP - 12, m:upper(),
      'text-anchor="middle" style="font-weight:650;letter-spacing:.05em"')
  end
  for i, row in ipairs(grid) do
    local y = TOP + (i - 1) * CH
    s[#s + 1] = text(LABEL - 12, y + 19, esc(row.touchpoint), 'text-anchor="end" style="font-weight:600"')
    local where = {}
    if row.stage then where[#where + 1] = row.stage end
    if row.provider then where[#where + 1] = row.provider end
    if #where > 0 then
      s[#s + 1] = text(LABEL - 12, y + 34, esc(table.concat(where, " · ")),
        'text-anchor="end" style="font-size:10.5px;fill:#6b7785"')
    end
    for j, m in ipairs(MODULES) do
      local x = LABEL + (j - 1) * CW
      local c = row.cells[m]
      if c then
        local r, g, b = score_rgb(c.score)
        local ink = ink_on(r, g, b)
        s[#s + 1] = rect(x + 2, y + 2, CW - 4, CH - 4, ('rx="5" fill="%s"'):format(hex(r, g, b)))
        s[#s + 1] = text(x + CW / 2, y + 21, whole(c.score),
          ('text-anchor="middle" style="font-size:15px;font-weight:650;fill:%s"'):format(ink))
        s[#s + 1] = text(x + CW / 2, y + 35, count(c.observations) .. " obs.",
          ('text-anchor="middle" style="font-size:10px;fill:%s;opacity:.85"'):format(ink))
      else
        s[#s + 1] = rect(x + 2, y + 2, CW - 4, CH - 4, 'rx="5" fill="#ffffff" stroke="#dde3ea" stroke-dasharray="3 3"')
        s[#s + 1] = text(x + CW / 2, y + 27, "–", 'text-anchor="middle" style="fill:#9aa5b1"')
      end
    end
  end
  -- Legend: the scale, and what an empty cell means.
  local lx, lw = LABEL, CW * 3
  s[#s + 1] = text(lx, legend_y, "score", 'style="font-size:11px;fill:#5f6b7a"')
  s[#s + 1] = rect(lx, legend_y + 8, lw, 14, 'rx="3" fill="url(#grid-scale)"')
  for _, tick in ipairs({ 0, 25, 50, 75, 100 }) do
    local x = lx + lw * tick / 100
    s[#s + 1] = line(x, legend_y + 22, x, legend_y + 27, 'stroke="#5f6b7a"')
    local label = tostring(tick)
    if tick == 0 then label = "0 bad" elseif tick == 50 then label = "50 neutral" elseif tick == 100 then label = "100 good" end
    s[#s + 1] = text(x, legend_y + 40, label,
      ('text-anchor="%s" style="font-size:11px;fill:#5f6b7a"'):format(tick == 0 and "start" or tick == 100 and "end"
        or "middle"))
  end
  local ex = lx + lw + 30
  s[#s + 1] = rect(ex, legend_y + 6, 28, 18, 'rx="3" fill="#ffffff" stroke="#dde3ea" stroke-dasharray="3 3"')
  s[#s + 1] = text(ex + 36, legend_y + 19, "not observed", 'style="font-size:11px;fill:#5f6b7a"')
  s[#s + 1] = "</svg>"
  put("<figure style=\"margin:0\">", table.concat(s), "</figure>")
  local rows = {}
  for _, row in ipairs(grid) do
    local r = { row.touchpoint, row.stage or "-", row.provider or "-" }
    for _, m in ipairs(MODULES) do
      local c = row.cells[m]
      r[#r + 1] = c and (decimals(c.score, 1) .. " (" .. count(c.observations) .. ")") or "-"
    end
    rows[#rows + 1] = r
  end
  put("<details><summary>The grid as a table: score (observations)</summary>",
    html_table({ "touchpoint", "stage", "provider", "sense", "feel", "think", "act", "relate" }, rows,
      { 4, 5, 6, 7, 8 }), "</details>")
  section_close()
end)

-- NPS by month.
add("nps", "NPS over time", function()
  section_open("nps", "NPS over time",
    "Net promoter score by month: the share of promoters (answers 9 or 10 to \"would you recommend us?\") "
    .. "less the share of detractors (0 to 6), from -100 to +100. The grey bars are the number of answers "
    .. "each month: a month with few answers moves more by chance.")
  local months = cx.query([[
    SELECT strftime('%Y-%m', at, 'unixepoch') AS month, COUNT(*) AS answers,
           SUM(v >= 9) AS promoters, SUM(v <= 6) AS detractors
    FROM (SELECT at, CAST(json_extract(data, '$.nps') AS REAL) AS v FROM events
          WHERE type = 'survey' AND json_extract(data, '$.nps') IS NOT NULL)
    WHERE v BETWEEN 0 AND 10 GROUP BY month ORDER BY month]])
  if #months == 0 then
    empty("No NPS answers yet: no survey event has an nps field.")
    section_close()
    return
  end
  local function index(month)
    local y, m = month:match("^(%d+)-(%d+)$")
    return tonumber(y) * 12 + tonumber(m) - 1
  end
  local first, last = index(months[1].month), index(months[#months].month)
  local lo, hi, most = 0, 0, 0
  for _, m in ipairs(months) do
    m.score = 100 * (m.promoters - m.detractors) / m.answers
    m.passives = m.answers - m.promoters - m.detractors
    lo, hi, most = math.min(lo, m.score), math.max(hi, m.score), math.max(most, m.answers)
  end
  lo = math.max(-100, math.floor((lo - 5) / 20) * 20)
  hi = math.min(100, math.ceil((hi + 5) / 20) * 20)
  if lo == 0 and hi == 0 then hi = 20 end
  local span = last - first
  local W, H = 1000, 330
  local X0, X1, Y0, Y1 = 58, W - 26, 24, 200        -- the NPS band
  local B0, B1 = 224, 276                           -- the answers band
  local function x_of(i)
    return X0 + (X1 - X0) * (i - first + 0.5) / (span + 1)
  end
  local function y_of(v) return Y1 - (Y1 - Y0) * (v - lo) / (hi - lo) end
  local s = { svg_open("chart-nps", "Line chart of NPS by month, with the number of answers", W, H) }
  for v = lo, hi, 20 do
    local y = y_of(v)
    s[#s + 1] = line(X0, y, X1, y, v == 0 and 'stroke="#9aa5b1" stroke-dasharray="4 3"' or 'stroke="#edf0f4"')
    s[#s + 1] = text(X0 - 8, y + 4, v > 0 and ("+" .. v) or tostring(v),
      'text-anchor="end" style="font-size:11px;fill:#5f6b7a"')
  end
  s[#s + 1] = text(X0 - 8, Y0 - 10, "NPS", 'text-anchor="end" style="font-size:11px;font-weight:600;fill:#5f6b7a"')
  s[#s + 1] = text(X0 - 8, B0 + 10, "answers", 'text-anchor="end" style="font-size:11px;fill:#5f6b7a"')
  local bw = math.min(34, math.max(4, (X1 - X0) / (span + 1) * 0.6))
  local label_every = math.max(1, math.ceil((span + 1) / 14))
  local path = {}
  local prev
  for _, m in ipairs(months) do
    local i = index(m.month)
    local x = x_of(i)
    local h = (B1 - B0) * m.answers / most
    s[#s + 1] = rect(x - bw / 2, B1 - h, bw, h, 'rx="2" fill="#cfd6df"')
    if span < 24 then
      s[#s + 1] = text(x, B1 - h - 3, count(m.answers), 'text-anchor="middle" style="font-size:10px;fill:#5f6b7a"')
    end
    -- A month without answers breaks the line.
    path[#path + 1] = ((prev and i == prev + 1) and "L" or "M") .. num(x) .. " " .. num(y_of(m.score))
    prev = i
  end
  s[#s + 1] = ('<path d="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-linejoin="round"/>'):format(
    table.concat(path, " "), ACCENT)
  for _, m in ipairs(months) do
    local x, y = x_of(index(m.month)), y_of(m.score)
    s[#s + 1] = ('<circle cx="%s" cy="%s" r="4" fill="%s" stroke="#fff" stroke-width="1.5"/>'):format(
      num(x), num(y), ACCENT)
    if span < 24 then
      s[#s + 1] = text(x, y - 9, signed(m.score), 'text-anchor="middle" style="font-size:10.5px;font-weight:600"')
    end
  end
  for i = first, last do
    if (i - first) % label_every == 0 then
      local y, mo = i // 12, i % 12 + 1
      local x = x_of(i)
      s[#s + 1] = text(x, B1 + 18, MONTHS[mo]:sub(1, 3), 'text-anchor="middle" style="font-size:11px"')
      if mo == 1 or i == first then
        s[#s + 1] = text(x, B1 + 32, tostring(y), 'text-anchor="middle" style="font-size:10.5px;fill:#5f6b7a"')
      end
    end
  end
  s[#s + 1] = "</svg>"
  put("<figure style=\"margin:0\">", table.concat(s), "</figure>")
  local rows = {}
  for _, m in ipairs(months) do
    rows[#rows + 1] = { m.month, count(m.answers), count(m.promoters), count(m.passives), count(m.detractors),
      signed(m.score) }
  end
  put("<details><summary>NPS by month as a table</summary>",
    html_table({ "month", "answers", "promoters", "passives", "detractors", "NPS" }, rows, { 2, 3, 4, 5, 6 }),
    "</details>")
  section_close()
end)

-- Loyalty tiers.
add("tiers", "Loyalty tiers", function()
  local config = cx.loyalty.plugin_config("loyalty")
  local tiers = config and config.tiers or {}
  local basis = config and config.tier_basis or "points"
  section_open("tiers", "Loyalty tiers",
    ("How many customers are in each tier of the loyalty programme today. A tier is reached by the %s of "
      .. "the last %s months; customers who never reached one are in the first."):format(
      basis == "points" and "points earned" or "money spent", esc(config and config.tier_window_months or 12)))
  if #tiers == 0 or totals.customers == 0 then
    empty(#tiers == 0 and "The loyalty plugin is not loaded for this client, so there are no tiers."
      or "No customers yet.")
    section_close()
    return
  end
  local n, order, extra = {}, {}, {}
  for i, t in ipairs(tiers) do
    n[t.name], order[t.name] = 0, i
  end
  for _, r in ipairs(cx.query([[
      SELECT json_extract(f.data, '$.loyalty.tier') AS tier, COUNT(*) AS n
      FROM customers c LEFT JOIN facts f ON f.customer_id = c.id GROUP BY tier]])) do
    local name = r.tier == nil and tiers[1].name or tostring(r.tier)
    if n[name] == nil then
      n[name] = 0
      extra[#extra + 1] = name
    end
    n[name] = n[name] + r.n
  end
  local list = {}
  for _, t in ipairs(tiers) do list[#list + 1] = { name = t.name, min = t.min, n = n[t.name] } end
  table.sort(extra)
  for _, name in ipairs(extra) do list[#list + 1] = { name = name, n = n[name] } end
  local most = 0
  for _, t in ipairs(list) do most = math.max(most, t.n) end
  local LABEL, BAR, ROW = 120, 360, 42
  local W, H = LABEL + BAR + 150, 16 + ROW * #list
  local colours = { "#9fb8d6", "#8c9db0", "#d4a84a", "#4a6fa5", "#6c4f9e" }
  local s = { svg_open("chart-tiers", "Bar chart of the customers in each loyalty tier", W, H) }
  for i, t in ipairs(list) do
    local y = 8 + (i - 1) * ROW
    local w = most > 0 and BAR * t.n / most or 0
    s[#s + 1] = text(LABEL - 12, y + ROW / 2 + 1, esc(t.name), 'text-anchor="end" style="font-weight:600;font-size:13px"')
    s[#s + 1] = rect(LABEL, y + 6, BAR, ROW - 14, 'rx="4" fill="#f1f4f8"')
    s[#s + 1] = rect(LABEL, y + 6, math.max(w, t.n > 0 and 2 or 0), ROW - 14,
      ('rx="4" fill="%s"'):format(colours[(i - 1) % #colours + 1]))
    s[#s + 1] = text(LABEL + BAR + 10, y + ROW / 2 + 1,
      ("%s <tspan style=\"fill:#5f6b7a\">(%s)</tspan>"):format(count(t.n), percent(t.n / totals.customers)),
      'style="font-size:13px;font-weight:600"')
  end
  s[#s + 1] = "</svg>"
  put('<div class="row"><figure>', table.concat(s), "</figure>")
  local rows = {}
  for _, t in ipairs(list) do
    local from = "-"
    if t.min then from = basis == "points" and (count(t.min) .. " points") or money(t.min) end
    rows[#rows + 1] = { t.name, from, count(t.n), percent(t.n / totals.customers) }
  end
  put('<div class="numbers">', html_table({ "tier", "from", "customers", "share" }, rows, { 3, 4 }), "</div></div>")
  section_close()
end)

-- The RFM grid.
local SEGMENT_COLOURS = {
  champions = "#1b7837", loyal = "#5aae61", potential = "#a6dba0", new = "#92c5de",
  ["at risk"] = "#f4a582", ["cannot lose"] = "#d6604d", hibernating = "#c2c8cf", lost = "#8d96a0",
}
local OTHER_COLOURS = { "#b2abd2", "#fdb863", "#80cdc1", "#dfc27d", "#c2a5cf", "#bf812d" }

add("rfm", "RFM grid", function()
  section_open("rfm", "Recency and frequency (RFM)",
    "Buyers scored 1 to 5 by quintile on recency (5: bought most recently) and frequency (5: bought most "
    .. "often); each cell of the grid is a segment. The number is how many buyers are in the cell.")
  local total = cx.query("SELECT COUNT(*) AS n FROM rfm")[1].n
  if total == 0 then
    empty("No purchases yet: RFM scores buyers.")
    section_close()
    return
  end
  local cells = {}
  for r = 1, 5 do
    cells[r] = {}
    for f = 1, 5 do cells[r][f] = { n = 0 } end
  end
  for _, c in ipairs(cx.query("SELECT r, f, segment FROM rfm_segments")) do
    if cells[c.r] and cells[c.r][c.f] then cells[c.r][c.f].segment = c.segment end
  end
  -- One pass over the view: the cells, and each segment's sums.
  local segs, seg_list = {}, {}
  for _, c in ipairs(cx.query([[
      SELECT r, f, segment, COUNT(*) AS n, SUM(recency_days) AS recency, SUM(frequency) AS purchases,
             SUM(monetary_cents) AS cents
      FROM rfm GROUP BY r, f, segment]])) do
    if cells[c.r] and cells[c.r][c.f] then cells[c.r][c.f].n = cells[c.r][c.f].n + c.n end
    local name = c.segment or "?"
    local g = segs[name]
    if not g then
      g = { name = name, n = 0, recency = 0, purchases = 0, cents = 0 }
      segs[name] = g
      seg_list[#seg_list + 1] = g
    end
    g.n, g.recency, g.purchases, g.cents = g.n + c.n, g.recency + c.recency, g.purchases + c.purchases,
      g.cents + c.cents
  end
  local rank, k = {}, 0
  for r = 5, 1, -1 do
    for f = 5, 1, -1 do
      local name = cells[r][f].segment
      if name and not rank[name] then k = k + 1; rank[name] = k end
    end
  end
  table.sort(seg_list, function(a, b)
    local ra, rb = rank[a.name] or 99, rank[b.name] or 99
    if ra ~= rb then return ra < rb end
    return a.name < b.name
  end)
  local colour, other = {}, 0
  local function colour_of(name)
    if not name then return "#eef1f5" end
    if not colour[name] then
      colour[name] = SEGMENT_COLOURS[name]
      if not colour[name] then
        other = other + 1
        colour[name] = OTHER_COLOURS[(other - 1) % #OTHER_COLOURS + 1]
      end
    end
    return colour[name]
  end
  local LEFT, TOP, CW, CH = 60, 30, 100, 62
  local W, H = LEFT + CW * 5 + 12, TOP + CH * 5 + 44
  local s = { svg_open("chart-rfm", "Grid of buyers by recency score (rows) and frequency score (columns)", W, H) }
  for f = 1, 5 do
    s[#s + 1] = text(LEFT + (f - 0.5) * CW, TOP - 10, "F = " .. f, 'text-anchor="middle" style="font-weight:600"')
  end
  for r = 5, 1, -1 do
    local y = TOP + (5 - r) * CH
    s[#s + 1] = text(LEFT - 10, y + CH / 2 + 4, "R = " .. r, 'text-anchor="end" style="font-weight:600"')
    for f = 1, 5 do
      local cell = cells[r][f]
      local x = LEFT + (f - 1) * CW
      local fill = colour_of(cell.segment)
      local rr, gg, bb = tonumber(fill:sub(2, 3), 16), tonumber(fill:sub(4, 5), 16), tonumber(fill:sub(6, 7), 16)
      local ink = ink_on(rr, gg, bb)
      s[#s + 1] = rect(x + 2, y + 2, CW - 4, CH - 4, ('rx="6" fill="%s"%s'):format(fill,
        cell.n == 0 and ' fill-opacity="0.45"' or ""))
      s[#s + 1] = text(x + CW / 2, y + 28, count(cell.n),
        ('text-anchor="middle" style="font-size:17px;font-weight:650;fill:%s"'):format(ink))
      s[#s + 1] = text(x + CW / 2, y + 46, esc(cell.segment or "?"),
        ('text-anchor="middle" style="font-size:11px;fill:%s"'):format(ink))
    end
  end
  s[#s + 1] = text(LEFT + CW * 2.5, TOP + CH * 5 + 22, "frequency score: 1 (fewest purchases) to 5 (most)",
    'text-anchor="middle" style="font-size:11px;fill:#5f6b7a"')
  s[#s + 1] = text(LEFT + CW * 2.5, TOP + CH * 5 + 38, "recency score: 5 (bought most recently) at the top",
    'text-anchor="middle" style="font-size:11px;fill:#5f6b7a"')
  s[#s + 1] = "</svg>"
  put('<div class="row"><figure>', table.concat(s), "</figure>")
  local rows = {}
  for _, g in ipairs(seg_list) do
    rows[#rows + 1] = { { html = ('<span class="swatch" style="background:%s"></span><span style="white-space:nowrap">%s</span>'):format(colour_of(g.name),
      esc(g.name)) }, count(g.n), percent(g.n / total), decimals(g.recency / g.n, 0) .. " d",
      decimals(g.purchases / g.n, 1), money(g.cents), money(g.cents // g.n) }
  end
  put('<div class="numbers" style="flex-basis:440px">', html_table({ "segment", "buyers", "share", "last bought",
    "purchases", "spent", "per buyer" }, rows, { 2, 3, 4, 5, 6, 7 }, count(total) .. " buyers; means per buyer"), "</div></div>")
  section_close()
end)

-- Customer value: the lifetime values and the holdout check.

-- A money amount for an axis: "$25" when whole, else as cx.report.money.
local function short_money(cents)
  if cents % 100 == 0 then return "$" .. count(cents // 100) end
  return money(cents)
end

-- An expected count: whole above 100, one decimal below.
local function amount(x)
  if math.abs(x) >= 100 or x == math.floor(x) then return count(math.floor(x + 0.5)) end
  return decimals(x, 1)
end

-- The histogram of the lifetime values (integer cents, sorted). Values of
-- customers spread over orders of magnitude, so the bins widen as they go:
-- their edges run 1, 2, 5, 10, 20, 50, ... (in cents), starting from the
-- largest such edge at or below the 5th percentile, with a first bin from 0;
-- every edge is whole cents.
local function clv_histogram(values)
  local n = #values
  local low = values[math.max(1, math.ceil(n * 0.05))]
  local edges, e, k = { 0 }, 1, 1
  local steps = { 2, 2.5, 2 }   -- 1 -> 2 -> 5 -> 10
  while e * (k == 2 and 2.5 or 2) <= low do
    e = math.floor(e * (k == 2 and 2.5 or 2) + 0.5)
    k = k % 3 + 1
  end
  if e > 0 then edges[#edges + 1] = e end
  while edges[#edges] <= values[n] do
    e = math.floor(e * steps[k] + 0.5)
    k = k % 3 + 1
    edges[#edges + 1] = e
  end
  local list = {}
  for i = 1, #edges - 1 do list[i] = { low = edges[i], high = edges[i + 1], n = 0, cents = 0 } end
  local i = 1
  for _, v in ipairs(values) do   -- sorted: the bins fill in order
    while v >= list[i].high and i < #list do i = i + 1 end
    list[i].n, list[i].cents = list[i].n + 1, list[i].cents + v
  end
  return list
end

add("value", "Customer value", function()
  section_open("value", "Customer value",
    "What each buyer is expected to be worth: the BG/NBD model (Fader, Hardie and Lee) of how often "
    .. "customers buy and when they stop, and the Gamma-Gamma model of how much they spend per purchase. "
    .. "The models are fitted to the purchases up to a cut-off, checked against what the buyers bought after "
    .. "it (the holdout check, at the end), and then applied to every buyer's purchases to date. The lifetime "
    .. "value is the expected revenue of the coming months, discounted.")
  local value = rawget(cx, "value")
  if not value then
    empty("The value model is not available in this version of cxhost.")
    section_close()
    return
  end
  if sales.purchases == 0 then
    empty("No purchases yet: the value model reads purchases.")
    section_close()
    return
  end
  -- One fit, the costliest part: on the purchases up to the cut-off (given
  -- with --calibration-end, else halfway from the first purchase day to the
  -- latest), so that the holdout after it checks the very model that values
  -- the customers. Without a holdout to check (a cut-off at the latest day),
  -- or when too little comes before the cut-off, on every purchase.
  local span = cx.query([[
    SELECT MIN(at) AS first_at, MAX(at) AS last_at FROM events WHERE type IN (SELECT value FROM json_each(?1))]],
    purchase_types)[1]
  local first_day, last_day = span.first_at // 86400, span.last_at // 86400
  local cut = arg.calibration_end or (first_day + (last_day - first_day) // 2) * 86400
  local ok, fit = pcall(value.fit, { calibration_end = cut, holdout_end = last_day * 86400, horizon = arg.horizon })
  local why
  if not ok or not fit.gamma_gamma or fit.totals.holdout_length <= 0 then
    if not ok then
      why = fit
    elseif not fit.gamma_gamma then
      why = "no buyer had bought on two days by then"
    end
    ok, fit = pcall(value.fit, { horizon = arg.horizon })
  end
  if not ok then
    empty("The value model could not be fitted to this client's purchases: " .. esc(fit))
    section_close()
    return
  end
  local bg, gg = fit.bgnbd, fit.gamma_gamma
  if not gg then
    empty(("No buyer has bought on two days yet (%s buyers), so the spend model cannot be fitted and there is "
      .. "no lifetime value to show."):format(count(fit.totals.customers)))
    section_close()
    return
  end
  -- Every buyer's purchases to date, valued with that fit.
  local rows = fit.rows
  local now = fit
  if fit.totals.holdout_length > 0 then
    local all_rows, all_totals = value.summary({ unit = fit.unit })
    now = { rows = all_rows, totals = all_totals, by_customer = {}, unit = fit.unit, bgnbd = bg, gamma_gamma = gg,
            horizon = fit.horizon, months = fit.months, monthly_discount = fit.monthly_discount }
    for _, row in ipairs(all_rows) do now.by_customer[row.customer] = row end
    rows = all_rows
  end
  -- Each customer's value; customers with the same history have the same
  -- value, worked out once (most customers share x = 0 and their first day).
  local memo, values, people = {}, {}, {}
  local total_cents, expected = 0, 0
  for _, row in ipairs(rows) do
    local key = ("%d %.17g %.17g %.17g"):format(row.x, row.t_x, row.T, row.mean_spend_cents or -1)
    local c = memo[key]
    if not c then
      c = value.customer(row.customer, now)
      memo[key] = c
    end
    local clv = c.clv_cents or 0
    values[#values + 1] = clv
    total_cents = total_cents + clv
    expected = expected + c.expected_purchases
    people[#people + 1] = { customer = row.customer, x = row.x, p_alive = c.p_alive,
      expected = c.expected_purchases, clv = clv }
  end
  table.sort(values)
  local n = #values
  local median = values[(n + 1) // 2]
  table.sort(people, function(a, b)
    if a.clv ~= b.clv then return a.clv > b.clv end
    return a.customer < b.customer
  end)
  local top_n = math.max(1, n // 10)
  local top_cents = 0
  for i = 1, top_n do top_cents = top_cents + people[i].clv end
  local horizon_text = ("%s %s"):format(decimals(fit.horizon, fit.horizon == math.floor(fit.horizon) and 0 or 1),
    fit.unit)
  put('<div class="figures">')
  figure("Lifetime value, all buyers", money(total_cents), ("next %d months, discounted %s a month"):format(
    fit.months, percent(fit.monthly_discount)))
  figure("Per buyer", money(total_cents // n), "median " .. money(median))
  figure("Top 10% of buyers", percent(total_cents > 0 and top_cents / total_cents or 0), "of the value")
  figure("Repeat buyers", count(now.totals.repeaters), ("of %s buyers bought on more than one day"):format(count(n)))
  figure("Expected purchases", amount(expected), "in the next " .. horizon_text)
  put("</div>")

  -- The histogram.
  local bins = clv_histogram(values)
  local most = 0
  for _, b in ipairs(bins) do most = math.max(most, b.n) end
  local W, H = 1000, 300
  local X0, X1, Y0, Y1 = 64, W - 20, 30, 230
  local bw = (X1 - X0) / #bins
  local s = { svg_open("chart-clv", "Histogram of the customers' lifetime values", W, H) }
  local step = nice_ceil(most / 4)
  for v = 0, most, step do
    local y = Y1 - (Y1 - Y0) * v / most
    s[#s + 1] = line(X0, y, X1, y, 'stroke="#edf0f4"')
    s[#s + 1] = text(X0 - 8, y + 4, count(math.floor(v + 0.5)), 'text-anchor="end" style="font-size:11px;fill:#5f6b7a"')
  end
  s[#s + 1] = text(X0 - 8, Y0 - 14, "buyers", 'text-anchor="end" style="font-size:11px;font-weight:600;fill:#5f6b7a"')
  for i, b in ipairs(bins) do
    local x = X0 + (i - 1) * bw
    local h = most > 0 and (Y1 - Y0) * b.n / most or 0
    s[#s + 1] = rect(x + 3, Y1 - h, bw - 6, h, ('rx="3" fill="%s"'):format(ACCENT))
    s[#s + 1] = text(x + bw / 2, Y1 - h - 5, count(b.n), 'text-anchor="middle" style="font-size:11px;font-weight:600"')
    s[#s + 1] = text(x, Y1 + 16, short_money(b.low), 'text-anchor="middle" style="font-size:10.5px;fill:#5f6b7a"')
  end
  s[#s + 1] = text(X1, Y1 + 16, short_money(bins[#bins].high), 'text-anchor="middle" style="font-size:10.5px;fill:#5f6b7a"')
  s[#s + 1] = text((X0 + X1) / 2, Y1 + 40, ("lifetime value over the next %d months (the bins widen: 1, 2, 5, 10, "
    .. "20, 50, ...)"):format(fit.months), 'text-anchor="middle" style="font-size:11px;fill:#5f6b7a"')
  s[#s + 1] = "</svg>"
  put("<h3>How the lifetime values spread</h3><figure style=\"margin:0\">", table.concat(s), "</figure>")
  local hrows = {}
  for _, b in ipairs(bins) do
    hrows[#hrows + 1] = { money(b.low) .. " to under " .. money(b.high),
      count(b.n), percent(b.n / n), money(b.cents) }
  end
  put("<details><summary>The histogram as a table</summary>",
    html_table({ "lifetime value", "buyers", "share", "their value" }, hrows, { 2, 3, 4 }), "</details>")

  -- The most valuable buyers, and the models' parameters.
  local trows = {}
  for i = 1, math.min(10, #people) do
    local p = people[i]
    trows[#trows + 1] = { p.customer, count(p.x), percent(p.p_alive), decimals(p.expected, 2), money(p.clv) }
  end
  put('<div class="row" style="margin-top:18px"><div class="numbers" style="flex-basis:460px">',
    html_table({ "customer", "repeat purchases", "P(alive)", "expected purchases (" .. horizon_text .. ")",
      "lifetime value" }, trows, { 2, 3, 4, 5 }, "The ten most valuable buyers"), "</div>")
  local mrows = {
    { "BG/NBD", ("r = %s, alpha = %s, a = %s, b = %s"):format(decimals(bg.r, 3), decimals(bg.alpha, 3),
      decimals(bg.a, 3), decimals(bg.b, 3)), decimals(bg.ll, 1), count(bg.n) },
    { "Gamma-Gamma", ("p = %s, q = %s, gamma = %s"):format(decimals(gg.p, 3), decimals(gg.q, 3),
      decimals(gg.gamma, 3)), decimals(gg.ll, 1), count(gg.n) },
  }
  put('<div class="numbers" style="flex-basis:400px">', html_table({ "model", "parameters", "log-likelihood", "customers" }, mrows, { 3, 4 },
    ("The models, fitted to the purchases up to %s (time in %s, spend in whole currency units)"):format(
      long_date(fit.totals.calibration_end), fit.unit)), "</div></div>")

  -- The holdout check: the fit's predictions for the time after the cut-off.
  put("<h3>Holdout check: predicted against actual repeat purchases</h3>")
  local cal, check = fit, fit.totals.holdout_length > 0 and fit.holdout
  if not check and fit.totals.holdout_length > 0 then
    local ok3, result = pcall(value.holdout, bg, fit.rows, fit.totals.holdout_length)
    if ok3 then check = result end
  end
  if not check then
    empty(why and ("The model could not be fitted to the purchases up to the cut-off (" .. esc(why)
      .. "), so it is fitted to all of them and there is nothing after to check it against.")
      or "There is no time after the cut-off to check the model against.")
    section_close()
    return
  end
  local cal_end, hold_end = cal.totals.calibration_end, cal.totals.holdout_end
  put(('<p class="lead">Fitted to the purchases up to %s (%s buyers), then asked how many repeat purchases '
    .. 'those buyers would make from then to %s (%s %s): it predicted <strong>%s</strong>; they made '
    .. '<strong>%s</strong> (%s). By how often they had bought before the cut-off:</p>'):format(
    esc(long_date(cal_end)), count(cal.totals.customers), esc(long_date(hold_end)),
    decimals(cal.totals.holdout_length, 1), esc(cal.unit), amount(check.predicted), count(check.actual),
    check.actual > 0 and ("predicted " .. (check.predicted >= check.actual and "+" or "")
      .. decimals(100 * (check.predicted - check.actual) / check.actual, 1) .. "% against actual") or "none"))
  local buckets = check.buckets
  local top = math.max(check.actual, check.predicted, 1)
  local btop = 1
  for _, b in ipairs(buckets) do btop = math.max(btop, b.actual, b.predicted) end
  local TW, PW, GAP2, HH = 170, 720, 50, 290
  local W2 = 60 + TW + GAP2 + PW + 10
  local PY0, PY1 = 40, 230
  s = { svg_open("chart-holdout",
    "Bar chart of predicted against actual repeat purchases after the cut-off, in total and by purchases before it",
    W2, HH) }
  s[#s + 1] = rect(60, 8, 10, 10, ('rx="2" fill="%s"'):format(ACCENT))
  s[#s + 1] = text(74, 17, "predicted", 'style="font-size:11px"')
  s[#s + 1] = rect(144, 8, 10, 10, ('rx="2" fill="%s"'):format(ACCENT_2))
  s[#s + 1] = text(158, 17, "actual", 'style="font-size:11px"')
  local function panel(x0, pw, scale, groups, caption)
    local step2 = nice_ceil(scale / 4)
    local max = step2 * math.ceil(scale / step2)
    for v = 0, max + 1e-9, step2 do
      local y = PY1 - (PY1 - PY0) * v / max
      s[#s + 1] = line(x0, y, x0 + pw, y, 'stroke="#edf0f4"')
      s[#s + 1] = text(x0 - 6, y + 4, amount(v), 'text-anchor="end" style="font-size:10.5px;fill:#5f6b7a"')
    end
    local gw = pw / #groups
    local bar = math.min(28, gw * 0.36)
    for i, g in ipairs(groups) do
      local cx0 = x0 + (i - 0.5) * gw
      for j, v in ipairs({ g.predicted, g.actual }) do
        local h = (PY1 - PY0) * v / max
        local x = cx0 + (j == 1 and -bar - 1 or 1)
        s[#s + 1] = rect(x, PY1 - h, bar, h, ('rx="2" fill="%s"'):format(j == 1 and ACCENT or ACCENT_2))
        s[#s + 1] = text(x + bar / 2, PY1 - h - 4, amount(v), 'text-anchor="middle" style="font-size:10px"')
      end
      s[#s + 1] = text(cx0, PY1 + 16, esc(g.label), 'text-anchor="middle" style="font-size:11px;font-weight:600"')
    end
    s[#s + 1] = text(x0 + pw / 2, PY1 + 40, caption, 'text-anchor="middle" style="font-size:11px;fill:#5f6b7a"')
  end
  panel(60, TW, top, { { label = "all buyers", predicted = check.predicted, actual = check.actual } }, "in total")
  local groups = {}
  for _, b in ipairs(buckets) do
    groups[#groups + 1] = { label = b.x, predicted = b.predicted, actual = b.actual }
  end
  panel(60 + TW + GAP2, PW, btop, groups, "by repeat purchases before the cut-off")
  s[#s + 1] = "</svg>"
  put("<figure style=\"margin:0\">", table.concat(s), "</figure>")
  local crows = {}
  for _, b in ipairs(buckets) do
    crows[#crows + 1] = { b.x, count(b.customers), amount(b.predicted), count(b.actual),
      b.actual > 0 and (((b.predicted >= b.actual) and "+" or "") .. decimals(100 * (b.predicted - b.actual) / b.actual, 1) .. "%") or "-" }
  end
  crows[#crows + 1] = { { html = "<strong>all</strong>" }, count(cal.totals.customers), amount(check.predicted),
    count(check.actual), check.actual > 0 and (((check.predicted >= check.actual) and "+" or "")
      .. decimals(100 * (check.predicted - check.actual) / check.actual, 1) .. "%") or "-" }
  put(html_table({ "repeat purchases before the cut-off", "buyers", "predicted after", "actual after",
    "predicted against actual" }, crows, { 2, 3, 4, 5 }))
  section_close()
end)

-- Campaign uplift.
add("campaigns", "Campaign uplift", function()
  section_open("campaigns", "Campaign uplift",
    "For each campaign, the share of customers who responded, in the group it treated and in the group it "
    .. "held out on purpose; the difference is what the campaign did. The whisker is the 95% confidence "
    .. "interval of the difference: when it crosses zero, the campaign's effect cannot be told from chance.")
  local list = cx.query("SELECT id, name, description, module, source FROM campaigns ORDER BY name")
  if #list == 0 then
    empty("This client has no campaigns yet.")
    section_close()
    return
  end
  local results, waiting = {}, {}
  for _, k in ipairs(list) do
    local c = k.source and cx.campaign.compile(k.source, "campaign " .. k.name)
    local response = c and c.response or { event = "purchase", days = 30 }
    local o = cx.campaign.outcome(k.id, response)
    local t, h = o.treated, o.holdout
    if t.n + h.n == 0 then
      waiting[#waiting + 1] = k.name
    else
      local rate, revenue = o.rate, o.revenue
      results[#results + 1] = { k = k, response = response, t = t, h = h, rate = rate, revenue = revenue }
    end
  end
  if #results == 0 then
    empty("No campaign has reached a customer yet: " .. esc(table.concat(waiting, ", ")) .. ".")
    section_close()
    return
  end
  local top, spread = 0, 0
  for _, r in ipairs(results) do
    top = math.max(top, r.rate.rate_t or 0, r.rate.rate_h or 0)
    if r.rate.diff then spread = math.max(spread, math.abs(r.rate.low), math.abs(r.rate.high)) end
  end
  top = math.min(1, nice_ceil(math.max(top, 0.01) * 1.05))
  spread = nice_ceil(math.max(spread, 0.01) * 1.05)
  local LABEL, P1, GAP, P2, ROW, TOP = 190, 320, 70, 380, 70, 46
  local W = LABEL + P1 + GAP + P2 + 20
  local H = TOP + ROW * #results + 30
  local x1 = LABEL
  local x2 = LABEL + P1 + GAP
  local function rx(v) return x1 + P1 * v / top end
  local function ux(v) return x2 + P2 / 2 + (P2 / 2) * v / spread end
  local s = { svg_open("chart-uplift",
    "Response rates of treated and held-out customers per campaign, and the uplift with its 95% confidence interval",
    W, H) }
  s[#s + 1] = text(x1, 16, "response rate", 'style="font-weight:650"')
  s[#s + 1] = rect(x1 + 110, 7, 10, 10, ('rx="2" fill="%s"'):format(ACCENT))
  s[#s + 1] = text(x1 + 124, 16, "treated", 'style="font-size:11px"')
  s[#s + 1] = rect(x1 + 176, 7, 10, 10, 'rx="2" fill="#b8c2cc"')
  s[#s + 1] = text(x1 + 190, 16, "held out", 'style="font-size:11px"')
  s[#s + 1] = text(x2, 16, "uplift, percentage points (95% CI)", 'style="font-weight:650"')
  local bottom = TOP + ROW * #results
  for _, v in ipairs({ 0, top / 2, top }) do
    s[#s + 1] = line(rx(v), TOP - 8, rx(v), bottom, 'stroke="#edf0f4"')
    s[#s + 1] = text(rx(v), bottom + 16, (decimals(100 * v, 1):gsub("%.0$", "")) .. "%", 'text-anchor="middle" style="font-size:10.5px;fill:#5f6b7a"')
  end
  for _, v in ipairs({ -spread, -spread / 2, 0, spread / 2, spread }) do
    s[#s + 1] = line(ux(v), TOP - 8, ux(v), bottom, v == 0 and 'stroke="#5f6b7a" stroke-dasharray="4 3"' or 'stroke="#edf0f4"')
    s[#s + 1] = text(ux(v), bottom + 16, (v > 0 and "+" or "") .. (decimals(100 * v, 1):gsub("%.0$", "")),
      'text-anchor="middle" style="font-size:10.5px;fill:#5f6b7a"')
  end
  for i, r in ipairs(results) do
    local y = TOP + (i - 1) * ROW
    s[#s + 1] = text(LABEL - 12, y + 24, esc(r.k.name), 'text-anchor="end" style="font-weight:600"')
    s[#s + 1] = text(LABEL - 12, y + 40, ("%s treated, %s held out"):format(count(r.t.n), count(r.h.n)),
      'text-anchor="end" style="font-size:10.5px;fill:#5f6b7a"')
    local bars = { { r.rate.rate_t, ACCENT, 8 }, { r.rate.rate_h, "#b8c2cc", 30 } }
    for _, b in ipairs(bars) do
      local v, fill, dy = b[1], b[2], b[3]
      if v then
        s[#s + 1] = rect(x1, y + dy, math.max(P1 * v / top, 1.5), 18, ('rx="3" fill="%s"'):format(fill))
        s[#s + 1] = text(rx(v) + 6, y + dy + 13, percent(v), 'style="font-size:11px;font-weight:600"')
      end
    end
    local cy = y + 28
    if r.rate.diff then
      local good = r.rate.low > 0
      local bad = r.rate.high < 0
      local c = good and "#1b7837" or bad and "#b2182b" or "#5f6b7a"
      s[#s + 1] = line(ux(r.rate.low), cy, ux(r.rate.high), cy, ('stroke="%s" stroke-width="2"'):format(c))
      s[#s + 1] = line(ux(r.rate.low), cy - 7, ux(r.rate.low), cy + 7, ('stroke="%s" stroke-width="2"'):format(c))
      s[#s + 1] = line(ux(r.rate.high), cy - 7, ux(r.rate.high), cy + 7, ('stroke="%s" stroke-width="2"'):format(c))
      s[#s + 1] = ('<circle cx="%s" cy="%s" r="5.5" fill="%s" stroke="#fff" stroke-width="1.5"/>'):format(
        num(ux(r.rate.diff)), num(cy), c)
      s[#s + 1] = text(ux(r.rate.diff), cy - 12, esc(cx.uplift.format_points(r.rate.diff)),
        'text-anchor="middle" style="font-size:11px;font-weight:650"')
    else
      s[#s + 1] = text(x2 + P2 / 2, cy + 4, "not measurable: " .. esc(r.rate.reason),
        'text-anchor="middle" style="font-size:11px;fill:#5f6b7a"')
    end
  end
  s[#s + 1] = "</svg>"
  put("<figure style=\"margin:0\">", table.concat(s), "</figure>")
  local rows = {}
  for _, r in ipairs(results) do
    local rate, rev = r.rate, r.revenue
    local uplift = rate.diff and ("%s (%s to %s)"):format(cx.uplift.format_points(rate.diff),
      cx.uplift.format_points(rate.low), cx.uplift.format_points(rate.high)) or ("n/a: " .. rate.reason)
    local function cents(x)
      local c = math.floor(x + 0.5)
      return (c < 0 and "-" or "+") .. money(math.abs(c))
    end
    local revenue = rev.low and ("%s (%s to %s)"):format(cents(rev.diff), cents(rev.low), cents(rev.high))
      or ("n/a: " .. (rev.reason or ""))
    rows[#rows + 1] = { r.k.name, r.k.module or "",
      ("%s within %d days"):format(r.response.event, r.response.days),
      ("%s of %s (%s)"):format(count(r.t.responded), count(r.t.n), cx.uplift.format_rate(rate.rate_t)),
      ("%s of %s (%s)"):format(count(r.h.responded), count(r.h.n), cx.uplift.format_rate(rate.rate_h)),
      uplift, revenue }
  end
  put(html_table({ "campaign", "module", "a response is", "treated responded", "held out responded",
    "uplift (95% CI)", "revenue per customer uplift (95% CI)" }, rows, { 4, 5, 6, 7 }))
  if #waiting > 0 then
    put('<p class="lead" style="margin-top:10px">Not shown, as they have reached no customer yet: ',
      esc(table.concat(waiting, ", ")), ".</p>")
  end
  section_close()
end)

-- --- put together ---------------------------------------------------------------------------

put('<nav class="toc">')
for _, sec in ipairs(sections) do
  put(('<a href="#%s">%s</a>'):format(sec.id, esc(sec.title)))
end
put("</nav>")
for _, sec in ipairs(sections) do
  sec.fn()
end
put(("<footer>Prepared by cxhost for %s on %s, from the client's events of %s.</footer>"):format(
  esc(cx.client), esc(long_date(cx.time.now())), esc(range_text)))
put("</div></body></html>")
print(table.concat(page))
