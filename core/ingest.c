/* ingest.c: events through the plugins into the store; see ingest.h. */
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include "cxhost/ingest.h"
#include "cxhost/luahost.h"
#include "cxhost/progress.h"
#include "cxhost/utc.h"

int ingest_event(session *s, const cx_event *ev, store_id import_id, int alone, cx_error *err)
{
    store *st = session_store(s);
    store_id customer = 0, touchpoint = 0, event_id = 0;
    if (alone && store_savepoint(st, err) < 0)
        return -1;
    /* A customer or touchpoint seen for the first time is created; if the
     * event then turns out to be a duplicate, they are taken back, so a
     * repeated event changes nothing at all. (Looking the event up first
     * would cost every new customer a query for a case that rarely happens.) */
    int customer_known = ev->customer ? store_customer_find(st, ev->customer, &customer, err) : 1;
    int touchpoint_known = ev->touchpoint ? store_touchpoint_find(st, ev->touchpoint, &touchpoint, err) : 1;
    if (customer_known < 0 || touchpoint_known < 0)
        goto fail;
    if ((!customer_known && store_customer_add(st, ev->customer, ev->at, &customer, err) < 0) ||
        (!touchpoint_known && store_touchpoint_add(st, ev->touchpoint, &touchpoint, err) < 0))
        goto fail;
    int inserted = store_event_insert(st, ev, customer, touchpoint, import_id, &event_id, err);
    if (inserted < 0)
        goto fail;
    if (!inserted && ((!customer_known && store_customer_remove(st, customer, err) < 0) ||
                      (!touchpoint_known && store_touchpoint_remove(st, touchpoint, err) < 0)))
        goto fail;
    if (inserted && plugin_handle_event(session_plugins(s), ev, event_id, customer, err) < 0)
        goto fail;
    if (alone && store_release(st, err) < 0)
        goto fail;
    return inserted;
fail:
    if (alone)
        store_rollback_savepoint(st);
    return -1;
}

int ingest_refresh(session *s, int64_t *as_of, cx_error *err)
{
    int64_t latest = 0;
    if (store_latest_event_at(session_store(s), &latest, err) < 0)
        return -1;
    if (!latest) {
        *as_of = 0;
        return 0;
    }
    if (!*as_of) {
        *as_of = latest;
    } else if (*as_of < latest) {
        char a[UTC_TEXT_SIZE], b[UTC_TEXT_SIZE];
        utc_format(*as_of, a);
        utc_format(latest, b);
        cx_error_set(err, "refresh as of %s is before the latest event (%s); give a later time", a, b);
        return -1;
    }
    return plugin_refresh(session_plugins(s), *as_of, err);
}

int ingest_refresh_alone(session *s, int64_t *as_of, cx_error *err)
{
    store *st = session_store(s);
    if (store_begin(st, err) < 0)
        return -1;
    if (ingest_refresh(s, as_of, err) < 0 || store_commit(st, err) < 0) {
        store_rollback(st);
        return -1;
    }
    return 0;
}

/* One bad line under --skip-bad: "LINE<TAB>REASON<TAB>RAW". */
static void write_reject(FILE *rejects, reader *r, const char *reason)
{
    size_t len = 0;
    const char *raw = reader_raw(r, &len);
    fprintf(rejects, "%ld\t", reader_line(r));
    for (const char *p = reason; *p; p++)
        fputc(*p == '\n' || *p == '\t' ? ' ' : *p, rejects);
    fputc('\t', rejects);
    fwrite(raw ? raw : "", 1, raw ? len : 0, rejects);
    fputc('\n', rejects);
}

int ingest_file(session *s, reader *r, const char *source, const char *format,
                const ingest_options *o, ingest_stats *stats, cx_error *err)
{
    store *st = session_store(s);
    store_id import_id = 0;
    progress bar = {0};
    uint64_t started = uv_hrtime();
    cx_event ev;
    int rc;
    memset(stats, 0, sizeof *stats);
    /* Each hook's call on one event is short: count only calls that run long.
     * Without the timer every instruction counts: slower, the same limits. */
    cx_error no_timer;
    (void)luahost_lazy_begin(session_lua(s), &no_timer);
    if (store_begin(st, err) < 0)
        goto fail;
    if (store_import_begin(st, source, format, &import_id, err) < 0)
        goto fail;
    session_set_print_to_stderr(s, 1);
    progress_start(&bar, "importing", o->total_bytes, o->progress);
    while ((rc = reader_next(r, &ev, err)) != 0) {
        stats->records++;
        if (rc > 0 && (rc = ingest_event(s, &ev, import_id, o->rejects != NULL, err)) < 0)
            cx_error_prefix(err, "%s:%ld", source, reader_line(r));
        if (rc < 0) {
            if (!o->rejects || reader_failed(r))
                goto fail;
            write_reject(o->rejects, r, err->text);
            stats->rejected++;
        } else if (rc == 1) {
            stats->inserted++;
        } else {
            stats->duplicates++;
        }
        progress_update(&bar, reader_bytes(r), stats->records);
    }
    progress_finish(&bar);
    int64_t as_of = 0;
    if (ingest_refresh(s, &as_of, err) < 0 ||
        store_import_finish(st, import_id, stats->records, stats->inserted, stats->duplicates, stats->rejected,
                            err) < 0 ||
        store_commit(st, err) < 0)
        goto fail;
    session_set_print_to_stderr(s, 0);
    luahost_lazy_end(session_lua(s));
    stats->seconds = (double)(uv_hrtime() - started) / 1e9;
    return 0;
fail:
    progress_finish(&bar);
    session_set_print_to_stderr(s, 0);
    luahost_lazy_end(session_lua(s));
    store_rollback(st);
    return -1;
}
