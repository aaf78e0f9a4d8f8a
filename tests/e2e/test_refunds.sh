#!/usr/bin/env bash
# test_refunds.sh: every rule of the built-in refund plugin on small,
# hand-computed cases, end to end (NDJSON import and `cxhost refund request`):
#
#   - the return window per category: inside, at its last second, one second
#     after it, and a category's own window (deposit: 3 days, default: 7)
#   - partial refunds by lines (one line out of its window, quantities left)
#     and by amount; never beyond what was paid; after a full refund, rejected
#   - idempotency: the same request id twice is decided once
#   - price match: 2 x the difference, capped at the price paid, not lower,
#     after price_match_days, per line (sku)
#   - compensation for complaints: the severity table, the cap per period,
#     no severity, credit_cents
#   - clawback of the purchase's points in proportion, and the four policies
#     once the points were spent on a reward
#   - the refund command line: output, --help, usage and bad input
#   - tiers qualified on spend count refunded spend out
#
# After every scenario `cxhost check` must say that all holds.
#
# The loyalty defaults matter for the points: 1 point per 1.00 spent, rounded
# down; a purchase's points pending until its return window closes (the
# refund plugin's return_days, by the purchase's data.category). The refund
# defaults: return_days default 30, price_match_days 14, multiplier 2,
# compensation 1 -> 100, 2 -> 250, 3 -> 500 points, cap 1000 points and
# 50.00 credit per 365 days, clawback within_balance, point_value_cents 1.
. "$(dirname "$0")/lib.sh"

# imp CLIENT NAME: imports the NDJSON on standard input into CLIENT; must succeed.
imp() {
  local file=$TMP/$1-$2.ndjson
  cat >"$file"
  run import --client "$1" "$file"
  assert_status "$1: import $2" 0
}

# dec CLIENT REQUEST: "decision approved requested deducted clawback_points" of a refunds row.
dec() {
  q "$1" "SELECT decision || ' ' || approved_cents || ' ' || requested_cents || ' ' || deducted_cents || ' ' ||
          clawback_points AS n FROM refunds WHERE external_id = ?1" "$2"
}
reason() { q "$1" "SELECT reason AS n FROM refunds WHERE external_id = ?1" "$2"; }
# bal CLIENT CUSTOMER: the customer's balance (the sum of their ledger entries).
bal() {
  q "$1" "SELECT COALESCE(SUM(l.points), 0) AS n FROM ledger l JOIN customers c ON c.id = l.customer_id
          WHERE c.external_id = ?1" "$2"
}
# clawed CLIENT REQUEST: "COUNT SUM" of the clawback entries the request wrote.
clawed() {
  q "$1" "SELECT COUNT(*) || ' ' || COALESCE(SUM(l.points), 0) AS n FROM ledger l JOIN events e ON e.id = l.event_id
          WHERE e.external_id = ?1 AND l.kind = 'clawback'" "$2"
}
check_ok() {
  run check --client "$1"
  assert_status "$1: cxhost check after the scenario" 0
  assert_contains "$1: cxhost check says all holds" "$OUT" "all hold"
}

# --- the return window, per category -----------------------------------------------------------------
# All purchases on 2026-03-02T10:00:00Z. default: 7 days -> closes 2026-03-09T10:00:00Z;
# deposit: 3 days -> closes 2026-03-05T10:00:00Z.
cx client add win >/dev/null
cat >"$H/clients/win/config.lua" <<'LUA'
return { refund = { return_days = { default = 7, deposit = 3 } } }
LUA
imp win window <<'EOF'
{"id":"p-in","type":"purchase","customer":"ann","at":"2026-03-02T10:00:00Z","amount":"50.00"}
{"id":"p-edge","type":"purchase","customer":"bob","at":"2026-03-02T10:00:00Z","amount":"30.00"}
{"id":"p-late","type":"purchase","customer":"cat","at":"2026-03-02T10:00:00Z","amount":"30.00"}
{"id":"p-dep","type":"purchase","customer":"dan","at":"2026-03-02T10:00:00Z","amount":"80.00","category":"deposit"}
{"id":"p-dep2","type":"purchase","customer":"eve","at":"2026-03-02T10:00:00Z","amount":"80.00","category":"deposit"}
{"id":"r-in","type":"refund_request","customer":"ann","at":"2026-03-05T12:00:00Z","purchase":"p-in"}
{"id":"r-edge","type":"refund_request","customer":"bob","at":"2026-03-09T10:00:00Z","purchase":"p-edge"}
{"id":"r-late","type":"refund_request","customer":"cat","at":"2026-03-09T10:00:01Z","purchase":"p-late"}
{"id":"r-dep","type":"refund_request","customer":"dan","at":"2026-03-05T10:00:01Z","purchase":"p-dep"}
{"id":"r-dep2","type":"refund_request","customer":"eve","at":"2026-03-05T10:00:00Z","purchase":"p-dep2"}
EOF
# Inside: all of 50.00 (no amount: what is left), and all 50 points back (50 x 5000 // 5000).
assert_eq "inside the window: approved in full" "approved 5000 5000 0 50" "$(dec win r-in)"
assert_eq "inside the window: the reason" \
  "approved: 50.00 refunded, within the 7-day window (open until 2026-03-09); 50 points taken back (within_balance)" \
  "$(reason win r-in)"
assert_eq "inside the window: rule and kind" "return_window return" \
  "$(q win "SELECT rule || ' ' || kind AS n FROM refunds WHERE external_id = 'r-in'")"
assert_eq "inside the window: ann's balance 50 - 50" "0" "$(bal win ann)"
# At 2026-03-09T10:00:00Z, exactly 7 days after: still inside (the window includes its last second).
assert_eq "the last second of the window: approved" "approved 3000 3000 0 30" "$(dec win r-edge)"
assert_eq "the last second: bob's 30 points back" "0" "$(bal win bob)"
# One second later: rejected, nothing refunded, no clawback entry.
assert_eq "one second after the window: rejected" "rejected 0 3000 0 0" "$(dec win r-late)"
assert_eq "one second after: the reason names the window and the day it closed" \
  "rejected: the 7-day window closed on 2026-03-09" "$(reason win r-late)"
