#!/usr/bin/env bash
# test_repl_pty.sh: `cxhost repl` at a terminal, driven through a pseudo-terminal
# by repl_pty.py: the banner and prompts, tab completion, multi-line input and
# the continuation prompt, Ctrl-C (stops a running statement; at the prompt,
# clears the line or the statement being typed), errors in red (not with
# NO_COLOR), a timer printing while the prompt waits, the history (kept in
# HOME/clients/NAME/.history, recalled with the up arrow in a new REPL), .use,
# Ctrl-D, and a REPL attached to a running `cxhost serve` (repl --connect).
#
# Each scenario is a file of steps (see the top of repl_pty.py): what to type,
# what to wait for. Every statement waits for the prompt before the next is
# typed: what is typed while a statement runs is echoed by the terminal
# itself, which would confuse the checks.
. "$(dirname "$0")/lib.sh"

if ! command -v python3 >/dev/null; then
  fail "python3 is needed"
  finish
fi
PTY=$SRC/tests/e2e/repl_pty.py

SERVE_PID=
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill -9 "$SERVE_PID" 2>/dev/null; fi
  rm -rf "$H"
}
trap cleanup EXIT

# pty NAME STEPS_FILE COMMAND...: runs the command at a terminal through the
# steps; counts each checked step. The transcript stays in $TMP/NAME.raw.
pty() {
  local name=$1 steps=$2
  shift 2
  timeout -k 5 120 python3 "$PTY" --term "${PTY_TERM:-dumb}" --cols 100 --rows 30 --timeout 15 \
    --transcript "$TMP/$name.raw" "$steps" -- "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  local rc=$? st desc detail fails=0
  while IFS=$'\t' read -r st desc detail; do
    case $st in
      ok) pass ;;
      FAIL)
        fail "$name: $desc" "$detail"
        fails=$((fails + 1))
        ;;
    esac
  done <"$TMP/$name.out"
  if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
    fail "$name: repl_pty.py exited with $rc" "$(cat "$TMP/$name.out" "$TMP/$name.err")"
  fi
}

cx client add acme >/dev/null
cx client add beta >/dev/null
# `while true do end` must outlast the Ctrl-C: without this the instruction
# budget (100 million, well under a second) would stop it first.
cat >"$H/clients/acme/config.lua" <<'LUA'
return { limits = { instructions = 1000000000000 } }
LUA

# --- one session: completion, multi-line input, Ctrl-C, colours, timers, Ctrl-D ---------------
cat >"$TMP/main.steps" <<'EOF'
{"expect": "cxhost REPL: .help for help, Ctrl-D to leave", "desc": "the banner"}
{"expect": "acme> ", "desc": "the prompt names the client"}
{"absent_raw": "\u0000", "desc": "no NUL byte written with the banner"}
{"send": "1 + 2\r", "expect": "\n3\nacme> ", "desc": "an expression's value, then the prompt again"}

# Tab completion: a field of cx, and a dot command.
{"send": "cx.exp\t", "expect": "cx.experience", "desc": "cx.exp<TAB> completes to cx.experience"}
{"send": "\r", "expect": "modules = { \"sense\", \"feel\", \"think\", \"act\", \"relate\" }", "desc": "the completed name runs: cx.experience is shown"}
{"expect": "acme> "}
{"send": ".pl\t", "expect": ".plugins", "desc": ".pl<TAB> completes to .plugins"}
{"send": "\r", "expect_re": "lifecycle +1\\.0 +built-in +10", "desc": "the completed .plugins runs"}
{"expect": "acme> "}
{"send": "pri\t", "expect": "print", "desc": "pri<TAB> completes a global (print)"}
{"send": "('com' .. 'pleted')\r", "expect": "\ncompleted\nacme> ", "desc": "the completed print runs"}

# A statement over several lines: the continuation prompt.
{"send": "function add(a, b)\r", "expect": "acme>> ", "desc": "an open function shows the continuation prompt"}
{"send": "return a + b\r", "expect": "acme>> ", "desc": "the continuation prompt again inside the function"}
{"send": "end\r", "expect": "acme> ", "desc": "end of the function: the prompt is back"}
{"send": "add(40, 2)\r", "expect": "\n42\nacme> ", "desc": "the function defined over three lines works"}
{"send": "\u001b[A\u001b[A", "expect_re": "function add\\(a, b\\)(\\^J|\n)return a \\+ b(\\^J|\n)end", "desc": "up arrow: a statement of several lines comes back whole"}
{"send": "\r", "expect": "acme> "}
{"send": "add(-1, 1)\r", "expect": "\n0\nacme> ", "desc": "the recalled statement of several lines ran again"}
{"send": "t = {\r", "expect": "acme>> "}
{"send": "n = 1,\r", "expect": "acme>> "}
{"send": "}\r", "expect": "acme> "}
{"send": "t.n + 1\r", "expect": "\n2\nacme> ", "desc": "a table constructor over three lines"}

