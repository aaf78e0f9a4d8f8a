#!/usr/bin/env bash
# test_timers.sh: cx.every, cx.after, cx.at, cx.cancel and cx.timers from
# `cxhost run` scripts and the piped REPL (the order and number of runs, what
# cx.timers() holds, a failing callback logged with its traceback while an
# `every` goes on, argument errors), and plugin timers in `cxhost serve`: set
# in on_load, replaced when a plugin file changes or on SIGHUP, kept when a
# reload fails (and the failed reload's own timers dropped), while events are
# still acknowledged.
#
# Periods are short (0.05 to 0.3 s) and the waits generous: nothing is timed
# beyond "it happened within a few seconds".
. "$(dirname "$0")/lib.sh"

if ! command -v python3 >/dev/null; then
  fail "python3 is needed"
  finish
fi

cx client add tm >/dev/null

# line_of TEXT LINE: the number of the first line of TEXT that is exactly LINE (0: none).
line_of() {
  printf '%s\n' "$1" | awk -v want="$2" '$0 == want { print NR; found = 1; exit } END { if (!found) print 0 }'
}
# before DESC TEXT A B: line A comes before line B in TEXT (both there).
before() {
  local a b
  a=$(line_of "$2" "$3")
  b=$(line_of "$2" "$4")
  if [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ "$a" -lt "$b" ]; then
    pass
  else
    fail "$1: '$3' (line $a) before '$4' (line $b)" "$2"
  fi
}
count_lines() {   # TEXT LINE: how many lines of TEXT are exactly LINE
  printf '%s\n' "$1" | grep -cxF -- "$2"
}

# --- cxhost run: after, every, at, cancel; the script ends when the timers are done ----------------
cat >"$TMP/order.lua" <<'LUA'
cx.after(0.3, function() print("after 0.3") end)
cx.after(0.1, function() print("after 0.1") end)
local n = 0
cx.every(0.05, function(id)
  n = n + 1
  print("every " .. n)
  if n == 3 then
    print("cancel own: " .. tostring(cx.cancel(id)))
  end
end)
cx.at(0, function() print("at 1970") end)
cx.at("2001-02-03T04:05:06Z", function() print("at 2001") end)
cx.at(cx.time.now() + 1, function(id) print("at now+1, id " .. id) end)
local gone = cx.after(0.05, function() print("never: cancelled") end)
print("cancel", cx.cancel(gone), cx.cancel(gone), cx.cancel(12345))
print("ids", gone)
print("end of script")
LUA
run_t 30 run --client tm "$TMP/order.lua"
assert_status "run with timers" 0
assert_eq "run: the script's own output comes first" "cancel	true	false	false|ids	7|end of script" \
  "$(printf '%s\n' "$OUT" | head -n 3 | paste -sd '|')"
assert_eq "run: cx.every ran 3 times, then cancelled itself" "1 1 1 0" \
  "$(count_lines "$OUT" "every 1") $(count_lines "$OUT" "every 2") $(count_lines "$OUT" "every 3") $(count_lines "$OUT" "every 4")"
assert_eq "run: cx.cancel of its own every from its callback" "1" "$(count_lines "$OUT" "cancel own: true")"
before "run: every 1, 2, 3 in order" "$OUT" "every 1" "every 2"
before "run: every 2 before 3" "$OUT" "every 2" "every 3"
before "run: the cancel right after every 3" "$OUT" "every 3" "cancel own: true"
assert_eq "run: each once timer ran once" "1 1 1 1 1" \
  "$(count_lines "$OUT" "after 0.1") $(count_lines "$OUT" "after 0.3") $(count_lines "$OUT" "at 1970") $(count_lines "$OUT" "at 2001") $(count_lines "$OUT" "at now+1, id 6")"
