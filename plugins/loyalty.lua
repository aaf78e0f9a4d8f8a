-- loyalty: points for what customers buy and do, tiers, expiry and rewards.
--
-- Every rule is a setting (below, in `defaults`); a client changes them in
-- clients/NAME/config.lua, for example:
--   return { loyalty = { points_per_unit = 2, daily_cap = 1000,
--                        promotions = { double_weekend = { from = "2026-03-07", to = "2026-03-08", multiplier = 2 } } } }
-- docs/loyalty.md describes every rule with worked examples. In short:
--
--   Earning     a purchase earns points_per_unit for each 1.00 spent (whole
--               points, rounded down), times the multipliers that apply: the
--               customer's tier, the touchpoint, the category, promotions.
--               Bonus events (a referral, a survey, a birthday) earn fixed
--               points. No customer earns more than daily_cap a day.
--   Pending     a purchase's points wait until its return window (the
--               refund plugin's return_days) has closed; a return inside
--               the window takes them back before they were ever spendable.
--   Expiry      points expire expiry_months after the day they were earned;
--               the refresh writes the expiry entries (once per lot).
--   Tiers       qualified by points (or spend) over the last
--               tier_window_months: upgrade at once, downgrade at a refresh
--               only after tier_grace_days below the tier.
--   Rewards     a `redeem` event (cx.loyalty.redeem) spends points on a
--               reward of the catalogue, oldest points first.
--
-- Each rule says what it decided with ctx.explain: `cxhost explain` shows it.

local L = cx.loyalty
local DAY = L.DAY
local EARNED = { "earn", "bonus" }   -- the kinds the daily cap counts

-- What on_load makes of the settings.
local rules = {
  purchase = {},      -- set of the purchase event types
  tiers = {},         -- { name, min, multiplier_bp } in ascending order
  tier_index = {},    -- name -> index in tiers
  promotions = {},    -- { name, from, to (exclusive), bp, touchpoint, category }, by name
  windows = nil,      -- the refund plugin's return_days (category -> days), or nil: no pending
  once_a_year = {},   -- set of the bonus types given once a calendar year
  need_category = false,
}

local plural = L.plural

-- "x1.5" for 15000 basis points.
local function times(bp)
  local text = ("%.4f"):format(bp / 10000):gsub("0+$", ""):gsub("%.$", "")
  return "x" .. text
end

local function return_days(category)
  local w = rules.windows
  return w[category] or w.default or 0
end

-- The customer's current tier index (the first tier when none was given).
local function current_tier(facts)
  return rules.tier_index[facts.tier] or 1
end

-- Adds points to the customer's day, within the daily cap: returns what may
-- be earned of `points`, and explains a cap that bites.
local function within_cap(ctx, who, facts, points, at)
  local cap = ctx.config.daily_cap
  if cap <= 0 then
    return points
  end
  local day = at // DAY
  if facts.cap_day ~= day then
    -- Another day than the last one counted: what the ledger holds for it (an
    -- event may arrive after later ones).
    facts.cap_day, facts.cap_points = day, ctx.ledger_sum(who, day * DAY - 1, EARNED, (day + 1) * DAY)
  end
  local room = math.max(0, cap - facts.cap_points)
  if points > room then
    ctx.explain("daily_cap", true, "capped at {1:points} a day: {2} earned today already, {3} of {4} kept",
      cap, facts.cap_points, room, points)
    points = room
  else
    ctx.explain("daily_cap", false, "{1} of {2} today", facts.cap_points + points, cap)
  end
  facts.cap_points = facts.cap_points + points
  return points
end

