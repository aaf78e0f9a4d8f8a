#!/usr/bin/env bash
# test_repl_pipe.sh: `cxhost repl` with standard input from a pipe or a file:
# statements run in order with no prompt and no colours; values shown (strings
# as they are, tables pretty-printed, cx.query results as a box); multi-line
# statements; errors on stderr as stdin:LINE with the exit status 1 while the
# later statements still run; an unfinished statement at the end; the dot
# commands; globals kept between statements; cx.ingest; .quit; --help and
# usage errors; and `repl --connect` to a running `cxhost serve`.
. "$(dirname "$0")/lib.sh"

for tool in sqlite3 python3; do
  if ! command -v "$tool" >/dev/null; then
    fail "$tool is needed"
    finish
  fi
done

SERVE_PID=
A_PID=
cleanup() {
  if [ -n "$A_PID" ]; then kill -9 "$A_PID" 2>/dev/null; fi
  if [ -n "$SERVE_PID" ]; then kill -9 "$SERVE_PID" 2>/dev/null; fi
  rm -rf "$H"
}
trap cleanup EXIT

cx client add pp >/dev/null
cx client add other >/dev/null

# repl CLIENT < input: the REPL on a pipe, at most 60 s; OUT, ERR, RC.
repl() {
  run_t 60 repl --client "$1"
}
db() { sqlite3 -batch "$H/clients/$1/store.db" "$2" 2>&1; }

# --- values ---------------------------------------------------------------------------------------
repl pp <<'EOF'
1 + 2
"a string, as it is"
return 1, "two", nil
nil
6 / 4
{ 1, 2, "x" }
{ fghij = 3, abc = 1, de = 2 }
{}
EOF
assert_status "values" 0
assert_eq "values: one a line, strings raw, several results, nil, floats, short tables on one line" \
  "$(printf '%s\n' 3 "a string, as it is" 1 two nil nil 1.5 '{ 1, 2, "x" }' '{ abc = 1, de = 2, fghij = 3 }' '{}')" "$OUT"
assert_eq "values: nothing on stderr" "" "$ERR"
assert_not_contains "values: no prompt in pipe mode" "$OUT" "pp>"

# A statement without a value prints nothing; print() writes its line.
repl pp <<'EOF'
local unused = 1
print("hello", 42, nil)
x = 10
EOF
assert_status "print and statements" 0
assert_eq "print: tab-separated; a statement shows nothing" "$(printf 'hello\t42\tnil')" "$OUT"

# --- multi-line statements; globals kept between statements ------------------------------------
repl pp <<'EOF'
counter = 0
function bump(by)
  counter = counter + (by or 1)
  return counter
end
bump()
bump(
  41
)
counter
s = [[first
second]]
print(s)
t = {
  a = 1,
  b = {
    c = 2 },
}
t.b.c + t.a
EOF
assert_status "multi-line statements" 0
assert_eq "multi-line: a function over four lines, a call over three, a long string, a table" \
  "$(printf '%s\n' 1 42 42 first second 3)" "$OUT"

# --- pretty-printed tables ---------------------------------------------------------------------------
repl pp <<'EOF'
{a={b={c=1,d={1,2,3}},e="long string value here to make it wide enough"},f=true,g={x=1,y=2,z=3,w=4,v=5,u=6,t=7,s=8}}
local t = {} t.me = t return t
local t = { name = "loop" } t.list = { t, { up = t } } return t
{ [1] = "one", [3] = "three", ["a b"] = { x = true }, s = [[say "hi"]] }
EOF
assert_status "pretty-printed tables" 0
assert_eq "a wide nested table: several lines, sorted keys, nested tables inline when they fit" '{
  a = {
    b = { c = 1, d = { 1, 2, 3 } },
    e = "long string value here to make it wide enough",
  },
  f = true,
  g = { s = 8, t = 7, u = 6, v = 5, w = 4, x = 1, y = 2, z = 3 },
}
{ me = <cycle> }
{ list = { <cycle>, { up = <cycle> } }, name = "loop" }
{ [1] = "one", [3] = "three", ["a b"] = { x = true }, s = "say \"hi\"" }' "$OUT"

