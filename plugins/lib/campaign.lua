-- campaign: the campaign language and the engine that runs it (cx.campaign).
--
-- A campaign is a Lua file that returns a table (docs/campaigns.md):
--   name, description, module       who it is, and the experience module it serves
--   audience                        a segment: tier("gold") & rfm("at risk") | tagged("vip") ...
--   trigger                         "once", a schedule ("daily 09:00"), event("complaint", fn)
--                                   or enters(segment)
--   actions | journey               what treated customers get, at once or step by step
--   budget, frequency, holdout      caps, and the share of the audience kept out to measure
--   response                        what the report counts as a response
-- The file runs in a sandbox whose globals are the words of the language
-- (M.words). This library checks a campaign (with the line of each error),
-- works out its audience, and acts on it through an "effects" object: the
-- built-in campaigns plugin passes one that writes through ctx, and
-- `cxhost campaign run --dry-run` one that only counts.

local M = {}

local DAY = 86400
M.MODULES = { sense = true, feel = true, think = true, act = true, relate = true }

-- --- reading the client's data ---------------------------------------------------
-- In a plugin hook, facts are read through ctx (which sees what this
-- transaction changed); in a script (a dry run), from the store.

local function script_reader(now)
  local r = { now = now }
  function r.facts(who, plugin)
    local row = cx.query([[SELECT json_extract(f.data, '$."' || ?2 || '"') AS facts FROM facts f
      JOIN customers c ON c.id = f.customer_id WHERE c.external_id = ?1]], who, plugin)[1]
    return row and row.facts and cx.json.decode(row.facts) or {}
  end
  function r.each_facts(plugin, fn)
    for _, row in ipairs(cx.query([[SELECT c.external_id AS customer,
        json_extract(f.data, '$."' || ?1 || '"') AS facts FROM facts f JOIN customers c ON c.id = f.customer_id
        WHERE facts IS NOT NULL ORDER BY c.id]], plugin)) do
      fn(row.customer, cx.json.decode(row.facts))
    end
  end
  return r
end

local function ctx_reader(ctx, now)
  local r = { now = now, ctx = ctx }
  function r.facts(who, plugin)
    return ctx.facts(who, plugin) or {}
  end
  function r.each_facts(plugin, fn)
    ctx.each_customer(fn, plugin)
  end
  return r
end

-- A reader of the client's data as of `now`: through ctx when given.
function M.reader(ctx, now)
  return ctx and ctx_reader(ctx, now) or script_reader(now)
end

