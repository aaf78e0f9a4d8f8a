#!/usr/bin/env bash
# test_check_explain.sh: `cxhost check` and `cxhost explain`, and what an
# event that fails in a plugin leaves behind.
#
#   - check: exit 0 and "all hold" on a healthy store; exit 1 with a
#     "problem: ..." line naming the customer, entry or purchase on a store
#     corrupted with the sqlite3 shell (skipped when there is none): a refund
#     beyond what was paid, a redemption beyond the available points, a
#     clawback edited past its lot (the ledger's append-only trigger dropped
#     and put back), a tier its history does not end with, a kept balance
#     (when the store keeps one) that is not the sum of the entries;
#     --help; missing --client
#   - explain: a purchase's loyalty rules (fired or -) and ledger entry, a
#     capped purchase that moved the customer up a tier, a refund request's
#     decision and clawback entry, a rejected request, a complaint, an event
#     no rule weighed, an unknown id, a missing --event
#   - a redeem with too few points fails the import (exit 1, nothing written);
#     with --skip-bad the rest is imported, the rejects file names the line,
#     and the failed event left no ledger or audit row
#
# Points: 1 per 1.00 (rounded down) times the tier's multiplier; pending for
# the 30-day default return window; expiring 24 months after the day earned.
. "$(dirname "$0")/lib.sh"

check_ok() {
  run check --client "$1"
  assert_status "$1: cxhost check" 0
  assert_contains "$1: cxhost check says all holds" "$OUT" "all hold"
  assert_not_contains "$1: cxhost check finds no problem" "$OUT" "problem"
}

# --- check on a healthy store ------------------------------------------------------------------------
# ann: o-1 100.00 (100 points, pending until 2026-04-01T10:00:00Z), 40.00 of it refunded (40 points
# back: 100 x 4000 // 10000), then r50 redeemed on 2026-04-10 (60 available): 10 left.
# bob: o-2 50.00 (50 points). Ledger ids in the order written: 1 ann's earn, 2 bob's earn,
# 3 ann's clawback, 4 ann's redemption.
cat >"$TMP/base.ndjson" <<'EOF'
{"id":"o-1","type":"purchase","customer":"ann","at":"2026-03-02T10:00:00Z","amount":"100.00"}
{"id":"o-2","type":"purchase","customer":"bob","at":"2026-03-02T11:00:00Z","amount":"50.00"}
{"id":"r-1","type":"refund_request","customer":"ann","at":"2026-03-04T10:00:00Z","purchase":"o-1","amount":"40.00"}
{"id":"rd-1","type":"redeem","customer":"ann","at":"2026-04-10T10:00:00Z","reward":"r50"}
EOF
# new_client NAME: a client with reward r50 (50 points) and the base events.
new_client() {
  cx client add "$1" >/dev/null
  printf '%s\n' 'return { loyalty = { rewards = { r50 = { points = 50 } } } }' >"$H/clients/$1/config.lua"
  run import --client "$1" "$TMP/base.ndjson"
  assert_status "$1: import the base events" 0
}
new_client ok
run check --client ok
assert_status "check on a healthy store" 0
assert_eq "check: the summary" \
  "check 'ok': 2 customers with points, 4 ledger entries, 1 refund decision: all hold" "$OUT"
assert_eq "check: ann has 100 - 40 - 50 points" "10" \
  "$(q ok "SELECT SUM(l.points) AS n FROM ledger l JOIN customers c ON c.id = l.customer_id WHERE c.external_id = 'ann'")"
run check --client ok --help
assert_status "check --help" 0
assert_contains "check --help: usage" "$OUT" "usage: cxhost check --client NAME"
run check
assert_status "check without --client" 2
assert_contains "check without --client: says so" "$ERR" "--client"

# --- check on corrupted stores ----------------------------------------------------------------------------
if ! command -v sqlite3 >/dev/null 2>&1; then
  echo "no sqlite3 shell: the corrupted-store cases are skipped"
