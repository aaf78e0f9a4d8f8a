-- loyalty-account: one customer's points as of a time, entry by entry, and
-- their tier changes.
--   cxhost run --client NAME docs/examples/loyalty-account.lua CUSTOMER [TIME]
local customer = arg[1] or error("give a customer id: loyalty-account.lua CUSTOMER [TIME]")
local a = cx.loyalty.account(customer, arg[2])

print(("%s as of %s: balance %d, %d available, %d pending, %d expired, %d owed; tier %s"):format(
  customer, cx.time.iso(a.as_of), a.balance, a.available, a.pending, a.expired, a.debt, a.tier))

-- What is left of each lot (each entry that added points).
local left = {}
for _, lot in ipairs(a.lots) do
  left[lot.id] = lot.left
end
for _, e in ipairs(cx.loyalty.entries(customer)) do
  local about = {}
  if left[e.id] then
    if e.available_at > e.at then
      about[#about + 1] = "spendable from " .. cx.time.date(e.available_at)
    end
    about[#about + 1] = "expires " .. (e.expires_at and cx.time.date(e.expires_at) or "never")
    about[#about + 1] = left[e.id] .. " left"
  elseif e.lot then
    about[#about + 1] = "from entry " .. e.lot
  end
  print(("  %2d  %s %+5d %-12s %-14s %s"):format(e.id, cx.time.date(e.at), e.points, e.kind,
    e.rule or "", table.concat(about, ", ")))
end

local history = cx.query([[
  SELECT h.at, h.previous, h.tier, h.reason FROM tier_history h
  JOIN customers c ON c.id = h.customer_id WHERE c.external_id = ?1 ORDER BY h.id]], customer)
for _, h in ipairs(history) do
  print(("  %s %s -> %s: %s"):format(cx.time.date(h.at), h.previous, h.tier, h.reason))
end
