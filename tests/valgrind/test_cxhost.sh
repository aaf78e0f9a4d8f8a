#!/usr/bin/env bash
# cxhost itself under valgrind on real work: every command below must end
# with its expected exit status; valgrind turns any definite leak or memory
# error into status 99. Env: CXHOST (binary), VALGRIND (command), CXHOST_DATA_DIR.
set -u
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
passed=0 failed=0

# expect STATUS ARGS...: runs cxhost under valgrind (standard input from
# $INPUT, default none), checks the exit status.
expect() {
  local want=$1; shift
  $VALGRIND "$CXHOST" --home "$home" "$@" <"${INPUT:-/dev/null}" >"$home/out" 2>"$home/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED (status $got, want $want): cxhost $*" >&2
    tail -n 30 "$home/err" >&2
  fi
}

expect 0 client add v
# Small limits: a runaway loop under valgrind would otherwise take minutes.
printf 'return { limits = { instructions = 2000000, memory_mb = 64 } }\n' >"$home/clients/v/config.lua"
expect 0 import --client v --format cdnow "$CXHOST_DATA_DIR/CDNOW_sample.txt"
expect 0 import --client v --format cdnow "$CXHOST_DATA_DIR/CDNOW_sample.txt"
expect 0 report summary --client v
expect 0 plugins --client v
expect 0 eval --client v 'cx.customer("00004")'
expect 0 eval --client v 'return cx.query("SELECT stage, COUNT(*) AS n FROM lifecycle GROUP BY stage")'
expect 0 refresh --client v --as-of 1999-01-01
expect 1 eval --client v 'while true do end'
expect 1 eval --client v 'local t = {} while true do t[#t + 1] = string.rep("x", 1000) end'
expect 1 eval --client v 'local function f() return f() + 1 end return f()'
expect 1 eval --client v 'error(setmetatable({}, {__tostring = function() error("x") end}))'
expect 1 eval --client v 'return cx.query("DELETE FROM events")'

printf 'id,type,customer,at,amount\na,purchase,c1,2026-01-01,10.00\nb,purchase,c1,2026-01-02,abc\n' >"$home/bad.csv"
expect 1 import --client v "$home/bad.csv"
expect 0 import --client v --skip-bad "$home/rejects.txt" "$home/bad.csv"

mkdir -p "$home/clients/v/plugins"
cat >"$home/clients/v/plugins/boom.lua" <<'LUA'
return {
  name = "boom", version = "1",
  on_event = function(ev, ctx)
    if ev.id == "c" then error("boom on " .. ev.id) end
    ctx.tag(ev.customer, "seen")
  end,
}
LUA
printf 'id,type,customer,at\nc,visit,c1,2026-01-03\n' >"$home/boom.csv"
expect 1 import --client v "$home/boom.csv"
# the REPL from a pipe, with a timer and a failing statement
printf '%s\n' 'x = {1, {a = 2}}' 'x' 'cx.query("SELECT type, COUNT(*) AS n FROM events GROUP BY type")' \
  '.timer' 'cx.after(0.05, function() print("fired") end)' 'error("boom")' '.plugins' >"$home/repl.txt"
INPUT=$home/repl.txt expect 1 repl --client v

# campaigns: a check that fails, a dry run, a run and its re-run, an event
# trigger inside an import, the report, and a schedule that the service runs
cat >"$home/winback.lua" <<'LUA'
return {
  name = "winback", description = "Points and an offer for lapsed buyers", module = "feel",
  audience = stage("lapsing", "lapsed") & spend{ at_least = 10 },
  actions = { points(100), send("email", "winback", { code = "BACK" }, { value = "5.00" }), tag("winback") },
  budget = { points = 1000 }, holdout = 0.2,
}
LUA
cat >"$home/thanks.lua" <<'LUA'
return {
  name = "thanks", description = "A note after each purchase", module = "relate",
  audience = everyone(), trigger = event("purchase", function(ev, c) return ev.amount_cents >= 500 end),
  journey = { { step = "note", send("email", "thanks"), wait = "1 day" }, { step = "tag", tag("thanked") } },
}
LUA
cat >"$home/tick.lua" <<'LUA'
return { name = "tick", description = "A tag every second", module = "act", audience = customers("c9"),
         trigger = "every 1 second", actions = { tag("ticked") } }
LUA
printf 'return { name = "oops", module = "smell", holdout = 2 }\n' >"$home/oops.lua"
expect 1 campaign check "$home/oops.lua"
expect 0 campaign run --client v "$home/winback.lua" --dry-run --at 1999-01-01
expect 0 campaign run --client v "$home/winback.lua" --at 1999-01-01
expect 0 campaign run --client v "$home/winback.lua" --at 1999-01-01
expect 0 campaign start --client v "$home/thanks.lua" --at 1999-01-01
printf 'id,type,customer,at,amount\nt1,purchase,c1,2026-01-05,12.00\nt2,purchase,c1,2026-01-09,1.00\n' >"$home/more.csv"
expect 0 import --client v "$home/more.csv"
expect 0 campaign report --client v winback
expect 0 campaign list --client v
expect 0 campaign stop --client v thanks
printf 'return { limits = { instructions = 2000000, memory_mb = 64 }, campaigns = { tick_seconds = 0.5 } }\n' \
  >"$home/clients/v/config.lua"
expect 0 campaign start --client v "$home/tick.lua"

# the service: events in over a unix socket, a REPL attached, a reload, SIGTERM
rm -f "$home/clients/v/plugins/boom.lua"
$VALGRIND "$CXHOST" --home "$home" serve --client v --listen "unix:$home/ev.sock" --repl "$home/repl.sock" \
  2>"$home/serve.err" &
serve=$!
for _ in $(seq 1 300); do grep -q listening "$home/serve.err" 2>/dev/null && break; sleep 0.1; done
python3 - "$home/ev.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"id":"s1","type":"purchase","customer":"c9","at":"2026-02-01T10:00:00Z","amount":"5.00"}\nbad\n')
s.shutdown(socket.SHUT_WR)
while s.recv(4096): pass
PY
printf '%s\n' 'cx.query("SELECT external_id FROM events WHERE external_id = \x27s1\x27")' '.reload' >"$home/attach.txt"
INPUT=$home/attach.txt expect 0 repl --connect "$home/repl.sock"
grep -q '"s1"\|s1' "$home/out" || { failed=$((failed + 1)); echo "FAILED: the attached REPL did not see s1" >&2; }
kill -HUP "$serve"; sleep 1
kill -TERM "$serve"; wait "$serve"
got=$?
if [ "$got" -eq 0 ]; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAILED (status $got, want 0): cxhost serve under valgrind" >&2; tail -n 30 "$home/serve.err" >&2
fi

# the service ran the scheduled campaign (at least its first, missed, slot)
expect 0 eval --client v 'assert(cx.query("SELECT COUNT(*) AS n FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id WHERE k.name = ?1", "tick")[1].n >= 1, "tick never ran")'
expect 0 check --client v

expect 0 client remove v --yes

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