before "run: a time gone by (Unix seconds) fires at once, before cx.after(0.1)" "$OUT" "at 1970" "after 0.1"
before "run: a time gone by (ISO) fires at once, before cx.after(0.1)" "$OUT" "at 2001" "after 0.1"
before "run: cx.after(0.1) before cx.after(0.3)" "$OUT" "after 0.1" "after 0.3"
before "run: cx.after(0.3) before cx.at(now + 1)" "$OUT" "after 0.3" "at now+1, id 6"
assert_eq "run: the last line is the timer 1 s on (run waited for it)" "at now+1, id 6" "$(printf '%s\n' "$OUT" | tail -n 1)"
assert_not_contains "run: a cancelled timer never fires" "$OUT" "never"
assert_eq "run: nothing on stderr" "" "$ERR"

# A script that fails does not wait for its timers.
cat >"$TMP/fails.lua" <<'LUA'
cx.after(30, function() print("not waited for") end)
error("the script fails")
LUA
run_t 20 run --client tm "$TMP/fails.lua"
assert_status "run: a failing script with a timer set: ends at once with 1" 1
assert_contains "run: a failing script: its error" "$ERR" "the script fails"
assert_not_contains "run: a failing script: the timer did not fire" "$OUT" "not waited for"

# A timer callback can set timers; ids go on rising.
cat >"$TMP/chain.lua" <<'LUA'
local depth = 0
local function again(id)
  depth = depth + 1
  print("chain " .. depth .. " id " .. id)
  if depth < 3 then cx.after(0.05, again) end
end
cx.after(0.05, again)
LUA
run_t 20 run --client tm "$TMP/chain.lua"
assert_status "run: timers set by a timer" 0
assert_eq "run: timers set by a timer run in turn, new ids" "chain 1 id 1|chain 2 id 2|chain 3 id 3" "$(printf '%s\n' "$OUT" | paste -sd '|')"

