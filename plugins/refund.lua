-- refund: decides refund requests, price matches and complaints' compensation.
--
-- Every rule is a setting (below, in `defaults`); a client changes them in
-- clients/NAME/config.lua, for example:
--   return { refund = { return_days = { default = 7, deposit = 3 }, clawback = "only_pending" } }
-- docs/refunds.md describes every rule with worked examples. In short:
--
--   Return window   a `refund_request` within return_days of the purchase
--                   (by the purchase's, or each line's, category) is refunded
--                   in full, no questions asked; after it, rejected.
--   Price match     a `price_match` within price_match_days, showing a lower
--                   price for the same item, refunds price_match_multiplier
--                   times the difference, never more than was paid.
--   Compensation    a `complaint` with a severity earns what the
--                   compensation table gives (points, money credit), within
--                   a cap per customer per period.
--   Partial         a request for some lines, or for an amount, refunds those;
--                   a purchase is never refunded beyond what was paid.
--   Clawback        a refund takes back the purchase's points in proportion;
--                   points already spent are handled by the `clawback` policy.
--
-- Each decision is stored in the refunds table, approved, partly approved or
-- rejected, with its rule and a reason for people; a request id (the event
-- id) is decided once. ctx.explain tells `cxhost explain` what was weighed.

local L = cx.loyalty
local DAY = L.DAY
local fmt = cx.money.format

local POLICIES = { only_pending = true, within_balance = true, unlimited = true, deduct_money = true }

local is_purchase = {}
local loyalty = nil   -- the loyalty plugin's settings (expiry of compensation points), if it runs

local plural = L.plural

local function window_days(ctx, category)
  local days = ctx.config.return_days
  return days[category or "default"] or days.default or 0
end

-- The purchase an event names, with its data decoded, or nil and why not.
local function find_purchase(ev, who)
  local id = ev.data.purchase
  if type(id) ~= "string" or id == "" then
    return nil, "the request names no purchase (give data.purchase)"
  end
  local row = cx.query([[
    SELECT e.external_id AS id, e.type, e.at, e.amount_cents, e.data, c.external_id AS customer
    FROM events e LEFT JOIN customers c ON c.id = e.customer_id WHERE e.external_id = ?1]], id)[1]
  if not row then
    return nil, ("there is no purchase '%s'"):format(id)
  end
  if not is_purchase[row.type] then
    return nil, ("event '%s' is a %s, not a purchase"):format(id, row.type)
  end
  if who and row.customer ~= who then
    return nil, ("purchase '%s' is not %s's"):format(id, who)
  end
  if not row.amount_cents or row.amount_cents <= 0 then
    return nil, ("purchase '%s' has no amount"):format(id)
  end
  row.data = row.data and cx.json.decode(row.data) or {}
  -- Its lines, numbered: { line, sku, qty, unit_cents, category }.
  local lines = {}
  if type(row.data.lines) == "table" then
    for i, line in ipairs(row.data.lines) do
      local unit = line.unit_cents or (line.price and cx.money.parse(tostring(line.price)))
      lines[i] = { line = i, sku = line.sku and tostring(line.sku), qty = math.tointeger(line.qty or 1) or 1,
                   unit_cents = math.tointeger(unit) or 0, category = line.category or row.data.category }
    end
  end
  row.lines = lines
  return row
end

-- What was refunded of a purchase already: money (with what was deducted
-- for spent points) and quantities per line.
local function refunded(purchase_id)
  local money, qty = 0, {}
  for _, r in ipairs(cx.query([[
      SELECT r.approved_cents + r.deducted_cents AS cents, r.lines FROM refunds r
      JOIN events e ON e.id = r.purchase_event_id
      WHERE e.external_id = ?1 AND r.decision <> 'rejected' AND r.kind <> 'compensation']], purchase_id)) do
    money = money + r.cents
    if r.lines then
      for _, line in ipairs(cx.json.decode(r.lines)) do
        qty[line.line] = (qty[line.line] or 0) + line.qty
      end
    end
  end
  return money, qty
end

