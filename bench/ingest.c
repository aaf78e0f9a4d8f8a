/* bench/ingest.c: how fast cxhost ingests events, against bare SQLite.
 *
 * In one run, on the same machine at the same time, it measures
 *   (a) bare:   the same rows inserted into a fresh SQLite database with one
 *               prepared statement in one transaction (the store's PRAGMAs,
 *               a table with the columns of `events`), and
 *   (b) cxhost: the full pipeline with every built-in plugin, as
 *               `cxhost import` runs it: a fresh workspace and client,
 *               session_open, then store_begin, store_import_begin,
 *               ingest_event for each event, ingest_refresh,
 *               store_import_finish, store_commit.
 * Both sides take the same events from memory: the CDNOW file is parsed once,
 * up front, with the cxhost reader, and parsing is timed and reported on its
 * own. Each rate is events / (seconds from BEGIN to COMMIT inclusive).
 *
 * Sizes: the CDNOW master file, and the file replicated to --events N
 * (default 1,000,000) with the customer and event ids of copy k suffixed
 * "-rK", so every event and its customer are new. Every measurement is
 * repeated (--reps, default 3, alternating bare and cxhost) and the best and
 * the median are printed, with the ratio cxhost/bare against the target. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <uv.h>
#include "cxhost/buf.h"
#include "cxhost/error.h"
#include "cxhost/luahost.h"
#include "cxhost/event.h"
#include "cxhost/ingest.h"
#include "cxhost/plugin.h"
#include "cxhost/reader.h"
#include "cxhost/session.h"
#include "cxhost/store.h"
#include "cxhost/workspace.h"

#ifndef CXHOST_SOURCE_DIR
#define CXHOST_SOURCE_DIR "."
#endif
#define DEFAULT_INPUT CXHOST_SOURCE_DIR "/../shared/data/cdnow/CDNOW_master.txt"
#define DEFAULT_EVENTS 1000000
#define DEFAULT_REPS 3
#define MAX_REPS 100
#define TARGET_PERCENT 25.0
#define CLIENT "bench"

static const char usage[] =
    "usage: ingest [--quick] [--events N] [--reps N] [--dir DIR] [--plugins DIR] [CDNOW_FILE]\n"
    "\n"
    "Measures events/second of (a) bare SQLite inserts of the events and (b) the\n"
    "full cxhost import pipeline with all built-in plugins, on the same events,\n"
    "and prints the ratio (b)/(a) against the target (at least 25%%).\n"
    "\n"
    "  CDNOW_FILE   the CDNOW master file (default: %s)\n"
    "  --events N   the replicated size (default 1,000,000); below the file's\n"
    "               size, the file's first N events\n"
    "  --reps N     repetitions of each measurement (default 3; best and median)\n"
    "  --quick      one repetition of the master file only; with --events, of\n"
    "               that size only (a smoke or valgrind run: --quick --events 2000)\n"
    "  --dir DIR    where the temporary databases go (default: $TMPDIR or /tmp)\n"
    "  --plugins DIR  the *.lua files of DIR go into the client's plugins folder:\n"
    "               a client's own plugins, or plugins named like built-in ones\n"
    "               that do nothing, to measure without those\n"
    "  --help       this text\n";

static void die_oom(void)
{
    fputs("ingest: out of memory\n", stderr);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die_oom();
    return q;
}

/* "1,234,567" */
static const char *grouped(double value, char out[32])
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", value < 0 ? 0 : value);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return out;
}

/* --- the events, in memory ---------------------------------------------------- */

/* Strings live in big blocks, freed at once. */
typedef struct block {
    struct block *next;
    size_t used, cap;
    char data[];
} block;

typedef struct event_set {
    cx_event *ev;
    size_t n, cap;
    block *blocks;
} event_set;

static char *set_strdup(event_set *set, const char *s, size_t len)
{
    block *b = set->blocks;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > (1u << 20) ? len + 1 : (1u << 20);
        b = xrealloc(NULL, sizeof *b + cap);
        b->next = set->blocks;
        b->used = 0;
        b->cap = cap;
        set->blocks = b;
    }
    char *p = b->data + b->used;
    memcpy(p, s, len);
    p[len] = '\0';
    b->used += len + 1;
    return p;
}

