#!/usr/bin/env bash
# test_plugins.sh: client plugins beside and instead of the built-ins, the
# events filter, the run order, a failing hook (the import taken back, or
# with --skip-bad just the one event), and plugin/config load errors.
. "$(dirname "$0")/lib.sh"

# A small CSV: 4 purchases and 2 visits of 4 customers.
cat >"$TMP/ev.csv" <<'CSV'
id,type,customer,at,amount
e1,purchase,c1,2024-01-01,10.00
e2,purchase,c2,2024-01-02,20.00
e3,purchase,c3,2024-01-03,30.00
e4,purchase,c4,2024-01-04,40.00
v1,visit,c1,2024-01-05,
v2,visit,c5,2024-01-06,
CSV

# --- a client plugin replaces the built-in lifecycle --------------------------------------
cx client add ov >/dev/null
plugin ov lifecycle.lua <<'LUA'
return {
  name = "lifecycle",
  version = "9.9",
  description = "the client's own lifecycle",
  on_event = function(ev, ctx)
    if ev.customer then ctx.fact_set(ev.customer, "stage", "custom") end
  end,
}
LUA
run plugins --client ov
assert_status "plugins (override)" 0
line=$(grep '^lifecycle ' <<<"$OUT")
assert_eq "plugins lists lifecycle once" "1" "$(grep -c '^lifecycle ' <<<"$OUT")"
assert_contains "the override is the client's" "$line" "client"
assert_contains "the override's version" "$line" "9.9"
assert_contains "the override's file" "$line" "clients/ov/plugins/lifecycle.lua"
assert_contains "the override is marked" "$line" "(replaces the built-in)"
assert_eq "cx.plugins() agrees" "lifecycle client 9.9" \
  "$(cx eval --client ov 'for _, p in ipairs(cx.plugins()) do if p.name == "lifecycle" then return p.name .. " " .. p.origin .. " " .. p.version end end')"
run import --client ov "$TMP/ev.csv"
assert_status "import with the override" 0
assert_eq "the override set stage=custom for every customer" "5" \
  "$(q ov "SELECT COUNT(*) AS n FROM customer_facts WHERE plugin = 'lifecycle' AND name = 'stage' AND value = 'custom'")"
assert_eq "the built-in did not run (no purchase_count)" "0" \
  "$(q ov "SELECT COUNT(*) AS n FROM customer_facts WHERE name = 'purchase_count'")"
assert_eq "the override's facts are the only lifecycle facts" "5" \
  "$(q ov "SELECT COUNT(*) AS n FROM customer_facts WHERE plugin = 'lifecycle'")"

# --- a new plugin beside the built-ins; events filter; order ---------------------------------
cx client add fo >/dev/null
plugin fo counter.lua <<'LUA'
-- counts purchases only
return {
  name = "counter",
  version = "1",
  events = { "purchase" },
  on_event = function(ev, ctx)
    ctx.fact_set(ev.customer, "purchases_seen", (ctx.fact(ev.customer, "purchases_seen") or 0) + 1)
    ctx.fact_set(ev.customer, "trail", (ctx.fact(ev.customer, "trail", "beta") or "-") .. ",counter")
    ctx.tag(ev.customer, "buyer")
  end,
}
LUA
plugin fo zeta.lua <<'LUA'
return {
  name = "zeta", version = "1", order = 1,
  on_event = function(ev, ctx)
    if ev.customer then
      -- runs before lifecycle (order 10): on a customer's first event there is no stage yet
      ctx.fact_set(ev.customer, "stage_before", ctx.fact(ev.customer, "stage", "lifecycle") or "none")
      ctx.fact_set(ev.customer, "trail", "zeta")
    end
  end,
}
LUA
plugin fo beta.lua <<'LUA'
return {
  name = "beta", version = "1", order = 50,
  on_event = function(ev, ctx)
    if ev.customer then
      ctx.fact_set(ev.customer, "seen", ev.id)
      ctx.fact_set(ev.customer, "trail", (ctx.fact(ev.customer, "trail", "alpha") or "-") .. ",beta")
    end
  end,
}
LUA
plugin fo alpha.lua <<'LUA'
return {
  name = "alpha", version = "1", order = 50,
  on_event = function(ev, ctx)
    if ev.customer then
      -- runs after lifecycle and zeta: sees both
      ctx.fact_set(ev.customer, "saw", (ctx.fact(ev.customer, "stage_before", "zeta") or "-") .. "/" ..
        (ctx.fact(ev.customer, "stage", "lifecycle") or "-"))
      ctx.fact_set(ev.customer, "trail", (ctx.fact(ev.customer, "trail", "zeta") or "-") .. ",alpha")
    end
  end,
}
LUA
run plugins --client fo
assert_status "plugins (five)" 0
assert_eq "plugins in run order: order, then name" "zeta lifecycle sense feel think act relate loyalty refund alpha beta counter campaigns" \
  "$(awk 'NR > 1 { printf "%s%s", sep, $1; sep = " " }' <<<"$OUT")"
