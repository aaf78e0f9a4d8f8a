-- uplift: the statistics a campaign report uses to compare the customers a
-- campaign reached (the treated group, "_t") with the ones held out of it
-- (the holdout group, "_h"). Plugins and scripts find it as cx.uplift.
--
-- It owns the arithmetic only: the counts and sums come from the caller
-- (usually one SQL aggregate per group), and nothing here reads the store.
--
-- Where the formulas come from:
--
--   proportions  Difference of two independent proportions with the
--                unpooled (Wald) standard error
--                  se = sqrt(p_t(1-p_t)/n_t + p_h(1-p_h)/n_h)
--                and the normal-approximation interval diff +- z*se
--                (any introductory statistics text; Agresti & Caffo, The
--                American Statistician 54 (2000) 280-288, describe its
--                weakness: with very few responders in a group the interval
--                is too narrow, and a group at a rate of 0 or 1 adds
--                nothing to se).
--   means        Welch's difference of two means with unequal variances
--                (B. L. Welch, Biometrika 34 (1947) 28-35),
--                  se = sqrt(s_t^2/n_t + s_h^2/n_h),
--                each s^2 the sample variance with n - 1, computed from the
--                sum and the sum of squares,
--                  s^2 = (sumsq - sum^2/n) / (n - 1),
--                and again diff +- z*se (the normal quantile, not Student's
--                t: fine for the group sizes of a campaign, a little narrow
--                for a handful of customers).
--   z            1.959964, the 97.5% quantile of the standard normal, gives
--                a two-sided 95% interval; pass another z for another level
--                (1.644854 for 90%, 2.575829 for 99%).
--
-- Rates and differences are fractions (0.15, not 15); format_rate and
-- format_points show them as percentages and percentage points.
local M = {}

-- The 97.5% standard normal quantile: the default z, for 95% intervals.
M.Z95 = 1.959964

local function check_count(n, what)
  if type(n) ~= "number" or n < 0 or n ~= math.floor(n) then
    error(("cx.uplift: %s must be a whole number >= 0, got %s"):format(what, tostring(n)), 3)
  end
end

local function check_number(x, what)
  if type(x) ~= "number" or x ~= x then
    error(("cx.uplift: %s must be a number, got %s"):format(what, tostring(x)), 3)
  end
end

local function check_z(z)
  if z == nil then return M.Z95 end
  if type(z) ~= "number" or not (z > 0) then
    error(("cx.uplift: z must be a number > 0, got %s"):format(tostring(z)), 3)
  end
  return z
end

-- Response rates of the two groups and the difference between them.
--
--   x_t of n_t treated customers responded, x_h of n_h holdout customers.
--
-- Returns a table:
--   rate_t, rate_h  x_t/n_t and x_h/n_h (nil for a group with no customers)
--   diff            rate_t - rate_h: the incremental uplift, in absolute rate
--   relative        diff / rate_h (nil when rate_h is 0)
--   se              the unpooled (Wald) standard error of diff
--   low, high       diff -+ z*se
--   z               the z used
--   reason          when diff is nil: "no treated customers" (n_t = 0,
--                   checked first) or "no holdout" (n_h = 0)
function M.proportions(x_t, n_t, x_h, n_h, z)
  check_count(x_t, "x_t"); check_count(n_t, "n_t")
  check_count(x_h, "x_h"); check_count(n_h, "n_h")
  if x_t > n_t then error(("cx.uplift: x_t (%s) exceeds n_t (%s)"):format(x_t, n_t), 2) end
  if x_h > n_h then error(("cx.uplift: x_h (%s) exceeds n_h (%s)"):format(x_h, n_h), 2) end
  z = check_z(z)

  local r = { z = z }
  if n_t > 0 then r.rate_t = x_t / n_t end
  if n_h > 0 then r.rate_h = x_h / n_h end
  if n_t == 0 then r.reason = "no treated customers"; return r end
  if n_h == 0 then r.reason = "no holdout"; return r end

  local p_t, p_h = r.rate_t, r.rate_h
  r.diff = p_t - p_h
  if p_h > 0 then r.relative = r.diff / p_h end
  r.se = math.sqrt(p_t * (1 - p_t) / n_t + p_h * (1 - p_h) / n_h)
  r.low = r.diff - z * r.se
  r.high = r.diff + z * r.se
  return r
end

-- The sample variance (n - 1) from a sum and a sum of squares; rounding can
-- make sumsq - sum^2/n a hair below 0 when every value is the same, so a
-- negative result is taken as 0. Floats throughout: sum^2 of cents
-- overflows an integer long before it loses meaningful precision.
local function variance(sum, sumsq, n)
  local mean = sum / n
  local v = (sumsq + 0.0 - mean * sum) / (n - 1)
  return v > 0 and v or 0.0
end

-- Mean of a per-customer quantity in the two groups and the difference.
--
--   sum_t, sumsq_t, n_t   the sum, the sum of squares and the number of
--                         treated customers (one value each; a customer
--                         without revenue counts, as 0)
--   sum_h, sumsq_h, n_h   the same for the holdout
--
-- Returns a table:
--   mean_t, mean_h  sum/n (nil for a group with no customers)
--   var_t, var_h    sample variances with n - 1 (nil for n < 2)
--   diff            mean_t - mean_h
--   se              Welch's standard error sqrt(var_t/n_t + var_h/n_h)
--   low, high       diff -+ z*se
--   z               the z used
--   reason          why diff or se is nil: "no treated customers",
--                   "no holdout" (diff, se and CI nil), or
--                   "too few treated customers", "too few holdout
--                   customers" (n = 1: diff set, se and CI nil); the
--                   treated group is checked first
function M.means(sum_t, sumsq_t, n_t, sum_h, sumsq_h, n_h, z)
  check_number(sum_t, "sum_t"); check_number(sumsq_t, "sumsq_t"); check_count(n_t, "n_t")
  check_number(sum_h, "sum_h"); check_number(sumsq_h, "sumsq_h"); check_count(n_h, "n_h")
  z = check_z(z)

  local r = { z = z }
  if n_t > 0 then r.mean_t = sum_t / n_t end
  if n_h > 0 then r.mean_h = sum_h / n_h end
  if n_t >= 2 then r.var_t = variance(sum_t, sumsq_t, n_t) end
  if n_h >= 2 then r.var_h = variance(sum_h, sumsq_h, n_h) end
  if n_t == 0 then r.reason = "no treated customers"; return r end
  if n_h == 0 then r.reason = "no holdout"; return r end

  r.diff = r.mean_t - r.mean_h
  if n_t < 2 then r.reason = "too few treated customers"; return r end
  if n_h < 2 then r.reason = "too few holdout customers"; return r end

  r.se = math.sqrt(r.var_t / n_t + r.var_h / n_h)
  r.low = r.diff - z * r.se
  r.high = r.diff + z * r.se
  return r
end

-- x * 100 with one decimal; "-0.0" (a tiny negative rounded away) as "0.0".
local function percent(x, format)
  local text = format:format(x * 100)
  return (text:gsub("^%-(0%.0)", "+%1"))
end

-- 0.123 as "12.3%"; nil as "n/a".
function M.format_rate(x)
  if x == nil then return "n/a" end
  return (percent(x, "%.1f%%"):gsub("^%+", ""))
end

-- 0.045 as "+4.5 pts", -0.01 as "-1.0 pts", 0 as "+0.0 pts": a difference
-- of rates in percentage points, sign always shown; nil as "n/a".
function M.format_points(x)
  if x == nil then return "n/a" end
  return percent(x, "%+.1f pts")
end

return M
