/* plugin.c: loads plugins, gives each its ctx, and runs their hooks.
 *
 * Each plugin owns its table, its ctx and its sandbox (all held by registry
 * references), so nothing one plugin does to its globals reaches another.
 * The ctx functions are C closures whose upvalue is the plugin they belong
 * to: every effect knows its plugin and, during a hook, its event. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <uv.h>
#include "embedded.h"
#include "cxhost/buf.h"
#include "cxhost/cxlib.h"
#include "cxhost/facts.h"
#include "cxhost/json.h"
#include "cxhost/plugin.h"
#include "cxhost/utc.h"

#define PLUGIN_DEFAULT_ORDER 100

struct plugin {
    plugin_set *set;
    char *name, *version, *description, *path;
    int builtin;
    int replaces_builtin;
    int order;
    int table_ref;       /* the table the file returned */
    int ctx_ref;
    int on_load_ref;     /* its hooks, looked up once at load (LUA_NOREF: none) */
    int on_event_ref;
    int on_refresh_ref;
    char **events;       /* NULL: every event type */
    int nevents;
    int wants;           /* whether it handles events of the type in ps->wants_type */
};

struct plugin_set {
    luahost *host;
    store *st;
    facts *facts;
    char *client;
    char *plugin_dir;
    int config_ref;
    struct plugin **items;
    int count;
    /* What a hook is working on now. */
    int in_hook;
    int loading;             /* on_load hooks are running */
    int writing;             /* effects allowed: inside an event or a refresh */
    store_origin origin;     /* plugin is filled per call */
    const cx_event *event;        /* the event being handled, for run_on_event */
    char event_meta;              /* registry keys (their addresses): the event tables' metatable */
    struct plugin *hooked;        /* the plugin whose on_event runs */
    const char *event_customer;   /* the event's customer and its id: most ctx calls name it */
    store_id event_customer_id;
    char wants_type[64];          /* the event type each plugin's `wants` is for, */
    int wants_known;              /* when this is set */
    buf trace;                    /* ctx.explain's lines for the event: a JSON object being written */
    struct plugin *tracing;       /* the plugin whose list in trace is open (NULL: none yet) */
};

static int call_hook(plugin_set *ps, struct plugin *p, const char *hook, int nargs, const char *context_fmt,
                     const char *context, cx_error *err);

static const char *const known_hooks[] = {"on_load", "on_event", "on_refresh", NULL};

static void plugin_release(lua_State *L, struct plugin *p);

static void plugin_free(struct plugin *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->version);
    free(p->description);
    free(p->path);
    for (int i = 0; i < p->nevents; i++)
        free(p->events[i]);
    free(p->events);
    free(p);
}

plugin_set *plugin_set_new(luahost *h, store *st, facts *f, const char *client, const char *plugin_dir,
                           int config_ref)
{
    plugin_set *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->host = h;
    ps->st = st;
    ps->facts = f;
    ps->client = strdup(client);
    ps->plugin_dir = plugin_dir ? strdup(plugin_dir) : NULL;
    ps->config_ref = config_ref;
    return ps;
}

void plugin_set_free(plugin_set *ps)
{
    if (!ps)
        return;
    lua_State *L = luahost_state(ps->host);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ps->event_meta);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ps->event);
    /* The plugins' tables and contexts go with them: a reload must not keep
     * the old ones alive in the registry. */
    for (int i = 0; i < ps->count; i++) {
        luaL_unref(L, LUA_REGISTRYINDEX, ps->items[i]->ctx_ref);
        plugin_release(L, ps->items[i]);
    }
    free(ps->items);
    free(ps->client);
    free(ps->plugin_dir);
    buf_free(&ps->trace);
    free(ps);
}

void plugin_push_config(plugin_set *ps, int i)
{
    lua_State *L = luahost_state(ps->host);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ps->items[i]->ctx_ref);   /* [ctx] */
    lua_getfield(L, -1, "config");                              /* [ctx, config] */
    luahost_push_copy(L, -1);                                   /* [ctx, config, copy] */
    lua_pushnil(L);
    while (lua_next(L, -2)) {                                   /* [.., copy, k, v] */
        if (lua_istable(L, -1)) {                               /* a map or list setting: copied too */
            luahost_push_copy(L, -1);                           /* [.., copy, k, v, v'] */
            lua_pushvalue(L, -3);
            lua_insert(L, -2);
            lua_rawset(L, -5);                                  /* copy[k] = v' */
        }
        lua_pop(L, 1);
    }
    lua_remove(L, -2);
    lua_remove(L, -2);                                          /* [copy] */
}

int plugin_count(const plugin_set *ps) { return ps->count; }
int plugin_in_hook(const plugin_set *ps) { return ps->in_hook; }

void plugin_get_info(const plugin_set *ps, int i, plugin_info *info)
{
    const struct plugin *p = ps->items[i];
    info->name = p->name;
    info->version = p->version;
    info->description = p->description;
    info->origin = p->builtin ? "built-in" : "client";
    info->path = p->path;
    info->order = p->order;
    info->replaces_builtin = p->replaces_builtin;
}

/* --- ctx: the plugin API ---------------------------------------------------- */

/* [-0, +0, -] */
static struct plugin *ctx_plugin(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* Raises unless effects may be written now. [-0, +0, v] */
static void ctx_check_writing(lua_State *L, struct plugin *p, const char *fn)
{
    if (!p->set->writing)
        luaL_error(L, "ctx.%s: effects are written only while a plugin handles an event or a refresh "
                      "(not in on_load, nor in a timer: a timer can call cx.ingest or cx.refresh)", fn);
}

/* Finds a customer by external id: 1 found, 0 not, -1 error. */
static int find_customer(plugin_set *ps, const char *external, store_id *id, cx_error *err)
{
    if (ps->event_customer && strcmp(external, ps->event_customer) == 0) {
        *id = ps->event_customer_id;
        return 1;
    }
    return store_customer_find(ps->st, external, id, err);
}

/* The internal id of the customer named by argument arg. [-0, +0, v] */
static store_id ctx_customer(lua_State *L, struct plugin *p, int arg, const char *fn)
{
    cx_error err;
    store_id id = 0;
    const char *external = luaL_checkstring(L, arg);
    int found = find_customer(p->set, external, &id, &err);
    if (found < 0)
        luaL_error(L, "ctx.%s: %s", fn, err.text);
    if (!found)
        luaL_error(L, "ctx.%s: no customer '%s'", fn, external);
    return id;
}

/* The origin of an effect made now by p. */
static store_origin ctx_origin(struct plugin *p)
{
    store_origin o = p->set->origin;
    o.plugin = p->name;
    return o;
}

/* [-0, +0, v] */
static void ctx_check_name(lua_State *L, const char *what, const char *fn, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        luaL_error(L, "ctx.%s: %s must be 1 to 64 characters", fn, what);
}

/* ctx.facts_set(customer, {name = value, ...}) [-2, +0, e] */
static int ctx_facts_set(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "facts_set");
    store_id customer = ctx_customer(L, p, 1, "facts_set");
    luaL_checktype(L, 2, LUA_TTABLE);
    store_origin o = ctx_origin(p);
    facts_merge(p->set->facts, &o, customer, 2, "ctx.facts_set");
    return 0;
}

/* ctx.fact_set(customer, name, value) [-3, +0, e] */
static int ctx_fact_set(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "fact_set");
    store_id customer = ctx_customer(L, p, 1, "fact_set");
    const char *name = luaL_checkstring(L, 2);
    lua_settop(L, 3);
    store_origin o = ctx_origin(p);
    facts_set_one(p->set->facts, &o, customer, name, 3, "ctx.fact_set");
    return 0;
}

/* ctx.fact(customer, name [, plugin]) [-(2|3), +1, e] */
static int ctx_fact(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    const char *name = luaL_checkstring(L, 2);
    const char *owner = luaL_optstring(L, 3, p->name);
    store_id customer = 0;
    cx_error err;
    int found = find_customer(p->set, luaL_checkstring(L, 1), &customer, &err);
    if (found < 0)
        return luaL_error(L, "ctx.fact: %s", err.text);
    if (found)
        facts_push_one(p->set->facts, customer, owner, name);
    else
        lua_pushnil(L);
    return 1;
}