/* A copy of s; reuses prev when equal (type and touchpoint repeat a lot). */
static const char *set_keep(event_set *set, const char *s, const char *prev)
{
    if (!s)
        return NULL;
    if (prev && strcmp(s, prev) == 0)
        return prev;
    return set_strdup(set, s, strlen(s));
}

static cx_event *set_push(event_set *set)
{
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 4096;
        set->ev = xrealloc(set->ev, set->cap * sizeof *set->ev);
    }
    return &set->ev[set->n++];
}

static void set_free(event_set *set)
{
    while (set->blocks) {
        block *next = set->blocks->next;
        free(set->blocks);
        set->blocks = next;
    }
    free(set->ev);
    memset(set, 0, sizeof *set);
}

/* Parses the whole file into set with the cxhost cdnow reader. */
static int load_events(const char *path, event_set *set)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "ingest: %s: cannot open it: %s\n", path, strerror(errno));
        return -1;
    }
    cx_error err;
    reader *r = reader_open(fp, path, READER_CDNOW, &err);
    if (!r) {
        fprintf(stderr, "ingest: %s\n", err.text);
        fclose(fp);
        return -1;
    }
    cx_event ev;
    int rc;
    while ((rc = reader_next(r, &ev, &err)) != 0) {
        if (rc < 0) {
            fprintf(stderr, "ingest: %s\n", err.text);
            break;
        }
        const cx_event *prev = set->n ? &set->ev[set->n - 1] : NULL;
        cx_event copy = ev;
        copy.id = set_strdup(set, ev.id, strlen(ev.id));
        copy.type = set_keep(set, ev.type, prev ? prev->type : NULL);
        copy.customer = set_keep(set, ev.customer, NULL);
        copy.touchpoint = set_keep(set, ev.touchpoint, prev ? prev->touchpoint : NULL);
        copy.data_json = set_keep(set, ev.data_json, NULL);
        *set_push(set) = copy;
    }
    reader_close(r);
    fclose(fp);
    if (rc < 0)
        return -1;
    if (set->n == 0) {
        fprintf(stderr, "ingest: %s: no events in it\n", path);
        return -1;
    }
    return 0;
}

/* Appends copies of the first base events until set holds target: copy k
 * (k = 2, 3, ...) has "-rK" after its event id and its customer id. */
static void replicate(event_set *set, size_t target)
{
    size_t base = set->n;
    char id[512], customer[512];
    for (int k = 2; set->n < target; k++) {
        for (size_t i = 0; i < base && set->n < target; i++) {
            cx_event copy = set->ev[i];   /* type, touchpoint and data are shared */
            int n = snprintf(id, sizeof id, "%s-r%d", copy.id, k);
            copy.id = set_strdup(set, id, (size_t)n);
            if (copy.customer) {
                n = snprintf(customer, sizeof customer, "%s-r%d", copy.customer, k);
                copy.customer = set_strdup(set, customer, (size_t)n);
            }
            *set_push(set) = copy;
        }
    }
}

/* --- temporary folders ------------------------------------------------------------ */

static int make_dir(const char *path)
{
    uv_fs_t req;
    int rc = uv_fs_mkdir(NULL, &req, path, 0700, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0)
        fprintf(stderr, "ingest: %s: cannot create the folder: %s\n", path, uv_strerror(rc));
    return rc < 0 ? -1 : 0;
}

/* --plugins DIR: copied into the client's plugins folder (NULL: none). */
static const char *client_plugins;

/* Copies the *.lua files of folder from into folder to. */
static int copy_plugins(const char *from, const char *to)
{
    uv_fs_t req;
    uv_dirent_t ent;
    int n = uv_fs_scandir(NULL, &req, from, 0, NULL);
    if (n < 0) {
        uv_fs_req_cleanup(&req);
        fprintf(stderr, "ingest: --plugins %s: cannot read the folder: %s\n", from, uv_strerror(n));
        return -1;
    }
    int rc = 0;
    while (rc == 0 && uv_fs_scandir_next(&req, &ent) != UV_EOF) {
        size_t len = strlen(ent.name);
        if (len < 5 || strcmp(ent.name + len - 4, ".lua") != 0)
            continue;
        buf src = BUF_INIT, dst = BUF_INIT;
        buf_printf(&src, "%s/%s", from, ent.name);
        buf_printf(&dst, "%s/%s", to, ent.name);
        uv_fs_t copy;
        int r = uv_fs_copyfile(NULL, &copy, src.data, dst.data, 0, NULL);
        uv_fs_req_cleanup(&copy);
        if (r < 0) {
            fprintf(stderr, "ingest: %s: cannot copy it to %s: %s\n", src.data, dst.data, uv_strerror(r));
            rc = -1;
        }
        buf_free(&src);
        buf_free(&dst);
    }
    uv_fs_req_cleanup(&req);
    return rc;
}

