/* facts.c: customers' facts as Lua tables, cached for a write transaction;
 * see facts.h.
 *
 * In the registry, keyed by this module's pointer, a table maps each plugin
 * name to its sets: { [plugin] = { [customer id] = set } }, a set being a
 * plain table of name = value. The store keeps all of a customer's sets in
 * one row, so the first set asked for of a customer already in the store
 * brings in all of them (each plugin's table gets the customer's set unless
 * it has one), and the customer is marked loaded (registry key
 * &facts.limit). A plugin working on its own facts during a hook gets the
 * cached set itself (no copy), and its customer is listed to be written
 * back, with the event that touched it last: a registry table keyed by
 * &facts.listed maps { [customer id] = index into facts.listed }. During an
 * event's savepoint the first touch of a set keeps a copy in the undo log. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "cxhost/buf.h"
#include "cxhost/facts.h"
#include "cxhost/json.h"

#define FACT_NAME_MAX 64
#define MEMO_SLOTS 16

typedef struct listed_customer {
    store_id customer;
    store_id event;     /* the last event (or refresh, 0) that touched its facts */
    int64_t at;
} listed_customer;

/* One fact of a set being written back. */
typedef struct fact_out {
    const char *name;
    size_t len;
    int type;           /* LUA_TNUMBER or LUA_TSTRING */
    int is_integer;
    lua_Integer i;
    lua_Number r;
    const char *s;
    size_t slen;
} fact_out;

struct facts {
    luahost *host;
    lua_State *L;
    store *st;
    size_t limit, bytes;
    listed_customer *listed; /* customers whose facts changed since they were last written back */
    size_t nlisted, caplisted;
    int in_event;           /* an event's savepoint is open: keep the undo log */
    lua_Integer nundo;      /* entries in the undo log (UNDO_SLOTS slots each) */
    const char *undone_plugin; /* the set last copied to the undo log, not to copy it twice */
    store_id undone_customer;
    int broken;             /* an event could not be taken back: refuse to commit */
    /* The sets tables of the plugins that write, by their name's (stable)
     * pointer, held by registry references: the hot path reaches them
     * without two hash lookups. */
    struct { const char *plugin; int ref; } memo[MEMO_SLOTS];
    int nmemo;
    fact_out *out;          /* scratch for write-back */
    size_t capout;
    buf json;
};

/* The registry keys of the undo log, of the listed customers' indexes and
 * of the loaded customers. */
static void *undo_key(facts *f) { return &f->nundo; }
static void *listed_key(facts *f) { return &f->listed; }
static void *loaded_key(facts *f) { return &f->limit; }

/* An undo entry: plugin (light userdata), customer, the set's copy, and
 * the customer's listed event and time before (-1 when it was not listed). */
enum { UNDO_SLOTS = 5 };

/* Memory a set holds, counted roughly as Lua 5.4 lays it out: the table,
 * its slots, a hash node per name (a power of two of them), its strings,
 * and its entry in the plugin's table. */
static size_t set_bytes(int names, size_t text)
{
    size_t nodes = 1;
    while ((int)nodes < names)
        nodes <<= 1;
    return 56 + nodes * 32 + text + 48;
}

static void count_bytes(facts *f, size_t add)
{
    f->bytes += add;
    luahost_set_memory_exempt(f->host, f->bytes);
}

/* An array at *cap elements grown to twice as many (first elements).
 * [-0, +0, m] */
static void *grow(lua_State *L, void *array, size_t *cap, size_t size, size_t first)
{
    size_t n = *cap ? 2 * *cap : first;
    void *grown = realloc(array, n * size);
    if (!grown)
        luaL_error(L, "not enough memory");
    *cap = n;
    return grown;
}

/* Pushes the value at idx as a fact holds it: a boolean as 1 or 0, NaN
 * (which has no JSON form) as nil. [-0, +1, -] */
static void push_fact_value(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TBOOLEAN)
        lua_pushinteger(L, lua_toboolean(L, idx));
    else if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx) && isnan(lua_tonumber(L, idx)))
        lua_pushnil(L);
    else
        lua_pushvalue(L, idx);
}

/* Whether a fact would change from the value at a to the one at b (an
 * integer and an equal float differ: they are written differently). [-0, +0, -] */