assert_eq "one second after: no clawback entry" "0 0" "$(clawed win r-late)"
assert_eq "one second after: cat keeps the 30 points" "30" "$(bal win cat)"
# deposit: 3 days. 2026-03-05T10:00:01Z is inside the default 7 days but after the deposit's 3.
assert_eq "deposit, 3 days + 1 s: rejected" "rejected 0 8000 0 0" "$(dec win r-dep)"
assert_eq "deposit: the reason names the 3-day window" "rejected: the 3-day window closed on 2026-03-05" \
  "$(reason win r-dep)"
assert_eq "deposit, exactly 3 days: approved" "approved 8000 8000 0 80" "$(dec win r-dep2)"
# The deposit purchase's points are pending for its own 3 days too: the window closes at
# 2026-03-05T10:00:00Z (1772704800), inclusive; the points are spendable from the next second.
assert_eq "deposit purchase: points pending 3 days" "1772704801" \
  "$(q win "SELECT l.available_at AS n FROM ledger l JOIN events e ON e.id = l.event_id WHERE e.external_id = 'p-dep'")"
check_ok win

# --- partial refunds by lines -----------------------------------------------------------------------------
# p-lines: A (books: the default 7 days) 2 x 40.00, D (deposit: 3 days) 1 x 40.00 = 120.00,
# 120 points. On 2026-03-06T10:00:00Z (4 days after) A's window is open, D's closed.
imp win lines <<'EOF'
{"id":"p-lines","type":"purchase","customer":"fay","at":"2026-03-02T10:00:00Z","amount":"120.00","lines":[{"sku":"A","qty":2,"unit_cents":4000,"category":"books"},{"sku":"D","qty":1,"unit_cents":4000,"category":"deposit"}]}
{"id":"rl-1","type":"refund_request","customer":"fay","at":"2026-03-06T10:00:00Z","purchase":"p-lines","lines":[{"sku":"A","qty":1},{"sku":"D"}]}
{"id":"rl-2","type":"refund_request","customer":"fay","at":"2026-03-06T11:00:00Z","purchase":"p-lines","lines":[{"sku":"A","qty":2}]}
{"id":"rl-3","type":"refund_request","customer":"fay","at":"2026-03-06T12:00:00Z","purchase":"p-lines","lines":[{"sku":"A"}]}
{"id":"rl-4","type":"refund_request","customer":"fay","at":"2026-03-04T10:00:00Z","purchase":"p-lines","lines":[{"line":2},{"sku":"Z"}]}
EOF
# rl-1: asks A 1 x 40.00 + D 1 x 40.00 = 80.00; D is out of its window: 40.00 -> partial.
# Points: 120 x 4000 // 12000 = 40.
assert_eq "lines: one in its window, one not -> partial" "partial 4000 8000 0 40" "$(dec win rl-1)"
assert_eq "lines: the reason names each line" \
  "partial: 40.00 of 80.00: A: 1 x 40.00 refunded; D: the 3-day window closed on 2026-03-05; 40 points taken back (within_balance)" \
  "$(reason win rl-1)"
assert_eq "lines: the refunded line is stored (line 1, A, qty 1, 40.00)" "1 1 A 1 4000" \
  "$(q win "SELECT json_array_length(lines) || ' ' || json_extract(lines, '\$[0].line') || ' ' || json_extract(lines, '\$[0].sku')
            || ' ' || json_extract(lines, '\$[0].qty') || ' ' || json_extract(lines, '\$[0].cents') AS n FROM refunds WHERE external_id = 'rl-1'")"
# rl-2: asks A 2 x 40.00 = 80.00, only 1 of A is left: 40.00 -> partial.
# Points: 120 x min(12000, 4000 + 4000) // 12000 - 120 x 4000 // 12000 = 80 - 40 = 40.
assert_eq "lines: more than is left of a line -> cut to what is left, partial" "partial 4000 8000 0 40" "$(dec win rl-2)"
assert_eq "lines: the reason says only 1 was left" \
  "partial: 40.00 of 80.00: A: 1 x 40.00 refunded (only 1 left); 40 points taken back (within_balance)" \
  "$(reason win rl-2)"
# rl-3: A again (its whole quantity, 2 x 40.00 = 80.00): nothing left of it.
assert_eq "lines: a line refunded already -> rejected" "rejected 0 8000 0 0" "$(dec win rl-3)"
assert_eq "lines: the reason says refunded already" "rejected: 0.00 of 80.00: A: refunded already" "$(reason win rl-3)"
# rl-4: inside D's window (2 days after), by line number 2 (D); Z names no line.
# D 1 x 40.00 = 40.00 approved; points 120 x min(12000, 8000 + 4000) // 12000 - 120 x 8000 // 12000 = 120 - 80 = 40.
assert_eq "lines: by line number, with an unknown sku beside it" "approved 4000 4000 0 40" "$(dec win rl-4)"
assert_eq "lines: the unknown sku is named" \
  "approved: 40.00 of 40.00: D: 1 x 40.00 refunded; line 2 names no line of purchase p-lines; 40 points taken back (within_balance)" \
  "$(reason win rl-4)"
assert_eq "lines: 120.00 refunded in all, 120 points taken back" "12000 0" \
  "$(q win "SELECT SUM(approved_cents) AS n FROM refunds WHERE external_id LIKE 'rl-%'") $(bal win fay)"
check_ok win

