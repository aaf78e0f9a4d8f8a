/* cxlib.h: the `cx` table that plugins, scripts and the REPL see.
 *
 *   cx.client                the client's name
 *   cx.query(sql, ...)       read-only SQL on the client's store -> rows
 *   cx.customer(id)          one customer: facts, tags, points -> table or nil
 *   cx.ingest(event)         feeds an event through the plugins (scripts only)
 *   cx.refresh([as_of])      runs every plugin's on_refresh (scripts only)
 *   cx.plugins()             the loaded plugins, with their settings
 *   cx.every/after/at/cancel/timers   timers on the loop (loop.h)
 *   cx.experience            the built-in library plugins/lib/experience.lua
 *   cx.loyalty, cx.report, cx.test   likewise (plugins/lib/)
 *   cx.time.iso/date/parse/now, cx.money.format/parse, cx.json.encode/decode
 * docs/plugins.md is the reference. */
#ifndef CXHOST_CXLIB_H
#define CXHOST_CXLIB_H

#include <lua.h>
#include "cxhost/store.h"

struct session;

/* Pushes a store value as Lua sees it (NULL is nil). [-0, +1, m] */
void cxlib_push_value(lua_State *L, const store_value *v);

/* Reads the Lua value at idx into v: nil, booleans (as 0/1), numbers and
 * strings (which stay owned by Lua). Returns 0, or -1 for other types.
 * [-0, +0, -] */
int cxlib_to_value(lua_State *L, int idx, store_value *v);

/* Puts a fresh `cx` table for session s into the environment at env, for
 * code owned by owner (it is the luahost env function). [-0, +0, m] */
void cxlib_add(lua_State *L, int env, const char *owner, void *s);

/* When the value at idx is a result of cx.query with rows, pushes the
 * names of its columns in order (an array) and returns 1; else pushes
 * nothing and returns 0. [-0, +(0|1), m] */
int cxlib_push_query_columns(lua_State *L, int idx);

/* Keeps the table at idx as library `name`: every cx made from now on has
 * a copy of it as cx.name. [-0, +0, m] */
void cxlib_set_library(lua_State *L, const char *name, int idx);

#endif