static int same_value(lua_State *L, int a, int b)
{
    return lua_rawequal(L, a, b) && (lua_type(L, a) != LUA_TNUMBER || lua_isinteger(L, a) == lua_isinteger(L, b));
}

/* Raises "FN: ..." unless the string at name_idx is a fact name and the
 * value at value_idx a fact's value (nil included). [-0, +0, v] */
static void check_fact(lua_State *L, const char *fn, int name_idx, int value_idx)
{
    size_t n, len;
    const char *name = lua_tolstring(L, name_idx, &n);
    if (n == 0 || n > FACT_NAME_MAX)
        luaL_error(L, "%s: a fact name must be 1 to %d characters", fn, FACT_NAME_MAX);
    if (!json_utf8_valid(name, n))
        luaL_error(L, "%s: a fact name must be UTF-8 text", fn);
    switch (lua_type(L, value_idx)) {
    case LUA_TNIL:
    case LUA_TBOOLEAN:
        return;
    case LUA_TNUMBER:
        return;
    case LUA_TSTRING: {
        const char *s = lua_tolstring(L, value_idx, &len);
        if (!json_utf8_valid(s, len))
            luaL_error(L, "%s: fact '%s': a text value must be UTF-8 (this one holds other bytes)", fn, name);
        return;
    }
    default:
        luaL_error(L, "%s: fact '%s' must be a number, string, boolean or nil, not a %s", fn, name,
                   luaL_typename(L, value_idx));
    }
}

/* Pushes the registry table at key, made when missing. [-0, +1, e] */
static void push_registry_table(lua_State *L, void *key, int size)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TTABLE) { /* [t|nil] */
        lua_pop(L, 1);
        lua_createtable(L, 0, size);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, key);
    }
}

/* Pushes plugin's sets table, made when missing. With stable, plugin is a
 * pointer that names the same plugin for the cache's life (a plugin's own
 * name), and the table is remembered by it. [-0, +1, e] */
static void push_plugin_table(facts *f, const char *plugin, int stable)
{
    lua_State *L = f->L;
    if (stable)
        for (int i = 0; i < f->nmemo; i++)
            if (f->memo[i].plugin == plugin) {
                lua_rawgeti(L, LUA_REGISTRYINDEX, f->memo[i].ref);
                return;
            }
    push_registry_table(L, f, 8);                               /* [root] */
    if (lua_getfield(L, -1, plugin) != LUA_TTABLE) {            /* [root, t|nil] */
        lua_pop(L, 1);
        lua_createtable(L, 0, 64);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, plugin);
    }
    lua_remove(L, -2);                                          /* [t] */
    if (stable && f->nmemo < MEMO_SLOTS) {
        lua_pushvalue(L, -1);
        int i = f->nmemo++;
        f->memo[i].plugin = plugin;
        f->memo[i].ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
}

/* Lets go of the remembered tables, when their registry root is dropped.
 * [-0, +0, -] */
static void forget_memo(facts *f)
{
    for (int i = 0; i < f->nmemo; i++)
        luaL_unref(f->L, LUA_REGISTRYINDEX, f->memo[i].ref);
    f->nmemo = 0;
}

/* Pushes the customer's row from the store, decoded and checked: a table
 * of plugin = set (empty when there is none); *found says whether there
 * was a row. [-0, +1, e] */