# --- partial refunds by amount; never beyond what was paid ----------------------------------------------
# p-amt: 100.00, 100 points (pending: the default 7 days).
imp win amount <<'EOF'
{"id":"p-amt","type":"purchase","customer":"gus","at":"2026-03-02T10:00:00Z","amount":"100.00"}
{"id":"ra-1","type":"refund_request","customer":"gus","at":"2026-03-03T10:00:00Z","purchase":"p-amt","amount":"30.00"}
{"id":"ra-2","type":"refund_request","customer":"gus","at":"2026-03-03T11:00:00Z","purchase":"p-amt","amount":"80.00"}
{"id":"ra-3","type":"refund_request","customer":"gus","at":"2026-03-03T12:00:00Z","purchase":"p-amt","amount":"5.00"}
{"id":"ra-4","type":"refund_request","customer":"gus","at":"2026-03-03T12:00:00Z","purchase":"p-amt","amount":"5.00","lines":[{"sku":"A"}]}
{"id":"ra-5","type":"refund_request","customer":"ann","at":"2026-03-03T12:00:00Z","purchase":"p-amt","amount":"5.00"}
EOF
# ra-1: 30.00 of 100.00; points 100 x 3000 // 10000 = 30.
assert_eq "amount: 30.00 of 100.00" "approved 3000 3000 0 30" "$(dec win ra-1)"
# ra-2: 80.00 asked, 70.00 left -> 70.00, partial; points 100 x 10000 // 10000 - 30 = 70.
assert_eq "amount: more than is left -> cut to what is left, partial" "partial 7000 8000 0 70" "$(dec win ra-2)"
assert_eq "amount: the reason says what was left" \
  "partial: 70.00 of 80.00 refunded: only 70.00 of purchase p-amt (100.00) was left to refund; 70 points taken back (within_balance)" \
  "$(reason win ra-2)"
assert_eq "amount: after a full refund -> rejected" "rejected 0 500 0 0" "$(dec win ra-3)"
assert_eq "amount: the reason says refunded in full" "rejected: purchase p-amt was refunded in full already (100.00)" \
  "$(reason win ra-3)"
assert_eq "amount and lines together -> rejected" \
  "rejected: a request gives either lines or an amount, not both" "$(reason win ra-4)"
assert_eq "a purchase of another customer -> rejected" "rejected: purchase 'p-amt' is not ann's" "$(reason win ra-5)"
assert_eq "amount: never more than the 100.00 paid" "10000" \
  "$(q win "SELECT SUM(approved_cents + deducted_cents) AS n FROM refunds r JOIN events e ON e.id = r.purchase_event_id
            WHERE e.external_id = 'p-amt' AND r.decision <> 'rejected'")"
assert_eq "amount: gus's 100 points all taken back" "0" "$(bal win gus)"
check_ok win

# --- idempotency: the same request id twice is decided once -------------------------------------------
# p-idem: 40.00 (40 points). r-idem asks 10.00 (10 points back); the file repeats the line, and
# the file is imported twice.
cat >"$TMP/idem.ndjson" <<'EOF'
{"id":"p-idem","type":"purchase","customer":"hal","at":"2026-03-02T10:00:00Z","amount":"40.00"}
{"id":"r-idem","type":"refund_request","customer":"hal","at":"2026-03-03T10:00:00Z","purchase":"p-idem","amount":"10.00"}
{"id":"r-idem","type":"refund_request","customer":"hal","at":"2026-03-03T10:00:00Z","purchase":"p-idem","amount":"10.00"}
EOF
run import --client win "$TMP/idem.ndjson"
assert_status "idempotency: import with a repeated request" 0
run import --client win "$TMP/idem.ndjson"
assert_status "idempotency: the same file again" 0
assert_contains "idempotency: nothing new the second time" "$OUT" "imported 0 new events"
assert_eq "idempotency (import): one refunds row" "1" "$(q win "SELECT COUNT(*) AS n FROM refunds WHERE external_id = 'r-idem'")"
assert_eq "idempotency (import): one clawback entry of 10" "1 -10" "$(clawed win r-idem)"
assert_eq "idempotency (import): decided once" "approved 1000 1000 0 10" "$(dec win r-idem)"
# The command line: --id cli-idem twice (5.00: 40 x min(4000, 1000 + 500) // 4000 - 40 x 1000 // 4000 = 15 - 10 = 5 points).
run refund request --client win --purchase p-idem --amount 5.00 --id cli-idem --at 2026-03-04T10:00:00Z
assert_status "idempotency (command): first" 0
run refund request --client win --purchase p-idem --amount 5.00 --id cli-idem --at 2026-03-04T10:00:00Z
assert_status "idempotency (command): second" 0
assert_contains "idempotency (command): the second says decided before" "$OUT" \
  "request cli-idem (decided before; nothing new was done)"
assert_eq "idempotency (command): one refunds row" "1" "$(q win "SELECT COUNT(*) AS n FROM refunds WHERE external_id = 'cli-idem'")"
assert_eq "idempotency (command): one clawback entry of 5" "1 -5" "$(clawed win cli-idem)"
assert_eq "idempotency: hal has 40 - 10 - 5 points" "25" "$(bal win hal)"
assert_eq "idempotency: 15.00 refunded of p-idem" "1500" \
  "$(q win "SELECT SUM(approved_cents) AS n FROM refunds r JOIN events e ON e.id = r.purchase_event_id WHERE e.external_id = 'p-idem'")"
check_ok win