# --- cx.ingest from the REPL; cx.query as a box ---------------------------------------------------
repl pp <<'EOF'
cx.ingest { id = "p-1", type = "purchase", customer = "C-1", at = "2026-03-01T10:00:00Z", amount = "12.50", touchpoint = "web" }
cx.ingest { id = "p-2", type = "purchase", customer = "C-2", at = "2026-03-02", amount = "7.00", touchpoint = "store" }
cx.ingest { id = "v-1", type = "visit", customer = "C-1", at = "2026-03-03" }
cx.ingest { id = "p-1", type = "purchase", customer = "C-1", at = "2026-03-01T10:00:00Z", amount = "12.50" }
cx.query("SELECT e.external_id AS id, e.type, e.amount_cents AS cents FROM events e ORDER BY e.external_id")
cx.query("SELECT 'é' AS word, 3 AS n")
#cx.query("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1005) SELECT i FROM r")
EOF
assert_status "cx.ingest and cx.query" 0
assert_eq "cx.ingest results, then the query as a box (numbers right-aligned, NULL empty)" "inserted
inserted
inserted
duplicate
┌─────┬──────────┬───────┐
│ id  │ type     │ cents │
├─────┼──────────┼───────┤
│ p-1 │ purchase │  1250 │
│ p-2 │ purchase │   700 │
│ v-1 │ visit    │       │
└─────┴──────────┴───────┘
(3 rows)
┌──────┬───┐
│ word │ n │
├──────┼───┤
│ é    │ 3 │
└──────┴───┘
(1 row)
1005" "$OUT"
assert_eq "cx.ingest from the REPL: stored (sqlite3)" "p-1|1250|web
p-2|700|store
v-1||" "$(db pp "SELECT e.external_id, e.amount_cents, t.name FROM events e LEFT JOIN touchpoints t ON t.id = e.touchpoint_id ORDER BY 1")"
assert_eq "cx.ingest from the REPL: the plugins ran (cxhost eval)" "2 1250" \
  "$(cx eval --client pp 'local f = cx.customer("C-1") return f.events .. " " .. f.facts.lifecycle.total_spend_cents' 2>&1)"

repl pp <<'EOF'
cx.query("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1005) SELECT i FROM r")
EOF
assert_status "a long query result" 0
assert_eq "a long query result: the first 1000 rows, then how many there are" \
  "│ 1000 │|└──────┘|(1005 rows, the first 1000 shown)" "$(printf '%s\n' "$OUT" | tail -n 3 | paste -sd '|')"

# --- errors: stdin:LINE, exit 1, the later statements still run ----------------------------------------
repl pp <<'EOF'
print("first")
error("boom")
print("after the error")
function broken()
  local t = nil
  return t.field
end
local r = broken()
nosuch.field
local x = = 1
print("still running")
EOF
assert_status "errors in piped statements" 1
assert_eq "errors: the statements after each error ran" "$(printf 'first\nafter the error\nstill running')" "$OUT"
assert_contains "errors: error() with its input line" "$ERR" "stdin:2: boom"
assert_contains "errors: a traceback" "$ERR" "stack traceback"
assert_contains "errors: the line inside a multi-line function" "$ERR" "stdin:6: attempt to index a nil value (local 't')"
assert_match "errors: the traceback names the function" "$ERR" "stdin:6: in (global 'broken'|function 'broken'|function <stdin:4>)"
assert_contains "errors: the calling line" "$ERR" "stdin:8:"
assert_contains "errors: an undefined global" "$ERR" "stdin:9: undefined global 'nosuch'"
assert_contains "errors: a syntax error" "$ERR" "stdin:10:"
assert_not_contains "errors: no colours on a pipe" "$ERR" $'\033['

repl pp <<'EOF'
print(1)
error("only this")
EOF
assert_status "an error in the last statement" 1
repl pp </dev/null
assert_status "empty input" 0
assert_eq "empty input: no output" "" "$OUT$ERR"
printf '1 + 1\r\n"crlf"\r\n' >"$TMP/crlf.txt"
repl pp <"$TMP/crlf.txt"
assert_status "CRLF lines" 0
assert_eq "CRLF lines: the carriage returns are not part of the statement" "$(printf '2\ncrlf')" "$OUT"

# --- an unfinished statement at the end -------------------------------------------------------------
repl pp <<'EOF'
print("ran")
function unfinished()
  return 1
EOF
assert_status "an unfinished statement at the end" 1
assert_eq "unfinished: what came before ran" "ran" "$OUT"
assert_match "unfinished: stdin:LINE: the statement is not finished at the end of the input" "$ERR" \
  "stdin:[23]: the statement is not finished at the end of the input"
