# service-send: sends events to a running `cxhost serve` and prints its
# answers, one line for each event, in order.
#   python3 docs/examples/service-send.py ADDRESS [FILE ...]
# ADDRESS is what the service listens on: unix:PATH or HOST:PORT. The files
# hold NDJSON events, one per line; without a file, they are read from the
# standard input.
import socket
import sys
import threading

address, files = sys.argv[1], sys.argv[2:]
if address.startswith("unix:"):
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(address[len("unix:"):])
else:
    host, _, port = address.rpartition(":")
    conn = socket.create_connection((host.strip("[]"), int(port)))


def send():
    for name in files or ["-"]:
        f = sys.stdin.buffer if name == "-" else open(name, "rb")
        for chunk in iter(lambda: f.read(65536), b""):
            conn.sendall(chunk)
    conn.shutdown(socket.SHUT_WR)  # no more events: the service answers the rest, then hangs up


# Send and read at the same time: the service stops reading a connection
# whose answers are not being read.
threading.Thread(target=send, daemon=True).start()
for answer in conn.makefile(encoding="utf-8"):
    print(answer, end="", flush=True)
