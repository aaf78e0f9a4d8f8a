-- refunds-decisions: the client's refund decisions, as stored in the refunds table.
--   cxhost run --client NAME docs/examples/refunds-decisions.lua [REQUEST_ID ...]
local wanted = {}
for _, id in ipairs(arg) do
  wanted[id] = true
end

local rows = cx.query([[
  SELECT r.external_id AS request, r.kind, r.decision, r.rule, r.requested_cents, r.approved_cents,
    r.deducted_cents, r.points, r.clawback_points, r.reason
  FROM refunds r ORDER BY r.id]])
for _, r in ipairs(rows) do
  if #arg == 0 or wanted[r.request] then
    print(("%s: %s %s by rule %s; requested %s, refunded %s, deducted %s; %d points given, %d taken back"):format(
      r.request, r.decision, r.kind, r.rule, cx.money.format(r.requested_cents), cx.money.format(r.approved_cents),
      cx.money.format(r.deducted_cents), r.points, r.clawback_points))
    print("  " .. r.reason)
  end
end