assert_contains "counter is a client plugin with the default order 100" "$(grep '^counter ' <<<"$OUT")" "client      100"
assert_contains "lifecycle stays built-in" "$(grep '^lifecycle ' <<<"$OUT")" "built-in"
assert_not_contains "nothing replaces a built-in here" "$OUT" "replaces"

run import --client fo "$TMP/ev.csv"
assert_status "import with five plugins" 0
assert_eq "counter ran on purchases only (c1: e1, not v1)" "1" \
  "$(q fo "SELECT f.value AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
           WHERE c.external_id = 'c1' AND f.plugin = 'counter' AND f.name = 'purchases_seen'")"
assert_eq "counter: no fact for the visit-only customer c5" "0" \
  "$(q fo "SELECT COUNT(*) AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
           WHERE c.external_id = 'c5' AND f.plugin = 'counter'")"
# A customer's facts are one row: its event is the latest that changed any of
# them (c1's visit v1 changed act's, after counter's purchase e1).
assert_eq "counter: its facts name it and the latest event that changed c1's facts" "counter v1" \
  "$(cx eval --client fo 'local r = cx.query([[SELECT f.plugin, e.external_id FROM customer_facts f
       JOIN customers c ON c.id = f.customer_id JOIN events e ON e.id = f.event_id
       WHERE c.external_id = ?1 AND f.name = ?2]], "c1", "purchases_seen")[1] return r.plugin .. " " .. r.external_id')"
assert_eq "counter: one tag audit row per customer tagged (only changes are audited)" "4" \
  "$(q fo "SELECT COUNT(*) AS n FROM audit WHERE plugin = 'counter' AND effect = 'tag'")"
assert_eq "counter: tag audit rows name purchases only" "purchase" \
  "$(q fo "SELECT group_concat(DISTINCT e.type) AS n FROM audit a JOIN events e ON e.id = a.event_id WHERE a.plugin = 'counter'")"
assert_eq "counter: tags" "4" "$(q fo "SELECT COUNT(*) AS n FROM customer_tags WHERE tag = 'buyer' AND plugin = 'counter'")"
assert_eq "the plugins ran in order: zeta, alpha, beta, counter" "zeta,alpha,beta,counter" \
  "$(q fo "SELECT f.value AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
           WHERE c.external_id = 'c2' AND f.plugin = 'counter' AND f.name = 'trail'")"
assert_eq "on a visit counter does not run: beta's trail is the last" "zeta,alpha,beta" \
  "$(q fo "SELECT f.value AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
           WHERE c.external_id = 'c5' AND f.plugin = 'beta' AND f.name = 'trail'")"
assert_eq "zeta ran before lifecycle on c2's first event" "none" \
  "$(q fo "SELECT f.value AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
           WHERE c.external_id = 'c2' AND f.plugin = 'zeta' AND f.name = 'stage_before'")"
assert_eq "alpha ran after zeta and lifecycle" "none/new" \
  "$(q fo "SELECT f.value AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
           WHERE c.external_id = 'c2' AND f.plugin = 'alpha' AND f.name = 'saw'")"
assert_eq "zeta saw c1's stage from e1 when v1 came" "new" \
  "$(q fo "SELECT f.value AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
           WHERE c.external_id = 'c1' AND f.plugin = 'zeta' AND f.name = 'stage_before'")"
assert_eq "cx.customer shows every plugin's facts" "1 c1/v1 new" \
  "$(cx eval --client fo 'local c = cx.customer("c1") return c.facts.counter.purchases_seen .. " " .. c.id .. "/" .. c.facts.beta.seen .. " " .. c.facts.zeta.stage_before')"
assert_eq "cx.customer shows tags" "buyer" "$(cx eval --client fo 'return table.concat(cx.customer("c1").tags, ",")')"

