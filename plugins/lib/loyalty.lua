-- loyalty: what the built-in plugins loyalty and refund share about the
-- points ledger, and how scripts read it. Plugins and scripts find it as
-- cx.loyalty; docs/loyalty.md explains the model. In short:
--
--   The ledger is append-only. A positive entry is a lot of points: pending
--   (visible, not spendable) until its available_at, and what is left of it
--   expires at its expires_at. A negative entry takes points: one with a lot
--   (a clawback, an expiry) from that lot first; one without (a redemption)
--   from the oldest lots that are available and unexpired at its time, first
--   in, first out. What cannot be taken from lots is a debt, paid from the
--   next points earned. Replaying the entries in the order they were written
--   gives every lot's remainder; a balance is always the sum of the
--   entries, and `cxhost check` verifies the lots add up to it.

local DAY = 86400
local M = {}
M.DAY = DAY

-- The ledger kinds that count toward tiers: points earned, and points taken
-- back with a refund (dated by the purchase they take back).
M.QUALIFYING = { "earn", "bonus", "clawback" }

-- The civil calendar (cx.calendar, loaded before this library).
local days_from_civil, civil_from_days, month_days =
  cx.calendar.days_from_civil, cx.calendar.civil_from_days, cx.calendar.month_days

-- t moved by n calendar months (n may be negative), at the same time of day;
-- a day the month does not have becomes its last (31 January + 1 month is
-- 28 or 29 February).
function M.add_months(t, n)
  local days, secs = t // DAY, t % DAY
  local y, m, d = civil_from_days(days)
  local index = y * 12 + (m - 1) + n
  y, m = index // 12, index % 12 + 1
  d = math.min(d, month_days(y, m))
  return days_from_civil(y, m, d) * DAY + secs
end

-- "1 point", "120 points".
function M.plural(n, word)
  return ("%s %s%s"):format(n, word, n == 1 and "" or "s")
end

-- Midnight (UTC) of t's day.
function M.day_start(t)
  return t // DAY * DAY
end

-- A multiplier (1.5) as whole basis points (15000), so that points are
-- computed in integers: 100 * 1.15 would otherwise give 114.99999.
function M.basis_points(x)
  return math.floor(x * 10000 + 0.5)
end

-- The settings of a loaded plugin by name (its defaults with config.lua on
-- top), or nil when the client has no such plugin.
function M.plugin_config(name)
  for _, p in ipairs(cx.plugins()) do
    if p.name == name then
      return p.config
    end
  end
  return nil
end

-- The index of the highest tier whose minimum `value` reaches (tiers in
-- ascending order; the first has minimum 0).
function M.tier_index(tiers, value)
  local index = 1
  for i, tier in ipairs(tiers) do
    if value >= tier.min then
      index = i
    end
  end
  return index
end

-- A customer's ledger entries, in the order they were written.
function M.entries(customer)
  return cx.query([[
    SELECT l.id, l.points, l.kind, l.rule, l.note, l.at, COALESCE(l.available_at, l.at) AS available_at,
      l.expires_at, l.lot_id AS lot, l.spend_cents, l.plugin, e.external_id AS event
    FROM ledger l JOIN customers c ON c.id = l.customer_id LEFT JOIN events e ON e.id = l.event_id
    WHERE c.external_id = ?1 ORDER BY l.id]], customer)
end

