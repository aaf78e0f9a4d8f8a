/* luahost.c: the Lua state, its limits, its sandboxes and its calls.
 * See luahost.h for what it owns. */
#define _GNU_SOURCE   /* gettid and SIGEV_THREAD_ID: the budget timer signals this thread only */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "cxhost/json.h"
#include "cxhost/luahost.h"

/* The hook runs every HOOK_STEP instructions: often enough to stop a runaway
 * loop within microseconds, rarely enough to cost nothing measurable. */
#define HOOK_STEP 1000

/* In lazy mode the budget timer ticks this often; a call still running at
 * the tick after the one that saw it start gets the count hook. */
#define LAZY_TICK_NS (LUAHOST_LAZY_MS * 1000000L)

struct luahost {
    lua_State *L;
    buf json_scratch;        /* decoded JSON strings with escapes; kept, so an error cannot leak it */
    size_t memory_used;
    size_t memory_limit;
    size_t memory_exempt;    /* the host's own (cached facts), not capped */
    int memory_refused;      /* the allocator said no during this call */
    int64_t budget;          /* instructions per outermost call */
    int64_t spent;
    int killed;              /* budget spent: raise on every hook tick */
    volatile sig_atomic_t interrupted;    /* luahost_interrupt: raise on every hook tick */
    volatile sig_atomic_t running;        /* an outermost call runs */
    int depth;               /* nesting of luahost_call */
    /* Lazy mode (luahost_lazy_begin). The timer's signal handler runs on
     * this thread and reads these, so they are volatile sig_atomic_t. */
    int lazy;
    timer_t timer;
    volatile sig_atomic_t lazy_running;   /* an outermost call is running without the hook */
    volatile sig_atomic_t call_serial;    /* counts outermost calls (wrapping) */
    volatile sig_atomic_t seen_serial;    /* the call the previous tick saw running */
    luahost_env_fn env_fn;
    void *env_ud;
    luahost_print_fn print_fn;
    void *print_ud;
};

/* Every thread's extra space holds the host, so the hook finds it in coroutines too. */
/* [-0, +0, -] */
static luahost *host_of(lua_State *L)
{
    return *(luahost **)lua_getextraspace(L);
}

static void *luahost_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    luahost *h = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        h->memory_used -= old;
        return NULL;
    }
    if (nsize > old && h->memory_used - old + nsize > h->memory_limit + h->memory_exempt) {
        h->memory_refused = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        h->memory_used = h->memory_used - old + nsize;
    return p;
}

/* [-0, +0, v]: raises once the budget is spent, and then on every
 * instruction of the thread (as Redis does), so a pcall inside user code
 * cannot swallow the stop: the next instruction outside it raises again. */
static void luahost_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luahost *h = host_of(L);
    if (h->depth == 0)
        return;
    h->spent += lua_gethookcount(L);
    if (h->interrupted) {
        lua_sethook(L, luahost_hook, LUA_MASKCOUNT, 1);
        if (L != h->L)
            lua_sethook(h->L, luahost_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "interrupted");
    }
    if (h->killed || h->spent > h->budget) {
        h->killed = 1;
        lua_sethook(L, luahost_hook, LUA_MASKCOUNT, 1);
        if (L != h->L)   /* a coroutine ran out: the thread that resumed it stops too */
            lua_sethook(h->L, luahost_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "instruction budget of %I instructions exceeded (a runaway loop? "
                      "raise limits.instructions in config.lua if the work is real)",
                   (lua_Integer)h->budget);
    }
}

/* [-0, +0, -] */
static int luahost_panic(lua_State *L)
{
    fprintf(stderr, "cxhost: unprotected Lua error: %s\n", lua_tostring(L, -1));
    abort();
}

luahost *luahost_new(size_t memory_limit, cx_error *err)
{
    luahost *h = calloc(1, sizeof *h);
    if (!h) {
        cx_error_set(err, "out of memory");
        return NULL;
    }
    h->memory_limit = memory_limit ? memory_limit : (size_t)LUAHOST_DEFAULT_MEMORY_MB << 20;
    h->budget = LUAHOST_DEFAULT_INSTRUCTIONS;
    h->L = lua_newstate(luahost_alloc, h);
    if (!h->L) {
        cx_error_set(err, "cannot create a Lua state (memory cap %zu bytes)", h->memory_limit);
        free(h);
        return NULL;
    }
    lua_State *L = h->L;
    *(luahost **)lua_getextraspace(L) = h;
    lua_atpanic(L, luahost_panic);
    luaL_openlibs(L);
    /* The host keeps the full libraries in its own globals, which no user code
     * sees. string.dump goes: strings' methods reach the real string table. */
    lua_getglobal(L, "string");              /* [string] */
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);                           /* [] */
    lua_pushliteral(L, "");                  /* [""] */
    lua_getmetatable(L, -1);                 /* ["", mt] */
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");      /* getmetatable("") is false: the metatable is out of reach */
    lua_pop(L, 2);                           /* [] */
    lua_sethook(L, luahost_hook, LUA_MASKCOUNT, HOOK_STEP);
    return h;
}

