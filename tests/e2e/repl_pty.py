#!/usr/bin/env python3
"""repl_pty.py: drives a command (the cxhost REPL) through a pseudo-terminal.

    python3 repl_pty.py [--term dumb] [--cols 80] [--rows 24] [--timeout 15]
                        [--transcript FILE] STEPS_FILE -- COMMAND [ARGS...]

The command runs in a new session whose controlling terminal is the pty
(stdin, stdout and stderr all on it), with TERM set and INPUTRC=/dev/null so
that no personal readline setup gets in. STEPS_FILE holds one JSON object a
line (blank lines and lines starting with # are skipped):

    {"send": "1+2\\r"}                   write the text to the terminal
    {"expect": "TEXT", "desc": "..."}    wait until TEXT appears in the output
    {"expect_re": "REGEX", "desc": ...}  the same with a Python regular expression
    {"expect_raw": "TEXT", "desc": ...}  the same on the raw bytes (escapes kept)
    {"absent": "TEXT", "desc": ...}      TEXT is not in the output seen since the mark
    {"absent_raw": "TEXT", "desc": ...}  the same on the raw bytes
    {"wait": 0.5}                        read the output for that many seconds
    {"mark": true}                       move the mark to the end of the output
    {"exit": 0, "desc": ...}             wait for the command to exit with that status

expect/expect_re/expect_raw look at the output after the mark (what earlier
expects matched), then move the mark past the match; each may have its own
"timeout". The text they see is cleaned: terminal escape sequences and
carriage returns are dropped (expect_raw sees the bytes as they came).

A step may also have both "send" and an expect (or "exit"): it sends, then
waits. It prints one line per check, for the test to count:

    ok<TAB>DESC
    FAIL<TAB>DESC<TAB>DETAIL     (DETAIL on one line: what was seen)

Only the steps with a "desc" are checks of their own (an "ok" line); the
others are places to wait at, and a failure there is reported all the same
(as "waiting for ...").

The first failed step ends the run (the command is killed), but for an
"absent" one, which lets the next steps go on. At the end, the
command must have exited (an "exit" step) and its output must hold no
sanitizer report. The exit status is 0 when every check passed, else 1.
"""

import errno
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

ESCAPES = re.compile(
    rb"\x1b\[[0-9;?<>=!]*[ -/]*[@-~]"      # CSI: colours, cursor moves, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles
    rb"|\x1b[()][0-9A-Za-z]"               # character sets
    rb"|\x1b[=>78DEHMNOZc]"                # keypad modes and the like
)


def clean(raw):
    text = ESCAPES.sub(b"", raw).replace(b"\r", b"")
    return text.decode("utf-8", "replace")


def show(text, limit=700):
    """What was seen, on one line, the end kept when it is long."""
    if len(text) > limit:
        text = "..." + text[-limit:]
    return repr(text)