/* ctx.facts(customer [, plugin]) [-(1|2), +1, e]: a table of name = value. */
static int ctx_facts(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    const char *owner = luaL_optstring(L, 2, p->name);
    store_id customer = 0;
    cx_error err;
    int found = find_customer(p->set, luaL_checkstring(L, 1), &customer, &err);
    if (found < 0)
        return luaL_error(L, "ctx.facts: %s", err.text);
    if (!found) {
        lua_newtable(L);
        return 1;
    }
    /* Its own facts, during a hook that writes: the cached table itself. */
    store_origin o = ctx_origin(p);
    int own = strcmp(owner, p->name) == 0;
    facts_push(p->set->facts, customer, own ? p->name : owner, own && p->set->writing ? &o : NULL);
    return 1;
}

struct each_customer {
    lua_State *L;
    plugin_set *ps;
    const char *owner;
    int fn;        /* stack index of the function */
    int failed;    /* an error object is on the stack */
};

/* Calls fn(customer, facts) for one customer that has facts. Arguments:
 * fn, the walk (light userdata), the customer's id, its external id (light
 * userdata), whether the store holds facts for it. [-5, +0, e] */
static int each_customer_step(lua_State *L)
{
    struct each_customer *e = lua_touserdata(L, 2);
    store_id customer = lua_tointeger(L, 3);
    if (!facts_has(e->ps->facts, customer, e->owner, lua_toboolean(L, 5)))
        return 0;
    lua_pushvalue(L, 1);                                     /* [.., fn] */
    lua_pushstring(L, lua_touserdata(L, 4));                 /* [.., fn, customer] */
    facts_push(e->ps->facts, customer, e->owner, NULL);      /* [.., fn, customer, facts] */
    lua_call(L, 2, 0);
    return 0;
}

/* The store's callback for one customer: runs each_customer_step
 * protected, so an error stops the walk and is left on the stack for
 * ctx_each_customer to raise once the store is done. [-0, +(0|1), -] */
static int each_customer_call(void *ud, store_id customer, const char *external, int stored)
{
    struct each_customer *e = ud;
    lua_State *L = e->L;
    plugin_set *ps = e->ps;
    lua_pushcfunction(L, each_customer_step);
    lua_pushvalue(L, e->fn);
    lua_pushlightuserdata(L, e);
    lua_pushinteger(L, customer);
    lua_pushlightuserdata(L, (void *)external);
    lua_pushboolean(L, stored);
    /* ctx calls about this customer skip the lookup, as during its event. */
    const char *saved = ps->event_customer;
    store_id saved_id = ps->event_customer_id;
    ps->event_customer = external;
    ps->event_customer_id = customer;
    int rc = lua_pcall(L, 5, 0, 0);
    ps->event_customer = saved;
    ps->event_customer_id = saved_id;
    if (rc != LUA_OK) {
        e->failed = 1;
        return 1;
    }
    return 0;
}

/* ctx.each_customer(fn [, plugin]) [-(1|2), +0, e]: fn(customer, facts) for
 * every customer with facts from the plugin (this one by default). */
static int ctx_each_customer(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    luaL_checktype(L, 1, LUA_TFUNCTION);
    const char *owner = luaL_optstring(L, 2, p->name);
    struct each_customer e = {L, p->set, owner, 1, 0};
    cx_error err;
    if (store_facts_customers(p->set->st, owner, each_customer_call, &e, &err) < 0)
        return luaL_error(L, "ctx.each_customer: %s", err.text);
    if (e.failed)
        return lua_error(L);
    return 0;
}

/* [-2, +0, e] */
static int ctx_tag_change(lua_State *L, int on, const char *fn)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, fn);
    store_id customer = ctx_customer(L, p, 1, fn);
    const char *tag = luaL_checkstring(L, 2);
    ctx_check_name(L, "a tag", fn, tag);
    cx_error err;
    store_origin o = ctx_origin(p);
    if (store_tag_set(p->set->st, &o, customer, tag, on, &err) < 0)
        return luaL_error(L, "ctx.%s: %s", fn, err.text);
    return 0;
}

/* ctx.tag(customer, tag) [-2, +0, e] */
static int ctx_tag(lua_State *L) { return ctx_tag_change(L, 1, "tag"); }
/* ctx.untag(customer, tag) [-2, +0, e] */
static int ctx_untag(lua_State *L) { return ctx_tag_change(L, 0, "untag"); }

/* ctx.has_tag(customer, tag) [-2, +1, e] */
static int ctx_has_tag(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    store_id customer = 0;
    cx_error err;
    int found = find_customer(p->set, luaL_checkstring(L, 1), &customer, &err);
    int has = found > 0 ? store_tag_has(p->set->st, customer, luaL_checkstring(L, 2), &err) : found;
    if (has < 0)
        return luaL_error(L, "ctx.has_tag: %s", err.text);
    lua_pushboolean(L, has);
    return 1;
}

/* Whether s (may be NULL) is one of the NULL-terminated list. */
static int is_one_of(const char *s, const char *const *list)
{
    for (int i = 0; s && list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

/* An optional string field of the options table at idx. [-0, +0, v] */
static const char *opt_field(lua_State *L, int idx, const char *field, const char *fn)
{
    if (lua_isnoneornil(L, idx))
        return NULL;
    lua_getfield(L, idx, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "ctx.%s: option '%s' must be a string", fn, field);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);                           /* still referenced by the options table */
    return s;
}

/* An optional whole-number field of the options table at idx, def when
 * absent. [-0, +0, v] */
static int64_t opt_integer(lua_State *L, int idx, const char *field, int64_t def, const char *fn)
{
    if (lua_isnoneornil(L, idx))
        return def;
    lua_getfield(L, idx, field);
    int is_int = 0;
    int64_t n = lua_tointegerx(L, -1, &is_int);
    int absent = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (absent)
        return def;
    if (!is_int)
        luaL_error(L, "ctx.%s: option '%s' must be a whole number", fn, field);
    return n;
}

/* ctx.ledger_add(customer, points, {kind =, rule =, note =, at =, available_at =,
 * expires_at =, lot =, spend_cents =}) [-(2|3), +1, e] */
static int ctx_ledger_add(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "ledger_add");
    store_id customer = ctx_customer(L, p, 1, "ledger_add");
    if (!lua_isinteger(L, 2))
        return luaL_error(L, "ctx.ledger_add: points must be a whole number, not %s",
                          lua_type(L, 2) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, 2));
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    store_ledger_entry e = {lua_tointeger(L, 2), opt_field(L, 3, "kind", "ledger_add"),
                            opt_field(L, 3, "rule", "ledger_add"), opt_field(L, 3, "note", "ledger_add"),
                            opt_integer(L, 3, "at", 0, "ledger_add"), opt_integer(L, 3, "available_at", 0, "ledger_add"),
                            opt_integer(L, 3, "expires_at", 0, "ledger_add"), opt_integer(L, 3, "lot", 0, "ledger_add"),
                            opt_integer(L, 3, "spend_cents", 0, "ledger_add")};
    if (!e.kind)
        e.kind = e.points >= 0 ? "earn" : "redeem";
    if (e.at > p->set->origin.at)
        return luaL_error(L, "ctx.ledger_add: option 'at' is after the time being handled (ctx.now())");
    if (e.lot && e.points > 0)
        return luaL_error(L, "ctx.ledger_add: only an entry that takes points (a negative one) has a lot");
    cx_error err;
    store_id entry = 0;
    store_origin o = ctx_origin(p);
    if (store_ledger_add(p->set->st, &o, customer, &e, &entry, &err) < 0)
        return luaL_error(L, "ctx.ledger_add: %s", err.text);
    lua_pushinteger(L, entry);
    return 1;
}

/* ctx.ledger_sum(customer, since, {kind, ...} [, until]) [-(3|4), +2, e]:
 * the points and spend of the customer's entries of those kinds counted
 * after `since` (and before `until`, both exclusive). */
