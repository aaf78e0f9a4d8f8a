-- test_uplift.lua: the campaign statistics of cx.uplift (plugins/lib/uplift.lua),
-- checked against values computed by hand in the comments beside each case.
-- Pure arithmetic: nothing is ingested and the store is not read.
--   bash tests/lua/run.sh build/cxhost tests/lua/test_uplift.lua

local eq, near = cx.test.eq, cx.test.near
local u = cx.uplift
local Z = 1.959964
local suite = cx.test.suite("uplift")

-- Raises unless fn raises an error whose message contains text.
local function raises(fn, text, what)
  local ok, err = pcall(fn)
  eq(ok, false, what .. " raises")
  if not tostring(err):find(text, 1, true) then
    error(("%s: error %q should mention %q"):format(what, tostring(err), text), 2)
  end
end

-- Treated: 30 of 200 responded; holdout: 2 of 50.
--   rate_t = 30/200 = 0.15
--   rate_h =  2/50  = 0.04
--   diff   = 0.15 - 0.04 = 0.11            relative = 0.11 / 0.04 = 2.75
--   se^2   = 0.15*0.85/200 + 0.04*0.96/50
--          = 0.1275/200    + 0.0384/50
--          = 0.0006375     + 0.000768      = 0.0014055
--   se     = sqrt(0.0014055) = 0.0374899987  (0.03749^2 = 0.0014055001)
--   z*se   = 1.959964 * 0.0374899987 = 0.0734790477
--   CI     = 0.11 -+ 0.0734790477 = [0.0365209523, 0.1834790477]
suite:case("proportions: 30/200 treated against 2/50 holdout, by hand", function()
  local r = u.proportions(30, 200, 2, 50)
  near(r.rate_t, 0.15, "rate_t", 1e-12)
  near(r.rate_h, 0.04, "rate_h", 1e-12)
  near(r.diff, 0.11, "diff", 1e-12)
  near(r.relative, 2.75, "relative", 1e-12)
  near(r.se, 0.0374899987, "se", 1e-9)
  near(r.low, 0.0365209523, "low", 1e-9)
  near(r.high, 0.1834790477, "high", 1e-9)
  eq(r.z, Z, "default z")
  eq(r.reason, nil, "no reason when everything is there")
end)

-- The same counts with z = 1 (a 68% interval): CI = 0.11 -+ 0.0374899987.
suite:case("proportions: z given replaces the default", function()
  local r = u.proportions(30, 200, 2, 50, 1)
  eq(r.z, 1, "z")
  near(r.low, 0.11 - 0.0374899987, "low", 1e-9)
  near(r.high, 0.11 + 0.0374899987, "high", 1e-9)
end)

-- The holdout did worse: treated 10/100 = 0.10, holdout 15/100 = 0.15.
--   diff = -0.05, relative = -0.05/0.15 = -1/3
--   se^2 = 0.1*0.9/100 + 0.15*0.85/100 = 0.0009 + 0.001275 = 0.002175
--   se   = sqrt(0.002175) = 0.0466368953
suite:case("proportions: a negative uplift", function()
  local r = u.proportions(10, 100, 15, 100)
  near(r.diff, -0.05, "diff", 1e-12)
  near(r.relative, -1 / 3, "relative", 1e-12)
  near(r.se, 0.0466368953, "se", 1e-9)
  near(r.low, -0.05 - Z * 0.0466368953, "low", 1e-9)
  near(r.high, -0.05 + Z * 0.0466368953, "high", 1e-9)
end)

-- Nobody in the holdout responded: treated 5/100 = 0.05, holdout 0/40 = 0.
--   diff = 0.05; relative undefined (nil)
--   se^2 = 0.05*0.95/100 + 0*1/40 = 0.000475; se = 0.0217944947
--   CI   = 0.05 -+ 1.959964*0.0217944947 = 0.05 -+ 0.0427164250
--        = [0.0072835750, 0.0927164250]
suite:case("proportions: holdout rate 0 leaves relative nil", function()
  local r = u.proportions(5, 100, 0, 40)
  eq(r.rate_h, 0.0, "rate_h")
  near(r.diff, 0.05, "diff", 1e-12)
  eq(r.relative, nil, "relative")
  near(r.se, 0.0217944947, "se", 1e-9)
  near(r.low, 0.0072835750, "low", 1e-9)
  near(r.high, 0.0927164250, "high", 1e-9)
end)

-- Nobody responded in either group: every figure is 0, the interval [0, 0].
suite:case("proportions: both rates 0", function()
  local r = u.proportions(0, 100, 0, 40)
  eq(r.rate_t, 0.0, "rate_t")
  eq(r.rate_h, 0.0, "rate_h")
  eq(r.diff, 0.0, "diff")
  eq(r.relative, nil, "relative")
  eq(r.se, 0.0, "se")
  eq(r.low, 0.0, "low")
  eq(r.high, 0.0, "high")
end)