void luahost_free(luahost *h)
{
    if (!h)
        return;
    luahost_lazy_end(h);
    lua_close(h->L);
    buf_free(&h->json_scratch);
    free(h);
}

lua_State *luahost_state(luahost *h) { return h->L; }
void luahost_set_memory_limit(luahost *h, size_t bytes) { h->memory_limit = bytes; }
size_t luahost_memory_limit(const luahost *h) { return h->memory_limit; }
size_t luahost_memory_used(const luahost *h) { return h->memory_used; }
void luahost_set_memory_exempt(luahost *h, size_t bytes) { h->memory_exempt = bytes; }
void luahost_set_instruction_budget(luahost *h, int64_t n) { h->budget = n > 0 ? n : LUAHOST_DEFAULT_INSTRUCTIONS; }
int64_t luahost_instruction_budget(const luahost *h) { return h->budget; }

void luahost_set_env_fn(luahost *h, luahost_env_fn fn, void *ud)
{
    h->env_fn = fn;
    h->env_ud = ud;
}

void luahost_set_print_fn(luahost *h, luahost_print_fn fn, void *ud)
{
    h->print_fn = fn;
    h->print_ud = ud;
}

void luahost_interrupt(luahost *h)
{
    if (!h->running)
        return;
    h->interrupted = 1;
    lua_sethook(h->L, luahost_hook, LUA_MASKCOUNT, 1);
}

int luahost_running(const luahost *h) { return h->running; }

/* --- lazy mode: the count hook only for calls that run long ----------------- */

/* The budget timer's signal handler, on the thread that runs Lua: a call
 * that the previous tick already saw running gets the count hook, which
 * lua_sethook allows from a signal handler (lua.c arms its ^C hook so). */
static void lazy_tick(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    luahost *h = info->si_value.sival_ptr;
    if (!h)
        return;
    sig_atomic_t serial = h->call_serial;
    if (h->lazy_running && serial == h->seen_serial)
        lua_sethook(h->L, luahost_hook, LUA_MASKCOUNT, HOOK_STEP);
    h->seen_serial = serial;
}

int luahost_lazy_begin(luahost *h, cx_error *err)
{
    if (h->lazy)
        return 0;
    int signo = SIGRTMIN + LUAHOST_LAZY_SIGNAL;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = lazy_tick;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = signo;
    sev.sigev_value.sival_ptr = h;
    sev._sigev_un._tid = gettid();
    if (sigaction(signo, &sa, NULL) < 0 || timer_create(CLOCK_MONOTONIC, &sev, &h->timer) < 0) {
        cx_error_set(err, "cannot start the instruction budget's timer: %s", strerror(errno));
        return -1;
    }
    struct itimerspec every = {{0, LAZY_TICK_NS}, {0, LAZY_TICK_NS}};
    if (timer_settime(h->timer, 0, &every, NULL) < 0) {
        cx_error_set(err, "cannot start the instruction budget's timer: %s", strerror(errno));
        timer_delete(h->timer);
        return -1;
    }
    h->lazy = 1;
    return 0;
}

void luahost_lazy_end(luahost *h)
{
    if (!h->lazy)
        return;
    timer_delete(h->timer);   /* a tick already generated is handled before this returns */
    h->lazy = 0;
}

/* --- the sandbox ---------------------------------------------------------- */

void luahost_push_joined(lua_State *L, int first, const char *sep)
{
    luaL_Buffer b;
    int n = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = first; i <= n; i++) {
        if (i > first)
            luaL_addstring(&b, sep);
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
}

/* print(...) [-n, +0, e]; upvalue 1: the owner's name. */
static int sandbox_print(lua_State *L)
{
    luahost *h = host_of(L);
    luahost_push_joined(L, 1, "\t");
    const char *line = lua_tostring(L, -1);
    if (h->print_fn)
        h->print_fn(h->print_ud, lua_tostring(L, lua_upvalueindex(1)), line);
    else
        printf("%s\n", line);
    return 0;
}

/* load(chunk [, name [, mode [, env]]]) [-(1|2|3|4), +(1|2), e]: text only.
 * Upvalue 1: the real load; upvalue 2: the sandbox's own environment. */