-- After points were earned at time `at`: moves the customer up at once if
-- their points (or spend) over the window reach a higher tier.
local function upgrade(ctx, who, facts, at, added)
  local config = ctx.config
  facts.qualifying_total = (facts.qualifying_total or 0) + added
  local index = current_tier(facts)
  local next_tier = rules.tiers[index + 1]
  -- The lifetime total bounds the window's: below the next tier, no query.
  if not next_tier then
    ctx.explain("tier_upgrade", false, "{1} is the top tier", rules.tiers[index].name)
    return
  end
  -- Points as they are, spend as money: "{1:money} spent".
  local amount = config.tier_basis == "points" and "{1} points" or "{1:money} spent"
  if facts.qualifying_total < next_tier.min then
    ctx.explain("tier_upgrade", false, amount .. " ever, below the {2} of {3}", facts.qualifying_total,
      config.tier_basis == "points" and next_tier.min or cx.money.format(next_tier.min), next_tier.name)
    return
  end
  local since = L.add_months(at, -config.tier_window_months)
  local points, spend = ctx.ledger_sum(who, since, L.QUALIFYING)
  local value = config.tier_basis == "points" and points or spend
  local reached = L.tier_index(rules.tiers, value)
  if reached <= index then
    ctx.explain("tier_upgrade", false, amount .. " in the {2} months to {3:date}, below the {4} of {5}", value,
      config.tier_window_months, at, config.tier_basis == "points" and next_tier.min or cx.money.format(next_tier.min),
      next_tier.name)
  else
    local tier = rules.tiers[reached]
    local reason = ("%s %s in the %s months to %s (%s needs %s)"):format(
      config.tier_basis == "points" and value or cx.money.format(value),
      config.tier_basis == "points" and "points" or "spent", config.tier_window_months,
      cx.time.date(at), tier.name, config.tier_basis == "points" and tier.min or cx.money.format(tier.min))
    ctx.tier_record(who, tier.name, { previous = rules.tiers[index].name, reason = reason })
    ctx.explain("tier_upgrade", true, "to {1}: {2}", tier.name, reason)
    facts.tier, facts.tier_since, facts.grace_until, facts.granted_by = tier.name, at, nil, nil
  end
end

local function expires_at(ctx, at)
  local months = ctx.config.expiry_months
  return months > 0 and L.add_months(L.day_start(at), months) or nil
end