static void push_row(facts *f, store_id customer, int *found)
{
    lua_State *L = f->L;
    cx_error err;
    *found = store_facts_load(f->st, customer, &f->json, &err);
    if (*found < 0)
        luaL_error(L, "%s", err.text);
    if (!*found) {
        lua_newtable(L);
        return;
    }
    if (luahost_push_json(L, f->json.data, f->json.len, &err) < 0)
        luaL_error(L, "the facts of customer %I in the store: %s", (lua_Integer)customer, err.text);
    if (!lua_istable(L, -1))                                    /* [row] */
        luaL_error(L, "the facts of customer %I in the store are not a JSON object", (lua_Integer)customer);
    lua_pushnil(L);
    while (lua_next(L, -2)) {                                   /* [row, plugin, set] */
        if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1))
            luaL_error(L, "the facts of customer %I in the store: each plugin's facts must be an object",
                       (lua_Integer)customer);
        lua_pushnil(L);
        while (lua_next(L, -2)) {                               /* [row, plugin, set, k, v] */
            if (lua_type(L, -1) == LUA_TTABLE)
                luaL_error(L, "the facts of customer %I from plugin '%s': fact '%s' is an array or an object",
                           (lua_Integer)customer, lua_tostring(L, -4), lua_tostring(L, -2));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

/* Memory a set at idx holds, by set_bytes. [-0, +0, -] */
static size_t bytes_of(lua_State *L, int idx)
{
    size_t text = 0;
    int names = 0;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {                                  /* [k, v] */
        if (lua_type(L, -1) == LUA_TSTRING)
            text += lua_rawlen(L, -1) + 25;
        names++;
        lua_pop(L, 1);
    }
    return set_bytes(names, text);
}

/* Brings the customer's row into the cache: each plugin's set goes to that
 * plugin's table unless the table has one (the cache's is newer). Once per
 * transaction for a customer with a row; for one without, each plugin's
 * first use asks again, and then has a set of its own. [-0, +0, e] */
static void load_customer(facts *f, store_id customer)
{
    lua_State *L = f->L;
    push_registry_table(L, loaded_key(f), 64);                  /* [loaded] */
    if (lua_rawgeti(L, -1, customer) != LUA_TNIL) {             /* [loaded, true|nil] */
        lua_pop(L, 2);
        return;
    }
    lua_pop(L, 1);
    int found;
    push_row(f, customer, &found);                              /* [loaded, row] */
    if (found) {
        lua_pushboolean(L, 1);
        lua_rawseti(L, -3, customer);
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {                                   /* [loaded, row, plugin, set] */
        push_plugin_table(f, lua_tostring(L, -2), 0);           /* [loaded, row, plugin, set, sets] */
        if (lua_rawgeti(L, -1, customer) == LUA_TNIL) {         /* [.., set, sets, old|nil] */
            lua_pop(L, 1);
            lua_pushvalue(L, -2);
            lua_rawseti(L, -2, customer);
            count_bytes(f, bytes_of(L, -2));
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 2);                                          /* [loaded, row, plugin] */
    }
    lua_pop(L, 2);
}

/* Pushes the cached set of (customer, plugin), loaded on first use (and
 * outside a transaction, loaded and not kept). [-0, +1, e] */
static void push_set(facts *f, store_id customer, const char *plugin, int stable)
{
    lua_State *L = f->L;
    if (!store_in_transaction(f->st)) {
        int found;
        push_row(f, customer, &found);                          /* [row] */
        if (lua_getfield(L, -1, plugin) != LUA_TTABLE) {        /* [row, set|nil] */
            lua_pop(L, 1);
            lua_newtable(L);
        }
        lua_remove(L, -2);
        return;
    }
    push_plugin_table(f, plugin, stable);                       /* [sets] */
    if (lua_rawgeti(L, -1, customer) == LUA_TTABLE) {           /* [sets, set] */
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    if (store_facts_may_exist(f->st, customer)) {
        load_customer(f, customer);
        if (lua_rawgeti(L, -1, customer) == LUA_TTABLE) {       /* [sets, set] */
            lua_remove(L, -2);
            return;
        }
        lua_pop(L, 1);
    }
    lua_createtable(L, 0, 8);                                   /* [sets, set] */
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, customer);
    count_bytes(f, set_bytes(0, 0));
    lua_remove(L, -2);                                          /* [set] */
}

/* Pushes a new table with the string keys of the table at idx. [-0, +1, e] */
static void push_copy(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 8);                                   /* [copy] */
    lua_pushnil(L);
    while (lua_next(L, idx)) {                                  /* [copy, k, v] */
        if (lua_type(L, -2) == LUA_TSTRING) {
            lua_pushvalue(L, -2);                               /* [copy, k, v, k] */
            lua_insert(L, -2);                                  /* [copy, k, k, v] */
            lua_rawset(L, -4);                                  /* [copy, k] */
        } else {
            lua_pop(L, 1);
        }
    }
}

/* Notes that o touched the customer's facts: they are written back with
 * o's event and time. [-0, +0, e] */
static void list_set(facts *f, const store_origin *o, store_id customer)
{
    lua_State *L = f->L;
    push_registry_table(L, listed_key(f), 64);                  /* [index] */
    lua_Integer i = 0;
    if (lua_rawgeti(L, -1, customer) == LUA_TNUMBER) {          /* [index, i|nil] */
        i = lua_tointeger(L, -1);
    } else {
        if (f->nlisted == f->caplisted)
            f->listed = grow(L, f->listed, &f->caplisted, sizeof *f->listed, 256);
        i = (lua_Integer)f->nlisted++;
        f->listed[i].customer = customer;
        lua_pushinteger(L, i);
        lua_rawseti(L, -3, customer);
    }
    lua_pop(L, 2);
    f->listed[i].event = o->event;
    f->listed[i].at = o->at;
}

/* During an event, before its first change to the set on top: keeps a
 * copy of it, and how it was listed, in the undo log. [-0, +0, e] */
static void keep_for_undo(facts *f, const char *plugin, store_id customer)
{
    lua_State *L = f->L;
    if (!f->in_event || (f->undone_plugin == plugin && f->undone_customer == customer))
        return;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, undo_key(f)) != LUA_TTABLE) {   /* [set, undo|nil] */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, undo_key(f));
    }
    lua_Integer base = UNDO_SLOTS * f->nundo;
    lua_Integer event = -1, at = -1;
    push_registry_table(L, listed_key(f), 64);                  /* [set, undo, index] */
    if (lua_rawgeti(L, -1, customer) == LUA_TNUMBER) {
        const listed_customer *item = &f->listed[lua_tointeger(L, -1)];
        event = item->event;
        at = item->at;
    }
    lua_pop(L, 2);                                              /* [set, undo] */
    lua_pushlightuserdata(L, (void *)plugin);
    lua_rawseti(L, -2, base + 1);
    lua_pushinteger(L, customer);
    lua_rawseti(L, -2, base + 2);
    push_copy(L, -2);
    lua_rawseti(L, -2, base + 3);
    lua_pushinteger(L, event);
    lua_rawseti(L, -2, base + 4);
    lua_pushinteger(L, at);
    lua_rawseti(L, -2, base + 5);
    lua_pop(L, 1);                                              /* [set] */
    f->nundo++;
    f->undone_plugin = plugin;
    f->undone_customer = customer;
}