static int sandbox_load(lua_State *L)
{
    int has_env = !lua_isnone(L, 4);
    luaL_checkany(L, 1);
    lua_settop(L, 4);
    lua_pushvalue(L, lua_upvalueindex(1));   /* [chunk, name, mode, env, load] */
    lua_pushvalue(L, 1);
    if (lua_isnil(L, 2))
        lua_pushliteral(L, "=(load)");
    else
        lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");                 /* binary chunks are refused by Lua itself */
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_pushvalue(L, lua_upvalueindex(2));
    lua_call(L, 4, 2);                       /* [..., fn|nil, nil|msg] */
    if (lua_isnil(L, -2))
        return 2;
    lua_pop(L, 1);
    return 1;
}

/* collectgarbage([opt]) [-(0|1), +1, e]: the harmless options only. */
static int sandbox_collectgarbage(lua_State *L)
{
    static const char *const allowed[] = {"collect", "count", "step", "isrunning", NULL};
    int opt = luaL_checkoption(L, 1, "collect", allowed);
    switch (opt) {
    case 1: {
        int kb = lua_gc(L, LUA_GCCOUNT), rem = lua_gc(L, LUA_GCCOUNTB);
        lua_pushnumber(L, (lua_Number)kb + (lua_Number)rem / 1024);
        return 1;
    }
    case 2: lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, 0)); return 1;
    case 3: lua_pushboolean(L, lua_gc(L, LUA_GCISRUNNING)); return 1;
    default: lua_gc(L, LUA_GCCOLLECT); lua_pushinteger(L, 0); return 1;
    }
}

/* The message handler xpcall gets in a sandbox [-1, +1, e]: once the
 * budget is spent it hands the error on untouched, because Lua runs a
 * handler called from the budget hook with hooks off, where a looping
 * handler could never be stopped. Upvalue 1: the user's handler. */
static int sandbox_xpcall_handler(lua_State *L)
{
    if (host_of(L)->killed)
        return 1;
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, 1);
    return 1;
}

/* xpcall(f, handler, ...) [-n, +r, e]. Upvalue 1: the real xpcall. */
static int sandbox_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, sandbox_xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable(t, mt) [-2, +1, e]: refuses __gc, because Lua runs
 * finalizers with hooks off, out of the budget's reach. Upvalue 1: the real
 * setmetatable. */
static int sandbox_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in the sandbox");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* __index of a sandbox [-2, +0, v]: reading an undefined global is a mistake. */
static int sandbox_undefined(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "undefined global '%s'", lua_tostring(L, 2));
    return luaL_error(L, "undefined global");
}

void luahost_push_copy(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);                         /* [copy] */
    lua_pushnil(L);
    while (lua_next(L, idx)) {               /* [copy, k, v] */
        lua_pushvalue(L, -2);
        lua_insert(L, -2);                   /* [copy, k, k, v] */
        lua_rawset(L, -4);                   /* [copy, k] */
    }
}

/* Copies the fields of the host's library `name` into a new table at env.
 * [-0, +0, m] */
static void sandbox_copy_library(lua_State *L, int env, const char *name)
{
    lua_getglobal(L, name);                  /* [lib] */
    luahost_push_copy(L, -1);                /* [lib, copy] */
    lua_setfield(L, env, name);              /* [lib] */
    lua_pop(L, 1);
}

/* coroutine.create(f) and coroutine.wrap(f) [-1, +1, e]; upvalue 1: the
 * real one. The new thread (create's result, or the first upvalue of wrap's)
 * gets the count hook, so that the budget counts it even when its creator
 * runs without (lazy mode). */
static int sandbox_coroutine_new(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);       /* [thread|wrapper] */
    int from_wrapper = lua_type(L, -1) == LUA_TFUNCTION && lua_getupvalue(L, -1, 1) != NULL;
    lua_State *co = lua_tothread(L, -1);
    if (co)
        lua_sethook(co, luahost_hook, LUA_MASKCOUNT, HOOK_STEP);
    if (from_wrapper)
        lua_pop(L, 1);
    return 1;
}

/* Replaces the sandbox's coroutine.create and coroutine.wrap (env at
 * index env) with the versions above. [-0, +0, m] */
static void sandbox_hook_coroutines(lua_State *L, int env)
{
    lua_getfield(L, env, "coroutine");       /* [co] */
    lua_getfield(L, -1, "create");
    lua_pushcclosure(L, sandbox_coroutine_new, 1);
    lua_setfield(L, -2, "create");
    lua_getfield(L, -1, "wrap");
    lua_pushcclosure(L, sandbox_coroutine_new, 1);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
}