-- Everyone responded in both groups: diff 0 and se 0 (the Wald interval's
-- known blind spot at rates of 1).
suite:case("proportions: both rates 1", function()
  local r = u.proportions(20, 20, 7, 7)
  eq(r.diff, 0.0, "diff")
  eq(r.relative, 0.0, "relative")
  eq(r.se, 0.0, "se")
end)

suite:case("proportions: no holdout", function()
  local r = u.proportions(30, 200, 0, 0)
  near(r.rate_t, 0.15, "rate_t", 1e-12)
  eq(r.rate_h, nil, "rate_h")
  eq(r.diff, nil, "diff")
  eq(r.relative, nil, "relative")
  eq(r.se, nil, "se")
  eq(r.low, nil, "low")
  eq(r.high, nil, "high")
  eq(r.reason, "no holdout", "reason")
end)

suite:case("proportions: no treated customers", function()
  local r = u.proportions(0, 0, 2, 50)
  eq(r.rate_t, nil, "rate_t")
  near(r.rate_h, 0.04, "rate_h", 1e-12)
  eq(r.diff, nil, "diff")
  eq(r.se, nil, "se")
  eq(r.reason, "no treated customers", "reason")
  eq(u.proportions(0, 0, 0, 0).reason, "no treated customers", "both empty: treated checked first")
end)

-- One customer in a group is still a rate (0 or 1) and a defined se.
--   treated 1/1 = 1, holdout 1/4 = 0.25: diff 0.75
--   se^2 = 1*0/1 + 0.25*0.75/4 = 0.046875; se = 0.2165063509
suite:case("proportions: a group of one", function()
  local r = u.proportions(1, 1, 1, 4)
  near(r.diff, 0.75, "diff", 1e-12)
  near(r.relative, 3, "relative", 1e-12)
  near(r.se, 0.2165063509, "se", 1e-9)
end)

suite:case("proportions: bad counts raise", function()
  raises(function() u.proportions(3, 2, 1, 10) end, "x_t (3) exceeds n_t (2)", "x_t > n_t")
  raises(function() u.proportions(1, 2, 11, 10) end, "x_h (11) exceeds n_h (10)", "x_h > n_h")
  raises(function() u.proportions(-1, 2, 1, 10) end, "x_t must be a whole number", "negative x_t")
  raises(function() u.proportions(1, 2.5, 1, 10) end, "n_t must be a whole number", "fractional n_t")
  raises(function() u.proportions(1, 2, nil, 10) end, "x_h must be a whole number", "missing x_h")
  raises(function() u.proportions(1, 2, 1, 10, 0) end, "z must be a number > 0", "z = 0")
end)

-- Revenue in cents per customer; customers without revenue count as 0.
--   treated {0, 1000, 3000, 0}: n = 4, sum = 4000,
--     sumsq = 0 + 1000000 + 9000000 + 0 = 10000000, mean = 4000/4 = 1000
--     var   = (10000000 - 4000^2/4) / 3 = (10000000 - 4000000) / 3 = 2000000
--             (check: deviations -1000, 0, 2000, -1000; squares sum to
--              1000000 + 0 + 4000000 + 1000000 = 6000000; / 3 = 2000000)
--   holdout {0, 500}: n = 2, sum = 500, sumsq = 250000, mean = 250
--     var   = (250000 - 500^2/2) / 1 = 250000 - 125000 = 125000
--   diff = 1000 - 250 = 750
--   se   = sqrt(2000000/4 + 125000/2) = sqrt(500000 + 62500) = sqrt(562500) = 750
--   z*se = 1.959964 * 750 = 1469.973
--   CI   = 750 -+ 1469.973 = [-719.973, 2219.973]
suite:case("means: revenue {0, 1000, 3000, 0} against {0, 500}, by hand", function()
  local r = u.means(4000, 10000000, 4, 500, 250000, 2)
  near(r.mean_t, 1000, "mean_t", 1e-9)
  near(r.mean_h, 250, "mean_h", 1e-9)
  near(r.var_t, 2000000, "var_t", 1e-6)
  near(r.var_h, 125000, "var_h", 1e-6)
  near(r.diff, 750, "diff", 1e-9)
  near(r.se, 750, "se", 1e-9)
  near(r.low, -719.973, "low", 1e-6)
  near(r.high, 2219.973, "high", 1e-6)
  eq(r.z, Z, "default z")
  eq(r.reason, nil, "reason")
end)