static int ctx_ledger_sum(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    int64_t since = luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    int64_t until = luaL_optinteger(L, 4, INT64_MAX);
    if (until <= since)
        return luaL_error(L, "ctx.ledger_sum: until must be after since");
    store_id customer = 0;
    cx_error err;
    int found = find_customer(p->set, luaL_checkstring(L, 1), &customer, &err);
    if (found < 0)
        return luaL_error(L, "ctx.ledger_sum: %s", err.text);
    int64_t points = 0, spend = 0;
    if (found) {
        buf kinds = BUF_INIT;
        buf_add_char(&kinds, '[');
        int n = (int)lua_rawlen(L, 3);
        for (int i = 1; i <= n; i++) {
            size_t len;
            lua_rawgeti(L, 3, i);
            const char *kind = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (kind) {
                if (i > 1)
                    buf_add_char(&kinds, ',');
                buf_add_json_string(&kinds, kind, len);
            }
            lua_pop(L, 1);
            if (!kind) {
                buf_free(&kinds);
                return luaL_error(L, "ctx.ledger_sum: kind %d must be text", i);
            }
        }
        buf_add_char(&kinds, ']');
        int rc = store_ledger_sum(p->set->st, customer, since, until, buf_str(&kinds), &points, &spend, &err);
        buf_free(&kinds);
        if (rc < 0)
            return luaL_error(L, "ctx.ledger_sum: %s", err.text);
    }
    lua_pushinteger(L, points);
    lua_pushinteger(L, spend);
    return 2;
}

/* ctx.tier_record(customer, tier, {previous =, reason =}) [-3, +0, e] */
static int ctx_tier_record(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "tier_record");
    store_id customer = ctx_customer(L, p, 1, "tier_record");
    const char *tier = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    const char *previous = opt_field(L, 3, "previous", "tier_record");
    const char *reason = opt_field(L, 3, "reason", "tier_record");
    if (!reason)
        return luaL_error(L, "ctx.tier_record: give a reason");
    cx_error err;
    store_origin o = ctx_origin(p);
    if (store_tier_record(p->set->st, &o, customer, tier, previous, reason, &err) < 0)
        return luaL_error(L, "ctx.tier_record: %s", err.text);
    return 0;
}

/* ctx.refund_record(customer, decision) [-2, +1, e]: stores a refund
 * decision made on the event being handled (whose id is the request's). */
static int ctx_refund_record(lua_State *L)
{
    static const char *const kinds[] = {"return", "price_match", "compensation", NULL};
    static const char *const decisions[] = {"approved", "partial", "rejected", NULL};
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "refund_record");
    if (!p->set->event)
        return luaL_error(L, "ctx.refund_record: only while handling an event (the request)");
    store_id customer = ctx_customer(L, p, 1, "refund_record");
    luaL_checktype(L, 2, LUA_TTABLE);
    store_refund r = {
        .request = p->set->event->id,
        .kind = opt_field(L, 2, "kind", "refund_record"),
        .purchase = opt_field(L, 2, "purchase", "refund_record"),
        .requested_cents = opt_integer(L, 2, "requested_cents", 0, "refund_record"),
        .approved_cents = opt_integer(L, 2, "approved_cents", 0, "refund_record"),
        .deducted_cents = opt_integer(L, 2, "deducted_cents", 0, "refund_record"),
        .points = opt_integer(L, 2, "points", 0, "refund_record"),
        .clawback_points = opt_integer(L, 2, "clawback_points", 0, "refund_record"),
        .clawback_policy = opt_field(L, 2, "clawback_policy", "refund_record"),
        .decision = opt_field(L, 2, "decision", "refund_record"),
        .rule = opt_field(L, 2, "rule", "refund_record"),
        .reason = opt_field(L, 2, "reason", "refund_record"),
    };
    if (!is_one_of(r.kind, kinds))
        return luaL_error(L, "ctx.refund_record: kind must be return, price_match or compensation");
    if (!is_one_of(r.decision, decisions))
        return luaL_error(L, "ctx.refund_record: decision must be approved, partial or rejected");
    if (!r.reason)
        return luaL_error(L, "ctx.refund_record: give a reason");
    if (r.approved_cents < 0 || r.requested_cents < 0 || r.deducted_cents < 0)
        return luaL_error(L, "ctx.refund_record: amounts must not be negative");
    buf lines = BUF_INIT;
    cx_error err;
    lua_getfield(L, 2, "lines");
    if (!lua_isnil(L, -1) && luahost_to_json(L, -1, &lines, &err) < 0) {
        buf_free(&lines);
        return luaL_error(L, "ctx.refund_record: lines: %s", err.text);
    }
    r.lines_json = lines.len ? buf_str(&lines) : NULL;
    store_id id = 0;
    store_origin o = ctx_origin(p);
    int rc = store_refund_add(p->set->st, &o, customer, &r, &id, &err);
    buf_free(&lines);
    if (rc < 0)
        return luaL_error(L, "ctx.refund_record: %s", err.text);
    lua_pushinteger(L, id);
    return 1;
}

/* ctx.explain(rule, fired, reason [, value, ...]) [-n, +0, e]: one line of
 * why the event came out as it did, kept with the event for `cxhost
 * explain`. The values (numbers, texts, booleans) fill the reason's
 * placeholders {1}, {2:money}, ... only when the line is shown, so that
 * explaining costs an import next to nothing. */
static int ctx_explain(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    if (!p->set->event || p->set->hooked != p)
        return luaL_error(L, "ctx.explain: only in on_event");
    size_t rule_len, reason_len;
    const char *rule = luaL_checklstring(L, 1, &rule_len);
    int fired = lua_toboolean(L, 2);
    const char *reason = luaL_checklstring(L, 3, &reason_len);
    int n = lua_gettop(L);
    buf *t = &p->set->trace;
    size_t mark = t->len;
    struct plugin *was = p->set->tracing;
    if (was != p) {
        /* The first line of this plugin for the event opens its list. */
        buf_add_str(t, was ? "]," : "{");
        buf_add_json_string(t, p->name, strlen(p->name));
        buf_add_str(t, ":[{\"rule\":");
        p->set->tracing = p;
    } else {
        buf_add_str(t, ",{\"rule\":");
    }
    buf_add_json_string(t, rule, rule_len);
    buf_add_str(t, fired ? ",\"fired\":true,\"reason\":" : ",\"fired\":false,\"reason\":");
    buf_add_json_string(t, reason, reason_len);
    if (n > 3) {
        buf_add_str(t, ",\"values\":[");
        for (int i = 4; i <= n; i++) {
            if (i > 4)
                buf_add_char(t, ',');
            switch (lua_type(L, i)) {
            case LUA_TNUMBER:
                if (lua_isinteger(L, i))
                    buf_add_int(t, (long long)lua_tointeger(L, i));
                else if (isfinite(lua_tonumber(L, i)))
                    buf_add_real(t, lua_tonumber(L, i));
                else
                    buf_add_str(t, "null");
                break;
            case LUA_TSTRING: {
                size_t len;
                const char *v = lua_tolstring(L, i, &len);
                buf_add_json_string(t, v, len);
                break;
            }
            case LUA_TBOOLEAN: buf_add_str(t, lua_toboolean(L, i) ? "true" : "false"); break;
            case LUA_TNIL: buf_add_str(t, "null"); break;
            default:
                t->len = mark;
                p->set->tracing = was;
                return luaL_error(L, "ctx.explain: value %d is a %s (numbers, texts and booleans only)", i - 3,
                                  luaL_typename(L, i));
            }
        }
        buf_add_char(t, ']');
    }
    buf_add_char(t, '}');
    return 0;
}

/* ctx.balance(customer) [-1, +1, e]: the sum of the customer's ledger. */
static int ctx_balance(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    store_id customer = 0;
    int64_t points = 0;
    cx_error err;
    int found = find_customer(p->set, luaL_checkstring(L, 1), &customer, &err);
    if (found < 0 || (found && store_ledger_balance(p->set->st, customer, &points, &err) < 0))
        return luaL_error(L, "ctx.balance: %s", err.text);
    lua_pushinteger(L, points);
    return 1;
}

/* ctx.score_set(customer, module, score [, {touchpoint =}]) [-(3|4), +0, e] */
static int ctx_score_set(lua_State *L)
{
    static const char *const modules[] = {"sense", "feel", "think", "act", "relate", NULL};
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "score_set");
    store_id customer = ctx_customer(L, p, 1, "score_set");
    const char *module = luaL_checkstring(L, 2);
    if (!is_one_of(module, modules))
        return luaL_error(L, "ctx.score_set: module '%s' is not one of sense, feel, think, act, relate", module);
    lua_Number score = luaL_checknumber(L, 3);
    if (!(score >= 0 && score <= 100))
        return luaL_error(L, "ctx.score_set: score %f is outside 0..100", (double)score);
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TTABLE);
    const char *touchpoint = opt_field(L, 4, "touchpoint", "score_set");
    store_id tp = 0;
    cx_error err;
    if (touchpoint && store_touchpoint_ensure(p->set->st, touchpoint, &tp, &err) < 0)
        return luaL_error(L, "ctx.score_set: %s", err.text);
    store_origin o = ctx_origin(p);
    if (store_score_set(p->set->st, &o, customer, module, tp, score, &err) < 0)
        return luaL_error(L, "ctx.score_set: %s", err.text);
    return 0;
}