# --- price match ------------------------------------------------------------------------------------------
# Defaults: within 14 days, 2 x the difference, never more than was paid.
cx client add pm >/dev/null
imp pm price <<'EOF'
{"id":"pm-1","type":"purchase","customer":"ian","at":"2026-03-02T10:00:00Z","amount":"10.00"}
{"id":"pm-2","type":"purchase","customer":"jay","at":"2026-03-02T10:00:00Z","amount":"50.00"}
{"id":"pm-3","type":"purchase","customer":"kim","at":"2026-03-02T10:00:00Z","amount":"20.00"}
{"id":"pm-4","type":"purchase","customer":"lou","at":"2026-03-02T10:00:00Z","amount":"100.00","lines":[{"sku":"A","qty":2,"unit_cents":4000},{"sku":"B","qty":1,"unit_cents":2000}]}
{"id":"pmr-1","type":"price_match","customer":"ian","at":"2026-03-05T10:00:00Z","purchase":"pm-1","amount":"2.00"}
{"id":"pmr-2","type":"price_match","customer":"jay","at":"2026-03-10T10:00:00Z","purchase":"pm-2","amount":"45.00"}
{"id":"pmr-3","type":"price_match","customer":"jay","at":"2026-03-10T10:00:00Z","purchase":"pm-2","amount":"50.00"}
{"id":"pmr-4","type":"price_match","customer":"kim","at":"2026-03-16T10:00:01Z","purchase":"pm-3","amount":"10.00"}
{"id":"pmr-5","type":"price_match","customer":"kim","at":"2026-03-16T10:00:00Z","purchase":"pm-3","amount":"15.00"}
{"id":"pmr-6","type":"price_match","customer":"lou","at":"2026-03-05T10:00:00Z","purchase":"pm-4","amount":"35.00","sku":"A"}
{"id":"pmr-7","type":"price_match","customer":"lou","at":"2026-03-05T10:00:00Z","purchase":"pm-4","amount":"1.00","sku":"B"}
{"id":"pmr-8","type":"price_match","customer":"lou","at":"2026-03-05T10:00:00Z","purchase":"pm-4","amount":"1.00","sku":"Z"}
EOF
# pmr-1: paid 10.00, shown 2.00: 2 x 8.00 = 16.00 due, capped at the 10.00 paid -> partial.
# Points: all 10 (10 x 1000 // 1000).
assert_eq "price match: 2 x the difference, capped at the price paid" "partial 1000 1600 0 10" "$(dec pm pmr-1)"
assert_eq "price match: the reason shows the sum and the cap" \
  "partial: 2 x the difference of 8.00 on the purchase: 16.00, capped at 10.00 (the price paid); 10 points taken back (within_balance)" \
  "$(reason pm pmr-1)"
assert_eq "price match: kind and rule" "price_match price_match" \
  "$(q pm "SELECT kind || ' ' || rule AS n FROM refunds WHERE external_id = 'pmr-1'")"
# pmr-2: paid 50.00, shown 45.00: 2 x 5.00 = 10.00; points 50 x 1000 // 5000 = 10.
assert_eq "price match: 2 x 5.00" "approved 1000 1000 0 10" "$(dec pm pmr-2)"
assert_eq "price match: not lower -> rejected" \
  "rejected: the price shown, 50.00, is not lower than the price paid for the purchase, 50.00" "$(reason pm pmr-3)"
assert_eq "price match: not lower -> nothing" "rejected 0 0 0 0" "$(dec pm pmr-3)"
# 14 days after 2026-03-02T10:00:00Z: 2026-03-16T10:00:00Z is the last second.
assert_eq "price match: after price_match_days -> rejected" \
  "rejected: the 14-day price-match window closed on 2026-03-16" "$(reason pm pmr-4)"
# pmr-5: 2 x (20.00 - 15.00) = 10.00; points 20 x 1000 // 2000 = 10.
assert_eq "price match: on the last second of the 14 days" "approved 1000 1000 0 10" "$(dec pm pmr-5)"
# pmr-6: line A, 2 x 40.00 paid, shown 35.00: 2 x 5.00 x 2 = 20.00; points 100 x 2000 // 10000 = 20.
assert_eq "price match per line: 2 x the difference x the line's quantity" "approved 2000 2000 0 20" "$(dec pm pmr-6)"
assert_eq "price match per line: the reason names the line" \
  "approved: 2 x the difference of 5.00 on 2 x A: 20.00; 20 points taken back (within_balance)" "$(reason pm pmr-6)"
# pmr-7: line B, 1 x 20.00, shown 1.00: 2 x 19.00 = 38.00, capped at the 20.00 paid for B -> partial.
# Points: 100 x 4000 // 10000 - 100 x 2000 // 10000 = 40 - 20 = 20.
assert_eq "price match per line: capped at the line's price" "partial 2000 3800 0 20" "$(dec pm pmr-7)"
assert_eq "price match per line: an unknown sku -> rejected" "rejected: purchase pm-4 has no line Z" "$(reason pm pmr-8)"
assert_eq "price match: lou keeps 100 - 40 points" "60" "$(bal pm lou)"
check_ok pm

# --- compensation for complaints ------------------------------------------------------------------------
cx client add comp >/dev/null
imp comp complaints <<'EOF'
{"id":"c-1","type":"complaint","customer":"max","at":"2026-01-10T10:00:00Z","severity":3}
{"id":"c-2","type":"complaint","customer":"max","at":"2026-02-10T10:00:00Z","severity":3}
{"id":"c-3","type":"complaint","customer":"max","at":"2026-03-10T10:00:00Z","severity":3}
{"id":"c-4","type":"complaint","customer":"max","at":"2027-01-11T10:00:00Z","severity":1}
{"id":"c-5","type":"complaint","customer":"nat","at":"2026-01-10T10:00:00Z","severity":1}
{"id":"c-6","type":"complaint","customer":"nat","at":"2026-01-11T10:00:00Z","severity":3}
{"id":"c-7","type":"complaint","customer":"nat","at":"2026-01-12T10:00:00Z","severity":3}
{"id":"c-8","type":"complaint","customer":"nat","at":"2026-01-13T10:00:00Z","severity":2}
{"id":"c-9","type":"complaint","customer":"oli","at":"2026-01-10T10:00:00Z"}
{"id":"s2-1","type":"complaint","customer":"pat","at":"2026-02-01T10:00:00Z","severity":2}
{"id":"s2-2","type":"complaint","customer":"pat","at":"2026-04-01T10:00:00Z","severity":2}
{"id":"s2-3","type":"complaint","customer":"pat","at":"2026-06-01T10:00:00Z","severity":2}
{"id":"s2-4","type":"complaint","customer":"pat","at":"2026-08-01T10:00:00Z","severity":2}
{"id":"s2-5","type":"complaint","customer":"pat","at":"2026-10-01T10:00:00Z","severity":2}
EOF
# max: 500 + 500 = 1000 (the cap, reached not passed), then 1000 + 500 > 1000 -> nothing.
assert_eq "compensation: severity 3 -> 500 points" "approved 500" \
  "$(q comp "SELECT decision || ' ' || points AS n FROM refunds WHERE external_id = 'c-1'")"
