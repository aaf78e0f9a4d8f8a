/* cxlib.c: the `cx` table; see cxlib.h. Every function is a C closure whose
 * upvalue is the session it works on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include "cxhost/buf.h"
#include "cxhost/cxlib.h"
#include "cxhost/ingest.h"
#include "cxhost/loop.h"
#include "cxhost/luahost.h"
#include "cxhost/money.h"
#include "cxhost/plugin.h"
#include "cxhost/session.h"
#include "cxhost/utc.h"
#include "cxhost/mathlib.h"

/* The registry key (its address) of the built-in libraries, name -> table. */
static const char library_key = 0;
/* The registry key of a weak-keyed table: cx.query's result -> its column
 * names in order (the REPL prints the rows as a table with them). */
static const char columns_key = 0;

/* [-0, +0, -] */
static session *cx_session(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

void cxlib_push_value(lua_State *L, const store_value *v)
{
    switch (v->type) {
    case STORE_INT: lua_pushinteger(L, v->i); break;
    case STORE_REAL: lua_pushnumber(L, v->r); break;
    case STORE_TEXT: lua_pushlstring(L, v->s, v->len); break;
    default: lua_pushnil(L); break;
    }
}

int cxlib_to_value(lua_State *L, int idx, store_value *v)
{
    memset(v, 0, sizeof *v);
    switch (lua_type(L, idx)) {
    case LUA_TNIL: v->type = STORE_NULL; return 0;
    case LUA_TBOOLEAN: v->type = STORE_INT; v->i = lua_toboolean(L, idx); return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v->type = STORE_INT;
            v->i = lua_tointeger(L, idx);
        } else {
            v->type = STORE_REAL;
            v->r = lua_tonumber(L, idx);
        }
        return 0;
    case LUA_TSTRING: v->type = STORE_TEXT; v->s = lua_tolstring(L, idx, &v->len); return 0;
    default: return -1;
    }
}

struct rows {
    lua_State *L;
    lua_Integer n;
};

/* Keeps the column names of the rows table on top, at its first row.
 * [-0, +0, m] */
static void remember_columns(lua_State *L, int ncols, const char *const *names)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &columns_key) != LUA_TTABLE) {   /* [rows, cols?] */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &columns_key);
    }                                                                   /* [rows, weak] */
    lua_pushvalue(L, -2);
    lua_createtable(L, ncols, 0);
    for (int i = 0; i < ncols; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

int cxlib_push_query_columns(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return 0;
    idx = lua_absindex(L, idx);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &columns_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) != LUA_TTABLE) {
        lua_pop(L, 2);
        return 0;
    }
    lua_remove(L, -2);
    return 1;
}

/* Appends one row table to the rows table on top. [-0, +0, m] */
static int query_row(void *ud, int ncols, const char *const *names, const store_value *values)
{
    struct rows *r = ud;
    lua_State *L = r->L;
    if (r->n == 0)
        remember_columns(L, ncols, names);
    lua_createtable(L, 0, ncols);
    for (int i = 0; i < ncols; i++) {
        cxlib_push_value(L, &values[i]);
        lua_setfield(L, -2, names[i]);
    }
    lua_rawseti(L, -2, ++r->n);
    return 0;
}

/* cx.query(sql, ...) [-n, +1, e]: an array of rows, each a table keyed by
 * column name. */
static int cx_query(lua_State *L)
{
    session *s = cx_session(L);
    const char *sql = luaL_checkstring(L, 1);
    int nparams = lua_gettop(L) - 1;
    store_value *params = nparams ? calloc((size_t)nparams, sizeof *params) : NULL;
    if (nparams && !params)
        return luaL_error(L, "out of memory");
    for (int i = 0; i < nparams; i++)
        if (cxlib_to_value(L, i + 2, &params[i]) < 0) {
            free(params);
            return luaL_error(L, "cx.query: parameter %d is a %s; give numbers, strings or booleans", i + 1,
                              luaL_typename(L, i + 2));
        }
    lua_newtable(L);                         /* [sql, params..., rows] */
    struct rows r = {L, 0};
    cx_error err;
    int rc = store_query(session_store(s), sql, params, nparams, query_row, &r, &err);
    free(params);
    if (rc < 0)
        return luaL_error(L, "cx.%s", err.text);
    if (r.n == 0)
        remember_columns(L, 0, NULL);        /* no rows: still a query's result */
    return 1;
}

struct customer_facts {
    lua_State *L;
    int facts;    /* stack index of the facts table */
};

/* Puts one fact into facts[plugin][name]. [-0, +0, m] */
static int customer_fact(void *ud, const char *plugin, const char *name, const store_value *v)
{
    struct customer_facts *c = ud;
    lua_State *L = c->L;
    if (lua_getfield(L, c->facts, plugin) != LUA_TTABLE) {   /* [t?] */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, c->facts, plugin);
    }
    cxlib_push_value(L, v);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    return 0;
}