void luahost_push_sandbox(luahost *h, const char *owner)
{
    static const char *const base[] = {
        "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
        "rawlen", "rawset", "select", "tonumber", "tostring", "type", "getmetatable", "_VERSION", NULL};
    static const char *const libraries[] = {"string", "table", "math", "utf8", "coroutine", NULL};
    static const char *const os_allowed[] = {"time", "date", "clock", NULL};
    lua_State *L = h->L;

    lua_newtable(L);                         /* [env] */
    int env = lua_gettop(L);
    for (int i = 0; base[i]; i++) {
        lua_getglobal(L, base[i]);
        lua_setfield(L, env, base[i]);
    }
    for (int i = 0; libraries[i]; i++)
        sandbox_copy_library(L, env, libraries[i]);
    sandbox_hook_coroutines(L, env);

    lua_newtable(L);                         /* [env, os] */
    lua_getglobal(L, "os");                  /* [env, os, real os] */
    for (int i = 0; os_allowed[i]; i++) {
        lua_getfield(L, -1, os_allowed[i]);
        lua_setfield(L, -3, os_allowed[i]);
    }
    lua_pop(L, 1);                           /* [env, os] */
    lua_setfield(L, env, "os");              /* [env] */

    lua_pushstring(L, owner);
    lua_pushcclosure(L, sandbox_print, 1);
    lua_setfield(L, env, "print");
    lua_getglobal(L, "load");
    lua_pushvalue(L, env);
    lua_pushcclosure(L, sandbox_load, 2);
    lua_setfield(L, env, "load");
    lua_pushcfunction(L, sandbox_collectgarbage);
    lua_setfield(L, env, "collectgarbage");
    lua_getglobal(L, "xpcall");
    lua_pushcclosure(L, sandbox_xpcall, 1);
    lua_setfield(L, env, "xpcall");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, sandbox_setmetatable, 1);
    lua_setfield(L, env, "setmetatable");
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");

    if (h->env_fn)
        h->env_fn(L, env, owner, h->env_ud);

    lua_newtable(L);                         /* [env, mt] */
    lua_pushcfunction(L, sandbox_undefined);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, env);                /* [env] */
}

int luahost_load(luahost *h, const char *text, size_t len, const char *chunkname, int env, cx_error *err)
{
    lua_State *L = h->L;
    env = lua_absindex(L, env);
    int status = luaL_loadbufferx(L, text, len, chunkname, "t");
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (status == LUA_ERRMEM)
            cx_error_set(err, "%s: memory cap of %zu MiB reached while compiling", chunkname + (*chunkname == '@'),
                         h->memory_limit >> 20);
        else
            cx_error_set(err, "%s", msg ? msg : "cannot load the chunk");
        lua_pop(L, 1);
        return -1;
    }
    lua_pushvalue(L, env);                   /* [fn, env] */
    lua_setupvalue(L, -2, 1);                /* [fn]: env becomes its _ENV */
    return 0;
}

/* The message handler [-1, +1, m]: any error object to text, plus a traceback. */
static int luahost_msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    /* The outermost frame may be the host's own C function that set up the
     * call: it says nothing to whoever reads the traceback. */
    static const char host_frame[] = "\n\t[C]: in ?";
    size_t len, tail = sizeof host_frame - 1;
    const char *text = lua_tolstring(L, -1, &len);
    if (len > tail && memcmp(text + len - tail, host_frame, tail) == 0)
        lua_pushlstring(L, text, len - tail);
    return 1;
}

