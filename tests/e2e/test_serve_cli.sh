#!/usr/bin/env bash
# test_serve_cli.sh: `cxhost serve` on the command line: its help, usage
# errors, addresses it cannot take (each named in the message, exit 1, and
# nothing left listening), and the ready line with the port picked.
. "$(dirname "$0")/lib.sh"

run client add s
assert_status "client add" 0

run serve --help
assert_status "serve --help" 0
assert_contains "help: the protocol" "$OUT" '{"ok":true,"id":"ID"}'
assert_contains "help: the options" "$OUT" "--max-line BYTES"
run repl --help
assert_status "repl --help" 0
assert_contains "repl help: --connect" "$OUT" "--connect PATH"

run serve --client s
assert_status "serve without --listen" 2
assert_contains "usage named" "$ERR" "usage: cxhost serve --client NAME --listen"
run serve --listen 127.0.0.1:0
assert_status "serve without --client" 2
assert_contains "which client" "$ERR" "give --client NAME"
run serve --client s --listen nonsense
assert_status "serve --listen nonsense" 1
assert_contains "bad address explained" "$ERR" "--listen 'nonsense': give HOST:PORT (127.0.0.1:7070) or unix:PATH"
run serve --client s --listen 1.2.3:80
assert_status "serve --listen 1.2.3:80" 1
assert_contains "not an IP address" "$ERR" "'1.2.3' is not an IP address"
run serve --client s --listen 127.0.0.1:99999
assert_status "port out of range" 1
assert_contains "port range" "$ERR" "the port must be a number from 0 to 65535"
run serve --client s --listen 127.0.0.1:0 --max-line 5
assert_status "--max-line too small" 2
assert_contains "--max-line range" "$ERR" "from 64 to 1073741824"
run serve --client nobody --listen 127.0.0.1:0
assert_status "serve of a client that does not exist" 1
assert_contains "no such client" "$ERR" "no client 'nobody'"
run repl --client s --connect "$TMP/x.sock"
assert_status "repl with both --client and --connect" 2
run repl --connect "$TMP/nothing.sock"
assert_status "repl --connect to nothing" 1
assert_contains "attach error names the socket" "$ERR" "cannot attach to $TMP/nothing.sock"

# A running service: the ready line names the port; a second one on the same port is refused.
start_serve s 127.0.0.1:0 || finish
assert_match "ready line" "$READY" "^cxhost serve: client 's' listening on 127\.0\.0\.1:[0-9]+ \(9 plugins\)$"
run_t 20 serve --client s --listen "127.0.0.1:$PORT"
assert_status "the same port twice" 1
assert_contains "address in use" "$ERR" "cannot listen on 127.0.0.1:$PORT: address already in use"
stop_serve INT
assert_eq "SIGINT: exit 0" "$SERVE_RC" 0
assert_contains "SIGINT logged" "$ERR" "SIGINT: no new connections; committing what was received"
assert_contains "the end logged" "$ERR" "stopped: 0 lines received, 0 events stored"

# A unix socket is removed at the end.
"$CXHOST" --home "$H" serve --client s --listen "unix:$TMP/ev.sock" 2>"$TMP/unix.err" &
pid=$!
for _ in $(seq 1 300); do [ -S "$TMP/ev.sock" ] && break; sleep 0.1; done
assert_eq "the unix socket is there" "$([ -S "$TMP/ev.sock" ] && echo yes)" yes
# A second service on the same socket is refused, and the first keeps it.
run_t 20 serve --client s --listen "unix:$TMP/ev.sock"
assert_status "the same unix socket twice" 1
assert_contains "socket in use" "$ERR" "--listen unix:$TMP/ev.sock: another service is listening there"
assert_eq "the first's socket is still there" "$([ -S "$TMP/ev.sock" ] && echo yes)" yes
kill -TERM "$pid"
wait "$pid"
assert_eq "SIGTERM: exit 0" "$?" 0
assert_eq "the unix socket is gone" "$([ -e "$TMP/ev.sock" ] && echo yes || echo no)" no
# A socket file left by a killed service is taken over.
"$CXHOST" --home "$H" serve --client s --listen "unix:$TMP/ev.sock" 2>"$TMP/unix.err" &
pid=$!
for _ in $(seq 1 300); do [ -S "$TMP/ev.sock" ] && break; sleep 0.1; done
kill -KILL "$pid"
wait "$pid" 2>/dev/null
assert_eq "a killed service leaves its socket file" "$([ -S "$TMP/ev.sock" ] && echo yes)" yes
"$CXHOST" --home "$H" serve --client s --listen "unix:$TMP/ev.sock" 2>"$TMP/again.err" &
pid=$!
for _ in $(seq 1 300); do grep -q listening "$TMP/again.err" 2>/dev/null && break; sleep 0.1; done
assert_contains "the stale socket is taken over" "$(cat "$TMP/again.err")" "listening on unix:$TMP/ev.sock"
kill -TERM "$pid"
wait "$pid"
finish