printf 'x = "no newline at the end"\nx' >"$TMP/nonl.txt"
repl pp <"$TMP/nonl.txt"
assert_status "a last line without a newline" 0
assert_eq "a last line without a newline runs" "no newline at the end" "$OUT"
printf 'local s = [[open string\n' >"$TMP/open.txt"
repl pp <"$TMP/open.txt"
assert_status "an unfinished long string at the end" 1
assert_contains "an unfinished long string: said" "$ERR" "the statement is not finished at the end of the input"

# --- dot commands ---------------------------------------------------------------------------------------
repl pp <<'EOF'
.plugins
EOF
assert_status ".plugins" 0
assert_eq ".plugins: the 9 built-ins in order" "lifecycle sense feel think act relate loyalty refund campaigns" \
  "$(printf '%s\n' "$OUT" | tail -n +2 | awk '{ print $1 }' | paste -sd ' ')"
assert_match ".plugins: a header" "$OUT" "^name +version +origin +order +file"
assert_match ".plugins: the version, origin, order and file" "$OUT" "loyalty +1\.0 +built-in +30 +plugins/loyalty\.lua"

plugin pp tag.lua <<'EOF'
return { name = "tagger", version = "0.3", order = 60, on_event = function(ev, ctx) end }
EOF
repl pp <<'EOF'
.plugins
EOF
assert_contains ".plugins: a client plugin is listed" "$OUT" "tagger"
assert_match ".plugins: the client plugin's version and order" "$OUT" "tagger +0\.3 +client +60"
rm "$H/clients/pp/plugins/tag.lua"

repl pp <<'EOF'
.clients
cx.client
.use other
cx.client
.clients
.use pp
cx.client
EOF
assert_status ".clients and .use" 0
assert_eq ".clients marks the current with *; .use switches and cx.client follows" "  other
* pp
pp
now on client 'other' (9 plugins)
other
* other
  pp
now on client 'pp' (9 plugins)
pp" "$OUT"

repl pp <<'EOF'
kept = "yes"
.use other
rawget(_G, "kept")
cx.ingest { id = "o-1", type = "visit", customer = "C-9", at = "2026-03-05" }
.use nosuch
cx.client
EOF
assert_status ".use: a client that does not exist" 1
assert_eq ".use: the globals of the REPL start afresh on the other client; the failed .use keeps it" \
  "$(printf "now on client 'other' (9 plugins)\nnil\ninserted\nother")" "$OUT"
assert_contains ".use nosuch: says why" "$ERR" "no client 'nosuch'"
assert_eq ".use: cx.ingest after .use stores in the other client" "o-1" "$(db other "SELECT external_id FROM events")"
assert_eq ".use: and not in the first" "0" "$(db pp "SELECT COUNT(*) FROM events WHERE external_id = 'o-1'")"

repl pp <<'EOF'
.timer
id = cx.after(30, function() end)
.timer
cx.cancel(id)
.timer
.help
EOF
assert_status ".timer and .help" 0
assert_match ".timer: none" "$OUT" "^no timers"
assert_match ".timer: a header" "$OUT" "id +kind +every +next +runs +failures +set by"
assert_match ".timer: the timer (id, kind, delay, owner)" "$OUT" $'\n +1 +after +30 s +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +0 +0 +repl'
assert_contains ".timer: cancelled, none again" "$OUT" $'true\nno timers'
for word in .help .plugins .reload .clients .use .timer .quit; do
  assert_contains ".help lists $word" "$OUT" "  $word"
done

repl pp <<'EOF'
.bogus
print("after")
EOF
assert_status "an unknown dot command" 1
assert_contains "an unknown dot command: said" "$ERR" "unknown command .bogus"
assert_eq "an unknown dot command: the rest runs" "after" "$OUT"

# .reload: the plugins again (a new one appears; a broken one keeps the old).
repl pp <<'EOF'
#cx.plugins()
EOF
n_before=$OUT
plugin pp late.lua <<'EOF'
return { name = "late", version = "1.0", on_event = function() end }
EOF
repl pp <<'EOF'
.reload
#cx.plugins()
EOF
assert_status ".reload" 0
assert_eq ".reload: says how many plugins" "reloaded config.lua and $((n_before + 1)) plugins
$((n_before + 1))" "$OUT"
rm "$H/clients/pp/plugins/late.lua"

