-- value: `cxhost report value --client NAME [--calibration-end DATE] [--horizon 52w]
-- [--format table|json]`: the customer-value models fitted on the client's
-- purchases (cx.value, docs/value.md), each customer's expected purchases
-- and lifetime value, and, when the data goes on after the calibration
-- period, the holdout check: predicted against actual repeat purchases.

local count, money = cx.report.count, cx.report.money

local fit = cx.value.fit({ calibration_end = arg.calibration_end, horizon = arg.horizon })
local totals, bg, gg = fit.totals, fit.bgnbd, fit.gamma_gamma
local unit = fit.unit

-- Every customer's value, and the spread of CLV.
local values, clv_total, expected_total = {}, 0, 0.0
for _, row in ipairs(fit.rows) do
  local v = cx.value.customer(row.customer, fit)
  values[#values + 1] = v
  clv_total = clv_total + (v.clv_cents or 0)
  expected_total = expected_total + v.expected_purchases
end
table.sort(values, function(p, q)
  if (p.clv_cents or 0) ~= (q.clv_cents or 0) then
    return (p.clv_cents or 0) > (q.clv_cents or 0)
  end
  return p.customer < q.customer
end)
local function quantile(share)
  if #values == 0 then
    return 0
  end
  return values[math.max(1, math.ceil((1 - share) * #values))].clv_cents or 0
end

local check = totals.holdout_length > 0 and cx.value.holdout(bg, fit.rows, totals.holdout_length) or nil

if arg.format == "json" then
  local top = {}
  for i = 1, math.min(10, #values) do
    top[i] = values[i]
  end
  print(cx.json.encode({
    customers = totals.customers, repeaters = totals.repeaters, unit = unit,
    calibration_end = cx.time.date(totals.calibration_end), horizon = fit.horizon,
    bgnbd = bg, gamma_gamma = gg, expected_purchases = expected_total, clv_cents = clv_total,
    clv_median_cents = quantile(0.5), top = top, holdout = check,
  }))
  return
end

print(("Customer value of %s: %s customers, %s with repeat purchases, calibration to %s (time in %s)"):format(
  cx.client, count(totals.customers), count(totals.repeaters), cx.time.date(totals.calibration_end), unit))
print("")
print("BG/NBD (Fader, Hardie & Lee 2005): purchases while alive, and dropping out")
print(("  r = %.4f  alpha = %.4f  a = %.4f  b = %.4f   log-likelihood %.1f (%d evaluations)"):format(
  bg.r, bg.alpha, bg.a, bg.b, bg.ll, bg.evals))
if gg then
  print("Gamma-Gamma (Fader & Hardie 2013): spend per repeat purchase, in dollars")
  print(("  p = %.4f  q = %.4f  gamma = %.4f   log-likelihood %.1f (%s customers)"):format(
    gg.p, gg.q, gg.gamma, gg.ll, count(gg.n)))
else
  print("Gamma-Gamma: no customer has a repeat purchase yet; no spend model, no CLV")
end
print("")
print(("Next %g %s: %.1f purchases expected from these customers"):format(fit.horizon, unit, expected_total))
if gg then
  print(("Lifetime value (%d months, %.1f%% discount a month): %s in all; median %s, top 10%% from %s"):format(
    fit.months, fit.monthly_discount * 100, money(clv_total), money(quantile(0.5)), money(quantile(0.9))))
  print("")
  print(("  %-12s %6s %8s %8s %9s %12s"):format("customer", "x", "t_x", "T", "P(alive)", "CLV"))
  for i = 1, math.min(10, #values) do
    local v = values[i]
    print(("  %-12s %6d %8.2f %8.2f %9.3f %12s"):format(v.customer, v.x, v.t_x, v.T, v.p_alive,
      money(v.clv_cents or 0)))
  end
end
print("")
if not check then
  print("Holdout check: none (the data ends with the calibration period; give --calibration-end earlier)")
  return
end
print(("Holdout check: repeat purchases in the %g %s after %s, predicted against actual"):format(
  check.t, unit, cx.time.date(totals.calibration_end)))
print(("  %-22s %10s %10s %10s"):format("purchases in calibration", "customers", "actual", "predicted"))
for _, b in ipairs(check.buckets) do
  print(("  %-22s %10s %10s %10.1f"):format(b.x, count(b.customers), count(b.actual), b.predicted))
end
print(("  %-22s %10s %10s %10.1f"):format("all", count(totals.customers), count(check.actual), check.predicted))