void facts_push(facts *f, store_id customer, const char *plugin, const store_origin *writer)
{
    push_set(f, customer, plugin, writer != NULL);              /* [set] */
    if (!writer || !store_in_transaction(f->st)) {
        push_copy(f->L, -1);                                    /* [set, copy] */
        lua_remove(f->L, -2);
        return;
    }
    keep_for_undo(f, plugin, customer);
    list_set(f, writer, customer);
}

int facts_has(facts *f, store_id customer, const char *plugin, int stored)
{
    lua_State *L = f->L;
    int top = lua_gettop(L), has = stored;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, f) == LUA_TTABLE &&       /* [root] */
        lua_getfield(L, -1, plugin) == LUA_TTABLE &&               /* [root, sets] */
        lua_rawgeti(L, -1, customer) == LUA_TTABLE) {              /* [root, sets, set] */
        lua_pushnil(L);
        has = 0;
        while (!has && lua_next(L, -2)) {                          /* [.., set, k, v] */
            has = lua_type(L, -2) == LUA_TSTRING;
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
    return has;
}

void facts_push_one(facts *f, store_id customer, const char *plugin, const char *name)
{
    lua_State *L = f->L;
    push_set(f, customer, plugin, 0);                           /* [set] */
    lua_getfield(L, -1, name);                                  /* [set, value] */
    lua_remove(L, -2);
}

void facts_merge(facts *f, const store_origin *o, store_id customer, int idx, const char *fn)
{
    lua_State *L = f->L;
    idx = lua_absindex(L, idx);
    push_set(f, customer, o->plugin, 1);                        /* [set] */
    /* The set itself (from ctx.facts) has its changes in it already, and is
     * checked when written back. Otherwise everything is checked before
     * anything changes. */
    if (lua_rawequal(L, -1, idx)) {
        keep_for_undo(f, o->plugin, customer);
        lua_pop(L, 1);
        list_set(f, o, customer);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {                                  /* [set, k, v] */
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: fact names must be strings", fn);
        check_fact(L, fn, -2, -1);
        lua_pop(L, 1);
    }
    keep_for_undo(f, o->plugin, customer);
    lua_pushnil(L);
    while (lua_next(L, idx)) {                                  /* [set, k, v] */
        lua_pushvalue(L, -2);                                   /* [set, k, v, k] */
        push_fact_value(L, -2);                                 /* [set, k, v, k, v'] */
        lua_rawset(L, -5);                                      /* [set, k, v] */
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    list_set(f, o, customer);
}

void facts_set_one(facts *f, const store_origin *o, store_id customer, const char *name, int idx,
                   const char *fn)
{
    lua_State *L = f->L;
    idx = lua_absindex(L, idx);
    lua_pushstring(L, name);                                    /* [name] */
    check_fact(L, fn, -1, idx);
    push_set(f, customer, o->plugin, 1);                        /* [name, set] */
    lua_pushvalue(L, -2);
    lua_rawget(L, -2);                                          /* [name, set, was] */
    push_fact_value(L, idx);                                    /* [name, set, was, value] */
    int changed = !same_value(L, -1, -2);
    lua_remove(L, -2);                                          /* [name, set, value] */
    if (changed) {
        lua_insert(L, -2);                                      /* [name, value, set] */
        keep_for_undo(f, o->plugin, customer);
        lua_insert(L, -3);                                      /* [set, name, value] */
        lua_rawset(L, -3);                                      /* [set] */
        list_set(f, o, customer);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 3);
    }
}

/* --- writing back ------------------------------------------------------------ */

/* Byte order of two texts, a shorter prefix first: facts' and plugins'
 * names in a row's JSON. */
static int compare_text(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int compare_names(const void *a, const void *b)
{
    const fact_out *x = a, *y = b;
    return compare_text(x->name, x->len, y->name, y->len);
}

/* Appends "plugin":{...} to the row being written, with the facts of the
 * set on top in name order (nothing when it has none; a comma first unless
 * first): 1 appended, 0 not. A plugin may have put anything in the set it
 * was given: what a fact cannot hold is an error here. [-0, +0, e] */
static int append_set(facts *f, const char *plugin, size_t plugin_len, store_id customer, int first)
{
    lua_State *L = f->L;
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {                                   /* [set, k, v] */
        int type = lua_type(L, -1);
        size_t len = 0;
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
        if (!name || len == 0 || len > FACT_NAME_MAX ||
            (type != LUA_TNUMBER && type != LUA_TSTRING && type != LUA_TBOOLEAN)) {
            char fn[128];   /* formatted only for the error */
            snprintf(fn, sizeof fn, "plugin '%s', facts of customer %lld", plugin, (long long)customer);
            if (!name)
                luaL_error(L, "%s: fact names must be strings, not %s", fn, luaL_typename(L, -2));
            check_fact(L, fn, -2, -1);
        }
        if (!json_utf8_valid(name, len))
            luaL_error(L, "plugin '%s', facts of customer %lld: a fact name must be UTF-8 text", plugin,
                       (long long)customer);
        if (n == f->capout)
            f->out = grow(L, f->out, &f->capout, sizeof *f->out, 16);
        fact_out *o = &f->out[n];
        o->name = name;                                         /* the set keeps these strings alive */
        o->len = len;
        o->s = NULL;
        o->r = 0;
        o->i = 0;
        if (type == LUA_TSTRING) {
            o->type = LUA_TSTRING;
            o->is_integer = 0;
            o->s = lua_tolstring(L, -1, &o->slen);
            if (!json_utf8_valid(o->s, o->slen))
                luaL_error(L, "plugin '%s', facts of customer %lld: fact '%s': a text value must be UTF-8 (this "
                              "one holds other bytes)", plugin, (long long)customer, name);
        } else if (type == LUA_TBOOLEAN) {
            o->type = LUA_TNUMBER;
            o->is_integer = 1;
            o->i = lua_toboolean(L, -1);
        } else {
            o->type = LUA_TNUMBER;
            o->is_integer = lua_isinteger(L, -1);
            if (o->is_integer) {
                o->i = lua_tointeger(L, -1);
            } else {
                o->r = lua_tonumber(L, -1);
                if (isnan(o->r)) {
                    lua_pop(L, 1);                              /* NaN: unset */
                    continue;
                }
            }
        }
        n++;
        lua_pop(L, 1);
    }
    /* Sets hold a few facts: insertion sort beats qsort's call per comparison. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && compare_names(&f->out[j - 1], &f->out[j]) > 0; j--) {
            fact_out t = f->out[j];
            f->out[j] = f->out[j - 1];
            f->out[j - 1] = t;
        }
    if (n == 0)
        return 0;
    buf *b = &f->json;
    if (!first)
        buf_add_char(b, ',');
    buf_add_json_string(b, plugin, plugin_len);
    buf_add(b, ":{", 2);
    for (size_t i = 0; i < n; i++) {
        const fact_out *o = &f->out[i];
        if (i)
            buf_add_char(b, ',');
        buf_add_json_string(b, o->name, o->len);
        buf_add_char(b, ':');
        if (o->type == LUA_TSTRING)
            buf_add_json_string(b, o->s, o->slen);
        else if (o->is_integer)
            buf_add_int(b, o->i);
        else if (isinf(o->r))
            buf_add_str(b, o->r > 0 ? "1e999" : "-1e999");   /* overflows back to itself when read */
        else
            buf_add_real(b, o->r);                          /* with ".0": stays a float when read back */
    }
    buf_add_char(b, '}');
    return 1;
}

/* The plugins with sets, by name, to write a row's plugins in order. */
typedef struct plugin_out {
    const char *name;
    size_t len;
} plugin_out;

static int compare_plugins(const void *a, const void *b)
{
    const plugin_out *x = a, *y = b;
    return compare_text(x->name, x->len, y->name, y->len);
}

/* [-1, +0, e]: the facts module as a light userdata. Writes each listed
 * customer's row: every plugin's set of that customer, in plugin order. */
static int write_back_all(lua_State *L)
{
    facts *f = lua_touserdata(L, 1);
    if (f->broken)
        return luaL_error(L, "an event could not be taken back (out of memory); the transaction cannot commit");
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, f) != LUA_TTABLE)    /* [f, root|nil] */
        lua_newtable(L);
    size_t nplugins = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {                                    /* [f, root, plugin, sets] */
        nplugins++;
        lua_pop(L, 1);
    }
    plugin_out *plugins = lua_newuserdatauv(L, (nplugins ? nplugins : 1) * sizeof *plugins, 0); /* [f, root, ud] */
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {                                    /* [f, root, ud, plugin, sets] */
        plugins[k].name = lua_tolstring(L, -2, &plugins[k].len);   /* root keeps the strings */
        k++;
        lua_pop(L, 1);
    }
    qsort(plugins, nplugins, sizeof *plugins, compare_plugins);
    luaL_checkstack(L, (int)nplugins + 8, "too many plugins with facts");
    int base = lua_gettop(L);
    for (size_t i = 0; i < nplugins; i++)
        lua_getfield(L, 2, plugins[i].name);                    /* [f, root, ud, sets...] */
    for (size_t i = 0; i < f->nlisted; i++) {
        const listed_customer *item = &f->listed[i];
        buf *b = &f->json;
        buf_clear(b);
        buf_add_char(b, '{');
        int any = 0;
        for (size_t p = 0; p < nplugins; p++) {
            if (lua_rawgeti(L, base + 1 + (int)p, item->customer) == LUA_TTABLE &&
                append_set(f, plugins[p].name, plugins[p].len, item->customer, !any))
                any = 1;
            lua_pop(L, 1);
        }
        buf_add_char(b, '}');
        cx_error err;
        if (store_facts_write(f->st, item->customer, any ? b->data : NULL, any ? b->len : 0, item->event,
                              item->at, &err) < 0)
            luaL_error(L, "%s", err.text);
    }
    lua_settop(L, 1);
    f->nlisted = 0;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, listed_key(f));
    return 0;
}

