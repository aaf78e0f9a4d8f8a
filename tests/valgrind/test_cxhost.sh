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

expect 0 client remove v --yes

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