-- The same data fed as floats (as a SQL aggregate may return them) and with
-- z = 2: CI = 750 -+ 1500 = [-750, 2250].
suite:case("means: float sums and a given z", function()
  local r = u.means(4000.0, 1e7, 4, 500.0, 250000.0, 2, 2)
  near(r.se, 750, "se", 1e-9)
  near(r.low, -750, "low", 1e-9)
  near(r.high, 2250, "high", 1e-9)
end)

-- Every treated customer spent the same 0.1: the variance is 0, but
-- 0.1*0.1*3 - (0.1+0.1+0.1)^2/3 comes out at -3.5e-18 in binary floating
-- point; it must be taken as 0, not passed to sqrt.
--   holdout {0, 500} as above: var_h = 125000
--   se = sqrt(0/3 + 125000/2) = sqrt(62500) = 250
suite:case("means: a rounding-negative variance is clamped to 0", function()
  local v = 0.1
  local r = u.means(v + v + v, v * v + v * v + v * v, 3, 500, 250000, 2)
  eq(r.var_t, 0.0, "var_t")
  near(r.se, 250, "se", 1e-9)
  eq(r.se == r.se, true, "se is not NaN")
end)

-- One treated customer with 1200 cents, holdout {0, 500}: the means and
-- their difference exist (1200 - 250 = 950), the treated variance does not.
suite:case("means: n = 1 in the treated group", function()
  local r = u.means(1200, 1440000, 1, 500, 250000, 2)
  near(r.mean_t, 1200, "mean_t", 1e-9)
  near(r.diff, 950, "diff", 1e-9)
  eq(r.var_t, nil, "var_t")
  near(r.var_h, 125000, "var_h", 1e-6)
  eq(r.se, nil, "se")
  eq(r.low, nil, "low")
  eq(r.high, nil, "high")
  eq(r.reason, "too few treated customers", "reason")
end)

suite:case("means: n = 1 in the holdout", function()
  local r = u.means(4000, 10000000, 4, 500, 250000, 1)
  near(r.mean_h, 500, "mean_h", 1e-9)
  near(r.diff, 500, "diff", 1e-9)
  eq(r.var_h, nil, "var_h")
  eq(r.se, nil, "se")
  eq(r.reason, "too few holdout customers", "reason")
end)

suite:case("means: empty groups", function()
  local r = u.means(4000, 10000000, 4, 0, 0, 0)
  near(r.mean_t, 1000, "mean_t", 1e-9)
  eq(r.mean_h, nil, "mean_h")
  eq(r.diff, nil, "diff")
  eq(r.se, nil, "se")
  eq(r.reason, "no holdout", "reason")
  r = u.means(0, 0, 0, 500, 250000, 2)
  eq(r.mean_t, nil, "mean_t")
  near(r.mean_h, 250, "mean_h", 1e-9)
  eq(r.diff, nil, "diff")
  eq(r.reason, "no treated customers", "reason")
end)

suite:case("means: bad input raises", function()
  raises(function() u.means(nil, 0, 2, 0, 0, 2) end, "sum_t must be a number", "missing sum_t")
  raises(function() u.means(0, 0, 2, 0, 0, -1) end, "n_h must be a whole number", "negative n_h")
  raises(function() u.means(0, 0, 2, 0, 0, 2, -1) end, "z must be a number > 0", "negative z")
end)

suite:case("format_rate", function()
  eq(u.format_rate(0.123), "12.3%", "0.123")
  eq(u.format_rate(0.15), "15.0%", "0.15")
  eq(u.format_rate(0), "0.0%", "0")
  eq(u.format_rate(1), "100.0%", "1")
  eq(u.format_rate(0.04), "4.0%", "0.04")
  eq(u.format_rate(nil), "n/a", "nil")
end)

suite:case("format_points", function()
  eq(u.format_points(0.045), "+4.5 pts", "0.045")
  eq(u.format_points(-0.01), "-1.0 pts", "-0.01")
  eq(u.format_points(0.11), "+11.0 pts", "0.11")
  eq(u.format_points(0), "+0.0 pts", "0")
  eq(u.format_points(-0.0001), "+0.0 pts", "a tiny negative rounds to +0.0")
  eq(u.format_points(-0.05), "-5.0 pts", "-0.05")
  eq(u.format_points(nil), "n/a", "nil")
end)

-- The hand-computed case as a report would print it.
suite:case("formatting the 30/200 against 2/50 case", function()
  local r = u.proportions(30, 200, 2, 50)
  eq(u.format_rate(r.rate_t), "15.0%", "treated")
  eq(u.format_rate(r.rate_h), "4.0%", "holdout")
  eq(u.format_points(r.diff), "+11.0 pts", "uplift")
  eq(u.format_points(r.low), "+3.7 pts", "low")
  eq(u.format_points(r.high), "+18.3 pts", "high")
end)

suite:finish()