# --- a plugin that fails on the 3rd event -------------------------------------------------------
cx client add bad >/dev/null
plugin bad bad.lua <<'LUA'
local n = 0
return { name = "bad", version = "1",
  on_event = function(ev, ctx)
    n = n + 1
    if n == 3 then error("third event refused") end
    if ev.customer then
      ctx.fact_set(ev.customer, "seen", ev.id)
      ctx.tag(ev.customer, "seen_by_bad")
    end
  end }
LUA
sum=$(sha256sum <"$H/clients/bad/store.db")
run import --client bad "$TMP/ev.csv"
assert_status "a failing plugin fails the import" 1
assert_contains "the error names the plugin" "$ERR" "plugin 'bad'"
assert_match "the error names the hook" "$ERR" "hook:? on_event"
assert_contains "the error names the plugin file and line" "$ERR" "clients/bad/plugins/bad.lua:5:"
assert_contains "the error has the plugin's message" "$ERR" "third event refused"
assert_contains "the error names the event" "$ERR" "e3"
assert_contains "the error has a traceback" "$ERR" "stack traceback"
assert_contains "the error says the import was taken back" "$ERR" "taken back"
assert_eq "a failing plugin: no events" "0" "$(q bad 'SELECT COUNT(*) AS n FROM events')"
assert_eq "a failing plugin: no customers" "0" "$(q bad 'SELECT COUNT(*) AS n FROM customers')"
assert_eq "a failing plugin: no facts" "0" "$(q bad 'SELECT COUNT(*) AS n FROM customer_facts')"
assert_eq "a failing plugin: no audit rows" "0" "$(q bad 'SELECT COUNT(*) AS n FROM audit')"
assert_eq "a failing plugin: no import recorded" "0" "$(q bad 'SELECT COUNT(*) AS n FROM imports')"
assert_eq "a failing plugin: store.db unchanged" "$sum" "$(sha256sum <"$H/clients/bad/store.db")"

run import --client bad --skip-bad "$TMP/bad-rejects.txt" "$TMP/ev.csv"
assert_status "a failing plugin with --skip-bad" 0
assert_contains "--skip-bad: 5 imported, 1 rejected" "$OUT" "imported 5 new events"
assert_eq "--skip-bad: the failing event alone is missing" "e1,e2,e4,v1,v2" \
  "$(q bad "SELECT group_concat(external_id) AS n FROM (SELECT external_id FROM events ORDER BY 1)")"
assert_eq "--skip-bad: its customer was taken back too" "0" \
  "$(q bad "SELECT COUNT(*) AS n FROM customers WHERE external_id = 'c3'")"
assert_eq "--skip-bad: no facts for the failed event's customer" "0" \
  "$(q bad "SELECT COUNT(*) AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id WHERE c.external_id = 'c3'")"
assert_eq "--skip-bad: the other events' effects are there (bad plugin)" "c1:v1,c2:e2,c4:e4,c5:v2" \
  "$(q bad "SELECT group_concat(c.external_id || ':' || f.value) AS n FROM (SELECT * FROM customer_facts WHERE plugin = 'bad' ORDER BY customer_id) f
           JOIN customers c ON c.id = f.customer_id")"
assert_eq "--skip-bad: the other events' effects are there (lifecycle)" "3" \
  "$(q bad "SELECT COUNT(*) AS n FROM lifecycle WHERE purchase_count = 1")"
assert_eq "--skip-bad: the other events' tags (audited) are there" "c1,c2,c4,c5" \
  "$(q bad "SELECT group_concat(c.external_id) AS n FROM (SELECT a.customer_id FROM audit a WHERE a.plugin = 'bad' AND a.effect = 'tag'
           ORDER BY a.customer_id) a JOIN customers c ON c.id = a.customer_id")"
assert_eq "--skip-bad: no fact points at a missing event" "0" \
  "$(q bad "SELECT COUNT(*) AS n FROM customer_facts f WHERE f.event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = f.event_id)")"
assert_eq "--skip-bad: no audit row points at a missing event" "0" \
  "$(q bad "SELECT COUNT(*) AS n FROM audit a WHERE a.event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = a.event_id)")"
IFS=$'\t' read -r r_line r_reason r_raw <"$TMP/bad-rejects.txt"
assert_eq "--skip-bad: reject line number" "4" "$r_line"
assert_eq "--skip-bad: reject raw text" "e3,purchase,c3,2024-01-03,30.00" "$r_raw"
assert_contains "--skip-bad: reject reason names the plugin" "$r_reason" "plugin 'bad'"
assert_eq "--skip-bad: one reject line" "1" "$(wc -l <"$TMP/bad-rejects.txt" | tr -d ' ')"

