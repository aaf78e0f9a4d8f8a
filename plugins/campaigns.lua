-- campaigns: runs the client's campaigns (docs/campaigns.md).
--
-- A run of a campaign is an event of type `campaign`, with the id
-- campaign:NAME:PERIOD: all its actions commit with it or not at all, and
-- the same period twice is the same event, which does nothing the second
-- time. `cxhost campaign run` makes that event; so does the service, on a
-- campaign's schedule. The event's data says what to do:
--   { campaign = NAME, action = "run" | "start" | "stop", period =, source =, file = }
-- A started (active) campaign also listens to the client's events: an event
-- trigger acts on the event's customer inside the event's transaction, and
-- `enters` compares the customer's membership before and after the event.
-- Journeys move on at each refresh (and, in the service, on a tick).

local C = cx.campaign
local DAY = 86400

-- The active campaigns, compiled: name -> campaign (with .run_id for the
-- live run of an event or enters trigger, once known).
local active = {}
local fingerprint = nil

local function compile_row(row, ctx)
  local c, errors = C.compile(row.source, "campaign " .. row.name)
  if not c then
    ctx.log("campaign", row.name, "cannot be loaded:", table.concat(errors, "; "))
    return nil
  end
  return c
end

-- Reads the active campaigns from the store when they changed.
local function load_active(ctx)
  local rows = cx.query("SELECT name, source, trigger, COALESCE(updated_at, 0) AS updated_at FROM campaigns "
    .. "WHERE active = 1 ORDER BY name")
  local parts = {}
  for i, row in ipairs(rows) do
    parts[i] = row.name .. "\0" .. (row.source or "")
  end
  local print_ = table.concat(parts, "\1")
  if print_ == fingerprint then
    return
  end
  fingerprint = print_
  local now = {}
  for _, row in ipairs(rows) do
    local old = active[row.name]
    now[row.name] = (old and old.source == row.source) and old or compile_row(row, ctx)
  end
  active = now
end

local function frequency_of(c, ctx)
  local f = c.frequency or ctx.config.frequency
  if f and f.contacts and f.days then
    return f
  end
  return nil
end

-- What a run does, through ctx: every action recorded with the run.
local function effects(ctx, c, run_id)
  local e = {}
  function e.member(who, arm)
    return (ctx.campaign_member(c.name, who, arm, run_id))
  end
  function e.act(who, p)
    local a, detail, outbox = p.action, { action = p.action.text }, nil
    if a.kind == "points" then
      detail.entry = ctx.ledger_add(who, p.points, {
        kind = "bonus", rule = "campaign:" .. c.name, note = a.note or c.name,
        expires_at = a.expires_days and ctx.now() + a.expires_days * DAY or nil,
      })
    elseif a.kind == "send" then
      detail.outbox = ctx.outbox_send(who, a.channel, a.template, p.vars)
      outbox = detail.outbox
    elseif a.kind == "tag" then
      ctx.tag(who, a.tag)
    else
      -- The loyalty plugin puts the customer in this tier at its next
      -- refresh, and keeps them there until the grant ends.
      ctx.facts_set(who, { tier_grant = a.tier, tier_grant_until = ctx.now() + a.days * DAY, tier_grant_by = c.name })
      detail.until_at = ctx.now() + a.days * DAY
    end
    ctx.campaign_action(run_id, who, a.kind,
      { points = p.points, money_cents = p.money_cents, contact = p.contact, detail = detail, outbox = outbox })
  end
  return e
end

