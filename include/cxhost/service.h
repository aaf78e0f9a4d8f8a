/* service.h: `cxhost serve`: one client's events over sockets, on the loop.
 *
 * The service listens on TCP or a unix socket and reads NDJSON events, one
 * per line, from any number of connections. It owns:
 *  - the line protocol: every line gets one answer line, in the order the
 *    lines came on its connection: {"ok":true,"id":"ID"} (with
 *    "duplicate":true for an id already stored) or
 *    {"ok":false,"id":"ID"|null,"error":"connection N:LINE: ..."}; blank
 *    lines get none; a line longer than max_line is refused and the
 *    connection goes on;
 *  - group commit: the lines read in one turn of the loop, from every
 *    connection, go through the plugins in one transaction (each event still
 *    all or nothing: a failing event is taken back alone), and are answered
 *    only once that transaction is committed (synchronous = FULL);
 *  - back-pressure: a connection whose lines wait, or whose answers are not
 *    being read, is not read from until that drains;
 *  - signals: SIGINT and SIGTERM stop accepting, commit and answer what was
 *    received and end; SIGHUP, or a change in the client's plugins/ folder or
 *    config.lua, reloads the plugins (a reload that fails keeps the running
 *    ones, and says why);
 *  - the REPL socket (--repl PATH), where `cxhost repl --connect PATH`
 *    attaches a REPL to the running service: one JSON request per line,
 *    {"line":"..."}, {"complete":"..."} or {"reset":""} (drop the statement being
 *    typed), answered by one JSON line
 *    {"status":"done|more|failed|quit","output":"...","errors":"...","prompt":"..."}
 *    or {"matches":[...]}.
 * Log lines go to stderr, starting "cxhost serve: ". */
#ifndef CXHOST_SERVICE_H
#define CXHOST_SERVICE_H

#include <stddef.h>
#include "cxhost/error.h"
#include "cxhost/session.h"

#define SERVICE_MAX_LINE_DEFAULT ((size_t)1 << 20)

typedef struct service_options {
    const char *listen;      /* "HOST:PORT" (IPv4, or [IPv6]:PORT) or "unix:PATH"; port 0 picks one */
    const char *repl_path;   /* the REPL socket's path, or NULL for none */
    size_t max_line;         /* longest line taken, in bytes; 0: SERVICE_MAX_LINE_DEFAULT */
    int no_watch;            /* do not reload when plugin files change */
} service_options;

/* Serves until SIGINT or SIGTERM, then returns 0; -1 with err when it
 * cannot start (the address is taken, say). */
int service_run(session *s, const service_options *o, cx_error *err);

#endif