# A failing on_refresh takes the whole import back, even with --skip-bad.
cx client add rf >/dev/null
plugin rf late.lua <<'LUA'
return { name = "late", version = "1",
  on_refresh = function(ctx, as_of) error("refresh refused at " .. as_of) end }
LUA
run import --client rf --skip-bad "$TMP/rf-rejects.txt" "$TMP/ev.csv"
assert_status "a failing on_refresh fails the import" 1
assert_match "on_refresh failure names the hook" "$ERR" "hook:? on_refresh"
assert_contains "on_refresh failure names the file and line" "$ERR" "clients/rf/plugins/late.lua:2:"
assert_eq "on_refresh failure: nothing imported" "0" "$(q rf 'SELECT COUNT(*) AS n FROM events')"
run refresh --client rf
assert_status "cxhost refresh with a failing on_refresh (empty store: nothing to do)" 0

# Plugins may not write outside a hook, nor feed events back in.
cx client add rules >/dev/null
plugin rules loop.lua <<'LUA'
return { name = "loop", version = "1",
  on_event = function(ev, ctx)
    if ev.id == "e2" then cx.ingest { id = ev.id .. "-again", type = "purchase", at = ev.at } end
  end }
LUA
run import --client rules "$TMP/ev.csv"
assert_status "cx.ingest from a hook" 1
assert_contains "cx.ingest from a hook is refused" "$ERR" "cx.ingest cannot be called from a plugin hook"
assert_eq "cx.ingest from a hook: nothing imported" "0" "$(q rules 'SELECT COUNT(*) AS n FROM events')"
plugin rules loop.lua <<'LUA'
return { name = "loop", version = "1",
  on_load = function(ctx) ctx.fact_set("c1", "x", 1) end }
LUA
run eval --client rules 'return 1'
assert_status "effects in on_load" 1
assert_contains "effects in on_load are refused" "$ERR" "on_load"
plugin rules loop.lua <<'LUA'
return { name = "loop", version = "1",
  on_event = function(ev, ctx) ctx.fact_set("nobody-" .. ev.id, "x", 1) end }
LUA
run import --client rules "$TMP/ev.csv"
assert_status "a fact about an unknown customer" 1
assert_contains "a fact about an unknown customer names it" "$ERR" "no customer 'nobody-e1'"

# print and ctx.log in a hook go to stderr, prefixed with client and plugin.
plugin rules loop.lua <<'LUA'
return { name = "loop", version = "1", events = { "visit" },
  on_event = function(ev, ctx) print("printed " .. ev.id) ctx.log("logged", ev.id, 42) end }
LUA
run import --client rules "$TMP/ev.csv"
assert_status "import with a printing plugin" 0
assert_contains "print in a hook goes to stderr" "$ERR" "rules/"
assert_contains "print in a hook: the line" "$ERR" "printed v1"
assert_contains "ctx.log: client/plugin: text" "$ERR" "rules/loop: logged v1 42"
assert_not_contains "print in a hook stays off stdout" "$OUT" "printed"