/* Appends one tag to the array on top. [-0, +0, m] */
static int customer_tag(void *ud, int ncols, const char *const *names, const store_value *values)
{
    lua_State *L = ud;
    (void)ncols;
    (void)names;
    cxlib_push_value(L, &values[0]);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return 0;
}

/* Sets the row's columns as fields of the table on top. [-0, +0, m] */
static int customer_row(void *ud, int ncols, const char *const *names, const store_value *values)
{
    lua_State *L = ud;
    for (int i = 0; i < ncols; i++) {
        cxlib_push_value(L, &values[i]);
        lua_setfield(L, -2, names[i]);
    }
    return 0;
}

/* cx.customer(id) [-1, +1, e]: { id, first_seen_at, events, points, tags = {...},
 * facts = { plugin = { name = value } } }, or nil when there is no such customer. */
static int cx_customer(lua_State *L)
{
    session *s = cx_session(L);
    store *st = session_store(s);
    const char *external = luaL_checkstring(L, 1);
    store_id id = 0;
    cx_error err;
    int found = store_customer_find(st, external, &id, &err);
    if (found < 0)
        return luaL_error(L, "cx.customer: %s", err.text);
    if (!found) {
        lua_pushnil(L);
        return 1;
    }
    store_value param = {STORE_INT, id, 0, NULL, 0};
    lua_newtable(L);                         /* [c] */
    if (store_query(st,
                    "SELECT external_id AS id, first_seen_at,"
                    " (SELECT COUNT(*) FROM events WHERE customer_id = ?1) AS events,"
                    " (SELECT COALESCE(SUM(points), 0) FROM ledger WHERE customer_id = ?1) AS points"
                    " FROM customers WHERE id = ?1",
                    &param, 1, customer_row, L, &err) < 0)
        return luaL_error(L, "cx.customer: %s", err.text);
    lua_newtable(L);                         /* [c, tags] */
    if (store_query(st, "SELECT tag FROM customer_tags WHERE customer_id = ?1 ORDER BY tag", &param, 1,
                    customer_tag, L, &err) < 0)
        return luaL_error(L, "cx.customer: %s", err.text);
    lua_setfield(L, -2, "tags");
    lua_newtable(L);                         /* [c, facts] */
    struct customer_facts cf = {L, lua_gettop(L)};
    if (store_facts_each(st, id, NULL, customer_fact, &cf, &err) < 0)
        return luaL_error(L, "cx.customer: %s", err.text);
    lua_setfield(L, -2, "facts");            /* [c] */
    return 1;
}

/* A string field of the event table (strings and whole numbers accepted).
 * [-0, +(0|1), v]: a number's text is left on the stack to keep it alive. */
static const char *event_field(lua_State *L, int t, const char *field, int required)
{
    const char *s = NULL;
    int type = lua_getfield(L, t, field);
    if (type == LUA_TSTRING) {
        s = lua_tostring(L, -1);
        lua_pop(L, 1);                       /* the table keeps the string alive */
    } else if (lua_isinteger(L, -1)) {
        s = lua_tostring(L, -1);             /* converts the stack slot, which stays */
    } else if (type != LUA_TNIL) {
        luaL_error(L, "cx.ingest: event field '%s' must be a string, not a %s", field, luaL_typename(L, -1));
    } else {
        lua_pop(L, 1);
    }
    if (required && (!s || !*s))
        luaL_error(L, "cx.ingest: event field '%s' is missing", field);
    return s && *s ? s : NULL;
}

/* Reads the event table at t into ev; data's JSON goes into json. [-0, +0, v] */
static void event_from_table(lua_State *L, int t, cx_event *ev, buf *json)
{
    memset(ev, 0, sizeof *ev);
    ev->id = event_field(L, t, "id", 1);
    ev->type = event_field(L, t, "type", 1);
    ev->customer = event_field(L, t, "customer", 0);
    ev->touchpoint = event_field(L, t, "touchpoint", 0);

    const char *why = NULL;
    lua_getfield(L, t, "at");
    if (lua_isinteger(L, -1)) {
        ev->at = lua_tointeger(L, -1);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        if (utc_parse(text, len, &ev->at, &why) < 0)
            luaL_error(L, "cx.ingest: at '%s' is not a valid time (%s)", text, why);
    } else {
        luaL_error(L, "cx.ingest: event field 'at' is missing (Unix seconds or ISO-8601 text)");
    }
    lua_pop(L, 1);

    lua_getfield(L, t, "amount_cents");
    if (lua_isinteger(L, -1)) {
        ev->amount_cents = lua_tointeger(L, -1);
        ev->has_amount = 1;
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "cx.ingest: amount_cents must be a whole number of cents");
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "amount");
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        if (money_parse(text, len, &ev->amount_cents, &why) < 0)
            luaL_error(L, "cx.ingest: amount '%s' %s", text, why);
        ev->has_amount = 1;
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "cx.ingest: amount must be decimal text such as \"12.34\" (or give amount_cents)");
    }
    lua_pop(L, 1);

    lua_getfield(L, t, "data");
    if (lua_istable(L, -1)) {
        cx_error err;
        if (luahost_to_json(L, -1, json, &err) < 0) {
            buf_free(json);
            luaL_error(L, "cx.ingest: data: %s", err.text);
        }
        ev->data_json = buf_str(json);
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "cx.ingest: data must be a table");
    }
    lua_pop(L, 1);
}

