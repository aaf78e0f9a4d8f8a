#!/usr/bin/env bash
# test_campaigns.sh: campaigns end to end (plugins/lib/campaign.lua, the
# built-in plugin plugins/campaigns.lua, `cxhost campaign ...`): the check
# with its lines, each trigger (once, a schedule, an event, enters), budgets,
# the frequency cap across campaigns, the holdout, re-runs, dry runs, the
# uplift report against a hand-computed case, scheduled runs in
# `cxhost serve`, and journeys that move on in a later process.
#
# Every number below is worked out by hand from the small events and
# campaign files written here; the comments say how.
. "$(dirname "$0")/lib.sh"

# A campaign file in the workspace: campaign NAME < text.
campaign() {
  cat >"$TMP/$1.lua"
}
# Events: ndjson FILE < lines.
ndjson() {
  cat >"$TMP/$1"
}
# The number of campaign_actions of campaign NAME (optionally of kind KIND).
actions() {   # CLIENT NAME [KIND]
  q "$1" "SELECT COUNT(*) AS n FROM campaign_actions a JOIN campaigns k ON k.id = a.campaign_id
    WHERE k.name = ?1 AND (?2 = '' OR a.kind = ?2)" "$2" "${3:-}"
}
# The customers campaign NAME acted for, sorted, space-separated.
acted_for() {   # CLIENT NAME
  q "$1" "SELECT group_concat(customer, ' ') AS n FROM (SELECT DISTINCT cu.external_id AS customer
    FROM campaign_actions a JOIN campaigns k ON k.id = a.campaign_id JOIN customers cu ON cu.id = a.customer_id
    WHERE k.name = ?1 ORDER BY 1)" "$2"
}
# A field of a run's stats: CLIENT NAME PERIOD FIELD.
run_stat() {
  q "$1" "SELECT json_extract(r.stats, '$.' || ?3) AS n FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id
    WHERE k.name = ?1 AND r.period = ?2" "$2" "$3" "$4"
}
# Row counts that a run writes to: "actions ledger outbox events runs members".
counts() {   # CLIENT
  q "$1" "SELECT (SELECT COUNT(*) FROM campaign_actions) || ' ' || (SELECT COUNT(*) FROM ledger) || ' ' ||
    (SELECT COUNT(*) FROM outbox) || ' ' || (SELECT COUNT(*) FROM events) || ' ' ||
    (SELECT COUNT(*) FROM campaign_runs) || ' ' || (SELECT COUNT(*) FROM campaign_members) AS n"
}
epoch() {   # ISO time -> Unix seconds
  date -u -d "$1" +%s
}

# =====================================================================
# 1. campaign check, --help, usage errors
# =====================================================================
run client add k
campaign sound <<'LUA'
return {
  name = "sound",
  description = "A sound campaign",
  module = "relate",
  audience = tier("gold") | tagged("vip"),
  trigger = "every monday 09:00",
  actions = { points(100), send("email", "hello") },
  holdout = 0.1,
}
LUA
run campaign check "$TMP/sound.lua"
assert_status "check of a sound file" 0
assert_eq "check: one line" \
  "$TMP/sound.lua: campaign sound is sound: module relate, trigger every monday 09:00, 2 actions, holdout 10%" "$OUT"
run campaign check --client k "$TMP/sound.lua"
assert_status "check --client of a sound file" 0
assert_contains "check --client: the same line" "$OUT" "campaign sound is sound"

# Five kinds of error, each on its own line of the file (line numbers at the right).
campaign bad <<'LUA'
return {
  name = "bad",
  description = "Errors everywhere",
  module = "relate",
  colour = "blue",
  audience = everyone(),
  trigger = "every funday 09:00",
  journey = {
    { step = "hello", send("email", "hi"), wait = "3 fortnights" },
    { step = "bye", next = "nowhere" },
  },
  budget = { points = -5,
    per_customer = { points = 1.5 } },
  holdout = 0.7,
}
LUA
run campaign check "$TMP/bad.lua"
assert_status "check of a bad file" 1
B="$TMP/bad.lua"
assert_contains "unknown field, line 5" "$OUT" "$B:5: colour: unknown field"
assert_contains "bad schedule, line 7" "$OUT" "$B:7: trigger: 'every funday 09:00': 'funday' is not a day of the week"
assert_contains "bad journey wait, line 9" "$OUT" "$B:9: journey.wait: step \"hello\": '3 fortnights': the unit must be"
assert_contains "bad journey next, line 10" "$OUT" "$B:10: journey.next: step \"bye\": no step named \"nowhere\""
assert_contains "bad budget cap, line 12" "$OUT" "$B:12: budget.points: points must be a whole number, 0 or more"
assert_contains "bad per-customer cap, line 13" "$OUT" "$B:13: budget.per_customer.points: points must be a whole number"
assert_contains "bad holdout, line 14" "$OUT" "$B:14: holdout: the share of the audience held out, from 0 to 0.5"
assert_eq "seven errors, one line each" 7 "$(printf '%s\n' "$OUT" | grep -c "^$B:[0-9]*: ")"
assert_contains "the count on stderr" "$ERR" "bad.lua: 7 errors"
run campaign check --client k "$TMP/bad.lua"
assert_status "check --client of a bad file" 1
assert_contains "check --client: the same errors" "$OUT" "$B:14: holdout:"

# A Lua syntax error: a missing comma after line 3 shows at line 4.
printf 'return {\n  name = "x",\n  description = "y"\n  module = "relate",\n}\n' >"$TMP/syntax.lua"
run campaign check "$TMP/syntax.lua"
assert_status "check of a syntax error" 1
assert_contains "syntax error with its line" "$OUT" "$TMP/syntax.lua:4: '}' expected (to close '{' at line 1) near 'module'"
# An error raised by a word of the language, with its line (line 3).
printf 'return {\n  name = "x", description = "y", module = "feel",\n  audience = tier_at_least("diamond"),\n  actions = { tag("shiny") },\n}\n' \
  >"$TMP/diamond.lua"
run campaign check "$TMP/diamond.lua"
assert_status "check: a tier the default programme lacks" 1
assert_contains "the word's error and its line" "$OUT" "diamond.lua:3: tier_at_least(\"diamond\"): the loyalty plugin has no such tier"
# With --client, the check uses that client's settings: a client whose
# programme has a diamond tier makes the same file sound.
run client add dia
cat >"$H/clients/dia/config.lua" <<'LUA'
return { loyalty = { tiers = { { name = "member", min = 0 }, { name = "diamond", min = 1000 } } } }
LUA
run campaign check --client dia "$TMP/diamond.lua"
assert_status "check --client: the client's tiers" 0
assert_contains "sound for that client" "$OUT" "campaign x is sound: module feel, trigger once, 1 action, holdout 0%"

