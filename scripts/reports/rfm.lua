-- rfm: the client's buyers by recency, frequency and monetary value.
-- Run it with: cxhost report rfm --client NAME [--format table|csv|json] [--as-of DATE]
--
-- The scores and segments come from the store's view `rfm` (docs/store.md):
-- each buyer is scored 1 to 5 on recency (5: bought most recently), frequency
-- (purchases) and monetary value (spent, less refunds and price matches), by
-- quintile of rank; the segment is the cell of the
-- recency x frequency grid (rfm_segments, which config.lua may redraw).

local format = arg.format or "table"

local count, money = cx.report.count, cx.report.money

local latest = cx.query("SELECT MAX(at) AS at FROM events WHERE type <> 'campaign'")[1].at
-- Scores rank buyers against each other, so a later --as-of changes only
-- how long ago their last purchases were.
local as_of = arg.as_of and assert(cx.time.parse(arg.as_of)) or latest
local total = cx.query("SELECT COUNT(*) AS n FROM rfm")[1].n

-- The segments, best first: in the order of the grid's cells from R=5, F=5.
local order, rank = {}, 0
for _, cell in ipairs(cx.query("SELECT segment FROM rfm_segments ORDER BY r DESC, f DESC")) do
  if not order[cell.segment] then
    rank = rank + 1
    order[cell.segment] = rank
  end
end

local segments = cx.query([[
  SELECT segment, COUNT(*) AS customers, (?1 - AVG(last_at)) / 86400.0 AS recency_days,
         AVG(frequency) AS purchases, SUM(monetary_cents) AS monetary_cents
  FROM rfm GROUP BY segment]], as_of)
table.sort(segments, function(a, b)
  local ra, rb = order[a.segment] or 99, order[b.segment] or 99
  if ra ~= rb then return ra < rb end
  return a.segment < b.segment
end)
for _, s in ipairs(segments) do
  s.share = total > 0 and s.customers / total or 0
  s.per_customer_cents = s.monetary_cents // s.customers
end

-- grid[r][f]: customers in the cell, and its segment
local grid = {}
for r = 1, 5 do
  grid[r] = {}
  for f = 1, 5 do grid[r][f] = { customers = 0 } end
end
for _, cell in ipairs(cx.query("SELECT r, f, segment FROM rfm_segments")) do
  grid[cell.r][cell.f].segment = cell.segment
end
for _, cell in ipairs(cx.query("SELECT r, f, COUNT(*) AS n FROM rfm GROUP BY r, f")) do
  grid[cell.r][cell.f].customers = cell.n
end

if format == "json" then
  local rows = {}
  for r = 5, 1, -1 do rows[#rows + 1] = grid[r] end
  return cx.json.encode({
    client = cx.client, as_of = as_of and cx.time.iso(as_of) or nil, customers = total,
    segments = segments, grid = rows,
  })
end

if format == "csv" then
  print("segment,customers,share,recency_days,purchases,monetary_cents,per_customer_cents")
  for _, s in ipairs(segments) do
    print(("%s,%d,%.4f,%.1f,%.2f,%d,%d"):format(s.segment, s.customers, s.share, s.recency_days, s.purchases,
      s.monetary_cents, s.per_customer_cents))
  end
  return
end

print(("RFM of client %s"):format(cx.client))
if total == 0 then
  print("No purchases yet: RFM scores buyers.")
  return
end
print(("  %s buyers, as of %s"):format(count(total), cx.time.date(as_of)))
print("  scores 1 to 5 by quintile: recency (5: bought most recently), frequency (purchases),")
print("  monetary (spent, less refunds); the segment is the cell of recency x frequency")
print("")
print(("  %-14s %10s %7s %10s %10s %16s %14s"):format("segment", "customers", "share", "recency", "purchases",
  "spent", "per customer"))
for _, s in ipairs(segments) do
  print(("  %-14s %10s %6.1f%% %8.0f d %10.1f %16s %14s"):format(s.segment, count(s.customers), 100 * s.share,
    s.recency_days, s.purchases, money(s.monetary_cents), money(s.per_customer_cents)))
end
print("")
print("Customers by recency (rows) and frequency (columns), with each cell's segment")
local header = "      "
for f = 1, 5 do header = header .. ("%-20s"):format("F=" .. f) end
print((header:gsub("%s+$", "")))
for r = 5, 1, -1 do
  local line = ("  R=%d "):format(r)
  for f = 1, 5 do
    local cell = grid[r][f]
    line = line .. ("%-20s"):format(("%s %s"):format(count(cell.customers), cell.segment or "?"))
  end
  print((line:gsub("%s+$", "")))
end