assert_eq "compensation: the reason" "approved: severity 3: 500 points" "$(reason comp c-1)"
assert_eq "compensation: a second 500 reaches the cap of 1000" "approved 500" \
  "$(q comp "SELECT decision || ' ' || points AS n FROM refunds WHERE external_id = 'c-2'")"
assert_eq "compensation: over the cap -> rejected" "rejected 0" \
  "$(q comp "SELECT decision || ' ' || points AS n FROM refunds WHERE external_id = 'c-3'")"
# since = 2026-03-10 - 365 days = 2025-03-10.
assert_eq "compensation: the reason names the cap" \
  "rejected: severity 3: nothing; points capped at 1000 per 365 days (1000 given since 2025-03-10)" "$(reason comp c-3)"
# c-4 on 2027-01-11: the period starts 2026-01-11, so c-1 (2026-01-10) is out: 500 + 100 <= 1000.
assert_eq "compensation: a year on, the oldest leaves the cap" "approved 100" \
  "$(q comp "SELECT decision || ' ' || points AS n FROM refunds WHERE external_id = 'c-4'")"
assert_eq "compensation: max's ledger, 500 + 500 + 100" "1100 3" \
  "$(q comp "SELECT SUM(l.points) || ' ' || COUNT(*) AS n FROM ledger l JOIN customers c ON c.id = l.customer_id
             WHERE c.external_id = 'max' AND l.kind = 'compensation'")"
assert_eq "compensation: the entry's rule names the severity" "severity_3" \
  "$(q comp "SELECT l.rule AS n FROM ledger l JOIN events e ON e.id = l.event_id WHERE e.external_id = 'c-1'")"
# nat: 100 + 500 = 600, then 600 + 500 > 1000 -> 400, partial; then 1000 + 250 -> nothing.
assert_eq "compensation: cut to what the cap leaves -> partial" "partial 400" \
  "$(q comp "SELECT decision || ' ' || points AS n FROM refunds WHERE external_id = 'c-7'")"
assert_eq "compensation: partial reason" \
  "partial: severity 3: 400 points; points capped at 1000 per 365 days (600 given since 2025-01-12)" "$(reason comp c-7)"
assert_eq "compensation: at the cap, severity 2 -> rejected" "rejected 0" \
  "$(q comp "SELECT decision || ' ' || points AS n FROM refunds WHERE external_id = 'c-8'")"
assert_eq "compensation: nat has 1000 points" "1000" "$(bal comp nat)"
# pat: severity 2 five times within a year: 4 x 250 = 1000 reaches the cap, the 5th gets nothing.
assert_eq "compensation: four severity-2 complaints fill the cap, the fifth is rejected" \
  "s2-1 approved 250,s2-2 approved 250,s2-3 approved 250,s2-4 approved 250,s2-5 rejected 0" \
  "$(q comp "SELECT group_concat(x, ',') AS n FROM (SELECT external_id || ' ' || decision || ' ' || points AS x
             FROM refunds WHERE external_id LIKE 's2-%' ORDER BY external_id)")"
assert_eq "compensation: no severity -> no refunds row" "0" \
  "$(q comp "SELECT COUNT(*) AS n FROM refunds r JOIN customers c ON c.id = r.customer_id WHERE c.external_id = 'oli'")"
assert_eq "compensation: no severity -> no ledger entry" "0" \
  "$(q comp "SELECT COUNT(*) AS n FROM ledger l JOIN customers c ON c.id = l.customer_id WHERE c.external_id = 'oli'")"
check_ok comp

# credit_cents from config.lua: the table is a list (replaced whole); the cap is a map (40.00 credit,
# the 1000 points and 365 days kept).
cx client add credit >/dev/null
cat >"$H/clients/credit/config.lua" <<'LUA'
return { refund = {
  compensation = { { points = 100 }, { credit_cents = 1500 }, { points = 500, credit_cents = 2500 } },
  compensation_cap = { credit_cents = 4000 },
} }
LUA
imp credit complaints <<'EOF'
{"id":"k-1","type":"complaint","customer":"pia","at":"2026-01-10T10:00:00Z","severity":2}
{"id":"k-2","type":"complaint","customer":"pia","at":"2026-01-11T10:00:00Z","severity":3}
{"id":"k-3","type":"complaint","customer":"pia","at":"2026-01-12T10:00:00Z","severity":2}
{"id":"k-4","type":"complaint","customer":"pia","at":"2026-01-13T10:00:00Z","severity":3}
EOF
# k-1: 15.00 credit. k-2: 500 points + 25.00 (15.00 + 25.00 = 40.00, the cap). k-3: credit full -> nothing.
# k-4: points 500 + 500 = 1000 fit; credit 0 -> partial.
assert_eq "credit: severity 2 -> 15.00" "approved 1500 1500 0" \
  "$(q credit "SELECT decision || ' ' || approved_cents || ' ' || requested_cents || ' ' || points AS n FROM refunds WHERE external_id = 'k-1'")"
assert_eq "credit: the reason" "approved: severity 2: 15.00 credit" "$(reason credit k-1)"
assert_eq "credit: severity 3 -> 500 points and 25.00" "approved 2500 500" \
  "$(q credit "SELECT decision || ' ' || approved_cents || ' ' || points AS n FROM refunds WHERE external_id = 'k-2'")"
assert_eq "credit: over the credit cap -> rejected" "rejected 0 0" \
  "$(q credit "SELECT decision || ' ' || approved_cents || ' ' || points AS n FROM refunds WHERE external_id = 'k-3'")"
assert_eq "credit: points but no credit left -> partial" "partial 0 500" \
  "$(q credit "SELECT decision || ' ' || approved_cents || ' ' || points AS n FROM refunds WHERE external_id = 'k-4'")"
assert_eq "credit: the partial reason" \
  "partial: severity 3: 500 points; credit capped at 40.00 per 365 days (40.00 given since 2025-01-13)" "$(reason credit k-4)"
check_ok credit

