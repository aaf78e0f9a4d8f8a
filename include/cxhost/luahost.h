/* luahost.h: the Lua bridge.
 *
 * Owns one lua_State per client session and everything about running user
 * code in it safely:
 *  - a memory cap (the allocator refuses past it);
 *  - an instruction budget per call (a count hook), which pcall inside the
 *    plugin cannot swallow: once spent, every hook tick raises again;
 *  - sandbox environments built from an allow-list (see luahost_push_sandbox);
 *  - one protected-call path with a traceback for all user code;
 *  - conversion between Lua values and JSON, and a readable display of values.
 *
 * Stack effects are given in the Lua manual's [-o, +p, x] notation. */
#ifndef CXHOST_LUAHOST_H
#define CXHOST_LUAHOST_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include "cxhost/buf.h"
#include "cxhost/error.h"

#define LUAHOST_DEFAULT_MEMORY_MB 256
#define LUAHOST_DEFAULT_INSTRUCTIONS 100000000LL   /* per call: about a second of Lua */

typedef struct luahost luahost;

/* A function that adds to a new sandbox environment (at stack index env)
 * for code owned by owner: used to give every sandbox the `cx` table.
 * [-0, +0, e] */
typedef void (*luahost_env_fn)(lua_State *L, int env, const char *owner, void *ud);

/* print() in a sandbox calls this with the line it would print. */
typedef void (*luahost_print_fn)(void *ud, const char *owner, const char *line);

luahost *luahost_new(size_t memory_limit, cx_error *err);
void luahost_free(luahost *h);
lua_State *luahost_state(luahost *h);

void luahost_set_memory_limit(luahost *h, size_t bytes);
size_t luahost_memory_limit(const luahost *h);
size_t luahost_memory_used(const luahost *h);
/* Memory the host itself keeps in the state (cached facts), left out of
 * what the cap counts: the cap is for what plugins and scripts hold. */
void luahost_set_memory_exempt(luahost *h, size_t bytes);
void luahost_set_instruction_budget(luahost *h, int64_t instructions);
int64_t luahost_instruction_budget(const luahost *h);

/* Lazy mode, for imports, where a hook's call on one event is short and
 * many: the count hook slows every Lua instruction, so an outermost call
 * runs without it until a timer (every LUAHOST_LAZY_MS, signal SIGRTMIN +
 * LUAHOST_LAZY_SIGNAL to this thread) finds it still running at a second
 * tick; from then on its instructions count against the budget. A runaway
 * call is so stopped after its first 10 to 20 ms plus its budget.
 * Coroutines created in a sandbox always carry the hook. Outside lazy mode
 * every instruction counts. luahost_lazy_begin fails only if the timer
 * cannot be made. */
#define LUAHOST_LAZY_MS 10
#define LUAHOST_LAZY_SIGNAL 3
int luahost_lazy_begin(luahost *h, cx_error *err);
void luahost_lazy_end(luahost *h);
void luahost_set_env_fn(luahost *h, luahost_env_fn fn, void *ud);
void luahost_set_print_fn(luahost *h, luahost_print_fn fn, void *ud);

/* Stops the running call as soon as its next hook tick comes, with the
 * error "interrupted", which a pcall inside the code cannot swallow (as the
 * spent budget). Safe to call from a signal handler (Ctrl-C), as lua.c
 * does; a no-op when no call runs. */
void luahost_interrupt(luahost *h);
/* Whether a call runs now (a signal handler asks: interrupt, or clear the line?). */
int luahost_running(const luahost *h);

/* Pushes a new sandbox environment for code owned by `owner` (a plugin's
 * name, "script", "config"). It holds only: assert error ipairs next pairs
 * pcall xpcall rawequal rawget rawlen rawset select tonumber tostring type
 * setmetatable (no __gc) getmetatable print load (text only) collectgarbage
 * ("count", "collect", "step", "isrunning" only), _VERSION, private copies of string table math utf8
 * coroutine, and os.time os.date os.clock; plus what the env function adds.
 * Reading an undefined global is an error, so typos fail loudly.
 * [-0, +1, m] */
void luahost_push_sandbox(luahost *h, const char *owner);

/* Pushes a new table with the fields of the table at idx (one level deep,
 * no metamethods). [-0, +1, m] */
void luahost_push_copy(lua_State *L, int idx);

/* Compiles text chunk (never a binary one) with the environment at index env
 * as its _ENV. chunkname is the file name shown in errors. On success pushes
 * the function and returns 0; else pushes nothing and returns -1.
 * [-0, +(0|1), -] */
int luahost_load(luahost *h, const char *text, size_t len, const char *chunkname, int env, cx_error *err);

/* Calls the function below nargs arguments, under a fresh instruction
 * budget and with a traceback on error. `what` names the caller for errors
 * ("plugin 'lifecycle', hook on_event"; "" for none). On success leaves nresults values
 * (LUA_MULTRET allowed) and returns 0; else leaves nothing and returns -1.
 * Nested calls share the outer call's budget.
 * [-(nargs+1), +(nresults|0), -] */
int luahost_call(luahost *h, int nargs, int nresults, const char *what, cx_error *err);


/* Pushes the text of the values from index first to the top, each as
 * tostring() shows it, joined by sep (what print() does). [-0, +1, e] */
void luahost_push_joined(lua_State *L, int first, const char *sep);

/* Appends JSON for the value at idx (tables with only 1..n keys become
 * arrays, others objects with string keys; a table with a __pairs
 * metamethod is read through it, as pairs reads it). Returns 0, or -1 with
 * err for functions, cycles, non-finite numbers or keys that are not
 * strings. [-0, +0, e] */
int luahost_to_json(lua_State *L, int idx, buf *out, cx_error *err);

/* Pushes the Lua value of JSON text: objects and arrays become tables,
 * integers Lua integers, other numbers floats, null nil (an object member
 * that is null is simply absent). Returns 0, or -1 with err.
 * [-0, +(0|1), m] */
int luahost_push_json(lua_State *L, const char *text, size_t len, cx_error *err);

/* Appends a readable rendering of the value at idx: strings quoted, tables
 * as { k = v } with sorted keys, nesting up to depth, cycles marked.
 * [-0, +0, m] */
void luahost_describe(lua_State *L, int idx, int depth, buf *out);
/* The same over several lines where it does not fit in width columns: each
 * entry of a table on a line of its own, indented. [-0, +0, m] */
void luahost_describe_lines(lua_State *L, int idx, int width, buf *out);

#endif