/* An optional number field of the options table at idx, def when absent.
 * [-0, +0, v] */
static lua_Number opt_number(lua_State *L, int idx, const char *field, lua_Number def, const char *fn)
{
    if (lua_isnoneornil(L, idx))
        return def;
    lua_getfield(L, idx, field);
    int is_num = 0;
    lua_Number n = lua_tonumberx(L, -1, &is_num);
    int absent = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (absent)
        return def;
    if (!is_num)
        luaL_error(L, "ctx.%s: option '%s' must be a number", fn, field);
    return n;
}

/* ctx.cell_add(measure, touchpoint, value, weight [, options]) [-(4|5), +0, e]:
 * one observation into the client's running measure at a touchpoint (nil:
 * none). Options: half_life_days, high, low. */
static int ctx_cell_add(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "cell_add");
    const char *measure = luaL_checkstring(L, 1);
    ctx_check_name(L, "a measure", "cell_add", measure);
    const char *touchpoint = luaL_optstring(L, 2, NULL);
    lua_Number value = luaL_checknumber(L, 3);
    lua_Number weight = luaL_checknumber(L, 4);
    if (!isfinite(value))
        return luaL_error(L, "ctx.cell_add: value must be a finite number");
    if (!(weight > 0 && isfinite(weight)))
        return luaL_error(L, "ctx.cell_add: weight must be a positive number, not %f", (double)weight);
    if (!lua_isnoneornil(L, 5))
        luaL_checktype(L, 5, LUA_TTABLE);
    lua_Number days = opt_number(L, 5, "half_life_days", 0, "cell_add");
    if (!(days >= 0 && days <= 36500))
        return luaL_error(L, "ctx.cell_add: half_life_days must be 0 (no decay) to 36500");
    int high = 0, low = 0;
    if (!lua_isnoneornil(L, 5)) {
        lua_getfield(L, 5, "high");
        high = lua_toboolean(L, -1);
        lua_getfield(L, 5, "low");
        low = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    store_observation ob = {measure, 0, value, weight, (int64_t)(days * 86400), high, low};
    cx_error err;
    if (touchpoint && store_touchpoint_ensure(p->set->st, touchpoint, &ob.touchpoint, &err) < 0)
        return luaL_error(L, "ctx.cell_add: %s", err.text);
    store_origin o = ctx_origin(p);
    if (store_cell_add(p->set->st, &o, &ob, &err) < 0)
        return luaL_error(L, "ctx.cell_add: %s", err.text);
    return 0;
}

/* ctx.listen({type, ...}) [-1, +0, e]: in on_load, the event types on_event
 * receives (as the plugin's `events` field, for lists made from settings). */
static int ctx_listen(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    if (!p->set->loading)
        return luaL_error(L, "ctx.listen: only in on_load");
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)lua_rawlen(L, 1);
    for (int i = 1; i <= n; i++)
        if (lua_rawgeti(L, 1, i) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
            return luaL_error(L, "ctx.listen: item %d must be an event type (text)", i);
    lua_settop(L, 1);
    char **events = calloc((size_t)n + 1, sizeof *events);
    if (!events)
        return luaL_error(L, "ctx.listen: out of memory");
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        events[i] = strdup(lua_tostring(L, -1));
        lua_pop(L, 1);
        if (!events[i]) {
            for (int j = 0; j < i; j++)
                free(events[j]);
            free(events);
            return luaL_error(L, "ctx.listen: out of memory");
        }
    }
    for (int i = 0; i < p->nevents; i++)
        free(p->events[i]);
    free(p->events);
    p->events = events;
    p->nevents = n;
    p->set->wants_known = 0;
    return 0;
}

/* ctx.outbox_send(customer, channel, template [, vars]) [-(3|4), +1, e] */
static int ctx_outbox_send(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "outbox_send");
    store_id customer = ctx_customer(L, p, 1, "outbox_send");
    const char *channel = luaL_checkstring(L, 2);
    const char *template_name = luaL_checkstring(L, 3);
    ctx_check_name(L, "a channel", "outbox_send", channel);
    ctx_check_name(L, "a template", "outbox_send", template_name);
    buf vars = BUF_INIT;
    cx_error err;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        if (luahost_to_json(L, 4, &vars, &err) < 0) {
            buf_free(&vars);
            return luaL_error(L, "ctx.outbox_send: vars: %s", err.text);
        }
    }
    store_id id = 0;
    store_origin o = ctx_origin(p);
    int rc = store_outbox_add(p->set->st, &o, customer, channel, template_name, vars.data, &id, &err);
    buf_free(&vars);
    if (rc < 0)
        return luaL_error(L, "ctx.outbox_send: %s", err.text);
    lua_pushinteger(L, id);
    return 1;
}

/* --- campaigns: the built-in campaigns plugin's record of its work ---------------------- */

/* The id of the campaign named by argument arg. [-0, +0, v] */
static store_id ctx_campaign(lua_State *L, struct plugin *p, int arg, const char *fn)
{
    cx_error err;
    store_id id = 0;
    const char *name = luaL_checkstring(L, arg);
    int found = store_campaign_find(p->set->st, name, &id, &err);
    if (found < 0)
        luaL_error(L, "ctx.%s: %s", fn, err.text);
    if (!found)
        luaL_error(L, "ctx.%s: no campaign '%s' (ctx.campaign_save adds it)", fn, name);
    return id;
}

/* ctx.campaign_save(name, {description =, module =, source =, trigger =, active =,
 * next_run_at =}) [-(1|2), +1, e]: the campaign's id; fields not given keep their value. */
static int ctx_campaign_save(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "campaign_save");
    const char *name = luaL_checkstring(L, 1);
    ctx_check_name(L, "a campaign's name", "campaign_save", name);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    store_campaign c = {name, opt_field(L, 2, "description", "campaign_save"), opt_field(L, 2, "module", "campaign_save"),
                        opt_field(L, 2, "source", "campaign_save"), opt_field(L, 2, "trigger", "campaign_save"), -1,
                        opt_integer(L, 2, "next_run_at", -1, "campaign_save")};
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, 2, "active");
        if (!lua_isnil(L, -1))
            c.active = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    cx_error err;
    store_id id = 0;
    if (store_campaign_save(p->set->st, &c, p->set->origin.at, &id, &err) < 0)
        return luaL_error(L, "ctx.campaign_save: %s", err.text);
    lua_pushinteger(L, id);
    return 1;
}

/* ctx.campaign_run(name, period) [-2, +2, e]: the run's id, and true when it
 * started now (false: that period has its run already). */
static int ctx_campaign_run(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "campaign_run");
    store_id campaign = ctx_campaign(L, p, 1, "campaign_run");
    const char *period = luaL_checkstring(L, 2);
    ctx_check_name(L, "a period", "campaign_run", period);
    cx_error err;
    store_id run = 0;
    store_origin o = ctx_origin(p);
    int rc = store_campaign_run_add(p->set->st, &o, campaign, period, &run, &err);
    if (rc < 0)
        return luaL_error(L, "ctx.campaign_run: %s", err.text);
    lua_pushinteger(L, run);
    lua_pushboolean(L, rc == 1);
    return 2;
}

/* ctx.campaign_run_end(run, status, stats) [-3, +0, e] */
static int ctx_campaign_run_end(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "campaign_run_end");
    store_id run = luaL_checkinteger(L, 1);
    const char *status = luaL_checkstring(L, 2);
    buf stats = BUF_INIT;
    cx_error err;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (luahost_to_json(L, 3, &stats, &err) < 0) {
            buf_free(&stats);
            return luaL_error(L, "ctx.campaign_run_end: stats: %s", err.text);
        }
    }
    store_origin o = ctx_origin(p);
    int rc = store_campaign_run_end(p->set->st, &o, run, status, stats.data, &err);
    buf_free(&stats);
    if (rc < 0)
        return luaL_error(L, "ctx.campaign_run_end: %s", err.text);
    return 0;
}