int luahost_call(luahost *h, int nargs, int nresults, const char *what, cx_error *err)
{
    lua_State *L = h->L;
    int base = lua_gettop(L) - nargs;        /* the function */
    lua_pushcfunction(L, luahost_msghandler);
    lua_insert(L, base);                     /* [handler, fn, args...] */
    int outermost = h->depth == 0;
    if (outermost) {
        h->spent = 0;
        h->killed = 0;
        h->interrupted = 0;
        h->running = 1;
        h->memory_refused = 0;
        if (h->lazy) {
            lua_sethook(L, NULL, 0, 0);
            h->call_serial = (h->call_serial + 1) & 0x3fffffff;
            h->lazy_running = 1;
        } else {
            lua_sethook(L, luahost_hook, LUA_MASKCOUNT, HOOK_STEP);   /* a kill may have left it at 1 */
        }
    }
    h->depth++;
    int status = lua_pcall(L, nargs, nresults, base);
    h->depth--;
    if (outermost) {
        h->running = 0;
        if (h->interrupted) {
            h->interrupted = 0;
            lua_sethook(L, h->lazy ? NULL : luahost_hook, h->lazy ? 0 : LUA_MASKCOUNT, h->lazy ? 0 : HOOK_STEP);
            if (status == LUA_OK) {
                lua_settop(L, base - 1);
                cx_error_set(err, "%s%sinterrupted", what ? what : "", what && what[0] ? ": " : "");
                return -1;
            }
        }
    }
    if (outermost && h->lazy) {
        h->lazy_running = 0;
        lua_sethook(L, NULL, 0, 0);
    }
    if (status == LUA_OK && h->killed && h->depth == 0) {
        /* The code caught the stop (an xpcall handler) and returned: it is still stopped. */
        lua_settop(L, base - 1);
        h->killed = 0;
        cx_error_set(err, "%s%sinstruction budget of %lld instructions exceeded (a runaway loop? raise "
                     "limits.instructions in config.lua if the work is real)", what ? what : "",
                     what && what[0] ? ": " : "", (long long)h->budget);
        return -1;
    }
    if (status == LUA_OK) {
        lua_remove(L, base);                 /* [results...] */
        return 0;
    }
    const char *msg = lua_tostring(L, -1);
    if (!what)
        what = "";
    const char *sep = what[0] ? ": " : "";
    if (status == LUA_ERRMEM || (h->memory_refused && status != LUA_ERRRUN))
        cx_error_set(err, "%s%smemory cap of %zu MiB reached (raise limits.memory_mb in config.lua "
                     "if the work is real)", what, sep, h->memory_limit >> 20);
    else if (status == LUA_ERRERR)
        cx_error_set(err, "%s%serror while handling an error (an error object whose __tostring fails?)", what, sep);
    else
        cx_error_set(err, "%s%s%s", what, sep, msg ? msg : "(no message)");
    lua_settop(L, base - 1);                 /* [] */
    if (h->depth == 0) {
        h->killed = 0;
        lua_gc(L, LUA_GCCOLLECT);            /* give back what the failed call held */
    }
    return -1;
}

/* --- JSON ------------------------------------------------------------------- */

#define LUA_JSON_MAX_DEPTH 64

static int json_key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Length n when the table at idx has exactly the keys 1..n, else -1. [-0, +0, -] */
static lua_Integer table_array_length(lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return -1;
        }
        count++;
    }
    return count == n ? n : -1;
}

static int to_json(lua_State *L, int idx, buf *out, int depth, cx_error *err);

/* [-0, +0, m] */
static int table_to_json(lua_State *L, int idx, buf *out, int depth, cx_error *err)
{
    lua_Integer n = table_array_length(L, idx);
    if (n > 0) {
        buf_add_char(out, '[');
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1)
                buf_add_char(out, ',');
            lua_rawgeti(L, idx, i);
            int rc = to_json(L, lua_gettop(L), out, depth + 1, err);
            lua_pop(L, 1);
            if (rc < 0)
                return -1;
        }
        buf_add_char(out, ']');
        return 0;
    }
    /* An object: string keys, sorted so the same table always gives the same text. */
    size_t count = 0, cap = 16;
    const char **keys = malloc(cap * sizeof *keys);
    if (!keys) {
        cx_error_set(err, "out of memory");
        return -1;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            free(keys);
            lua_pop(L, 1);
            cx_error_set(err, "cannot turn a table with %s keys into JSON", luaL_typename(L, -1));
            return -1;
        }
        if (count == cap) {
            const char **more = realloc(keys, (cap *= 2) * sizeof *keys);
            if (!more) {
                free(keys);
                lua_pop(L, 1);
                cx_error_set(err, "out of memory");
                return -1;
            }
            keys = more;
        }
        keys[count++] = lua_tostring(L, -1);   /* the key string stays alive in the table */
    }
    qsort(keys, count, sizeof *keys, json_key_cmp);
    buf_add_char(out, '{');
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (i)
            buf_add_char(out, ',');
        buf_add_json_string(out, keys[i], strlen(keys[i]));
        buf_add_char(out, ':');
        lua_pushstring(L, keys[i]);
        lua_rawget(L, idx);
        rc = to_json(L, lua_gettop(L), out, depth + 1, err);
        lua_pop(L, 1);
    }
    free(keys);
    if (rc == 0)
        buf_add_char(out, '}');
    return rc;
}

/* Replaces the __pairs metamethod on top with a plain table of what it
 * iterates over the table at idx. [-1, +1, e] */
static void push_pairs_copy(lua_State *L, int idx)
{
    lua_pushvalue(L, idx);
    lua_call(L, 1, 3);                       /* [f, s, k] */
    lua_newtable(L);
    lua_insert(L, -4);                       /* [copy, f, s, k] */
    for (;;) {
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 2);                   /* [copy, f, s, k, k', v] */
        if (lua_isnil(L, -2)) {
            lua_pop(L, 5);                   /* [copy] */
            return;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);                   /* [copy, f, s, k, k', k', v] */
        lua_rawset(L, -7);                   /* [copy, f, s, k, k'] */
        lua_remove(L, -2);                   /* [copy, f, s, k'] */
    }
}

