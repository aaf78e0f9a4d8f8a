/* loop.h: the event loop and the Lua timers on it.
 *
 * The process has one libuv loop (libuv's default loop): the service's
 * sockets, the REPL's terminal and every session's timers share it, so a
 * timer fires while the prompt waits and while the service serves. This
 * module owns the timers that Lua code sets:
 *   cx.every(seconds, fn)   fn(id) every `seconds` (at least 0.01)
 *   cx.after(seconds, fn)   fn(id) once, `seconds` from now
 *   cx.at(time, fn)         fn(id) once at `time` (ISO-8601 UTC text or Unix
 *                           seconds; a time gone by fires at once)
 *   cx.cancel(id)           true if the timer was there
 *   cx.timers()             the timers: { id, owner, kind, seconds, next, runs, failures }
 * Each returns the timer's id. A callback runs outside any transaction,
 * under its own instruction budget; an error in it is logged with its
 * traceback and the timer goes on (an `every` keeps firing).
 *
 * A session has one set of timers; closing the session cancels them. Timers
 * set by a plugin (any owner but "script" and "repl") belong to the
 * plugins' generation that set them, so a reload cancels the old plugins'
 * timers, and a failed reload the new ones'. */
#ifndef CXHOST_LOOP_H
#define CXHOST_LOOP_H

#include <stdint.h>
#include <lua.h>
#include <uv.h>
#include "cxhost/luahost.h"

typedef struct loop_timers loop_timers;

/* The process's loop. */
uv_loop_t *loop_uv(void);
/* Closes every handle still open and runs the loop until they are closed,
 * then closes the loop: at exit, so nothing is left allocated. */
void loop_finish(void);
/* Closes a handle whose memory is one malloc'd block starting with it,
 * freed once libuv is done with it. */
void loop_close_and_free(uv_handle_t *handle);

/* Errors of callbacks go to log(ud, text); the default writes
 * "cxhost: TEXT" to stderr. */
typedef void (*loop_log_fn)(void *ud, const char *text);

loop_timers *loop_timers_new(luahost *h);
void loop_timers_free(loop_timers *t);      /* cancels them all */
void loop_timers_set_log(loop_timers *t, loop_log_fn log, void *ud);

/* Adds every, after, at, cancel and timers to the table on top (a `cx`),
 * as closures for code owned by owner. [-0, +0, m] */
void loop_add_functions(lua_State *L, loop_timers *t, const char *owner);

/* The plugins' generation that plugin-owned timers set from now on join. */
int loop_timers_generation(const loop_timers *t);
void loop_timers_set_generation(loop_timers *t, int generation);
/* Cancels the timers that plugins of a generation set. */
void loop_timers_cancel_generation(loop_timers *t, int generation);

/* How many timers are set; of them, how many scripts and REPLs set (not plugins). */
int loop_timers_count(const loop_timers *t);
int loop_timers_count_unowned(const loop_timers *t);
/* Runs the loop until the timers that scripts and REPLs set are all done
 * (`cxhost run`, a piped REPL): plugins' timers fire meanwhile, but do not
 * keep it going. */
void loop_run_while_timers(loop_timers *t);

typedef struct loop_timer_info {
    int id;
    const char *owner;      /* "script", "repl", or the plugin's name */
    const char *kind;       /* "every", "after" or "at" */
    double seconds;         /* the period of "every", the delay of "after" */
    int64_t next;           /* when it fires next, Unix seconds */
    int64_t runs, failures;
} loop_timer_info;
typedef void (*loop_timer_fn)(void *ud, const loop_timer_info *info);
/* Calls fn for every timer, by id. */
void loop_timers_each(loop_timers *t, loop_timer_fn fn, void *ud);

#endif
