-- campaign: `cxhost campaign check|run|start|stop|list|report` (docs/campaigns.md).
-- The C side reads the campaign file into arg.source; a run, a start and a
-- stop are `campaign` events that the built-in campaigns plugin carries out
-- in the event's transaction.

local C = cx.campaign
local count, money = cx.report.count, cx.money.format
local verb, target = arg[1], arg[2]

local function compile()
  local c, errors = C.compile(arg.source, target)
  if not c then
    for _, e in ipairs(errors) do
      print(e)
    end
    return nil, ("%s: %d error%s"):format(target, #errors, #errors == 1 and "" or "s")
  end
  return c
end

local function time_arg()
  if not arg.at then
    return cx.time.now()
  end
  local t, why = cx.time.parse(arg.at)
  if not t then
    return nil, "--at: " .. why
  end
  return t
end

-- The campaign of the file and the time of --at: or nil, then the exit
-- status and the message.
local function campaign_at()
  local c, err = compile()
  if not c then
    return nil, 1, err
  end
  local at, why = time_arg()
  if not at then
    return nil, 2, why
  end
  return c, at
end

local function percent(share)
  return ("%g%%"):format(math.floor(share * 1000 + 0.5) / 10)
end

-- --- check ---------------------------------------------------------------------

local function check()
  local c, err = compile()
  if not c then
    return 1, err
  end
  local what = c.journey and ("a journey of %d steps"):format(#c.journey) or
    ("%d action%s"):format(#c.actions, #c.actions == 1 and "" or "s")
  print(("%s: campaign %s is sound: module %s, trigger %s, %s, holdout %s"):format(target, c.name, c.module,
    c.trigger_text, what, percent(c.holdout)))
  return 0
end

-- --- dry run ---------------------------------------------------------------------

-- The budget line: what the run would spend against each cap.
local function budget_lines(c, spent, stats)
  local lines = {}
  local function line(label, key, fmt)
    local cap = c.caps[key]
    local before, now = spent[key] - stats[key], stats[key]
    if cap then
      lines[#lines + 1] = ("  %-9s %s now, %s before, of %s (%s left after)"):format(label, fmt(now), fmt(before),
        fmt(cap), fmt(cap - before - now))
    else
      lines[#lines + 1] = ("  %-9s %s now, %s before, no cap"):format(label, fmt(now), fmt(before))
    end
  end
  line("points", "points", count)
  line("money", "money_cents", money)
  line("contacts", "contacts", count)
  return lines
end

local function dry_run(c, at)
  local r = C.reader(nil, at)
  local arms = {}
  for _, row in ipairs(cx.query([[SELECT cu.external_id AS customer, m.arm FROM campaign_members m
      JOIN campaigns k ON k.id = m.campaign_id JOIN customers cu ON cu.id = m.customer_id WHERE k.name = ?1]],
      c.name)) do
    arms[row.customer] = row.arm
  end
  local effects = {
    member = function(who, arm) return arms[who] or arm end,
    act = function() end,
  }
  local settings = cx.loyalty.plugin_config("campaigns") or {}
  local frequency = c.frequency or settings.frequency
  local run = C.start(c, effects, r, frequency)
  local members = C.members(c.audience, r)
  if c.trigger_kind == "event" or c.trigger_kind == "enters" then
    -- It acts on events as they come: there is no run to project.
    local held = 0
    for _, who in ipairs(members) do
      held = held + ((arms[who] or C.arm(c, who)) == "holdout" and 1 or 0)
    end
    print(("campaign %s (%s): %s"):format(c.name, c.module, c.description))
    print(("trigger   %s: it acts on each such event, once started (cxhost campaign start)"):format(c.trigger_text))
    print(("audience  %s customers now: %s"):format(count(#members), c.audience.text))
    print(("holdout   %s of them would be held out (%s)"):format(count(held), percent(c.holdout)))
    print("dry run: nothing was written")
    return 0
  end
  for _, who in ipairs(members) do
    if run:stopped() then
      break
    end
    if c.journey then
      run.stats.audience = run.stats.audience + 1
      if effects.member(who, C.arm(c, who)) == "holdout" then
        run.stats.holdout = run.stats.holdout + 1
      else
        run.stats.treated = run.stats.treated + 1
        run:journey(who, 1, at)
      end
    else
      run:customer(who, c.actions)
    end
  end
  local s = run.stats
  print(("campaign %s (%s): %s"):format(c.name, c.module, c.description))
  print(("as of %s, trigger %s"):format(cx.time.iso(at), c.trigger_text))
  print(("audience  %s customers: %s"):format(count(#members), c.audience.text))
  print(("holdout   %s (%s of the audience is held out), treated %s"):format(count(s.holdout), percent(c.holdout),
    count(s.treated)))
  print(("actions   for %s customers: %s points, %s money, %s contacts"):format(count(s.acted), count(s.points),
    money(s.money_cents), count(s.contacts)))
  print("budget")
  for _, line in ipairs(budget_lines(c, run.state.spent, s)) do
    print(line)
  end
  if s.skipped_customer_cap > 0 or s.skipped_frequency > 0 then
    print(("skipped   %s over a per-customer cap, %s over the frequency cap (%s)"):format(
      count(s.skipped_customer_cap), count(s.skipped_frequency),
      frequency and ("%d contact%s in %d days"):format(frequency.contacts, frequency.contacts == 1 and "" or "s",
        frequency.days) or "none"))
  end
  if s.stopped then
    print(("stops     %s"):format(s.stopped))
  end
  if #run.sample > 0 then
    print("sample")
    for _, line in ipairs(run.sample) do
      print("  " .. line)
    end
  end
  print("dry run: nothing was written")
  return 0
end

-- --- run, start, stop ---------------------------------------------------------------

local function print_run(name, period)
  local row = cx.query([[SELECT r.id, r.status, r.stats FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id
    WHERE k.name = ?1 AND r.period = ?2]], name, period)[1]
  if not row then
    return
  end
  local s = cx.json.decode(row.stats or "{}")
  print(("run %d of %s for %s: %s"):format(row.id, name, period, row.status))
  print(("  audience %s, held out %s, treated %s"):format(count(s.audience or 0), count(s.holdout or 0),
    count(s.treated or 0)))
  if s.entered then
    print(("  %s entered the journey"):format(count(s.entered)))
    local row = cx.query("SELECT active FROM campaigns WHERE name = ?1", name)[1]
    if row and row.active == 0 then
      print("  they move on to the next steps only while the campaign is started (cxhost campaign start)")
    end
  end
  print(("  acted for %s: %s points, %s money, %s contacts"):format(count(s.acted or 0), count(s.points or 0),
    money(s.money_cents or 0), count(s.contacts or 0)))
  if (s.skipped_customer_cap or 0) > 0 or (s.skipped_frequency or 0) > 0 then
    print(("  skipped %s over a per-customer cap, %s over the frequency cap"):format(count(s.skipped_customer_cap),
      count(s.skipped_frequency)))
  end
  if s.stopped then
    print(("  stopped: %s; %s customers not reached"):format(s.stopped, count(s.not_reached or 0)))
  end
end

local function run()
  local c, at, why = campaign_at()
  if not c then
    return at, why
  end
  if arg.dry_run then
    return dry_run(c, at)
  end
  if c.trigger_kind == "event" or c.trigger_kind == "enters" then
    return 1, ("%s runs on events (%s): register it with cxhost campaign start"):format(c.name, c.trigger_text)
  end
  local period = arg.period
  if not period then
    if c.schedule then
      local slot = c.schedule:latest(at)
      if not slot then
        return 1, ("%s: no slot of %q at or before %s"):format(c.name, c.trigger_text, cx.time.iso(at))
      end
      period = c.schedule:period(slot)
    else
      period = "once"
    end
  end
  local result = cx.ingest({ id = ("campaign:%s:%s"):format(c.name, period), type = "campaign", at = at,
                             data = { campaign = c.name, action = "run", period = period, source = arg.source,
                                      file = target } })
  if result == "duplicate" then
    print(("%s already ran for %s: nothing was done again"):format(c.name, period))
  end
  print_run(c.name, period)
  -- A granted tier is put in place by the loyalty plugin's refresh.
  local grants = cx.query([[SELECT COUNT(*) AS n FROM campaign_actions a JOIN campaign_runs r ON r.id = a.run_id
    JOIN campaigns k ON k.id = r.campaign_id WHERE k.name = ?1 AND r.period = ?2 AND a.kind = 'tier']],
    c.name, period)[1].n
  if result == "inserted" and grants > 0 then
    local latest = cx.query("SELECT COALESCE(MAX(at), 0) AS t FROM events WHERE type <> 'campaign'")[1].t
    cx.refresh(math.max(at, latest))
  end
  return 0
end

-- Starts and stops are numbered by the campaign's revision, which each of
-- them moves on: every start or stop is an event of its own.
local function next_revision(name)
  local row = cx.query("SELECT revision FROM campaigns WHERE name = ?1", name)[1]
  return (row and row.revision or 0) + 1
end

local function start()
  local c, at, why = campaign_at()
  if not c then
    return at, why
  end
  cx.ingest({ id = ("campaign:%s:start:%d"):format(c.name, next_revision(c.name)), type = "campaign", at = at,
              data = { campaign = c.name, action = "start", source = arg.source, file = target } })
  local row = cx.query("SELECT next_run_at FROM campaigns WHERE name = ?1", c.name)[1]
  print(("started %s (%s)"):format(c.name, c.trigger_text))
  if c.schedule then
    print(("next run %s"):format(cx.time.iso(row.next_run_at)))
  elseif c.trigger_kind == "once" then
    print_run(c.name, "once")
  end
  print("cxhost serve runs it (a running service picks it up within seconds)")
  return 0
end

local function stop()
  local row = cx.query("SELECT active FROM campaigns WHERE name = ?1", target)[1]
  if not row then
    return 1, ("client '%s' has no campaign '%s'"):format(cx.client, target)
  end
  if row.active == 0 then
    print(("%s is not running"):format(target))
    return 0
  end
  local at, why = time_arg()
  if not at then
    return 2, why
  end
  cx.ingest({ id = ("campaign:%s:stop:%d"):format(target, next_revision(target)), type = "campaign", at = at,
              data = { campaign = target, action = "stop" } })
  print(("stopped %s"):format(target))
  return 0
end

local function list()
  local rows = cx.query([[SELECT k.name, k.module, k.trigger, k.active, k.next_run_at,
      (SELECT COUNT(*) FROM campaign_runs r WHERE r.campaign_id = k.id) AS runs,
      (SELECT CASE WHEN r.period = 'live' THEN 'on events: ' || r.status ELSE r.period || ' ' || r.status END
        FROM campaign_runs r WHERE r.campaign_id = k.id ORDER BY r.started_at DESC, r.id DESC LIMIT 1)
        AS last FROM campaigns k ORDER BY k.name]])
  if #rows == 0 then
    print(("client '%s' has no campaigns yet"):format(cx.client))
    return 0
  end
  print(("%-24s %-7s %-8s %4s  %-28s %s"):format("campaign", "module", "state", "runs", "trigger", "last run"))
  for _, r in ipairs(rows) do
    local state = r.active == 1 and "started" or "-"
    local trigger = r.trigger or ""
    if r.active == 1 and (r.next_run_at or 0) > 0 then
      trigger = trigger .. ", next " .. cx.time.iso(r.next_run_at)
    end
    print(("%-24s %-7s %-8s %4d  %-28s %s"):format(r.name, r.module or "", state, r.runs, trigger, r.last or ""))
  end
  return 0
end

-- --- report ---------------------------------------------------------------------------

local function report()
  local k = cx.query("SELECT id, name, description, module, source FROM campaigns WHERE name = ?1", target)[1]
  if not k then
    return 1, ("client '%s' has no campaign '%s'"):format(cx.client, target)
  end
  local c = k.source and C.compile(k.source, "campaign " .. k.name)
  local response = c and c.response or { event = "purchase", days = 30 }
  local o = C.outcome(k.id, response)
  local t, h, rate, revenue = o.treated, o.holdout, o.rate, o.revenue
  local runs = cx.query([[SELECT COUNT(*) AS n, MAX(started_at) AS last FROM campaign_runs WHERE campaign_id = ?1]],
    k.id)[1]
  if arg.format == "json" then
    print(cx.json.encode({ campaign = k.name, module = k.module, runs = runs.n, response = response,
                           treated = t, holdout = h, response_rate = rate, revenue_per_customer = revenue }))
    return 0
  end
  local function per_customer(g)
    return g.n > 0 and money(g.revenue // g.n) or "-"
  end
  print(("campaign %s (%s): %s"):format(k.name, k.module or "", k.description or ""))
  local live = cx.query("SELECT started_at, status FROM campaign_runs WHERE campaign_id = ?1 AND period = 'live'",
    k.id)[1]
  if live then
    print(("acting on events since %s (%s); a response is a %s within %d days of entering the campaign"):format(
      cx.time.iso(live.started_at), live.status == "live" and "still started" or "stopped", response.event,
      response.days))
  else
    print(("%s run%s, the last on %s; a response is a %s within %d days of entering the campaign"):format(
      count(runs.n), runs.n == 1 and "" or "s", runs.last and cx.time.iso(runs.last) or "-", response.event,
      response.days))
  end
  print("")
  print(("%-22s %12s %12s"):format("", "treated", "holdout"))
  print(("%-22s %12s %12s"):format("customers", count(t.n), count(h.n)))
  print(("%-22s %12s %12s"):format("responded", count(t.responded), count(h.responded)))
  print(("%-22s %12s %12s"):format("response rate", cx.uplift.format_rate(rate.rate_t),
    cx.uplift.format_rate(rate.rate_h)))
  print(("%-22s %12s %12s"):format("revenue per customer", per_customer(t), per_customer(h)))
  print(("%-22s %12s %12s"):format("points given", count(t.points), count(h.points)))
  print(("%-22s %12s %12s"):format("money spent", money(t.money_cents), money(h.money_cents)))
  print(("%-22s %12s %12s"):format("contacts", count(t.contacts), count(h.contacts)))
  print("")
  if rate.diff then
    print(("uplift in response rate: %s (95%% CI %s to %s)"):format(cx.uplift.format_points(rate.diff),
      cx.uplift.format_points(rate.low), cx.uplift.format_points(rate.high)))
  else
    print(("uplift in response rate: not measurable (%s)"):format(rate.reason))
  end
  if revenue.low then
    local function signed(x)
      local cents = math.floor(x + 0.5)
      return (cents < 0 and "-" or "+") .. money(math.abs(cents))
    end
    print(("uplift in revenue per customer: %s (95%% CI %s to %s)"):format(signed(revenue.diff),
      signed(revenue.low), signed(revenue.high)))
  else
    print(("uplift in revenue per customer: not measurable (%s)"):format(revenue.reason))
  end
  return 0
end

local verbs = { check = check, run = run, start = start, stop = stop, list = list, report = report }
return verbs[verb]()
