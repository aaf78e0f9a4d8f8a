-- explain: why an event came out as it did. `cxhost explain --client NAME --event ID`
-- prints every rule the plugins weighed for the event (what they said with
-- ctx.explain), whether it fired and why, then what the event wrote: ledger
-- entries, tier changes and refund decisions.

local id = arg.event
local ev = cx.query([[
  SELECT e.id AS row, e.external_id AS id, e.type, e.at, e.amount_cents, c.external_id AS customer,
    t.name AS touchpoint
  FROM events e LEFT JOIN customers c ON c.id = e.customer_id LEFT JOIN touchpoints t ON t.id = e.touchpoint_id
  WHERE e.external_id = ?1]], id)[1]
if not ev then
  return 1, ("client '%s' has no event '%s'"):format(cx.client, id)
end

-- A reason's placeholders filled with its values: {1}, {2:money} (cents as
-- 1,234.56), {3:date}, {4:time}, {5:points} ("1 point", "120 points").
local function render(reason, values)
  if not values then
    return reason
  end
  return (reason:gsub("{(%d+):?(%a*)}", function(i, kind)
    local v = values[tonumber(i)]
    if v == nil then
      return "none"
    elseif kind == "money" then
      return cx.money.format(v)
    elseif kind == "date" then
      return cx.time.date(v)
    elseif kind == "time" then
      return cx.time.iso(v)
    elseif kind == "points" then
      return cx.loyalty.plural(v, "point")
    end
    return tostring(v)
  end))
end

local function when(t)
  return t and cx.time.date(t) or "never"
end

local head = ("event %s: %s"):format(ev.id, ev.type)
if ev.customer then
  head = head .. " by " .. ev.customer
end
head = head .. " on " .. cx.time.iso(ev.at)
if ev.amount_cents then
  head = head .. ", " .. cx.money.format(ev.amount_cents)
end
if ev.touchpoint then
  head = head .. " at " .. ev.touchpoint
end
print(head)

-- What each plugin said, in the order the plugins ran.
local said = cx.query("SELECT data FROM explanations WHERE event_id = ?1", ev.row)[1]
if said then
  local order = {}
  for i, p in ipairs(cx.plugins()) do
    order[p.name] = i
  end
  local by_plugin = cx.json.decode(said.data)
  local names = {}
  for name in pairs(by_plugin) do
    names[#names + 1] = name
  end
  table.sort(names, function(a, b)
    return (order[a] or math.huge) < (order[b] or math.huge) or (order[a] == order[b] and a < b)
  end)
  for _, name in ipairs(names) do
    print("")
    print(name .. ":")
    for _, line in ipairs(by_plugin[name]) do
      print(("  %-8s %-24s %s"):format(line.fired and "fired" or "-", line.rule, render(line.reason, line.values)))
    end
  end
else
  print("")
  print("no loyalty or refund rule was weighed for this event")
end

local entries = cx.query([[
  SELECT l.id, l.points, l.kind, l.rule, l.note, l.at, l.available_at, l.expires_at, l.lot_id, l.plugin
  FROM ledger l WHERE l.event_id = ?1 ORDER BY l.id]], ev.row)
if #entries > 0 then
  print("")
  print("ledger entries:")
  for _, e in ipairs(entries) do
    local extra = {}
    if e.available_at then
      extra[#extra + 1] = "pending until " .. when(e.available_at)
    end
    if e.expires_at and e.points > 0 then
      extra[#extra + 1] = "expires " .. when(e.expires_at)
    end
    if e.lot_id then
      extra[#extra + 1] = "from entry " .. e.lot_id
    end
    if e.note then
      extra[#extra + 1] = e.note
    end
    print(("  entry %-5d %+7d %-12s %-16s %s  (%s)"):format(e.id, e.points, e.kind, e.rule or "",
      table.concat(extra, "; "), e.plugin))
  end
end

local tiers = cx.query([[SELECT tier, previous, reason, plugin FROM tier_history WHERE event_id = ?1 ORDER BY id]], ev.row)
if #tiers > 0 then
  print("")
  print("tier changes:")
  for _, t in ipairs(tiers) do
    print(("  %s -> %s: %s  (%s)"):format(t.previous or "none", t.tier, t.reason, t.plugin))
  end
end

local refunds = cx.query([[
  SELECT r.external_id, r.kind, r.decision, r.requested_cents, r.approved_cents, r.deducted_cents, r.points,
    r.clawback_points, r.reason, r.plugin
  FROM refunds r WHERE r.event_id = ?1 ORDER BY r.id]], ev.row)
if #refunds > 0 then
  print("")
  print("refund decisions:")
  for _, r in ipairs(refunds) do
    print(("  %s (%s): %s"):format(r.external_id, r.kind, r.reason))
    print(("    requested %s, refunded %s%s%s"):format(cx.money.format(r.requested_cents),
      cx.money.format(r.approved_cents),
      r.deducted_cents > 0 and (", deducted " .. cx.money.format(r.deducted_cents)) or "",
      r.points > 0 and (", " .. r.points .. " points granted") or ""))
  end
end
return 0