/* Removes path and everything below it. */
static int remove_tree(const char *path)
{
    uv_fs_t req;
    uv_dirent_t ent;
    int n = uv_fs_scandir(NULL, &req, path, 0, NULL);
    if (n < 0) {
        uv_fs_req_cleanup(&req);
        fprintf(stderr, "ingest: %s: cannot read the folder: %s\n", path, uv_strerror(n));
        return -1;
    }
    int rc = 0;
    while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
        buf child = BUF_INIT;
        buf_printf(&child, "%s/%s", path, ent.name);
        uv_fs_t sub;
        int r;
        if (ent.type == UV_DIRENT_DIR) {
            r = remove_tree(child.data);
        } else {
            r = uv_fs_unlink(NULL, &sub, child.data, NULL);
            uv_fs_req_cleanup(&sub);
            if (r == UV_EISDIR || r == UV_EPERM)
                r = remove_tree(child.data);
            else if (r < 0)
                fprintf(stderr, "ingest: %s: cannot remove it: %s\n", child.data, uv_strerror(r));
        }
        if (r < 0)
            rc = -1;
        buf_free(&child);
    }
    uv_fs_req_cleanup(&req);
    uv_fs_t rm;
    int r = uv_fs_rmdir(NULL, &rm, path, NULL);
    uv_fs_req_cleanup(&rm);
    if (r < 0) {
        fprintf(stderr, "ingest: %s: cannot remove the folder: %s\n", path, uv_strerror(r));
        rc = -1;
    }
    return rc;
}

/* Makes PARENT/cxbench-XXXXXX and appends its path to out. */
static int make_temp_root(const char *parent, buf *out)
{
    char tmp[4096];
    size_t len = sizeof tmp;
    if (!parent) {
        if (uv_os_tmpdir(tmp, &len) < 0)
            snprintf(tmp, sizeof tmp, "/tmp");
        parent = tmp;
    }
    buf tmpl = BUF_INIT;
    buf_printf(&tmpl, "%s/cxbench-XXXXXX", parent);
    uv_fs_t req;
    int rc = uv_fs_mkdtemp(NULL, &req, tmpl.data, NULL);
    if (rc < 0)
        fprintf(stderr, "ingest: %s: cannot create a temporary folder: %s\n", tmpl.data, uv_strerror(rc));
    else
        buf_add_str(out, req.path);
    uv_fs_req_cleanup(&req);
    buf_free(&tmpl);
    return rc < 0 ? -1 : 0;
}

/* --- (a) bare SQLite ----------------------------------------------------------------- */

