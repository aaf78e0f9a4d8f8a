/* ingest.h: events into the store, through the plugins.
 *
 * An event and every effect the plugins derive from it commit together or
 * not at all: each event runs inside a savepoint within the caller's
 * transaction, and a failing plugin takes back exactly that event. An event
 * whose id is already stored is a no-op: no plugin sees it again. */
#ifndef CXHOST_INGEST_H
#define CXHOST_INGEST_H

#include <stdint.h>
#include <stdio.h>
#include "cxhost/error.h"
#include "cxhost/event.h"
#include "cxhost/reader.h"
#include "cxhost/session.h"

/* Inside an open transaction: 1 stored (with its effects), 0 a duplicate,
 * -1 failed (err names the plugin, hook, file and line). With alone, the
 * event runs in a savepoint of its own and a failure takes back exactly it;
 * without, a failure leaves the transaction to be rolled back whole (what an
 * import does unless it skips bad lines, and cheaper). */
int ingest_event(session *s, const cx_event *ev, store_id import_id, int alone, cx_error *err);

/* Runs every plugin's on_refresh at *as_of (0: the latest event's time),
 * inside the caller's transaction, and sets *as_of to the time used (0 for
 * an empty store, which has nothing to refresh). A time before the latest
 * event is refused: the facts already include later events. */
int ingest_refresh(session *s, int64_t *as_of, cx_error *err);
/* The same in a transaction of its own. */
int ingest_refresh_alone(session *s, int64_t *as_of, cx_error *err);

typedef struct ingest_options {
    FILE *rejects;             /* --skip-bad: bad lines go here and the rest is imported */
    int progress;              /* draw a progress bar on stderr */
    uint64_t total_bytes;      /* the input's size for the bar, 0 when unknown */
} ingest_options;

typedef struct ingest_stats {
    int64_t records;           /* lines (or CSV records) read */
    int64_t inserted;
    int64_t duplicates;
    int64_t rejected;
    double seconds;
} ingest_stats;

/* Imports everything r reads in one transaction, then refreshes the plugins.
 * Without rejects, the first bad line or failing plugin takes the whole
 * import back and nothing is written. */
int ingest_file(session *s, reader *r, const char *source, const char *format,
                const ingest_options *o, ingest_stats *stats, cx_error *err);

#endif
