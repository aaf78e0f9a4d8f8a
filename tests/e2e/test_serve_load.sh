#!/usr/bin/env bash
# test_serve_load.sh: `cxhost serve` under load, stopped and killed.
#
# The bar: 8 concurrent connections sending 50,000 events each; every
# acknowledged event is in the store exactly once, none unacknowledged is
# half-written (every stored purchase has exactly one ledger `earn` row);
# then the service is killed with SIGKILL mid-stream and restarted, and every
# acknowledged event is still there. Also: error answers for a malformed and
# an over-long line (the connection stays usable), duplicates, a blank line,
# a unix socket, SIGTERM (idle and mid-stream: exit 0, what was acknowledged
# is there).
#
# The load comes from tests/tools/cxload, found beside the binary under test
# ($(dirname $CXHOST)/tests/tools/cxload; CXLOAD overrides). In a sanitizer
# build (CXHOST_SANITIZE=1, or a cxhost linked with libasan) the counts are
# 8 x 2,000 instead of 8 x 50,000.
. "$(dirname "$0")/lib.sh"

CXLOAD=${CXLOAD:-$(dirname "$CXHOST")/tests/tools/cxload}
if [ ! -x "$CXLOAD" ]; then
  fail "no cxload at $CXLOAD (cmake --build BUILD --target cxload)"
  finish
fi
for tool in sqlite3 python3; do
  if ! command -v "$tool" >/dev/null; then
    fail "$tool is needed"
    finish
  fi
done

if [ "${CXHOST_SANITIZE:-0}" = 1 ] || ldd "$CXHOST" 2>/dev/null | grep -q 'libasan'; then
  SANITIZE=1
  CONNS=8 EVENTS=2000          # the load phase
  BIG=200000 KILL_AT=1500      # the SIGKILL phase: kill after KILL_AT acknowledged
  TERM_AT=1000                 # the SIGTERM-mid-stream phase
  LIMIT=300                    # seconds for one cxload run or one stop
else
  SANITIZE=0
  CONNS=8 EVENTS=50000
  BIG=1000000 KILL_AT=40000
  TERM_AT=20000
  LIMIT=240
fi
WINDOW=512
export LC_ALL=C

SERVE_PID=
LOAD_PID=
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill -9 "$SERVE_PID" 2>/dev/null; fi
  if [ -n "$LOAD_PID" ]; then kill -9 "$LOAD_PID" 2>/dev/null; fi
  rm -rf "$H"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '  %s\n' "$*"; }

db() { printf '%s/clients/%s/store.db' "$H" "$1"; }
sql() {   # CLIENT SQL: sqlite3 on the client's store (only while no serve runs on it)
  sqlite3 -batch -bail "$(db "$1")" "$2" 2>&1
}

# load ARGS...: runs cxload (at most LIMIT s); LOAD_OUT, LOAD_ERR, LOAD_RC.
load() {
  timeout -k 5 "$LIMIT" "$CXLOAD" "$@" >"$TMP/load.out" 2>"$TMP/load.err"
  LOAD_RC=$?
  LOAD_OUT=$(cat "$TMP/load.out")
  LOAD_ERR=$(cat "$TMP/load.err")
  ERR=$LOAD_ERR
  check_sanitizer cxload
}