static int to_json(lua_State *L, int idx, buf *out, int depth, cx_error *err)
{
    if (depth > LUA_JSON_MAX_DEPTH) {
        cx_error_set(err, "cannot turn a value into JSON: nested more than %d deep (a cycle?)", LUA_JSON_MAX_DEPTH);
        return -1;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL: buf_add_str(out, "null"); return 0;
    case LUA_TBOOLEAN: buf_add_str(out, lua_toboolean(L, idx) ? "true" : "false"); return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            buf_add_int(out, (long long)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) {
                cx_error_set(err, "cannot turn %g into JSON", d);
                return -1;
            }
            buf_add_real(out, d);
        }
        return 0;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        buf_add_json_string(out, s, len);
        return 0;
    }
    case LUA_TTABLE:
        luaL_checkstack(L, 8, "JSON nesting");
        /* What pairs sees (the event table fills in its lazy fields so). */
        if (luaL_getmetafield(L, idx, "__pairs") != LUA_TNIL) {
            push_pairs_copy(L, idx);
            int rc = table_to_json(L, lua_gettop(L), out, depth, err);
            lua_pop(L, 1);
            return rc;
        }
        return table_to_json(L, idx, out, depth, err);
    default:
        cx_error_set(err, "cannot turn a %s into JSON", luaL_typename(L, idx));
        return -1;
    }
}

int luahost_to_json(lua_State *L, int idx, buf *out, cx_error *err)
{
    return to_json(L, lua_absindex(L, idx), out, 0, err);
}

/* Builds Lua values from JSON text that json_validate has accepted, so it
 * needs no checks of its own: one pass to validate, one to build, and no
 * copy of strings without escapes. */
typedef struct json_builder {
    lua_State *L;
    const char *p, *end;
    buf *scratch;        /* decoded strings with escapes (the host's) */
} json_builder;

static void builder_skip_ws(json_builder *b)
{
    while (b->p < b->end && (*b->p == ' ' || *b->p == '\t' || *b->p == '\n' || *b->p == '\r'))
        b->p++;
}

/* The string starting at b->p (its opening quote). [-0, +1, m] */
static void builder_string(json_builder *b)
{
    const char *start = b->p++;
    int escaped = 0;
    while (*b->p != '"') {
        if (*b->p == '\\') {
            escaped = 1;
            b->p++;
        }
        b->p++;
    }
    b->p++;
    if (!escaped) {
        lua_pushlstring(b->L, start + 1, (size_t)(b->p - start - 2));
        return;
    }
    json_span span = {JSON_STRING, start, (size_t)(b->p - start)};
    const char *why = NULL;
    buf_clear(b->scratch);
    json_string_decode(span, b->scratch, &why);   /* cannot fail: validated */
    lua_pushlstring(b->L, buf_str(b->scratch), b->scratch->len);
}

/* The number at b->p: an integer when it is one and fits, else a float. [-0, +1, -] */
static void builder_number(json_builder *b)
{
    const char *start = b->p;
    int negative = *b->p == '-', whole = 1;
    if (negative)
        b->p++;
    lua_Integer value = 0;
    int digits = 0;
    while (b->p < b->end && *b->p >= '0' && *b->p <= '9') {
        if (++digits <= 18)                   /* 18 digits cannot overflow; more go the slow way */
            value = value * 10 + (*b->p - '0');
        b->p++;
    }
    while (b->p < b->end && (*b->p == '.' || *b->p == 'e' || *b->p == 'E' || *b->p == '+' || *b->p == '-' ||
                             (*b->p >= '0' && *b->p <= '9'))) {
        whole = 0;
        b->p++;
    }
    if (whole && digits <= 18) {
        lua_pushinteger(b->L, negative ? -value : value);
        return;
    }
    char text[64];
    size_t n = (size_t)(b->p - start) < sizeof text - 1 ? (size_t)(b->p - start) : sizeof text - 1;
    memcpy(text, start, n);
    text[n] = '\0';
    if (!lua_stringtonumber(b->L, text))    /* integers that fit stay integers */
        lua_pushnumber(b->L, strtod(text, NULL));
}