# --- clawback in proportion --------------------------------------------------------------------------------
cx client add claw >/dev/null
imp claw halves <<'EOF'
{"id":"h-1","type":"purchase","customer":"quin","at":"2026-03-02T10:00:00Z","amount":"45.00"}
{"id":"hr-1","type":"refund_request","customer":"quin","at":"2026-03-03T10:00:00Z","purchase":"h-1","amount":"22.50"}
{"id":"hr-2","type":"refund_request","customer":"quin","at":"2026-03-04T10:00:00Z","purchase":"h-1"}
{"id":"t-1","type":"purchase","customer":"rae","at":"2026-03-02T10:00:00Z","amount":"10.00"}
{"id":"tr-1","type":"refund_request","customer":"rae","at":"2026-03-03T10:00:00Z","purchase":"t-1","amount":"3.33"}
{"id":"tr-2","type":"refund_request","customer":"rae","at":"2026-03-03T11:00:00Z","purchase":"t-1","amount":"3.33"}
{"id":"tr-3","type":"refund_request","customer":"rae","at":"2026-03-03T12:00:00Z","purchase":"t-1","amount":"3.34"}
EOF
# 45 points; half: 45 x 2250 // 4500 = 22 (22.5 rounded down); the rest: 45 - 22 = 23.
assert_eq "clawback: half the purchase -> half its points, rounded down" "1 -22" "$(clawed claw hr-1)"
assert_eq "clawback: the other half -> the rest" "1 -23" "$(clawed claw hr-2)"
assert_eq "clawback: two halves take all 45 points" "0" "$(bal claw quin)"
# 10 points in thirds: 10 x 333 // 1000 = 3; 10 x 666 // 1000 - 3 = 3; 10 - 6 = 4.
assert_eq "clawback in thirds: 3, 3, 4" "-3 -3 -4" \
  "$(clawed claw tr-1 | cut -d' ' -f2) $(clawed claw tr-2 | cut -d' ' -f2) $(clawed claw tr-3 | cut -d' ' -f2)"
assert_eq "clawback: the entry takes from the purchase's lot" "1" \
  "$(q claw "SELECT l.lot_id = (SELECT x.id FROM ledger x JOIN events p ON p.id = x.event_id WHERE p.external_id = 'h-1')
             AS n FROM ledger l JOIN events e ON e.id = l.event_id WHERE e.external_id = 'hr-1'")"
assert_eq "clawback: the entry's spend is minus the money refunded" "-2250" \
  "$(q claw "SELECT l.spend_cents AS n FROM ledger l JOIN events e ON e.id = l.event_id WHERE e.external_id = 'hr-1'")"
check_ok claw

# --- clawback policies once the points were spent -----------------------------------------------------
# pending = false: points are available at once; a 60-day window so refunds are still open.
# ann buys s-1 100.00 (100 points) and s-2 30.00 (30), redeems r100 (100 points, oldest first: all of
# s-1's lot), then asks for all of s-1 back: 100 points due, none left in s-1's lot, 30 elsewhere.
# The window: 2026-03-02 + 60 days = 2026-05-01.
for policy in only_pending within_balance unlimited deduct_money; do
  client=pol_$policy
  cx client add "$client" >/dev/null
  cat >"$H/clients/$client/config.lua" <<LUA
return {
  loyalty = { pending = false, rewards = { r100 = { points = 100 } } },
  refund = { return_days = { default = 60 }, clawback = "$policy", point_value_cents = 5 },
}
LUA
  imp "$client" spent <<'EOF'
{"id":"s-1","type":"purchase","customer":"ann","at":"2026-03-02T10:00:00Z","amount":"100.00"}
{"id":"s-2","type":"purchase","customer":"ann","at":"2026-03-03T10:00:00Z","amount":"30.00"}
{"id":"s-rd","type":"redeem","customer":"ann","at":"2026-03-04T10:00:00Z","reward":"r100"}
{"id":"s-r","type":"refund_request","customer":"ann","at":"2026-03-05T10:00:00Z","purchase":"s-1"}
EOF
  assert_eq "$policy: the redemption spent 100 points" "-100" \
    "$(q "$client" "SELECT l.points AS n FROM ledger l JOIN events e ON e.id = l.event_id WHERE e.external_id = 's-rd'")"
  assert_eq "$policy: the policy is stored" "$policy" \
    "$(q "$client" "SELECT clawback_policy AS n FROM refunds WHERE external_id = 's-r'")"
done
window="approved: 100.00 refunded, within the 60-day window (open until 2026-05-01)"
# only_pending: the points are available, not pending: nothing taken; ann keeps 130 - 100 = 30.
assert_eq "only_pending: nothing taken once available" "approved 10000 10000 0 0" "$(dec pol_only_pending s-r)"
assert_eq "only_pending: the reason names the policy" \
  "$window; 0 of 100 points taken back; the other 100 were no longer pending (only_pending)" \
  "$(reason pol_only_pending s-r)"
assert_eq "only_pending: balance 30" "30" "$(bal pol_only_pending ann)"
# within_balance: 30 taken (all there is), balance 0, never negative.
assert_eq "within_balance: down to zero" "approved 10000 10000 0 30" "$(dec pol_within_balance s-r)"
assert_eq "within_balance: the reason names the policy" \
  "$window; 30 of 100 points taken back; the other 70 were spent (within_balance)" \
  "$(reason pol_within_balance s-r)"
assert_eq "within_balance: balance 0" "0" "$(bal pol_within_balance ann)"
# unlimited: all 100 taken; balance 30 - 100 = -70.
assert_eq "unlimited: all points taken" "approved 10000 10000 0 100" "$(dec pol_unlimited s-r)"
assert_eq "unlimited: the reason names the policy" "$window; 100 points taken back (unlimited)" \
  "$(reason pol_unlimited s-r)"
assert_eq "unlimited: balance negative" "-70" "$(bal pol_unlimited ann)"
assert_eq "unlimited: the account shows a debt of 70" "-70 70" \
  "$(cx eval --client pol_unlimited 'local a = cx.loyalty.account("ann") return a.available .. " " .. a.debt')"