/* Raises unless a script may write now. [-0, +0, v] */
static void check_may_write(lua_State *L, session *s, const char *fn)
{
    if (plugin_in_hook(session_plugins(s)))
        luaL_error(L, "cx.%s cannot be called from a plugin hook (effects go through ctx)", fn);
    if (store_in_transaction(session_store(s)))
        luaL_error(L, "cx.%s: the store is busy with another write", fn);
}

/* cx.ingest(event) [-1, +1, e]: "inserted" or "duplicate", in its own transaction. */
static int cx_ingest(lua_State *L)
{
    session *s = cx_session(L);
    check_may_write(L, s, "ingest");
    luaL_checktype(L, 1, LUA_TTABLE);
    buf json = BUF_INIT;
    cx_event ev;
    event_from_table(L, 1, &ev, &json);      /* frees json itself when it raises */
    cx_error err;
    store *st = session_store(s);
    int rc = store_begin(st, &err);
    if (rc == 0) {
        rc = ingest_event(s, &ev, 0, 0, &err);
        if (rc >= 0 && store_commit(st, &err) < 0)
            rc = -1;
        if (rc < 0)
            store_rollback(st);
    }
    buf_free(&json);
    if (rc < 0)
        return luaL_error(L, "cx.ingest: %s", err.text);
    lua_pushstring(L, rc == 1 ? "inserted" : "duplicate");
    return 1;
}

/* cx.refresh([as_of]) [-(0|1), +0, e]: runs every plugin's on_refresh. */
static int cx_refresh(lua_State *L)
{
    session *s = cx_session(L);
    check_may_write(L, s, "refresh");
    int64_t as_of = 0;
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, 1, &len), *why = NULL;
        if (utc_parse(text, len, &as_of, &why) < 0)
            return luaL_error(L, "cx.refresh: '%s' is not a valid time (%s)", text, why);
    } else {
        as_of = luaL_optinteger(L, 1, 0);
    }
    cx_error err;
    if (ingest_refresh_alone(s, &as_of, &err) < 0)
        return luaL_error(L, "cx.refresh: %s", err.text);
    return 0;
}

/* cx.serving() [-0, +1, -]: whether this is `cxhost serve`. */
static int cx_serving(lua_State *L)
{
    lua_pushboolean(L, session_serving(cx_session(L)));
    return 1;
}

/* cx.plugins() [-0, +1, m] */
static int cx_plugins(lua_State *L)
{
    plugin_set *ps = session_plugins(cx_session(L));
    int n = ps ? plugin_count(ps) : 0;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        plugin_info info;
        plugin_get_info(ps, i, &info);
        lua_createtable(L, 0, 6);
        lua_pushstring(L, info.name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, info.version);
        lua_setfield(L, -2, "version");
        lua_pushstring(L, info.description);
        lua_setfield(L, -2, "description");
        lua_pushstring(L, info.origin);
        lua_setfield(L, -2, "origin");
        lua_pushstring(L, info.path);
        lua_setfield(L, -2, "path");
        lua_pushinteger(L, info.order);
        lua_setfield(L, -2, "order");
        plugin_push_config(ps, i);
        lua_setfield(L, -2, "config");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* cx.time.iso(t) [-1, +1, m] */
static int cx_time_iso(lua_State *L)
{
    char text[UTC_TEXT_SIZE];
    utc_format(luaL_checkinteger(L, 1), text);
    lua_pushstring(L, text);
    return 1;
}

/* cx.time.date(t) [-1, +1, m] */
static int cx_time_date(lua_State *L)
{
    char text[UTC_TEXT_SIZE];
    utc_format_date(luaL_checkinteger(L, 1), text);
    lua_pushstring(L, text);
    return 1;
}

/* cx.time.parse(text) [-1, +(1|2), m]: seconds, or nil and why. */
static int cx_time_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len), *why = NULL;
    int64_t t;
    if (utc_parse(text, len, &t, &why) < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "'%s' is not a valid time (%s)", text, why);
        return 2;
    }
    lua_pushinteger(L, t);
    return 1;
}