-- The live run of an event-triggered campaign (or a journey's steps).
local function live_run(ctx, c)
  return (ctx.campaign_run(c.name, "live"))
end

-- What a live run (event triggers, journeys' steps) has done so far.
local function live_stats(run_id)
  local s = cx.query([[SELECT
      (SELECT COUNT(*) FROM campaign_members WHERE run_id = ?1) AS audience,
      (SELECT COUNT(*) FROM campaign_members WHERE run_id = ?1 AND arm = 'holdout') AS holdout,
      COUNT(DISTINCT customer_id) AS acted, COALESCE(SUM(points), 0) AS points,
      COALESCE(SUM(money_cents), 0) AS money_cents, COALESCE(SUM(contact), 0) AS contacts
    FROM campaign_actions WHERE run_id = ?1]], run_id)[1]
  s.treated = s.audience - s.holdout
  return s
end

-- Puts customer `who` on the journey's first step and runs it as far as
-- the first wait.
local function enter_journey(run, ctx, c, who, event)
  local rows = cx.query([[SELECT j.step FROM journeys j JOIN campaigns k ON k.id = j.campaign_id
    JOIN customers cu ON cu.id = j.customer_id WHERE k.name = ?1 AND cu.external_id = ?2]], c.name, who)
  if rows[1] then
    return "journey"   -- on it already, or done with it: a journey is taken once
  end
  run.stats.entered = (run.stats.entered or 0) + 1
  ctx.journey_set(c.name, who, c.journey[1].step, ctx.now())
  local step, due = run:journey(who, 1, ctx.now(), ctx.now(), event)
  ctx.journey_set(c.name, who, step, due)
  return "entered"
end

-- Acts for one customer of the audience: a journey entered, or the actions.
local function reach(run, ctx, c, who, extra)
  if c.journey then
    run.stats.audience = run.stats.audience + 1
    local arm = run.effects.member(who, C.arm(c, who))
    if arm == "holdout" then
      run.stats.holdout = run.stats.holdout + 1
      return "holdout"
    end
    run.stats.treated = run.stats.treated + 1
    return enter_journey(run, ctx, c, who, extra and extra.event)
  end
  return run:customer(who, c.actions, extra)
end

-- One run over the whole audience, recorded as the campaign run `period`.
local function run_batch(ctx, c, period, data)
  ctx.campaign_save(c.name, { description = c.description, module = c.module, source = data.source,
                              trigger = c.trigger_text })
  local run_id, new = ctx.campaign_run(c.name, period)
  if not new then
    ctx.explain("period", false, "{1} already ran for {2}", c.name, period)
    return
  end
  local r = C.reader(ctx, ctx.now())
  local run = C.start(c, effects(ctx, c, run_id), r, frequency_of(c, ctx))
  local members = C.members(c.audience, r)
  local reached = 0
  for _, who in ipairs(members) do
    if run:stopped() then
      break
    end
    reach(run, ctx, c, who)
    reached = reached + 1
  end
  run.stats.not_reached = #members - reached + (run:stopped() and 1 or 0)
  run.stats.audience = #members   -- the segment, reached or not
  local status, line = run:summary()
  ctx.explain("run", true, "{1} for {2}: {3}", c.name, period, line)
  if run.stats.stopped then
    ctx.explain("budget", true, "stopped: {1}", run.stats.stopped)
  end
  run.stats.sample = #run.sample > 0 and run.sample or nil
  ctx.campaign_run_end(run_id, status, run.stats)
  if c.schedule and active[c.name] then
    ctx.campaign_save(c.name, { next_run_at = c.schedule:next(ctx.now()) })
  end
end

-- The customers in the trigger's segment now, marked so that an event can
-- tell an entry from a stay.
local function seed_entries(ctx, c)
  local r = C.reader(ctx, ctx.now())
  local key = "in:" .. c.name
  local members = c.trigger.segment:members(r)
  -- Marks left from an earlier start may be out of date.
  local stale = {}
  ctx.each_customer(function(who, facts)
    if facts[key] ~= nil and not members[who] then
      stale[#stale + 1] = who
    end
  end)
  for _, who in ipairs(stale) do
    ctx.fact_set(who, key, nil)
  end
  for _, who in ipairs(C.members(c.trigger.segment, r)) do
    ctx.fact_set(who, key, true)
  end
end

local function on_campaign(ev, ctx)
  local d = ev.data
  if type(d.campaign) ~= "string" then
    return   -- a client's own event of type campaign, not a run
  end
  local name, action = d.campaign, d.action or "run"
  local c
  if d.source then
    local errors
    c, errors = C.compile(d.source, d.file or name)
    if not c then
      error(table.concat(errors, "\n"), 0)
    end
    if c.name ~= name then
      error(("the campaign in %s is named %q, not %q"):format(d.file or "the source", c.name, name), 0)
    end
  elseif action ~= "stop" then
    load_active(ctx)
    c = active[name]
    if not c then
      local row = cx.query("SELECT name, source FROM campaigns WHERE name = ?1", name)[1]
      c = row and row.source and compile_row(row, ctx)
    end
    if not c then
      error(("no campaign %q"):format(tostring(name)), 0)
    end
  end
  if action == "stop" then
    ctx.campaign_save(name, { active = false, next_run_at = 0 })
    active[name] = nil
    local live = cx.query([[SELECT r.id FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id
      WHERE k.name = ?1 AND r.period = 'live']], name)[1]
    if live then
      ctx.campaign_run_end(live.id, "ended", live_stats(live.id))
    end
    ctx.explain("stop", true, "{1} stopped", name)
  elseif action == "start" then
    local next_run = c.schedule and c.schedule:next(ctx.now()) or 0
    ctx.campaign_save(name, { description = c.description, module = c.module, source = d.source,
                              trigger = c.trigger_text, active = true, next_run_at = next_run })
    active[name] = c
    if c.trigger_kind == "event" or c.trigger_kind == "enters" or c.journey then
      local run_id = live_run(ctx, c)
      ctx.campaign_run_end(run_id, "live", live_stats(run_id))
    end
    if c.trigger_kind == "enters" then
      seed_entries(ctx, c)
    end
    ctx.explain("start", true, "{1} started ({2})", name, c.trigger_text)
    if c.trigger_kind == "once" then
      run_batch(ctx, c, "once", {})
    end
  elseif action == "run" then
    if c.trigger_kind == "event" or c.trigger_kind == "enters" then
      error(("%s runs on events (%s): register it with cxhost campaign start"):format(name, c.trigger_text), 0)
    end
    run_batch(ctx, c, d.period or "once", d)
  else
    error(("a campaign event's action is run, start or stop, not %q"):format(tostring(action)), 0)
  end
end

local function on_customer_event(ev, ctx)
  local who = ev.customer
  for name, c in pairs(active) do
    local t = c.trigger_kind
    if t == "event" and c.trigger.event == ev.type then
      local r = C.reader(ctx, ctx.now())
      if c.audience:test(who, r) then
        local cond = c.trigger.condition
        if not cond or cond(ev, C.customer_view(who, r, { event = ev })) then
          local run = C.start(c, effects(ctx, c, live_run(ctx, c)), r, frequency_of(c, ctx), who)
          local outcome = reach(run, ctx, c, who, { event = ev })
          ctx.explain(name, outcome == "acted" or outcome == "entered", "{1} on {2}: {3}", name, ev.type, outcome)
          if run.stats.stopped then
            ctx.explain("budget", true, "{1}: {2}", name, run.stats.stopped)
          end
        end
      end
    elseif t == "enters" then
      local r = C.reader(ctx, ctx.now())
      local was = ctx.fact(who, "in:" .. name) ~= nil   -- true, or 1 once stored
      local now_in = c.trigger.segment:test(who, r)
      if now_in ~= was then
        ctx.fact_set(who, "in:" .. name, now_in or nil)
      end
      if now_in and not was and c.audience:test(who, r) then
        local run = C.start(c, effects(ctx, c, live_run(ctx, c)), r, frequency_of(c, ctx), who)
        local outcome = reach(run, ctx, c, who, { event = ev })
        ctx.explain(name, outcome == "acted" or outcome == "entered", "{1}: {2} entered {3}: {4}", name, who,
          c.trigger.segment.text, outcome)
      end
    end
  end
end

-- Moves on every journey step due by as_of.
local function advance_journeys(ctx, as_of)
  local rows = cx.query([[SELECT k.name AS campaign, cu.external_id AS customer, j.step, j.entered_at,
    j.updated_at FROM journeys j JOIN campaigns k ON k.id = j.campaign_id JOIN customers cu ON cu.id = j.customer_id
    WHERE j.step IS NOT NULL AND j.due_at <= ?1 AND k.active = 1 ORDER BY j.due_at, j.customer_id]], as_of)
  local runs = {}
  for _, row in ipairs(rows) do
    local c = active[row.campaign]
    if c and c.journey then
      local run = runs[row.campaign]
      if not run then
        local run_id = live_run(ctx, c)
        run = C.start(c, effects(ctx, c, run_id), C.reader(ctx, as_of), frequency_of(c, ctx))
        runs[row.campaign] = run
      end
      local i = c.step_index[row.step]
      if i then
        local step, due = run:journey(row.customer, i, row.entered_at, row.updated_at)
        ctx.journey_set(c.name, row.customer, step, due)
      else
        ctx.log("campaign", c.name, "has no step", row.step, "any more; customer", row.customer, "leaves the journey")
        ctx.journey_set(c.name, row.customer, nil)
      end
    end
  end
end

-- In the service (not in a REPL, which keeps timers going too): runs what
-- is due (a schedule's slot, a journey's step).
-- A slot missed while the service was down runs once, as the latest slot.
local function tick(ctx)
  if not cx.serving() then
    return   -- the service is the client's clock; a REPL is not
  end
  load_active(ctx)
  local now = cx.time.now()
  for _, row in ipairs(cx.query([[SELECT name, next_run_at FROM campaigns
      WHERE active = 1 AND next_run_at > 0 AND next_run_at <= ?1 ORDER BY name]], now)) do
    local c = active[row.name]
    local period = c and c.schedule and c.schedule:period(c.schedule:latest(now))
    -- A slot run by hand already: nothing to do (its next time moves on at the next run).
    if period and cx.query([[SELECT 1 FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id
        WHERE k.name = ?1 AND r.period = ?2]], c.name, period)[1] then
      period = nil
    end
    if period then
      local ok, err = pcall(cx.ingest, { id = ("campaign:%s:%s"):format(c.name, period), type = "campaign", at = now,
                                         data = { campaign = c.name, action = "run", period = period } })
      if not ok then
        ctx.log("campaign", c.name, "run for", period, "failed:", err)
      end
    end
  end
  local due = cx.query([[SELECT 1 FROM journeys j JOIN campaigns k ON k.id = j.campaign_id
    WHERE j.step IS NOT NULL AND j.due_at <= ?1 AND k.active = 1 LIMIT 1]], now)
  if due[1] then
    local latest = cx.query("SELECT COALESCE(MAX(at), 0) AS t FROM events WHERE type <> 'campaign'")[1].t
    local ok, err = pcall(cx.refresh, math.max(now, latest))
    if not ok then
      ctx.log("journeys could not move on:", err)
    end
  end
end

return {
  name = "campaigns",
  version = "1.0",
  description = "Runs the client's campaigns: audiences, triggers, actions, budgets, holdouts and journeys",
  order = 900, -- last: a campaign sees what the other plugins made of the event

  defaults = {
    -- At most this many contacts (messages and offers) to one customer in
    -- this many days, across all campaigns. A campaign may set its own.
    frequency = { contacts = 3, days = 7 },
    -- How often the service looks for scheduled runs and journey steps due.
    tick_seconds = 30,
  },

  on_load = function(ctx)
    local f = ctx.config.frequency
    assert(type(f) == "table" and math.type(f.contacts) == "integer" and math.type(f.days) == "integer"
      and f.contacts >= 0 and f.days >= 1, "campaigns: frequency must be { contacts = N, days = D } (whole numbers)")
    assert(type(ctx.config.tick_seconds) == "number" and ctx.config.tick_seconds >= 0.1,
      "campaigns: tick_seconds must be a number, 0.1 or more")
    load_active(ctx)
    -- The events to see: runs, and what the active campaigns' triggers
    -- need (an `enters` trigger needs every event: any may move a customer).
    local types, all = { "campaign" }, false
    for _, c in pairs(active) do
      if c.trigger_kind == "event" then
        types[#types + 1] = c.trigger.event
      elseif c.trigger_kind == "enters" then
        all = true
      end
    end
    if not all then
      ctx.listen(types)
    end
    -- The service's clock: due runs and steps, at once and then on each
    -- tick. (The service reloads the plugins when campaigns start or stop.)
    if next(active) then
      cx.after(0, function() tick(ctx) end)
      cx.every(ctx.config.tick_seconds, function() tick(ctx) end)
    end
  end,

  on_event = function(ev, ctx)
    if ev.type == "campaign" then
      on_campaign(ev, ctx)
    elseif ev.customer and next(active) then
      on_customer_event(ev, ctx)
    end
  end,

  on_refresh = function(ctx, as_of)
    if next(active) then
      advance_journeys(ctx, as_of)
    end
  end,
}
