/* test_facts.c: the facts cache over a real store and Lua state: reads see
 * the latest values, SQL sees them written back, a taken-back event restores
 * them, a plugin's own table changes in place while copies do not, bad values
 * change nothing, a customer's facts from every plugin are one row, and a
 * cache smaller than the work gives the same result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include "check.h"
#include "cxhost/facts.h"
#include "cxhost/luahost.h"
#include "cxhost/store.h"

static char dir[] = "/tmp/cxhost-test-facts-XXXXXX";

struct world {
    store *st;
    luahost *h;
    facts *f;
    lua_State *L;
};

enum op_kind { OP_SET, OP_SET_TEXT, OP_SET_TRUE, OP_GET, OP_LIVE_ADD, OP_COPY_CHANGE, OP_MERGE_BAD, OP_MERGE };

struct op {
    enum op_kind kind;
    facts *f;
    store_id customer;
    const char *plugin;
    const char *name;
    lua_Integer value;   /* in for sets, out for OP_GET (-1: nil) */
    const char *text;
    store_origin origin;
};

/* Runs one operation the way a ctx function would. [-1, +0, e] */
static int run_op(lua_State *L)
{
    struct op *op = lua_touserdata(L, 1);
    switch (op->kind) {
    case OP_SET:
        lua_pushinteger(L, op->value);
        facts_set_one(op->f, &op->origin, op->customer, op->name, -1, "set");
        break;
    case OP_SET_TEXT:
        if (op->text)
            lua_pushstring(L, op->text);
        else
            lua_pushnil(L);
        facts_set_one(op->f, &op->origin, op->customer, op->name, -1, "set");
        break;
    case OP_SET_TRUE:
        lua_pushboolean(L, 1);
        facts_set_one(op->f, &op->origin, op->customer, op->name, -1, "set");
        break;
    case OP_GET:
        facts_push_one(op->f, op->customer, op->plugin, op->name);
        op->value = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
        break;
    case OP_LIVE_ADD:   /* t = ctx.facts(c); t[name] = (t[name] or 0) + value, with no facts_set */
        facts_push(op->f, op->customer, op->origin.plugin, &op->origin);
        lua_getfield(L, -1, op->name);
        lua_pushinteger(L, luaL_optinteger(L, -1, 0) + op->value);
        lua_setfield(L, -3, op->name);
        break;
    case OP_COPY_CHANGE:   /* another plugin's facts: a copy, changed to no effect */
        facts_push(op->f, op->customer, op->plugin, NULL);
        lua_pushinteger(L, 999);
        lua_setfield(L, -2, op->name);
        break;
    case OP_MERGE:   /* ctx.facts_set(c, {name = value, note = text}) */
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, op->value);
        lua_setfield(L, -2, op->name);
        lua_pushstring(L, op->text);
        lua_setfield(L, -2, "note");
        facts_merge(op->f, &op->origin, op->customer, -1, "merge");
        break;
    case OP_MERGE_BAD:   /* a good fact beside a table: neither is set */
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, op->value);
        lua_setfield(L, -2, op->name);
        lua_newtable(L);
        lua_setfield(L, -2, "bad");
        facts_merge(op->f, &op->origin, op->customer, -1, "merge");
        break;
    }
    return 0;
}

/* 0, or -1 with the error in errbuf. */
static int do_op(struct world *w, struct op *op, char *errbuf, size_t size)
{
    op->f = w->f;
    lua_pushcfunction(w->L, run_op);
    lua_pushlightuserdata(w->L, op);
    if (lua_pcall(w->L, 1, 0, 0) != LUA_OK) {
        snprintf(errbuf, size, "%s", lua_tostring(w->L, -1));
        lua_pop(w->L, 1);
        return -1;
    }
    return 0;
}

static int set_int(struct world *w, store_id customer, const char *plugin, store_id event, const char *name,
                   lua_Integer value)
{
    char e[512];
    struct op op = {OP_SET, NULL, customer, plugin, name, value, NULL, {plugin, event, 1000 * event}};
    int rc = do_op(w, &op, e, sizeof e);
    if (rc < 0)
        fprintf(stderr, "set %s: %s\n", name, e);
    return rc;
}

/* The fact as an integer; -1 for nil. */
static lua_Integer get_int(struct world *w, store_id customer, const char *plugin, const char *name)
{
    char e[512];
    struct op op = {OP_GET, NULL, customer, plugin, name, 0, NULL, {plugin, 0, 0}};
    if (do_op(w, &op, e, sizeof e) < 0) {
        fprintf(stderr, "get %s: %s\n", name, e);
        return -2;
    }
    return op.value;
}