else
  sql() {   # CLIENT SQL: runs SQL on the client's store with the sqlite3 shell
    sqlite3 "$H/clients/$1/store.db" "$2"
  }
  # check_problem CLIENT DESC N NEEDLES...: check fails with N problems, each needle on a "problem:" line.
  check_problem() {
    local client=$1 desc=$2 n=$3 needle
    shift 3
    run check --client "$client"
    assert_status "$desc: check" 1
    for needle in "$@"; do
      assert_contains "$desc: the problem is named" "$(grep '^problem: ' <<<"$OUT")" "problem: $needle"
    done
    assert_eq "$desc: problem lines" "$n" "$(grep -c '^problem: ' <<<"$OUT")"
    assert_match "$desc: the summary counts them" "$(tail -n 1 <<<"$OUT")" ": $n problems?\$"
  }

  # A refund beyond what was paid: 40.00 + 80.00 = 120.00 of o-1's 100.00.
  new_client over
  sql over "INSERT INTO refunds(external_id, customer_id, purchase_event_id, requested_cents, approved_cents, decision,
              reason, at, plugin, kind)
            SELECT 'forged-1', e.customer_id, e.id, 8000, 8000, 'approved', 'forged', e.at + 86400, 'refund', 'return'
            FROM events e WHERE e.external_id = 'o-1'"
  check_problem over "a refund beyond the price" 1 "purchase o-1: 120.00 refunded, but 100.00 was paid"

  # A redemption of 30 on 2026-04-11 when ann had 10 available: 20 more than there were. It is entry 5.
  new_client redeem
  sql redeem "INSERT INTO ledger(customer_id, points, kind, rule, at, plugin)
              SELECT id, -30, 'redeem', 'forged', 1775865600, 'loyalty' FROM customers WHERE external_id = 'ann'"
  check_problem redeem "a redemption beyond the balance" 1 \
    "customer ann: entry 5 redeems 20 points more than were available on 2026-04-11"

  # The ledger is append-only: an UPDATE is refused until the trigger is dropped. ann's clawback
  # (entry 3) edited from -40 to -140: lot 1 (100) gives 100, 40 become a debt; then the redemption
  # (entry 4) finds no point available: 50 more than available; r-1 says 40 were taken back.
  new_client edited
  err=$(sql edited "UPDATE ledger SET points = -140 WHERE id = 3" 2>&1)
  assert_contains "the ledger refuses an UPDATE" "$err" "append-only"
  assert_eq "the refused UPDATE changed nothing" "-40" "$(sql edited "SELECT points FROM ledger WHERE id = 3")"
  trigger=$(sql edited "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'ledger_no_update'")
  sql edited "DROP TRIGGER ledger_no_update; UPDATE ledger SET points = -140 WHERE id = 3; $trigger;"
  assert_eq "the edit went through with the trigger dropped" "-140" "$(sql edited "SELECT points FROM ledger WHERE id = 3")"
  assert_eq "the trigger is back" "1" \
    "$(sql edited "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'ledger_no_update'")"
  check_problem edited "a clawback edited past its lot" 3 \
    "entry 1 earned 100 points, but clawbacks took back 140" \
    "customer ann: entry 4 redeems 50 points more than were available on 2026-04-10" \
    "refund r-1 (return): says 40 points were taken back, the ledger 140"

  # A tier the history does not end with (ann never moved up: no history).
  new_client tier
  sql tier "UPDATE facts SET data = json_set(data, '\$.loyalty.tier', 'silver')
            WHERE customer_id = (SELECT id FROM customers WHERE external_id = 'ann')"
  check_problem tier "a tier without history" 1 "customer ann: tier silver, but the tier history ends with nil"

  # A kept balance, if the store keeps one, that is not the sum of the entries (ann: 10 + 5).
  new_client kept
  if [ "$(sql kept "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'balances'")" = "1" ]; then
    sql kept "UPDATE balances SET points = points + 5 WHERE customer_id = (SELECT id FROM customers WHERE external_id = 'ann')"
    check_problem kept "a kept balance off by 5" 1 "customer ann: the kept balance is 15 points"
  else
    # No kept balance: balances are always the sum of the entries.
    check_ok kept
  fi
fi

# --- explain ---------------------------------------------------------------------------------------------
# member x1.5 (so the tier multiplier fires), silver from 500 points x2, a daily cap of 1000.
cx client add ex >/dev/null
cat >"$H/clients/ex/config.lua" <<'LUA'
return { loyalty = { daily_cap = 1000,
  tiers = { { name = "member", min = 0, multiplier = 1.5 }, { name = "silver", min = 500, multiplier = 2 } } } }