/* Runs fn(L, f) protected (the store calls in from C, outside any Lua
 * call): 0, or -1 with err. [-0, +0, -] */
static int run_protected(facts *f, lua_CFunction fn, cx_error *err)
{
    lua_State *L = f->L;
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, f);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        cx_error_set(err, "writing facts back: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

static int write_back(void *ud, cx_error *err)
{
    facts *f = ud;
    return f->nlisted || f->broken ? run_protected(f, write_back_all, err) : 0;
}

/* Empties the cache (writing nothing). [-0, +0, -]: setting a key that is
 * there to nil allocates nothing. */
static void forget_all(facts *f)
{
    lua_State *L = f->L;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, f);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, undo_key(f));
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, listed_key(f));
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, loaded_key(f));
    forget_memo(f);
    f->nlisted = 0;
    f->undone_plugin = NULL;
    f->nundo = 0;
    f->in_event = 0;
    f->broken = 0;
    f->bytes = 0;
    luahost_set_memory_exempt(f->host, 0);
}

static void forget(void *ud) { forget_all(ud); }

int facts_trim(facts *f, cx_error *err)
{
    if (f->in_event || f->bytes < f->limit)
        return 0;
    if (write_back(f, err) < 0)
        return -1;
    forget_all(f);
    return 0;
}

