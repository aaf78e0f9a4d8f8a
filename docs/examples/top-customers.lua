-- top-customers: the best customers by spend.
--   cxhost run --client NAME docs/examples/top-customers.lua [HOW_MANY]
local how_many = tonumber(arg[1]) or 5

local rows = cx.query([[
  SELECT customer, purchase_count, total_spend_cents, stage
  FROM lifecycle
  ORDER BY total_spend_cents DESC, customer
  LIMIT ?1]], how_many)

for i, row in ipairs(rows) do
  print(("%d. %s  %3d purchases  %10s  %s"):format(i, row.customer, row.purchase_count,
    cx.money.format(row.total_spend_cents), row.stage))
end
return #rows .. " customers shown"