/* ctx.campaign_member(name, customer, arm [, run]) [-(3|4), +2, e]: the arm the
 * customer is in ("treated" or "holdout"), and true when decided now. */
static int ctx_campaign_member(lua_State *L)
{
    static const char *const arms[] = {"treated", "holdout", NULL};
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "campaign_member");
    store_id campaign = ctx_campaign(L, p, 1, "campaign_member");
    store_id customer = ctx_customer(L, p, 2, "campaign_member");
    const char *arm = arms[luaL_checkoption(L, 3, NULL, arms)];
    store_id run = luaL_optinteger(L, 4, 0);
    char recorded[16];
    cx_error err;
    store_origin o = ctx_origin(p);
    int rc = store_campaign_member_add(p->set->st, &o, campaign, customer, arm, run, recorded, &err);
    if (rc < 0)
        return luaL_error(L, "ctx.campaign_member: %s", err.text);
    lua_pushstring(L, recorded);
    lua_pushboolean(L, rc == 1);
    return 2;
}

/* ctx.campaign_action(run, customer, kind, {points =, money_cents =, contact =,
 * detail =, outbox =}) [-(3|4), +0, e]: outbox, the message the action queued,
 * which then names the run. */
static int ctx_campaign_action(lua_State *L)
{
    static const char *const kinds[] = {"points", "send", "tag", "tier", NULL};
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "campaign_action");
    store_id run = luaL_checkinteger(L, 1);
    store_id customer = ctx_customer(L, p, 2, "campaign_action");
    store_campaign_action a = {kinds[luaL_checkoption(L, 3, NULL, kinds)], 0, 0, 0, NULL, 0};
    buf detail = BUF_INIT;
    cx_error err;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        a.points = opt_integer(L, 4, "points", 0, "campaign_action");
        a.money_cents = opt_integer(L, 4, "money_cents", 0, "campaign_action");
        a.outbox = opt_integer(L, 4, "outbox", 0, "campaign_action");
        lua_getfield(L, 4, "contact");
        a.contact = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (lua_getfield(L, 4, "detail") == LUA_TTABLE && luahost_to_json(L, -1, &detail, &err) < 0) {
            buf_free(&detail);
            return luaL_error(L, "ctx.campaign_action: detail: %s", err.text);
        }
        lua_pop(L, 1);
        a.detail_json = detail.data;
    }
    store_origin o = ctx_origin(p);
    int rc = store_campaign_action_add(p->set->st, &o, run, customer, &a, &err);
    buf_free(&detail);
    if (rc < 0)
        return luaL_error(L, "ctx.campaign_action: %s", err.text);
    return 0;
}

/* ctx.journey_set(name, customer, step, due_at) [-4, +0, e]: step nil ends
 * the customer's journey. */
static int ctx_journey_set(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    ctx_check_writing(L, p, "journey_set");
    store_id campaign = ctx_campaign(L, p, 1, "journey_set");
    store_id customer = ctx_customer(L, p, 2, "journey_set");
    const char *step = luaL_optstring(L, 3, NULL);
    int64_t due = luaL_optinteger(L, 4, 0);
    cx_error err;
    store_origin o = ctx_origin(p);
    if (store_journey_set(p->set->st, &o, campaign, customer, step, due, &err) < 0)
        return luaL_error(L, "ctx.journey_set: %s", err.text);
    return 0;
}

/* ctx.log(...) [-n, +0, e]: a line on the host's log, prefixed with client and plugin. */
static int ctx_log(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    luahost_push_joined(L, 1, " ");
    fprintf(stderr, "%s/%s: %s\n", p->set->client, p->name, lua_tostring(L, -1));
    return 0;
}

/* ctx.now() [-0, +1, -]: the time of what is being handled (the event's
 * time, the refresh's as_of), else the clock. */
static int ctx_now(lua_State *L)
{
    struct plugin *p = ctx_plugin(L);
    lua_pushinteger(L, p->set->writing ? p->set->origin.at : utc_now());
    return 1;
}

/* Copies the table at src into the table at dst (one level). [-0, +0, m] */
static void copy_fields(lua_State *L, int src, int dst)
{
    lua_pushnil(L);
    while (lua_next(L, src)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, dst);
    }
}

/* With config.lua's table for setting key on top and the plugin's defaults
 * at defaults: when the default is a map (name = value, such as event types
 * and their weights), replaces the table on top with the default overlaid
 * with it, so a client sets one entry without repeating the others; a list
 * default is replaced whole. Each value must have its default's type (a new
 * name, that of the default's other values). [-1, +1, m] */
static int merge_map_setting(lua_State *L, struct plugin *p, int defaults, const char *key, cx_error *err)
{
    int mine = lua_gettop(L);
    lua_getfield(L, defaults, key);                    /* [mine, def] */
    int def = lua_gettop(L);
    if (lua_rawlen(L, def) > 0) {                      /* a list */
        lua_pop(L, 1);
        return 0;
    }
    int value_type = LUA_TNIL;
    lua_newtable(L);                                   /* [mine, def, merged] */
    lua_pushnil(L);
    while (lua_next(L, def)) {
        value_type = lua_type(L, -1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_pushnil(L);
    while (lua_next(L, mine)) {                        /* [mine, def, merged, k, v] */
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!name) {
            cx_error_set(err, "config.lua: %s.%s: names must be text", p->name, key);
            lua_settop(L, mine);
            return -1;
        }
        lua_pushvalue(L, -2);
        int want = lua_rawget(L, def);
        lua_pop(L, 1);
        if (want == LUA_TNIL)
            want = value_type;
        if (want != LUA_TNIL && want != lua_type(L, -1)) {
            cx_error_set(err, "config.lua: %s.%s.%s must be a %s, not a %s", p->name, key, name,
                         lua_typename(L, want), luaL_typename(L, -1));
            lua_settop(L, mine);
            return -1;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);                             /* [mine, def, merged, k] */
    }
    lua_replace(L, mine);                              /* [merged, def] */
    lua_pop(L, 1);
    return 0;
}

/* Pushes the plugin's settings: its defaults, overlaid with config.lua's
 * table of the same name, each value checked against its default's type.
 * Returns 0, or -1 with err. [-0, +(0|1), m] */
static int push_settings(lua_State *L, plugin_set *ps, struct plugin *p, int table, cx_error *err)
{
    lua_newtable(L);                         /* [settings] */
    int settings = lua_gettop(L);
    lua_getfield(L, table, "defaults");      /* [settings, defaults] */
    int defaults = lua_gettop(L);
    int has_defaults = lua_istable(L, defaults);
    if (has_defaults)
        copy_fields(L, defaults, settings);
    else if (!lua_isnil(L, defaults)) {
        cx_error_set(err, "%s: defaults must be a table", p->path);
        lua_settop(L, settings - 1);
        return -1;
    }
    if (ps->config_ref != LUA_NOREF && ps->config_ref != LUA_REFNIL) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ps->config_ref);   /* [settings, defaults, config] */
        lua_getfield(L, -1, p->name);                        /* [..., config, mine] */
        if (lua_istable(L, -1)) {
            int mine = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, mine)) {      /* [..., mine, k, v] */
                const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
                if (has_defaults) {
                    lua_pushvalue(L, -2);
                    lua_rawget(L, defaults); /* [..., k, v, default] */
                    int want = lua_type(L, -1);
                    lua_pop(L, 1);
                    if (want == LUA_TNIL) {
                        cx_error_set(err, "config.lua: %s.%s is not a setting of plugin '%s'", p->name, key, p->name);
                        lua_settop(L, settings - 1);
                        return -1;
                    }
                    if (want != lua_type(L, -1)) {
                        cx_error_set(err, "config.lua: %s.%s must be a %s, not a %s", p->name, key,
                                     lua_typename(L, want), luaL_typename(L, -1));
                        lua_settop(L, settings - 1);
                        return -1;
                    }
                    if (want == LUA_TTABLE && merge_map_setting(L, p, defaults, key, err) < 0) {
                        lua_settop(L, settings - 1);
                        return -1;
                    }
                }
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, settings);     /* [..., mine, k] */
            }
        } else if (!lua_isnil(L, -1)) {
            cx_error_set(err, "config.lua: %s must be a table of settings", p->name);
            lua_settop(L, settings - 1);
            return -1;
        }
        lua_pop(L, 2);                       /* [settings, defaults] */
    }
    lua_pop(L, 1);                           /* [settings] */
    return 0;
}