# deduct_money: no points from the spent lot; 100 spent points x 5 cents = 5.00 off the refund:
# 95.00 refunded + 5.00 deducted = the 100.00 approved (the rule approved it all: decision approved).
assert_eq "deduct_money: spent points deducted from the money" "approved 9500 10000 500 0" "$(dec pol_deduct_money s-r)"
assert_eq "deduct_money: the reason names the policy and the deduction" \
  "$window; 0 of 100 points taken back; the other 100 were spent: 5.00 taken off the refund (deduct_money)" \
  "$(reason pol_deduct_money s-r)"
assert_eq "deduct_money: balance 30" "30" "$(bal pol_deduct_money ann)"
for policy in only_pending within_balance unlimited deduct_money; do
  assert_eq "$policy: one clawback entry" "1" \
    "$(q "pol_$policy" "SELECT COUNT(*) AS n FROM ledger l JOIN events e ON e.id = l.event_id WHERE e.external_id = 's-r' AND l.kind = 'clawback'")"
  check_ok "pol_$policy"
done

# only_pending while the points are pending: all of them taken back. A 7-day window: p-op at
# 2026-03-02T10:00:00Z, points pending until 2026-03-09T10:00:00Z. A refund on the window's last
# second is inside it, so the points were never spendable: they are taken back as well.
cx client add pend >/dev/null
cat >"$H/clients/pend/config.lua" <<'LUA'
return { refund = { return_days = { default = 7 }, clawback = "only_pending" } }
LUA
imp pend pending <<'EOF'
{"id":"p-op","type":"purchase","customer":"sam","at":"2026-03-02T10:00:00Z","amount":"40.00"}
{"id":"r-op","type":"refund_request","customer":"sam","at":"2026-03-03T10:00:00Z","purchase":"p-op","amount":"20.00"}
{"id":"p-op2","type":"purchase","customer":"tom","at":"2026-03-02T10:00:00Z","amount":"40.00"}
{"id":"r-op2","type":"refund_request","customer":"tom","at":"2026-03-09T10:00:00Z","purchase":"p-op2"}
EOF
# 40 x 2000 // 4000 = 20.
assert_eq "only_pending, points pending: taken back" "approved 2000 2000 0 20" "$(dec pend r-op)"
assert_eq "only_pending, pending: the reason" \
  "approved: 20.00 refunded, within the 7-day window (open until 2026-03-09); 20 points taken back (only_pending)" \
  "$(reason pend r-op)"
assert_eq "only_pending, refund on the window's last second: all 40 points back" "approved 4000 4000 0 40" "$(dec pend r-op2)"
assert_eq "only_pending, last second: tom keeps nothing of a refunded purchase" "0" "$(bal pend tom)"
check_ok pend

# --- tiers on spend count refunded spend out ----------------------------------------------------------------
# silver from 150.00 spent in 12 months. ann: 100.00, all refunded, then 60.00: 100 - 100 + 60 = 60.00.
# bob: 100.00 + 60.00 = 160.00 -> silver. cal: 100.00, 50.00 refunded, 60.00 -> 110.00; then 40.00 -> 150.00.
cx client add tier >/dev/null
cat >"$H/clients/tier/config.lua" <<'LUA'
return { loyalty = { tier_basis = "spend_cents",
                     tiers = { { name = "member", min = 0 }, { name = "silver", min = 15000 } } } }
LUA
imp tier spend <<'EOF'
{"id":"ta-1","type":"purchase","customer":"ann","at":"2026-03-02T10:00:00Z","amount":"100.00"}
{"id":"ta-r","type":"refund_request","customer":"ann","at":"2026-03-03T10:00:00Z","purchase":"ta-1"}
{"id":"ta-2","type":"purchase","customer":"ann","at":"2026-03-04T10:00:00Z","amount":"60.00"}
{"id":"tb-1","type":"purchase","customer":"bob","at":"2026-03-02T10:00:00Z","amount":"100.00"}
{"id":"tb-2","type":"purchase","customer":"bob","at":"2026-03-04T10:00:00Z","amount":"60.00"}
{"id":"tc-1","type":"purchase","customer":"cal","at":"2026-03-02T10:00:00Z","amount":"100.00"}
{"id":"tc-r","type":"refund_request","customer":"cal","at":"2026-03-03T10:00:00Z","purchase":"tc-1","amount":"50.00"}
{"id":"tc-2","type":"purchase","customer":"cal","at":"2026-03-04T10:00:00Z","amount":"60.00"}
EOF
assert_eq "tier: the clawback entry's spend is negative" "-10000" \
  "$(q tier "SELECT l.spend_cents AS n FROM ledger l JOIN events e ON e.id = l.event_id WHERE e.external_id = 'ta-r'")"
assert_eq "tier: a refunded purchase does not qualify (ann: 60.00)" "member" \
  "$(cx eval --client tier 'return cx.loyalty.account("ann").tier')"
assert_eq "tier: the same spend kept qualifies (bob: 160.00)" "silver" \
  "$(cx eval --client tier 'return cx.loyalty.account("bob").tier')"
assert_eq "tier: ann has no tier change" "0" \
  "$(q tier "SELECT COUNT(*) AS n FROM tier_history h JOIN customers c ON c.id = h.customer_id WHERE c.external_id = 'ann'")"
assert_eq "tier: cal with half refunded stays member (110.00)" "member" \
  "$(cx eval --client tier 'return cx.loyalty.account("cal").tier')"
imp tier more <<'EOF'
{"id":"tc-3","type":"purchase","customer":"cal","at":"2026-03-05T10:00:00Z","amount":"40.00"}
EOF
assert_eq "tier: cal reaches 150.00 with 40.00 more -> silver" "silver" \
  "$(cx eval --client tier 'return cx.loyalty.account("cal").tier')"
assert_eq "tier: cal's upgrade came with tc-3" "tc-3" \
  "$(q tier "SELECT e.external_id AS n FROM tier_history h JOIN events e ON e.id = h.event_id JOIN customers c ON c.id = h.customer_id WHERE c.external_id = 'cal'")"
check_ok tier