local function find_line(purchase, wanted)
  for _, line in ipairs(purchase.lines) do
    if (wanted.line and line.line == math.tointeger(wanted.line)) or (wanted.sku and line.sku == tostring(wanted.sku)) then
      return line
    end
  end
  return nil
end

-- Takes back the purchase's points in proportion to the money refunded, by
-- the clawback policy. Returns the points taken back, the money to deduct
-- and a sentence for the reason.
local function claw_back(ctx, request, who, purchase, before, value, at)
  local entries = L.entries(who)
  local earn
  for _, e in ipairs(entries) do
    if e.event == purchase.id and e.kind == "earn" then
      earn = e
      break
    end
  end
  if not earn then
    ctx.explain("clawback", false, "the purchase earned no points")
    return 0, 0, nil
  end
  local paid = purchase.amount_cents
  -- Cumulative, so that refunding a purchase in parts takes back all its points in the end.
  local due = earn.points * math.min(paid, before + value) // paid - earn.points * before // paid
  local policy = ctx.config.clawback
  local account = L.replay(entries, at)
  local lot
  for _, l in ipairs(account.lots) do
    if l.id == earn.id then
      lot = l
    end
  end
  local left = lot and lot.left or 0
  local pending = lot and lot.available_at > at
  local other = math.max(0, account.available - ((lot and not pending) and left or 0))
  local take, deduct = due, 0
  if policy == "only_pending" then
    take = pending and math.min(due, left) or 0
  elseif policy == "within_balance" then
    take = math.min(due, left + other)
  elseif policy == "deduct_money" then
    take = math.min(due, left)
    deduct = (due - take) * ctx.config.point_value_cents
  end
  local sentence
  if due == 0 then
    sentence = "no points to take back"
  elseif take == due then
    sentence = ("%s taken back (%s)"):format(plural(take, "point"), policy)
  elseif policy == "deduct_money" then
    sentence = ("%d of %s taken back; the other %d were spent: %s taken off the refund (deduct_money)")
      :format(take, plural(due, "point"), due - take, fmt(deduct))
  else
    sentence = ("%d of %s taken back; the other %d were %s (%s)"):format(take, plural(due, "point"), due - take,
      policy == "only_pending" and "no longer pending" or "spent", policy)
  end
  ctx.ledger_add(who, -take, {
    kind = "clawback", rule = policy, lot = earn.id, spend_cents = -value,
    note = ("refund %s of purchase %s"):format(request, purchase.id),
  })
  ctx.explain("clawback", take > 0, sentence)
  return take, deduct, sentence
end

-- Stores the decision, with the clawback done for approved money.
local function decide(ctx, ev, who, purchase, d)
  d.purchase = purchase and purchase.id
  if d.approved_cents > 0 and purchase then
    local before = refunded(purchase.id)
    local take, deduct, sentence = claw_back(ctx, ev.id, who, purchase, before, d.approved_cents, ev.at)
    deduct = math.min(deduct, d.approved_cents)
    d.approved_cents, d.deducted_cents = d.approved_cents - deduct, deduct
    d.clawback_points, d.clawback_policy = take, ctx.config.clawback
    if sentence then
      d.reason = d.reason .. "; " .. sentence
    end
  end
  d.reason = d.decision .. ": " .. d.reason
  ctx.explain(d.rule, d.decision ~= "rejected", d.reason)
  ctx.refund_record(who, d)
end

local function reject(ctx, ev, who, purchase, kind, rule, reason, requested)
  decide(ctx, ev, who, purchase, { kind = kind, rule = rule, decision = "rejected", reason = reason,
                                   requested_cents = requested or 0, approved_cents = 0 })
end

local function status(approved, requested)
  return approved <= 0 and "rejected" or approved < requested and "partial" or "approved"
end

-- The purchase a request names, and the customer to decide for. When the
-- purchase cannot be refunded at all, the rejection is stored and the
-- purchase is nil.
local function purchase_of(ctx, ev, kind, what, requested)
  local purchase, why = find_purchase(ev, ev.customer)
  local who = ev.customer or (purchase and purchase.customer)
  assert(who, what .. " needs a customer (or a purchase that has one)")
  if not purchase then
    reject(ctx, ev, who, nil, kind, "purchase", why, requested)
  end
  return purchase, who
