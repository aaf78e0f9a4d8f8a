#!/usr/bin/env bash
# test_sandbox.sh: every closed door of the Lua sandbox, one case each.
#
# Each case runs with `cxhost eval` and must end with exit status exactly 1
# (not a crash, not a signal, not a hang) and a message that says what was
# refused; a follow-up `cxhost eval` must work. Some cases also run inside a
# plugin's on_event during an import, which must then fail naming the plugin
# and import nothing. Then: isolation between sandboxes (globals, library
# tables), read-only cx.query, and the limits of config.lua.
. "$(dirname "$0")/lib.sh"

cx client add sb >/dev/null
printf 'id,type,customer,at,amount\ns-1,purchase,c1,2024-01-01,1.00\n' >"$TMP/one.csv"
touch "$TMP/victim"

follow_up() {   # DESC: the host still works after the case
  local out
  out=$("$CXHOST" --home "$H" eval --client sb 'return 1 + 1' 2>&1)
  assert_eq "$1: a follow-up eval works" "2" "$out"
}

# Every case: NAME | Lua code | text the message must contain | "plugin" to run it in a hook too
# (Cases known to hang a broken build get a short time limit, see TIMEOUT below.)
cases=(
  "io|io.write('x')|undefined global 'io'|plugin"
  "io via _G|_G.io.open('/etc/passwd')|undefined global 'io'|"
  "os.execute|os.execute('touch $TMP/pwned')|execute|plugin"
  "os.remove|os.remove('$TMP/victim')|remove|"
  "os.rename|os.rename('$TMP/victim', '$TMP/moved')|rename|"
  "os.getenv|return os.getenv('HOME')|getenv|"
  "os.exit|os.exit(0)|exit|plugin"
  "os.tmpname|return os.tmpname()|tmpname|"
  "debug|debug.sethook()|undefined global 'debug'|plugin"
  "package|return package.loaded|undefined global 'package'|"
  "require|require('os')|undefined global 'require'|plugin"
  "dofile|dofile('/etc/passwd')|undefined global 'dofile'|"
  "loadfile|loadfile('/etc/passwd')|undefined global 'loadfile'|"
  "load of a binary chunk|assert(load('\\27LuaT\\0\\25\\147\\13\\10\\26\\10'))|binary chunk|plugin"
  "load of a binary chunk, mode b|assert(load('\\27LuaT\\0\\25\\147\\13\\10\\26\\10', 'x', 'b'))|binary chunk|"
  "load runs in the sandbox|return load('return io')()|undefined global 'io'|"
  "string.dump|return string.dump(print)|dump|plugin"
  "string.dump through a string|return ('').dump(print)|dump|"
  "getmetatable of strings|return getmetatable('').__index|attempt to index|plugin"
  "the sandbox's metatable|setmetatable(_G, nil)|protected metatable|"
  "collectgarbage stop|collectgarbage('stop')|invalid option 'stop'|plugin"
  "collectgarbage generational|collectgarbage('generational')|invalid option 'generational'|"
  "an undefined global|return undefined_thing + 1|undefined global 'undefined_thing'|"
  "infinite loop|while true do end|instruction budget|plugin"
  "infinite loop in pcall in a loop|while true do pcall(function() while true do end end) end|instruction budget|plugin"
  "pcall of the budget error swallowed in a loop|local n = 0 while true do n = n + 1 pcall(error, 'x') end|instruction budget|"
  "infinite loop in a coroutine|local co = coroutine.wrap(function() while true do end end) co()|instruction budget|plugin"
  "coroutine ping-pong|local co = coroutine.create(function() while true do coroutine.yield() end end) while true do coroutine.resume(co) end|instruction budget|"
  "infinite loop in pcall in a coroutine|local co = coroutine.wrap(function() while true do pcall(function() while true do end end) end end) co()|instruction budget|"
  "infinite loop in a __close|local t = setmetatable({}, {__close = function() while true do end end}) do local x <close> = t end|instruction budget|"
  "infinite tail calls|local function f() return f() end return f()|instruction budget|"
  "deep recursion|local function f() return 1 + f() end return f()|stack overflow|plugin"
  "C stack recursion through __index|local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x|stack overflow|"
  "string.rep memory bomb|local s = string.rep('x', 300 * 1024 * 1024) return #s|memory cap|plugin"
  "string doubling bomb|local s = 'x' while true do s = s .. s end|memory cap|"
  "table growth bomb|local t = {} for i = 1, 1e9 do t[i] = i end|memory cap|plugin"
  "table of tables bomb|local t = {} while true do t[#t + 1] = {} end|memory cap|"
  "an error object whose __tostring errors|error(setmetatable({}, {__tostring = function() error('inner') end}))|inner|plugin"
  "an error object that is a plain table|error({})|error object is a table value|"
  "an error object that is nil|error(nil)|error object is a nil value|"
  "cx.query INSERT|cx.query(\"INSERT INTO meta(key, value) VALUES ('x', 'y')\")|refused|plugin"
  "cx.query UPDATE|cx.query(\"UPDATE events SET type = 'x'\")|refused|"
  "cx.query DELETE|cx.query('DELETE FROM events')|refused|plugin"
  "cx.query DROP|cx.query('DROP TABLE events')|refused|"
  "cx.query CREATE TEMP|cx.query('CREATE TEMP TABLE x(a)')|refused|"
  "cx.query WITH ... DELETE|cx.query('WITH x AS (SELECT 1) DELETE FROM events')|refused|"
  "cx.query PRAGMA user_version =|cx.query('PRAGMA user_version = 99')|refused|"
  "cx.query PRAGMA journal_mode =|cx.query('PRAGMA journal_mode = DELETE')|refused|"
  "cx.query PRAGMA writable_schema|cx.query('PRAGMA writable_schema = ON')|cx.query|"
  "cx.query PRAGMA ignore_check_constraints|cx.query('PRAGMA ignore_check_constraints = ON')|cx.query|"
  "cx.query PRAGMA foreign_keys = OFF|cx.query('PRAGMA foreign_keys = OFF')|cx.query|"
  "cx.query PRAGMA synchronous = OFF|cx.query('PRAGMA synchronous = OFF')|cx.query|"
  "cx.query ATTACH|cx.query(\"ATTACH DATABASE '$TMP/other.db' AS other\")|cx.query|"
  "cx.query VACUUM INTO|cx.query(\"VACUUM INTO '$TMP/copy.db'\")|cx.query|"
  "cx.query two statements|cx.query('SELECT 1; SELECT 2')|one statement|plugin"
  "cx.query a read then a write|cx.query('SELECT 1; DELETE FROM events')|cx.query|"
)
# Cases that hung the host when this test was written (bugs): a short limit
# keeps the suite fast while they are open.
declare -A TIMEOUT=(
  ["xpcall whose handler loops"]=8
  ["a __gc that loops"]=8
)
cases+=(
  "xpcall whose handler loops|xpcall(error, function() while true do end end)|instruction budget|"
  "a __gc that loops|setmetatable({}, {__gc = function() while true do end end}) collectgarbage()|__gc|"
)