static int event_begin(void *ud, cx_error *err)
{
    facts *f = ud;
    if (facts_trim(f, err) < 0)
        return -1;
    f->in_event = 1;
    f->nundo = 0;
    f->undone_plugin = NULL;
    return 0;
}

/* Puts back the sets the event changed, newest first, and how they were
 * listed. [-1, +0, e] */
static int undo_all(lua_State *L)
{
    facts *f = lua_touserdata(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, undo_key(f)) != LUA_TTABLE)   /* [f, undo] */
        return 0;
    for (lua_Integer k = f->nundo - 1; k >= 0; k--) {
        lua_Integer base = UNDO_SLOTS * k;
        lua_rawgeti(L, 2, base + 1);
        const char *plugin = lua_touserdata(L, -1);
        lua_rawgeti(L, 2, base + 2);
        store_id customer = lua_tointeger(L, -1);
        lua_rawgeti(L, 2, base + 4);
        lua_Integer event = lua_tointeger(L, -1);
        lua_rawgeti(L, 2, base + 5);
        lua_Integer at = lua_tointeger(L, -1);
        lua_pop(L, 4);
        push_plugin_table(f, plugin, 1);                        /* [f, undo, sets] */
        lua_rawgeti(L, 2, base + 3);                            /* [f, undo, sets, copy] */
        lua_rawseti(L, -2, customer);                           /* [f, undo, sets] */
        lua_pop(L, 1);
        /* Listed before the event: its event and time again (it may have been
         * written back during the event; the savepoint took that back, so it is
         * listed anew). Listed only by the event: it is written back as it was,
         * which changes no row. Newest first, so the oldest entry for the
         * customer has the last word. */
        if (event >= 0) {
            store_origin o = {plugin, event, at};
            list_set(f, &o, customer);
        }
    }
    lua_pop(L, 1);
    return 0;
}

static void event_end(void *ud, int kept)
{
    facts *f = ud;
    cx_error err;
    if (!kept && f->nundo && run_protected(f, undo_all, &err) < 0)
        f->broken = 1;
    f->in_event = 0;
    f->nundo = 0;
    f->undone_plugin = NULL;
}

/* --- life --------------------------------------------------------------------- */

facts *facts_new(luahost *h, store *st)
{
    facts *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->host = h;
    f->L = luahost_state(h);
    f->st = st;
    f->limit = FACTS_CACHE_DEFAULT;
    store_cache c = {f, write_back, event_begin, event_end, forget};
    store_set_cache(st, &c);
    return f;
}

void facts_free(facts *f)
{
    if (!f)
        return;
    store_set_cache(f->st, NULL);
    forget_all(f);
    free(f->listed);
    free(f->out);
    buf_free(&f->json);
    free(f);
}

void facts_set_limit(facts *f, size_t bytes) { f->limit = bytes; }
size_t facts_bytes(const facts *f) { return f->bytes; }