local function on_purchase(ev, ctx)
  local who, cents = ev.customer, ev.amount_cents
  if not who then
    return
  end
  if not cents or cents <= 0 then
    ctx.explain("purchase", false, "no amount: nothing to earn points on")
    return
  end
  local config = ctx.config
  local facts = ctx.facts(who)
  local category = rules.need_category and ev.data.category or nil
  local bp, notes = 10000, {}

  local tier = rules.tiers[current_tier(facts)]
  if tier.bp ~= 10000 then
    bp = bp * tier.bp // 10000
    notes[#notes + 1] = tier.label
    ctx.explain("tier_multiplier", true, "{1} for tier {2}", tier.times, tier.name)
  end
  if rules.has_touchpoint_multipliers then
    local m = ev.touchpoint and config.touchpoint_multipliers[ev.touchpoint]
    if m then
      m = L.basis_points(m)
      bp = bp * m // 10000
      notes[#notes + 1] = times(m) .. " " .. ev.touchpoint
      ctx.explain("touchpoint_multiplier", true, "{1} at touchpoint {2}", times(m), ev.touchpoint)
    else
      ctx.explain("touchpoint_multiplier", false, ev.touchpoint and "none for touchpoint {1}"
        or "the purchase names no touchpoint", ev.touchpoint)
    end
  end
  if rules.has_category_multipliers then
    local m = category and config.category_multipliers[category]
    if m then
      m = L.basis_points(m)
      bp = bp * m // 10000
      notes[#notes + 1] = times(m) .. " " .. category
      ctx.explain("category_multiplier", true, "{1} for category {2}", times(m), category)
    else
      ctx.explain("category_multiplier", false, category and "none for category {1}"
        or "the purchase names no category", category)
    end
  end
  for _, promo in ipairs(rules.promotions) do
    local in_dates = ev.at >= promo.from and ev.at < promo.to
    local fits = in_dates and (not promo.touchpoint or promo.touchpoint == ev.touchpoint)
      and (not promo.category or promo.category == category)
    if fits then
      bp = bp * promo.bp // 10000
      notes[#notes + 1] = promo.label
      ctx.explain(promo.rule, true, "{1}, {2}", promo.times, promo.span)
    elseif not in_dates then
      ctx.explain(promo.rule, false, "{1:date} is outside {2}", ev.at, promo.span)
    else
      ctx.explain(promo.rule, false, "only for {1}", promo.touchpoint and ("touchpoint " .. promo.touchpoint)
        or ("category " .. promo.category))
    end
  end

  -- Whole points, rounded down, in integers throughout.
  local points = cents * rules.rate_milli * bp // (100 * 1000 * 10000)
  local applied = #notes > 0 and table.concat(notes, " ") or nil
  ctx.explain("purchase", true, applied and "{1:points} for {2:money} at {3} per 1.00, {4}"
    or "{1:points} for {2:money} at {3} per 1.00", points, cents, config.points_per_unit, applied)
  points = within_cap(ctx, who, facts, points, ev.at)

  local available_at
  if rules.windows then
    -- The longest window of the purchase and its lines: until then some of it may come back.
    local days = return_days(category or "default")
    local lines = rules.need_category and ev.data.lines
    if type(lines) == "table" then
      for _, line in ipairs(lines) do
        if type(line) == "table" and line.category then
          days = math.max(days, return_days(line.category))
        end
      end
    end
    if days > 0 then
      -- The window includes its last second; the points are spendable from the next.
      available_at = ev.at + days * DAY + 1
      ctx.explain("pending", true, "until {1:time}, when the {2}-day return window closes", available_at - 1, days)
    end
  end
  local expiry = expires_at(ctx, ev.at)
  if expiry then
    ctx.explain("expiry", true, "what is left of them expires on {1:date}, {2} months after the day earned", expiry,
      config.expiry_months)
  end
  ctx.ledger_add(who, points, {
    kind = "earn", rule = "purchase", note = applied and (rules.base_note .. " " .. applied) or rules.base_note,
    available_at = available_at,
    expires_at = expiry, spend_cents = cents,
  })
  upgrade(ctx, who, facts, ev.at, config.tier_basis == "points" and points or cents)
  ctx.facts_set(who, facts)
end

local function on_bonus(ev, ctx, points)
  local who = ev.customer
  if not who then
    return
  end
  local facts = ctx.facts(who)
  if rules.once_a_year[ev.type] then
    -- The years already given, as text ("2026 2027"): events may come out of order.
    local year = cx.time.date(ev.at):sub(1, 4)
    local key = "bonus_" .. ev.type .. "_years"
    local given = facts[key] or ""
    if given:find(year, 1, true) then
      ctx.explain("bonus:" .. ev.type, false, "already given in {1} (once a year)", year)
      return
    end
    facts[key] = given == "" and year or (given .. " " .. year)
  end
  ctx.explain("bonus:" .. ev.type, true, "{1:points} for a {2}", points, ev.type)
  points = within_cap(ctx, who, facts, points, ev.at)
  ctx.ledger_add(who, points, { kind = "bonus", rule = ev.type, expires_at = expires_at(ctx, ev.at) })
  upgrade(ctx, who, facts, ev.at, ctx.config.tier_basis == "points" and points or 0)
  ctx.facts_set(who, facts)
end

local function on_redeem(ev, ctx)
  local who = ev.customer
  assert(who, "a redeem event needs a customer")
  local name = ev.data.reward
  local reward = name and ctx.config.rewards[name]
  if not reward then
    local names = {}
    for key in pairs(ctx.config.rewards) do
      names[#names + 1] = key
    end
    table.sort(names)
    error(("no reward '%s' in the catalogue (rewards: %s)"):format(tostring(name),
      #names > 0 and table.concat(names, ", ") or "none"), 0)
  end
  local account = L.replay(L.entries(who), ev.at)
  if account.available < reward.points then
    error(("%s has %s available%s; reward '%s' needs %d"):format(who, plural(account.available, "point"),
      account.pending > 0 and (" (" .. account.pending .. " more pending)") or "", name, reward.points), 0)
  end
  ctx.explain("redeem:" .. name, true, "{1:points} of {2} available", reward.points, account.available)
  ctx.ledger_add(who, -reward.points, { kind = "redeem", rule = name, note = reward.description })
end

-- Expiry: every lot past its expiry with points left gets one expiry entry,
-- dated the day it expired. A lot already expired is never expired again.
local function expire(ctx, as_of)
  local customers = cx.query([[
    SELECT DISTINCT c.external_id AS customer FROM ledger l JOIN customers c ON c.id = l.customer_id
    WHERE l.points > 0 AND l.expires_at <= ?1
      AND NOT EXISTS (SELECT 1 FROM ledger x WHERE x.lot_id = l.id AND x.kind = 'expire')
    ORDER BY c.id]], as_of)
  for _, row in ipairs(customers) do
    local account = L.replay(L.entries(row.customer), as_of)
    for _, lot in ipairs(account.lots) do
      if lot.left > 0 and lot.expires_at and lot.expires_at <= as_of then
        ctx.ledger_add(row.customer, -lot.left, {
          kind = "expire", rule = "expiry", lot = lot.id, at = lot.expires_at,
          note = ("%s of entry %d, earned %s"):format(plural(lot.left, "point"), lot.id, cx.time.date(lot.at)),
        })
      end
    end
  end
end

-- Tiers granted by a campaign for a period (the campaigns plugin's facts
-- tier_grant, tier_grant_until and tier_grant_by, docs/campaigns.md): the
-- customer moves up to the granted tier at the refresh after the grant and
-- keeps it until the grant ends; then re-evaluation judges them as usual.
local function apply_grants(ctx, as_of)
  ctx.each_customer(function(who, grant)
    local index = rules.tier_index[grant.tier_grant or ""]
    if not index or (grant.tier_grant_until or 0) <= as_of then
      return
    end
    local facts = ctx.facts(who)
    local from = current_tier(facts)
    if index == from and facts.granted_by and (facts.grace_until or 0) < grant.tier_grant_until then
      -- Held by an earlier grant: a later grant of the same tier keeps it longer.
      facts.grace_until, facts.granted_by = grant.tier_grant_until, grant.tier_grant_by
      ctx.facts_set(who, facts)
    elseif index > from then
      local reason = ("granted by campaign %s until %s"):format(tostring(grant.tier_grant_by),
        cx.time.date(grant.tier_grant_until))
      ctx.tier_record(who, grant.tier_grant, { previous = rules.tiers[from].name, reason = reason })
      facts.tier, facts.tier_since = grant.tier_grant, as_of
      facts.grace_until, facts.granted_by = grant.tier_grant_until, grant.tier_grant_by
      ctx.facts_set(who, facts)
    end
  end, "campaigns")
end

-- Re-evaluation: customers whose window no longer reaches their tier keep it
-- for tier_grace_days, then move down to the tier they reach. Only customers
-- who ever left the first tier are looked at: moving up is judged when points
-- are earned.
local function reevaluate(ctx, as_of)
  local config = ctx.config
  local since = L.add_months(as_of, -config.tier_window_months)
  local rows = cx.query([[
    SELECT c.external_id AS customer FROM (SELECT DISTINCT customer_id FROM tier_history) h
    JOIN customers c ON c.id = h.customer_id ORDER BY h.customer_id]])
  for _, row in ipairs(rows) do
    local who = row.customer
    local facts = ctx.facts(who)
    local points, spend = ctx.ledger_sum(who, since, L.QUALIFYING)
    local value = config.tier_basis == "points" and points or spend
    local index = current_tier(facts)
    local reached = L.tier_index(rules.tiers, value)
    local amount = config.tier_basis == "points" and plural(value, "point") or (cx.money.format(value) .. " spent")
    local window = ("%s in the %d months to %s"):format(amount, config.tier_window_months, cx.time.date(as_of))
    if reached > index then
      local tier = rules.tiers[reached]
      ctx.tier_record(who, tier.name, { previous = rules.tiers[index].name, reason = window })
      facts.tier, facts.tier_since, facts.grace_until, facts.granted_by = tier.name, as_of, nil, nil
    elseif reached < index then
      if not facts.grace_until then
        facts.grace_until = as_of + config.tier_grace_days * DAY
      elseif as_of >= facts.grace_until then
        local tier = rules.tiers[reached]
        ctx.tier_record(who, tier.name, {
          previous = rules.tiers[index].name,
          reason = facts.granted_by and ("%s; the grant by campaign %s ended on %s"):format(window,
            facts.granted_by, cx.time.date(facts.grace_until))
            or ("%s, below %s since %s (grace of %d days)"):format(window, rules.tiers[index].name,
            cx.time.date(facts.grace_until - config.tier_grace_days * DAY), config.tier_grace_days),
        })
        facts.tier, facts.tier_since, facts.grace_until, facts.granted_by = tier.name, as_of, nil, nil
      end
    elseif facts.grace_until then
      facts.grace_until, facts.granted_by = nil, nil
    end
    ctx.facts_set(who, facts)
  end
end

return {
  name = "loyalty",
  version = "1.0",
  description = "Points, multipliers, bonuses, daily cap, pending points, tiers, expiry and rewards",
  order = 30, -- after lifecycle and the experience modules, before the client's own

  defaults = {
    points_per_unit = 1,              -- points for each 1.00 spent
    purchase_types = { "purchase" },
    touchpoint_multipliers = {},      -- touchpoint = multiplier, e.g. { app = 2 }
    category_multipliers = {},        -- category (the purchase's data.category) = multiplier
    promotions = {},                  -- name = { from = "2026-03-07", to = "2026-03-08", multiplier = 2 [, touchpoint =, category =] }
    bonus = { referral = 100, survey = 10, birthday = 50 }, -- event type = points
    bonus_once_per_year = { "birthday" },
    daily_cap = 0,                    -- most points a customer earns in a day (0: no cap)
    pending = true,                   -- a purchase's points wait for its return window
    expiry_months = 24,               -- points expire this long after the day earned (0: never)
    tiers = {
      { name = "member", min = 0 },
      { name = "silver", min = 500, multiplier = 1.25 },
      { name = "gold", min = 2000, multiplier = 1.5 },
    },
    tier_basis = "points",            -- or "spend_cents": what qualifies for a tier (min in cents then)
    tier_window_months = 12,
    tier_grace_days = 90,
    rewards = {
      voucher_5 = { points = 500, description = "5.00 off the next order" },
      voucher_25 = { points = 2000, description = "25.00 off the next order" },
    },
  },

  on_load = function(ctx)
    local c = ctx.config
    local function check(ok, fmt, ...)
      if not ok then
        error("config.lua: loyalty." .. fmt:format(...), 0)
      end
    end
    check(c.points_per_unit >= 0, "points_per_unit must not be negative")
    rules.rate_milli = L.basis_points(c.points_per_unit) // 10
    rules.base_note = c.points_per_unit .. " per 1.00"
    check(c.daily_cap >= 0 and math.type(c.daily_cap) == "integer", "daily_cap must be a whole number, 0 or more")
    check(c.expiry_months >= 0 and math.type(c.expiry_months) == "integer", "expiry_months must be a whole number, 0 or more")
    check(c.tier_basis == "points" or c.tier_basis == "spend_cents",
      "tier_basis must be \"points\" or \"spend_cents\", not %q", tostring(c.tier_basis))
    check(c.tier_window_months >= 1, "tier_window_months must be 1 or more")
    check(c.tier_grace_days >= 0, "tier_grace_days must not be negative")
    for name, m in pairs(c.touchpoint_multipliers) do
      check(type(m) == "number" and m > 0, "touchpoint_multipliers.%s must be a number above 0", name)
      rules.has_touchpoint_multipliers = true
    end
    for name, m in pairs(c.category_multipliers) do
      check(type(m) == "number" and m > 0, "category_multipliers.%s must be a number above 0", name)
      rules.need_category, rules.has_category_multipliers = true, true
    end
    check(#c.tiers >= 1, "tiers needs at least one tier")
    for i, tier in ipairs(c.tiers) do
      check(type(tier) == "table" and type(tier.name) == "string", "tiers[%d] needs a name", i)
      check(type(tier.min) == "number", "tiers[%d] (%s) needs a min", i, tier.name)
      check(i > 1 or tier.min == 0, "tiers[1] (%s) is where everyone starts: its min must be 0", tier.name)
      check(i == 1 or tier.min > c.tiers[i - 1].min, "tiers[%d] (%s) must need more than tiers[%d]", i, tier.name, i - 1)
      check(not rules.tier_index[tier.name], "tiers: two tiers named %s", tier.name)
      local m = tier.multiplier or 1
      check(type(m) == "number" and m > 0, "tiers[%d] (%s): multiplier must be a number above 0", i, tier.name)
      local bp = L.basis_points(m)
      rules.tiers[i] = { name = tier.name, min = tier.min, bp = bp, times = times(bp), label = times(bp) .. " " .. tier.name }
      rules.tier_index[tier.name] = i
    end
    local names = {}
    for name in pairs(c.promotions) do
      names[#names + 1] = name
    end
    table.sort(names)
    for _, name in ipairs(names) do
      local p = c.promotions[name]
      check(type(p) == "table", "promotions.%s must be a table", name)
      local from, why = cx.time.parse(tostring(p.from))
      check(from, "promotions.%s.from: %s", name, why or "")
      local to, why2 = cx.time.parse(tostring(p.to))
      check(to, "promotions.%s.to: %s", name, why2 or "")
      check(to >= from, "promotions.%s ends before it starts", name)
      check(type(p.multiplier) == "number" and p.multiplier > 0, "promotions.%s.multiplier must be a number above 0", name)
      -- `to` is a day: the promotion runs to its end.
      local to_end = #tostring(p.to) <= 10 and to + DAY or to
      rules.promotions[#rules.promotions + 1] = {
        name = name, rule = "promotion:" .. name, from = from, to = to_end, bp = L.basis_points(p.multiplier),
        times = times(L.basis_points(p.multiplier)), label = times(L.basis_points(p.multiplier)) .. " " .. name,
        touchpoint = p.touchpoint, category = p.category,
        span = ("%s to %s"):format(cx.time.date(from), cx.time.date(to_end - 1)),
      }
      if p.category then
        rules.need_category = true
      end
    end
    for name, reward in pairs(c.rewards) do
      check(type(reward) == "table" and math.type(reward.points) == "integer" and reward.points > 0,
        "rewards.%s needs points, a whole number above 0", name)
    end
    for _, kind in ipairs(c.bonus_once_per_year) do
      rules.once_a_year[kind] = true
    end
    if c.pending then
      local refund = L.plugin_config("refund")
      rules.windows = refund and type(refund.return_days) == "table" and refund.return_days or nil
      if rules.windows then
        for category in pairs(rules.windows) do
          if category ~= "default" then
            rules.need_category = true
          end
        end
      end
    end
    local types = { "redeem" }
    for _, kind in ipairs(c.purchase_types) do
      rules.purchase[kind] = true
      types[#types + 1] = kind
    end
    for kind, points in pairs(c.bonus) do
      check(math.type(points) == "integer" and points >= 0, "bonus.%s must be whole points, 0 or more", kind)
      if points > 0 then
        types[#types + 1] = kind
      end
    end
    ctx.listen(types)
  end,

  on_event = function(ev, ctx)
    if rules.purchase[ev.type] then
      on_purchase(ev, ctx)
    elseif ev.type == "redeem" then
      on_redeem(ev, ctx)
    else
      on_bonus(ev, ctx, ctx.config.bonus[ev.type])
    end
  end,

  on_refresh = function(ctx, as_of)
    expire(ctx, as_of)
    apply_grants(ctx, as_of)
    reevaluate(ctx, as_of)
  end,
}
