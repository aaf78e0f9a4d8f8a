#!/usr/bin/env bash
# test_serve_backpressure.sh: a client that sends and does not read its
# answers is slowed down, not buffered without end. It sends 100,000 events
# with 300-character ids (about 40 MB, answered by 31 MB) without reading a
# single answer: the service stops reading it once its unread answers pass
# 4 MiB, so the client's sends block well before the end, and the service's
# memory stays bounded. Then the client reads, and
# every event is answered and stored; other connections were served all along.
. "$(dirname "$0")/lib.sh"

run client add bp
assert_status "client add" 0
start_serve bp 127.0.0.1:0 || finish

python3 - "$PORT" "$SERVE_PID" >"$TMP/result" 2>"$TMP/py.err" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])

def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1

total = 100000
pad = b"x" * 290
data = b"".join(
    b'{"id":"bp-%s-%d","type":"purchase","customer":"c%d","at":"2026-03-01T10:00:00Z","amount":"1.00"}\n'
    % (pad, i, i % 500) for i in range(total))
slow = socket.create_connection(("127.0.0.1", port))
slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
slow.settimeout(3.0)
sent = 0
try:
    while sent < len(data):
        sent += slow.send(data[sent:sent + 65536])
except socket.timeout:
    pass
blocked = sent < len(data)
sent_at_block = sent
peak = rss_mb()

# Another connection is served meanwhile.
other = socket.create_connection(("127.0.0.1", port))
other.sendall(b'{"id":"other-1","type":"visit","customer":"x","at":"2026-03-01T10:00:00Z"}\n')
other.settimeout(10)
other_answer = other.recv(4096).decode().strip()

# Now read: everything gets answered.
slow.settimeout(60)
answers = 0
buf = b""
def drain():
    global answers, buf
    chunk = slow.recv(1 << 20)
    if not chunk:
        raise SystemExit("the service closed the connection")
    buf += chunk
    answers += buf.count(b"\n")
    buf = buf[buf.rfind(b"\n") + 1:] if b"\n" in buf else buf
while sent < len(data):
    slow.setblocking(False)
    try:
        sent += slow.send(data[sent:sent + 65536])
    except BlockingIOError:
        pass
    slow.setblocking(True)
    slow.settimeout(60)
    try:
        slow.settimeout(0.05)
        drain()
    except socket.timeout:
        pass
    peak = max(peak, rss_mb())
slow.settimeout(60)
while answers < total:
    drain()
peak = max(peak, rss_mb())
print(f"blocked={int(blocked)} sent_before_waiting_mb={sent_at_block >> 20} of {len(data) >> 20} answers={answers} "
      f"peak_rss_mb={peak} other={other_answer}")
PY
py=$?
cat "$TMP/result" "$TMP/py.err"
[ "$py" -eq 0 ] || fail "the client script failed"
result=$(cat "$TMP/result")
assert_match "a client that does not read is made to wait" "$result" "blocked=1 "
assert_match "every event is answered in the end" "$result" "answers=100000 "
assert_match "another connection is served meanwhile" "$result" 'other=\{"ok":true,"id":"other-1"\}'
peak=$(sed -n 's/.*peak_rss_mb=\([0-9]*\).*/\1/p' "$TMP/result")
# The 36 MB sent, the answers and the store's cache would be well over this
# if the service buffered without bound; the sanitizer build runs fatter.
limit=200
ldd "$CXHOST" | grep -q asan && limit=600
if [ -n "$peak" ] && [ "$peak" -lt "$limit" ]; then pass; else
  fail "the service's memory stayed under $limit MB (peak ${peak:-?} MB)"; fi
stop_serve TERM
assert_eq "SIGTERM ends serve with 0" "$SERVE_RC" 0
assert_eq "all stored" "$(q bp 'SELECT COUNT(*) AS n FROM events')" 100001
finish