class Terminal:
    def __init__(self, argv, term, cols, rows):
        self.raw = b""
        self.mark = 0          # into the cleaned text
        self.raw_mark = 0      # into the raw bytes
        self.status = None     # the exit status once it has ended
        pid, fd = pty.fork()
        if pid == 0:           # the child: the pty is its controlling terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                env = dict(os.environ)
                env["TERM"] = term
                env["INPUTRC"] = "/dev/null"
                env["COLUMNS"] = str(cols)
                env["LINES"] = str(rows)
                os.execvpe(argv[0], argv, env)
            except BaseException as e:   # noqa: BLE001 - report anything and leave
                os.write(2, ("repl_pty: cannot run %s: %s\n" % (argv[0], e)).encode())
            os._exit(127)
        self.pid = pid
        self.fd = fd

    def pump(self, seconds):
        """Reads what the command writes for up to `seconds` (returns at the
        first chunk); notes its exit."""
        if self.fd is None:
            self.reap(seconds)
            return
        ready, _, _ = select.select([self.fd], [], [], max(0.0, seconds))
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                chunk = b""
            if chunk:
                self.raw += chunk
            else:                         # EIO/EOF: every writer has gone
                os.close(self.fd)
                self.fd = None
        self.reap(0)

    def reap(self, seconds):
        if self.status is not None:
            return
        deadline = time.time() + seconds
        while True:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                return
            if time.time() >= deadline:
                return
            time.sleep(0.02)

    def text(self):
        return clean(self.raw)

    def send(self, data):
        if self.fd is None:
            raise OSError("the terminal is closed (the command has ended)")
        data = data.encode("utf-8")
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.reap(5)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def main():
    args = sys.argv[1:]
    opts = {"term": "dumb", "cols": 80, "rows": 24, "timeout": 15.0, "transcript": None}
    while args and args[0].startswith("--") and args[0] != "--":
        name = args.pop(0)[2:]
        if name not in opts or not args:
            sys.exit("repl_pty.py: bad option --%s (see the top of the file)" % name)
        opts[name] = args.pop(0)
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: repl_pty.py [OPTIONS] STEPS_FILE -- COMMAND [ARGS...]")
    steps_file, argv = args[0], args[2:]
    steps = []
    with open(steps_file, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                steps.append(json.loads(line))
            except ValueError as e:
                sys.exit("repl_pty.py: %s:%d: %s" % (steps_file, number, e))

    default_timeout = float(opts["timeout"])
    t = Terminal(argv, opts["term"], int(opts["cols"]), int(opts["rows"]))
    failed = False
    exited_checked = False
    completed = False

    def report(ok, desc, detail="", counted=True):
        nonlocal failed
        if ok:
            if counted:
                print("ok\t%s" % desc, flush=True)
        else:
            failed = True
            print("FAIL\t%s\t%s" % (desc, detail.replace("\t", "\\t").replace("\n", "\\n")), flush=True)
        return ok

    try:
        for step in steps:
            desc = step.get("desc", "")
            timeout = float(step.get("timeout", default_timeout))
            if "send" in step:
                try:
                    t.send(step["send"])
                except OSError as e:
                    report(False, desc or "send %r" % step["send"],
                           "cannot send: %s; seen: %s" % (e, show(t.text()[t.mark:])))
                    break
                if not any(k in step for k in ("expect", "expect_re", "expect_raw", "exit", "absent", "absent_raw", "wait")):
                    continue
            if "wait" in step:
                end = time.time() + float(step["wait"])
                while time.time() < end:
                    t.pump(end - time.time())
                continue
            if "mark" in step:
                t.pump(0)
                t.mark = len(t.text())
                t.raw_mark = len(t.raw)
                continue
            if "absent" in step or "absent_raw" in step:
                t.pump(0)
                if "absent" in step:
                    what, seen = step["absent"], t.text()[t.mark:]
                    there = what in seen
                else:
                    what, seen = step["absent_raw"], t.raw[t.raw_mark:]
                    there = what.encode("utf-8") in seen
                report(not there, desc or "no %r" % what, "found %r in: %s" % (what, show(seen)), bool(desc))
                continue                  # the steps after it can still run
            if "exit" in step:
                end = time.time() + timeout
                while t.status is None and time.time() < end:
                    t.pump(min(0.1, max(0.0, end - time.time())))
                while t.fd is not None and time.time() < end:   # what it wrote last
                    t.pump(0.1)
                exited_checked = True
                if t.status is None:
                    report(False, desc or "waiting for the exit", "still running after %.0f s; seen: %s" % (timeout, show(t.text()[t.mark:])))
                    break
                if not report(t.status == step["exit"], desc or "exit %d" % step["exit"],
                              "exit status %s, want %s; seen: %s" % (t.status, step["exit"], show(t.text()[t.mark:])),
                              bool(desc)):
                    break
                continue
            kind = next((k for k in ("expect", "expect_re", "expect_raw") if k in step), None)
            if kind is None:
                sys.exit("repl_pty.py: unknown step %r" % step)
            want = step[kind]
            end = time.time() + timeout
            found = None
            while True:
                if kind == "expect_raw":
                    i = t.raw.find(want.encode("utf-8"), t.raw_mark)
                    if i >= 0:
                        t.raw_mark = i + len(want.encode("utf-8"))
                        found = True
                else:
                    text = t.text()
                    if kind == "expect":
                        i = text.find(want, t.mark)
                        if i >= 0:
                            t.mark = i + len(want)
                            found = True
                    else:
                        m = re.compile(want).search(text, t.mark)
                        if m:
                            t.mark = m.end()
                            found = True
                if found or time.time() >= end or (t.fd is None and t.status is not None):
                    break
                t.pump(min(0.1, max(0.0, end - time.time())))
            if found:
                report(True, desc, counted=bool(desc))
            else:
                how = "the command ended (status %s)" % t.status if t.status is not None else "%.0f s" % timeout
                seen = t.raw[t.raw_mark:] if kind == "expect_raw" else t.text()[t.mark:]
                report(False, desc or "waiting for %r" % want,
                       "%r not seen within %s; seen: %s" % (want, how, show(seen)))
                break
        else:
            completed = True
        if completed and not exited_checked:
            t.pump(0.2)
            if t.status is None:
                report(False, "the command exits at the end of the steps", "it is still running")
        t.pump(0)
    finally:
        t.kill()
        if opts["transcript"]:
            with open(opts["transcript"], "wb") as f:
                f.write(t.raw)
    text = t.text()
    sanitizer = re.search(r"AddressSanitizer|LeakSanitizer|\.c:\d+:\d+: runtime error:", text)
    if sanitizer:
        i = sanitizer.start()
        report(False, "sanitizer report on the terminal", show(text[i:i + 1500], 1500))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