# --- load errors ---------------------------------------------------------------------------------
cx client add ld >/dev/null
P=$H/clients/ld/plugins
mkdir -p "$P"
# load_error DESC FILE_TEXT [CONFIG_TEXT] -- NEEDLES...
load_error() {
  local desc=$1 text=$2 config=$3
  shift 4
  rm -f "$P"/*.lua "$H/clients/ld/config.lua"
  printf '%s\n' "$text" >"$P/p.lua"
  [ -n "$config" ] && printf '%s\n' "$config" >"$H/clients/ld/config.lua"
  run plugins --client ld
  assert_status "$desc: cxhost plugins" 1
  local needle
  for needle in "$@"; do
    assert_contains "$desc: the message names $needle" "$ERR" "$needle"
  done
  run eval --client ld 'return 1'
  assert_status "$desc: cxhost eval fails too" 1
  run import --client ld "$TMP/ev.csv"
  assert_status "$desc: cxhost import fails too" 1
  assert_eq "$desc: nothing imported" "0" "$(rm -f "$P"/*.lua "$H/clients/ld/config.lua"; q ld 'SELECT COUNT(*) AS n FROM events')"
}
GOOD='return { name = "p", version = "1", defaults = { limit = 5, label = "x" } }'
load_error "syntax error" $'return { name = "p", version = "1",\n  on_event = function(ev, ctx) if then end end }' "" -- \
  "clients/ld/plugins/p.lua:2:" "near 'then'"
load_error "a runtime error while loading" $'local x\nx.y = 1\nreturn {}' "" -- \
  "clients/ld/plugins/p.lua:2:" "attempt to index"
load_error "a non-table" 'return 42' "" -- "clients/ld/plugins/p.lua" "must return a table"
load_error "nothing returned" 'local x = 1' "" -- "clients/ld/plugins/p.lua" "must return a table"
load_error "missing name" 'return { version = "1" }' "" -- "clients/ld/plugins/p.lua" "name"
load_error "a name that is not a word" 'return { name = "My Plugin", version = "1" }' "" -- "clients/ld/plugins/p.lua" "name"
load_error "missing version" 'return { name = "p" }' "" -- "clients/ld/plugins/p.lua" "version"
load_error "unknown hook on_evnt" 'return { name = "p", version = "1", on_evnt = function() end }' "" -- \
  "clients/ld/plugins/p.lua" "unknown hook 'on_evnt'"
load_error "a hook that is not a function" 'return { name = "p", version = "1", on_event = "yes" }' "" -- \
  "clients/ld/plugins/p.lua" "on_event"
load_error "events not a list" 'return { name = "p", version = "1", events = "purchase" }' "" -- "events"
load_error "order not a whole number" 'return { name = "p", version = "1", order = 1.5 }' "" -- "order"
load_error "on_load error" $'return { name = "p", version = "1",\n  on_load = function(ctx) error("not configured") end }' "" -- \
  "on_load" "clients/ld/plugins/p.lua:2:" "not configured"
load_error "config: wrong type for a setting" "$GOOD" 'return { p = { limit = "ten" } }' -- "config.lua" "p.limit" "number"
load_error "config: unknown setting" "$GOOD" 'return { p = { limt = 6 } }' -- "config.lua" "p.limt"
load_error "config: a built-in's setting of the wrong type" "$GOOD" 'return { lifecycle = { lapsed_days = "365" } }' -- \
  "config.lua" "lifecycle.lapsed_days"
load_error "config: a built-in's unknown setting" "$GOOD" 'return { lifecycle = { lapsed_dayz = 3 } }' -- \
  "config.lua" "lifecycle.lapsed_dayz"
load_error "config: settings that are not a table" "$GOOD" 'return { p = 5 }' -- "config.lua" "p"
load_error "config: lifecycle's own check (lapsing >= lapsed)" "$GOOD" 'return { lifecycle = { lapsing_days = 400 } }' -- \
  "lifecycle" "lapsing_days must be less than lapsed_days"
load_error "config: syntax error" "$GOOD" $'return {\n  p = { limit = }\n}' -- "clients/ld/config.lua:2:"
load_error "config: not a table" "$GOOD" 'return "yes"' -- "clients/ld/config.lua" "table"
# Two client plugins with the same name.
printf '%s\n' "$GOOD" >"$P/p.lua"
printf '%s\n' "$GOOD" >"$P/q.lua"
run plugins --client ld
assert_status "two client plugins named p" 1
assert_contains "two client plugins named p: both files named" "$ERR" "clients/ld/plugins/q.lua"
assert_contains "two client plugins named p: the first file named" "$ERR" "clients/ld/plugins/p.lua"
rm -f "$P/q.lua"
# Settings for a plugin that is not loaded are most likely a typo (the
# built-ins' own names are checked the same way as their settings): refused,
# naming config.lua and the key. Last of the load errors: if it is accepted,
# the events it imports stay.
load_error "config: settings for a plugin that is not there (a typo)" "$GOOD" 'return { lifecyle = { lapsed_days = 200 } }' -- \
  "config.lua" "lifecyle"

# Only *.lua files count; a good config is taken.
cx client add ok >/dev/null
P=$H/clients/ok/plugins
mkdir -p "$P"
printf 'not lua at all' >"$P/notes.txt"
printf '%s\n' 'return { p = { limit = 7 } }' >"$H/clients/ok/config.lua"
printf '%s\n' 'return { name = "p", version = "1", defaults = { limit = 5 },
  on_event = function(ev, ctx) if ev.customer then ctx.fact_set(ev.customer, "limit", ctx.config.limit) end end }' >"$P/p.lua"
run import --client ok "$TMP/ev.csv"
assert_status "a plugin with a config setting" 0
assert_eq "ctx.config has the client's setting" "7" \
  "$(q ok "SELECT MIN(value) AS n FROM customer_facts WHERE plugin = 'p' AND name = 'limit'")"

finish