cx import --client sb "$TMP/one.csv" >/dev/null
DB=$H/clients/sb/store.db
sum_before=$(sha256sum <"$DB")

for case in "${cases[@]}"; do
  IFS='|' read -r name code needle where <<<"$case"
  limit=${TIMEOUT[$name]:-30}
  run_t "$limit" eval --client sb "$code"
  if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
    fail "$name (eval): still running after ${limit}s (exit $RC)" "code: $code"
  else
    assert_status "$name (eval)" 1
  fi
  assert_contains "$name (eval): the message" "$ERR" "$needle"
  if [ -n "$ERR" ] && [[ $ERR == cxhost:* ]]; then pass; else fail "$name (eval): the message starts with cxhost:" "$ERR"; fi
  assert_not_contains "$name (eval): not a crash" "$ERR" "unprotected"
  assert_not_contains "$name (eval): no sanitizer report" "$ERR" "Sanitizer"
  follow_up "$name"

  [ "$where" = plugin ] || continue
  mkdir -p "$H/clients/sb/plugins"
  printf 'return { name = "probe", version = "1",\n  on_event = function(ev, ctx)\n    %s\n  end }\n' "$code" \
    >"$H/clients/sb/plugins/probe.lua"
  printf 'id,type,customer,at,amount\np-%s,purchase,c9,2024-02-01,1.00\n' "${#name}" >"$TMP/p.csv"
  run_t "$limit" import --client sb "$TMP/p.csv"
  if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
    fail "$name (plugin): still running after ${limit}s" "code: $code"
  else
    assert_status "$name (plugin)" 1
  fi
  assert_contains "$name (plugin): the message" "$ERR" "$needle"
  assert_contains "$name (plugin): names the plugin and hook" "$ERR" "plugin 'probe'"
  assert_match "$name (plugin): names the hook" "$ERR" "hook:? on_event"
  assert_contains "$name (plugin): taken back" "$ERR" "taken back"
  rm -f "$H/clients/sb/plugins/probe.lua"
  follow_up "$name (plugin)"