LUA
cat >"$TMP/ex.ndjson" <<'EOF'
{"id":"o-1","type":"purchase","customer":"ann","at":"2026-03-02T10:00:00Z","amount":"100.00"}
{"id":"b-1","type":"purchase","customer":"bob","at":"2026-03-02T09:00:00Z","amount":"100.00"}
{"id":"b-2","type":"purchase","customer":"bob","at":"2026-03-02T12:00:00Z","amount":"700.00"}
{"id":"r-1","type":"refund_request","customer":"ann","at":"2026-03-04T10:00:00Z","purchase":"o-1","amount":"40.00"}
{"id":"r-2","type":"refund_request","customer":"ann","at":"2026-04-01T10:00:01Z","purchase":"o-1","amount":"10.00"}
{"id":"c-1","type":"complaint","customer":"ann","at":"2026-03-05T10:00:00Z","severity":2}
{"id":"c-2","type":"complaint","customer":"ann","at":"2026-03-06T10:00:00Z"}
{"id":"n-1","type":"note","customer":"ann","at":"2026-03-06T11:00:00Z"}
EOF
run import --client ex "$TMP/ex.ndjson"
assert_status "explain: import" 0

# o-1: 100.00 x1.5 = 150 points; 150 of the 1000 a day; pending 30 days; expiring 2028-03-02;
# 150 below silver's 500.
run explain --client ex --event o-1
assert_status "explain a purchase" 0
assert_eq "explain: the heading" "event o-1: purchase by ann on 2026-03-02T10:00:00Z, 100.00" "$(head -n 1 <<<"$OUT")"
assert_contains "explain: the loyalty plugin's rules" "$OUT" $'\nloyalty:\n'
assert_match "explain: tier_multiplier fired" "$OUT" "fired +tier_multiplier +x1\.5 for tier member"
assert_match "explain: purchase fired" "$OUT" "fired +purchase +150 points for 100\.00 at 1 per 1\.00, x1\.5 member"
assert_match "explain: daily_cap weighed, not fired" "$OUT" $'\n  - +daily_cap +150 of 1000 today'
assert_match "explain: pending fired" "$OUT" \
  "fired +pending +until 2026-04-01T10:00:00Z, when the 30-day return window closes"
assert_match "explain: expiry fired" "$OUT" \
  "fired +expiry +what is left of them expires on 2028-03-02, 24 months after the day earned"
assert_match "explain: tier_upgrade weighed, not fired" "$OUT" $'\n  - +tier_upgrade +150 points ever, below the 500 of silver'
assert_eq "explain: the rules in the order weighed" "tier_multiplier purchase daily_cap pending expiry tier_upgrade" \
  "$(grep -E '^  (fired|-) ' <<<"$OUT" | awk '{ printf "%s%s", sep, $2; sep = " " }')"
assert_match "explain: the ledger entry" "$OUT" \
  $'ledger entries:\n  entry 1 +\\+150 earn +purchase +pending until 2026-04-01; expires 2028-03-02; 1 per 1\\.00 x1\\.5 member +\\(loyalty\\)'
assert_not_contains "explain: a purchase decides no refund" "$OUT" "refund decisions:"

# b-2 on bob's day: 700.00 x1.5 = 1050 points, 150 earned today, 850 kept; 150 + 850 = 1000 -> silver.
run explain --client ex --event b-2
assert_status "explain a capped purchase" 0
assert_match "explain: daily_cap fired" "$OUT" \
  "fired +daily_cap +capped at 1000 points a day: 150 earned today already, 850 of 1050 kept"
assert_match "explain: tier_upgrade fired" "$OUT" \
  "fired +tier_upgrade +to silver: 1000 points in the 12 months to 2026-03-02 \(silver needs 500\)"
assert_match "explain: the ledger entry holds the capped points" "$OUT" "entry 3 +\+850 earn"
assert_match "explain: the tier change" "$OUT" \
  $'tier changes:\n  member -> silver: 1000 points in the 12 months to 2026-03-02 \\(silver needs 500\\) +\\(loyalty\\)'

# r-1: 40.00 of 100.00 -> 150 x 4000 // 10000 = 60 points back (within_balance), from entry 1.
run explain --client ex --event r-1
assert_status "explain a refund request" 0
assert_eq "explain: the request's heading" "event r-1: refund_request by ann on 2026-03-04T10:00:00Z, 40.00" \
  "$(head -n 1 <<<"$OUT")"
assert_contains "explain: the refund plugin's rules" "$OUT" $'\nrefund:\n'
assert_match "explain: clawback fired" "$OUT" "fired +clawback +60 points taken back \(within_balance\)"
assert_match "explain: return_window fired" "$OUT" \
  "fired +return_window +approved: 40\.00 refunded, within the 30-day window \(open until 2026-04-01\); 60 points taken back \(within_balance\)"
assert_match "explain: the clawback entry" "$OUT" \
  "entry 4 +-60 clawback +within_balance +from entry 1; refund r-1 of purchase o-1 +\(refund\)"