struct one_int {
    int64_t value;
};

static int grab_int(void *ud, int ncols, const char *const *names, const store_value *values)
{
    (void)names;
    if (ncols > 0)
        ((struct one_int *)ud)->value = values[0].type == STORE_INT ? values[0].i : -1;
    return 0;
}

/* The first column of the first row of sql, as an integer (-1: none or NULL). */
static int64_t query_int(struct world *w, const char *sql)
{
    struct one_int o = {-1};
    cx_error err;
    if (store_query(w->st, sql, NULL, 0, grab_int, &o, &err) < 0) {
        fprintf(stderr, "query failed: %s: %s\n", sql, err.text);
        return -2;
    }
    return o.value;
}

static int open_world(struct world *w, const char *name)
{
    char path[256];
    cx_error err;
    memset(w, 0, sizeof *w);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (store_open(path, 1, &w->st, &err) < 0 || !(w->h = luahost_new(0, &err))) {
        fprintf(stderr, "%s\n", err.text);
        return -1;
    }
    w->f = facts_new(w->h, w->st);
    w->L = luahost_state(w->h);
    return w->f ? 0 : -1;
}

static void close_world(struct world *w)
{
    facts_free(w->f);
    luahost_free(w->h);
    store_close(w->st);
}

static void test_transactions(void)
{
    struct world w;
    cx_error err;
    store_id c = 0;
    char e[512];
    if (open_world(&w, "tx.db") < 0) {
        CHECK(0);
        return;
    }
    CHECK_EQ_INT(store_begin(w.st, &err), 0);
    CHECK_EQ_INT(store_customer_add(w.st, "c1", 1000, &c, &err), 0);
    CHECK_EQ_INT(set_int(&w, c, "p", 1, "visits", 1), 0);
    CHECK_EQ_INT(get_int(&w, c, "p", "visits"), 1);
    /* SQL sees the facts written back, with their event and time. */
    CHECK_EQ_INT(query_int(&w, "SELECT value FROM customer_facts WHERE plugin = 'p' AND name = 'visits'"), 1);
    CHECK_EQ_INT(query_int(&w, "SELECT event_id FROM customer_state WHERE plugin = 'p'"), 1);

    /* An event taken back: an update and a new fact are undone, even after a
     * query wrote them back. */
    CHECK_EQ_INT(store_savepoint(w.st, &err), 0);
    CHECK_EQ_INT(set_int(&w, c, "p", 2, "visits", 2), 0);
    CHECK_EQ_INT(set_int(&w, c, "p", 2, "zeta", 2), 0);
    CHECK_EQ_INT(query_int(&w, "SELECT value FROM customer_facts WHERE plugin = 'p' AND name = 'zeta'"), 2);
    store_rollback_savepoint(w.st);
    CHECK_EQ_INT(get_int(&w, c, "p", "visits"), 1);
    CHECK_EQ_INT(get_int(&w, c, "p", "zeta"), -1);
    CHECK_EQ_INT(query_int(&w, "SELECT COUNT(*) FROM customer_facts WHERE plugin = 'p' AND name = 'zeta'"), 0);

    /* A kept event: the plugin's own table changed in place is kept without facts_set. */
    CHECK_EQ_INT(store_savepoint(w.st, &err), 0);
    struct op live = {OP_LIVE_ADD, NULL, c, "p", "visits", 5, NULL, {"p", 3, 3000}};
    CHECK_EQ_INT(do_op(&w, &live, e, sizeof e), 0);
    CHECK_EQ_INT(store_release(w.st, &err), 0);
    /* Another plugin's facts come as a copy: changing it changes nothing. */
    struct op copy = {OP_COPY_CHANGE, NULL, c, "p", "visits", 0, NULL, {"q", 3, 3000}};
    CHECK_EQ_INT(do_op(&w, &copy, e, sizeof e), 0);
    CHECK_EQ_INT(get_int(&w, c, "p", "visits"), 6);
    /* A bad value: the error names it and nothing is set. */
    struct op bad = {OP_MERGE_BAD, NULL, c, "p", "visits", 40, NULL, {"p", 4, 4000}};
    CHECK(do_op(&w, &bad, e, sizeof e) < 0);
    CHECK_CONTAINS(e, "fact 'bad' must be a number, string, boolean or nil, not a table");
    CHECK_EQ_INT(get_int(&w, c, "p", "visits"), 6);
    /* A merge keeps the facts it does not name; true is stored as 1; nil unsets. */
    struct op merge = {OP_MERGE, NULL, c, "p", "visits", 7, "hello", {"p", 5, 5000}};
    CHECK_EQ_INT(do_op(&w, &merge, e, sizeof e), 0);
    struct op yes = {OP_SET_TRUE, NULL, c, "p", "member", 0, NULL, {"p", 5, 5000}};
    CHECK_EQ_INT(do_op(&w, &yes, e, sizeof e), 0);
    struct op unset = {OP_SET_TEXT, NULL, c, "p", "note", 0, NULL, {"p", 6, 6000}};
    CHECK_EQ_INT(do_op(&w, &unset, e, sizeof e), 0);
    CHECK_EQ_INT(store_commit(w.st, &err), 0);
    CHECK_EQ_INT(query_int(&w, "SELECT value FROM customer_facts WHERE plugin = 'p' AND name = 'visits'"), 7);
    CHECK_EQ_INT(query_int(&w, "SELECT value FROM customer_facts WHERE plugin = 'p' AND name = 'member'"), 1);
    CHECK_EQ_INT(query_int(&w, "SELECT COUNT(*) FROM customer_facts WHERE plugin = 'p' AND name = 'note'"), 0);
    CHECK_EQ_INT(query_int(&w, "SELECT COUNT(*) FROM customer_state WHERE plugin = 'q'"), 0);
    CHECK_EQ_INT(query_int(&w, "SELECT updated_at FROM customer_state WHERE plugin = 'p'"), 6000);
    CHECK_EQ_INT(facts_bytes(w.f), 0);   /* the transaction ended: nothing held */

    /* A rolled-back transaction forgets what it cached. */
    CHECK_EQ_INT(store_begin(w.st, &err), 0);
    CHECK_EQ_INT(set_int(&w, c, "p", 7, "visits", 99), 0);
    store_rollback(w.st);
    CHECK_EQ_INT(get_int(&w, c, "p", "visits"), 7);
    CHECK_EQ_INT(query_int(&w, "SELECT value FROM customer_facts WHERE plugin = 'p' AND name = 'visits'"), 7);
    close_world(&w);
}

