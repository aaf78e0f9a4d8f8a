#!/usr/bin/env bash
# test_value.sh: cx.value (plugins/lib/value.lua), the customer-value models,
# on the real CDNOW data against the published results:
#
#   BG/NBD on the sample, calibration 1997-01-01 to 1997-09-30, in weeks
#   (Fader, Hardie & Lee 2005): r = 0.243, alpha = 4.414, a = 0.793,
#   b = 2.426, log-likelihood -9582.4; the conditional expectation over the
#   next 39 weeks of x = 2, t_x = 30.43, T = 38.86 is 1.226; the holdout
#   (weeks 40 to 78) has 1,882 repeat purchases, and the customers'
#   conditional expectations at the published parameters sum to about 1,654.
#   Gamma-Gamma on the 946 repeaters (Fader & Hardie 2013 note): p = 6.25,
#   q = 3.74, gamma = 15.44, log-likelihood -4055.9 with the density of the
#   mean spend.
#
# The counts (customers, repeaters, repeat purchase days) are also worked
# out here with awk from the file, independently of cxhost; the times of
# the fits are printed (the bar: under 1 s on the sample, under 5 s on the
# master file).
. "$(dirname "$0")/lib.sh"

SAMPLE=$DATA/CDNOW_sample.txt
MASTER=$DATA/CDNOW_master.txt
if [ ! -f "$SAMPLE" ] || [ ! -f "$MASTER" ]; then
  fail "the CDNOW files are missing from $DATA (set CXHOST_DATA_DIR)"
  finish
fi

# Counts by awk from a CDNOW file (customer in column 1, date YYYYMMDD in
# column DATECOL): "customers repeaters calibration_repeat_days holdout_days
# customers_from_february", purchase days merged per customer and day.
awk_counts() {   # FILE DATECOL
  awk -v dc="$2" '
    { sub(/\r$/, "") }
    length($dc) == 8 && $dc ~ /^[0-9]+$/ {
      c = $1; d = $dc
      if (!((c, d) in seen)) {
        seen[c, d] = 1
        if (!(c in first) || d < first[c]) first[c] = d
        if (d <= 19970930) cal[c]++; else hold++
      }
    }
    END {
      for (c in first) {
        n++
        if (cal[c] > 1) rep++
        x += cal[c] - 1
        if (first[c] >= 19970201) feb++
      }
      printf "%d %d %d %d %d\n", n, rep, x, hold, feb
    }' "$1"
}
read -r s_customers s_repeaters s_x s_hold s_feb < <(awk_counts "$SAMPLE" 3)
assert_eq "awk: sample customers (the published 2,357)" 2357 "$s_customers"
assert_eq "awk: sample repeaters (the published 946)" 946 "$s_repeaters"
assert_eq "awk: holdout repeat purchase days (the published 1,882)" 1882 "$s_hold"

ms() { date +%s%N | cut -c1-13; }

# --- the sample ---------------------------------------------------------------------------
cx client add v >/dev/null
run import --client v --format cdnow "$SAMPLE"
assert_status "import the sample" 0

# A Lua chunk run on client v; its results joined by spaces.
e() {
  cx eval --client "${CLIENT:-v}" "$1" 2>&1 | tr '\n' ' ' | sed 's/ $//'
}
CAL='calibration_end = "1997-09-30", holdout_end = "1998-06-30"'
PUB='local pub = { r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, unit = "weeks" }'

# The summary.
assert_eq "summary: totals" "2357 946 $s_x 1882 39.0 weeks" \
  "$(e "local rows, t = cx.value.summary{ $CAL }
        return ('%d %d %d %d %.1f %s'):format(t.customers, t.repeaters, t.repeat_purchases, t.holdout_purchases,
          t.holdout_length, t.unit)")"