static int sql_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "ingest: bare SQLite: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Inserts the first n events into DIR/bare.db; *seconds from BEGIN to COMMIT. */
static int run_bare(const char *dir, const event_set *set, size_t n, double *seconds)
{
    buf path = BUF_INIT;
    buf_printf(&path, "%s/bare.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int rc = -1;
    if (sqlite3_open_v2(path.data, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "ingest: %s: %s\n", path.data, db ? sqlite3_errmsg(db) : "out of memory");
        goto done;
    }
    /* The store's PRAGMAs, all of them (store.c, store_open). */
    if (sql_exec(db, "PRAGMA journal_mode = WAL") < 0 || sql_exec(db, "PRAGMA synchronous = FULL") < 0 ||
        sql_exec(db, "PRAGMA foreign_keys = ON") < 0 || sql_exec(db, "PRAGMA temp_store = MEMORY") < 0 ||
        sql_exec(db, "PRAGMA cache_size = -65536") < 0 ||
        sql_exec(db, "CREATE TABLE events(\n"
                     "  id INTEGER PRIMARY KEY,\n"
                     "  external_id TEXT NOT NULL UNIQUE,\n"
                     "  type TEXT NOT NULL,\n"
                     "  customer TEXT,\n"
                     "  at INTEGER NOT NULL,\n"
                     "  amount_cents INTEGER,\n"
                     "  touchpoint TEXT,\n"
                     "  data TEXT\n"
                     ")") < 0)
        goto done;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO events(external_id, type, customer, at, amount_cents, touchpoint, data)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(external_id) DO NOTHING",
                           -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "ingest: bare SQLite: %s\n", sqlite3_errmsg(db));
        goto done;
    }
    size_t inserted = 0;
    uint64_t t0 = uv_hrtime();
    if (sql_exec(db, "BEGIN IMMEDIATE") < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        const cx_event *ev = &set->ev[i];
        bind_text_or_null(ins, 1, ev->id);
        bind_text_or_null(ins, 2, ev->type);
        bind_text_or_null(ins, 3, ev->customer);
        sqlite3_bind_int64(ins, 4, ev->at);
        if (ev->has_amount)
            sqlite3_bind_int64(ins, 5, ev->amount_cents);
        else
            sqlite3_bind_null(ins, 5);
        bind_text_or_null(ins, 6, ev->touchpoint);
        bind_text_or_null(ins, 7, ev->data_json);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "ingest: bare SQLite: event %s: %s\n", ev->id, sqlite3_errmsg(db));
            sqlite3_reset(ins);
            sql_exec(db, "ROLLBACK");
            goto done;
        }
        inserted += (size_t)sqlite3_changes(db);
        sqlite3_reset(ins);
    }
    if (sql_exec(db, "COMMIT") < 0)
        goto done;
    *seconds = (double)(uv_hrtime() - t0) / 1e9;
    if (inserted != n) {
        fprintf(stderr, "ingest: bare SQLite inserted %zu of %zu events (duplicate ids?)\n", inserted, n);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    buf_free(&path);
    return rc;
}

/* --- (b) the cxhost pipeline ------------------------------------------------------------ */

/* Ingests the first n events into a fresh client of workspace DIR/home, as
 * `cxhost import` does; *seconds from store_begin to store_commit, *refresh
 * the part of it in ingest_refresh, *setup for workspace_client_add and
 * session_open (not part of *seconds). */
