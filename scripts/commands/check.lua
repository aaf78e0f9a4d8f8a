-- check: `cxhost check --client NAME` verifies the loyalty ledger and the
-- refunds against each other and prints every problem. Exit status 0 when
-- all holds, 1 when something is wrong.

local problems = {}
local function problem(text, ...)
  problems[#problems + 1] = text:format(...)
end
local money = cx.money.format

-- 1. Every customer's entries replayed: their balance (the sum of the
-- entries) is what their lots hold less any debt; no redemption beyond
-- what was available, no expiry beyond what a lot had left, lots that exist.
local ledger_problems, customers, entries = cx.loyalty.ledger_problems()
for _, text in ipairs(ledger_problems) do
  problem("%s", text)
end

-- 2. A lot is taken back at most as far as it earned, and only by entries of its own customer.
for _, r in ipairs(cx.query([[
    SELECT l.id, l.points, l.customer_id, (SELECT -SUM(x.points) FROM ledger x WHERE x.lot_id = l.id AND x.kind = 'clawback') AS back,
      (SELECT COUNT(*) FROM ledger x WHERE x.lot_id = l.id AND x.customer_id <> l.customer_id) AS foreign_entries
    FROM ledger l WHERE l.id IN (SELECT lot_id FROM ledger WHERE lot_id IS NOT NULL)]])) do
  if r.points <= 0 then
    problem("entry %d is taken from, but it is not a lot (%d points)", r.id, r.points)
  end
  if (r.back or 0) > r.points then
    problem("entry %d earned %d points, but clawbacks took back %d", r.id, r.points, r.back)
  end
  if r.foreign_entries > 0 then
    problem("entry %d is taken from by %d %s of another customer", r.id, r.foreign_entries,
      r.foreign_entries == 1 and "entry" or "entries")
  end
end

-- 3. Refunds: never beyond what was paid, to the purchase's customer, and
-- each decision consistent with its amounts and its clawback entries.
for _, r in ipairs(cx.query([[
    SELECT e.external_id AS purchase, e.amount_cents AS paid, SUM(r.approved_cents + r.deducted_cents) AS refunded
    FROM refunds r JOIN events e ON e.id = r.purchase_event_id
    WHERE r.decision <> 'rejected' AND r.kind <> 'compensation'
    GROUP BY r.purchase_event_id HAVING refunded > COALESCE(paid, 0)]])) do
  problem("purchase %s: %s refunded, but %s was paid", r.purchase, money(r.refunded), money(r.paid or 0))
end
local refunds = cx.query([[
  SELECT r.external_id AS request, r.kind, r.decision, r.requested_cents, r.approved_cents, r.deducted_cents,
    r.clawback_points, r.points, r.customer_id, e.customer_id AS purchase_customer, e.external_id AS purchase,
    (SELECT COALESCE(-SUM(l.points), 0) FROM ledger l WHERE l.event_id = r.event_id AND l.kind = 'clawback') AS clawed,
    (SELECT COALESCE(SUM(l.points), 0) FROM ledger l WHERE l.event_id = r.event_id AND l.kind = 'compensation') AS granted
  FROM refunds r LEFT JOIN events e ON e.id = r.purchase_event_id ORDER BY r.id]])
for _, r in ipairs(refunds) do
  local name = ("refund %s (%s)"):format(r.request, r.kind)
  if r.purchase and r.purchase_customer ~= r.customer_id then
    problem("%s: purchase %s belongs to another customer", name, r.purchase)
  end
  if r.decision == "rejected" and (r.approved_cents > 0 or r.deducted_cents > 0 or r.points > 0) then
    problem("%s: rejected, yet %s refunded and %d points granted", name, money(r.approved_cents), r.points)
  end
  if r.kind ~= "compensation" and r.approved_cents + r.deducted_cents > r.requested_cents then
    problem("%s: %s refunded and deducted, more than the %s requested", name,
      money(r.approved_cents + r.deducted_cents), money(r.requested_cents))
  end
  if r.clawed ~= r.clawback_points then
    problem("%s: says %d points were taken back, the ledger %d", name, r.clawback_points, r.clawed)
  end
  if r.granted ~= r.points then
    problem("%s: says %d points were granted, the ledger %d", name, r.points, r.granted)
  end
end

-- 4. Each customer's tier is the one their tier history ends with.
for _, text in ipairs(cx.loyalty.tier_problems()) do
  problem("%s", text)
end

for _, text in ipairs(problems) do
  print("problem: " .. text)
end
local function count(n, one, many)
  return ("%d %s"):format(n, n == 1 and one or many)
end
local summary = ("check '%s': %s, %s, %s"):format(cx.client, count(customers, "customer with points",
  "customers with points"), count(entries, "ledger entry", "ledger entries"),
  count(#refunds, "refund decision", "refund decisions"))
if #problems == 0 then
  print(summary .. ": all hold")
  return 0
end
print(("%s: %d problem%s"):format(summary, #problems, #problems == 1 and "" or "s"))
return 1