assert_eq "summary: one row per customer" "2357" "$(e "return #cx.value.summary{ $CAL }")"
# 00004 is the paper's example: x = 2, t_x = 30.43, T = 38.86. Its purchases:
# 1997-01-01 (two, merged: 29.33), 1997-01-18 29.73, 1997-08-02 14.96,
# 1997-12-12 26.48: the first is not a repeat, the last is in the holdout.
assert_eq "summary: 00004, the paper's example" "2 30.43 38.86 2234.5 4469 2933 1 2648" \
  "$(e "for _, r in ipairs(cx.value.summary{ $CAL }) do
          if r.customer == '00004' then
            return ('%d %.2f %.2f %s %d %d %d %d'):format(r.x, r.t_x, r.T, r.mean_spend_cents, r.repeat_spend_cents,
              r.first_spend_cents, r.holdout, r.holdout_spend_cents)
          end
        end")"
assert_eq "summary: a calibration end in Unix seconds counts its whole day" "2357 946 $s_x 1882" \
  "$(e "local _, t = cx.value.summary{ calibration_end = cx.time.parse('1997-09-30T01:00:00Z'),
          holdout_end = '1998-06-30T23:59:59Z' }
        return ('%d %d %d %d'):format(t.customers, t.repeaters, t.repeat_purchases, t.holdout_purchases)")"
assert_eq "summary: in days, 00004's t_x and T are whole days" "213 272" \
  "$(e "for _, r in ipairs(cx.value.summary{ $CAL, unit = 'days' }) do
          if r.customer == '00004' then return ('%g %g'):format(r.t_x, r.T) end
        end")"
assert_eq "summary: cohort_start keeps the customers who first bought from then on" "$s_feb" \
  "$(e "local _, t = cx.value.summary{ $CAL, cohort_start = '1997-02-01' } return t.customers")"
assert_eq "summary: a calibration end before every purchase has no customers" "0 0" \
  "$(e "local rows, t = cx.value.summary{ calibration_end = '1996-12-31' } return #rows, t.customers")"
assert_contains "summary: a holdout end before the calibration end is an error" \
  "$(e "cx.value.summary{ calibration_end = '1997-09-30', holdout_end = '1997-09-01' }")" \
  "cx.value.summary: holdout_end is before calibration_end"
assert_contains "summary: an unknown unit is an error" "$(e "cx.value.summary{ unit = 'months' }")" \
  'cx.value.summary: unit must be "weeks" or "days"'

# The BG/NBD at the published parameters.
assert_eq "conditional: 39 weeks, x = 2, t_x = 30.43, T = 38.86 (the published 1.226)" "1.226" \
  "$(e "$PUB return ('%.3f'):format(cx.value.conditional(pub, 39, 2, 30.43, 38.86))")"
# P(alive) by hand: 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x)).
want=$(awk 'BEGIN { printf "%.6f", 1 / (1 + 0.793 / (2.426 + 1) * exp((0.243 + 2) * log((4.414 + 38.86) / (4.414 + 30.43)))) }')
assert_eq "p_alive: x = 2, t_x = 30.43, T = 38.86, by hand" "$want" \
  "$(e "$PUB return ('%.6f'):format(cx.value.p_alive(pub, 2, 30.43, 38.86))")"
assert_eq "p_alive: no repeat purchase is alive" "1.0" "$(e "$PUB return cx.value.p_alive(pub, 0, 0, 20)")"
assert_eq "conditional: the expectation if alive times P(alive)" "true" \
  "$(e "$PUB local v = cx.value
        local alive = v.conditional(pub, 39, 2, 30.43, 38.86) / v.p_alive(pub, 2, 30.43, 38.86)
        return math.abs(alive - v.conditional(pub, 39, 2, 38.86, 38.86) / v.p_alive(pub, 2, 38.86, 38.86)) < 1e-12")"
assert_eq "expected: E[X(t)] of a new customer is eq. 10 at x = t_x = T = 0" "true" \
  "$(e "$PUB return math.abs(cx.value.expected(pub, 39) - cx.value.conditional(pub, 39, 0, 0, 0)) < 1e-12")"