done

# Nothing the cases tried reached the files or the store.
[ ! -e "$TMP/pwned" ] && pass || fail "os.execute ran a command"
[ -f "$TMP/victim" ] && [ ! -e "$TMP/moved" ] && pass || fail "os.remove/os.rename touched a file"
[ ! -e "$TMP/other.db" ] && [ ! -e "$TMP/copy.db" ] && pass || fail "ATTACH or VACUUM INTO wrote a file"
assert_eq "the store after every case" "$sum_before" "$(sha256sum <"$DB")"
assert_eq "the events after every case" "s-1" "$(q sb 'SELECT group_concat(external_id) AS n FROM events')"
assert_eq "user_version after every case" "7" "$(q sb 'SELECT user_version AS n FROM pragma_user_version')"

# Reads are fine: one statement, a trailing semicolon, parameters, PRAGMA reads.
assert_eq "cx.query with a parameter" "1" "$(q sb 'SELECT COUNT(*) AS n FROM events WHERE external_id = ?1' s-1)"
assert_eq "cx.query with a trailing semicolon" "7" "$(q sb 'SELECT 7 AS n;')"
assert_eq "cx.query PRAGMA read" "7" "$(cx eval --client sb 'return cx.query("PRAGMA user_version")[1].user_version' 2>&1)"

# --- isolation between sandboxes -------------------------------------------------------------
mkdir -p "$H/clients/sb/plugins"
cat >"$H/clients/sb/plugins/aa.lua" <<'LUA'
-- Tries to leak into other sandboxes: globals, library tables, the string metatable.
leaked_at_load = true
string.upper = function() return "hacked" end
string.rep = nil
table.concat = function() return "hacked" end
math.floor = nil
os.time = function() return 0 end
local mt = getmetatable("")
if type(mt) == "table" and type(mt.__index) == "table" then
  mt.__index.upper = function() return "hacked" end
end
return { name = "aa", version = "1", order = 1,
  on_event = function(ev, ctx)
    shared_secret = ev.id
    _G.also_secret = ev.id
    ctx.fact_set(ev.customer, "own_upper", string.upper("x"))
    ctx.fact_set(ev.customer, "own_global", shared_secret)
  end }