/* The value at b->p. [-0, +1, m] */
static void builder_value(json_builder *b)
{
    lua_State *L = b->L;
    builder_skip_ws(b);
    switch (*b->p) {
    case '{':
        luaL_checkstack(L, 4, "JSON nesting");
        lua_createtable(L, 0, 4);
        b->p++;
        for (;;) {
            builder_skip_ws(b);
            if (*b->p == '}')
                break;
            if (*b->p == ',') {
                b->p++;
                builder_skip_ws(b);
            }
            builder_string(b);               /* the key */
            builder_skip_ws(b);
            b->p++;                          /* ':' */
            builder_value(b);
            lua_rawset(L, -3);
        }
        b->p++;
        return;
    case '[': {
        lua_Integer i = 0;
        luaL_checkstack(L, 4, "JSON nesting");
        lua_newtable(L);
        b->p++;
        for (;;) {
            builder_skip_ws(b);
            if (*b->p == ']')
                break;
            if (*b->p == ',')
                b->p++;
            builder_value(b);
            lua_rawseti(L, -2, ++i);
        }
        b->p++;
        return;
    }
    case '"': builder_string(b); return;
    case 't': b->p += 4; lua_pushboolean(L, 1); return;
    case 'f': b->p += 5; lua_pushboolean(L, 0); return;
    case 'n': b->p += 4; lua_pushnil(L); return;
    default: builder_number(b); return;
    }
}

int luahost_push_json(lua_State *L, const char *text, size_t len, cx_error *err)
{
    size_t offset = 0;
    const char *why = NULL;
    if (json_validate(text, len, &offset, &why) < 0) {
        cx_error_set(err, "bad JSON at byte %zu: %s", offset, why ? why : "malformed");
        return -1;
    }
    json_builder b = {L, text, text + len, &host_of(L)->json_scratch};
    builder_value(&b);
    return 0;
}

/* --- display ------------------------------------------------------------------ */

/* Orders keys by type, then value (numbers and strings only: no metamethods). [-0, +0, -] */
static int describe_key_cmp(lua_State *L, int a, int b)
{
    int ta = lua_type(L, a), tb = lua_type(L, b);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    if (ta == LUA_TNUMBER || ta == LUA_TSTRING)
        return lua_compare(L, a, b, LUA_OPLT) ? -1 : (lua_compare(L, b, a, LUA_OPLT) ? 1 : 0);
    return 0;
}

static int is_identifier(const char *s, size_t len)
{
    if (!len || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

static void describe(lua_State *L, int idx, int depth, int seen, buf *out);
static void describe_key(lua_State *L, int idx, int seen, buf *out);

/* Keys of the table at idx, sorted, as a new array table. [-0, +1, m] */
static void describe_sorted_keys(lua_State *L, int idx)
{
    lua_newtable(L);                         /* [keys] */
    int keys = lua_gettop(L);
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++n);
    }
    /* Insertion sort: tables shown to people are small. */
    for (lua_Integer i = 2; i <= n; i++) {
        lua_rawgeti(L, keys, i);             /* [keys, x] */
        lua_Integer j = i - 1;
        while (j >= 1) {
            lua_rawgeti(L, keys, j);         /* [keys, x, y] */
            if (describe_key_cmp(L, -1, -2) <= 0) {
                lua_pop(L, 1);
                break;
            }
            lua_rawseti(L, keys, j + 1);     /* [keys, x] */
            j--;
        }
        lua_rawseti(L, keys, j + 1);         /* [keys] */
    }
}

/* [-0, +0, e] */
static void describe_table(lua_State *L, int idx, int depth, int seen, buf *out)
{
    lua_pushvalue(L, idx);
    lua_rawget(L, seen);
    int cycle = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (cycle) {
        buf_add_str(out, "<cycle>");
        return;
    }
    if (depth <= 0) {
        buf_add_str(out, "{...}");
        return;
    }
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    luaL_checkstack(L, 6, "describe");
    lua_Integer n = table_array_length(L, idx);   /* a list is shown as one; else every key */
    if (n < 0)
        n = 0;
    buf_add_str(out, "{");
    for (lua_Integer i = 1; i <= n; i++) {
        buf_add_str(out, i > 1 ? ", " : " ");
        lua_rawgeti(L, idx, i);
        describe(L, lua_gettop(L), depth - 1, seen, out);
        lua_pop(L, 1);
    }
    {
        /* then the other keys, sorted (a table may be both a list and a map) */
        describe_sorted_keys(L, idx);        /* [keys] */
        lua_Integer count = (lua_Integer)lua_rawlen(L, -1), shown = n;
        for (lua_Integer i = 1; i <= count; i++) {
            lua_rawgeti(L, -1, i);           /* [keys, k] */
            if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n) {
                lua_pop(L, 1);
                continue;
            }
            buf_add_str(out, shown++ ? ", " : " ");
            describe_key(L, lua_gettop(L), seen, out);
            buf_add_str(out, " = ");
            lua_rawget(L, idx);              /* [keys, v] */
            describe(L, lua_gettop(L), depth - 1, seen, out);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    buf_add_str(out, out->data[out->len - 1] == '{' ? "}" : " }");
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, seen);
}