assert_eq "expected: at a small t, the purchase rate r / alpha times t" "true" \
  "$(e "$PUB local t = 1e-4 return math.abs(cx.value.expected(pub, t) / (pub.r / pub.alpha * t) - 1) < 1e-3")"
assert_eq "expected and conditional: nothing in no time" "true true" \
  "$(e "$PUB return cx.value.expected(pub, 0) == 0, cx.value.conditional(pub, 0, 2, 30.43, 38.86) == 0")"
assert_eq "holdout at the published parameters: 1,882 actual, about 1,654 predicted" "1882 1654" \
  "$(e "$PUB local rows, t = cx.value.summary{ $CAL }
        local h = cx.value.holdout(pub, rows, t.holdout_length)
        return ('%d %.0f'):format(h.actual, h.predicted)")"
assert_eq "holdout: the buckets by x add up" "2357 1882 true" \
  "$(e "$PUB local rows, t = cx.value.summary{ $CAL }
        local h = cx.value.holdout(pub, rows, t.holdout_length)
        local n, actual, predicted = 0, 0, 0
        for _, b in ipairs(h.buckets) do n, actual, predicted = n + b.customers, actual + b.actual, predicted + b.predicted end
        return n, actual, math.abs(predicted - h.predicted) < 1e-6")"
assert_eq "bgnbd_ll at the published parameters (the published -9582.4)" "-9582.4" \
  "$(e "$PUB return ('%.1f'):format(cx.value.bgnbd_ll(pub, (cx.value.summary{ $CAL })))")"

