-- summary: the state of a client's data at a glance.
-- Run it with: cxhost report summary --client NAME

local count, money = cx.report.count, cx.report.money

local function one(sql, ...)
  return cx.query(sql, ...)[1]
end

local totals = one([[
  SELECT (SELECT COUNT(*) FROM customers) AS customers,
         COUNT(*) AS events,
         COALESCE(SUM(amount_cents), 0) AS revenue,
         MIN(at) AS first_at, MAX(at) AS last_at
  FROM events WHERE type <> 'campaign']])   -- runs of campaigns are not the client's events

print(("Client %s"):format(cx.client))
if totals.events == 0 then
  print("No events yet: import some with cxhost import --client " .. cx.client .. " FILE")
  return
end
print(("  %s customers, %s events, %s revenue, from %s to %s"):format(
  count(totals.customers), count(totals.events), money(totals.revenue),
  cx.time.date(totals.first_at), cx.time.date(totals.last_at)))

print("")
print("Events by type")
for _, row in ipairs(cx.query([[
    SELECT type, COUNT(*) AS n, COALESCE(SUM(amount_cents), 0) AS amount
    FROM events WHERE type <> 'campaign' GROUP BY type ORDER BY n DESC]])) do
  print(("  %-16s %10s events %16s"):format(row.type, count(row.n), money(row.amount)))
end

local buyers = one([[
  SELECT COUNT(*) AS buyers,
         SUM(CASE WHEN purchase_count > 1 THEN 1 ELSE 0 END) AS repeaters,
         COALESCE(SUM(purchase_count), 0) AS purchases,
         COALESCE(SUM(total_spend_cents), 0) AS spend
  FROM lifecycle WHERE purchase_count > 0]])
if buyers.buyers > 0 then
  print("")
  print(("Buyers: %s, of whom %s (%.1f%%) bought more than once; average order %s"):format(
    count(buyers.buyers), count(buyers.repeaters), 100 * buyers.repeaters / buyers.buyers,
    money(buyers.spend // math.max(buyers.purchases, 1))))
end

print("")
print(("Lifecycle stages (as of %s)"):format(cx.time.date(totals.last_at)))
print(("  %-9s %10s %7s %16s"):format("stage", "customers", "share", "spend"))
local order = { prospect = 1, new = 2, active = 3, lapsing = 4, lapsed = 5 }
local stages = cx.query([[
  SELECT stage, COUNT(*) AS n, COALESCE(SUM(total_spend_cents), 0) AS spend
  FROM lifecycle GROUP BY stage]])
table.sort(stages, function(a, b) return (order[a.stage] or 9) < (order[b.stage] or 9) end)
for _, row in ipairs(stages) do
  print(("  %-9s %10s %6.1f%% %16s"):format(tostring(row.stage), count(row.n),
    100 * row.n / totals.customers, money(row.spend)))
end

print("")
print("Best customers by spend")
print(("  %-10s %9s %14s  %-10s  %s"):format("customer", "purchases", "spend", "last", "stage"))
for _, row in ipairs(cx.query([[
    SELECT customer, purchase_count, total_spend_cents, last_purchase_at, stage
    FROM lifecycle ORDER BY total_spend_cents DESC, customer LIMIT 5]])) do
  print(("  %-10s %9s %14s  %-10s  %s"):format(row.customer, count(row.purchase_count),
    money(row.total_spend_cents), cx.time.date(row.last_purchase_at), row.stage))
end
