-- ledger: one customer's loyalty points, entry by entry, with the balance.
--   cxhost run --client NAME docs/examples/ledger.lua CUSTOMER
local customer = arg[1] or error("give a customer id: ledger.lua CUSTOMER")

local rows = cx.query([[
  SELECT l.at, l.points, l.kind, l.rule, l.note, l.plugin
  FROM ledger l JOIN customers c ON c.id = l.customer_id
  WHERE c.external_id = ?1
  ORDER BY l.id]], customer)

local balance = 0
for _, e in ipairs(rows) do
  balance = balance + e.points
  print(("%s %+5d %-6s %-10s %-12s %5d"):format(cx.time.date(e.at), e.points, e.kind,
    e.rule or "", e.note or "", balance))
end
return ("%s: %d entries, balance %d points"):format(customer, #rows, balance)
