-- value: customer-value models on the store's purchases. Plugins and scripts
-- find it as cx.value.
--
-- It owns the per-customer summary a customer-base model reads (frequency,
-- recency, age and mean spend, for a calibration period and a holdout after
-- it), the BG/NBD model of how often customers buy and whether they are
-- still customers, the Gamma-Gamma model of how much they spend, and the
-- customer lifetime value that combines them. The numerics (log-gamma,
-- log-beta, the hypergeometric function 2F1, the Nelder-Mead minimiser) are
-- C, in cx.math; the models read as Lua here.
--
--   local fit = cx.value.fit { calibration_end = "1997-09-30", holdout_end = "1998-06-30" }
--   fit.bgnbd.r, fit.bgnbd.alpha, fit.bgnbd.a, fit.bgnbd.b   -- 0.243 4.414 0.793 2.426 on CDNOW
--   local c = cx.value.customer("00004", fit)                -- p_alive, expected purchases, CLV
--
-- Where the formulas come from:
--
--   summary      Fader, Hardie & Lee (2005), section 2 and the CDNOW data
--                set: x is the number of repeat transactions in the
--                calibration period, t_x the time of the last one, T the
--                time from the first purchase to the end of the period, all
--                measured from the first purchase. Purchases of one customer
--                on one (UTC) day are one transaction, so x counts repeat
--                purchase *days*. Times are whole days divided by the unit
--                (7 for weeks): T = (end day - first day) / 7, the
--                convention of the published CDNOW summary (a customer who
--                first bought on 1997-01-01 has T = 272 / 7 = 38.86 weeks at
--                1997-09-30) and of the `lifetimes` package.
--   BG/NBD       P. S. Fader, B. G. S. Hardie, K. L. Lee, "Counting Your
--                Customers the Easy Way: An Alternative to the Pareto/NBD
--                Model", Marketing Science 24 (2005) 275-284:
--                  likelihood           eq. 6, in logs as A1 .. A4 of their
--                                       note "Implementing the BG/NBD Model
--                                       for Customer Base Analysis in Excel"
--                                       (2005)
--                  E[X(t)]              eq. 7 (a new customer's purchases in
--                                       a period of length t)
--                  E[Y(t) | x, t_x, T]  eq. 10 (a customer's purchases in the
--                                       next t, given the history)
--                  P(alive | x, t_x, T) Fader, Hardie & Lee, "Computing
--                                       P(alive) Using the BG/NBD Model"
--                                       (2008 note); it is the inverse of
--                                       eq. 10's denominator.
--   Gamma-Gamma  P. S. Fader, B. G. S. Hardie, "The Gamma-Gamma Model of
--                Monetary Value" (2013 note). Each transaction's value is
--                Gamma(p, nu) and nu is Gamma(q, gamma) across customers; the
--                mean m_x of x transactions is then Gamma(p x, nu x) and its
--                marginal density (nu integrated out) is
--                  f(m_x | p, q, gamma; x) = Gamma(p x + q) / (Gamma(p x) Gamma(q))
--                      * gamma^q * x^(p x) * m_x^(p x - 1) / (gamma + x m_x)^(p x + q)
--                The likelihood here is the product of that density over the
--                customers with x >= 1 (the convention of `lifetimes`; with it
--                the published p = 6.25, q = 3.74, gamma = 15.44 give a
--                log-likelihood of about -4055.9 on the CDNOW sample). With
--                the density of the total repeat spend x m_x instead, each
--                customer's term is lower by ln x, which does not depend on
--                p, q, gamma: the same estimates, another log-likelihood.
--                The spend is in dollars
--                (whole currency units) in the fit, so gamma reads as the
--                published one; in cents it would be 100 times larger and the
--                log-likelihood lower by n * ln 100.
--                  E[M | p, q, gamma, m_x, x] = p (gamma + x m_x) / (p x + q - 1)
--                (the note's conditional expectation), the expected spend per
--                transaction of a customer with x repeat purchases of mean m_x.
--   CLV          Not from the papers: the discounted expected residual
--                transactions times the expected spend, month by month,
--                  CLV = sum over k = 1 .. months of
--                          (E[Y(k L)] - E[Y((k - 1) L)]) * E[M] / (1 + d)^k
--                with E[Y] eq. 10, L one month in the model's unit
--                (365.25 / 12 days, 4.348 weeks), d the monthly discount
--                rate, and the expected purchases of each month discounted as
--                if they fell at its end. It is revenue (no margin), over a
--                finite horizon, and an approximation of the continuous
--                discounting of Fader, Hardie & Lee, "RFM and CLV: Using
--                Iso-Value Curves for Customer Base Analysis" (2005).
--
-- Money is integer cents at the edges (summary's sums, clv_cents); means and
-- expectations are numbers. Times in are Unix seconds or time texts (UTC);
-- times out are in the summary's unit (weeks by default).
local M = {}

local DAY = 86400
local exp, log = math.exp, math.log

-- The length of one unit in days.
local UNIT_DAYS = { days = 1, weeks = 7 }

-- One month, in days: a Julian year over twelve.
local MONTH_DAYS = 365.25 / 12

-- Raises "cx.value.FN: message". Without a position: the checks sit at
-- different depths below the function called, and the traceback shows the
-- caller's line.
local function fail(fn, message)
  error(("cx.value.%s: %s"):format(fn, message), 0)
end

-- The days since 1970-01-01 (UTC) of a time: Unix seconds or a time text
-- (a date is that day). Floor division, so a time before 1970 has its day.
local function day_of(fn, what, t)
  if type(t) == "string" then
    local parsed, why = cx.time.parse(t)
    if not parsed then
      fail(fn, ("%s: %s"):format(what, why))
    end
    t = parsed
  end
  if type(t) ~= "number" then
    fail(fn, ("%s must be a time (Unix seconds or a time text), got %s"):format(what, tostring(t)))
  end
  return math.floor(t) // DAY
end

local function unit_days(fn, unit)
  local days = UNIT_DAYS[unit or "weeks"]
  if not days then
    fail(fn, ("unit must be \"weeks\" or \"days\", got %s"):format(tostring(unit)))
  end
  return days
end

-- The event types that are purchases, the lifecycle plugin's purchase_types,
-- as a JSON list for SQL's json_each (campaigns and the reports use it too).
function M.purchase_types()
  local config = cx.loyalty.plugin_config("lifecycle")
  return cx.json.encode(config and config.purchase_types or { "purchase" })
end
local purchase_types = M.purchase_types

--------------------------------------------------------------------------------
-- The summary
--------------------------------------------------------------------------------

-- One row per customer and purchase day, in order: the day's purchases of
-- one customer are one transaction with their amounts added. The day is
-- floor(at / 86400), written with % so that it floors before 1970 as well.
local DAYS_SQL = [[
SELECT c.external_id AS customer, (e.at - ((e.at % 86400) + 86400) % 86400) / 86400 AS day,
       SUM(COALESCE(e.amount_cents, 0)) AS cents
  FROM events e JOIN customers c ON c.id = e.customer_id
 WHERE e.type IN (SELECT value FROM json_each(?1))
 GROUP BY e.customer_id, day
 ORDER BY e.customer_id, day]]

-- The per-customer summary for a calibration period ending at
-- opts.calibration_end, and a holdout period after it.
--
--   opts.calibration_end  the period's last day (Unix seconds or a time
--                         text; the whole of its UTC day counts). Default:
--                         the day of the latest purchase.
--   opts.holdout_end      the holdout's last day (the same forms). Default:
--                         the day of the latest purchase (no holdout when it
--                         is the calibration's end).
--   opts.cohort_start     only customers whose first purchase is on or after
--                         this day. Default: every customer.
--   opts.unit             "weeks" (default) or "days"
--
-- Returns rows, totals. Each row is one customer whose first purchase is on
-- or before calibration_end:
--   customer              the customer's id (customers.external_id)
--   first_at              the day of the first purchase (Unix seconds, 00:00 UTC)
--   x                     repeat purchase days in the calibration period
--   t_x                   last purchase day minus first purchase day, in the unit
--   T                     calibration_end's day minus first purchase day, in the unit
--   first_spend_cents     the first day's purchases
--   repeat_spend_cents    the repeat purchase days' purchases (calibration)
--   mean_spend_cents      repeat_spend_cents / x (nil when x = 0): the
--                         Gamma-Gamma model's m_x; the first purchase is left
--                         out, as in Fader & Hardie's note
--   holdout               repeat purchase days after calibration_end, up to
--                         holdout_end
--   holdout_spend_cents   their purchases
-- totals: customers, repeaters (x >= 1), repeat_purchases (sum of x),
-- holdout_purchases, holdout_spend_cents, calibration_end and holdout_end
-- (the start of their days, Unix seconds), holdout_length (in the unit: the
-- t of a holdout forecast), unit.
function M.summary(opts)
  opts = opts or {}
  local per = unit_days("summary", opts.unit)
  local days = cx.query(DAYS_SQL, purchase_types())

  local latest = nil
  for _, d in ipairs(days) do
    if not latest or d.day > latest then latest = d.day end
  end
  local cal_end = opts.calibration_end and day_of("summary", "calibration_end", opts.calibration_end) or latest
  local hold_end = opts.holdout_end and day_of("summary", "holdout_end", opts.holdout_end) or latest or cal_end
  local cohort = opts.cohort_start and day_of("summary", "cohort_start", opts.cohort_start)
  if cal_end and hold_end and hold_end < cal_end then
    if opts.holdout_end then
      fail("summary", "holdout_end is before calibration_end")
    end
    hold_end = cal_end   -- a calibration past the latest purchase: no holdout
  end

  local rows, totals = {}, {
    customers = 0, repeaters = 0, repeat_purchases = 0, holdout_purchases = 0, holdout_spend_cents = 0,
    calibration_end = cal_end and cal_end * DAY, holdout_end = hold_end and hold_end * DAY,
    holdout_length = cal_end and (hold_end - cal_end) / per or 0, unit = opts.unit or "weeks",
  }

  -- The rows of one customer are consecutive (ordered by customer, then day).
  local i, n = 1, #days
  while i <= n do
    local who, first = days[i].customer, days[i].day
    local row = { customer = who, first_at = first * DAY, x = 0, t_x = 0, T = 0,
                  first_spend_cents = days[i].cents, repeat_spend_cents = 0,
                  holdout = 0, holdout_spend_cents = 0 }
    local last = first
    i = i + 1
    while i <= n and days[i].customer == who do
      local d = days[i]
      if d.day <= cal_end then
        row.x = row.x + 1
        row.repeat_spend_cents = row.repeat_spend_cents + d.cents
        last = d.day
      elseif d.day <= hold_end then
        row.holdout = row.holdout + 1
        row.holdout_spend_cents = row.holdout_spend_cents + d.cents
      end
      i = i + 1
    end
    if first <= cal_end and (not cohort or first >= cohort) then
      row.t_x = (last - first) / per
      row.T = (cal_end - first) / per
      if row.x > 0 then
        row.mean_spend_cents = row.repeat_spend_cents / row.x
        totals.repeaters = totals.repeaters + 1
      end
      totals.customers = totals.customers + 1
      totals.repeat_purchases = totals.repeat_purchases + row.x
      totals.holdout_purchases = totals.holdout_purchases + row.holdout
      totals.holdout_spend_cents = totals.holdout_spend_cents + row.holdout_spend_cents
      rows[#rows + 1] = row
    end
  end
  return rows, totals
end

--------------------------------------------------------------------------------
-- BG/NBD
--------------------------------------------------------------------------------

-- The data of the likelihood, grouped so that one evaluation costs little
-- (on the CDNOW master file, 23,570 customers, an evaluation is about 0.15
-- million Lua instructions, and a fit needs about 250): the
-- gamma-function terms depend on x only, ln(alpha + T) on T only and
-- ln(alpha + t_x) on t_x only, so each is worked out once per distinct
-- value; only the repeaters (x >= 1) have the second term of eq. 6, and the
-- customers with x = 0 reduce to a count per T. The repeaters are kept in
-- blocks of one x and one T, each a list of distinct t_x with their counts.
local function bgnbd_data(rows)
  local data = {
    n = 0, xs = {}, count_x = {},             -- customers; the distinct x and the customers per x
    T_values = {}, T_n = {}, T_x = {},        -- distinct T; per T: customers and their sum of x
    tx_values = {},                           -- distinct t_x of the repeaters
    blocks = {},                              -- { x, j (T's index), k = { t_x index }, w = { count } }
  }
  local T_index, tx_index, block_of, cell_of = {}, {}, {}, {}
  for _, row in ipairs(rows) do
    local x, T, t_x = row.x, row.T, row.t_x
    if type(x) ~= "number" or x < 0 or x ~= math.floor(x) then
      fail("fit_bgnbd", ("x must be a whole number >= 0, got %s"):format(tostring(x)))
    end
    if type(T) ~= "number" or type(t_x) ~= "number" or t_x < 0 or t_x > T then
      fail("fit_bgnbd", ("need 0 <= t_x <= T, got t_x = %s, T = %s"):format(tostring(t_x), tostring(T)))
    end
    x = math.tointeger(x)
    data.n = data.n + 1
    if not data.count_x[x] then data.xs[#data.xs + 1] = x end
    data.count_x[x] = (data.count_x[x] or 0) + 1
    local j = T_index[T]
    if not j then
      j = #data.T_values + 1
      data.T_values[j], data.T_n[j], data.T_x[j] = T, 0, 0
      T_index[T] = j
    end
    data.T_n[j], data.T_x[j] = data.T_n[j] + 1, data.T_x[j] + x
    if x > 0 then
      local k = tx_index[t_x]
      if not k then
        k = #data.tx_values + 1
        data.tx_values[k], tx_index[t_x] = t_x, k
      end
      local key = x .. " " .. j
      local block = block_of[key]
      if not block then
        block = { x = x, j = j, k = {}, w = {} }
        data.blocks[#data.blocks + 1], block_of[key] = block, block
      end
      local cell = key .. " " .. k
      local at = cell_of[cell]
      if at then
        block.w[at] = block.w[at] + 1
      else
        at = #block.k + 1
        block.k[at], block.w[at], cell_of[cell] = k, 1, at
      end
    end
  end
  return data
end

-- The BG/NBD log-likelihood of the grouped data (eq. 6, in the form of the
-- Excel note). For one customer,
--   LL = A1 + A2 + ln(exp(A3) + [x > 0] exp(A4))
--   A1 = ln Gamma(r + x) - ln Gamma(r) + r ln alpha
--   A2 = ln Gamma(a + b) + ln Gamma(b + x) - ln Gamma(b) - ln Gamma(a + b + x)
--      = ln B(a, b + x) - ln B(a, b)
--   A3 = -(r + x) ln(alpha + T)
--   A4 = ln a - ln(b + x - 1) - (r + x) ln(alpha + t_x)
-- and ln(exp(A3) + exp(A4)) = A3 + ln(1 + exp(A4 - A3)): the A3 terms are
-- summed by T, and only ln(1 + exp(A4 - A3)) is worked out per repeater,
--   A4 - A3 = ln(a / (b + x - 1)) + (r + x) ln(alpha + T) - (r + x) ln(alpha + t_x).
local function bgnbd_ll(data, r, alpha, a, b)
  local lgamma, lbeta = cx.math.lgamma, cx.math.lbeta
  local ll = 0
  -- A1 + A2, once per distinct x.
  local lbeta_ab, lgamma_r = lbeta(a, b), lgamma(r)
  for _, x in ipairs(data.xs) do
    ll = ll + data.count_x[x] * (lgamma(r + x) - lgamma_r + lbeta(a, b + x) - lbeta_ab)
  end
  ll = ll + data.n * r * log(alpha)
  -- A3, once per distinct T: -(r N_T + X_T) ln(alpha + T).
  local T_values, T_n, T_x, lT = data.T_values, data.T_n, data.T_x, {}
  for j = 1, #T_values do
    lT[j] = log(alpha + T_values[j])
    ll = ll - (r * T_n[j] + T_x[j]) * lT[j]
  end
  local tx_values, lt, lt_min = data.tx_values, {}, math.huge
  for k = 1, #tx_values do
    lt[k] = log(alpha + tx_values[k])
    if lt[k] < lt_min then lt_min = lt[k] end
  end
  -- ln(1 + exp(u)), u = A4 - A3 = base - (r + x) ln(alpha + t_x), per repeater.
  local s = 0
  for _, block in ipairs(data.blocks) do
    local rx = r + block.x
    local base = log(a / (b + block.x - 1)) + rx * lT[block.j]
    local k, w = block.k, block.w
    if base - rx * lt_min < 700 then
      for i = 1, #k do
        s = s + w[i] * log(1 + exp(base - rx * lt[k[i]]))
      end
    else
      -- exp(u) may overflow: ln(1 + e^u) = u + ln(1 + e^-u) for u > 0.
      for i = 1, #k do
        local u = base - rx * lt[k[i]]
        s = s + w[i] * (u > 0 and u + log(1 + exp(-u)) or log(1 + exp(u)))
      end
    end
  end
  return ll + s
end

-- Minimises f over the logarithms of the parameters (which keeps them
-- positive; cx.math.minimize is unbounded) from start: a first search to
-- opts.first_tol (default 1e-6) from a simplex of edge opts.step (0.5),
-- then restarts from the optimum with a fresh, small simplex (edge
-- opts.restart_step, 0.01) to opts.tol (1e-9), until a restart no longer
-- improves f by more than tol (relative). Nelder-Mead can stall on a
-- simplex that has collapsed; a restart is the usual remedy, and here it
-- also polishes the coarse first search, which is cheaper than one long
-- search to the final tolerance. At tol = 1e-9, cx.math.minimize stops with
-- f within 1e-9 and the points within sqrt(1e-9) = 3e-5 (both relative):
-- five significant figures of the parameters.
-- Returns the parameters (exp of the optimum), f there, the evaluations of
-- f, and whether the last search converged.
local function minimize_logs(f, start, opts)
  local x0 = {}
  for i, v in ipairs(start) do x0[i] = log(v) end
  local tol, max_evals = opts.tol or 1e-9, opts.max_evals or 20000
  local x, fx, info = cx.math.minimize(f, x0,
    { step = opts.step or 0.5, tol = opts.first_tol or 1e-6, max_evals = max_evals })
  local evals, converged = info.evals, info.converged
  for _ = 1, opts.restarts or 5 do
    local x2, fx2, again = cx.math.minimize(f, x, { step = opts.restart_step or 0.01, tol = tol, max_evals = max_evals })
    evals, converged = evals + again.evals, again.converged
    local better = fx2 < fx - tol * (1 + math.abs(fx))
    if fx2 < fx then x, fx = x2, fx2 end
    if not better then break end
  end
  local params = {}
  for i, v in ipairs(x) do params[i] = exp(v) end
  return params, fx, evals, converged
end

-- The BG/NBD parameters r, alpha, a, b by maximum likelihood: -LL / n (per
-- customer, so that a tolerance means the same for any number of customers)
-- is minimised over their logarithms. rows are summary rows (x, t_x, T).
-- opts:
--   unit        the unit of t_x and T, "weeks" (default) or "days": kept in
--               the result for clv, which counts months
--   start       { r, alpha, a, b } (or named), default r = a = b = 1 and
--               alpha one week in the unit (alpha is a time: 1 in weeks, 7
--               in days, so that both units take the same path)
--   tol, first_tol, step, restart_step, restarts, max_evals: the search
--               (see minimize_logs above)
-- Returns { r, alpha, a, b, ll (the log-likelihood there), n (customers),
-- evals, converged, unit }.
function M.fit_bgnbd(rows, opts)
  opts = opts or {}
  local unit = opts.unit or "weeks"
  local per = unit_days("fit_bgnbd", unit)
  local data = bgnbd_data(rows)
  if data.n == 0 then
    fail("fit_bgnbd", "no customers to fit")
  end
  local n = data.n
  local function f(p)
    local ll = bgnbd_ll(data, exp(p[1]), exp(p[2]), exp(p[3]), exp(p[4]))
    if ll ~= ll then return math.huge end   -- NaN: a region where the model has no value
    return -ll / n
  end
  local start = opts.start or {}
  local p, fx, evals, converged = minimize_logs(f, { start.r or start[1] or 1, start.alpha or start[2] or 7 / per,
    start.a or start[3] or 1, start.b or start[4] or 1 }, opts)
  return { r = p[1], alpha = p[2], a = p[3], b = p[4], ll = -fx * n, n = n,
           evals = evals, converged = converged, unit = unit }
end

-- The BG/NBD log-likelihood of rows (x, t_x, T) at params (r, alpha, a, b).
function M.bgnbd_ll(params, rows)
  return bgnbd_ll(bgnbd_data(rows), params.r, params.alpha, params.a, params.b)
end

local function check_params(fn, params)
  if type(params) ~= "table" or type(params.r) ~= "number" or type(params.alpha) ~= "number"
      or type(params.a) ~= "number" or type(params.b) ~= "number" then
    fail(fn, "params must be a BG/NBD fit { r, alpha, a, b }")
  end
end

local function check_history(fn, x, t_x, T)
  if type(x) ~= "number" or x < 0 or type(t_x) ~= "number" or type(T) ~= "number" or t_x < 0 or t_x > T then
    fail(fn, ("need x >= 0 and 0 <= t_x <= T, got x = %s, t_x = %s, T = %s")
      :format(tostring(x), tostring(t_x), tostring(T)))
  end
end

local function check_time(fn, t)
  if type(t) ~= "number" then
    fail(fn, ("t must be a number (a length of time in the fit's unit), got %s"):format(tostring(t)))
  end
end

-- E[X(t)]: the expected purchases of a new customer in a period of length t
-- from the first purchase (eq. 7):
--   E[X(t)] = (a + b - 1) / (a - 1)
--             * (1 - (alpha / (alpha + t))^r * 2F1(r, b; a + b - 1; t / (alpha + t)))
-- (The first purchase itself is not counted: X(t) counts repeat purchases.)
function M.expected(params, t)
  check_params("expected", params)
  check_time("expected", t)
  if t <= 0 then return 0 end
  local r, alpha, a, b = params.r, params.alpha, params.a, params.b
  local hyp = cx.math.hyp2f1(r, b, a + b - 1, t / (alpha + t))
  return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ^ r * hyp)
end

-- 1 / P(alive) = 1 + [x > 0] a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x),
-- the power in logs (it overflows for frequent buyers at a small alpha).
local function inverse_alive(params, x, t_x, T)
  if x == 0 then return 1 end
  local r, alpha, a, b = params.r, params.alpha, params.a, params.b
  return 1 + exp(log(a / (b + x - 1)) + (r + x) * (log(alpha + T) - log(alpha + t_x)))
end

-- The numerator of eq. 10: the expected purchases in the next t of a
-- customer who is alive at T with x repeat purchases.
local function if_alive(params, t, x, T)
  if t <= 0 then return 0 end
  local r, alpha, a, b = params.r, params.alpha, params.a, params.b
  local hyp = cx.math.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
  return (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ^ (r + x) * hyp)
end

-- P(alive | x, t_x, T): the probability that a customer with this history is
-- still a customer at T (Fader, Hardie & Lee's 2008 note):
--   P(alive) = 1 / (1 + [x > 0] a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
-- A customer with no repeat purchase is alive for sure: in the BG/NBD a
-- customer can drop out only just after a purchase.
function M.p_alive(params, x, t_x, T)
  check_params("p_alive", params)
  check_history("p_alive", x, t_x, T)
  return 1 / inverse_alive(params, x, t_x, T)
end

-- E[Y(t) | x, t_x, T]: the expected purchases in the next t of a customer
-- with this history (eq. 10):
--   E[Y(t) | x, t_x, T] =
--     (a + b + x - 1) / (a - 1)
--     * (1 - ((alpha + T) / (alpha + T + t))^(r + x) * 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t)))
--     / (1 + [x > 0] a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
-- that is, the expectation if alive times P(alive).
function M.conditional(params, t, x, t_x, T)
  check_params("conditional", params)
  check_time("conditional", t)
  check_history("conditional", x, t_x, T)
  return if_alive(params, t, x, T) / inverse_alive(params, x, t_x, T)
end

-- The holdout check: the customers' repeat purchases in the holdout
-- (row.holdout) against the sum of their conditional expectations (eq. 10)
-- over t, the holdout's length in the fit's unit (the summary's
-- totals.holdout_length), in total and by calibration frequency x (0, 1,
-- ..., 6 and "7+").
-- Returns { actual, predicted, t, buckets = { { x = "0", customers, actual, predicted }, ... } }.
function M.holdout(params, rows, t)
  check_params("holdout", params)
  if type(t) ~= "number" or t < 0 then
    fail("holdout", "t (the holdout's length in the fit's unit) must be a number >= 0")
  end
  local result = { actual = 0, predicted = 0, t = t, buckets = {} }
  for k = 0, 7 do
    result.buckets[k + 1] = { x = k < 7 and tostring(k) or "7+", customers = 0, actual = 0, predicted = 0 }
  end
  for _, row in ipairs(rows) do
    local e = if_alive(params, t, row.x, row.T) / inverse_alive(params, row.x, row.t_x, row.T)
    local bucket = result.buckets[math.min(row.x, 7) + 1]
    bucket.customers = bucket.customers + 1
    bucket.actual = bucket.actual + row.holdout
    bucket.predicted = bucket.predicted + e
    result.actual = result.actual + row.holdout
    result.predicted = result.predicted + e
  end
  return result
end

--------------------------------------------------------------------------------
-- Gamma-Gamma
--------------------------------------------------------------------------------

-- The Gamma-Gamma parameters p, q, gamma by maximum likelihood, on the rows
-- with x >= 1 and a positive mean spend (a mean of 0 is outside the gamma
-- distribution's support), with the density of the mean spend m_x in
-- dollars (see the header). For one customer,
--   LL = ln Gamma(p x + q) - ln Gamma(p x) - ln Gamma(q) + q ln gamma
--        + (p x - 1) ln m_x + p x ln x - (p x + q) ln(gamma + x m_x)
-- The gamma-function terms go by x, the ln m_x terms are sums fixed before
-- the fit, and ln(gamma + x m_x) goes by the customer's total repeat spend
-- x m_x: one logarithm per distinct total in each evaluation.
-- opts: start ({ p, q, gamma }, default 1, 1, 1) and the search's settings,
-- as for fit_bgnbd.
-- Returns { p, q, gamma, ll, n (customers), evals, converged }; gamma is in
-- whole currency units (dollars), like the spend it was fitted to.
function M.fit_gamma_gamma(rows, opts)
  opts = opts or {}
  local n, count_x, xs = 0, {}, {}
  local sum_log_m, sum_x_log_m = 0, 0
  local totals, total_index, total_n, total_x = {}, {}, {}, {}
  for _, row in ipairs(rows) do
    local x, m = row.x, row.mean_spend_cents
    if x and x >= 1 and m and m > 0 then
      x = math.tointeger(x) or x
      local dollars = m / 100
      n = n + 1
      if not count_x[x] then xs[#xs + 1] = x end
      count_x[x] = (count_x[x] or 0) + 1
      local l = log(dollars)
      sum_log_m, sum_x_log_m = sum_log_m + l, sum_x_log_m + x * l
      -- x m_x is the total repeat spend (whole cents in a summary row, so that
      -- equal totals are equal numbers).
      local total = (row.repeat_spend_cents or m * x) / 100
      local j = total_index[total]
      if not j then
        j = #totals + 1
        totals[j], total_index[total], total_n[j], total_x[j] = total, j, 0, 0
      end
      total_n[j], total_x[j] = total_n[j] + 1, total_x[j] + x
    end
  end
  if n == 0 then
    fail("fit_gamma_gamma", "no customers with a repeat purchase and a positive mean spend")
  end
  table.sort(xs)

  local function ll_of(p, q, g)
    local lgamma = cx.math.lgamma
    local ll, lgamma_q, log_g = 0, lgamma(q), log(g)
    for _, x in ipairs(xs) do
      ll = ll + count_x[x] * (lgamma(p * x + q) - lgamma(p * x) - lgamma_q + q * log_g + p * x * log(x))
    end
    ll = ll + p * sum_x_log_m - sum_log_m
    -- -(p x + q) ln(gamma + x m_x), summed by total: -(p X_j + q N_j) ln(gamma + total_j).
    for j = 1, #totals do
      ll = ll - (p * total_x[j] + q * total_n[j]) * log(g + totals[j])
    end
    return ll
  end

  local function f(v)
    local ll = ll_of(exp(v[1]), exp(v[2]), exp(v[3]))
    if ll ~= ll then return math.huge end
    return -ll / n
  end
  local start = opts.start or { 1, 1, 1 }
  local p, fx, evals, converged = minimize_logs(f, { start.p or start[1], start.q or start[2],
    start.gamma or start[3] }, opts)
  return { p = p[1], q = p[2], gamma = p[3], ll = -fx * n, n = n, evals = evals, converged = converged }
end

-- E[M | p, q, gamma, m_x, x] = p (gamma + x m_x) / (p x + q - 1): the
-- expected spend per transaction, in cents, of a customer with x repeat
-- purchases of mean mean_spend_cents (Fader & Hardie's note); with x = 0 it
-- is the population's mean, p gamma / (q - 1) (which needs q > 1).
function M.expected_spend(gg, x, mean_spend_cents)
  if type(gg) ~= "table" or type(gg.p) ~= "number" or type(gg.q) ~= "number" or type(gg.gamma) ~= "number" then
    fail("expected_spend", "gg must be a Gamma-Gamma fit { p, q, gamma }")
  end
  local p, q, gamma = gg.p, gg.q, gg.gamma * 100   -- gamma is in dollars, the spend in cents
  if x == 0 or not mean_spend_cents then
    x, mean_spend_cents = 0, 0
  end
  return p * (gamma + x * mean_spend_cents) / (p * x + q - 1)
end

--------------------------------------------------------------------------------
-- Lifetime value
--------------------------------------------------------------------------------

-- The months (default 12) and monthly discount rate (default 0.01) of opts.
local function clv_settings(fn, opts)
  local months, d = opts.months or 12, opts.monthly_discount or 0.01
  months = math.tointeger(months) or months
  if math.type(months) ~= "integer" or months < 0 then
    fail(fn, ("months must be a whole number >= 0, got %s"):format(tostring(months)))
  end
  if type(d) ~= "number" or d <= -1 then
    fail(fn, ("monthly_discount must be a number > -1, got %s"):format(tostring(d)))
  end
  return months, d
end

-- The sum of the discounted months of clv below, given the expected spend
-- and 1 / P(alive) (the same for every month: divided once, at the end).
local function lifetime_value(bg, row, spend, inverse, months, d, month)
  local value, before = 0, 0
  for k = 1, months do
    local upto = if_alive(bg, k * month, row.x, row.T)
    value = value + (upto - before) / (1 + d) ^ k
    before = upto
  end
  return math.floor(value * spend / inverse + 0.5)
end

-- A customer's lifetime value in cents (an integer, rounded): the expected
-- purchases month by month (differences of eq. 10 at month ends) times the
-- expected spend per purchase (Gamma-Gamma), each month discounted
-- at monthly_discount as if its purchases fell at its end (see the header).
-- row holds x, t_x, T (in bg.unit) and mean_spend_cents (nil for x = 0).
-- opts: months (default 12), monthly_discount (default 0.01).
function M.clv(bg, gg, row, opts)
  check_params("clv", bg)
  check_history("clv", row.x, row.t_x, row.T)
  local months, d = clv_settings("clv", opts or {})
  local month = MONTH_DAYS / unit_days("clv", bg.unit)
  local spend = M.expected_spend(gg, row.x, row.mean_spend_cents)
  return lifetime_value(bg, row, spend, inverse_alive(bg, row.x, row.t_x, row.T), months, d, month)
end

--------------------------------------------------------------------------------
-- The client's fit
--------------------------------------------------------------------------------

-- The horizon of expected purchases, in the unit: a number, or a text such as
-- "52w", "90d", "12m" (months of 365.25 / 12 days).
local HORIZON_DAYS = { d = 1, w = 7, m = MONTH_DAYS }

local function horizon_in(fn, horizon, per)
  if horizon == nil then return 364 / per end   -- 52 weeks
  if type(horizon) == "number" then return horizon end
  local count, suffix = tostring(horizon):match("^%s*(%d+%.?%d*)%s*([dwm])%s*$")
  if not count then
    fail(fn, ("horizon must be a number (in the unit) or a text such as \"52w\", \"90d\", \"12m\", got %s")
      :format(tostring(horizon)))
  end
  return tonumber(count) * HORIZON_DAYS[suffix] / per
end

-- The latest fit is kept, for the same options while the store's events
-- stay the same: a second call returns the same table (read it, do not
-- change it).
local cache = {}

-- The summary and both models for the client, with the settings customer()
-- and clv use. opts: those of summary (calibration_end, holdout_end,
-- cohort_start, unit), horizon (the expected purchases' period: a number in
-- the unit or "52w", "90d", "12m"; default 52 weeks), months and
-- monthly_discount (for clv).
-- On the CDNOW master file (23,570 customers) a fit takes about 0.6 s and 60
-- million Lua instructions of the 100 million a call may run by default
-- (limits.instructions in config.lua); customer() for each of them 20
-- million more. A client many times larger needs that limit raised.
-- Returns { rows, totals, by_customer (id -> row), bgnbd, gamma_gamma
-- (nil when no customer has a repeat purchase), holdout (the holdout check
-- at the fitted parameters, when there is a holdout), horizon, months,
-- monthly_discount, unit }.
function M.fit(opts)
  opts = opts or {}
  local per = unit_days("fit", opts.unit)
  local stamp = cx.query("SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS top FROM events")[1]
  local key = cx.json.encode({ opts = opts, n = stamp.n, top = stamp.top, types = purchase_types() })
  if cache[key] then return cache[key] end

  local months, monthly_discount = clv_settings("fit", opts)
  local rows, totals = M.summary(opts)
  if totals.customers == 0 then
    fail("fit", "no customer has a purchase on or before calibration_end")
  end
  local result = {
    rows = rows, totals = totals, by_customer = {}, unit = totals.unit,
    horizon = horizon_in("fit", opts.horizon, per),
    months = months, monthly_discount = monthly_discount,
  }
  for _, row in ipairs(rows) do
    result.by_customer[row.customer] = row
  end
  result.bgnbd = M.fit_bgnbd(rows, { unit = totals.unit })
  if totals.repeaters > 0 then
    result.gamma_gamma = M.fit_gamma_gamma(rows)
  end
  if totals.holdout_length > 0 then
    result.holdout = M.holdout(result.bgnbd, rows, totals.holdout_length)
  end
  cache = { [key] = result }   -- one fit kept: the latest
  return result
end

-- One customer by id, under a fit (default: cx.value.fit() with its
-- defaults): nil when the customer has no purchase in the calibration
-- period. Returns { customer, x, t_x, T, mean_spend_cents, p_alive,
-- expected_purchases (over the fit's horizon), expected_spend_cents,
-- clv_cents }.
function M.customer(id, fit)
  fit = fit or M.fit()
  local row = fit.by_customer[tostring(id)]
  if not row then return nil end
  local bg, gg = fit.bgnbd, fit.gamma_gamma
  local inverse = inverse_alive(bg, row.x, row.t_x, row.T)
  local c = {
    customer = row.customer, x = row.x, t_x = row.t_x, T = row.T, mean_spend_cents = row.mean_spend_cents,
    p_alive = 1 / inverse,
    expected_purchases = if_alive(bg, fit.horizon, row.x, row.T) / inverse,
  }
  if gg then
    c.expected_spend_cents = M.expected_spend(gg, row.x, row.mean_spend_cents)
    c.clv_cents = lifetime_value(bg, row, c.expected_spend_cents, inverse, fit.months, fit.monthly_discount,
      MONTH_DAYS / UNIT_DAYS[fit.unit])
  end
  return c
end

return M