# --- .quit ----------------------------------------------------------------------------------------------
repl pp <<'EOF'
print("before quit")
cx.after(30, function() print("never") end)
.quit
print("after quit")
cx.ingest { id = "q-1", type = "visit", customer = "C-1", at = "2026-03-04" }
EOF
assert_status ".quit" 0
assert_eq ".quit: stops at once (no wait for the timer), the later lines do not run" "$(printf 'before quit\n1')" "$OUT"
assert_eq ".quit: the cx.ingest after it did not run" "0" "$(db pp "SELECT COUNT(*) FROM events WHERE external_id = 'q-1'")"
repl pp <<'EOF'
error("fails")
.quit
EOF
assert_status ".quit after a failed statement: still 1" 1

# --- --help and usage errors ---------------------------------------------------------------------------------
run repl --help
assert_status "repl --help" 0
assert_contains "repl --help: the usage" "$OUT" "usage: cxhost repl --client NAME | --connect PATH"
assert_contains "repl --help: --connect" "$OUT" "--connect PATH"
run help repl
assert_status "help repl" 0
assert_contains "help repl: the usage" "$OUT" "usage: cxhost repl"
run repl </dev/null
assert_status "repl with no client" 2
assert_contains "repl with no client: says so" "$ERR" "--client"
run repl --client </dev/null
assert_status "repl --client without a name" 2
run repl --bogus </dev/null
assert_status "repl with an unknown option" 2
assert_contains "repl with an unknown option: names it" "$ERR" "--bogus"
run repl --client pp --connect "$TMP/x.sock" </dev/null
assert_status "repl --client and --connect together" 2
run repl --client pp extra </dev/null
assert_status "repl with an extra argument" 2
run repl --client nosuch </dev/null
assert_status "repl on a client that does not exist" 1
assert_contains "repl on a missing client: says so" "$ERR" "no client 'nosuch'"
run repl --connect "$TMP/none.sock" </dev/null
assert_status "repl --connect to no service" 1
assert_contains "repl --connect to no service: says so" "$ERR" "cannot attach to $TMP/none.sock"
CXHOST_HOME=$H "$CXHOST" repl --client pp <<<'cx.client' >"$TMP/env.out" 2>&1
assert_eq "repl: the workspace from \$CXHOST_HOME" "pp" "$(cat "$TMP/env.out")"