run campaign --help
assert_status "campaign --help" 0
assert_contains "help: the verbs" "$OUT" "report CAMPAIGN    treated against held out"
run campaign
assert_status "campaign without a verb" 2
assert_contains "usage" "$ERR" "usage: cxhost campaign check [--client NAME] FILE"
run campaign frob --client k x
assert_status "unknown verb" 2
run campaign run --client k "$TMP/sound.lua" extra
assert_status "too many arguments" 2
run campaign run "$TMP/sound.lua"
assert_status "run without --client" 2
assert_contains "which client" "$ERR" "give --client NAME"
run campaign start --client k --dry-run "$TMP/sound.lua"
assert_status "--dry-run with start" 2
assert_contains "--dry-run is for run" "$ERR" "--dry-run is for campaign run"
run campaign check "$TMP/nothing.lua"
assert_status "check of a missing file" 1
assert_contains "cannot read it" "$ERR" "nothing.lua: cannot read it"
run campaign run --client k --at yesterday "$TMP/sound.lua"
assert_status "run --at nonsense" 2

# =====================================================================
# 2. Triggers
# =====================================================================
# --- once, and a schedule run by hand with --at ---------------------------
# Client t: three customers, seen on 2 January 2026 (a Friday).
run client add t
ndjson t-visits.ndjson <<'EOF'
{"id":"v1","type":"visit","customer":"ann","at":"2026-01-02T10:00:00Z"}
{"id":"v2","type":"visit","customer":"bob","at":"2026-01-02T11:00:00Z"}
{"id":"v3","type":"visit","customer":"cat","at":"2026-01-02T12:00:00Z"}
EOF
run import --client t "$TMP/t-visits.ndjson"
assert_status "t: import" 0
campaign hello <<'LUA'
return {
  name = "hello", description = "Points for everyone, once", module = "relate",
  audience = everyone(),
  actions = { points(20) },
}
LUA
# once: 3 customers x 20 points = 60.
run campaign run --client t "$TMP/hello.lua" --at 2026-01-03T00:00:00Z
assert_status "once: run" 0
assert_contains "once: the run printed" "$OUT" "run 1 of hello for once: done"
assert_contains "once: 3 customers, 60 points" "$OUT" "acted for 3: 60 points, 0.00 money, 0 contacts"
assert_eq "once: ledger entries of the campaign" 3 \
  "$(q t "SELECT COUNT(*) AS n FROM ledger WHERE rule = 'campaign:hello' AND points = 20")"

campaign weekly <<'LUA'
return {
  name = "weekly", description = "A weekly thank-you", module = "relate",
  audience = everyone(),
  trigger = "every monday 09:00",
  actions = { points(10, { note = "weekly thanks" }) },
}
LUA
weekly_runs() {
  q t "SELECT COUNT(*) || ' ' || group_concat(period, ' ') || ' ' ||
    (SELECT COUNT(*) FROM campaign_actions a JOIN campaigns k ON k.id = a.campaign_id WHERE k.name = 'weekly') AS n
    FROM (SELECT period FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id WHERE k.name = 'weekly' ORDER BY r.id)"
}
# Wednesday 7 January 2026, 12:00: the slot is Monday 5 January, 09:00.
# (Run ids count over all campaigns: hello made run 1.)
run campaign run --client t "$TMP/weekly.lua" --at 2026-01-07T12:00:00Z
assert_status "schedule: run on a Wednesday" 0
assert_contains "schedule: Monday's slot" "$OUT" "run 2 of weekly for 2026-01-05T09:00Z: done"
assert_eq "schedule: one run, 3 actions" "1 2026-01-05T09:00Z 3" "$(weekly_runs)"
# Sunday 11 January, 23:00: still Monday 5 January's slot: nothing new.
run campaign run --client t "$TMP/weekly.lua" --at 2026-01-11T23:00:00Z
assert_status "schedule: same slot again" 0
assert_contains "schedule: same slot, already ran" "$OUT" "weekly already ran for 2026-01-05T09:00Z: nothing was done again"
assert_eq "schedule: still one run, 3 actions" "1 2026-01-05T09:00Z 3" "$(weekly_runs)"
# Monday 12 January 09:00 exactly: the next slot runs.
run campaign run --client t "$TMP/weekly.lua" --at 2026-01-12T09:00:00Z
assert_contains "schedule: the next slot" "$OUT" "run 3 of weekly for 2026-01-12T09:00Z: done"
assert_eq "schedule: two runs, 6 actions" "2 2026-01-05T09:00Z 2026-01-12T09:00Z 6" "$(weekly_runs)"

# --- an event trigger with a condition ------------------------------------
# A client plugin that fails on complaint c-3 and runs after the campaigns
# plugin (order 950 > 900): the campaign has acted for c-3 when it fails.
plugin t fussy.lua <<'LUA'
return {
  name = "fussy", version = "1.0", description = "fails on complaint c-3",
  events = { "complaint" }, order = 950,
  on_event = function(ev, ctx)
    if ev.id == "c-3" then error("fussy: cannot take complaint c-3") end
  end,
}
LUA
campaign care <<'LUA'
return {
  name = "care", description = "Points and an apology for serious complaints", module = "feel",
  audience = everyone(),
  trigger = event("complaint", function(ev, c) return (ev.data.severity or 0) >= 2 end),
  actions = { points(50), send("email", "sorry", function(c) return { severity = c.event.data.severity } end) },
}
LUA
run campaign run --client t "$TMP/care.lua"
assert_status "event trigger: run refused" 1
assert_contains "event trigger: start it instead" "$ERR" "care runs on events (event(\"complaint\")): register it with cxhost campaign start"
run campaign start --client t "$TMP/care.lua" --at 2026-01-03T00:00:00Z
assert_status "event trigger: start" 0
assert_contains "event trigger: started" "$OUT" "started care (event(\"complaint\"))"
# c-1 severity 3: acts. c-2 severity 1: the condition says no. c-3 severity
# 3, but fussy fails on it: rejected, and its actions go with it. c-4
# severity 2 (a new customer, dan): acts. p-1 is a purchase: not the trigger.
ndjson t-complaints.ndjson <<'EOF'
{"id":"c-1","type":"complaint","customer":"ann","at":"2026-01-04T10:00:00Z","severity":3}
{"id":"c-2","type":"complaint","customer":"bob","at":"2026-01-04T11:00:00Z","severity":1}
{"id":"c-3","type":"complaint","customer":"cat","at":"2026-01-04T12:00:00Z","severity":3}
{"id":"c-4","type":"complaint","customer":"dan","at":"2026-01-04T13:00:00Z","severity":2}
{"id":"p-1","type":"purchase","customer":"bob","at":"2026-01-04T14:00:00Z","amount":"3.00","severity":3}
EOF
run import --client t --skip-bad "$TMP/rejects.tsv" "$TMP/t-complaints.ndjson"
assert_status "event trigger: import with --skip-bad" 0
assert_contains "event trigger: c-3 rejected" "$OUT" "imported 4 new events"
assert_contains "event trigger: the reason" "$(cat "$TMP/rejects.tsv")" "fussy: cannot take complaint c-3"
care_actions() {
  q t "SELECT group_concat(x, ',') AS n FROM (SELECT e.external_id || ' ' || a.kind AS x FROM campaign_actions a
    JOIN campaigns k ON k.id = a.campaign_id JOIN events e ON e.id = a.event_id WHERE k.name = 'care' ORDER BY 1)"
}
# 2 customers x (points + send) = 4 actions, each in its event's transaction.
assert_eq "event trigger: actions by event" "c-1 points,c-1 send,c-4 points,c-4 send" "$(care_actions)"
assert_eq "event trigger: the outbox, vars from the event" '2 {"severity":2}' \
  "$(q t "SELECT COUNT(*) || ' ' || MAX(vars) FILTER (WHERE customer_id = (SELECT id FROM customers WHERE external_id = 'dan')) AS n
     FROM outbox WHERE template = 'sorry'")"