assert_contains "explain: the refund decision" "$OUT" \
  $'refund decisions:\n  r-1 (return): approved: 40.00 refunded, within the 30-day window (open until 2026-04-01); 60 points taken back (within_balance)\n    requested 40.00, refunded 40.00'

# r-2: one second after the 30-day window: rejected, nothing taken back, no ledger entry.
run explain --client ex --event r-2
assert_status "explain a rejected request" 0
assert_match "explain: return_window weighed, rejected" "$OUT" \
  $'\n  - +return_window +rejected: the 30-day window closed on 2026-04-01'
assert_not_contains "explain: a rejection writes no ledger entry" "$OUT" "ledger entries:"
assert_contains "explain: the rejected decision" "$OUT" "requested 10.00, refunded 0.00"

# c-1: severity 2 -> 250 points; c-2: no severity -> nothing decided.
run explain --client ex --event c-1
assert_status "explain a complaint" 0
assert_match "explain: compensation fired" "$OUT" "fired +compensation +approved: severity 2: 250 points"
assert_match "explain: the compensation entry" "$OUT" "\+250 compensation severity_2 +expires 2028-03-05; complaint c-1"
assert_contains "explain: the points granted" "$OUT" "requested 0.00, refunded 0.00, 250 points granted"
run explain --client ex --event c-2
assert_status "explain a complaint without severity" 0
assert_match "explain: compensation weighed, not fired" "$OUT" $'\n  - +compensation +the complaint gives no severity'
assert_not_contains "explain: no severity, no decision" "$OUT" "refund decisions:"

run explain --client ex --event n-1
assert_status "explain an event no rule weighed" 0
assert_eq "explain: a note" "event n-1: note by ann on 2026-03-06T11:00:00Z

no loyalty or refund rule was weighed for this event" "$OUT"
run explain --client ex --event nope
assert_status "explain an unknown event" 1
assert_contains "explain an unknown event: says so" "$ERR" "client 'ex' has no event 'nope'"
run explain --client ex
assert_status "explain without --event" 2
assert_contains "explain without --event: usage" "$ERR" "usage: cxhost explain --client NAME --event ID"
run explain --client ex --help
assert_status "explain --help" 0
assert_contains "explain --help: usage" "$OUT" "usage: cxhost explain --client NAME --event ID"
check_ok ex

# --- an event that fails in a plugin leaves nothing -------------------------------------------------------
# rd-1 on 2026-03-03: ann's 100 points are pending until 2026-04-01: 0 available for r50's 50.
# rd-2 on 2026-04-10: 100 available.
cat >"$TMP/fail.ndjson" <<'EOF'
{"id":"o-1","type":"purchase","customer":"ann","at":"2026-03-02T10:00:00Z","amount":"100.00"}
{"id":"rd-1","type":"redeem","customer":"ann","at":"2026-03-03T10:00:00Z","reward":"r50"}
{"id":"c-1","type":"complaint","customer":"ann","at":"2026-03-05T10:00:00Z","severity":1}
{"id":"rd-2","type":"redeem","customer":"ann","at":"2026-04-10T10:00:00Z","reward":"r50"}
EOF
grep -v '"rd-1"' "$TMP/fail.ndjson" >"$TMP/control.ndjson"
for c in fail ctl; do
  cx client add "$c" >/dev/null
  printf '%s\n' 'return { loyalty = { rewards = { r50 = { points = 50 } } } }' >"$H/clients/$c/config.lua"
done
sum=$(sha256sum <"$H/clients/fail/store.db")
run import --client fail "$TMP/fail.ndjson"
assert_status "a redeem with too few points fails the import" 1
assert_contains "the failure names the line" "$ERR" "fail.ndjson:2:"
assert_contains "the failure names the event" "$ERR" "event 'rd-1'"
assert_contains "the failure says why" "$ERR" "ann has 0 points available (100 more pending); reward 'r50' needs 50"
assert_contains "the failure says the import was taken back" "$ERR" "taken back"
assert_eq "the failed import: store.db unchanged" "$sum" "$(sha256sum <"$H/clients/fail/store.db")"
assert_eq "the failed import: no events, ledger entries, audit rows or refunds" "0 0 0 0" \
  "$(q fail "SELECT (SELECT COUNT(*) FROM events) || ' ' || (SELECT COUNT(*) FROM ledger) || ' ' ||
             (SELECT COUNT(*) FROM audit) || ' ' || (SELECT COUNT(*) FROM refunds) AS n")"
