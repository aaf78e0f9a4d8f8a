/* cxlib.h: the `cx` table that plugins, scripts and the REPL see.
 *
 *   cx.client                the client's name
 *   cx.query(sql, ...)       read-only SQL on the client's store -> rows
 *   cx.customer(id)          one customer: facts, tags, points -> table or nil
 *   cx.ingest(event)         feeds an event through the plugins (scripts only)
 *   cx.refresh([as_of])      runs every plugin's on_refresh (scripts only)
 *   cx.plugins()             the loaded plugins
 *   cx.time.iso/date/parse/now, cx.money.format/parse, cx.json.encode/decode
 * docs/plugins.md is the reference. */
#ifndef CXHOST_CXLIB_H
#define CXHOST_CXLIB_H

#include <lua.h>

struct session;

/* Puts a fresh `cx` table for session s into the environment at env (it is
 * the luahost env function). [-0, +0, m] */
void cxlib_add(lua_State *L, int env, void *s);

#endif