struct one_text {
    char *out;
    size_t size;
};

static int grab_text(void *ud, int ncols, const char *const *names, const store_value *values)
{
    struct one_text *t = ud;
    (void)names;
    if (ncols > 0 && values[0].type == STORE_TEXT && !t->out[0])
        snprintf(t->out, t->size, "%.*s", (int)values[0].len, values[0].s);
    return 0;
}

/* The text of the first column of the first row of sql ("" for none). */
static void query_text(struct world *w, const char *sql, char *out, size_t size)
{
    cx_error err;
    struct one_text t = {out, size};
    out[0] = 0;
    if (store_query(w->st, sql, NULL, 0, grab_text, &t, &err) < 0)
        fprintf(stderr, "query failed: %s: %s\n", sql, err.text);
}

/* All of a customer's facts are one row: a plugin that changes its own
 * keeps the others' (read in with the row), a row written back during the
 * transaction does not undo newer cached changes, and an event taken back
 * leaves the row as it was. */
static void test_one_row(void)
{
    struct world w;
    cx_error err;
    store_id c = 0, d = 0;
    char row[256];
    if (open_world(&w, "row.db") < 0) {
        CHECK(0);
        return;
    }
    CHECK_EQ_INT(store_begin(w.st, &err), 0);
    CHECK_EQ_INT(store_customer_add(w.st, "c1", 1000, &c, &err), 0);
    CHECK_EQ_INT(set_int(&w, c, "p", 1, "visits", 1), 0);
    CHECK_EQ_INT(set_int(&w, c, "q", 1, "score", 10), 0);
    CHECK_EQ_INT(store_commit(w.st, &err), 0);
    query_text(&w, "SELECT data FROM facts", row, sizeof row);
    CHECK_EQ_STR(row, "{\"p\":{\"visits\":1},\"q\":{\"score\":10}}");

    /* Only q changes, in a new transaction: p's facts come in with the row and stay. */
    CHECK_EQ_INT(store_begin(w.st, &err), 0);
    CHECK_EQ_INT(set_int(&w, c, "q", 2, "score", 11), 0);
    CHECK_EQ_INT(store_commit(w.st, &err), 0);
    query_text(&w, "SELECT data || ' ' || event_id FROM facts", row, sizeof row);
    CHECK_EQ_STR(row, "{\"p\":{\"visits\":1},\"q\":{\"score\":11}} 2");

    /* A new customer's row written back by a query, then changed again, then
     * read in for another plugin: the cache's newer value wins. */
    CHECK_EQ_INT(store_begin(w.st, &err), 0);
    CHECK_EQ_INT(store_customer_add(w.st, "d1", 3000, &d, &err), 0);
    CHECK_EQ_INT(set_int(&w, d, "p", 3, "visits", 1), 0);
    CHECK_EQ_INT(query_int(&w, "SELECT COUNT(*) FROM facts"), 2);
    CHECK_EQ_INT(set_int(&w, d, "p", 4, "visits", 2), 0);
    CHECK_EQ_INT(get_int(&w, d, "q", "score"), -1);
    CHECK_EQ_INT(get_int(&w, d, "p", "visits"), 2);
    CHECK_EQ_INT(store_commit(w.st, &err), 0);
    CHECK_EQ_INT(query_int(&w, "SELECT json_extract(data, '$.p.visits') FROM facts WHERE customer_id = 2"), 2);

    /* An event in which two plugins change c, taken back: the row is as it was. */
    CHECK_EQ_INT(store_begin(w.st, &err), 0);
    CHECK_EQ_INT(store_savepoint(w.st, &err), 0);
    CHECK_EQ_INT(set_int(&w, c, "p", 5, "visits", 50), 0);
    CHECK_EQ_INT(set_int(&w, c, "q", 5, "score", 50), 0);
    store_rollback_savepoint(w.st);
    CHECK_EQ_INT(get_int(&w, c, "p", "visits"), 1);
    CHECK_EQ_INT(store_commit(w.st, &err), 0);
    query_text(&w, "SELECT data || ' ' || event_id FROM facts WHERE customer_id = 1", row, sizeof row);
    CHECK_EQ_STR(row, "{\"p\":{\"visits\":1},\"q\":{\"score\":11}} 2");
    close_world(&w);
}