# --- repl --connect to a running service, on a pipe ---------------------------------------------------------
cx client add sv >/dev/null
SOCK=$TMP/sv.sock
start_serve sv 127.0.0.1:0 --repl "$SOCK"
if [[ $READY =~ ^cxhost\ serve:\ client\ \'sv\'\ listening\ on\ 127\.0\.0\.1:([0-9]+)\ \(9\ plugins\)\;\ REPL\ on\ unix:(.*)$ ]]; then
  PORT=${BASH_REMATCH[1]}
  pass
  assert_eq "serve: the ready line names the REPL socket" "$SOCK" "${BASH_REMATCH[2]}"
  # Events through the service (NDJSON over TCP), answered one a line.
  answers=$(head -n 2 "$SRC/docs/examples/events.ndjson" | timeout 30 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
f = s.makefile()
for _ in range(2):
    print(f.readline().strip())' "$PORT")
  assert_eq "serve: the events are acknowledged" '{"ok":true,"id":"t-301"}
{"ok":true,"id":"o-1003"}' "$answers"

  run_t 60 repl --connect "$SOCK" <<'EOF'
cx.client
cx.query("SELECT external_id AS id, amount_cents AS cents FROM events ORDER BY 1")
function twice(x)
  return 2 * x
end
twice(21)
print("printed")
cx.ingest { id = "via-repl", type = "visit", customer = "C-23", at = "2026-03-07" }
EOF
  assert_status "repl --connect on a pipe" 0
  assert_eq "repl --connect: the service's client, the events it stored, multi-line, print, cx.ingest" "sv
┌────────┬───────┐
│ id     │ cents │
├────────┼───────┤
│ o-1003 │  1999 │
│ t-301  │       │
└────────┴───────┘
(2 rows)
42
printed
inserted" "$OUT"

  run_t 60 repl --connect "$SOCK" <<'EOF'
rawget(_G, "twice")
.use pp
error("remote failure")
print("goes on")
.clients
EOF
  assert_status "repl --connect: errors" 1
  assert_eq "repl --connect: a new attachment has its own globals; the rest runs" "$(printf 'nil\ngoes on\n  other\n  pp\n* sv')" "$OUT"
  assert_contains "repl --connect: .use is refused" "$ERR" "attached to the service of client 'sv'"
  assert_contains "repl --connect: the error" "$ERR" "remote failure"

  # Two REPLs attached at once: the globals of each are its own.
  mkfifo "$TMP/a.fifo"
  "$CXHOST" repl --connect "$SOCK" <"$TMP/a.fifo" >"$TMP/a.out" 2>"$TMP/a.err" &
  A_PID=$!
  exec 7>"$TMP/a.fifo"
  printf '%s\n' 'mine = "A"' 'print("A is " .. mine)' >&7
  for ((i = 0; i < 300; i++)); do
    grep -q "A is A" "$TMP/a.out" && break
    sleep 0.1
  done
  run_t 60 repl --connect "$SOCK" <<'EOF'
rawget(_G, "mine")
mine = "B"
mine
EOF
  assert_status "repl --connect: a second REPL while the first is attached" 0
  assert_eq "repl --connect: the second does not see the first's globals" "$(printf 'nil\nB')" "$OUT"
  printf '%s\n' 'mine' 'function unfinished()' >&7
  exec 7>&-
  wait "$A_PID"
  RC=$?
  A_PID=
  assert_eq "repl --connect: the first keeps its own globals" "$(printf 'A is A\nA')" "$(cat "$TMP/a.out")"
  assert_status "repl --connect: an unfinished statement at the end" 1
  assert_contains "repl --connect: the unfinished statement is said" "$(cat "$TMP/a.err")" \
    "the statement is not finished at the end of the input"

  run_t 60 repl --connect "$SOCK" <<'EOF'
print("one")
.quit
print("two")
EOF
  assert_status "repl --connect: .quit" 0
  assert_eq "repl --connect: .quit stops there" "one" "$OUT"

  assert_eq "repl --connect: the socket is for its owner only (0600)" "600" "$(stat -c %a "$SOCK")"
  # A timer set from an attached REPL stays with the service after the REPL
  # leaves; what it prints goes to the service's log.
  run_t 60 repl --connect "$SOCK" <<'EOF'
cx.after(0.2, function() print("timer " .. "left behind") end)
.reload
EOF
  assert_status "repl --connect: a timer, .reload" 0
  assert_eq "repl --connect: .reload reloads the service's plugins" "$(printf '1\nreloaded config.lua and 9 plugins')" "$OUT"
  for ((i = 0; i < 100; i++)); do
    grep -q "timer left behind" "$SERVE_LOG" && break
    sleep 0.1
  done
  assert_contains "repl --connect: the timer fired after the REPL left, into the service's log" \
    "$(cat "$SERVE_LOG")" "sv/repl: timer left behind"

  # A REPL attached when the service stops: its next statement cannot run.
  rm -f "$TMP/a.fifo"
  mkfifo "$TMP/a.fifo"
  "$CXHOST" repl --connect "$SOCK" <"$TMP/a.fifo" >"$TMP/a.out" 2>"$TMP/a.err" &
  A_PID=$!
  exec 7>"$TMP/a.fifo"
  printf '%s\n' 'print("attached")' >&7
  for ((i = 0; i < 300; i++)); do
    grep -q "attached" "$TMP/a.out" && break
    sleep 0.1
  done

  stop_serve TERM
  assert_eq "serve: SIGTERM after the REPLs: status 0" 0 "$SERVE_RC"
  # (One line: the REPL ends at the first, and a second write would find no reader.)
  printf '%s\n' 'print("after the service stopped")' >&7
  exec 7>&-
  wait "$A_PID"
  RC=$?
  A_PID=
  assert_contains "repl --connect: the service has gone away" "$(cat "$TMP/a.err")" "the service has gone away"
  assert_eq "repl --connect: nothing ran after the service went away" "attached" "$(cat "$TMP/a.out")"
  OUT=$(cat "$TMP/a.out") ERR=$(cat "$TMP/a.err")
  assert_status "repl --connect: statements that could not run (the service went away): status 1" 1
  assert_eq "repl --connect: the event ingested from the attached REPL is in the service's store" "via-repl|C-23" \
    "$(db sv "SELECT e.external_id, c.external_id FROM events e JOIN customers c ON c.id = e.customer_id WHERE e.external_id = 'via-repl'")"
  assert_eq "serve: the REPL socket is removed at the end" "gone" "$([ -e "$SOCK" ] && echo there || echo gone)"
else
  fail "serve --repl: no ready line" "$(cat "$SERVE_LOG")"
fi

finish