-- Replays entries (from M.entries) and judges the result as of a time:
--   balance     the sum of the entries
--   available   points that may be spent as of as_of (less any debt)
--   pending     points waiting for their purchase's return window
--   expired     points past their expiry that no expiry entry has taken yet
--   debt        points taken that no lot could give (a negative balance)
--   lots        every positive entry: id, points, left, at, available_at,
--               expires_at, kind, rule, event
-- and problems, a list of what does not add up (for cxhost check).
function M.replay(entries, as_of)
  local lots, by_id, debt, balance, problems = {}, {}, 0, 0, {}
  local function live(lot, t)
    return lot.left > 0 and lot.available_at <= t and not (lot.expires_at and lot.expires_at <= t)
  end
  -- Takes n points from the oldest lots live at time t; returns what is left.
  local function take_oldest(n, t)
    for _, lot in ipairs(lots) do
      if n == 0 then
        break
      end
      if live(lot, t) then
        local k = math.min(n, lot.left)
        lot.left, n = lot.left - k, n - k
      end
    end
    return n
  end
  for _, e in ipairs(entries) do
    balance = balance + e.points
    if e.points > 0 then
      local lot = {
        id = e.id, points = e.points, left = e.points, at = e.at, available_at = e.available_at or e.at,
        expires_at = e.expires_at, kind = e.kind, rule = e.rule, event = e.event,
      }
      local paid = math.min(debt, lot.left)
      lot.left, debt = lot.left - paid, debt - paid
      lots[#lots + 1] = lot
      by_id[e.id] = lot
    elseif e.points < 0 then
      local n = -e.points
      if e.lot then
        local lot = by_id[e.lot]
        if not lot then
          problems[#problems + 1] = ("entry %d takes from entry %d, which is not one of the customer's lots")
            :format(e.id, e.lot)
        else
          local k = math.min(n, lot.left)
          lot.left, n = lot.left - k, n - k
          if e.kind == "expire" and n > 0 then
            problems[#problems + 1] = ("entry %d expires %d points more than lot %d had left")
              :format(e.id, n, e.lot)
          end
        end
      end
      if e.kind ~= "expire" then
        n = take_oldest(n, e.at)
      end
      if n > 0 and e.kind == "redeem" then
        problems[#problems + 1] = ("entry %d redeems %d points more than were available on %s")
          :format(e.id, n, cx.time.date(e.at))
      end
      debt = debt + n
    end
  end
  local account = { balance = balance, available = -debt, pending = 0, expired = 0, debt = debt,
                    lots = lots, problems = problems }
  as_of = as_of or math.huge
  for _, lot in ipairs(lots) do
    if lot.left > 0 then
      if lot.expires_at and lot.expires_at <= as_of then
        account.expired = account.expired + lot.left
      elseif lot.available_at > as_of then
        account.pending = account.pending + lot.left
      else
        account.available = account.available + lot.left
      end
    end
  end
  local left = 0
  for _, lot in ipairs(lots) do
    left = left + lot.left
  end
  if left - debt ~= balance then
    problems[#problems + 1] = ("the lots hold %d points less a debt of %d, but the entries add up to %d")
      :format(left, debt, balance)
  end
  return account
end

-- What does not add up in the ledger (the core of `cxhost check`), as texts
-- "customer ID: ...": every customer's entries replayed (no redemption
-- beyond what was available, no expiry beyond a lot's rest, lots that hold
-- the balance less any debt), the replayed balance against the ledger's sum
-- in SQL. Returns the problems, the customers with entries and the entries.
function M.ledger_problems()
  local entries = cx.query([[
    SELECT c.external_id AS customer, l.id, l.points, l.kind, l.rule, l.at, COALESCE(l.available_at, l.at) AS available_at,
      l.expires_at, l.lot_id AS lot, e.external_id AS event, b.points AS sum
    FROM ledger l JOIN customers c ON c.id = l.customer_id LEFT JOIN events e ON e.id = l.event_id
    JOIN loyalty_balances b ON b.customer_id = l.customer_id
    ORDER BY l.customer_id, l.id]])
  local problems, customers, i = {}, 0, 1
  while i <= #entries do
    local who, sum, mine = entries[i].customer, entries[i].sum, {}
    while i <= #entries and entries[i].customer == who do
      mine[#mine + 1] = entries[i]
      i = i + 1
    end
    customers = customers + 1
    local account = M.replay(mine)
    for _, text in ipairs(account.problems) do
      problems[#problems + 1] = ("customer %s: %s"):format(who, text)
    end
    if account.balance ~= sum then
      problems[#problems + 1] = ("customer %s: the replayed balance is %d, the ledger's sum %d")
        :format(who, account.balance, sum)
    end
  end
  return problems, customers, #entries
end

-- Customers whose tier (the loyalty plugin's fact) is not the one their
-- tier history ends with, as texts "customer ID: ...".
function M.tier_problems()
  local problems = {}
  for _, r in ipairs(cx.query([[
      SELECT c.external_id AS customer, json_extract(f.data, '$.loyalty.tier') AS tier,
        (SELECT h.tier FROM tier_history h WHERE h.customer_id = c.id ORDER BY h.id DESC LIMIT 1) AS last
      FROM customers c LEFT JOIN facts f ON f.customer_id = c.id]])) do
    if r.tier ~= r.last then
      problems[#problems + 1] = ("customer %s: tier %s, but the tier history ends with %s")
        :format(r.customer, tostring(r.tier), tostring(r.last))
    end
  end
  return problems
end

-- One customer's points as of a time (default: the latest event's), with
-- their tier: { balance, available, pending, expired, debt, tier, lots }.
function M.account(customer, as_of)
  if type(as_of) == "string" then
    as_of = assert(cx.time.parse(as_of))
  end
  as_of = as_of or cx.query("SELECT COALESCE(MAX(at), 0) AS t FROM events WHERE type <> 'campaign'")[1].t
  local account = M.replay(M.entries(customer), as_of)
  account.problems = nil
  local who = cx.customer(customer)
  local facts = who and who.facts.loyalty or {}
  local config = M.plugin_config("loyalty")
  account.tier = facts.tier or (config and config.tiers and config.tiers[1] and config.tiers[1].name)
  account.as_of = as_of
  return account
end

local redeemed = 0

-- Spends points on a reward of the client's catalogue (the loyalty plugin's
-- `rewards`), as a `redeem` event through the plugins: on too few available
-- points it fails and writes nothing. opts: id (a request id: the same id
-- twice redeems once), at (default: now). Scripts only.
function M.redeem(customer, reward, opts)
  opts = opts or {}
  assert(type(customer) == "string", "cx.loyalty.redeem: give a customer id (text)")
  assert(type(reward) == "string", "cx.loyalty.redeem: give a reward's name (text)")
  local at = opts.at or cx.time.now()
  redeemed = redeemed + 1
  local id = opts.id or ("redeem:%s:%s:%s:%d"):format(customer, reward, tostring(at), redeemed)
  local result = cx.ingest({ id = id, type = "redeem", customer = customer, at = at, data = { reward = reward } })
  local row = cx.query([[SELECT l.points, l.rule FROM ledger l JOIN events e ON e.id = l.event_id
    WHERE e.external_id = ?1 AND l.kind = 'redeem']], id)[1]
  return { result = result, id = id, points = row and row.points, reward = row and row.rule,
           available = M.account(customer, at).available }
end

return M