/* Builds p's ctx table and keeps a reference to it. [-0, +0, m] */
static int make_ctx(lua_State *L, plugin_set *ps, struct plugin *p, int table, cx_error *err)
{
    static const luaL_Reg functions[] = {
        {"facts_set", ctx_facts_set}, {"fact_set", ctx_fact_set}, {"fact", ctx_fact},
        {"facts", ctx_facts}, {"each_customer", ctx_each_customer}, {"tag", ctx_tag}, {"untag", ctx_untag}, {"has_tag", ctx_has_tag},
        {"ledger_add", ctx_ledger_add}, {"balance", ctx_balance}, {"ledger_sum", ctx_ledger_sum},
        {"tier_record", ctx_tier_record}, {"refund_record", ctx_refund_record}, {"explain", ctx_explain},
        {"score_set", ctx_score_set},
        {"outbox_send", ctx_outbox_send}, {"log", ctx_log}, {"now", ctx_now}, {"cell_add", ctx_cell_add},
        {"listen", ctx_listen}, {"campaign_save", ctx_campaign_save}, {"campaign_run", ctx_campaign_run},
        {"campaign_run_end", ctx_campaign_run_end}, {"campaign_member", ctx_campaign_member},
        {"campaign_action", ctx_campaign_action}, {"journey_set", ctx_journey_set}, {NULL, NULL}};
    lua_newtable(L);                         /* [ctx] */
    lua_pushlightuserdata(L, p);
    luaL_setfuncs(L, functions, 1);
    lua_pushstring(L, p->name);
    lua_setfield(L, -2, "plugin");
    lua_pushstring(L, ps->client);
    lua_setfield(L, -2, "client");
    if (push_settings(L, ps, p, table, err) < 0) {
        lua_pop(L, 1);
        return -1;
    }
    lua_setfield(L, -2, "config");           /* [ctx] */
    p->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* --- loading ------------------------------------------------------------------- */

static int valid_plugin_name(const char *s)
{
    if (!*s || !islower((unsigned char)*s) || strlen(s) > 40)
        return 0;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

/* A reference to hook's function in table t, LUA_NOREF when there is none:
 * the event path calls it without looking it up. [-0, +0, m] */
static int hook_ref(lua_State *L, int t, const char *hook)
{
    lua_getfield(L, t, hook);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Gives back p's references into the registry, then p. [-0, +0, -] */
static void plugin_release(lua_State *L, struct plugin *p)
{
    luaL_unref(L, LUA_REGISTRYINDEX, p->table_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, p->on_load_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, p->on_event_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, p->on_refresh_ref);
    plugin_free(p);
}

/* Reads the plugin table at index t into a new struct plugin. [-0, +0, m] */
static struct plugin *plugin_from_table(lua_State *L, int t, const char *path, int builtin, cx_error *err)
{
    struct plugin *p = calloc(1, sizeof *p);
    if (!p) {
        cx_error_set(err, "out of memory");
        return NULL;
    }
    p->builtin = builtin;
    p->path = strdup(path);
    p->table_ref = p->ctx_ref = p->on_load_ref = p->on_event_ref = p->on_refresh_ref = LUA_NOREF;
    p->order = PLUGIN_DEFAULT_ORDER;

    lua_getfield(L, t, "name");
    if (lua_type(L, -1) != LUA_TSTRING || !valid_plugin_name(lua_tostring(L, -1))) {
        cx_error_set(err, "%s: the plugin's name must be a lower-case word (letters, digits, _), as in "
                     "name = \"loyalty\"", path);
        goto fail;
    }
    p->name = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, t, "version");
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
        cx_error_set(err, "%s: plugin '%s' has no version (version = \"1.0\")", path, p->name);
        goto fail;
    }
    p->version = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, t, "description");
    p->description = strdup(lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
    lua_getfield(L, t, "order");
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1)) {
            cx_error_set(err, "%s: plugin '%s': order must be a whole number", path, p->name);
            goto fail;
        }
        p->order = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);

    lua_getfield(L, t, "events");
    if (lua_istable(L, -1)) {
        int n = (int)lua_rawlen(L, -1);
        p->events = calloc((size_t)n + 1, sizeof *p->events);
        for (int i = 1; p->events && i <= n; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING) {
                cx_error_set(err, "%s: plugin '%s': events must be a list of event type names", path, p->name);
                lua_pop(L, 2);
                goto fail_popped;
            }
            p->events[p->nevents++] = strdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        cx_error_set(err, "%s: plugin '%s': events must be a list such as {\"purchase\"}", path, p->name);
        goto fail;
    }
    lua_pop(L, 1);

    /* A misspelt hook would silently never run: name it instead. */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            continue;
        const char *key = lua_tostring(L, -1);
        if (strncmp(key, "on_", 3) != 0)
            continue;
        int known = 0;
        for (int i = 0; known_hooks[i]; i++)
            known |= strcmp(key, known_hooks[i]) == 0;
        lua_pushvalue(L, -1);
        lua_rawget(L, t);
        int is_function = lua_isfunction(L, -1);
        lua_pop(L, 1);
        if (!known || !is_function) {
            cx_error_set(err, "%s: plugin '%s': %s '%s' (hooks: on_load, on_event, on_refresh)", path, p->name,
                         known ? "hook is not a function:" : "unknown hook", key);
            lua_pop(L, 1);
            goto fail_popped;
        }
    }
    p->on_load_ref = hook_ref(L, t, "on_load");
    p->on_event_ref = hook_ref(L, t, "on_event");
    p->on_refresh_ref = hook_ref(L, t, "on_refresh");
    return p;
fail:
    lua_pop(L, 1);
fail_popped:
    plugin_free(p);
    return NULL;
}

/* Runs one plugin file's text and reads the table it returns. */
static struct plugin *plugin_load_text(plugin_set *ps, const char *text, size_t len, const char *path,
                                       int builtin, cx_error *err)
{
    lua_State *L = luahost_state(ps->host);
    char chunkname[1024], what[1100];
    snprintf(chunkname, sizeof chunkname, "@%s", path);
    snprintf(what, sizeof what, "loading plugin %s", path);
    /* print() names the file's base name: the plugin's name is known only
     * once the file has run, and is by convention the same. */
    const char *base = strrchr(path, '/');
    char owner[64];
    snprintf(owner, sizeof owner, "%s", base ? base + 1 : path);
    char *dot = strrchr(owner, '.');
    if (dot)
        *dot = '\0';
    luahost_push_sandbox(ps->host, owner);   /* [env] */
    if (luahost_load(ps->host, text, len, chunkname, -1, err) < 0) {
        lua_pop(L, 1);
        return NULL;
    }                                        /* [env, chunk] */
    if (luahost_call(ps->host, 0, 1, what, err) < 0) {
        lua_pop(L, 1);
        return NULL;
    }                                        /* [env, table] */
    if (!lua_istable(L, -1)) {
        cx_error_set(err, "%s: a plugin file must return a table (return { name = ..., version = ..., ... })", path);
        lua_pop(L, 2);
        return NULL;
    }
    struct plugin *p = plugin_from_table(L, lua_gettop(L), path, builtin, err);
    if (p) {
        p->set = ps;
        p->table_ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* [env] */
        lua_pop(L, 1);
    } else {
        lua_pop(L, 2);
    }
    return p;
}

/* Adds p, replacing a plugin of the same name (a client's replaces a built-in).
 * [-0, +0, -] */
static int plugin_add(plugin_set *ps, struct plugin *p, cx_error *err)
{
    lua_State *L = luahost_state(ps->host);
    for (int i = 0; i < ps->count; i++) {
        struct plugin *old = ps->items[i];
        if (strcmp(old->name, p->name) != 0)
            continue;
        if (!old->builtin) {
            cx_error_set(err, "%s: a plugin named '%s' is already loaded from %s", p->path, p->name, old->path);
            plugin_release(L, p);
            return -1;
        }
        plugin_release(L, old);
        p->replaces_builtin = 1;
        ps->items[i] = p;
        ps->wants_known = 0;
        return 0;
    }
    struct plugin **items = realloc(ps->items, (size_t)(ps->count + 1) * sizeof *items);
    if (!items) {
        cx_error_set(err, "out of memory");
        plugin_release(L, p);
        return -1;
    }
    ps->items = items;
    ps->items[ps->count++] = p;
    ps->wants_known = 0;
    return 0;
}

