/* loop.c: the event loop and the Lua timers on it; see loop.h.
 *
 * Each Lua timer is a uv_timer_t of its own (a session sets a handful, not
 * thousands) and holds its callback in the registry. A timer may be
 * cancelled from inside its own callback: the handle is closed at once and
 * its memory goes when libuv's close callback runs, after the callback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "cxhost/buf.h"
#include "cxhost/loop.h"
#include "cxhost/utc.h"

#define OWNER_MAX 64
#define EVERY_MIN 0.01

typedef struct lua_timer {
    uv_timer_t handle;           /* first: loop_close_and_free frees the block */
    struct lua_timer *next;
    loop_timers *set;
    int id;
    int fn_ref;
    int generation;              /* -1: not a plugin's */
    int cancelled;
    const char *kind;
    double seconds;
    int64_t runs, failures;
    char owner[OWNER_MAX + 1];
} lua_timer;

struct loop_timers {
    luahost *host;
    lua_timer *first;            /* by id */
    int next_id;
    int generation;
    int count;
    loop_log_fn log;
    void *log_ud;
};

uv_loop_t *loop_uv(void) { return uv_default_loop(); }

static void free_on_close(uv_handle_t *handle) { free(handle); }

void loop_close_and_free(uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, free_on_close);
}

static void close_leftover(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

void loop_finish(void)
{
    uv_loop_t *loop = uv_default_loop();
    uv_walk(loop, close_leftover, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

static void default_log(void *ud, const char *text)
{
    (void)ud;
    fprintf(stderr, "cxhost: %s\n", text);
    fflush(stderr);
}

loop_timers *loop_timers_new(luahost *h)
{
    loop_timers *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->host = h;
    t->next_id = 1;
    t->log = default_log;
    return t;
}

void loop_timers_set_log(loop_timers *t, loop_log_fn log, void *ud)
{
    t->log = log ? log : default_log;
    t->log_ud = ud;
}

/* Takes the timer out of the set and closes it. [-0, +0, -] */
static void timer_cancel(lua_timer *timer)
{
    loop_timers *t = timer->set;
    for (lua_timer **p = &t->first; *p; p = &(*p)->next)
        if (*p == timer) {
            *p = timer->next;
            break;
        }
    t->count--;
    timer->cancelled = 1;
    luaL_unref(luahost_state(t->host), LUA_REGISTRYINDEX, timer->fn_ref);
    timer->fn_ref = LUA_NOREF;
    uv_timer_stop(&timer->handle);
    loop_close_and_free((uv_handle_t *)&timer->handle);
}

void loop_timers_free(loop_timers *t)
{
    if (!t)
        return;
    while (t->first)
        timer_cancel(t->first);
    free(t);
}

int loop_timers_generation(const loop_timers *t) { return t->generation; }
void loop_timers_set_generation(loop_timers *t, int generation) { t->generation = generation; }
int loop_timers_count(const loop_timers *t) { return t->count; }

int loop_timers_count_unowned(const loop_timers *t)
{
    int n = 0;
    for (const lua_timer *timer = t->first; timer; timer = timer->next)
        n += timer->generation < 0;
    return n;
}

void loop_run_while_timers(loop_timers *t)
{
    while (loop_timers_count_unowned(t) > 0)
        uv_run(loop_uv(), UV_RUN_ONCE);
}

void loop_timers_cancel_generation(loop_timers *t, int generation)
{
    lua_timer *timer = t->first;
    while (timer) {
        lua_timer *next = timer->next;
        if (timer->generation == generation)
            timer_cancel(timer);
        timer = next;
    }
}

void loop_timers_each(loop_timers *t, loop_timer_fn fn, void *ud)
{
    int64_t now = utc_now();
    for (lua_timer *timer = t->first; timer; timer = timer->next) {
        uint64_t due_ms = uv_timer_get_due_in(&timer->handle);
        loop_timer_info info = {timer->id, timer->owner, timer->kind, timer->seconds,
                                now + (int64_t)((due_ms + 999) / 1000), timer->runs, timer->failures};
        fn(ud, &info);
    }
}

/* Runs the timer's function with its id. [-0, +0, -] */
static void timer_fire(uv_timer_t *handle)
{
    lua_timer *timer = (lua_timer *)handle;
    loop_timers *t = timer->set;
    lua_State *L = luahost_state(t->host);
    int once = strcmp(timer->kind, "every") != 0;
    char what[OWNER_MAX + 80];
    snprintf(what, sizeof what, "timer %d (cx.%s, set by %s)", timer->id, timer->kind, timer->owner);
    timer->runs++;
    lua_rawgeti(L, LUA_REGISTRYINDEX, timer->fn_ref);     /* [fn] */
    lua_pushinteger(L, timer->id);                        /* [fn, id] */
    /* A once timer is gone before its function runs: cx.timers() inside it
     * no longer lists it, and cancelling it is a no-op. */
    if (once)
        timer_cancel(timer);
    cx_error err;
    if (luahost_call(t->host, 1, 0, what, &err) < 0) {
        if (!once)
            timer->failures++;
        t->log(t->log_ud, err.text);
    }
}

/* The uv_timer_t's memory with the fields of a new timer. [-0, +0, m] */
static int timer_add(lua_State *L, loop_timers *t, const char *owner, const char *kind, double seconds,
                     uint64_t first_ms, uint64_t repeat_ms, int fn)
{
    lua_timer *timer = calloc(1, sizeof *timer);
    if (!timer)
        return luaL_error(L, "out of memory");
    if (uv_timer_init(loop_uv(), &timer->handle) != 0) {
        free(timer);
        return luaL_error(L, "cx.%s: cannot make a timer", kind);
    }
    timer->set = t;
    timer->id = t->next_id++;
    timer->kind = kind;
    timer->seconds = seconds;
    timer->generation = strcmp(owner, "script") == 0 || strcmp(owner, "repl") == 0 ? -1 : t->generation;
    snprintf(timer->owner, sizeof timer->owner, "%s", owner);
    lua_pushvalue(L, fn);
    timer->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_timer **p = &t->first;
    while (*p)
        p = &(*p)->next;
    *p = timer;
    t->count++;
    uv_timer_start(&timer->handle, timer_fire, first_ms, repeat_ms);
    return timer->id;
}

/* upvalues: the timer set (light userdata), the owner's name */
/* [-0, +0, -] */
static loop_timers *timers_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* Seconds at arg 1 for cx.KIND, at least min. [-0, +0, v] */
static double check_seconds(lua_State *L, const char *kind, double min)
{
    if (!lua_isnumber(L, 1) || lua_type(L, 1) != LUA_TNUMBER)
        luaL_error(L, "cx.%s: give the seconds as a number (cx.%s(60, function(id) ... end))", kind, kind);
    double seconds = lua_tonumber(L, 1);
    if (!(seconds >= min) || seconds > 1e9) {
        char why[120];   /* luaL_error has no %g */
        snprintf(why, sizeof why, "%g seconds is out of range (%g to 1e9)", seconds, min);
        luaL_error(L, "cx.%s: %s", kind, why);
    }
    luaL_checktype(L, 2, LUA_TFUNCTION);
    return seconds;
}

/* cx.every(seconds, fn) [-2, +1, e] */
static int cx_every(lua_State *L)
{
    double seconds = check_seconds(L, "every", EVERY_MIN);
    uint64_t ms = (uint64_t)llround(seconds * 1000);
    lua_pushinteger(L, timer_add(L, timers_of(L), lua_tostring(L, lua_upvalueindex(2)), "every", seconds, ms, ms, 2));
    return 1;
}

/* cx.after(seconds, fn) [-2, +1, e] */
static int cx_after(lua_State *L)
{
    double seconds = check_seconds(L, "after", 0);
    uint64_t ms = (uint64_t)llround(seconds * 1000);
    lua_pushinteger(L, timer_add(L, timers_of(L), lua_tostring(L, lua_upvalueindex(2)), "after", seconds, ms, 0, 2));
    return 1;
}

/* cx.at(time, fn) [-2, +1, e] */
static int cx_at(lua_State *L)
{
    int64_t at;
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, 1, &len), *why = NULL;
        if (utc_parse(text, len, &at, &why) < 0)
            return luaL_error(L, "cx.at: '%s' is not a valid time (%s)", text, why);
    } else if (lua_isinteger(L, 1)) {
        at = lua_tointeger(L, 1);
    } else {
        return luaL_error(L, "cx.at: give the time as ISO-8601 text (\"2026-12-01T09:00:00Z\") or Unix seconds");
    }
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int64_t now = utc_now();
    if (at > now && at - now > (int64_t)1e11)
        return luaL_error(L, "cx.at: that is more than 3,000 years from now");
    uint64_t ms = at > now ? (uint64_t)(at - now) * 1000 : 0;
    lua_pushinteger(L, timer_add(L, timers_of(L), lua_tostring(L, lua_upvalueindex(2)), "at", 0, ms, 0, 2));
    return 1;
}

/* cx.cancel(id) [-1, +1, e] */
static int cx_cancel(lua_State *L)
{
    loop_timers *t = timers_of(L);
    lua_Integer id = luaL_checkinteger(L, 1);
    for (lua_timer *timer = t->first; timer; timer = timer->next)
        if (timer->id == id) {
            timer_cancel(timer);
            lua_pushboolean(L, 1);
            return 1;
        }
    lua_pushboolean(L, 0);
    return 1;
}

/* One row of cx.timers() into the array on top. [-0, +0, m] */
static void timer_row(void *ud, const loop_timer_info *info)
{
    lua_State *L = ud;
    char next[UTC_TEXT_SIZE];
    utc_format(info->next, next);
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, info->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, info->owner);
    lua_setfield(L, -2, "owner");
    lua_pushstring(L, info->kind);
    lua_setfield(L, -2, "kind");
    if (strcmp(info->kind, "at") != 0) {
        lua_pushnumber(L, info->seconds);
        lua_setfield(L, -2, "seconds");
    }
    lua_pushstring(L, next);
    lua_setfield(L, -2, "next");
    lua_pushinteger(L, info->runs);
    lua_setfield(L, -2, "runs");
    lua_pushinteger(L, info->failures);
    lua_setfield(L, -2, "failures");
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* cx.timers() [-0, +1, m] */
static int cx_timers(lua_State *L)
{
    lua_newtable(L);
    loop_timers_each(timers_of(L), timer_row, L);
    return 1;
}

void loop_add_functions(lua_State *L, loop_timers *t, const char *owner)
{
    static const luaL_Reg fns[] = {{"every", cx_every}, {"after", cx_after}, {"at", cx_at},
                                   {"cancel", cx_cancel}, {"timers", cx_timers}, {NULL, NULL}};
    lua_pushlightuserdata(L, t);
    lua_pushstring(L, owner);
    luaL_setfuncs(L, fns, 2);
}