# wait_lines FILE N PID: until FILE has N lines, or PID (cxload) has ended.
wait_lines() {
  local i
  for ((i = 0; i < LIMIT * 20; i++)); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# A small client: sends its standard input as it is to ADDR, then prints the
# answer lines until WANT have come and 1 s more has passed with none (or 60 s).
cat >"$TMP/client.py" <<'EOF'
import socket, sys, time
addr, want = sys.argv[1], int(sys.argv[2])
if addr.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(addr[5:])
else:
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
s.sendall(sys.stdin.buffer.read())
buf, got, deadline = b"", 0, time.time() + 60
while time.time() < deadline:
    s.settimeout(1.0 if got >= want else max(0.1, deadline - time.time()))
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        if got >= want:
            break
        continue
    if not chunk:
        break
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        print(line.decode("utf-8", "replace"), flush=True)
        got += 1
if buf:
    print("PARTIAL " + buf.decode("utf-8", "replace"))
EOF
talk() {   # ADDR WANT < input: the answers, one a line
  timeout -k 5 90 python3 "$TMP/client.py" "$@"
}

# purchase ID [AMOUNT]: one event line.
purchase() {
  printf '{"id":"%s","type":"purchase","customer":"p-cust","at":"1997-02-01T10:00:00Z","amount":"%s","touchpoint":"web"}\n' \
    "$1" "${2:-10.00}"
}

# The store's invariants for CLIENT: integrity, every purchase with exactly one
# `earn` row, no `earn` row without its event, `cxhost check`.
check_store() {
  local client=$1 what=$2
  assert_eq "$what: integrity_check" ok "$(sql "$client" 'PRAGMA integrity_check')"
  assert_eq "$what: every purchase has exactly one ledger earn row" 0 "$(sql "$client" "
    SELECT COUNT(*) FROM events e
    LEFT JOIN (SELECT event_id, COUNT(*) AS c FROM ledger WHERE kind = 'earn' GROUP BY event_id) l
      ON l.event_id = e.id
    WHERE e.type = 'purchase' AND (l.c IS NULL OR l.c <> 1)")"
  assert_eq "$what: no earn row without its event" 0 "$(sql "$client" "
    SELECT COUNT(*) FROM ledger WHERE kind = 'earn'
      AND (event_id IS NULL OR event_id NOT IN (SELECT id FROM events))")"
  run_t "$LIMIT" check --client "$client"
  assert_status "$what: cxhost check" 0
}

# ids CLIENT PREFIX: the stored event ids starting with PREFIX-, sorted.
ids() {
  sql "$1" "SELECT external_id FROM events WHERE external_id LIKE '$2-%'" | sort
}

# A summary line of cxload.
SUMMARY_RE='^sent ([0-9]+) acknowledged ([0-9]+) failed ([0-9]+) in ([0-9.]+) s: ([0-9]+) events/s$'
DUPS_RE='\(([0-9]+) duplicates\)'

echo "cxhost serve under load ($([ $SANITIZE = 1 ] && echo 'sanitizer build, small counts' || echo 'normal build'))"
T0=$(now)

# ---- 1. load: CONNS x EVENTS over TCP, then protocol checks, then SIGTERM -----------
cx client add load >/dev/null
if ! start_serve load 127.0.0.1:0; then finish; fi
assert_match "ready line" "$READY" "^cxhost serve: client 'load' listening on 127\.0\.0\.1:[0-9]+ \([0-9]+ plugins?\)$"
assert_match "ready line: a port" "$PORT" '^[1-9][0-9]*$'
total=$((CONNS * EVENTS))
t=$(now)
load --connect "127.0.0.1:$PORT" --connections "$CONNS" --events "$EVENTS" --prefix L \
  --window "$WINDOW" --acked "$TMP/load.acked"
say "load: $CONNS connections x $EVENTS events: $LOAD_OUT ($(elapsed "$t") s)"
assert_eq "load: cxload exit status" 0 "$LOAD_RC"
assert_match "load: cxload summary" "$LOAD_OUT" "$SUMMARY_RE"
assert_eq "load: all sent and acknowledged, none failed" "sent $total acknowledged $total failed 0" \
  "$(sed -E 's/ in .*//' <<<"$LOAD_OUT")"
if [ "$LOAD_RC" -ne 0 ]; then say "$LOAD_ERR"; fi
sort "$TMP/load.acked" >"$TMP/load.acked.sorted"
assert_eq "load: acked ids" "$total" "$(wc -l <"$TMP/load.acked.sorted")"
assert_eq "load: acked ids unique" 0 "$(uniq -d "$TMP/load.acked.sorted" | wc -l)"

# Protocol on a live, loaded service: a malformed line, an over-long line (over
# the default --max-line of 1 MiB), a blank line (no answer), good lines, a
# line with an id but no time, and duplicates (one of this connection, and 100
# of the load), all on one connection, answered in order.
{
  printf '{"id": "p-bad", "type": \n'
  printf '{"id":"p-long","type":"purchase","customer":"p-cust","at":"1997-02-01T10:00:00Z","amount":"1.00","pad":"'
  head -c 1100000 /dev/zero | tr '\0' x
  printf '"}\n'
  printf '\n'
  purchase p-good-1 12.34
  printf '{"id":"p-notime","type":"purchase","customer":"p-cust","amount":"1.00"}\n'
  purchase p-good-2 "5.00"
  purchase p-good-1 12.34
  for ((i = 0; i < 100; i++)); do purchase "L-3-$i"; done
} >"$TMP/proto.in"
mapfile -t A < <(talk "127.0.0.1:$PORT" 106 <"$TMP/proto.in")
assert_eq "protocol: one answer a non-blank line" 106 "${#A[@]}"
assert_match "protocol: malformed line refused, id null" "${A[0]:-}" '^\{"ok":false,"id":null,"error":"[^"]+'
assert_match "protocol: over-long line refused" "${A[1]:-}" '^\{"ok":false,"id":(null|"p-long"),"error":"[^"]+'
assert_eq "protocol: next good line acknowledged" '{"ok":true,"id":"p-good-1"}' "${A[2]:-}"
assert_match "protocol: an event without a time refused, with its id" "${A[3]:-}" '^\{"ok":false,"id":"p-notime","error":"[^"]+'
assert_eq "protocol: good line after an error" '{"ok":true,"id":"p-good-2"}' "${A[4]:-}"
assert_eq "protocol: a duplicate of this connection" '{"ok":true,"id":"p-good-1","duplicate":true}' "${A[5]:-}"
want=""
got=""
for ((i = 0; i < 100; i++)); do
  want+="{\"ok\":true,\"id\":\"L-3-$i\",\"duplicate\":true};"
  got+="${A[$((6 + i))]:-};"
done
assert_eq "protocol: 100 events of the load resent are duplicates" "$want" "$got"
say "protocol: error answers: ${A[0]:-} | ${A[1]:0:200} | ${A[3]:-}"

t=$(now)
stop_serve TERM
assert_eq "load: SIGTERM exits 0" 0 "$SERVE_RC"
say "load: stopped by SIGTERM in $(elapsed "$t") s; serve's last words: $(tail -n 1 "$SERVE_LOG")"
ids load L >"$TMP/load.stored"
assert_eq "load: stored L- events" "$total" "$(wc -l <"$TMP/load.stored")"
assert_eq "load: every acknowledged id stored exactly once" "" \
  "$(diff "$TMP/load.acked.sorted" "$TMP/load.stored" | head -n 5)"
assert_eq "load: events = acknowledged + the 2 good protocol lines" "$((total + 2))" \
  "$(sql load 'SELECT COUNT(*) FROM events')"
assert_eq "load: the protocol's refused lines are not stored" 0 \
  "$(sql load "SELECT COUNT(*) FROM events WHERE external_id IN ('p-bad', 'p-long', 'p-notime')")"
assert_eq "load: p-good-1 once, with its amount" "1|1234" \
  "$(sql load "SELECT COUNT(*), MAX(amount_cents) FROM events WHERE external_id = 'p-good-1'")"
assert_eq "load: amounts and times as generated" 0 "$(sql load "
  SELECT COUNT(*) FROM events WHERE external_id LIKE 'L-%'
    AND (amount_cents NOT BETWEEN 100 AND 50099 OR type <> 'purchase' OR customer_id IS NULL
         OR at < 852076800 OR at >= 852076800 + $EVENTS * 60 OR at % 60 <> 0)")"
# cxload's event N of a connection is at 1997-01-01 + N minutes, ISO-8601 or
# (every 4th: N % 4 = 3) Unix seconds; the amount a string (odd N) or a number.
assert_eq "load: times of L-5-1232 (ISO) and L-5-1235 (Unix seconds)" \
  "$((852076800 + 1232 * 60))|$((852076800 + 1235 * 60))" \
  "$(sql load "SELECT (SELECT at FROM events WHERE external_id = 'L-5-1232') || '|' ||
                      (SELECT at FROM events WHERE external_id = 'L-5-1235')")"
t=$(now)
check_store load "load"
say "load: store checks in $(elapsed "$t") s"

# ---- 2. a unix socket, --max-line ------------------------------------------------------
cx client add sock >/dev/null
SOCK=$H/serve.sock
if start_serve sock "unix:$SOCK" --max-line 4096; then
  assert_eq "unix: ready line" "cxhost serve: client 'sock' listening on unix:$SOCK" "$(sed -E 's/ \([0-9]+ plugins?\)$//' <<<"$READY")"
  load --connect "unix:$SOCK" --connections 4 --events 500 --prefix U --acked "$TMP/sock.acked"
  say "unix: 4 x 500: $LOAD_OUT"
  assert_eq "unix: cxload" "0 sent 2000 acknowledged 2000 failed 0" "$LOAD_RC $(sed -E 's/ in .*//' <<<"$LOAD_OUT")"
  {
    printf '{"id":"u-long","type":"purchase","customer":"u","at":"1997-02-01T10:00:00Z","amount":"1.00","pad":"'
    head -c 5000 /dev/zero | tr '\0' y
    printf '"}\n'
    purchase u-good
  } | talk "unix:$SOCK" 2 >"$TMP/sock.answers"
  mapfile -t A <"$TMP/sock.answers"
  assert_eq "unix: two answers" 2 "${#A[@]}"
  assert_match "unix: a line over --max-line 4096 refused" "${A[0]:-}" '^\{"ok":false,"id":(null|"u-long"),"error":"[^"]+'
  assert_eq "unix: then a good line" '{"ok":true,"id":"u-good"}' "${A[1]:-}"
  stop_serve TERM
  assert_eq "unix: SIGTERM exits 0" 0 "$SERVE_RC"
  assert_eq "unix: events stored" 2001 "$(sql sock 'SELECT COUNT(*) FROM events')"
  assert_eq "unix: acked ids stored" "" "$(comm -23 <(sort "$TMP/sock.acked") <(ids sock U))"
fi

# ---- 3. the same events from two loads at once: each stored once ------------------------
cx client add twice >/dev/null
if start_serve twice 127.0.0.1:0; then
  n=$((EVENTS / 10))
  t=$(now)
  "$CXLOAD" --connect "127.0.0.1:$PORT" --connections 4 --events "$n" --prefix D \
    --acked "$TMP/twice1.acked" >"$TMP/twice1.out" 2>"$TMP/twice1.err" &
  LOAD_PID=$!
  load --connect "127.0.0.1:$PORT" --connections 4 --events "$n" --prefix D --acked "$TMP/twice2.acked"
  wait "$LOAD_PID"
  rc=$?
  LOAD_PID=
  ERR=$(cat "$TMP/twice1.err")
  check_sanitizer cxload
  say "twice: two cxload of 4 x $n, the same ids, at once: $(cat "$TMP/twice1.out") / $LOAD_OUT ($(elapsed "$t") s)"
  assert_eq "twice: both loads acknowledged in full" "0 0" "$rc $LOAD_RC"
  d1=0 d2=0
  if [[ $(cat "$TMP/twice1.err") =~ $DUPS_RE ]]; then d1=${BASH_REMATCH[1]}; fi
  if [[ $LOAD_ERR =~ $DUPS_RE ]]; then d2=${BASH_REMATCH[1]}; fi
  assert_eq "twice: one answer of each pair is a duplicate" "$((4 * n))" "$((d1 + d2))"
  stop_serve TERM
  assert_eq "twice: SIGTERM exits 0" 0 "$SERVE_RC"
  assert_eq "twice: each id stored once" "$((4 * n)) $((4 * n))" \
    "$(sql twice "SELECT COUNT(*) || ' ' || COUNT(DISTINCT external_id) FROM events")"
  check_store twice "twice"
fi

# ---- 4. SIGTERM mid-stream: exit 0, what was acknowledged is there ---------------------
cx client add term >/dev/null
if start_serve term 127.0.0.1:0; then
  "$CXLOAD" --connect "127.0.0.1:$PORT" --connections "$CONNS" --events "$BIG" --prefix T \
    --window "$WINDOW" --acked "$TMP/term.acked" >"$TMP/term.out" 2>"$TMP/term.err" &
  LOAD_PID=$!
  wait_lines "$TMP/term.acked" "$TERM_AT" "$LOAD_PID" || fail "term: cxload ended before $TERM_AT acknowledgements" "$(cat "$TMP/term.err")"
  t=$(now)
  stop_serve TERM
  wait "$LOAD_PID"
  rc=$?
  LOAD_PID=
  ERR=$(cat "$TMP/term.err")
  check_sanitizer cxload
  assert_eq "term: SIGTERM mid-stream exits 0" 0 "$SERVE_RC"
  say "term: stopped by SIGTERM mid-stream in $(elapsed "$t") s; cxload (status $rc): $(cat "$TMP/term.out")"
  sort "$TMP/term.acked" >"$TMP/term.acked.sorted"
  ids term T >"$TMP/term.stored"
  n_acked=$(wc -l <"$TMP/term.acked.sorted")
  n_stored=$(wc -l <"$TMP/term.stored")
  say "term: $n_acked acknowledged, $n_stored stored"
  assert_eq "term: every acknowledged id stored" "" "$(comm -23 "$TMP/term.acked.sorted" "$TMP/term.stored" | head -n 5)"
  # What it received it committed and acknowledged: nothing stored unacknowledged.
  assert_eq "term: every stored id acknowledged (SIGTERM acknowledges what it committed)" "" \
    "$(comm -13 "$TMP/term.acked.sorted" "$TMP/term.stored" | head -n 5)"
  check_store term "term"
fi

# ---- 5. SIGKILL mid-stream, restart, resend ---------------------------------------------
cx client add crash >/dev/null
if start_serve crash 127.0.0.1:0; then
  "$CXLOAD" --connect "127.0.0.1:$PORT" --connections "$CONNS" --events "$BIG" --prefix K \
    --window "$WINDOW" --acked "$TMP/kill.acked" >"$TMP/kill.out" 2>"$TMP/kill.err" &
  LOAD_PID=$!
  wait_lines "$TMP/kill.acked" "$KILL_AT" "$LOAD_PID" || fail "kill: cxload ended before $KILL_AT acknowledgements" "$(cat "$TMP/kill.err")"
  kill -9 "$SERVE_PID"
  wait "$SERVE_PID" 2>/dev/null
  SERVE_PID=
  wait "$LOAD_PID"
  rc=$?
  LOAD_PID=
  ERR=$(cat "$TMP/kill.err")
  check_sanitizer cxload
  say "kill: SIGKILL mid-stream; cxload (status $rc): $(cat "$TMP/kill.out")"
  assert_eq "kill: cxload saw the server die (status 1)" 1 "$rc"
  assert_contains "kill: no error answers before the kill" "$(cat "$TMP/kill.err")" " 0 error answers"
  sort "$TMP/kill.acked" >"$TMP/kill.acked.sorted"
  n_acked=$(wc -l <"$TMP/kill.acked.sorted")

  # Restart: the store recovers; stop it again to look at the store alone.
  if start_serve crash 127.0.0.1:0; then
    stop_serve TERM
    assert_eq "kill: restarted serve, SIGTERM exits 0" 0 "$SERVE_RC"
  fi
  ids crash K >"$TMP/kill.stored"
  n_stored=$(wc -l <"$TMP/kill.stored")
  say "kill: $n_acked acknowledged before the kill, $n_stored stored after the restart ($((n_stored - n_acked)) committed but not acknowledged)"
  assert_eq "kill: every acknowledged id is still there" "" "$(comm -23 "$TMP/kill.acked.sorted" "$TMP/kill.stored" | head -n 5)"
  assert_eq "kill: stored ids unique" 0 "$(uniq -d "$TMP/kill.stored" | wc -l)"
  check_store crash "kill"

  # Resend everything that can have been sent: event N of a connection was sent
  # only if N < (answers on it) + window, and every answer was an acknowledgement.
  max_n=$(sed -E 's/^K-[0-9]+-//' "$TMP/kill.acked" | sort -n | tail -n 1)
  resend=$((max_n + 1 + WINDOW))
  if start_serve crash 127.0.0.1:0; then
    load --connect "127.0.0.1:$PORT" --connections "$CONNS" --events "$resend" --prefix K \
      --window "$WINDOW" --acked "$TMP/resend.acked"
    say "kill: resend $CONNS x $resend: $LOAD_OUT"
    assert_eq "kill: resend all acknowledged" "0 sent $((CONNS * resend)) acknowledged $((CONNS * resend)) failed 0" \
      "$LOAD_RC $(sed -E 's/ in .*//' <<<"$LOAD_OUT")"
    dups=
    if [[ $LOAD_ERR =~ $DUPS_RE ]]; then dups=${BASH_REMATCH[1]}; fi
    assert_eq "kill: resend: what was stored is answered duplicate" "$n_stored" "$dups"
    stop_serve TERM
    assert_eq "kill: SIGTERM after the resend exits 0" 0 "$SERVE_RC"
    ids crash K >"$TMP/resend.stored"
    assert_eq "kill: after the resend, every id stored exactly once" \
      "$((CONNS * resend)) 0" "$(wc -l <"$TMP/resend.stored") $(uniq -d "$TMP/resend.stored" | wc -l)"
    assert_eq "kill: after the resend, every resent id stored" "" \
      "$(comm -23 <(sort "$TMP/resend.acked") "$TMP/resend.stored" | head -n 5)"
    check_store crash "kill, resent"
  fi
fi

# ---- 6. a client that stops reading, then goes away, does not stop the service ----------
# It sends until the service stops reading from it (its answers pile up), then
# closes the connection with answers unread: writing them fails (EPIPE), which
# must not end the process (SIGPIPE). Skipped in a sanitizer build: it takes a
# few hundred thousand events to fill the buffers.
cat >"$TMP/noread.py" <<'EOF'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.settimeout(2)
sent, t = 0, time.time()
try:
    while time.time() - t < 60:
        s.sendall(b'{"id":"N-%d","type":"purchase","customer":"c%d","at":0,"amount":"1.00"}\n' % (sent, sent % 1000))
        sent += 1
except socket.timeout:
    pass
print("%d events sent in %.1f s before the service stopped reading" % (sent, time.time() - t))
s.close()
EOF
if [ "$SANITIZE" = 0 ]; then
  cx client add deaf >/dev/null
  if start_serve deaf 127.0.0.1:0; then
    t=$(now)
    out=$(timeout -k 5 90 python3 "$TMP/noread.py" "$PORT")
    sleep 1
    if kill -0 "$SERVE_PID" 2>/dev/null; then
      pass
      say "deaf: $out; the service lives on ($(elapsed "$t") s)"
      assert_eq "deaf: a new connection is served" '{"ok":true,"id":"after-deaf"}' \
        "$(purchase after-deaf | talk "127.0.0.1:$PORT" 1)"
      stop_serve TERM
      assert_eq "deaf: SIGTERM exits 0" 0 "$SERVE_RC"
    else
      wait "$SERVE_PID"
      SERVE_RC=$?
      SERVE_PID=
      fail "deaf: serve ended (exit status $SERVE_RC$([ $SERVE_RC = 141 ] && echo ', SIGPIPE')) when a client that stopped reading closed its connection" \
        "$out" "$(tail -n 5 "$SERVE_LOG")"
    fi
    check_store deaf "deaf"
  fi
fi

say "total $(elapsed "$T0") s"
finish