# The fits. The BG/NBD's time from the shell, as a user would see it.
start=$(ms)
got=$(e "local rows = cx.value.summary{ $CAL }
         local b = cx.value.fit_bgnbd(rows)
         return ('%.3f %.3f %.3f %.3f %.1f %s'):format(b.r, b.alpha, b.a, b.b, b.ll, tostring(b.converged))")
sample_ms=$(($(ms) - start))
assert_eq "fit_bgnbd: the published r, alpha, a, b and log-likelihood" "0.243 4.414 0.793 2.426 -9582.4 true" "$got"
echo "sample: summary and BG/NBD fit in $sample_ms ms (the bar: under 1000)"
if [ "$sample_ms" -lt 1000 ]; then pass; else fail "the BG/NBD fit on the sample took $sample_ms ms"; fi
assert_eq "fit_bgnbd in days: alpha is 7 times, r, a, b the same" "0.243 4.414 0.793 2.426 days" \
  "$(e "local rows = cx.value.summary{ $CAL, unit = 'days' }
        local b = cx.value.fit_bgnbd(rows, { unit = 'days' })
        return ('%.3f %.3f %.3f %.3f %s'):format(b.r, b.alpha / 7, b.a, b.b, b.unit)")"
assert_eq "fit_gamma_gamma: the published p, q, gamma, log-likelihood, on 946" "6.25 3.74 15.44 -4055.9 946 true" \
  "$(e "local g = cx.value.fit_gamma_gamma((cx.value.summary{ $CAL }))
        return ('%.2f %.2f %.2f %.1f %d %s'):format(g.p, g.q, g.gamma, g.ll, g.n, tostring(g.converged))")"
# E[M] = p (gamma + x m_x) / (p x + q - 1), in cents (gamma in dollars).
want=$(awk 'BEGIN { printf "%.4f", 6.25 * (1544 + 2 * 2234.5) / (6.25 * 2 + 3.74 - 1) }')
assert_eq "expected_spend: 00004 (x = 2, m_x = 2234.5 cents), by hand" "$want" \
  "$(e "return ('%.4f'):format(cx.value.expected_spend({ p = 6.25, q = 3.74, gamma = 15.44 }, 2, 2234.5))")"
want=$(awk 'BEGIN { printf "%.4f", 6.25 * 1544 / (3.74 - 1) }')
assert_eq "expected_spend: no repeat purchase, the population's mean" "$want" \
  "$(e "return ('%.4f'):format(cx.value.expected_spend({ p = 6.25, q = 3.74, gamma = 15.44 }, 0, nil))")"

# CLV. Undiscounted, the months telescope to E[Y(12 months)] times the spend.
GG='local gg = { p = 6.25, q = 3.74, gamma = 15.44 }
    local row = { x = 2, t_x = 30.43, T = 38.86, mean_spend_cents = 2234.5 }'
assert_eq "clv: undiscounted, the expected purchases in 12 months times the spend" "true integer" \
  "$(e "$PUB $GG local v = cx.value
        local want = v.conditional(pub, 12 * 365.25 / 12 / 7, 2, 30.43, 38.86) * v.expected_spend(gg, 2, 2234.5)
        local got = v.clv(pub, gg, row, { months = 12, monthly_discount = 0 })
        return math.abs(got - want) <= 0.5, math.type(got)")"
assert_eq "clv: the first month alone, discounted once" "true" \
  "$(e "$PUB $GG local v = cx.value
        local want = v.conditional(pub, 365.25 / 12 / 7, 2, 30.43, 38.86) * v.expected_spend(gg, 2, 2234.5) / 1.01
        return math.abs(v.clv(pub, gg, row, { months = 1 }) - want) <= 0.5")"
assert_eq "clv: discounting lowers it, no months is nothing" "true 0" \
  "$(e "$PUB $GG local v = cx.value
        return v.clv(pub, gg, row) < v.clv(pub, gg, row, { monthly_discount = 0 }), v.clv(pub, gg, row, { months = 0 })")"
assert_contains "clv: months must be whole" "$(e "$PUB $GG cx.value.clv(pub, gg, row, { months = 1.5 })")" \
  "cx.value.clv: months must be a whole number >= 0, got 1.5"

# fit and customer.
assert_eq "fit: the published parameters, both models, the holdout at the fit" \
  "0.243 4.414 0.793 2.426 6.25 3.74 15.44 1882 1653" \
  "$(e "local f = cx.value.fit{ $CAL }
        local b, g = f.bgnbd, f.gamma_gamma
        return ('%.3f %.3f %.3f %.3f %.2f %.2f %.2f %d %.0f'):format(b.r, b.alpha, b.a, b.b, g.p, g.q, g.gamma,
          f.holdout.actual, f.holdout.predicted)")"
assert_eq "fit: kept for the same options" "true false" \
  "$(e "local f = cx.value.fit{ $CAL }
        return rawequal(f, cx.value.fit{ $CAL }), rawequal(f, cx.value.fit{ $CAL, horizon = '26w' })")"
assert_eq "customer: 00004 under the fit" "2 30.43 38.86 true true true true" \
  "$(e "local v = cx.value
        local f = v.fit{ $CAL }
        local c, row = v.customer('00004', f), f.by_customer['00004']
        return ('%d %.2f %.2f %s %s %s %s'):format(c.x, c.t_x, c.T,
          tostring(c.p_alive == v.p_alive(f.bgnbd, 2, row.t_x, row.T)),
          tostring(math.abs(c.expected_purchases - v.conditional(f.bgnbd, 52, 2, row.t_x, row.T)) < 1e-12),
          tostring(c.clv_cents == v.clv(f.bgnbd, f.gamma_gamma, row)),
          tostring(math.type(c.clv_cents) == 'integer' and c.clv_cents > 0))")"
assert_eq "customer: the horizon in days" "true" \
  "$(e "local v = cx.value
        local f = v.fit{ $CAL, horizon = '90d' }
        local row = f.by_customer['00004']
        return math.abs(v.customer('00004', f).expected_purchases - v.conditional(f.bgnbd, 90 / 7, 2, row.t_x, row.T)) < 1e-12")"
assert_eq "customer: unknown is nil" "nil" "$(e "return tostring(cx.value.customer('nobody', cx.value.fit{ $CAL }))")"
assert_eq "customer: default fit over the whole history (latest purchase 1998-06-30)" "1998-06-30 0.0 true" \
  "$(e "local f = cx.value.fit()
        return cx.time.date(f.totals.calibration_end), f.totals.holdout_length,
          cx.value.customer('00004').x == f.by_customer['00004'].x")"
assert_contains "fit: a bad horizon is an error" "$(e "cx.value.fit{ horizon = 'soon' }")" \
  "cx.value.fit: horizon must be a number"

# --- cxhost report value ------------------------------------------------------------------------
run report value --client v --calibration-end 1997-09-30 --horizon 39w
assert_status "report value" 0
assert_contains "report value: the BG/NBD parameters" "$OUT" "r = 0.2426  alpha = 4.4136  a = 0.7929  b = 2.4258"
assert_contains "report value: the Gamma-Gamma parameters" "$OUT" "p = 6.2497  q = 3.7442  gamma = 15.4432"
assert_match "report value: the holdout check in total" "$OUT" 'all +2,357 +1,882 +1653\.4'
assert_match "report value: by frequency, the customers with 7 or more" "$OUT" '7\+ +64 +407 +394\.1'
run report value --client v --calibration-end 1997-09-30 --format json
assert_contains "report value --format json" "$OUT" '"holdout":{"actual":1882'
run report value --client v --horizon soon
assert_status "report value: a bad horizon" 1

# --- value in campaign audiences: clv{} and p_alive{} -------------------------------------------
# The audience must be exactly the customers cx.value rates so, counted here apart.
cat >"$TMP/keep.lua" <<'LUA'
return {
  name = "keep-valuable", description = "The valuable customers who may be slipping away", module = "relate",
  audience = clv{ at_least = "100.00" } & p_alive{ at_most = 0.6 },
  actions = { send("email", "we-value-you") },
}
LUA
want=$(e "local f, n = cx.value.fit(), 0
          for _, row in ipairs(f.rows) do
            local c = cx.value.customer(row.customer, f)
            if c.clv_cents and c.clv_cents >= 10000 and c.p_alive <= 0.6 then n = n + 1 end
          end
          return n")
run campaign run --client v "$TMP/keep.lua" --dry-run --at 1998-07-01
assert_status "campaign on value: dry run" 0
assert_match "campaign on value: the audience is the customers worth 100.00 or more, alive at most 0.6" "$OUT" \
  "audience +$want customers: \\(clv\\{ at_least = \"100.00\" \\} & p_alive\\{ at_most = 0.6 \\}\\)"
[ "$want" -gt 0 ] && pass || fail "no customer in the value audience: the check would prove nothing"
printf 'return { name = "x", description = "x", module = "act", audience = p_alive{ at_least = 2 }, actions = { tag("x") } }\n' \
  >"$TMP/bad-value.lua"
run campaign check "$TMP/bad-value.lua"
assert_contains "campaign on value: p_alive out of range, with its line" "$OUT" "bad-value.lua:1: p_alive{...}: at_least must be a number from 0 to 1"

# --- the master file: the time of the fit ----------------------------------------------------
read -r m_customers m_repeaters m_x m_hold _ < <(awk_counts "$MASTER" 2)
cx client add m >/dev/null
run import --client m "$MASTER"
assert_status "import the master file" 0
start=$(ms)
got=$(CLIENT=m e "local f = cx.value.fit{ $CAL }
         local t, b = f.totals, f.bgnbd
         return ('%d %d %d %d %s'):format(t.customers, t.repeaters, t.repeat_purchases, t.holdout_purchases,
           tostring(b.converged)), ('r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.1f'):format(b.r, b.alpha, b.a, b.b, b.ll)")
master_ms=$(($(ms) - start))
assert_eq "master: the counts as awk has them, converged" "$m_customers $m_repeaters $m_x $m_hold true" "${got%% r=*}"
# The time is reported, not asserted (bench/ measures; these machines are shared).
echo "master: summary, BG/NBD and Gamma-Gamma fits in $master_ms ms: r=${got#* r=}"

finish