/* [-0, +0, e] */
static void describe(lua_State *L, int idx, int depth, int seen, buf *out)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        lua_getglobal(L, "string");
        lua_getfield(L, -1, "format");
        lua_pushliteral(L, "%q");
        lua_pushvalue(L, idx);
        lua_call(L, 2, 1);
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        buf_add(out, s, len);
        lua_pop(L, 2);
        break;
    }
    case LUA_TTABLE:
        if (luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL) {
            describe_table(L, idx, depth, seen, out);
            break;
        }
        lua_pop(L, 1);   /* a table that says how to show itself: shown as such */
        /* fall through */
    default: {
        size_t len;
        const char *s = luaL_tolstring(L, idx, &len);
        buf_add(out, s, len);
        lua_pop(L, 1);
        break;
    }
    }
}

/* The key at idx as a table shows it: name, or [value]. [-0, +0, e] */
static void describe_key(lua_State *L, int idx, int seen, buf *out)
{
    size_t len = 0;
    const char *name = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
    if (name && is_identifier(name, len)) {
        buf_add(out, name, len);
    } else {
        buf_add_char(out, '[');
        describe(L, idx, 1, seen, out);
        buf_add_char(out, ']');
    }
}

/* The value at idx over several lines, indented by indent, when it does
 * not fit in width on one: a table's entries one per line. [-0, +0, e] */
static void describe_lines(lua_State *L, int idx, int indent, int width, int seen, buf *out)
{
    size_t mark = out->len;
    idx = lua_absindex(L, idx);
    describe(L, idx, 8, seen, out);
    if (lua_type(L, idx) != LUA_TTABLE || (int)(out->len - mark) + indent <= width ||
        luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL || indent > 40)
        return;
    lua_pushvalue(L, idx);
    if (lua_rawget(L, seen) != LUA_TNIL) {   /* [mark]: a cycle, already shown as such */
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    out->len = mark;
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    luaL_checkstack(L, 6, "describe");
    lua_Integer n = table_array_length(L, idx);
    if (n < 0)
        n = 0;
    buf_add_str(out, "{\n");
    for (lua_Integer i = 1; i <= n; i++) {
        buf_printf(out, "%*s", indent + 2, "");
        lua_rawgeti(L, idx, i);
        describe_lines(L, lua_gettop(L), indent + 2, width, seen, out);
        lua_pop(L, 1);
        buf_add_str(out, ",\n");
    }
    describe_sorted_keys(L, idx);            /* [keys] */
    lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= count; i++) {
        lua_rawgeti(L, -1, i);               /* [keys, k] */
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n) {
            lua_pop(L, 1);
            continue;
        }
        buf_printf(out, "%*s", indent + 2, "");
        describe_key(L, lua_gettop(L), seen, out);
        buf_add_str(out, " = ");
        lua_rawget(L, idx);                  /* [keys, v] */
        describe_lines(L, lua_gettop(L), indent + 2, width, seen, out);
        lua_pop(L, 1);
        buf_add_str(out, ",\n");
    }
    lua_pop(L, 1);
    buf_printf(out, "%*s}", indent, "");
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, seen);
}

/* [-3, +0, e]: the value, the depth (or -width: over lines) and the buffer (light userdata). */
static int describe_protected(lua_State *L)
{
    buf *out = lua_touserdata(L, 3);
    int depth = (int)lua_tointeger(L, 2);
    lua_newtable(L);                         /* [v, depth, out, seen] */
    if (depth < 0)
        describe_lines(L, 1, 0, -depth, lua_gettop(L), out);
    else
        describe(L, 1, depth, lua_gettop(L), out);
    return 0;
}

void luahost_describe_lines(lua_State *L, int idx, int width, buf *out)
{
    luahost_describe(L, idx, -(width > 20 ? width : 20), out);
}

void luahost_describe(lua_State *L, int idx, int depth, buf *out)
{
    /* __tostring metamethods run here, so it runs protected. */
    size_t mark = out->len;
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, describe_protected);
    lua_pushvalue(L, idx);
    lua_pushinteger(L, depth);
    lua_pushlightuserdata(L, out);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        const char *why = lua_tostring(L, -1);
        out->len = mark;
        buf_printf(out, "<%s: cannot show it: %s>", luaL_typename(L, idx), why ? why : "error");
        lua_pop(L, 1);
    }
}
