# lib.sh: helpers shared by the end-to-end tests (source it, do not run it).
#
#   . "$(dirname "$0")/lib.sh"
#
# Environment (ctest sets it): CXHOST the binary under test, CXHOST_DATA_DIR
# the folder of the CDNOW files, CXHOST_SOURCE_DIR the source tree.
#
# What it gives a test:
#   $H                      a fresh workspace (--home), removed on exit
#   $TMP                    a scratch folder inside it for input files
#   cx ARGS...              runs cxhost --home $H ARGS (output as it is)
#   run ARGS...             runs cxhost --home $H ARGS, keeping $OUT (stdout),
#                           $ERR (stderr) and $RC (exit status); never times out
#   run_t SECONDS ARGS...   the same with a time limit ($RC 124 when it ran out)
#                           (both fail the test on a sanitizer report in $ERR)
#   q CLIENT SQL [ARGS...]  prints the column `n` of the first row of a
#                           cx.query (ARGS are passed as query parameters,
#                           as strings); "ERROR: ..." when the query fails
#   plugin CLIENT FILE      writes standard input to the client's plugins/FILE
#   start_serve CLIENT LISTEN [ARGS...]   starts `cxhost serve` in the background
#                           and waits for its ready line: SERVE_PID, SERVE_LOG
#                           (its log), READY (the line), PORT (for TCP); when it
#                           does not start, a failed check and status 1
#   stop_serve SIGNAL       sends it and waits (LIMIT s, default 60): SERVE_RC
#                           its exit status, ERR its log
#   pass / fail MESSAGE     counts a check (fail prints MESSAGE and context)
#   assert_eq DESC WANT GOT
#   assert_contains DESC HAYSTACK NEEDLE      (fixed string)
#   assert_not_contains DESC HAYSTACK NEEDLE
#   assert_match DESC HAYSTACK REGEX          (bash extended regular expression)
#   assert_status DESC WANT                   checks $RC (after run)
#   finish                  prints "N passed, M failed"; exits 1 if any failed
#
# The tests use `set -u` and explicit checks: a failing check is counted and
# reported, and the test goes on, so one run shows every failure.

set -u

if [ -z "${CXHOST:-}" ]; then
  echo "set CXHOST to the cxhost binary (ctest does)" >&2
  exit 2