-- Every customer, in the order first seen: the list and a set.
local function universe()
  local list, set = {}, {}
  for _, row in ipairs(cx.query("SELECT external_id AS customer FROM customers ORDER BY id")) do
    list[#list + 1] = row.customer
    set[row.customer] = true
  end
  return list, set
end

local function sql_set(sql, ...)
  local set = {}
  for _, row in ipairs(cx.query(sql, ...)) do
    set[row.customer] = true
  end
  return set
end

-- --- segments ---------------------------------------------------------------------
-- A segment answers two questions: who is in it (members, a set, for a run
-- over everyone) and whether one customer is (test, for a trigger on one
-- event). Segments combine with all/any/none, or & | ~.

local Segment = {}
Segment.__index = Segment

local function segment(kind, text, members, test)
  return setmetatable({ kind = kind, text = text, members = members, test = test }, Segment)
end

local function is_segment(x)
  return getmetatable(x) == Segment
end
M.is_segment = is_segment

local function set_of(list)
  local set = {}
  for _, v in ipairs(list) do
    set[v] = true
  end
  return set
end

local function quoted_list(list)
  local out = {}
  for i, v in ipairs(list) do
    out[i] = ("%q"):format(tostring(v))
  end
  return table.concat(out, ", ")
end

local function names_of(fn, ...)
  local list = { ... }
  if #list == 1 and type(list[1]) == "table" then
    list = list[1]
  end
  if #list == 0 then
    error(fn .. "(...): give at least one name", 3)
  end
  for i, v in ipairs(list) do
    if type(v) ~= "string" then
      error(("%s(...): name %d must be text, not %s"):format(fn, i, type(v)), 3)
    end
  end
  return list
end

-- A segment of the customers whose facts from `plugin` pass `keep`.
local function facts_segment(kind, text, plugin, keep)
  return segment(kind, text, function(_, r)
    local set = {}
    r.each_facts(plugin, function(who, facts)
      if keep(facts, r) then
        set[who] = true
      end
    end)
    return set
  end, function(_, who, r)
    return keep(r.facts(who, plugin), r) and true or false
  end)
end

local words = {}
M.words = words

-- everyone(): every customer the client knows.
function words.everyone()
  return segment("everyone", "everyone", function()
    local _, set = universe()
    return set
  end, function()
    return true
  end)
end

-- customers("ann", "bob"): exactly these.
function words.customers(...)
  local list = names_of("customers", ...)
  local set = set_of(list)
  return segment("customers", "customers(" .. quoted_list(list) .. ")", function()
    local known = {}
    for who in pairs(set) do
      if #cx.query("SELECT 1 FROM customers WHERE external_id = ?1", who) > 0 then
        known[who] = true
      end
    end
    return known
  end, function(_, who)
    return set[who] == true
  end)
end

-- The loyalty plugin's tier names in order, and the first (where everyone starts).
local function tier_names()
  local config = cx.loyalty.plugin_config("loyalty")
  local names = {}
  for i, t in ipairs(config and config.tiers or {}) do
    names[i] = t.name
  end
  return names
end

local function first_tier()
  return tier_names()[1]
end

-- Raises, at the campaign's line, when a name is not one of `known`
-- (nothing is checked when nothing is known: no such plugin loaded).
local function check_known(fn, list, known, what)
  if #known == 0 then
    return
  end
  local set = set_of(known)
  for _, name in ipairs(list) do
    if not set[name] then
      error(("%s(%q): there is no %s named %q (%s)"):format(fn, name, what, name, table.concat(known, ", ")), 3)
    end
  end
end

-- tier("gold", "platinum"): the loyalty plugin's tier, as its fact `tier`
-- says (customers without one are in the first tier).
function words.tier(...)
  check_known("tier", names_of("tier", ...), tier_names(), "loyalty tier")
  local names = set_of(names_of("tier", ...))
  local text = "tier(" .. quoted_list(names_of("tier", ...)) .. ")"
  local first = first_tier()   -- read once: the settings do not change while loaded
  return segment("tier", text, function(_, r)
    local with_fact, set = {}, {}
    r.each_facts("loyalty", function(who, facts)
      with_fact[who] = true
      if names[facts.tier or first] then
        set[who] = true
      end
    end)
    if first and names[first] then
      local list = universe()
      for _, who in ipairs(list) do
        if not with_fact[who] then
          set[who] = true
        end
      end
    end
    return set
  end, function(_, who, r)
    return names[r.facts(who, "loyalty").tier or first] == true
  end)
end

-- tier_at_least("gold"): that tier or a higher one.
function words.tier_at_least(name)
  local config = cx.loyalty.plugin_config("loyalty")
  local list, found = {}, false
  for _, t in ipairs(config and config.tiers or {}) do
    found = found or t.name == name
    if found then
      list[#list + 1] = t.name
    end
  end
  if not found then
    error(("tier_at_least(%q): the loyalty plugin has no such tier"):format(tostring(name)), 2)
  end
  local s = words.tier(list)
  s.text = ("tier_at_least(%q)"):format(name)
  return s
end

-- stage("lapsing", "lapsed"): the lifecycle plugin's stage.
local STAGES = { "prospect", "new", "active", "lapsing", "lapsed" }

function words.stage(...)
  local list = names_of("stage", ...)
  check_known("stage", list, STAGES, "lifecycle stage")
  local names = set_of(list)
  return facts_segment("stage", "stage(" .. quoted_list(list) .. ")", "lifecycle", function(facts)
    return names[facts.stage or "prospect"]
  end)
end

local compare = {
  ["<"] = function(a, b) return a < b end, ["<="] = function(a, b) return a <= b end,
  [">"] = function(a, b) return a > b end, [">="] = function(a, b) return a >= b end,
}

-- score("feel", "<", 40): the customer's experience score in a module, now.
function words.score(module, op, value)
  if not M.MODULES[module] then
    error(("score(%q, ...): the module must be sense, feel, think, act or relate"):format(tostring(module)), 2)
  end
  if not compare[op] then
    error(("score(%q, %q, ...): compare with <, <=, > or >="):format(module, tostring(op)), 2)
  end
  if type(value) ~= "number" then
    error(("score(%q, %q, ...): give a number from 0 to 100"):format(module, op), 2)
  end
  local settings = cx.loyalty.plugin_config(module)
  return facts_segment("score", ("score(%q, %q, %s)"):format(module, op, value), module, function(facts, r)
    local s = settings and facts.weight_sum and cx.experience.score(facts, math.max(r.now, facts.as_of), settings)
    return s ~= nil and compare[op](s, value)
  end)
end

-- rfm("at risk", "cannot lose"): the RFM segment (the store's view rfm).
function words.rfm(...)
  local list = names_of("rfm", ...)
  local known = {}
  for _, row in ipairs(cx.query("SELECT DISTINCT segment FROM rfm_segments ORDER BY segment")) do
    known[#known + 1] = row.segment
  end
  check_known("rfm", list, known, "RFM segment")
  local json = cx.json.encode(list)
  return segment("rfm", "rfm(" .. quoted_list(list) .. ")", function()
    return sql_set("SELECT customer FROM rfm WHERE segment IN (SELECT value FROM json_each(?1))", json)
  end, function(_, who)
    return #cx.query("SELECT 1 FROM rfm WHERE customer = ?1 AND segment IN (SELECT value FROM json_each(?2))",
      who, json) > 0
  end)
end

-- tagged("vip"): customers with any of these tags.
function words.tagged(...)
  local list = names_of("tagged", ...)
  local json = cx.json.encode(list)
  local sql = [[SELECT c.external_id AS customer FROM customer_tags t JOIN customers c ON c.id = t.customer_id
    WHERE t.tag IN (SELECT value FROM json_each(?1))]]
  return segment("tagged", "tagged(" .. quoted_list(list) .. ")", function()
    return sql_set(sql, json)
  end, function(_, who)
    return #cx.query(sql .. " AND c.external_id = ?2", json, who) > 0
  end)
end

local function check_keys(fn, t, allowed)
  if type(t) ~= "table" then
    error(fn .. "{...}: give a table of conditions", 3)
  end
  for k in pairs(t) do
    if not allowed[k] then
      error(("%s{...}: unknown condition %q"):format(fn, tostring(k)), 3)
    end
  end
end

local function money_arg(fn, v)
  if v == nil then
    return nil
  end
  if math.type(v) == "integer" then
    return v * 100
  end
  local cents, why = cx.money.parse(tostring(v))
  if not cents then
    error(("%s: %s"):format(fn, why), 3)
  end
  return cents
end

local function purchase_types()
  return cx.value.purchase_types()
end

-- A segment from the customers' purchases: count, money and the time of the
-- last one, over all time or the last within_days days.
local function history(fn, conditions, having, text)
  local within = conditions.within_days
  if within ~= nil and (math.type(within) ~= "integer" or within < 1) then
    error(fn .. "{...}: within_days must be a whole number of days, 1 or more", 3)
  end
  local sql = [[SELECT c.external_id AS customer FROM events e JOIN customers c ON c.id = e.customer_id
    WHERE e.type IN (SELECT value FROM json_each(?1)) AND e.at > ?2 AND e.at <= ?3 %s
    GROUP BY e.customer_id HAVING ]] .. having
  local function window(r)
    return within and r.now - within * DAY or -(1 << 62), r.now
  end
  local types = purchase_types()
  local all, one = sql:format(""), sql:format("AND c.external_id = ?4")
  return segment(fn, text, function(_, r)
    local from, to = window(r)
    return sql_set(all, types, from, to)
  end, function(_, who, r)
    local from, to = window(r)
    return #cx.query(one, types, from, to, who) > 0
  end)
end

local function describe(fn, t)
  local keys, out = {}, {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    out[#out + 1] = ("%s = %s"):format(k, type(t[k]) == "string" and ("%q"):format(t[k]) or tostring(t[k]))
  end
  return fn .. "{ " .. table.concat(out, ", ") .. " }"
end

-- purchases{ at_least = 3, at_most =, within_days = 365 }
function words.purchases(t)
  check_keys("purchases", t, { at_least = true, at_most = true, within_days = true })
  local low, high = t.at_least or 1, t.at_most or math.maxinteger
  return history("purchases", t, ("COUNT(*) >= %d AND COUNT(*) <= %d"):format(low, high), describe("purchases", t))
end

-- spend{ at_least = "100.00", at_most =, within_days = }: money spent on purchases.
function words.spend(t)
  check_keys("spend", t, { at_least = true, at_most = true, within_days = true })
  local low = money_arg("spend{at_least}", t.at_least) or 0
  local high = money_arg("spend{at_most}", t.at_most) or math.maxinteger
  return history("spend", t, ("SUM(COALESCE(e.amount_cents, 0)) >= %d AND SUM(COALESCE(e.amount_cents, 0)) <= %d")
    :format(low, high), describe("spend", t))
end

-- inactive{ days = 90 }: bought before, but nothing in the last `days` days.
function words.inactive(t)
  check_keys("inactive", t, { days = true })
  if math.type(t.days) ~= "integer" or t.days < 1 then
    error("inactive{...}: days must be a whole number of days, 1 or more", 2)
  end
  return history("inactive", {}, ("MAX(e.at) <= %s"):format("?3 - " .. t.days * DAY), describe("inactive", t))
end

-- A segment of the customers whose value (cx.value: BG/NBD and Gamma-Gamma
-- fitted on the client's purchases) passes `keep`. The models are fitted
-- once, when the segment is first used, and kept while the campaign is
-- loaded: fitting for every event would cost far more than it tells.
local function value_segment(kind, text, keep)
  local fit
  local function value_of(who)
    fit = fit or cx.value.fit()
    local v = cx.value.customer(who, fit)
    return v and keep(v)
  end
  return segment(kind, text, function()
    fit = fit or cx.value.fit()
    local set = {}
    for _, row in ipairs(fit.rows) do
      if value_of(row.customer) then
        set[row.customer] = true
      end
    end
    return set
  end, function(_, who)
    return value_of(who) and true or false
  end)
end

-- clv{ at_least = "100.00", at_most = }: the customer's lifetime value
-- (cx.value: the next 12 months' purchases, discounted 1% a month).
function words.clv(t)
  check_keys("clv", t, { at_least = true, at_most = true })
  local low = money_arg("clv{at_least}", t.at_least) or math.mininteger
  local high = money_arg("clv{at_most}", t.at_most) or math.maxinteger
  return value_segment("clv", describe("clv", t), function(v)
    return v.clv_cents and v.clv_cents >= low and v.clv_cents <= high
  end)
end

-- p_alive{ at_least = 0.5, at_most = }: the chance that the customer is
-- still a customer (cx.value, BG/NBD).
function words.p_alive(t)
  check_keys("p_alive", t, { at_least = true, at_most = true })
  for _, k in ipairs({ "at_least", "at_most" }) do
    if t[k] ~= nil and (type(t[k]) ~= "number" or t[k] < 0 or t[k] > 1) then
      error(("p_alive{...}: %s must be a number from 0 to 1"):format(k), 2)
    end
  end
  local low, high = t.at_least or 0, t.at_most or 1
  return value_segment("p_alive", describe("p_alive", t), function(v)
    return v.p_alive >= low and v.p_alive <= high
  end)
end

-- query(sql, ...): any SELECT with a column `customer` (the customer's id).
function words.query(sql, ...)
  if type(sql) ~= "string" then
    error("query(sql, ...): give a SELECT with a column named customer", 2)
  end
  local params = table.pack(...)
  return segment("query", ("query(%q)"):format((sql:gsub("%s+", " "))), function()
    return sql_set(sql, table.unpack(params, 1, params.n))
  end, function(_, who)
    for _, row in ipairs(cx.query(sql, table.unpack(params, 1, params.n))) do
      if row.customer == who then
        return true
      end
    end
    return false
  end)
end

local function segments_of(fn, ...)
  local list = { ... }
  if #list == 0 then
    error(fn .. "(...): give at least one segment", 3)
  end
  for i, s in ipairs(list) do
    if not is_segment(s) then
      error(("%s(...): argument %d is not a segment (tier(...), rfm(...), tagged(...), ...)"):format(fn, i), 3)
    end
  end
  return list
end

local function texts(list, sep)
  local out = {}
  for i, s in ipairs(list) do
    out[i] = s.text
  end
  return table.concat(out, sep)
end

-- all(a, b, ...): in every one of them.
function words.all(...)
  local list = segments_of("all", ...)
  return segment("all", "(" .. texts(list, " & ") .. ")", function(_, r)
    local set = list[1]:members(r)
    for i = 2, #list do
      local other = list[i]:members(r)
      for who in pairs(set) do
        if not other[who] then
          set[who] = nil
        end
      end
    end
    return set
  end, function(_, who, r)
    for _, s in ipairs(list) do
      if not s:test(who, r) then
        return false
      end
    end
    return true
  end)
end

-- any(a, b, ...): in at least one of them.
function words.any(...)
  local list = segments_of("any", ...)
  return segment("any", "(" .. texts(list, " | ") .. ")", function(_, r)
    local set = {}
    for _, s in ipairs(list) do
      for who in pairs(s:members(r)) do
        set[who] = true
      end
    end
    return set
  end, function(_, who, r)
    for _, s in ipairs(list) do
      if s:test(who, r) then
        return true
      end
    end
    return false
  end)
end

-- none(a, b, ...): in none of them.
function words.none(...)
  local list = segments_of("none", ...)
  local either = #list == 1 and list[1] or words.any(...)
  return segment("none", "~" .. either.text, function(_, r)
    local _, set = universe()
    for who in pairs(either:members(r)) do
      set[who] = nil
    end
    return set
  end, function(_, who, r)
    return not either:test(who, r)
  end)
end

Segment.__band = function(a, b) return words.all(a, b) end
Segment.__bor = function(a, b) return words.any(a, b) end
Segment.__bnot = function(a) return words.none(a) end

-- The members of segment s as a list, in the order customers were first seen.
function M.members(s, r)
  local set, list = s:members(r), {}
  for _, who in ipairs((universe())) do
    if set[who] then
      list[#list + 1] = who
    end
  end
  return list
end

-- --- triggers ---------------------------------------------------------------------------

-- event("complaint" [, function(ev, c) return ... end]): each event of that type.
function words.event(kind, condition)
  if type(kind) ~= "string" then
    error("event(type [, condition]): give the event type as text", 2)
  end
  if condition ~= nil and type(condition) ~= "function" then
    error("event(type, condition): the condition must be a function(ev, c)", 2)
  end
  return { kind = "event", event = kind, condition = condition, text = ("event(%q)"):format(kind) }
end

-- enters(segment): when an event moves a customer into the segment.
function words.enters(s)
  if not is_segment(s) then
    error("enters(segment): give a segment, such as enters(tier(\"gold\"))", 2)
  end
  return { kind = "enters", segment = s, text = "enters(" .. s.text .. ")" }
end

-- --- actions -------------------------------------------------------------------------------

local function action_options(fn, opts, allowed)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    error(fn .. ": the options must be a table", 3)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      error(("%s: unknown option %q"):format(fn, tostring(k)), 3)
    end
  end
  if opts.when ~= nil and type(opts.when) ~= "function" then
    error(fn .. ": when must be a function(c) that says whether to act", 3)
  end
  return opts
end

-- points(500 [, { note =, expires_days =, when = }]): loyalty points, or a
-- function(c) that works them out for the customer.
function words.points(n, opts)
  if not (math.type(n) == "integer" and n > 0) and type(n) ~= "function" then
    error("points(n): give a whole number of points above 0, or a function(c)", 2)
  end
  opts = action_options("points", opts, { note = true, expires_days = true, when = true })
  return { kind = "points", points = n, note = opts.note, expires_days = opts.expires_days, when = opts.when,
           text = type(n) == "function" and "points(...)" or ("points(%d)"):format(n) }
end

-- send("email", "winback" [, vars [, { value =, when = }]]): a message or an
-- offer in the outbox; value is what the offer costs the client (money).
function words.send(channel, template, vars, opts)
  if type(channel) ~= "string" or type(template) ~= "string" then
    error("send(channel, template [, vars [, options]]): give the channel and the template as text", 2)
  end
  if vars ~= nil and type(vars) ~= "table" and type(vars) ~= "function" then
    error("send(...): vars must be a table or a function(c) that returns one", 2)
  end
  opts = action_options("send", opts, { value = true, when = true })
  return { kind = "send", channel = channel, template = template, vars = vars,
           value_cents = money_arg("send{value}", opts.value) or 0, when = opts.when,
           text = ("send(%q, %q)"):format(channel, template) }
end

-- tag("winback-2026" [, { when = }])
function words.tag(name, opts)
  if type(name) ~= "string" then
    error("tag(name): give the tag as text", 2)
  end
  opts = action_options("tag", opts, { when = true })
  return { kind = "tag", tag = name, when = opts.when, text = ("tag(%q)"):format(name) }
end

-- grant_tier("gold", { days = 90 [, when = ] }): the loyalty tier for a period.
function words.grant_tier(name, opts)
  if type(name) ~= "string" then
    error("grant_tier(name, { days = N }): give the tier as text", 2)
  end
  check_known("grant_tier", { name }, tier_names(), "loyalty tier")
  opts = action_options("grant_tier", opts, { days = true, when = true })
  if math.type(opts.days) ~= "integer" or opts.days < 1 then
    error("grant_tier(name, { days = N }): days must be a whole number, 1 or more", 2)
  end
  return { kind = "tier", tier = name, days = opts.days, when = opts.when,
           text = ("grant_tier(%q, %d days)"):format(name, opts.days) }
end

-- --- loading and checking ---------------------------------------------------------------

-- The line of a field in the campaign's source: the first line where `key =`
-- appears after the lines of the enclosing keys (path), or nil.
function M.line_of(source, path)
  local line, n = nil, 0
  local i = 1
  for _, key in ipairs(path) do
    local found, skipped = nil, 0
    n = 0
    for text in source:gmatch("([^\n]*)\n?") do
      n = n + 1
      -- A key is `key =`; a table { find = "text" [, skip = 1] } is that text,
      -- as it is (after skipping as many of it).
      local hit = type(key) == "table" and text:find(key.find, 1, true)
        or type(key) == "string" and (text:match("^%s*" .. key .. "%s*=") or text:match("[{,]%s*" .. key .. "%s*="))
      if hit and n >= i and type(key) == "table" and (key.skip or 0) > skipped then
        skipped, hit = skipped + 1, false
      end
      if n >= i and hit then
        found = n
        break
      end
    end
    if not found then
      return line
    end
    line, i = found, found
  end
  return line
end

local function new_environment()
  local env = {}
  for k, v in pairs(words) do
    env[k] = v
  end
  for _, name in ipairs({ "pairs", "ipairs", "tostring", "tonumber", "type", "select", "error", "assert",
                          "pcall", "next", "math", "string", "table", "utf8" }) do
    env[name] = _ENV[name]
  end
  env.cx = cx
  return env
end

-- Loads a campaign's source (chunkname "@FILE"): the table it returns, or
-- nil and the error ("FILE:LINE: ...").
function M.load(source, chunkname)
  local chunk, err = load(source, chunkname, "t", new_environment())
  if not chunk then
    return nil, err
  end
  local ok, result = pcall(chunk)
  if not ok then
    return nil, tostring(result)
  end
  if type(result) ~= "table" then
    return nil, chunkname:gsub("^@", "") .. ": a campaign file must return a table (return { name = ..., ... })"
  end
  return result
end

local known = {
  name = true, description = true, module = true, audience = true, trigger = true, actions = true,
  journey = true, budget = true, frequency = true, holdout = true, response = true,
}
local BUDGET = { points = true, money = true, contacts = true, per_customer = true }
local PER_CUSTOMER = { points = true, money = true, contacts = true }

-- Checks a loaded campaign: the list of errors, each { line =, field =,
-- message = }, empty when it is sound. On success the campaign gains the
-- fields the engine reads (schedule, budget in cents, steps ...).
function M.check(c, source)
  local errors = {}
  local function fail(path, message, ...)
    local field = {}
    for _, key in ipairs(path) do
      if type(key) == "string" then
        field[#field + 1] = key
      end
    end
    errors[#errors + 1] = { line = M.line_of(source, path), field = table.concat(field, "."),
                            message = message:format(...) }
  end
  for k in pairs(c) do
    if not known[k] then
      fail({ tostring(k) }, "unknown field (the fields are name, description, module, audience, trigger, "
        .. "actions or journey, budget, frequency, holdout, response)")
    end
  end
  if type(c.name) ~= "string" or not c.name:match("^[%w._-]+$") or #c.name > 64 then
    fail({ "name" }, "give the campaign a name: 1 to 64 letters, digits, '.', '-' or '_'")
  end
  if type(c.description) ~= "string" or c.description == "" then
    fail({ "description" }, "say in a sentence what the campaign is for")
  end
  if not M.MODULES[c.module] then
    fail({ "module" }, "the experience module it serves: sense, feel, think, act or relate")
  end
  if not is_segment(c.audience) then
    fail({ "audience" }, "give a segment, such as tier(\"gold\") or rfm(\"at risk\") & spend{ at_least = 100 }")
  end

  -- trigger
  local t = c.trigger
  if t == nil or t == "once" then
    c.trigger_kind, c.trigger_text = "once", "once"
  elseif type(t) == "string" then
    local s, why = cx.calendar.schedule(t)
    if s then
      c.trigger_kind, c.schedule, c.trigger_text = "schedule", s, t
    else
      fail({ "trigger" }, "%s", why)
    end
  elseif type(t) == "table" and (t.kind == "event" or t.kind == "enters") then
    c.trigger_kind, c.trigger_text = t.kind, t.text
  else
    fail({ "trigger" }, "\"once\", a schedule (\"daily 09:00\", \"every monday 09:00\", a cron line), "
      .. "event(\"type\" [, condition]) or enters(segment)")
  end

  -- actions or journey
  local function check_actions(list, path)
    if type(list) ~= "table" or #list == 0 then
      fail(path, "give a list of actions: points(...), send(...), tag(...), grant_tier(...)")
      return
    end
    for i, a in ipairs(list) do
      if type(a) ~= "table" or not a.kind then
        fail(path, "action %d is not an action (points, send, tag or grant_tier)", i)
      end
    end
  end
  if c.actions ~= nil and c.journey ~= nil then
    fail({ "journey" }, "give actions or a journey, not both")
  elseif c.journey ~= nil then
    local steps = c.journey
    if type(steps) ~= "table" or #steps == 0 then
      fail({ "journey" }, "give a list of steps: { step = \"welcome\", send(...), wait = \"3 days\" }, ...")
    else
      c.step_index = {}
      for i, s in ipairs(steps) do
        if type(s) ~= "table" or type(s.step) ~= "string" then
          fail({ "journey" }, "step %d needs a name: step = \"...\"", i)
        elseif c.step_index[s.step] then
          fail({ "journey", { find = ("%q"):format(s.step), skip = 1 } }, "two steps named %q", s.step)
        else
          c.step_index[s.step] = i
        end
      end
      for i, s in ipairs(steps) do
        if type(s) == "table" and type(s.step) == "string" then
          local at = { find = ("%q"):format(s.step) }   -- the step's own lines
          local path = { "journey", at }
          if s.wait ~= nil then
            local seconds, why = cx.calendar.duration(s.wait)
            if seconds then
              s.wait_seconds = seconds
            else
              fail({ "journey", at, "wait" }, "step %q: %s", s.step, why)
            end
          end
          if s.decide ~= nil and type(s.decide) ~= "function" then
            fail({ "journey", at, "decide" }, "step %q: decide must be a function(c) returning the next step's name",
              s.step)
          end
          if s.next ~= nil and not c.step_index[s.next] then
            fail({ "journey", at, "next" }, "step %q: no step named %q", s.step, tostring(s.next))
          end
          for j, a in ipairs(s) do
            if type(a) ~= "table" or not a.kind then
              fail(path, "step %q: item %d is not an action", s.step, j)
            end
          end
          s.actions = { table.unpack(s) }
          s.number = i
        end
      end
    end
  else
    check_actions(c.actions, { "actions" })
  end

  -- budget
  local b = c.budget or {}
  c.caps = { points = nil, money_cents = nil, contacts = nil, per_customer = {} }
  if type(b) ~= "table" then
    fail({ "budget" }, "give a table: { points = 50000, money = \"2000.00\", contacts = 1000, per_customer = {...} }")
  else
    local function cap(into, key, value, path)
      if value == nil then
        return
      end
      if key == "money" then
        local cents = math.type(value) == "integer" and value * 100 or cx.money.parse(tostring(value))
        if not cents or cents < 0 then
          fail(path, "money is an amount such as \"2000.00\" (or whole units: 2000)")
        else
          into.money_cents = cents
        end
      elseif math.type(value) ~= "integer" or value < 0 then
        fail(path, "%s must be a whole number, 0 or more", key)
      else
        into[key] = value
      end
    end
    for k, v in pairs(b) do
      if not BUDGET[k] then
        fail({ "budget", tostring(k) }, "unknown cap (points, money, contacts, per_customer)")
      elseif k ~= "per_customer" then
        cap(c.caps, k, v, { "budget", k })
      end
    end
    if b.per_customer ~= nil then
      if type(b.per_customer) ~= "table" then
        fail({ "budget", "per_customer" }, "give a table: { points = 500, contacts = 1 }")
      else
        for k, v in pairs(b.per_customer) do
          if not PER_CUSTOMER[k] then
            fail({ "budget", "per_customer", tostring(k) }, "unknown cap (points, money, contacts)")
          else
            cap(c.caps.per_customer, k, v, { "budget", "per_customer", k })
          end
        end
      end
    end
  end

  -- frequency (nil: the campaigns plugin's setting)
  local f = c.frequency
  if f ~= nil then
    if type(f) ~= "table" or math.type(f.contacts) ~= "integer" or f.contacts < 0
        or math.type(f.days) ~= "integer" or f.days < 1 then
      fail({ "frequency" }, "give { contacts = N, days = D }: at most N contacts in D days, across campaigns")
    end
  end

  -- holdout
  local h = c.holdout or 0
  if type(h) ~= "number" or h < 0 or h > 0.5 then
    fail({ "holdout" }, "the share of the audience held out, from 0 to 0.5 (0.1 is a tenth)")
  end
  c.holdout = h

  -- response
  local r = c.response or {}
  if type(r) ~= "table" or (r.event ~= nil and type(r.event) ~= "string")
      or (r.days ~= nil and (math.type(r.days) ~= "integer" or r.days < 1)) then
    fail({ "response" }, "give { event = \"purchase\", days = 30 }: what counts as a response, and for how long")
  else
    c.response = { event = r.event or "purchase", days = r.days or 30 }
  end

  table.sort(errors, function(a, b) return (a.line or 0) < (b.line or 0) end)
  return errors
end

-- Loads and checks: the campaign, or nil and the list of error texts
-- ("FILE:LINE: field: message").
function M.compile(source, file)
  local c, err = M.load(source, "@" .. file)
  if not c then
    return nil, { err }
  end
  local errors = M.check(c, source)
  if #errors > 0 then
    local texts = {}
    for i, e in ipairs(errors) do
      texts[i] = e.line and ("%s:%d: %s: %s"):format(file, e.line, e.field, e.message)
        or ("%s: %s: %s"):format(file, e.field, e.message)
    end
    return nil, texts
  end
  c.source, c.file = source, file
  return c
end

-- --- the holdout ------------------------------------------------------------------------

-- FNV-1a, 32 bits, of campaign name and customer, finalised: the same customer is held
-- out of the same campaign on every run and on every machine.
function M.bucket(campaign, customer)
  local h = 2166136261
  local text = campaign .. "\0" .. customer
  for i = 1, #text do
    h = ((h ~ text:byte(i)) * 16777619) & 0xffffffff
  end
  -- MurmurHash3's finaliser: ids that differ in their last character
  -- otherwise differ only in the low bits.
  h = h ~ (h >> 16)
  h = (h * 0x85ebca6b) & 0xffffffff
  h = h ~ (h >> 13)
  h = (h * 0xc2b2ae35) & 0xffffffff
  h = h ~ (h >> 16)
  return h / 4294967296.0
end

function M.arm(c, customer)
  return M.bucket(c.name, customer) < c.holdout and "holdout" or "treated"
end

-- --- the customer as actions and decisions see it -----------------------------------

-- c.id, c.event (the event that triggered, if any), c.tier, c.stage,
-- c.points (balance), c.facts(plugin), c.has_tag(tag), c.events(type [, since]),
-- c.answered(type) (in a journey: an event of that type since the wait
-- before this step began), c.entered_at, c.since (when that wait began).
function M.customer_view(who, r, extra)
  local view = { id = who, now = r.now }
  for k, v in pairs(extra or {}) do
    view[k] = v
  end
  function view.facts(plugin)
    return r.facts(who, plugin)
  end
  function view.has_tag(tag)
    return #cx.query([[SELECT 1 FROM customer_tags t JOIN customers c ON c.id = t.customer_id
      WHERE c.external_id = ?1 AND t.tag = ?2]], who, tag) > 0
  end
  function view.events(kind, since)
    return cx.query([[SELECT COUNT(*) AS n FROM events e JOIN customers c ON c.id = e.customer_id
      WHERE c.external_id = ?1 AND e.type = ?2 AND e.at > ?3 AND e.at <= ?4]], who, kind, since or -1, r.now)[1].n
  end
  -- In a journey: an event of that type since the wait before this step
  -- began (the previous step ran then), or since the customer entered.
  function view.answered(kind)
    return view.events(kind, view.since or view.entered_at or -1) > 0
  end
  return setmetatable(view, { __index = function(_, k)
    if k == "tier" then
      return r.facts(who, "loyalty").tier or first_tier()
    elseif k == "stage" then
      return r.facts(who, "lifecycle").stage or "prospect"
    elseif k == "points" then
      return cx.query([[SELECT COALESCE(SUM(l.points), 0) AS p FROM ledger l JOIN customers c
        ON c.id = l.customer_id WHERE c.external_id = ?1]], who)[1].p
    end
  end })
end

-- --- the engine ------------------------------------------------------------------------

-- What an action would cost, and its detail, for customer view `v`; nil
-- when its `when` says no.
local function plan(a, v)
  if a.when and not a.when(v) then
    return nil
  end
  if a.kind == "points" then
    local n = a.points
    if type(n) == "function" then
      n = n(v)
      if n == nil or n == 0 then
        return nil
      end
      if math.type(n) ~= "integer" or n < 0 then
        error(("points(...): the function gave %s, not a whole number of points"):format(tostring(n)), 0)
      end
    end
    return { action = a, points = n, money_cents = 0, contact = false }
  elseif a.kind == "send" then
    local vars = a.vars
    if type(vars) == "function" then
      vars = vars(v)
    end
    return { action = a, points = 0, money_cents = a.value_cents, contact = true, vars = vars }
  else
    return { action = a, points = 0, money_cents = 0, contact = false }
  end
end

-- The totals a list of planned actions costs.
local function cost(planned)
  local t = { points = 0, money_cents = 0, contacts = 0 }
  for _, p in ipairs(planned) do
    t.points = t.points + p.points
    t.money_cents = t.money_cents + p.money_cents
    t.contacts = t.contacts + (p.contact and 1 or 0)
  end
  return t
end

local KEYS = { "points", "money_cents", "contacts" }
local UNIT = { points = "points", money_cents = "money", contacts = "contacts" }

local function amount(key, n)
  if key == "money_cents" then
    return cx.money.format(n)
  end
  return cx.report.count(n)
end

-- A run over customers: keeps the totals against the budget. `state` holds
-- what was spent before (spent, by_customer, recent contacts by customer).
local Run = {}
Run.__index = Run

-- What the campaign has spent, in total and by customer, and each customer's
-- contacts (by any campaign) in the frequency window ending at now. With
-- `who`, only that customer's rows are read (a trigger acting for one).
-- The totals are the campaign's running sums; the rest is read when a cap
-- needs it.
function M.spending(c, now, frequency, who)
  local spent = { points = 0, money_cents = 0, contacts = 0 }
  local caps = c.caps
  local row = cx.query([[SELECT points_spent AS points, money_spent_cents AS money_cents, contacts_made AS contacts
    FROM campaigns WHERE name = ?1]], c.name)[1]
  for _, k in ipairs(KEYS) do
    spent[k] = row and row[k] or 0
  end
  local only = who and " AND cu.external_id = ?3" or " AND ?3 = ?3"
  local by_customer = {}
  if next(caps.per_customer) then
    for _, row in ipairs(cx.query([[SELECT cu.external_id AS customer, SUM(a.points) AS points,
        SUM(a.money_cents) AS money_cents, SUM(a.contact) AS contacts FROM campaign_actions a
        JOIN campaigns k ON k.id = a.campaign_id JOIN customers cu ON cu.id = a.customer_id
        WHERE k.name = ?1 AND ?2 = ?2]] .. only .. " GROUP BY a.customer_id", c.name, 0, who or "")) do
      by_customer[row.customer] = { points = row.points, money_cents = row.money_cents, contacts = row.contacts }
    end
  end
  local recent = {}
  if frequency then
    for _, row in ipairs(cx.query([[SELECT cu.external_id AS customer, COUNT(*) AS n FROM campaign_actions a
        JOIN customers cu ON cu.id = a.customer_id WHERE a.contact = 1 AND a.at > ?1 AND a.at <= ?2]] .. only
        .. " GROUP BY a.customer_id", now - frequency.days * DAY, now, who or "")) do
      recent[row.customer] = row.n
    end
  end
  return { spent = spent, by_customer = by_customer, recent = recent }
end

-- Starts a run of campaign c: effects is the object that acts (or only
-- counts), r the reader, frequency the cap across campaigns (or nil), who
-- the one customer it is for (nil: any).
function M.start(c, effects, r, frequency, who)
  local state = M.spending(c, r.now, frequency, who)
  return setmetatable({
    c = c, effects = effects, r = r, frequency = frequency, state = state,
    stats = { audience = 0, holdout = 0, treated = 0, acted = 0, skipped_customer_cap = 0,
              skipped_frequency = 0, skipped_nothing = 0, points = 0, money_cents = 0, contacts = 0 },
    sample = {},
  }, Run)
end

-- Whether the run has stopped (a budget ran out).
function Run:stopped()
  return self.stats.stopped ~= nil
end

-- Acts for one customer with these actions (extra: fields for the
-- customer's view, such as the event). Returns "acted", "holdout", or why
-- not ("customer_cap", "frequency", "nothing", "budget").
function Run:customer(who, actions, extra, arm)
  local c, stats = self.c, self.stats
  if self:stopped() then
    return "budget"
  end
  -- A customer joins an arm when first reached: the held out at once, the
  -- treated once the budget allows acting (intention to treat: a customer
  -- skipped by a cap is still treated).
  local join = not arm
  if join then
    stats.audience = stats.audience + 1
    if M.arm(c, who) == "holdout" and self.effects.member(who, "holdout") == "holdout" then
      stats.holdout = stats.holdout + 1
      return "holdout"
    end
  end
  local function treat()
    if join then
      join = false
      if self.effects.member(who, "treated") == "holdout" then
        stats.holdout = stats.holdout + 1
        return false
      end
      stats.treated = stats.treated + 1
    end
    return true
  end
  local v = M.customer_view(who, self.r, extra)
  local planned = {}
  for _, a in ipairs(actions) do
    planned[#planned + 1] = plan(a, v)
  end
  if #planned == 0 then
    if not treat() then
      return "holdout"
    end
    stats.skipped_nothing = stats.skipped_nothing + 1
    return "nothing"
  end
  local need = cost(planned)
  local mine = self.state.by_customer[who] or { points = 0, money_cents = 0, contacts = 0 }
  for _, k in ipairs(KEYS) do
    local cap = c.caps.per_customer[k]
    if cap and mine[k] + need[k] > cap then
      if not treat() then
        return "holdout"
      end
      stats.skipped_customer_cap = stats.skipped_customer_cap + 1
      return "customer_cap"
    end
  end
  local f = self.frequency
  if f and need.contacts > 0 and (self.state.recent[who] or 0) + need.contacts > f.contacts then
    if not treat() then
      return "holdout"
    end
    stats.skipped_frequency = stats.skipped_frequency + 1
    return "frequency"
  end
  local spent = self.state.spent
  for _, k in ipairs(KEYS) do
    local cap = c.caps[k]
    if cap and spent[k] + need[k] > cap then
      stats.stopped = ("the %s budget of %s would be exceeded: %s spent, the next customer (%s) needs %s")
        :format(UNIT[k], amount(k, cap), amount(k, spent[k]), who, amount(k, need[k]))
      stats.budget = UNIT[k]
      return "budget"
    end
  end
  if not treat() then
    return "holdout"
  end
  for _, p in ipairs(planned) do
    self.effects.act(who, p, v)
    if #self.sample < 10 then
      self.sample[#self.sample + 1] = ("%s: %s"):format(who, p.action.text)
    end
  end
  for _, k in ipairs(KEYS) do
    spent[k] = spent[k] + need[k]
    mine[k] = mine[k] + need[k]
    stats[k] = stats[k] + need[k]
  end
  self.state.by_customer[who] = mine
  self.state.recent[who] = (self.state.recent[who] or 0) + need.contacts
  stats.acted = stats.acted + 1
  return "acted"
end

-- --- journeys -------------------------------------------------------------------------

-- Runs customer `who`'s journey from step number i (at now; `since`, when
-- the wait before it began, for c.answered; `event`, the event that made
-- them enter, for the steps taken at once): each step acts,
-- then waits, decides where to go, or ends. Returns the step it waits at
-- and when that is due, or nil when the journey ended.
function Run:journey(who, i, entered_at, since, event)
  local steps = self.c.journey
  local extra = { entered_at = entered_at, since = since or self.r.now, event = event }
  local guard = 0
  while i do
    guard = guard + 1
    if guard > #steps * 4 + 4 then
      error(("journey: customer %s went round the steps without waiting (a decide loop?)"):format(who), 0)
    end
    local s = steps[i]
    extra.step = s.step
    if #s.actions > 0 then
      self:customer(who, s.actions, extra, "treated")
      if self:stopped() then
        return s.step, self.r.now   -- try this step again on the next pass
      end
    end
    local next_i
    if s.decide then
      local name = s.decide(M.customer_view(who, self.r, extra))
      if name ~= nil then
        next_i = self.c.step_index[name]
        if not next_i then
          error(("journey step %q: decide gave %q, which is not a step"):format(s.step, tostring(name)), 0)
        end
      end
    elseif s.next then
      next_i = self.c.step_index[s.next]
    elseif not s.stop then
      next_i = steps[i + 1] and i + 1 or nil
    end
    if next_i and s.wait_seconds then
      return steps[next_i].step, self.r.now + s.wait_seconds
    end
    i = next_i
  end
  return nil
end

-- --- what a campaign did -------------------------------------------------------------

-- Treated against held out for campaign `id` (its row in campaigns), with
-- `response` ({ event, days }): each arm's customers, those who responded (an
-- event of that type within `days` of entering), their revenue in that time
-- (sum and sum of squares, for the interval), the points, money and
-- contacts spent; and the uplift in response rate and in revenue per
-- customer with their 95% intervals (cx.uplift). A group of one gives no
-- interval: one customer says nothing of a spread.
function M.outcome(id, response)
  local function arm()
    return { n = 0, responded = 0, revenue = 0, revenue_sq = 0.0, points = 0, money_cents = 0, contacts = 0 }
  end
  local groups = { treated = arm(), holdout = arm() }
  for _, row in ipairs(cx.query([[
      WITH per AS (
        SELECT m.arm, m.customer_id,
          EXISTS (SELECT 1 FROM events e WHERE e.customer_id = m.customer_id AND e.type = ?2
                  AND e.at > m.entered_at AND e.at <= m.entered_at + ?3) AS responded,
          (SELECT COALESCE(SUM(e.amount_cents), 0) FROM events e WHERE e.customer_id = m.customer_id
                  AND e.type IN (SELECT value FROM json_each(?4))
                  AND e.at > m.entered_at AND e.at <= m.entered_at + ?3) AS revenue
        FROM campaign_members m WHERE m.campaign_id = ?1)
      SELECT arm, COUNT(*) AS n, SUM(responded) AS responded, SUM(revenue) AS revenue,
        SUM(revenue * 1.0 * revenue) AS revenue_sq FROM per GROUP BY arm]],
      id, response.event, response.days * DAY, purchase_types())) do
    local g = groups[row.arm]
    g.n, g.responded, g.revenue, g.revenue_sq = row.n, row.responded, row.revenue, row.revenue_sq
  end
  for _, row in ipairs(cx.query([[SELECT COALESCE(m.arm, 'treated') AS arm, SUM(a.points) AS points,
      SUM(a.money_cents) AS money_cents, SUM(a.contact) AS contacts FROM campaign_actions a
      LEFT JOIN campaign_members m ON m.campaign_id = a.campaign_id AND m.customer_id = a.customer_id
      WHERE a.campaign_id = ?1 GROUP BY 1]], id)) do
    local g = groups[row.arm]
    g.points, g.money_cents, g.contacts = row.points, row.money_cents, row.contacts
  end
  local t, h = groups.treated, groups.holdout
  local rate = cx.uplift.proportions(t.responded, t.n, h.responded, h.n)
  if rate.diff and (t.n < 2 or h.n < 2) then
    rate.diff, rate.se, rate.low, rate.high, rate.relative = nil, nil, nil, nil, nil
    rate.reason = t.n < 2 and "too few treated customers" or "too few holdout customers"
  end
  local revenue = cx.uplift.means(t.revenue, t.revenue_sq, t.n, h.revenue, h.revenue_sq, h.n)
  return { treated = t, holdout = h, rate = rate, revenue = revenue }
end

-- The run's outcome as a status ("done" or "stopped") and one line for people.
function Run:summary()
  local s = self.stats
  local line = ("audience %s, held out %s, treated %s, acted for %s: %s points, %s money, %s contacts")
    :format(cx.report.count(s.audience), cx.report.count(s.holdout), cx.report.count(s.treated),
      cx.report.count(s.acted), cx.report.count(s.points), cx.money.format(s.money_cents), cx.report.count(s.contacts))
  return s.stopped and "stopped" or "done", line
end

return M