# Ctrl-C while a statement runs: stopped, the REPL goes on.
{"send": "while true do end\r", "expect": "while true do end\n"}
{"wait": 0.5}
{"send": "\u0003", "expect": "interrupted", "desc": "Ctrl-C stops `while true do end` with an 'interrupted' error"}
{"expect": "acme> ", "desc": "the prompt after the interruption"}
{"send": "add(1, 2)\r", "expect": "\n3\nacme> ", "desc": "after the interruption the next statement runs (globals kept)"}

# Ctrl-C at the prompt: clears a half-typed line.
{"send": "12345", "expect": "12345"}
{"send": "\u0003", "expect": "\nacme> ", "desc": "Ctrl-C at the prompt: a new prompt"}
{"send": "7 * 6\r", "expect": "\n42\nacme> ", "desc": "Ctrl-C cleared the half-typed line (7 * 6 alone ran)"}

# Ctrl-C at the continuation prompt: the whole pending statement goes.
{"send": "function half()\r", "expect": "acme>> "}
{"send": "local x = 1", "expect": "local x = 1"}
{"send": "\u0003", "expect_re": "\nacme> $", "desc": "Ctrl-C during a multi-line statement: the prompt is acme> again"}
{"send": "rawget(_G, 'half') == nil\r", "expect": "\ntrue\nacme> ", "desc": "the cleared statement was not run (half is not defined)"}
{"send": "add(2, 3)\r", "expect": "\n5\nacme> ", "desc": "the next statement after clearing a multi-line statement works"}

# Errors are red on a terminal.
{"mark": true}
{"send": "error('bo' .. 'om')\r", "expect": "repl:1: boom", "desc": "an error names the statement's line"}
{"expect_raw": "\u001b[31mrepl:1: boom", "desc": "errors are red on a terminal"}
{"expect": "acme> "}

# Timers fire while the prompt waits, with no input.
{"send": "cx.after(0.2, function() print('ti' .. 'ck') end)\r", "expect": "acme> "}
{"expect": "tick\n", "desc": "cx.after(0.2): its print appears while the prompt waits"}
{"expect": "acme> ", "desc": "the prompt is drawn again after the timer's output"}
{"send": "n = 0 cx.every(0.1, function(id) n = n + 1 print('beat ' .. n) if n == 3 then cx.cancel(id) end end)\r", "expect": "acme> "}
{"expect": "beat 1", "desc": "cx.every prints at the prompt: 1"}
{"expect": "beat 3", "desc": "cx.every prints at the prompt: 3"}
{"wait": 0.5}
{"absent": "beat 4", "desc": "the cancelled cx.every stops"}
{"send": ".timer\r", "expect": "no timers", "desc": ".timer: none left"}
{"expect": "acme> "}

# The last statement, for the history test below; then Ctrl-D.
{"send": "'re' .. 'called'\r", "expect": "\nrecalled\nacme> "}
{"wait": 0.3}
{"mark": true}
{"send": "\u0004", "exit": 0, "desc": "Ctrl-D at the prompt exits with status 0"}
{"absent": "acme> ", "desc": "Ctrl-D: no prompt is drawn again on the way out"}
EOF
pty main "$TMP/main.steps" "$CXHOST" --home "$H" repl --client acme

HIST=$H/clients/acme/.history
if [ -f "$HIST" ]; then
  pass
  hist=$(cat "$HIST")
  assert_contains "history: a one-line statement" "$hist" "add(40, 2)"
  assert_contains "history: the first line of a multi-line statement" "$hist" "function add(a, b)"
  assert_contains "history: a dot command" "$hist" ".plugins"
  assert_contains "history: the last statement" "$hist" "'re' .. 'called'"
  assert_eq "history: the last entry is the last statement" "'re' .. 'called'" "$(tail -n 1 "$HIST")"
  assert_not_contains "history: a statement cleared with Ctrl-C is not kept" "$hist" "function half()"
  assert_not_contains "history: a line cleared with Ctrl-C is not kept" "$hist" "12345"
else
  fail "history: no $HIST after the session"
fi