run import --client fail --skip-bad "$TMP/fail-rejects.txt" "$TMP/fail.ndjson"
assert_status "--skip-bad: the rest is imported" 0
assert_contains "--skip-bad: 3 imported, 1 rejected" "$OUT" "imported 3 new events"
assert_contains "--skip-bad: 1 rejected" "$OUT" "1 rejected)"
IFS=$'\t' read -r r_line r_reason r_raw <"$TMP/fail-rejects.txt"
assert_eq "--skip-bad: the rejects file names line 2" "2" "$r_line"
assert_contains "--skip-bad: the reason" "$r_reason" "reward 'r50' needs 50"
assert_eq "--skip-bad: the raw line" "$(sed -n 2p "$TMP/fail.ndjson")" "$r_raw"
assert_eq "--skip-bad: one reject line" "1" "$(wc -l <"$TMP/fail-rejects.txt" | tr -d ' ')"
assert_eq "--skip-bad: rd-1 is not stored" "0" "$(q fail "SELECT COUNT(*) AS n FROM events WHERE external_id = 'rd-1'")"
# Ledger: +100 earn, +100 compensation (severity 1), -50 redeem (rd-2): one redemption only.
assert_eq "--skip-bad: one redemption, rd-2's" "1 rd-2" \
  "$(q fail "SELECT COUNT(*) || ' ' || MAX(e.external_id) AS n FROM ledger l JOIN events e ON e.id = l.event_id WHERE l.kind = 'redeem'")"
assert_eq "--skip-bad: ann has 100 + 100 - 50" "150" "$(q fail "SELECT SUM(points) AS n FROM ledger")"
run import --client ctl "$TMP/control.ndjson"
assert_status "the same events without rd-1" 0
tables="ledger audit refunds customer_facts tier_history"
# What ctx.explain said, where the store keeps it apart from the audit trail.
[ "$(q ctl "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'explanations'")" = "1" ] && tables="$tables explanations"
for t in $tables; do
  assert_eq "--skip-bad: the $t rows are those of an import without rd-1" \
    "$(q ctl "SELECT COUNT(*) AS n FROM $t")" "$(q fail "SELECT COUNT(*) AS n FROM $t")"
done
assert_eq "--skip-bad: no ledger or audit row points at a missing event" "0 0" \
  "$(q fail "SELECT (SELECT COUNT(*) FROM ledger l WHERE l.event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = l.event_id))
             || ' ' || (SELECT COUNT(*) FROM audit a WHERE a.event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = a.event_id)) AS n")"
run explain --client fail --event rd-1
assert_status "--skip-bad: nothing to explain for the failed event" 1
check_ok fail

# --- ctx.explain in a client's own plugin --------------------------------------------------------
# Placeholders are filled only when shown: {1} as it is, {2:money} cents as 1,234.56, {3:date} and
# {4:time} Unix seconds (2026-03-02T10:00:00Z = 1772445600), {5:points} "1 point" / "N points"; a
# value that is missing shows as "none". A table as a value is an error naming it.
cx client add own >/dev/null
plugin own why.lua <<'LUA'
return {
  name = "why", version = "1",
  events = { "visit", "bad" },
  on_event = function(ev, ctx)
    if ev.type == "bad" then
      ctx.explain("table", false, "{1}", { 1 })
    end
    ctx.explain("greeting", true, "{1} paid {2:money} on {3:date} at {4:time} for {5:points}, then {6}",
      "ann", 123456, ev.at, ev.at, 1, nil)
    ctx.explain("plain", false, "no values at all")
  end,
}
LUA
printf '{"id":"v-1","type":"visit","customer":"ann","at":"2026-03-02T10:00:00Z"}\n' >"$TMP/own.ndjson"
run import --client own "$TMP/own.ndjson"
assert_status "a plugin that explains imports" 0
run explain --client own --event v-1
assert_contains "the plugin's section" "$OUT" $'why:\n  fired    greeting'
assert_contains "placeholders filled when shown" "$OUT" \
  "ann paid 1,234.56 on 2026-03-02 at 2026-03-02T10:00:00Z for 1 point, then none"
assert_match "a line that did not fire" "$OUT" "  - +plain +no values at all"
printf '{"id":"b-1","type":"bad","customer":"ann","at":"2026-03-03T10:00:00Z"}\n' >"$TMP/bad.ndjson"
run import --client own "$TMP/bad.ndjson"
assert_status "a table as a value fails the event" 1
assert_contains "the error names the value" "$ERR" "ctx.explain: value 1 is a table (numbers, texts and booleans only)"
assert_eq "the failed event left no explanation" "1" "$(q own "SELECT COUNT(*) AS n FROM explanations")"

finish