/* With a cache too small for the transaction, facts are written back and
 * dropped between events as it fills, and read back when used again: the
 * result is the one with everything in memory, taken-back events included. */
static void test_bound(void)
{
    enum { CUSTOMERS = 300 };
    struct world w;
    cx_error err;
    store_id ids[CUSTOMERS];
    char external[32];
    if (open_world(&w, "bound.db") < 0) {
        CHECK(0);
        return;
    }
    facts_set_limit(w.f, 4096);   /* a few dozen customers' facts */
    size_t most = 0;
    CHECK_EQ_INT(store_begin(w.st, &err), 0);
    for (int pass = 1; pass <= 3; pass++) {
        for (int i = 0; i < CUSTOMERS; i++) {
            if (pass == 1) {
                snprintf(external, sizeof external, "b%d", i);
                CHECK_EQ_INT(store_customer_add(w.st, external, 7000, &ids[i], &err), 0);
            }
            CHECK_EQ_INT(store_savepoint(w.st, &err), 0);
            lua_Integer visits = get_int(&w, ids[i], "bound", "visits");
            CHECK_EQ_INT(visits, pass == 1 ? -1 : pass - 1);
            CHECK_EQ_INT(set_int(&w, ids[i], "bound", pass, "visits", pass == 1 ? 1 : visits + 1), 0);
            if (pass == 3 && i % 2)   /* the third pass is taken back for every other customer */
                store_rollback_savepoint(w.st);
            else
                CHECK_EQ_INT(store_release(w.st, &err), 0);
            if (facts_bytes(w.f) > most)
                most = facts_bytes(w.f);
        }
    }
    CHECK(most < 4096 + 1024);   /* trimmed as it went */
    CHECK_EQ_INT(store_commit(w.st, &err), 0);
    CHECK_EQ_INT(query_int(&w, "SELECT COUNT(*) FROM customer_state WHERE plugin = 'bound'"), CUSTOMERS);
    CHECK_EQ_INT(query_int(&w, "SELECT SUM(value) FROM customer_facts WHERE plugin = 'bound' AND name = 'visits'"),
                 CUSTOMERS / 2 * 3 + CUSTOMERS / 2 * 2);
    close_world(&w);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_transactions();
    test_one_row();
    test_bound();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