LUA
cat >"$H/clients/sb/plugins/bb.lua" <<'LUA'
return { name = "bb", version = "1", order = 2,
  on_event = function(ev, ctx)
    local seen = {}
    for _, k in ipairs { "leaked_at_load", "shared_secret", "also_secret" } do
      if rawget(_G, k) ~= nil then seen[#seen + 1] = k end
    end
    ctx.fact_set(ev.customer, "globals_seen", #seen == 0 and "none" or table.concat(seen, ","))
    ctx.fact_set(ev.customer, "undefined_read", (pcall(function() return shared_secret end)) and "readable" or "error")
    ctx.fact_set(ev.customer, "libs", table.concat({ string.upper("x"), ("y"):upper(), tostring(string.rep ~= nil),
      tostring(math.floor ~= nil), table.concat({ "a", "b" }), tostring(os.time() > 0) }, " "))
  end }
LUA
printf 'id,type,customer,at,amount\ni-1,purchase,c1,2024-03-01,1.00\n' >"$TMP/iso.csv"
run import --client sb "$TMP/iso.csv"
assert_status "import with the leaking plugin" 0
fact() { q sb "SELECT f.value AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
               WHERE c.external_id = 'c1' AND f.plugin = ?1 AND f.name = ?2" "$1" "$2"; }
assert_eq "a plugin sees its own changed string.upper" "hacked" "$(fact aa own_upper)"
assert_eq "a plugin sees its own globals" "i-1" "$(fact aa own_global)"
assert_eq "another plugin does not see its globals" "none" "$(fact bb globals_seen)"
assert_eq "reading the other's global is an error" "error" "$(fact bb undefined_read)"
assert_eq "another plugin's string, table, math, os are untouched" "X Y true true ab true" "$(fact bb libs)"
# And a script in the same process: its changes reach no plugin, the plugins' none reach it.
rm -f "$H/clients/sb/plugins/aa.lua"
run eval --client sb 'string.upper = function() return "script" end
  table.concat = nil
  local ok = rawget(_G, "shared_secret") == nil and rawget(_G, "leaked_at_load") == nil
  cx.ingest { id = "i-2", type = "purchase", customer = "c2", at = "2024-03-02" }
  local f = cx.customer("c2").facts.bb
  return f.libs .. " | " .. tostring(ok) .. " | " .. string.upper("z")'
assert_status "a script that changes its libraries, then ingests" 0
assert_eq "a script's changes do not reach the plugins" "X Y true true ab true | true | script" "$OUT"
rm -f "$H/clients/sb/plugins/bb.lua"

# --- limits from config.lua -------------------------------------------------------------------
LOOP='local s = 0 for i = 1, 2000000 do s = s + i end return s'
run eval --client sb "$LOOP"
assert_status "a moderately long loop under the default budget" 0
assert_eq "the loop's result" "2000001000000" "$OUT"
printf 'return { limits = { instructions = 200000 } }\n' >"$H/clients/sb/config.lua"
run eval --client sb "$LOOP"
assert_status "the same loop with limits.instructions = 200000" 1
assert_contains "the budget error names the budget" "$ERR" "instruction budget of 200000"
assert_contains "the budget error says where to raise it" "$ERR" "config.lua"
run eval --client sb 'local s = 0 for i = 1, 1000 do s = s + i end return s'
assert_status "a short loop with limits.instructions = 200000" 0
# The budget is per call: each event gets its own.
cat >"$H/clients/sb/plugins/work.lua" <<'LUA'
return { name = "work", version = "1",
  on_event = function(ev, ctx) local s = 0 for i = 1, 50000 do s = s + i end ctx.fact_set(ev.customer, "s", s) end }
LUA
{
  printf 'id,type,customer,at,amount\n'
  for i in $(seq 1 20); do printf 'w-%d,purchase,c1,2024-04-01,1.00\n' "$i"; done
} >"$TMP/work.csv"
run import --client sb "$TMP/work.csv"
assert_status "20 events each under the budget (together over it)" 0
assert_contains "20 events imported" "$OUT" "imported 20 new events"
rm -f "$H/clients/sb/plugins/work.lua"

printf 'return { limits = { memory_mb = 16 } }\n' >"$H/clients/sb/config.lua"
run eval --client sb 'return #string.rep("x", 32 * 1024 * 1024)'
assert_status "a 32 MiB string with limits.memory_mb = 16" 1
assert_contains "the memory error names the cap" "$ERR" "memory cap of 16 MiB"
rm -f "$H/clients/sb/config.lua"
run eval --client sb 'return #string.rep("x", 32 * 1024 * 1024)'
assert_status "a 32 MiB string under the default cap" 0
assert_eq "a 32 MiB string" "33554432" "$OUT"

for bad in 'instructions = 5' 'instructions = 1.5' 'instructions = "many"' 'memory_mb = 1' 'memory_mb = 1e9' 'fact_cache_mb = 0' 'fact_cache_mb = 0.5'; do
  printf 'return { limits = { %s } }\n' "$bad" >"$H/clients/sb/config.lua"
  run eval --client sb 'return 1'
  assert_status "config.lua limits { $bad }" 1
  assert_contains "config.lua limits { $bad }: the message" "$ERR" "config.lua: limits."
done
printf 'return { limits = 5 }\n' >"$H/clients/sb/config.lua"
run eval --client sb 'return 1'
assert_status "config.lua limits = 5" 1
assert_contains "config.lua limits = 5: the message" "$ERR" "limits must be a table"
# config.lua itself runs in the sandbox, under the budget.
printf 'os.execute("touch %s/pwned2")\nreturn {}\n' "$TMP" >"$H/clients/sb/config.lua"
run eval --client sb 'return 1'
assert_status "config.lua calling os.execute" 1
[ ! -e "$TMP/pwned2" ] && pass || fail "config.lua ran a command"
printf 'while true do end\nreturn {}\n' >"$H/clients/sb/config.lua"
run_t 30 eval --client sb 'return 1'
assert_status "config.lua looping forever" 1
assert_contains "config.lua looping forever: the budget" "$ERR" "instruction budget"
rm -f "$H/clients/sb/config.lua"
follow_up "after the config cases"

finish