fi
case $CXHOST in
  /*) ;;
  *) CXHOST=$(cd "$(dirname "$CXHOST")" && pwd)/$(basename "$CXHOST") ;;
esac
if [ ! -x "$CXHOST" ]; then
  echo "CXHOST=$CXHOST is not an executable" >&2
  exit 2
fi
SRC=${CXHOST_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DATA=${CXHOST_DATA_DIR:-$SRC/../shared/data/cdnow}
# Progress bars and colours only on terminals: the tests read plain text.
export CI=1
unset CXHOST_HOME

H=$(mktemp -d "${TMPDIR:-/tmp}/cxhost-e2e.XXXXXX") || exit 1
TMP=$H/tmp
mkdir -p "$TMP"
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill -9 "$SERVE_PID" 2>/dev/null; rm -rf "$H"' EXIT

PASSED=0
FAILED=0
OUT=
ERR=
RC=0

cx() {
  "$CXHOST" --home "$H" "$@"
}

# A sanitizer report (in a -DCXHOST_SANITIZE=ON build) is a failure even when
# the exit status is the one expected (ASan exits with 1 too).
check_sanitizer() {
  if [[ $ERR == *AddressSanitizer* || $ERR == *LeakSanitizer* || $ERR =~ \.c:[0-9]+:[0-9]+:\ runtime\ error: ]]; then
    fail "sanitizer report from: cxhost $*" "$ERR"
  fi
}

run() {
  "$CXHOST" --home "$H" "$@" >"$TMP/.out" 2>"$TMP/.err"
  RC=$?
  OUT=$(cat "$TMP/.out")
  ERR=$(cat "$TMP/.err")
  check_sanitizer "$@"
}

run_t() {
  local limit=$1
  shift
  timeout -k 5 "$limit" "$CXHOST" --home "$H" "$@" >"$TMP/.out" 2>"$TMP/.err"
  RC=$?
  OUT=$(cat "$TMP/.out")
  ERR=$(cat "$TMP/.err")
  check_sanitizer "$@"
}

# A Lua long string that holds s whatever it contains.
lua_quote() {
  local s=$1 eqs="="
  while [[ $s == *"]$eqs]"* ]]; do
    eqs="$eqs="
  done
  printf '[%s[%s]%s]' "$eqs" "$s" "$eqs"
}

q() {
  local client=$1 sql=$2
  shift 2
  local params="" p
  for p in "$@"; do
    params="$params, $(lua_quote "$p")"
  done
  local out
  if out=$("$CXHOST" --home "$H" eval --client "$client" \
      "local r = cx.query($(lua_quote "$sql")$params)[1]; return tostring(r and r.n)" 2>&1); then
    printf '%s\n' "$out"
  else
    printf 'ERROR: %s\n' "$out" | head -n 3
  fi
}

pass() {
  PASSED=$((PASSED + 1))
}

fail() {
  FAILED=$((FAILED + 1))
  printf 'FAIL: %s\n' "$1"
  if [ $# -gt 1 ]; then
    shift
    printf '%s\n' "$@" | head -n 40 | sed 's/^/    /'
  fi
}

assert_eq() {
  if [ "$2" == "$3" ]; then
    pass
  else
    fail "$1" "want: $2" "got:  $3"
  fi
}

assert_contains() {
  if [[ $2 == *"$3"* ]]; then
    pass
  else
    fail "$1" "expected to find: $3" "in: $2"
  fi
}

assert_not_contains() {
  if [[ $2 != *"$3"* ]]; then
    pass
  else
    fail "$1" "expected NOT to find: $3" "in: $2"
  fi
}

assert_match() {
  if [[ $2 =~ $3 ]]; then
    pass
  else
    fail "$1" "expected to match: $3" "in: $2"
  fi
}

assert_status() {
  if [ "$RC" -eq "$2" ]; then
    pass
  else
    fail "$1: exit status $RC, want $2" "stdout: $OUT" "stderr: $ERR"
  fi
}

plugin() {   # CLIENT FILE  (text on stdin)
  mkdir -p "$H/clients/$1/plugins"
  cat >"$H/clients/$1/plugins/$2"
}

finish() {
  echo "$PASSED passed, $FAILED failed"
  if [ "$FAILED" -ne 0 ] || [ "$PASSED" -eq 0 ]; then
    exit 1
  fi
  exit 0
}

SERVE_N=0
start_serve() {
  local client=$1 listen=$2
  shift 2
  SERVE_N=$((SERVE_N + 1))
  SERVE_LOG=$TMP/serve-$SERVE_N.log
  "$CXHOST" --home "$H" serve --client "$client" --listen "$listen" "$@" 2>"$SERVE_LOG" &
  SERVE_PID=$!
  PORT=
  READY=
  local i
  for ((i = 0; i < 600; i++)); do
    READY=$(grep -m1 "^cxhost serve: client '$client' listening on " "$SERVE_LOG" 2>/dev/null)
    if [ -n "$READY" ]; then
      break
    fi
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
      wait "$SERVE_PID"
      fail "serve --client $client --listen $listen $*: exited with $? before its ready line" \
        "$(cat "$SERVE_LOG")"
      SERVE_PID=
      return 1
    fi
    sleep 0.1
  done
  if [ -z "$READY" ]; then
    fail "serve --client $client: no ready line in 60 s" "$(cat "$SERVE_LOG")"
    return 1
  fi
  if [[ $READY =~ listening\ on\ 127\.0\.0\.1:([0-9]+)\  ]]; then
    PORT=${BASH_REMATCH[1]}
  fi
  return 0
}

stop_serve() {
  local sig=$1 i
  kill -s "$sig" "$SERVE_PID"
  for ((i = 0; i < ${LIMIT:-60} * 10; i++)); do
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVE_PID" 2>/dev/null; then
    fail "serve did not exit within ${LIMIT:-60} s of SIG$sig" "$(tail -n 20 "$SERVE_LOG")"
    kill -9 "$SERVE_PID"
  fi
  wait "$SERVE_PID"
  SERVE_RC=$?
  SERVE_PID=
  ERR=$(cat "$SERVE_LOG")
  check_sanitizer serve
}
