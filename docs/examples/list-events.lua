-- list-events: the client's latest events, oldest first, one per line.
--   cxhost run --client NAME docs/examples/list-events.lua [HOW_MANY]
local how_many = tonumber(arg[1]) or 10

local rows = cx.query([[
  SELECT * FROM (
    SELECT e.id, e.external_id, e.type, c.external_id AS customer, e.at,
           e.amount_cents, t.name AS touchpoint, e.data
    FROM events e
    LEFT JOIN customers c ON c.id = e.customer_id
    LEFT JOIN touchpoints t ON t.id = e.touchpoint_id
    ORDER BY e.id DESC LIMIT ?1)
  ORDER BY id]], how_many)

for _, e in ipairs(rows) do
  local amount = e.amount_cents and cx.money.format(e.amount_cents) or "-"
  print(("%-22s %-9s %-5s %s %6s %-5s %s"):format(e.external_id, e.type, e.customer or "-",
    cx.time.iso(e.at), amount, e.touchpoint or "-", e.data or ""))
end