# --- cx.timers() ------------------------------------------------------------------------------------------
cat >"$TMP/list.lua" <<'LUA'
local e = cx.every(0.25, function() end)
local a = cx.after(5, function() end)
local t = cx.at("2099-01-02T03:04:05Z", function() end)
local list = cx.timers()
print(#list)
for _, x in ipairs(list) do
  print(x.id, x.owner, x.kind, tostring(x.seconds), x.next, x.runs, x.failures)
end
print(math.abs(cx.time.parse(list[2].next) - (cx.time.now() + 5)) <= 2)
for _, x in ipairs(list) do cx.cancel(x.id) end
print(#cx.timers())
LUA
run_t 20 run --client tm "$TMP/list.lua"
assert_status "cx.timers()" 0
assert_eq "cx.timers(): the count" "3" "$(printf '%s\n' "$OUT" | sed -n 1p)"
assert_match "cx.timers(): an every (id, owner, kind, seconds, next, runs, failures)" "$OUT" \
  $'\n1\tscript\tevery\t0\\.25\t[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\t0\t0\n'
assert_match "cx.timers(): an after" "$OUT" $'\n2\tscript\tafter\t5(\\.0)?\t[0-9-]{10}T[0-9:]{8}Z\t0\t0\n'
assert_contains "cx.timers(): an at, with its time and no seconds" "$OUT" $'\n3\tscript\tat\tnil\t2099-01-02T03:04:05Z\t0\t0\n'
assert_eq "cx.timers(): the after's next is about 5 s on" "true" "$(printf '%s\n' "$OUT" | sed -n 5p)"
assert_eq "cx.timers(): empty once all are cancelled" "0" "$(printf '%s\n' "$OUT" | tail -n 1)"

# runs and failures, seen from the timer itself; an error in a callback is logged
# with its traceback and the every keeps firing.
cat >"$TMP/failing.lua" <<'LUA'
local n = 0
cx.every(0.05, function(id)
  n = n + 1
  print("tick " .. n)
  if n == 2 then
    error("tick two went wrong")
  end
  if n == 5 then
    local me = cx.timers()[1]
    print("runs " .. me.runs .. ", failures " .. me.failures)
    cx.cancel(id)
  end
end)
cx.after(0.02, function() local t = nil return t.x end)
LUA
run_t 30 run --client tm "$TMP/failing.lua"
assert_status "a failing timer callback: run still ends" 0
assert_eq "a failing every keeps firing" "tick 1|tick 2|tick 3|tick 4|tick 5" "$(printf '%s\n' "$OUT" | grep '^tick' | paste -sd '|')"
assert_match "the every counts its runs and its failure" "$OUT" "runs (4|5), failures 1"
assert_contains "the error is logged: which timer, the message" "$ERR" \
  "cxhost: timer 1 (cx.every, set by script): $TMP/failing.lua:6: tick two went wrong"
assert_contains "the error is logged with a traceback" "$ERR" "stack traceback"
assert_contains "the traceback names the callback's line" "$ERR" "$TMP/failing.lua:6:"
assert_contains "an error in an after callback is logged too" "$ERR" \
  "cxhost: timer 2 (cx.after, set by script): $TMP/failing.lua:14: attempt to index a nil value"

# --- argument errors -----------------------------------------------------------------------------------------
# bad CODE WANT: cx eval of CODE fails (status 1) with WANT in the message.
bad() {
  run eval --client tm "$1"
  assert_status "$1" 1
  assert_contains "$1: the message" "$ERR" "$2"
}
bad 'cx.every(0, function() end)' "cx.every: "
bad 'cx.every(0.001, function() end)' "cx.every: "
bad 'cx.every(0/0, function() end)' "cx.every: "
bad 'cx.after(-1, function() end)' "cx.after: "
bad 'cx.after(1e12, function() end)' "cx.after: "
bad 'cx.every("soon", function() end)' "cx.every: give the seconds as a number"
bad 'cx.every(1)' "function expected"
bad 'cx.after(1, "print")' "function expected"
bad 'cx.at("nonsense", function() end)' "cx.at: 'nonsense' is not a valid time"
bad 'cx.at("2026-02-30", function() end)' "cx.at: '2026-02-30' is not a valid time"
bad 'cx.at(true, function() end)' "cx.at: give the time as ISO-8601 text"
bad 'cx.at(1.5, function() end)' "cx.at: "
bad 'cx.cancel("one")' "cancel"
run eval --client tm 'cx.every(0.01, function() end)'
assert_status "cx.every(0.01): the smallest period is accepted" 0

# --- the piped REPL: timers fire after the input, .timer, .quit --------------------------------------
run_t 30 repl --client tm <<'EOF'
n = 0
cx.every(0.05, function(id) n = n + 1 print("beat " .. n) if n == 3 then cx.cancel(id) end end)
cx.after(0.2, function() print("after, n = " .. n) end)
gone = cx.after(0.1, function() print("never") end)
cx.cancel(gone)
.timer
print("end of input")
EOF
assert_status "piped REPL with timers" 0
assert_eq "piped REPL: ids, .timer, then the timers run out after the input" "1
2
true
  id  kind   every      next                    runs  failures  set by
   1  every  0.05 s     NEXT       0         0  repl
   2  after  0.2 s      NEXT       0         0  repl
end of input
beat 1
beat 2
beat 3
after, n = 3" "$(printf '%s\n' "$OUT" | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/NEXT/')"
assert_not_contains "piped REPL: the cancelled timer did not fire" "$OUT" "never"

run_t 30 repl --client tm <<'EOF'
cx.every(0.05, function(id) print("every " .. id) if id then error("callback fails") end end)
cx.after(0.3, function() cx.cancel(1) print("stopped") end)
EOF
assert_contains "piped REPL: a failing callback is logged" "$ERR" "timer 1 (cx.every, set by repl): stdin:1: callback fails"
assert_match "piped REPL: and keeps firing" "$OUT" "every 1"$'\n'"every 1"$'\n'"every 1"
assert_contains "piped REPL: the input's end waited for the timers" "$OUT" "stopped"

run_t 30 repl --client tm <<'EOF'
cx.every(0.05, function() print("every, forever") end)
print("quitting")
.quit
EOF
assert_status "piped REPL: .quit with an every set" 0
assert_eq "piped REPL: .quit does not wait for the timers" "1
quitting" "$OUT"

# --- plugin timers in a local REPL: .reload drops them, the REPL's own stay -----------------------------
cx client add pr >/dev/null
plugin pr beat.lua <<'EOF'
return {
  name = "beat", version = "1.0",
  on_load = function(ctx)
    cx.every(0.2, function() end)
  end,
}
EOF
run_t 30 repl --client pr <<'EOF'
mine = cx.after(60, function() end)
.timer
.reload
.timer
.quit
EOF
assert_status "plugin timers and .reload" 0
assert_match "before .reload: the plugin's timer (set by beat) and the REPL's" "$OUT" \
  "  id  kind .*"$'\n'" +1  every  0\\.2 s .* beat"$'\n'" +2  after  60 s .* repl"$'\n'"reloaded"
assert_match "after .reload: the plugin's timer is a new one, the REPL's is kept" "$OUT" \
  "reloaded config.lua and 10 plugins"$'\n'"  id  kind .*"$'\n'" +2  after  60 s .* repl"$'\n'" +3  every  0\\.2 s .* beat$"

# --- serve: plugin timers replaced on reload; a failed reload keeps them ----------------------------------
cx client add sv >/dev/null
# put FILE TEXT: replaces the plugin file at once (written beside, then renamed).
put() {
  printf '%s\n' "$2" >"$TMP/plugin.tmp"
  mv "$TMP/plugin.tmp" "$H/clients/sv/plugins/$1"
}
beat_plugin() {   # VERSION: a plugin whose on_load sets an every printing "beat VERSION"
  printf 'return {
  name = "beat", version = "%s",
  on_load = function(ctx)
    cx.every(0.1, function() print("beat %s") end)
  end,
}' "$1" "$1"
}
mkdir -p "$H/clients/sv/plugins"
put beat.lua "$(beat_plugin v1)"

log_after() { tail -c +"$(($1 + 1))" "$SERVE_LOG"; }
log_size() { wc -c <"$SERVE_LOG"; }
# wait_log OFFSET TEXT [SECONDS]: until TEXT is in the log after OFFSET (status 1 if not within 20 s).
wait_log() {
  local i
  for ((i = 0; i < ${3:-20} * 10; i++)); do
    log_after "$1" | grep -qF -- "$2" && return 0
    sleep 0.1
  done
  return 1
}
expect_log() {   # DESC OFFSET TEXT
  if wait_log "$2" "$3"; then pass; else fail "$1: no '$3' in the log" "$(log_after "$2" | tail -n 20)"; fi
}
# send ID: one event to the service; prints the answer line.
send() {
  printf '{"id":"%s","type":"visit","customer":"C-1","at":"2026-03-01T10:00:00Z"}\n' "$1" |
    timeout 30 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline().strip())' "$PORT"
}

if start_serve sv 127.0.0.1:0 --repl "$TMP/sv.sock"; then
  assert_contains "serve: 10 plugins with beat" "$(cat "$SERVE_LOG")" "(10 plugins)"
  expect_log "serve: the plugin's timer prints (as CLIENT/PLUGIN: ...)" 0 "sv/beat: beat v1"
  run_t 30 repl --connect "$TMP/sv.sock" <<'EOF'
#cx.timers()
cx.timers()[1].owner .. " " .. cx.timers()[1].kind .. " " .. cx.timers()[1].seconds
EOF
  assert_eq "serve: cx.timers() in an attached REPL lists the plugin's timer" "$(printf '1\nbeat every 0.1')" "$OUT"

  # A new version of the file: reloaded, only the new timer prints.
  at=$(log_size)
  put beat.lua "$(beat_plugin v2)"
  expect_log "file change: reloaded" "$at" "reloaded config.lua and 10 plugins"
  expect_log "file change: the new version's timer prints" "$at" "sv/beat: beat v2"
  sleep 0.5
  after_reload=$(log_after "$at" | sed -n '/reloaded config.lua/,$p')
  assert_not_contains "file change: the old version's timer stopped at the reload" "$after_reload" "beat v1"
  run_t 30 repl --connect "$TMP/sv.sock" <<<'#cx.timers()'
  assert_eq "file change: one plugin timer, not two" "1" "$OUT"

  # A broken file: the reload fails, v2 goes on, events are acknowledged.
  at=$(log_size)
  put beat.lua 'return {'
  expect_log "broken plugin: the reload fails and says so" "$at" "failed, the previous plugins keep running"
  assert_contains "broken plugin: the file and the error are named" "$(log_after "$at")" "beat.lua:"
  at2=$(log_size)
  expect_log "broken plugin: the previous version's timer still prints" "$at2" "sv/beat: beat v2"
  assert_eq "broken plugin: an event is still acknowledged" '{"ok":true,"id":"during-broken"}' "$(send during-broken)"

  # A reload that fails after a plugin set a timer in on_load: that timer goes too.
  at=$(log_size)
  put boom.lua 'return { name = "boom", version = "1.0", order = 99, on_load = function() error("boom refuses to load") end }'
  expect_log "a second failed reload (beat.lua still broken, boom.lua added)" "$at" "failed, the previous plugins keep running"
  at=$(log_size)
  put beat.lua "$(beat_plugin v3)"
  expect_log "failing on_load: the reload fails" "$at" "boom refuses to load"
  sleep 1
  assert_not_contains "failing on_load: the new version's timer was dropped with the failed reload" "$(log_after "$at")" "beat v3"
  at2=$(log_size)
  expect_log "failing on_load: the running version's timer goes on" "$at2" "sv/beat: beat v2"
  assert_eq "failing on_load: events are acknowledged" '{"ok":true,"id":"during-boom"}' "$(send during-boom)"

  # Remove the failing plugin: v3 comes in.
  at=$(log_size)
  rm "$H/clients/sv/plugins/boom.lua"
  expect_log "fixed: reloaded" "$at" "reloaded config.lua and 10 plugins"
  expect_log "fixed: the new version's timer prints" "$at" "sv/beat: beat v3"
  sleep 0.5
  assert_not_contains "fixed: v2's timer stopped" "$(log_after "$at" | sed -n '/reloaded config.lua/,$p')" "beat v2"
  stop_serve TERM
  assert_eq "serve: SIGTERM: status 0" 0 "$SERVE_RC"
  assert_eq "serve: the events sent during the failed reloads are stored" "during-boom|during-broken" \
    "$(q sv "SELECT group_concat(external_id, '|') AS n FROM (SELECT external_id FROM events ORDER BY 1)")"
fi

# --- serve --no-watch: SIGHUP reloads ----------------------------------------------------------------------
put beat.lua "$(beat_plugin h1)"
if start_serve sv 127.0.0.1:0 --no-watch; then
  expect_log "SIGHUP: the first version prints" 0 "sv/beat: beat h1"
  put beat.lua "$(beat_plugin h2)"
  sleep 1
  assert_not_contains "--no-watch: a file change alone does not reload" "$(cat "$SERVE_LOG")" "reloaded"
  at=$(log_size)
  kill -HUP "$SERVE_PID"
  expect_log "SIGHUP: reloaded" "$at" "reloaded config.lua and 10 plugins (SIGHUP)"
  expect_log "SIGHUP: the new version's timer prints" "$at" "sv/beat: beat h2"
  sleep 0.5
  assert_not_contains "SIGHUP: the old version's timer stopped" "$(log_after "$at" | sed -n '/reloaded config.lua/,$p')" "beat h1"
  # A broken file and SIGHUP: the running plugins stay.
  put beat.lua 'return 42'
  at=$(log_size)
  kill -HUP "$SERVE_PID"
  expect_log "SIGHUP with a broken plugin: fails, the previous plugins keep running" "$at" \
    "reload (SIGHUP) failed, the previous plugins keep running"
  at2=$(log_size)
  expect_log "SIGHUP with a broken plugin: the timer goes on" "$at2" "sv/beat: beat h2"
  assert_eq "SIGHUP with a broken plugin: events are acknowledged" '{"ok":true,"id":"after-hup"}' "$(send after-hup)"
  stop_serve TERM
  assert_eq "serve: SIGTERM: status 0" 0 "$SERVE_RC"
fi

finish