/* A config.lua table for a plugin that is not loaded is a typo, or a
 * setting that would silently do nothing: say so. [-0, +0, -] */
static int check_config_keys(plugin_set *ps, cx_error *err)
{
    lua_State *L = luahost_state(ps->host);
    if (ps->config_ref == LUA_NOREF || ps->config_ref == LUA_REFNIL)
        return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ps->config_ref);   /* [config] */
    lua_pushnil(L);
    while (lua_next(L, -2)) {                            /* [config, k, v] */
        lua_pop(L, 1);
        const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int known = key && (strcmp(key, "limits") == 0 || strcmp(key, "touchpoints") == 0 ||
                            strcmp(key, "rfm_segments") == 0);
        for (int i = 0; key && !known && i < ps->count; i++)
            known = strcmp(key, ps->items[i]->name) == 0;
        if (!known) {
            buf names = BUF_INIT;
            for (int i = 0; i < ps->count; i++)
                buf_printf(&names, "%s%s", i ? ", " : "", ps->items[i]->name);
            cx_error_set(err, "config.lua: '%s' is neither a loaded plugin nor 'limits', 'touchpoints' or "
                         "'rfm_segments' (plugins: %s)",
                         key ? key : "?", buf_str(&names));
            buf_free(&names);
            lua_pop(L, 2);
            return -1;
        }
    }
    lua_pop(L, 1);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_plugins(const void *a, const void *b)
{
    const struct plugin *x = *(struct plugin *const *)a, *y = *(struct plugin *const *)b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The client's plugin files, sorted; a missing folder has none. */
static int load_client_plugins(plugin_set *ps, cx_error *err)
{
    uv_fs_t req;
    uv_dirent_t ent;
    char **names = NULL;
    size_t count = 0;
    int rc = 0;
    if (!ps->plugin_dir)
        return 0;
    int n = uv_fs_scandir(NULL, &req, ps->plugin_dir, 0, NULL);
    if (n < 0) {
        uv_fs_req_cleanup(&req);
        return 0;
    }
    names = calloc((size_t)n + 1, sizeof *names);
    while (names && uv_fs_scandir_next(&req, &ent) != UV_EOF) {
        size_t len = strlen(ent.name);
        if (ent.type != UV_DIRENT_DIR && len > 4 && strcmp(ent.name + len - 4, ".lua") == 0 && ent.name[0] != '.')
            names[count++] = strdup(ent.name);
    }
    uv_fs_req_cleanup(&req);
    if (!names) {
        cx_error_set(err, "out of memory");
        return -1;
    }
    qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 0; i < count && rc == 0; i++) {
        buf path = BUF_INIT, text = BUF_INIT;
        buf_printf(&path, "%s/%s", ps->plugin_dir, names[i]);
        if (buf_read_file(&text, path.data) < 0) {
            cx_error_set(err, "%s: cannot read it", path.data);
            rc = -1;
        } else {
            struct plugin *p = plugin_load_text(ps, buf_str(&text), text.len, path.data, 0, err);
            rc = p ? plugin_add(ps, p, err) : -1;
        }
        buf_free(&path);
        buf_free(&text);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* [-0, +0, -] */
int plugin_load_all(plugin_set *ps, cx_error *err)
{
    lua_State *L = luahost_state(ps->host);
    for (const struct embedded_file *f = embedded_files; f->path; f++) {
        if (f->kind != EMBEDDED_PLUGIN)
            continue;
        struct plugin *p = plugin_load_text(ps, f->text, f->size, f->path, 1, err);
        if (!p || plugin_add(ps, p, err) < 0)
            return -1;
    }
    if (load_client_plugins(ps, err) < 0 || check_config_keys(ps, err) < 0)
        return -1;
    qsort(ps->items, (size_t)ps->count, sizeof *ps->items, compare_plugins);

    for (int i = 0; i < ps->count; i++) {
        struct plugin *p = ps->items[i];
        lua_rawgeti(L, LUA_REGISTRYINDEX, p->table_ref);     /* [table] */
        if (make_ctx(L, ps, p, lua_gettop(L), err) < 0) {
            lua_pop(L, 1);
            cx_error_prefix(err, "plugin '%s' (%s)", p->name, p->path);
            return -1;
        }
        lua_pop(L, 1);
    }
    ps->loading = 1;
    for (int i = 0; i < ps->count; i++) {
        struct plugin *p = ps->items[i];
        if (p->on_load_ref == LUA_NOREF)
            continue;
        lua_rawgeti(L, LUA_REGISTRYINDEX, p->on_load_ref);   /* [fn] */
        lua_rawgeti(L, LUA_REGISTRYINDEX, p->ctx_ref);       /* [fn, ctx] */
        if (call_hook(ps, p, "on_load", 1, "%s", "", err) < 0) {   /* [] */
            ps->loading = 0;
            return -1;
        }
    }
    ps->loading = 0;
    return 0;
}

/* --- running hooks ---------------------------------------------------------- */

/* A run of a campaign is an event of type "campaign" (docs/campaigns.md):
 * it is the business of the plugin named campaigns, so another plugin that
 * takes every type gets it only when it names it. */
static int plugin_wants(const struct plugin *p, const char *type)
{
    if (!p->events)
        return strcmp(type, "campaign") != 0 || strcmp(p->name, "campaigns") == 0;
    for (int i = 0; i < p->nevents; i++)
        if (strcmp(p->events[i], type) == 0)
            return 1;
    return 0;
}

/* --- ev: the event as the plugins see it ------------------------------------- */

/* The plugins that handle an event share one table for it, as Prosody's
 * handlers share an event's table: built once per event, not per plugin.
 * Two of its fields are filled in when first read: the event's id (a new
 * string for every event) and its free fields (JSON to decode), which
 * together were a third of the cost of handing an event to a plugin and
 * which most plugins never read. They can be read while the event is being
 * handled; the table is registered under &ps->event while it is. */
static const char *const event_lazy_fields[] = {"id", "data", "episode", NULL};

/* Whether the table at idx is the event being handled. [-0, +0, -] */
static int event_is_current(lua_State *L, plugin_set *ps, int idx)
{
    if (!ps->event)
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ps->event);
    int current = lua_rawequal(L, -1, idx);
    lua_pop(L, 1);
    return current;
}

/* Pushes the field `name` of the event's data, or nil. [-0, +1, e] */
static void push_data_field(lua_State *L, const cx_event *ev, const char *name)
{
    json_cursor c;
    json_span key, value;
    const char *why = NULL;
    cx_error err;
    /* A key is in the text as itself unless written with escapes: most data
     * has neither, and is not scanned. */
    if (ev->data_json && !strstr(ev->data_json, name) && !strchr(ev->data_json, '\\')) {
        lua_pushnil(L);
        return;
    }
    if (ev->data_json && json_object_begin(&c, ev->data_json, strlen(ev->data_json), &why) == 0) {
        int rc;
        while ((rc = json_object_next(&c, &key, &value, &why)) > 0)
            if (json_key_is(key, name)) {
                if (luahost_push_json(L, value.start, value.len, &err) < 0)
                    luaL_error(L, "event '%s': data.%s: %s", ev->id, name, err.text);
                return;
            }
        if (rc < 0)
            luaL_error(L, "event '%s': data: %s", ev->id, why);
    }
    lua_pushnil(L);
}

/* Fills in lazy field i of the event table at idx and pushes it. [-0, +1, e] */
static void event_fill(lua_State *L, plugin_set *ps, int idx, int i)
{
    const cx_event *ev = ps->event;
    idx = lua_absindex(L, idx);
    if (i == 0) {
        lua_pushstring(L, ev->id);
    } else if (i == 2) {
        /* ev.episode is data's episode: read from data when a plugin has
         * decoded it (and may have changed it), else picked out of the JSON
         * without decoding the rest (the experience modules read it for
         * every observation). */
        lua_pushliteral(L, "data");
        if (lua_rawget(L, idx) == LUA_TTABLE) {
            lua_getfield(L, -1, "episode");
            lua_remove(L, -2);
        } else {
            lua_pop(L, 1);
            push_data_field(L, ev, "episode");
        }
    } else if (ev->data_json) {
        cx_error err;
        if (luahost_push_json(L, ev->data_json, strlen(ev->data_json), &err) < 0)
            luaL_error(L, "event '%s': data: %s", ev->id, err.text);
    } else {
        lua_newtable(L);
    }
    if (!lua_isnil(L, -1)) {
        lua_pushvalue(L, -1);
        lua_setfield(L, idx, event_lazy_fields[i]);
    }
}

/* The index of the lazy field named by the value at idx, or -1. [-0, +0, -] */
static int event_lazy_index(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        return -1;
    const char *key = lua_tostring(L, idx);
    for (int i = 0; event_lazy_fields[i]; i++)
        if (strcmp(key, event_lazy_fields[i]) == 0)
            return i;
    return -1;
}

/* __index(ev, key) [-2, +1, e]: a lazy field, read for the first time. */
static int event_index(lua_State *L)
{
    plugin_set *ps = lua_touserdata(L, lua_upvalueindex(1));
    int i = event_lazy_index(L, 2);
    if (i < 0)
        return 0;
    if (!event_is_current(L, ps, 1))
        return luaL_error(L, "ev.%s is read after its event was handled; read it in on_event "
                             "(local id = ev.id) to keep it", event_lazy_fields[i]);
    event_fill(L, ps, 1, i);
    return 1;
}

/* next(t, k) without metamethods, for __pairs. [-2, +(1|2), e] */
static int event_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    if (lua_next(L, 1))
        return 2;
    lua_pushnil(L);
    return 1;
}

