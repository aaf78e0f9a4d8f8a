-- refund: `cxhost refund request --client NAME --purchase ID [--amount X |
-- --line SKU[:QTY] ...] [--reason TEXT] [--id ID] [--at TIME]`: a refund
-- request as a refund_request event through the plugins, and its decision.

local purchase = cx.query([[
  SELECT e.external_id AS id, c.external_id AS customer FROM events e
  LEFT JOIN customers c ON c.id = e.customer_id WHERE e.external_id = ?1]], arg.purchase)[1]
if not purchase then
  return 1, ("client '%s' has no purchase '%s'"):format(cx.client, arg.purchase)
end
if not purchase.customer then
  return 1, ("purchase '%s' has no customer to refund"):format(arg.purchase)
end
if arg.amount then
  local cents, why = cx.money.parse(arg.amount)
  if not cents then
    return 2, "--amount: " .. why
  end
  if cents <= 0 then
    return 2, "--amount: give an amount above 0"
  end
end
local at = arg.at or cx.time.iso(cx.time.now())
local t, why = cx.time.parse(at)
if not t then
  return 2, "--at: " .. why
end
local data = { purchase = arg.purchase, reason = arg.reason }
if #arg.lines > 0 then
  data.lines = {}
  for _, text in ipairs(arg.lines) do
    local sku, qty = text:match("^(.-):(%d+)$")
    data.lines[#data.lines + 1] = { sku = sku or text, qty = qty and tonumber(qty) or nil }
  end
end
-- Without --id, the request's id is made of what it asks (purchase, time, amount, lines), so
-- running the same command again is decided once and two different requests are not mixed up.
local id = arg.id or ("refund:%s:%s%s%s"):format(arg.purchase, cx.time.iso(t),
  arg.amount and (":" .. cx.money.parse(arg.amount)) or "", #arg.lines > 0 and (":" .. table.concat(arg.lines, ",")) or "")
local result = cx.ingest({ id = id, type = "refund_request", customer = purchase.customer, at = t,
                           amount = arg.amount, data = data })
local d = cx.query([[SELECT decision, reason, requested_cents, approved_cents, deducted_cents, clawback_points
  FROM refunds WHERE external_id = ?1]], id)[1]
if not d then
  return 1, ("request %s was stored, but no plugin decided it (is the refund plugin replaced?)"):format(id)
end
print(("request %s%s"):format(id, result == "duplicate" and " (decided before; nothing new was done)" or ""))
print(d.reason)
print(("refunded %s of %s requested%s; %d points taken back"):format(cx.money.format(d.approved_cents),
  cx.money.format(d.requested_cents),
  d.deducted_cents > 0 and (", " .. cx.money.format(d.deducted_cents) .. " deducted for spent points") or "",
  d.clawback_points))
return 0