static int run_cxhost(const char *dir, const event_set *set, size_t n, const char *source, double *seconds,
                      double *setup, double *refresh, buf *plugins)
{
    buf home = BUF_INIT;
    buf_printf(&home, "%s/home", dir);
    session *s = NULL;
    cx_error err;
    int rc = -1;
    uint64_t s0 = uv_hrtime();
    if (workspace_client_add(home.data, CLIENT, &err) < 0) {
        fprintf(stderr, "ingest: cxhost: %s\n", err.text);
        goto done;
    }
    if (client_plugins) {
        buf folder = BUF_INIT;
        workspace_client_path(home.data, CLIENT, "plugins", &folder);
        int copied = copy_plugins(client_plugins, folder.data);
        buf_free(&folder);
        if (copied < 0)
            goto done;
    }
    if (session_open(home.data, CLIENT, &s, &err) < 0) {
        fprintf(stderr, "ingest: cxhost: %s\n", err.text);
        goto done;
    }
    uint64_t t0 = uv_hrtime();
    *setup = (double)(t0 - s0) / 1e9;
    if (plugins && plugins->len == 0) {
        plugin_set *ps = session_plugins(s);
        for (int i = 0; i < plugin_count(ps); i++) {
            plugin_info info;
            plugin_get_info(ps, i, &info);
            buf_printf(plugins, "%s%s (%s)", i ? ", " : "", info.name, info.origin);
        }
        if (plugins->len == 0)
            buf_add_str(plugins, "none");
    }

    store *st = session_store(s);
    store_id import_id = 0;
    int64_t inserted = 0;
    if (luahost_lazy_begin(session_lua(s), &err) < 0 || store_begin(st, &err) < 0)
        goto fail;
    if (store_import_begin(st, source, "cdnow", &import_id, &err) < 0)
        goto fail;
    session_set_print_to_stderr(s, 1);
    for (size_t i = 0; i < n; i++) {
        int r = ingest_event(s, &set->ev[i], import_id, 0, &err);
        if (r < 0)
            goto fail;
        inserted += r;
    }
    uint64_t r0 = uv_hrtime();
    int64_t as_of = 0;
    if (ingest_refresh(s, &as_of, &err) < 0)
        goto fail;
    *refresh = (double)(uv_hrtime() - r0) / 1e9;
    if (store_import_finish(st, import_id, (int64_t)n, inserted, (int64_t)n - inserted, 0, &err) < 0 ||
        store_commit(st, &err) < 0)
        goto fail;
    *seconds = (double)(uv_hrtime() - t0) / 1e9;
    session_set_print_to_stderr(s, 0);
    if ((size_t)inserted != n) {
        fprintf(stderr, "ingest: cxhost inserted %lld of %zu events (duplicate ids?)\n", (long long)inserted, n);
        goto done;
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ingest: cxhost: %s\n", err.text);
    store_rollback(st);
done:
    luahost_lazy_end(session_lua(s));
    session_close(s);
    buf_free(&home);
    return rc;
}

/* --- measuring -------------------------------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double sorted[MAX_REPS];
    memcpy(sorted, v, (size_t)n * sizeof *v);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_doubles);
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static double best(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] > b)
            b = v[i];
    return b;
}

typedef struct result {
    size_t events;
    double bare_best, bare_median, cx_best, cx_median;
} result;

/* Runs reps rounds of bare and cxhost on the first n events, alternating
 * which goes first, each in a fresh folder under root that is removed after. */
static int measure(const char *root, const char *label, const event_set *set, size_t n, int reps,
                   const char *source, buf *plugins, result *out)
{
    double bare[MAX_REPS], cx[MAX_REPS];
    char g1[32], g2[32];
    static int run_no;
    printf("\n%s: %s events, %d repetition%s each\n", label, grouped((double)n, g1), reps, reps == 1 ? "" : "s");
    fflush(stdout);
    for (int rep = 0; rep < reps; rep++) {
        for (int k = 0; k < 2; k++) {
            int is_bare = (k == 0) == (rep % 2 == 0);
            buf dir = BUF_INIT;
            buf_printf(&dir, "%s/run-%d", root, ++run_no);
            double secs = 0, setup = 0, refresh = 0;
            int rc = make_dir(dir.data);
            if (rc == 0)
                rc = is_bare ? run_bare(dir.data, set, n, &secs)
                             : run_cxhost(dir.data, set, n, source, &secs, &setup, &refresh, plugins);
            if (remove_tree(dir.data) < 0)
                rc = -1;
            buf_free(&dir);
            if (rc < 0)
                return -1;
            double rate = secs > 0 ? (double)n / secs : 0;
            (is_bare ? bare : cx)[rep] = rate;
            printf("  run %d  %-7s %8.3f s  %12s events/s", rep + 1, is_bare ? "bare" : "cxhost", secs,
                   grouped(rate, g2));
            if (!is_bare)
                printf("   (of which ingest_refresh %.3f s; setup %.3f s, not in the rate)", refresh, setup);
            printf("\n");
            fflush(stdout);
        }
    }
    out->events = n;
    out->bare_best = best(bare, reps);
    out->bare_median = median(bare, reps);
    out->cx_best = best(cx, reps);
    out->cx_median = median(cx, reps);
    double ratio_best = 100 * out->cx_best / out->bare_best, ratio_median = 100 * out->cx_median / out->bare_median;
    char b1[32], b2[32], c1[32], c2[32];
    printf("  (a) bare SQLite insert   best %12s events/s   median %12s events/s\n", grouped(out->bare_best, b1),
           grouped(out->bare_median, b2));
    printf("  (b) cxhost pipeline      best %12s events/s   median %12s events/s\n", grouped(out->cx_best, c1),
           grouped(out->cx_median, c2));
    printf("  ratio (b)/(a)            best %11.1f%%            median %11.1f%%\n", ratio_best, ratio_median);
    printf("  target: at least %.0f%% of the bare-insert rate: %s\n", TARGET_PERCENT,
           ratio_best >= TARGET_PERCENT ? "met" : "NOT met");
    fflush(stdout);
    return 0;
}

static int parse_count(const char *flag, const char *text, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < min || v > max) {
        fprintf(stderr, "ingest: %s needs a whole number from %lld to %lld\n", flag, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *input = NULL, *parent = NULL;
    long long events = DEFAULT_EVENTS, reps = DEFAULT_REPS;
    int quick = 0, events_given = 0, reps_given = 0;
    store_init_library();   /* both sides run with the store's SQLite options */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf(usage, DEFAULT_INPUT);
            return 0;
        } else if (strcmp(a, "--quick") == 0) {
            quick = 1;
        } else if (strcmp(a, "--events") == 0) {
            if (parse_count(a, i + 1 < argc ? argv[++i] : NULL, 1, 100000000, &events) < 0)
                return 2;
            events_given = 1;
        } else if (strcmp(a, "--reps") == 0) {
            if (parse_count(a, i + 1 < argc ? argv[++i] : NULL, 1, MAX_REPS, &reps) < 0)
                return 2;
            reps_given = 1;
        } else if (strcmp(a, "--dir") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ingest: --dir needs a folder\n");
                return 2;
            }
            parent = argv[++i];
        } else if (strcmp(a, "--plugins") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ingest: --plugins needs a folder\n");
                return 2;
            }
            client_plugins = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ingest: unknown option '%s'\n", a);
            fprintf(stderr, usage, DEFAULT_INPUT);
            return 2;
        } else if (input) {
            fprintf(stderr, "ingest: one input file only\n");
            return 2;
        } else {
            input = a;
        }
    }
    if (!input)
        input = DEFAULT_INPUT;
    if (quick && !reps_given)
        reps = 1;

    event_set set = {0};
    buf root = BUF_INIT, plugins = BUF_INIT;
    int status = 1;
    char g1[32], g2[32];

    uint64_t t0 = uv_hrtime();
    if (load_events(input, &set) < 0)
        goto done;
    double parse_secs = (double)(uv_hrtime() - t0) / 1e9;
    size_t master = set.n;
    size_t big = quick && !events_given ? master : (size_t)events;
    if (big > master)
        replicate(&set, big);

    printf("cxhost ingest benchmark (SQLite %s, libuv %s)\n", sqlite3_libversion(), uv_version_string());
    printf("input: %s\n", input);
    printf("parsed %s events with the cxhost cdnow reader in %.3f s (%s events/s); parsing is in neither rate\n",
           grouped((double)master, g1), parse_secs, grouped(parse_secs > 0 ? (double)master / parse_secs : 0, g2));
    printf("method: both sides insert the same in-memory events into a fresh database in a temporary folder,\n"
           "  timed from BEGIN to COMMIT inclusive (so the commit's fsync and WAL checkpoint count);\n"
           "  (a) bare: one prepared INSERT in one transaction into a table with the columns of `events`,\n"
           "      the store's PRAGMAs (WAL, synchronous=FULL, foreign_keys, temp_store, cache_size);\n"
           "  (b) cxhost: store_begin, store_import_begin, ingest_event per event (savepoint, customer,\n"
           "      touchpoint, event, plugins' on_event), ingest_refresh, store_import_finish, store_commit,\n"
           "      i.e. `cxhost import` without parsing; setup (workspace_client_add + session_open) is\n"
           "      timed apart and not in the rate.\n");
    if (make_temp_root(parent, &root) < 0)
        goto done;
    printf("temporary folder: %s (removed after)\n", root.data);
    fflush(stdout);

    result res[2];
    int nres = 0;
    /* --quick: master only, or only the --events size when one is given. */
    if (!(quick && events_given)) {
        if (measure(root.data, "CDNOW master", &set, master, (int)reps, input, &plugins, &res[nres]) < 0)
            goto cleanup;
        nres++;
    }
    if (!quick || events_given) {
        const char *label = big > master ? "CDNOW master replicated" : big < master ? "CDNOW master, first events"
                                                                                    : "CDNOW master again";
        if (measure(root.data, label, &set, big, (int)reps, input, &plugins, &res[nres]) < 0)
            goto cleanup;
        nres++;
    }

    printf("\nplugins loaded: %s\n", plugins.len ? plugins.data : "?");
    printf("summary (best of %lld; ratio = cxhost rate / bare rate):\n", reps);
    printf("  %12s  %14s  %14s  %7s  %7s\n", "events", "bare ev/s", "cxhost ev/s", "best", "median");
    for (int i = 0; i < nres; i++) {
        char a[32], b[32], c[32];
        printf("  %12s  %14s  %14s  %6.1f%%  %6.1f%%\n", grouped((double)res[i].events, a),
               grouped(res[i].bare_best, b), grouped(res[i].cx_best, c), 100 * res[i].cx_best / res[i].bare_best,
               100 * res[i].cx_median / res[i].bare_median);
    }
    printf("target: at least %.0f%% of the bare-insert rate\n", TARGET_PERCENT);
    status = 0;
cleanup:
    if (remove_tree(root.data) < 0)
        status = 1;
done:
    set_free(&set);
    buf_free(&root);
    buf_free(&plugins);
    return status;
}