# --- a new REPL: the up arrow recalls the last statement -------------------------------------
cat >"$TMP/history.steps" <<'EOF'
{"expect": "acme> "}
{"send": "\u001b[A", "expect": "'re' .. 'called'", "desc": "up arrow in a new REPL recalls the last statement"}
{"send": "\r", "expect": "\nrecalled\nacme> ", "desc": "the recalled statement runs"}
{"send": "\u001b[A\u001b[A", "expect": ".timer", "desc": "up arrow twice goes one further back (.timer)"}
{"send": "\u0003", "expect_re": "\nacme> $"}
{"wait": 0.3}
{"send": "\u0004", "exit": 0, "desc": "Ctrl-D: status 0"}
EOF
pty history "$TMP/history.steps" "$CXHOST" --home "$H" repl --client acme
# The same with TERM=xterm: readline draws with escape sequences there.
PTY_TERM=xterm pty history-xterm "$TMP/history.steps" "$CXHOST" --home "$H" repl --client acme

# --- NO_COLOR; .use and the history of the other client; .quit ----------------------------------
cat >"$TMP/nocolor.steps" <<'EOF'
{"expect": "acme> "}
{"mark": true}
{"send": "error('no' .. 'colour')\r", "expect": "nocolour", "desc": "NO_COLOR: the error is shown"}
{"expect": "acme> "}
{"absent_raw": "\u001b[31m", "desc": "NO_COLOR: errors are not red"}
{"send": "cx.client\r", "expect": "\nacme\nacme> "}
{"send": ".use beta\r", "expect": "now on client 'beta'", "desc": ".use beta at the terminal"}
{"expect": "beta> ", "desc": "the prompt names the new client"}
{"send": "cx.client\r", "expect": "\nbeta\nbeta> ", "desc": "cx.client after .use"}
{"send": "'on' .. ' beta'\r", "expect": "\non beta\nbeta> "}
{"send": ".quit\r", "exit": 0, "desc": ".quit exits with status 0"}
EOF
NO_COLOR=1 pty nocolor "$TMP/nocolor.steps" "$CXHOST" --home "$H" repl --client acme
# docs/repl.md: after .use, what is typed goes into the other client's history.
assert_contains "history after .use: in the other client's history" "$(cat "$H/clients/beta/.history" 2>/dev/null)" "'on' .. ' beta'"
assert_not_contains "history after .use: not in the first client's" "$(cat "$HIST")" "'on' .. ' beta'"

# --- repl --connect at a terminal ---------------------------------------------------------------
cx client add sv >/dev/null
SOCK=$TMP/repl.sock
if start_serve sv 127.0.0.1:0 --repl "$SOCK"; then
  assert_contains "serve: the ready line names the REPL socket" "$READY" "REPL on unix:$SOCK"
  # One event through the service, to be seen from the attached REPL.
  answer=$(printf '%s\n' '{"id":"pty-1","type":"purchase","customer":"C-1","at":"2026-03-01T10:00:00Z","amount":"12.50","touchpoint":"web"}' |
    timeout 30 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline().strip())' "$PORT")
  assert_eq "serve: the event is acknowledged" '{"ok":true,"id":"pty-1"}' "$answer"

  cat >"$TMP/connect.steps" <<'EOF'
{"expect": "sv> ", "desc": "repl --connect: the prompt names the service's client"}
{"send": "cx.query('SELECT amount_cents AS n FROM events WHERE external_id = ?1', 'pty-1')[1].n\r", "expect": "\n1250\nsv> ", "desc": "repl --connect: a statement sees the event the service stored"}
{"send": "cx.exp\t", "expect": "cx.experience", "desc": "repl --connect: tab completion through the service"}
{"send": "\u0003", "expect_re": "\nsv> $"}
{"send": "function twice(x)\r", "expect": "sv>> ", "desc": "repl --connect: the continuation prompt"}
{"send": "return 2 * x end\r", "expect": "sv> "}
{"send": "twice(21)\r", "expect": "\n42\nsv> ", "desc": "repl --connect: a function defined over two lines"}
{"send": ".use beta\r", "expect": "attached to the service", "desc": "repl --connect: .use is refused"}
{"expect": "sv> "}
{"wait": 0.3}
{"send": "\u0004", "exit": 0, "desc": "repl --connect: Ctrl-D exits with status 0"}
EOF
  pty connect "$TMP/connect.steps" "$CXHOST" repl --connect "$SOCK"
  if kill -0 "$SERVE_PID" 2>/dev/null; then
    pass
  else
    fail "serve ended when the attached REPL left" "$(cat "$SERVE_LOG")"
  fi
  stop_serve TERM
  assert_eq "serve: SIGTERM after the attached REPL left: status 0" 0 "$SERVE_RC"
fi

finish