end

local function on_refund_request(ev, ctx)
  local purchase, who = purchase_of(ctx, ev, "return", "a refund request", ev.amount_cents)
  if not purchase then
    return
  end
  local before, qty_before = refunded(purchase.id)
  local left = purchase.amount_cents - before
  local wanted = ev.data.lines
  if ev.at < purchase.at then
    return reject(ctx, ev, who, purchase, "return", "request",
      ("the request (%s) is dated before the purchase (%s)"):format(cx.time.iso(ev.at), cx.time.iso(purchase.at)),
      ev.amount_cents)
  end
  if ev.amount_cents and ev.amount_cents <= 0 then
    return reject(ctx, ev, who, purchase, "return", "request",
      ("nothing to refund: %s requested"):format(fmt(ev.amount_cents)), 0)
  end
  if wanted ~= nil and ev.amount_cents then
    return reject(ctx, ev, who, purchase, "return", "request", "a request gives either lines or an amount, not both",
      ev.amount_cents)
  end
  local function window(category)
    local days = window_days(ctx, category)
    local closes = purchase.at + days * DAY
    return ev.at <= closes, days, closes
  end

  if type(wanted) ~= "table" then
    local requested = ev.amount_cents or left
    local open, days, closes = window(purchase.data.category)
    if not open then
      return reject(ctx, ev, who, purchase, "return", "return_window",
        ("the %d-day window closed on %s"):format(days, cx.time.date(closes)), requested)
    end
    if left <= 0 then
      return reject(ctx, ev, who, purchase, "return", "refunded_total",
        ("purchase %s was refunded in full already (%s)"):format(purchase.id, fmt(purchase.amount_cents)), requested)
    end
    local approved = math.min(requested, left)
    local reason = ("%s refunded, within the %d-day window (open until %s)"):format(fmt(approved), days,
      cx.time.date(closes))
    if approved < requested then
      reason = ("%s of %s refunded: only %s of purchase %s (%s) was left to refund"):format(fmt(approved),
        fmt(requested), fmt(left), purchase.id, fmt(purchase.amount_cents))
    end
    return decide(ctx, ev, who, purchase, { kind = "return", rule = "return_window", requested_cents = requested,
      approved_cents = approved, decision = status(approved, requested), reason = reason })
  end

  -- Lines: each judged by its own category's window and what is left of it.
  local requested, approved, decided, notes = 0, 0, {}, {}
  for i, want in ipairs(wanted) do
    local line = type(want) == "table" and find_line(purchase, want)
    if not line then
      notes[#notes + 1] = ("line %d names no line of purchase %s"):format(i, purchase.id)
    else
      local qty = math.tointeger(want.qty or line.qty) or line.qty
      local qty_left = line.qty - (qty_before[line.line] or 0)
      local cents = qty * line.unit_cents
      requested = requested + cents
      local open, days, closes = window(line.category)
      local label = line.sku or ("line " .. line.line)
      if not open then
        notes[#notes + 1] = ("%s: the %d-day window closed on %s"):format(label, days, cx.time.date(closes))
      elseif qty_left <= 0 then
        notes[#notes + 1] = ("%s: refunded already"):format(label)
      else
        local n = math.min(qty, qty_left)
        local give = math.min(n * line.unit_cents, left - approved)
        if give > 0 then
          approved = approved + give
          decided[#decided + 1] = { line = line.line, sku = line.sku, qty = n, cents = give }
          notes[#notes + 1] = ("%s: %d x %s refunded%s"):format(label, n, fmt(line.unit_cents),
            n < qty and (" (only " .. n .. " left)") or "")
        else
          notes[#notes + 1] = ("%s: nothing left of the purchase to refund"):format(label)
        end
      end
    end
  end
  decide(ctx, ev, who, purchase, { kind = "return", rule = "return_window", requested_cents = requested,
    approved_cents = approved, decision = status(approved, requested), lines = #decided > 0 and decided or nil,
    reason = ("%s of %s: %s"):format(fmt(approved), fmt(requested), table.concat(notes, "; ")) })
end

local function on_price_match(ev, ctx)
  local purchase, who = purchase_of(ctx, ev, "price_match", "a price match", 0)
  if not purchase then
    return
  end
  local price = ev.amount_cents or (ev.data.price and cx.money.parse(tostring(ev.data.price)))
  if not price then
    return reject(ctx, ev, who, purchase, "price_match", "price_match", "no lower price given (the event's amount)")
  end
  local days = ctx.config.price_match_days
  local closes = purchase.at + days * DAY
  if ev.at < purchase.at then
    return reject(ctx, ev, who, purchase, "price_match", "price_match",
      ("the request (%s) is dated before the purchase (%s)"):format(cx.time.iso(ev.at), cx.time.iso(purchase.at)))
  end
  if ev.at > closes then
    return reject(ctx, ev, who, purchase, "price_match", "price_match",
      ("the %d-day price-match window closed on %s"):format(days, cx.time.date(closes)))
  end
  local before, qty_before = refunded(purchase.id)
  local paid, qty, label, line = purchase.amount_cents, 1, "the purchase", nil
  if ev.data.sku or ev.data.line then
    line = find_line(purchase, { sku = ev.data.sku, line = ev.data.line })
    if not line then
      return reject(ctx, ev, who, purchase, "price_match", "price_match",
        ("purchase %s has no line %s"):format(purchase.id, tostring(ev.data.sku or ev.data.line)))
    end
    paid, qty, label = line.unit_cents, line.qty - (qty_before[line.line] or 0), line.sku or ("line " .. line.line)
  end
  if price >= paid then
    return reject(ctx, ev, who, purchase, "price_match", "price_match",
      ("the price shown, %s, is not lower than the price paid for %s, %s"):format(fmt(price), label, fmt(paid)))
  end
  local bp = L.basis_points(ctx.config.price_match_multiplier)
  local due = (paid - price) * qty * bp // 10000
  local cap = math.min(paid * qty, purchase.amount_cents - before)
  local approved = math.min(due, cap)
  local reason = ("%s x the difference of %s on %s%s: %s"):format(
    ("%g"):format(bp / 10000), fmt(paid - price), qty == 1 and label or (qty .. " x " .. label),
    "", fmt(due))
  if approved < due then
    reason = reason .. (", capped at %s (%s)"):format(fmt(approved),
      approved == paid * qty and "the price paid" or "what is left of the purchase to refund")
  end
  decide(ctx, ev, who, purchase, { kind = "price_match", rule = "price_match", requested_cents = due,
    approved_cents = approved, decision = status(approved, due), reason = reason,
    lines = line and { { line = line.line, sku = line.sku, qty = 0, cents = approved } } or nil })
end

local function on_complaint(ev, ctx)
  local who = ev.customer
  if not who then
    return
  end
  local severity = math.tointeger(tonumber(ev.data.severity))
  if not severity then
    ctx.explain("compensation", false, "the complaint gives no severity")
    return
  end
  local table_entry = ctx.config.compensation[severity]
  if not table_entry or ((table_entry.points or 0) <= 0 and (table_entry.credit_cents or 0) <= 0) then
    ctx.explain("compensation", false, ("no compensation for severity %d"):format(severity))
    return
  end
  local cap = ctx.config.compensation_cap
  local since = ev.at - cap.days * DAY
  local given = cx.query([[
    SELECT COALESCE(SUM(r.points), 0) AS points, COALESCE(SUM(r.approved_cents), 0) AS credit
    FROM refunds r JOIN customers c ON c.id = r.customer_id
    WHERE c.external_id = ?1 AND r.kind = 'compensation' AND r.decision <> 'rejected' AND r.at > ?2]], who, since)[1]
  local want_points, want_credit = table_entry.points or 0, table_entry.credit_cents or 0
  local points, credit = want_points, want_credit
  local notes = {}
  if cap.points > 0 and given.points + points > cap.points then
    points = math.max(0, cap.points - given.points)
    notes[#notes + 1] = ("points capped at %d per %d days (%d given since %s)"):format(cap.points, cap.days,
      given.points, cx.time.date(since))
  end
  if cap.credit_cents > 0 and given.credit + credit > cap.credit_cents then
    credit = math.max(0, cap.credit_cents - given.credit)
    notes[#notes + 1] = ("credit capped at %s per %d days (%s given since %s)"):format(fmt(cap.credit_cents),
      cap.days, fmt(given.credit), cx.time.date(since))
  end
  local got = {}
  if points > 0 then
    got[#got + 1] = plural(points, "point")
  end
  if credit > 0 then
    got[#got + 1] = fmt(credit) .. " credit"
  end
  local decision = (points + credit == 0) and "rejected"
    or (points < want_points or credit < want_credit) and "partial" or "approved"
  local reason = ("severity %d: %s"):format(severity, #got > 0 and table.concat(got, " and ") or "nothing")
  if #notes > 0 then
    reason = reason .. "; " .. table.concat(notes, "; ")
  end
  if points > 0 then
    local months = loyalty and loyalty.expiry_months or 0
    ctx.ledger_add(who, points, {
      kind = "compensation", rule = "severity_" .. severity, note = "complaint " .. ev.id,
      expires_at = months > 0 and L.add_months(L.day_start(ev.at), months) or nil,
    })
  end
  decide(ctx, ev, who, nil, { kind = "compensation", rule = "compensation", requested_cents = want_credit,
    approved_cents = credit, points = points, decision = decision, reason = reason })
end

return {
  name = "refund",
  version = "1.0",
  description = "Return windows, price match, compensation for complaints, partial refunds and clawback",
  order = 31, -- after loyalty, whose points it may take back

  defaults = {
    return_days = { default = 30 },   -- category = days to return a purchase, no questions asked
    purchase_types = { "purchase" },
    price_match_days = 14,
    price_match_multiplier = 2,       -- times the difference
    compensation = {                  -- by severity 1, 2, 3, ...: points and/or credit_cents
      { points = 100 },
      { points = 250 },
      { points = 500 },
    },
    compensation_cap = { points = 1000, credit_cents = 5000, days = 365 },  -- per customer (0: no cap)
    clawback = "within_balance",      -- only_pending, within_balance, unlimited or deduct_money
    point_value_cents = 1,            -- what a point is worth, for deduct_money
  },

  on_load = function(ctx)
    local c = ctx.config
    local function check(ok, text, ...)
      if not ok then
        error("config.lua: refund." .. text:format(...), 0)
      end
    end
    for category, days in pairs(c.return_days) do
      check(math.type(days) == "integer" and days >= 0, "return_days.%s must be whole days, 0 or more", category)
    end
    check(math.type(c.price_match_days) == "integer" and c.price_match_days >= 0,
      "price_match_days must be whole days, 0 or more")
    check(c.price_match_multiplier > 0, "price_match_multiplier must be above 0")
    check(POLICIES[c.clawback], "clawback must be only_pending, within_balance, unlimited or deduct_money, not %q",
      tostring(c.clawback))
    check(math.type(c.point_value_cents) == "integer" and c.point_value_cents >= 0,
      "point_value_cents must be whole cents")
    for i, entry in ipairs(c.compensation) do
      check(type(entry) == "table", "compensation[%d] must be a table ({ points = 100 } or { credit_cents = 500 })", i)
      for key, value in pairs(entry) do
        check(key == "points" or key == "credit_cents", "compensation[%d].%s: only points and credit_cents", i, key)
        check(math.type(value) == "integer" and value >= 0, "compensation[%d].%s must be a whole number", i, key)
      end
    end
    for _, key in ipairs({ "points", "credit_cents", "days" }) do
      check(math.type(c.compensation_cap[key]) == "integer" and c.compensation_cap[key] >= 0,
        "compensation_cap.%s must be a whole number, 0 or more", key)
    end
    for _, kind in ipairs(c.purchase_types) do
      is_purchase[kind] = true
    end
    loyalty = L.plugin_config("loyalty")
  end,

  events = { "refund_request", "price_match", "complaint" },

  on_event = function(ev, ctx)
    if ev.type == "refund_request" then
      on_refund_request(ev, ctx)
    elseif ev.type == "price_match" then
      on_price_match(ev, ctx)
    else
      on_complaint(ev, ctx)
    end
  end,
}