/* __pairs(ev) [-1, +3, e]: fills in the lazy fields first, so that pairs
 * (and cx.json.encode) see every field. */
static int event_pairs(lua_State *L)
{
    plugin_set *ps = lua_touserdata(L, lua_upvalueindex(1));
    if (event_is_current(L, ps, 1))
        for (int i = 0; event_lazy_fields[i]; i++) {
            lua_getfield(L, 1, event_lazy_fields[i]);           /* fills it in through __index */
            lua_settop(L, 1);
        }
    lua_pushcfunction(L, event_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Pushes the metatable of event tables, made on first use. [-0, +1, e] */
static void push_event_meta(lua_State *L, plugin_set *ps)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ps->event_meta) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushlightuserdata(L, ps);
    lua_pushcclosure(L, event_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushlightuserdata(L, ps);
    lua_pushcclosure(L, event_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ps->event_meta);
}

/* Pushes the table of the event being handled, built on first use.
 * [-0, +1, e] */
static void push_event(lua_State *L, plugin_set *ps)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ps->event) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    const cx_event *ev = ps->event;
    lua_createtable(L, 0, 7);
    lua_pushstring(L, ev->type);
    lua_setfield(L, -2, "type");
    if (ev->customer) {
        lua_pushstring(L, ev->customer);
        lua_setfield(L, -2, "customer");
    }
    lua_pushinteger(L, ev->at);
    lua_setfield(L, -2, "at");
    if (ev->has_amount) {
        lua_pushinteger(L, ev->amount_cents);
        lua_setfield(L, -2, "amount_cents");
    }
    if (ev->touchpoint) {
        lua_pushstring(L, ev->touchpoint);
        lua_setfield(L, -2, "touchpoint");
    }
    push_event_meta(L, ps);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ps->event);
}

/* Ends the event: its table is no longer the current one. [-0, +0, -]:
 * the key is there, so setting it allocates nothing. */
static void event_done(lua_State *L, plugin_set *ps)
{
    lua_pushboolean(L, 0);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ps->event);
    ps->event = NULL;
}

/* Calls the on_event hook of ps->hooked with the event and the plugin's ctx;
 * run protected, so that building ev (which allocates) cannot escape the
 * memory cap's error handling. [-1, +0, e] */
static int run_on_event(lua_State *L)
{
    plugin_set *ps = lua_touserdata(L, 1);
    struct plugin *p = ps->hooked;
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->on_event_ref);      /* [ps, fn] */
    push_event(L, ps);                                       /* [ps, fn, ev] */
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->ctx_ref);           /* [ps, fn, ev, ctx] */
    lua_call(L, 2, 0);                                       /* [ps] */
    return 0;
}

/* Calls the hook function pushed below its nargs arguments; on failure
 * the error says which plugin, file and hook, and what it was handling
 * (the context is formatted only then: this is the hot path).
 * [-(nargs+1), +0, -] */
static int call_hook(plugin_set *ps, struct plugin *p, const char *hook, int nargs, const char *context_fmt,
                     const char *context, cx_error *err)
{
    ps->in_hook = 1;
    int rc = luahost_call(ps->host, nargs, 0, "", err);
    ps->in_hook = 0;
    if (rc < 0) {
        char where[512];
        snprintf(where, sizeof where, context_fmt, context);
        cx_error_prefix(err, "plugin '%s' (%s), hook %s%s", p->name, p->path, hook, where);
    }
    return rc;
}

/* Keeps what the plugins' ctx.explain said about the event, as one row. */
static int write_trace(plugin_set *ps, cx_error *err)
{
    buf_add_str(&ps->trace, "]}");
    int rc = store_explanation_write(ps->st, ps->origin.event, ps->trace.data, ps->trace.len, err);
    if (rc < 0)
        cx_error_prefix(err, "event '%.200s'", ps->event->id);
    return rc;
}

/* [-0, +0, -] */
int plugin_handle_event(plugin_set *ps, const cx_event *ev, store_id event_id, store_id customer_id, cx_error *err)
{
    lua_State *L = luahost_state(ps->host);
    if (facts_trim(ps->facts, err) < 0)
        return -1;
    ps->writing = 1;
    ps->event_customer = customer_id ? ev->customer : NULL;
    ps->event_customer_id = customer_id;
    ps->origin.event = event_id;
    ps->origin.at = ev->at;
    int rc = 0;
    ps->event = ev;
    /* Imports bring runs of one type: which plugins handle it is known. */
    if (!ps->wants_known || strcmp(ps->wants_type, ev->type) != 0) {
        size_t len = strlen(ev->type);
        for (int i = 0; i < ps->count; i++)
            ps->items[i]->wants = ps->items[i]->on_event_ref != LUA_NOREF && plugin_wants(ps->items[i], ev->type);
        ps->wants_known = len < sizeof ps->wants_type;
        if (ps->wants_known)
            memcpy(ps->wants_type, ev->type, len + 1);
    }
    for (int i = 0; i < ps->count && rc == 0; i++) {
        struct plugin *p = ps->items[i];
        if (!p->wants)
            continue;
        ps->hooked = p;
        lua_pushcfunction(L, run_on_event);                  /* [run] */
        lua_pushlightuserdata(L, ps);                        /* [run, ps] */
        rc = call_hook(ps, p, "on_event", 1, ", event '%.200s'", ev->id, err);   /* [] */
    }
    if (rc == 0 && ps->trace.len)
        rc = write_trace(ps, err);
    buf_clear(&ps->trace);
    ps->tracing = NULL;
    event_done(L, ps);
    ps->hooked = NULL;
    ps->writing = 0;
    ps->origin.event = 0;
    ps->event_customer = NULL;
    return rc;
}

/* [-0, +0, -] */
int plugin_refresh(plugin_set *ps, int64_t as_of, cx_error *err)
{
    lua_State *L = luahost_state(ps->host);
    char date[UTC_TEXT_SIZE];
    utc_format(as_of, date);
    ps->writing = 1;
    ps->origin.event = 0;
    ps->origin.at = as_of;
    int rc = 0;
    for (int i = 0; i < ps->count && rc == 0; i++) {
        struct plugin *p = ps->items[i];
        if (p->on_refresh_ref == LUA_NOREF)
            continue;
        lua_rawgeti(L, LUA_REGISTRYINDEX, p->on_refresh_ref);   /* [fn] */
        lua_rawgeti(L, LUA_REGISTRYINDEX, p->ctx_ref);       /* [fn, ctx] */
        lua_pushinteger(L, as_of);                           /* [fn, ctx, as_of] */
        rc = call_hook(ps, p, "on_refresh", 2, ", as of %s", date, err);   /* [] */
    }
    ps->writing = 0;
    return rc;
}