assert_eq "event trigger: all in the live run" "live live 4" \
  "$(q t "SELECT r.period || ' ' || r.status || ' ' || (SELECT COUNT(*) FROM campaign_actions a WHERE a.run_id = r.id) AS n
     FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id WHERE k.name = 'care'")"
# Without fussy, c-3 goes in and the campaign acts for it: it was the
# failure that took the campaign's actions back.
rm "$H/clients/t/plugins/fussy.lua"
run import --client t "$TMP/t-complaints.ndjson"
assert_contains "event trigger: c-3 again, alone" "$OUT" "imported 1 new event "
assert_eq "event trigger: now c-3 has its 2 actions" "c-1 points,c-1 send,c-3 points,c-3 send,c-4 points,c-4 send" \
  "$(care_actions)"

# --- enters(segment) -------------------------------------------------------
# Clients e and e2: a plugin (order 100, before campaigns) tags on vip_on and
# untags on vip_off. In e, vip-welcome enters on tagged("vip") with no cap;
# in e2, vip-once does the same with at most 100 points a customer (one
# welcome ever). (Two clients, not one: see the BUG below, a second start
# is not carried out while an enters campaign is started.)
campaign vip-welcome <<'LUA'
return {
  name = "vip-welcome", description = "Points on becoming a VIP", module = "relate",
  audience = everyone(),
  trigger = enters(tagged("vip")),
  actions = { points(100) },
}
LUA
campaign vip-once <<'LUA'
return {
  name = "vip-once", description = "Points on becoming a VIP, once a customer", module = "relate",
  audience = everyone(),
  trigger = enters(tagged("vip")),
  actions = { points(100) },
  budget = { per_customer = { points = 100 } },
}
LUA
ndjson e-before.ndjson <<'EOF'
{"id":"e1","type":"vip_on","customer":"ann","at":"2026-02-01T10:00:00Z"}
{"id":"e2","type":"visit","customer":"bob","at":"2026-02-01T11:00:00Z"}
EOF
# e3 bob enters; e4 ann, a VIP already at the start: no entry; e5 bob
# stays: nothing; e6 bob leaves; e7 bob enters again: vip-welcome acts again,
# vip-once is stopped by its per-customer cap (100 + 100 > 100).
ndjson e-after.ndjson <<'EOF'
{"id":"e3","type":"vip_on","customer":"bob","at":"2026-02-03T10:00:00Z"}
{"id":"e4","type":"vip_on","customer":"ann","at":"2026-02-03T11:00:00Z"}
{"id":"e5","type":"visit","customer":"bob","at":"2026-02-04T10:00:00Z"}
{"id":"e6","type":"vip_off","customer":"bob","at":"2026-02-05T10:00:00Z"}
{"id":"e7","type":"vip_on","customer":"bob","at":"2026-02-06T10:00:00Z"}
EOF
enters_actions() {   # CLIENT: "campaign customer event" of each action
  q "$1" "SELECT group_concat(x, ',') AS n FROM (SELECT k.name || ' ' || cu.external_id || ' ' || e.external_id AS x
    FROM campaign_actions a JOIN campaigns k ON k.id = a.campaign_id JOIN customers cu ON cu.id = a.customer_id
    JOIN events e ON e.id = a.event_id ORDER BY 1)"
}
for pair in e:vip-welcome e2:vip-once; do
  client=${pair%%:*} name=${pair#*:}
  run client add "$client"
  plugin "$client" vip.lua <<'LUA'
return {
  name = "vip", version = "1.0", description = "vip_on tags, vip_off untags",
  events = { "vip_on", "vip_off" }, order = 100,
  on_event = function(ev, ctx)
    if ev.type == "vip_on" then ctx.tag(ev.customer, "vip") else ctx.untag(ev.customer, "vip") end
  end,
}
LUA
  run import --client "$client" "$TMP/e-before.ndjson"
  run campaign start --client "$client" "$TMP/$name.lua" --at 2026-02-02T00:00:00Z
  assert_status "enters: start $name" 0
  assert_contains "enters: $name started" "$OUT" "started $name (enters(tagged(\"vip\")))"
  run import --client "$client" "$TMP/e-after.ndjson"
  assert_status "enters: import ($name)" 0
done
assert_eq "enters: bob on entering, and again on entering again" "vip-welcome bob e3,vip-welcome bob e7" "$(enters_actions e)"
assert_eq "enters: with a per-customer cap, once" "vip-once bob e3" "$(enters_actions e2)"
run explain --client e --event e7
assert_contains "enters: the re-entry, explained" "$OUT" "vip-welcome: bob entered tagged(\"vip\"): acted"
run explain --client e2 --event e7
assert_contains "enters: the cap, explained" "$OUT" "vip-once: bob entered tagged(\"vip\"): customer_cap"
run explain --client e --event e4
assert_not_contains "enters: ann, in at the start, does not enter" "$OUT" "vip-welcome"
# With an enters campaign started, the campaigns plugin takes every event
# type, runs of campaigns included: another campaign still runs (2 customers),
# and a stop stops.
run campaign run --client e "$TMP/hello.lua" --at 2026-02-07T00:00:00Z
assert_status "enters active: campaign run exits 0" 0
assert_eq "enters active: hello runs once" "1 1" \
  "$(q e "SELECT (SELECT COUNT(*) FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id WHERE k.name = 'hello')
     || ' ' || (SELECT COUNT(*) FROM events WHERE external_id = 'campaign:hello:once') AS n")"
assert_eq "enters active: hello reached its 2 customers" 2 \
  "$(q e "SELECT COUNT(*) AS n FROM campaign_actions a JOIN campaigns k ON k.id = a.campaign_id WHERE k.name = 'hello'")"
run campaign stop --client e vip-welcome --at 2026-02-07T00:00:00Z
assert_eq "enters active: stop says stopped" "stopped vip-welcome" "$OUT"
assert_eq "enters active: stopped" 0 \
  "$(q e "SELECT active AS n FROM campaigns WHERE name = 'vip-welcome'")"
# bob was a VIP when it stopped; he leaves while it is stopped (e8), it
# starts again, and his coming back (e9) is an entry: the start forgot the
# old marks of customers no longer in the segment.
printf '{"id":"e8","type":"vip_off","customer":"bob","at":"2026-02-08T10:00:00Z"}\n' >"$TMP/e8.ndjson"
printf '{"id":"e9","type":"vip_on","customer":"bob","at":"2026-02-10T10:00:00Z"}\n' >"$TMP/e9.ndjson"
run import --client e "$TMP/e8.ndjson"
run campaign start --client e "$TMP/vip-welcome.lua" --at 2026-02-09T00:00:00Z
assert_contains "enters: started again" "$OUT" "started vip-welcome"
run import --client e "$TMP/e9.ndjson"
assert_eq "enters: bob's return after a restart is an entry" \
  "hello ann campaign:hello:once,hello bob campaign:hello:once,vip-welcome bob e3,vip-welcome bob e7,vip-welcome bob e9" \
  "$(enters_actions e)"

# =====================================================================
# 3, 6, 7. A budget that runs out, a dry run, and a re-run
# =====================================================================
# Client b: five customers b1..b5 (first seen in that order). 100 points and
# a message each, 300 points in all: b1, b2 and b3 get them (300 spent); b4
# would make it 400, so the run stops there; b4 and b5 are not reached.
run client add b
for i in 1 2 3 4 5; do
  echo "{\"id\":\"v$i\",\"type\":\"visit\",\"customer\":\"b$i\",\"at\":\"2026-01-0${i}T10:00:00Z\"}"
done >"$TMP/b.ndjson"
run import --client b "$TMP/b.ndjson"
campaign budget <<'LUA'
return {
  name = "budget", description = "100 points each while the budget lasts", module = "relate",
  audience = everyone(),
  actions = { points(100), send("email", "gift", { points = 100 }) },
  budget = { points = 300, contacts = 10 },
}
LUA
store_sum() { sha256sum "$H/clients/$1/store.db" | cut -d' ' -f1; }
before_sum=$(store_sum b)
before=$(counts b)
# 7. The dry run: the audience (5), the holdout (none), 3 customers acted
# for before the points budget stops it, 3 of 10 contacts.
run campaign run --client b --dry-run "$TMP/budget.lua" --at 2026-01-10T00:00:00Z
assert_status "dry run" 0
assert_contains "dry run: audience" "$OUT" "audience  5 customers: everyone"
assert_contains "dry run: holdout" "$OUT" "holdout   0 (0% of the audience is held out), treated 3"
assert_contains "dry run: actions" "$OUT" "actions   for 3 customers: 300 points, 0.00 money, 3 contacts"
assert_contains "dry run: points budget" "$OUT" "  points    300 now, 0 before, of 300 (0 left after)"
assert_contains "dry run: contacts budget" "$OUT" "  contacts  3 now, 0 before, of 10 (7 left after)"
assert_contains "dry run: money, no cap" "$OUT" "  money     0.00 now, 0.00 before, no cap"
assert_contains "dry run: where it stops" "$OUT" "stops     the points budget of 300 would be exceeded: 300 spent, the next customer (b4) needs 100"
assert_contains "dry run: a sample" "$OUT" "sample
  b1: points(100)
  b1: send(\"email\", \"gift\")"
assert_contains "dry run: says so" "$OUT" "dry run: nothing was written"
assert_eq "dry run: no rows written" "$before" "$(counts b)"
assert_eq "dry run: the store file unchanged" "$before_sum" "$(store_sum b)"
assert_eq "dry run: no campaign row" 0 "$(q b 'SELECT COUNT(*) AS n FROM campaigns')"

# 3. The run itself.
run campaign run --client b "$TMP/budget.lua" --at 2026-01-10T00:00:00Z
assert_status "budget: run" 0
assert_contains "budget: status stopped" "$OUT" "run 1 of budget for once: stopped"
assert_contains "budget: 3 acted" "$OUT" "acted for 3: 300 points, 0.00 money, 3 contacts"
assert_contains "budget: why, and how many were not reached" "$OUT" \
  "stopped: the points budget of 300 would be exceeded: 300 spent, the next customer (b4) needs 100; 2 customers not reached"
assert_eq "budget: stored status" stopped "$(q b "SELECT status AS n FROM campaign_runs")"
assert_eq "budget: stats say which budget" points "$(run_stat b budget once budget)"
assert_eq "budget: stats say why" "the points budget of 300 would be exceeded: 300 spent, the next customer (b4) needs 100" \
  "$(run_stat b budget once stopped)"
assert_eq "budget: stats, not reached" 2 "$(run_stat b budget once not_reached)"
assert_eq "budget: exactly b1 b2 b3 got points" "b1 b2 b3" \
  "$(q b "SELECT group_concat(customer, ' ') AS n FROM (SELECT cu.external_id AS customer FROM ledger l
     JOIN customers cu ON cu.id = l.customer_id WHERE l.rule = 'campaign:budget' AND l.points = 100 ORDER BY 1)")"
assert_eq "budget: 300 points in all" 300 "$(q b "SELECT SUM(points) AS n FROM ledger WHERE rule = 'campaign:budget'")"
assert_eq "budget: 3 messages" 3 "$(q b "SELECT COUNT(*) AS n FROM outbox WHERE template = 'gift'")"
# The run's audience is the segment's 5, as the dry run printed, reached or not.
assert_eq "budget: stats audience (the segment)" 5 "$(run_stat b budget once audience)"
run check --client b
assert_status "budget: the store is consistent" 0
assert_contains "budget: check" "$OUT" "all hold"

# 6. The same period again (even at another time): the same event id, so
# nothing is done and no row changes.
before=$(counts b)
run campaign run --client b "$TMP/budget.lua" --at 2026-01-11T00:00:00Z
assert_status "re-run" 0
assert_contains "re-run: already ran" "$OUT" "budget already ran for once: nothing was done again"
assert_contains "re-run: the first run shown" "$OUT" "run 1 of budget for once: stopped"
assert_eq "re-run: actions ledger outbox events runs members unchanged" "$before" "$(counts b)"
# Another period: the budget is the campaign's, over all its runs, and is
# spent: b1, the first, stops it; all 5 are not reached.
run campaign run --client b "$TMP/budget.lua" --at 2026-01-11T00:00:00Z --period again
assert_contains "another period: stops at once" "$OUT" "the next customer (b1) needs 100; 5 customers not reached"
assert_eq "another period: still 300 points" 300 "$(q b "SELECT SUM(points) AS n FROM ledger WHERE rule = 'campaign:budget'")"

# =====================================================================
# 4. The frequency cap across campaigns
# =====================================================================
# Client f: at most 1 contact in 7 days (config.lua). Contacts count in the
# window (now - 7 days, now].
run client add f
echo 'return { campaigns = { frequency = { contacts = 1, days = 7 } } }' >"$H/clients/f/config.lua"
for i in 1 2 3 4; do
  echo "{\"id\":\"v$i\",\"type\":\"visit\",\"customer\":\"f$i\",\"at\":\"2026-03-01T10:00:00Z\"}"
done >"$TMP/f.ndjson"
run import --client f "$TMP/f.ndjson"
campaign first <<'LUA'
return {
  name = "first", description = "News for two", module = "think",
  audience = customers("f1", "f2"),
  actions = { send("email", "news") },
}
LUA
campaign second <<'LUA'
return {
  name = "second", description = "An offer for all", module = "act",
  audience = everyone(),
  actions = { send("email", "offer", nil, { value = "2.50" }) },
}
LUA
campaign loud <<'LUA'
return {
  name = "loud", description = "Its own, looser cap", module = "act",
  audience = everyone(),
  frequency = { contacts = 5, days = 7 },
  actions = { send("sms", "hey") },
}
LUA
# Monday 2 March 09:00: first contacts f1 and f2.
run campaign run --client f "$TMP/first.lua" --at 2026-03-02T09:00:00Z
assert_contains "frequency: first contacts 2" "$OUT" "acted for 2: 0 points, 0.00 money, 2 contacts"
# Thursday 5 March: second skips f1 and f2 (1 contact each, 3 days ago) and
# contacts f3, f4: 2 x 2.50 = 5.00.
run campaign run --client f "$TMP/second.lua" --at 2026-03-05T09:00:00Z
assert_contains "frequency: second acts for 2" "$OUT" "acted for 2: 0 points, 5.00 money, 2 contacts"
assert_contains "frequency: second skips 2" "$OUT" "skipped 0 over a per-customer cap, 2 over the frequency cap"
assert_eq "frequency: stats skipped_frequency" 2 "$(run_stat f second once skipped_frequency)"
assert_eq "frequency: second reached f3 f4" "f3 f4" "$(acted_for f second)"
# One second short of 7 days after first (9 March 08:59:59): f1, f2 still
# have first's contact, f3, f4 second's: all four skipped (a dry run).
run campaign run --client f --dry-run "$TMP/second.lua" --at 2026-03-09T08:59:59Z --period later
assert_contains "frequency: a second short of 7 days" "$OUT" \
  "skipped   0 over a per-customer cap, 4 over the frequency cap (1 contact in 7 days)"
# 7 days after first (9 March 09:00): first's contacts have left the
# window, so f1 and f2 are contacted; f3 and f4 (4 days ago) are not.
run campaign run --client f "$TMP/second.lua" --at 2026-03-09T09:00:00Z --period later
assert_contains "frequency: 7 days on, 2 acted" "$OUT" "acted for 2: 0 points, 5.00 money, 2 contacts"
assert_eq "frequency: 7 days on, f1 f2 contacted" "f1 f2" \
  "$(q f "SELECT group_concat(customer, ' ') AS n FROM (SELECT cu.external_id AS customer FROM campaign_actions a
     JOIN campaign_runs r ON r.id = a.run_id JOIN customers cu ON cu.id = a.customer_id WHERE r.period = 'later' ORDER BY 1)")"
assert_eq "frequency: 7 days on, skipped f3 f4" 2 "$(run_stat f second later skipped_frequency)"
# A campaign's own frequency replaces the client's: loud (5 in 7 days)
# reaches all four, who have 1 contact each in its window.
run campaign run --client f "$TMP/loud.lua" --at 2026-03-09T10:00:00Z
assert_contains "frequency: a campaign's own cap" "$OUT" "acted for 4: 0 points, 0.00 money, 4 contacts"

# =====================================================================
# 5. The holdout is stable
# =====================================================================
# Client h: h01..h20. The hash puts 7 of them below 0.3 for campaign
# "holdout" (h06 h10 h11 h14 h15 h17 h20): held out on every run; the
# other 13 are treated, 10 points each run.
run client add h
for i in $(seq -w 1 20); do
  echo "{\"id\":\"v$i\",\"type\":\"visit\",\"customer\":\"h$i\",\"at\":\"2026-04-01T08:00:00Z\"}"
done >"$TMP/h.ndjson"
run import --client h "$TMP/h.ndjson"
campaign holdout <<'LUA'
return {
  name = "holdout", description = "Daily points, with a holdout", module = "relate",
  audience = everyone(),
  trigger = "daily 09:00",
  actions = { points(10) },
  holdout = 0.3,
}
LUA
held_by_hash=$(cx eval --client h 'local out = {}
  for _, r in ipairs(cx.query("SELECT external_id AS c FROM customers ORDER BY external_id")) do
    if cx.campaign.bucket("holdout", r.c) < 0.3 then out[#out + 1] = r.c end
  end
  return table.concat(out, " ")')
assert_eq "holdout: the hash's choice" "h06 h10 h11 h14 h15 h17 h20" "$held_by_hash"
run campaign run --client h "$TMP/holdout.lua" --at 2026-04-01T10:00:00Z
assert_contains "holdout: first run" "$OUT" "audience 20, held out 7, treated 13"
run campaign run --client h "$TMP/holdout.lua" --at 2026-04-02T10:00:00Z
assert_contains "holdout: second run" "$OUT" "run 2 of holdout for 2026-04-02T09:00Z: done
  audience 20, held out 7, treated 13"
assert_eq "holdout: members held out" "$held_by_hash" \
  "$(q h "SELECT group_concat(c, ' ') AS n FROM (SELECT cu.external_id AS c FROM campaign_members m
     JOIN customers cu ON cu.id = m.customer_id WHERE m.arm = 'holdout' ORDER BY 1)")"
# Each run acted for the same 13 (none of the 7), so 26 actions in all.
per_run() {   # PERIOD: the customers acted for in that run
  q h "SELECT group_concat(c, ' ') AS n FROM (SELECT cu.external_id AS c FROM campaign_actions a
    JOIN campaign_runs r ON r.id = a.run_id JOIN customers cu ON cu.id = a.customer_id WHERE r.period = ?1 ORDER BY 1)" "$1"
}
treated="h01 h02 h03 h04 h05 h07 h08 h09 h12 h13 h16 h18 h19"
assert_eq "holdout: run 1 acted for the 13" "$treated" "$(per_run 2026-04-01T09:00Z)"
assert_eq "holdout: run 2 acted for the same 13" "$treated" "$(per_run 2026-04-02T09:00Z)"
assert_eq "holdout: held-out customers got nothing" 0 \
  "$(q h "SELECT COUNT(*) AS n FROM campaign_actions a JOIN campaign_members m
     ON m.campaign_id = a.campaign_id AND m.customer_id = a.customer_id WHERE m.arm = 'holdout'")"
assert_eq "holdout: and no points" 0 \
  "$(q h "SELECT COUNT(*) AS n FROM ledger l JOIN customers cu ON cu.id = l.customer_id
     WHERE l.rule = 'campaign:holdout' AND cu.external_id IN ('h06','h10','h11','h14','h15','h17','h20')")"
assert_eq "holdout: 26 actions" 26 "$(actions h holdout)"

# =====================================================================
# 8. The uplift report, computed by hand
# =====================================================================
# Client u: 30 customers chosen by the hash of campaign "uplift" at 0.3:
# 20 treated and 10 held out. The run is on 1 May 2026, 00:00 (entered_at);
# a response is a purchase in (1 May, 1 May + 30 days = 31 May 00:00].
#   treated: u01 u02 u03 u05 u07 u08 u09 u11 buy 25.00 on 10 May (8 of 20);
#            u12 bought on 20 April (before: no), u13 on 31 May 00:00:01
#            (a second late: no).
#   holdout: u04 buys 40.00 on 15 May (1 of 10); u06 on 15 June (no).
# Response rate: 8/20 = 0.40 against 1/10 = 0.10: +30.0 pts.
#   se = sqrt(0.4 * 0.6 / 20 + 0.1 * 0.9 / 10) = sqrt(0.012 + 0.009)
#      = sqrt(0.021) = 0.1449138; z * se = 1.959964 * 0.1449138 = 0.2840258
#   CI: 0.30 -+ 0.2840258 = 0.0159742 to 0.5840258: +1.6 pts to +58.4 pts.
# Revenue per customer (cents): treated 8 x 2500 = 20000 over 20 = 1000
# (10.00), sum of squares 8 x 2500^2 = 50,000,000; holdout 4000 over 10 =
# 400 (4.00), sum of squares 16,000,000. Difference 600 (+6.00).
#   var_t = (50,000,000 - 20000^2/20) / 19 = 30,000,000 / 19 = 1,578,947.37
#   var_h = (16,000,000 - 4000^2/10) / 9 = 14,400,000 / 9 = 1,600,000
#   se = sqrt(1,578,947.37 / 20 + 1,600,000 / 10) = sqrt(238,947.37) = 488.8224
#   z * se = 958.0744: CI 600 -+ 958.07 = -358.07 to 1558.07: -3.58 to +15.58.
run client add u
treated_u="u01 u02 u03 u05 u07 u08 u09 u11 u12 u13 u15 u17 u19 u22 u23 u25 u27 u29 u31 u32"
held_u="u04 u06 u10 u14 u16 u18 u20 u21 u24 u26"
for c in $treated_u $held_u; do
  echo "{\"id\":\"v-$c\",\"type\":\"visit\",\"customer\":\"$c\",\"at\":\"2026-04-01T10:00:00Z\"}"
done >"$TMP/u.ndjson"
run import --client u "$TMP/u.ndjson"
assert_eq "uplift: the hash holds out exactly these 10" "$held_u" \
  "$(cx eval --client u 'local out = {}
     for _, r in ipairs(cx.query("SELECT external_id AS c FROM customers ORDER BY external_id")) do
       if cx.campaign.bucket("uplift", r.c) < 0.3 then out[#out + 1] = r.c end
     end
     return table.concat(out, " ")')"
campaign uplift <<'LUA'
return {
  name = "uplift", description = "Does a gift bring them back?", module = "act",
  audience = everyone(),
  actions = { points(10), send("email", "gift") },
  holdout = 0.3,
}
LUA
run campaign report --client u uplift
assert_status "report before any run: no such campaign" 1
run campaign run --client u "$TMP/uplift.lua" --at 2026-05-01T00:00:00Z
assert_contains "uplift: the run" "$OUT" "audience 30, held out 10, treated 20"
{
  for c in u01 u02 u03 u05 u07 u08 u09 u11; do
    echo "{\"id\":\"p-$c\",\"type\":\"purchase\",\"customer\":\"$c\",\"at\":\"2026-05-10T12:00:00Z\",\"amount\":\"25.00\"}"
  done
  echo '{"id":"p-u12","type":"purchase","customer":"u12","at":"2026-04-20T12:00:00Z","amount":"99.00"}'
  echo '{"id":"p-u13","type":"purchase","customer":"u13","at":"2026-05-31T00:00:01Z","amount":"99.00"}'
  echo '{"id":"p-u04","type":"purchase","customer":"u04","at":"2026-05-15T12:00:00Z","amount":"40.00"}'
  echo '{"id":"p-u06","type":"purchase","customer":"u06","at":"2026-06-15T00:00:00Z","amount":"99.00"}'
} >"$TMP/u-purchases.ndjson"
run import --client u "$TMP/u-purchases.ndjson"
assert_status "uplift: purchases" 0
run campaign report --client u uplift
assert_status "uplift: report" 0
assert_contains "uplift: the window" "$OUT" "1 run, the last on 2026-05-01T00:00:00Z; a response is a purchase within 30 days of entering the campaign"
assert_contains "uplift: customers" "$OUT" "customers                        20           10"
assert_contains "uplift: responded" "$OUT" "responded                         8            1"
assert_contains "uplift: rates" "$OUT" "response rate                 40.0%        10.0%"
assert_contains "uplift: revenue per customer" "$OUT" "revenue per customer          10.00         4.00"
assert_contains "uplift: points given (20 x 10)" "$OUT" "points given                    200            0"
assert_contains "uplift: contacts" "$OUT" "contacts                         20            0"
assert_contains "uplift: the rate line" "$OUT" "uplift in response rate: +30.0 pts (95% CI +1.6 pts to +58.4 pts)"
assert_contains "uplift: the revenue line" "$OUT" "uplift in revenue per customer: +6.00 (95% CI -3.58 to +15.58)"
run campaign report --client u uplift --format json
assert_status "uplift: json" 0
json=$OUT
# A number from the JSON: json_num PATH.KEY, e.g. response_rate.low.
json_num() {
  local obj=${1%%.*} key=${1#*.}
  printf '%s' "$json" | grep -o "\"$obj\":{[^}]*}" | grep -o "\"$key\":[-0-9.e]*" | cut -d: -f2
}
near() {   # DESC WANT GOT: equal to 6 decimals
  assert_eq "$1" "$(awk -v x="$2" 'BEGIN { printf "%.6f", x }')" "$(awk -v x="$3" 'BEGIN { printf "%.6f", x }')"
}
hand=$(awk 'BEGIN { z = 1.959964
  se = sqrt(0.4 * 0.6 / 20 + 0.1 * 0.9 / 10); printf "%.10f %.10f %.10f ", se, 0.3 - z * se, 0.3 + z * se
  vt = (50000000 - 20000 * 20000 / 20) / 19; vh = (16000000 - 4000 * 4000 / 10) / 9
  se = sqrt(vt / 20 + vh / 10); printf "%.10f %.10f %.10f", se, 600 - z * se, 600 + z * se }')
read -r rse rlow rhigh mse mlow mhigh <<<"$hand"
assert_contains "json: treated" "$json" '"treated":{"contacts":20,"money_cents":0,"n":20,"points":200,"responded":8,"revenue":20000,'
assert_contains "json: holdout" "$json" '"holdout":{"contacts":0,"money_cents":0,"n":10,"points":0,"responded":1,"revenue":4000,'
assert_contains "json: the response" "$json" '"response":{"days":30,"event":"purchase"}'
near "json: rate_t" 0.4 "$(json_num response_rate.rate_t)"
near "json: rate_h" 0.1 "$(json_num response_rate.rate_h)"
near "json: rate diff" 0.3 "$(json_num response_rate.diff)"
near "json: rate se" "$rse" "$(json_num response_rate.se)"
near "json: rate low" "$rlow" "$(json_num response_rate.low)"
near "json: rate high" "$rhigh" "$(json_num response_rate.high)"
near "json: rate z" 1.959964 "$(json_num response_rate.z)"
near "json: mean_t (cents)" 1000 "$(json_num revenue_per_customer.mean_t)"
near "json: mean_h (cents)" 400 "$(json_num revenue_per_customer.mean_h)"
near "json: revenue diff" 600 "$(json_num revenue_per_customer.diff)"
near "json: revenue se" "$mse" "$(json_num revenue_per_customer.se)"
near "json: revenue low" "$mlow" "$(json_num revenue_per_customer.low)"
near "json: revenue high" "$mhigh" "$(json_num revenue_per_customer.high)"
# An unknown --format is a usage error.
run campaign report --client u uplift --format csv
assert_status "report --format csv: wrong usage" 2

# =====================================================================
# 10. A journey resumes in a later process
# =====================================================================
# Client j: a signup enters the journey: a welcome, 3 days, then a decision:
# a customer who answered a survey since entering gets "thanks", one who did
# not gets "call".
run client add j
campaign onboard <<'LUA'
return {
  name = "onboard", description = "Welcome, then thank or call", module = "relate",
  audience = everyone(),
  trigger = event("signup"),
  journey = {
    { step = "welcome", send("email", "welcome"), wait = "3 days" },
    { step = "check", decide = function(c) return c.answered("survey") and "thanks" or "call" end },
    { step = "thanks", send("email", "thanks"), stop = true },
    { step = "call", send("phone", "call") },
  },
}
LUA
run campaign check "$TMP/onboard.lua"
assert_contains "journey: check" "$OUT" "trigger event(\"signup\"), a journey of 4 steps, holdout 0%"
run campaign start --client j "$TMP/onboard.lua" --at 2026-03-01T00:00:00Z
assert_status "journey: start" 0
# jo answers a survey during the wait; kim does not; lee answered one the
# day before signing up, which does not count (not since the wait began).
ndjson j.ndjson <<'EOF'
{"id":"q0","type":"survey","customer":"lee","at":"2026-03-01T10:00:00Z","nps":9}
{"id":"s1","type":"signup","customer":"jo","at":"2026-03-02T10:00:00Z"}
{"id":"s2","type":"signup","customer":"kim","at":"2026-03-02T11:00:00Z"}
{"id":"s3","type":"signup","customer":"lee","at":"2026-03-02T12:00:00Z"}
{"id":"q1","type":"survey","customer":"jo","at":"2026-03-03T10:00:00Z","nps":9}
EOF
run import --client j "$TMP/j.ndjson"
assert_status "journey: import" 0
journeys() {
  q j "SELECT group_concat(x, ',') AS n FROM (SELECT cu.external_id || ' ' || COALESCE(j.step, '-') || ' ' ||
    COALESCE(j.due_at, '-') || ' ' || j.entered_at AS x FROM journeys j JOIN customers cu ON cu.id = j.customer_id ORDER BY 1)"
}
jo_in=$(epoch 2026-03-02T10:00:00Z)
kim_in=$(epoch 2026-03-02T11:00:00Z)
lee_in=$(epoch 2026-03-02T12:00:00Z)
jo_due=$(epoch 2026-03-05T10:00:00Z)
kim_due=$(epoch 2026-03-05T11:00:00Z)
lee_due=$(epoch 2026-03-05T12:00:00Z)
lee_wait="lee check $lee_due $lee_in"
# Each waits at "check", due 3 days after entering.
assert_eq "journey: waiting at check" "jo check $jo_due $jo_in,kim check $kim_due $kim_in,$lee_wait" "$(journeys)"
journey_sends() {
  q j "SELECT group_concat(x, ',') AS n FROM (SELECT cu.external_id || ' ' || o.channel || ' ' || o.template AS x
    FROM campaign_actions a JOIN outbox o ON o.id = json_extract(a.detail, '$.outbox')
    JOIN customers cu ON cu.id = a.customer_id ORDER BY a.id)"
}
assert_eq "journey: the welcomes" "jo email welcome,kim email welcome,lee email welcome" "$(journey_sends)"
# A refresh before the step is due (4 March) moves nothing.
run refresh --client j --as-of 2026-03-04T00:00:00Z
assert_status "journey: refresh, not due" 0
assert_eq "journey: still waiting" "jo check $jo_due $jo_in,kim check $kim_due $kim_in,$lee_wait" "$(journeys)"
# 5 March 10:30: jo's step is due (kim's at 11:00 is not): jo answered the
# survey, so "thanks", and the journey ends.
run refresh --client j --as-of 2026-03-05T10:30:00Z
assert_status "journey: refresh, jo due" 0
assert_eq "journey: jo done, kim and lee wait" "jo - - $jo_in,kim check $kim_due $kim_in,$lee_wait" "$(journeys)"
welcomes="jo email welcome,kim email welcome,lee email welcome"
assert_eq "journey: jo thanked" "$welcomes,jo email thanks" "$(journey_sends)"
run refresh --client j --as-of 2026-03-06T00:00:00Z
assert_eq "journey: all done" "jo - - $jo_in,kim - - $kim_in,lee - - $lee_in" "$(journeys)"
assert_eq "journey: kim (no survey) and lee (before the wait) get a call" \
  "$welcomes,jo email thanks,kim phone call,lee phone call" "$(journey_sends)"
assert_eq "journey: the steps' actions at the refreshes' times" \
  "$(epoch 2026-03-05T10:30:00Z) $(epoch 2026-03-06T00:00:00Z) $(epoch 2026-03-06T00:00:00Z)" \
  "$(q j "SELECT group_concat(at, ' ') AS n FROM (SELECT a.at FROM campaign_actions a WHERE a.id > 3 ORDER BY a.id)")"
# A journey is taken once: a second signup of jo does not start it again.
printf '{"id":"s4","type":"signup","customer":"jo","at":"2026-03-07T10:00:00Z"}\n' >"$TMP/j2.ndjson"
run import --client j "$TMP/j2.ndjson"
assert_eq "journey: taken once" 6 "$(actions j onboard)"

# =====================================================================
# 11. campaign list and campaign stop
# =====================================================================
run campaign list --client t
assert_status "list" 0
assert_match "list: the header" "$OUT" "^campaign +module +state +runs +trigger +last run"
assert_match "list: care, started, its live run" "$OUT" $'\n''care +feel +started +1  event\("complaint"\) +on events: live'
assert_match "list: hello, once" "$OUT" $'\n''hello +relate +- +1  once +once done'
assert_match "list: weekly, 2 runs" "$OUT" $'\n''weekly +relate +- +2  every monday 09:00 +2026-01-12T09:00Z done'
# A dry run of an event campaign: who it would act on, no run to project.
run campaign run --client t --dry-run "$TMP/care.lua"
assert_status "dry run of an event campaign" 0
assert_contains "dry run, event: the trigger" "$OUT" "trigger   event(\"complaint\"): it acts on each such event, once started"
assert_contains "dry run, event: the audience (ann bob cat dan)" "$OUT" "audience  4 customers now: everyone"
run campaign stop --client t care --at 2026-01-20T00:00:00Z
assert_status "stop" 0
assert_eq "stop: its line" "stopped care" "$OUT"
assert_eq "stop: inactive in the store" 0 "$(q t "SELECT active AS n FROM campaigns WHERE name = 'care'")"
run campaign list --client t
assert_match "list: care stopped, its live run ended" "$OUT" $'\n''care +feel +- +1  event\("complaint"\) +on events: ended'
# The ended live run's stats: 3 customers acted for (ann, cat, dan), 3 x 50
# points, 3 messages.
assert_eq "stop: the live run's stats" "ended 3 150 3" \
  "$(q t "SELECT r.status || ' ' || json_extract(r.stats, '$.acted') || ' ' || json_extract(r.stats, '$.points') || ' ' ||
     json_extract(r.stats, '$.contacts') AS n FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id WHERE k.name = 'care'")"
run campaign stop --client t care
assert_status "stop again" 0
assert_eq "stop again: not running" "care is not running" "$OUT"
run campaign stop --client t nobody
assert_status "stop of an unknown campaign" 1
assert_contains "stop: no such campaign" "$ERR" "client 't' has no campaign 'nobody'"
# A stopped event campaign no longer acts: a serious complaint after the stop.
printf '{"id":"c-9","type":"complaint","customer":"ann","at":"2026-01-21T10:00:00Z","severity":3}\n' >"$TMP/t-late.ndjson"
run import --client t "$TMP/t-late.ndjson"
assert_eq "stop: no action after it" "c-1 points,c-1 send,c-3 points,c-3 send,c-4 points,c-4 send" "$(care_actions)"
run client add empty
run campaign list --client empty
assert_eq "list: no campaigns" "client 'empty' has no campaigns yet" "$OUT"
# Start, stop, start at the same time: each is an event of its own (numbered
# by the campaign's revision), so the second start starts it again.
run campaign start --client t "$TMP/care.lua" --at 2026-01-03T00:00:00Z
assert_contains "start again at the first start's time: says started" "$OUT" "started care"
assert_eq "start again at the same time: started" 1 \
  "$(q t "SELECT active AS n FROM campaigns WHERE name = 'care'")"

# =====================================================================
# 9. Scheduled runs in `cxhost serve`
# =====================================================================
# Client sv: the service looks for due runs every 0.2 s; campaign "tick"
# runs every 2 seconds (slots at even Unix seconds, named to the second).
run client add sv
echo 'return { campaigns = { tick_seconds = 0.2 } }' >"$H/clients/sv/config.lua"
printf '{"id":"v1","type":"visit","customer":"sam","at":"2026-01-01T00:00:00Z"}\n' >"$TMP/sv.ndjson"
run import --client sv "$TMP/sv.ndjson"
campaign tick <<'LUA'
return {
  name = "tick", description = "A point every two seconds", module = "relate",
  audience = everyone(),
  trigger = "every 2 seconds",
  actions = { points(1) },
}
LUA
run campaign start --client sv "$TMP/tick.lua"
assert_status "serve: campaign start" 0
assert_match "serve: start names the next run" "$OUT" "next run [0-9-]+T[0-9:]+Z"
runs_sv() { q sv "SELECT COUNT(*) AS n FROM campaign_runs"; }
wait_runs() {   # N SECONDS: until there are at least N runs
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ "$(runs_sv)" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
slot_of() { epoch "$(q sv "SELECT period AS n FROM campaign_runs WHERE id = $1")"; }
if start_serve sv 127.0.0.1:0; then
  wait_runs 2 8
  assert_eq "serve: runs appear while it runs (2 or more)" yes "$([ "$(runs_sv)" -ge 2 ] && echo yes)"
  run campaign list --client sv
  assert_match "serve: list shows it started, next run" "$OUT" $'\n''tick +relate +started +[0-9]+  every 2 seconds, next '
  stop_serve INT
  assert_eq "serve: exit 0" 0 "$SERVE_RC"
fi
# Every run was of its own slot, each point in the ledger once.
assert_eq "serve: one action per run" "$(runs_sv)" "$(actions sv tick)"
last_id=$(q sv "SELECT MAX(id) AS n FROM campaign_runs")
last_slot=$(slot_of "$last_id")
# Down for more than two slots: until 6 s after the last run's slot (the
# slots +2 s and +4 s are missed), then start again just after a slot begins
# (so that the next one is ~2 s away), and stop the campaign as soon as the
# missed run has been made.
while (( $(date +%s) < last_slot + 6 )); do sleep 0.1; done
while (( $(date +%s%N) / 1000000 % 2000 < 100 || $(date +%s%N) / 1000000 % 2000 > 600 )); do sleep 0.05; done
if start_serve sv 127.0.0.1:0; then
  wait_runs $((last_id + 1)) 5
  run campaign stop --client sv tick
  assert_eq "serve: campaign stop" "stopped tick" "$OUT"
  after_restart=$(runs_sv)
  assert_eq "serve: exactly one run at the restart" $((last_id + 1)) "$after_restart"
  new_slot=$(slot_of "$after_restart")
  new_at=$(q sv "SELECT started_at AS n FROM campaign_runs WHERE id = $after_restart")
  # The one run is the latest slot (at most 2 s before it ran), and it came
  # after at least two missed slots (6 s or more after the last run's slot).
  assert_eq "serve: the run is the latest slot" yes "$([ $((new_at - new_slot)) -ge 0 ] && [ $((new_at - new_slot)) -lt 2 ] && echo yes)"
  assert_eq "serve: two or more slots were missed" yes "$([ $((new_slot - last_slot)) -ge 6 ] && echo yes)"
  for ((i = 0; i < 50; i++)); do
    grep -q "campaigns started or stopped" "$SERVE_LOG" && break
    sleep 0.1
  done
  assert_match "serve: reloaded on the stop" "$(cat "$SERVE_LOG")" "reloaded config.lua and [0-9]+ plugins \(campaigns started or stopped\)"
  sleep 2.5
  assert_eq "serve: no run after the stop (a slot later)" "$after_restart" "$(runs_sv)"
  stop_serve INT
  assert_eq "serve: exit 0 again" 0 "$SERVE_RC"
fi
run check --client sv
assert_status "serve: the store is consistent" 0

finish