# --- the command line: cxhost refund request ---------------------------------------------------------------
# c-1: 3 x A at 20.00 = 60.00, 60 points (pending 30 days).
cx client add cli >/dev/null
imp cli purchase <<'EOF'
{"id":"c-1","type":"purchase","customer":"ann","at":"2026-03-02T10:00:00Z","amount":"60.00","lines":[{"sku":"A","qty":3,"unit_cents":2000}]}
EOF
run refund request --client cli --purchase c-1 --line A:1 --reason "too big" --id q1 --at 2026-03-03T10:00:00Z
assert_status "refund request --line A:1" 0
# 1 x 20.00; points 60 x 2000 // 6000 = 20.
assert_eq "refund request: prints the decision" \
  "request q1
approved: 20.00 of 20.00: A: 1 x 20.00 refunded; 20 points taken back (within_balance)
refunded 20.00 of 20.00 requested; 20 points taken back" "$OUT"
assert_eq "refund request: the customer's reason is kept with the request" "too big" \
  "$(q cli "SELECT json_extract(data, '\$.reason') AS n FROM events WHERE external_id = 'q1'")"
run refund request --client cli --purchase c-1 --line A:1 --reason "too big" --id q1 --at 2026-03-03T10:00:00Z
assert_status "refund request: the same --id again" 0
assert_contains "refund request: the same --id -> decided before" "$OUT" "decided before"
assert_eq "refund request: the same --id: one row, one clawback entry" "1 1" \
  "$(q cli "SELECT COUNT(*) || ' ' || (SELECT COUNT(*) FROM ledger WHERE kind = 'clawback') AS n FROM refunds")"
# 15.00: points 60 x 3500 // 6000 - 20 = 35 - 20 = 15.
run refund request --client cli --purchase c-1 --amount 15.00 --id q2 --at 2026-03-03T11:00:00Z
assert_status "refund request --amount 15.00" 0
assert_contains "refund request --amount: refunded" "$OUT" "refunded 15.00 of 15.00 requested; 15 points taken back"
# No amount: what is left, 60.00 - 35.00 = 25.00; points 60 - 35 = 25. Default id refund:c-1:TIME.
run refund request --client cli --purchase c-1 --at 2026-03-03T12:00:00Z
assert_status "refund request for what is left" 0
assert_contains "refund request: the default id" "$OUT" "request refund:c-1:2026-03-03T12:00:00Z"
assert_contains "refund request: what is left refunded" "$OUT" "refunded 25.00 of 25.00 requested; 25 points taken back"
run refund request --client cli --purchase c-1 --amount 1.00 --id q4 --at 2026-03-03T13:00:00Z
assert_status "refund request after a full refund (a decision, not an error)" 0
assert_contains "refund request after a full refund: rejected" "$OUT" \
  "rejected: purchase c-1 was refunded in full already (60.00)"
assert_contains "refund request after a full refund: nothing" "$OUT" "refunded 0.00 of 1.00 requested; 0 points taken back"
assert_eq "refund request: ann's 60 points all back" "0" "$(bal cli ann)"
run refund --help
assert_status "refund --help" 0
assert_contains "refund --help: usage" "$OUT" "usage: cxhost refund request --client NAME --purchase ID"
assert_contains "refund --help: --line" "$OUT" "--line SKU[:QTY]"
run refund request --client cli --amount 1.00
assert_status "refund request without --purchase" 2
assert_contains "refund request without --purchase: usage" "$ERR" "usage: cxhost refund request"
run refund request --client cli --purchase nope --amount 1.00
assert_status "refund request for an unknown purchase" 1
assert_contains "refund request for an unknown purchase names it" "$ERR" "no purchase 'nope'"
run refund request --client cli --purchase c-1 --amount 1.x0 --id q5
assert_status "refund request with a bad --amount" 2
assert_contains "refund request with a bad --amount: names the option" "$ERR" "--amount"
run refund request --client cli --purchase c-1 --amount 1.00 --line A
assert_status "refund request with --amount and --line" 2
assert_eq "refund request: bad requests stored nothing" "4" "$(q cli "SELECT COUNT(*) AS n FROM refunds")"
check_ok cli

# Requests that make no sense: an amount of 0 or below is a usage error; a request dated
# before its purchase (c-1 was bought on 2026-03-02T10:00:00Z) is rejected and says why.
run refund request --client cli --purchase c-1 --amount -5 --at 2026-03-04T10:00:00Z
assert_status "refund request --amount -5" 2
assert_contains "refund request --amount -5: why" "$ERR" "--amount: give an amount above 0"
run refund request --client cli --purchase c-1 --amount 0 --at 2026-03-04T10:00:00Z
assert_status "refund request --amount 0" 2
run refund request --client cli --purchase c-1 --amount 1.00 --id early --at 2026-03-01T10:00:00Z
assert_status "a request before the purchase is decided" 0
assert_eq "a request before the purchase: rejected, with the reason" \
  "rejected 0 rejected: the request (2026-03-01T10:00:00Z) is dated before the purchase (2026-03-02T10:00:00Z)" \
  "$(q cli "SELECT decision || ' ' || approved_cents || ' ' || reason AS n FROM refunds WHERE external_id = 'early'")"
# Without --id, the id is made of what is asked: the same command twice is decided once, a
# different amount at the same time is a request of its own (c-1 is refunded in full by now:
# rejected, but decided anew).
run refund request --client cli --purchase c-1 --amount 1.00 --at 2026-03-04T10:00:00Z
assert_contains "default id: purchase, time, cents" "$OUT" "request refund:c-1:2026-03-04T10:00:00Z:100"
run refund request --client cli --purchase c-1 --amount 1.00 --at 2026-03-04T10:00:00Z
assert_contains "default id: the same command again is decided once" "$OUT" "decided before"
run refund request --client cli --purchase c-1 --amount 2.00 --at 2026-03-04T10:00:00Z
assert_contains "default id: another amount at the same time is its own request" "$OUT" \
  "request refund:c-1:2026-03-04T10:00:00Z:200
rejected: purchase c-1 was refunded in full already (60.00)"
check_ok cli

finish