/* cx.time.now() [-0, +1, -] */
static int cx_time_now(lua_State *L)
{
    lua_pushinteger(L, utc_now());
    return 1;
}

/* cx.money.format(cents) [-1, +1, m]: "1,234.50". */
static int cx_money_format(lua_State *L)
{
    char text[MONEY_TEXT_SIZE];
    if (!lua_isinteger(L, 1))
        return luaL_error(L, "cx.money.format: give a whole number of cents");
    money_format_grouped(lua_tointeger(L, 1), text);
    lua_pushstring(L, text);
    return 1;
}

/* cx.money.parse(text) [-1, +(1|2), m]: cents, or nil and why. */
static int cx_money_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len), *why = NULL;
    int64_t cents;
    if (money_parse(text, len, &cents, &why) < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "'%s' %s", text, why);
        return 2;
    }
    lua_pushinteger(L, cents);
    return 1;
}

/* cx.json.encode(value) [-1, +1, e] */
static int cx_json_encode(lua_State *L)
{
    buf out = BUF_INIT;
    cx_error err;
    luaL_checkany(L, 1);
    if (luahost_to_json(L, 1, &out, &err) < 0) {
        buf_free(&out);
        return luaL_error(L, "cx.json.encode: %s", err.text);
    }
    lua_pushlstring(L, buf_str(&out), out.len);
    buf_free(&out);
    return 1;
}

/* cx.json.decode(text) [-1, +1, e] */
static int cx_json_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    cx_error err;
    if (luahost_push_json(L, text, len, &err) < 0)
        return luaL_error(L, "cx.json.decode: %s", err.text);
    return 1;
}

/* cx's __index(cx, name) [-2, +1, m]: a library loaded after this cx was
 * made (a library sees those that load after it), copied on first use. */
static int cx_late_library(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &library_key) != LUA_TTABLE)   /* [cx, name, libs] */
        return 0;
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TTABLE)                                  /* [cx, name, libs, lib] */
        return 0;
    luahost_push_copy(L, -1);                                           /* [cx, name, libs, lib, copy] */
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* Sets a table of closures over s as field name of the table on top. [-0, +0, m] */
static void add_group(lua_State *L, session *s, const char *name, const luaL_Reg *fns)
{
    lua_newtable(L);
    lua_pushlightuserdata(L, s);
    luaL_setfuncs(L, fns, 1);
    lua_setfield(L, -2, name);
}

void cxlib_add(lua_State *L, int env, const char *owner, void *ud)
{
    static const luaL_Reg top[] = {
        {"query", cx_query}, {"customer", cx_customer}, {"ingest", cx_ingest},
        {"refresh", cx_refresh}, {"plugins", cx_plugins}, {"serving", cx_serving}, {NULL, NULL}};
    static const luaL_Reg time_fns[] = {
        {"iso", cx_time_iso}, {"date", cx_time_date}, {"parse", cx_time_parse}, {"now", cx_time_now}, {NULL, NULL}};
    static const luaL_Reg money_fns[] = {{"format", cx_money_format}, {"parse", cx_money_parse}, {NULL, NULL}};
    static const luaL_Reg json_fns[] = {{"encode", cx_json_encode}, {"decode", cx_json_decode}, {NULL, NULL}};
    session *s = ud;
    env = lua_absindex(L, env);
    lua_newtable(L);                         /* [cx] */
    lua_pushlightuserdata(L, s);
    luaL_setfuncs(L, top, 1);
    loop_add_functions(L, session_timers(s), owner);
    add_group(L, s, "time", time_fns);
    add_group(L, s, "money", money_fns);
    add_group(L, s, "json", json_fns);
    mathlib_add(L);
    lua_pushstring(L, session_client(s));
    lua_setfield(L, -2, "client");
    /* Each library, as a copy: what one plugin does to it stays its own. */
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &library_key) == LUA_TTABLE) {   /* [cx, libs] */
        lua_pushnil(L);
        while (lua_next(L, -2)) {                                       /* [cx, libs, name, lib] */
            luahost_push_copy(L, -1);                                   /* [cx, libs, name, lib, copy] */
            lua_pushvalue(L, -3);
            lua_insert(L, -2);                                          /* [cx, libs, name, lib, name, copy] */
            lua_rawset(L, -6);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);                           /* [cx] */
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, cx_late_library);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, env, "cx");              /* [] */
}

void cxlib_set_library(lua_State *L, const char *name, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &library_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &library_key);
    }
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}
