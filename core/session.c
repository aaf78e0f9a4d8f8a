/* session.c: opens a client for work; see session.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lua.h>
#include <lauxlib.h>
#include "embedded.h"
#include "cxhost/buf.h"
#include "cxhost/cxlib.h"
#include "cxhost/facts.h"
#include "cxhost/session.h"
#include "cxhost/workspace.h"

struct session {
    char *home, *client, *dir;
    store *st;
    luahost *host;
    facts *facts;
    loop_timers *timers;
    plugin_set *plugins;
    luahost_print_fn redirect;   /* where print() goes while a REPL gathers output */
    void *redirect_ud;
    int config_ref;
    int print_to_stderr;
    int serving;            /* running as `cxhost serve` (cx.serving()) */
};

static void session_print(void *ud, const char *owner, const char *line)
{
    session *s = ud;
    if (s->redirect)
        s->redirect(s->redirect_ud, owner, line);
    else if (s->print_to_stderr)
        fprintf(stderr, "%s/%s: %s\n", s->client, owner, line);
    else
        printf("%s\n", line);
}

/* Reads a whole number setting limits.<field> within [min, max]. [-0, +0, -] */
static int limit_setting(lua_State *L, int limits, const char *field, lua_Integer min, lua_Integer max,
                         lua_Integer *out, cx_error *err)
{
    lua_getfield(L, limits, field);
    int rc = 0;
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < min || lua_tointeger(L, -1) > max) {
            cx_error_set(err, "config.lua: limits.%s must be a whole number from %lld to %lld", field,
                         (long long)min, (long long)max);
            rc = -1;
        } else {
            *out = lua_tointeger(L, -1);
            rc = 1;
        }
    }
    lua_pop(L, 1);
    return rc;
}

/* Runs config.lua, when there is one, keeps its table and applies its limits.
 * [-0, +0, -] */
static int session_load_config(session *s, cx_error *err)
{
    lua_State *L = luahost_state(s->host);
    buf path = BUF_INIT, text = BUF_INIT, chunk = BUF_INIT;
    struct stat st;
    int rc = -1;
    s->config_ref = LUA_NOREF;
    workspace_client_path(s->home, s->client, "config.lua", &path);
    if (stat(path.data, &st) != 0) {
        buf_free(&path);
        return 0;
    }
    if (buf_read_file(&text, path.data) < 0) {
        cx_error_set(err, "%s: cannot read it", path.data);
        goto done;
    }
    buf_printf(&chunk, "@%s", path.data);
    luahost_push_sandbox(s->host, "config");                    /* [env] */
    if (luahost_load(s->host, buf_str(&text), text.len, chunk.data, -1, err) < 0) {
        lua_pop(L, 1);
        goto done;
    }
    if (luahost_call(s->host, 0, 1, "config.lua", err) < 0) {   /* [env, config] */
        lua_pop(L, 1);
        goto done;
    }
    if (!lua_istable(L, -1)) {
        cx_error_set(err, "%s: must return a table of settings (return { lifecycle = { ... } })", path.data);
        lua_pop(L, 2);
        goto done;
    }
    lua_getfield(L, -1, "limits");                             /* [env, config, limits] */
    if (lua_istable(L, -1)) {
        lua_Integer mb = 0, instructions = 0, facts_mb = 0;
        int has_mb = limit_setting(L, lua_gettop(L), "memory_mb", 8, 65536, &mb, err);
        int has_ins = has_mb < 0 ? -1 : limit_setting(L, lua_gettop(L), "instructions", 100000, 1000000000000LL,
                                                       &instructions, err);
        int has_facts = has_ins < 0 ? -1 : limit_setting(L, lua_gettop(L), "fact_cache_mb", 1, 65536, &facts_mb, err);
        if (has_mb < 0 || has_ins < 0 || has_facts < 0) {
            lua_pop(L, 3);
            goto done;
        }
        if (has_mb)
            luahost_set_memory_limit(s->host, (size_t)mb << 20);
        if (has_ins)
            luahost_set_instruction_budget(s->host, instructions);
        if (has_facts)
            facts_set_limit(s->facts, (size_t)facts_mb << 20);
    } else if (!lua_isnil(L, -1)) {
        cx_error_set(err, "%s: limits must be a table ({ memory_mb = 256, instructions = 100000000 })", path.data);
        lua_pop(L, 3);
        goto done;
    }
    lua_pop(L, 1);                                             /* [env, config] */
    s->config_ref = luaL_ref(L, LUA_REGISTRYINDEX);            /* [env] */
    lua_pop(L, 1);
    rc = 0;
done:
    buf_free(&path);
    buf_free(&text);
    buf_free(&chunk);
    return rc;
}

/* Runs each built-in library (plugins/lib/NAME.lua) in a sandbox of its
 * own and keeps the table it returns, which cxlib puts in every later cx
 * as cx.NAME. Before the plugins load, so that they find it. [-0, +0, -] */
static int session_load_libraries(session *s, cx_error *err)
{
    lua_State *L = luahost_state(s->host);
    for (const struct embedded_file *f = embedded_files; f->path; f++) {
        if (f->kind != EMBEDDED_LIBRARY)
            continue;
        const char *base = strrchr(f->path, '/');
        base = base ? base + 1 : f->path;
        char name[64], chunk[256];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(base) - 4), base);   /* without ".lua" */
        snprintf(chunk, sizeof chunk, "@%s", f->path);
        luahost_push_sandbox(s->host, name);                          /* [env] */
        if (luahost_load(s->host, f->text, f->size, chunk, -1, err) < 0 ||
            luahost_call(s->host, 0, 1, f->path, err) < 0) {          /* [env, lib] */
            lua_pop(L, 1);
            return -1;
        }
        if (!lua_istable(L, -1)) {
            cx_error_set(err, "%s: a library must return a table", f->path);
            lua_pop(L, 2);
            return -1;
        }
        cxlib_set_library(L, name, -1);
        lua_pop(L, 2);
    }
    return 0;
}

static const char *const stages[] = {"before", "during", "after", NULL};
static const char *const providers[] = {"communications", "visual identity", "product presence", "co-branding",
                                        "spatial environment", "website", "people", NULL};

/* The string field of the table at idx, which must be NULL or one of
 * allowed: 0, or -1 with err naming the field. [-0, +0, m] */
static int touchpoint_field(lua_State *L, int idx, const char *path, const char *touchpoint, const char *field,
                            const char *const *allowed, const char **out, cx_error *err)
{
    lua_getfield(L, idx, field);
    *out = NULL;
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    for (int i = 0; v && allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0)
            *out = allowed[i];
    lua_pop(L, 1);
    if (*out)
        return 0;
    buf list = BUF_INIT;
    for (int i = 0; allowed[i]; i++)
        buf_printf(&list, "%s%s", i ? ", " : "", allowed[i]);
    cx_error_set(err, "%s: touchpoints.%s.%s: '%s' is not a %s (%s)", path, touchpoint, field, v ? v : "(not text)",
                 field, buf_str(&list));
    buf_free(&list);
    return -1;
}

static int touchpoint_is_described(void *ud, int ncols, const char *const *names, const store_value *values)
{
    (void)ncols, (void)names, (void)values;
    *(int *)ud = 1;
    return 1;
}

/* Gives the touchpoints named in config.lua's `touchpoints` their stage
 * and provider in the store (writing only when something changed), so
 * reports can group by them. [-0, +0, m] */
static int session_apply_touchpoints(session *s, cx_error *err)
{
    lua_State *L = luahost_state(s->host);
    if (s->config_ref == LUA_NOREF)
        return 0;
    int top = lua_gettop(L), rc = -1, changed = 0, pass;
    buf path = BUF_INIT;
    workspace_client_path(s->home, s->client, "config.lua", &path);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->config_ref);                 /* [config] */
    lua_getfield(L, -1, "touchpoints");                               /* [config, tps] */
    if (lua_isnil(L, -1)) {
        rc = 0;
        goto done;
    }
    if (!lua_istable(L, -1)) {
        cx_error_set(err, "%s: touchpoints must be a table ({ shop = { stage = \"during\", provider = \"people\" } })",
                     path.data);
        goto done;
    }
    /* Pass 0 checks everything and looks for a change; pass 1 writes. */
    for (pass = 0; pass < 2; pass++) {
        if (pass == 1 && (!changed || store_begin(s->st, err) < 0))
            break;
        lua_pushnil(L);
        while (lua_next(L, -2)) {                                     /* [config, tps, name, t] */
            const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            const char *stage, *provider;
            if (!name || !*name || !lua_istable(L, -1)) {
                cx_error_set(err, "%s: touchpoints.%s must be a table such as { stage = \"before\", provider = "
                             "\"website\" }", path.data, name ? name : "?");
                lua_pop(L, 2);
                goto done;
            }
            if (touchpoint_field(L, -1, path.data, name, "stage", stages, &stage, err) < 0 ||
                touchpoint_field(L, -1, path.data, name, "provider", providers, &provider, err) < 0) {
                lua_pop(L, 2);
                goto done;
            }
            if (pass == 0 && !changed) {
                store_value params[3] = {{STORE_TEXT, 0, 0, name, strlen(name)},
                                         {stage ? STORE_TEXT : STORE_NULL, 0, 0, stage, stage ? strlen(stage) : 0},
                                         {provider ? STORE_TEXT : STORE_NULL, 0, 0, provider,
                                          provider ? strlen(provider) : 0}};
                int found = 0;
                if (store_query(s->st, "SELECT 1 FROM touchpoints WHERE name = ?1 AND stage IS ?2 AND provider IS ?3",
                                params, 3, touchpoint_is_described, &found, err) < 0) {
                    lua_pop(L, 2);
                    goto done;
                }
                changed = !found;
            } else if (pass == 1 && store_touchpoint_describe(s->st, name, stage, provider, err) < 0) {
                lua_pop(L, 2);
                store_rollback(s->st);
                goto done;
            }
            lua_pop(L, 1);
        }
        if (pass == 1 && store_commit(s->st, err) < 0)
            goto done;
    }
    rc = 0;
done:
    if (rc < 0 && !strstr(err->text, path.data))
        cx_error_prefix(err, "%s", path.data);
    lua_settop(L, top);
    buf_free(&path);
    return rc;
}

static int rfm_cell_matches(void *ud, int ncols, const char *const *names, const store_value *values)
{
    (void)ncols, (void)names, (void)values;
    *(int *)ud = 1;
    return 1;
}

/* The RFM grid of config.lua (`rfm_segments = { [5] = { "new", ... }, ... }`:
 * for a recency score, the segments of frequency scores 1 to 5) into the
 * store's rfm_segments, writing only when a cell changed. Rows not given
 * keep what they had. [-0, +0, m] */
static int session_apply_rfm_segments(session *s, cx_error *err)
{
    lua_State *L = luahost_state(s->host);
    if (s->config_ref == LUA_NOREF)
        return 0;
    int top = lua_gettop(L), rc = -1, changed = 0, pass;
    buf path = BUF_INIT;
    workspace_client_path(s->home, s->client, "config.lua", &path);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->config_ref);
    lua_getfield(L, -1, "rfm_segments");                         /* [config, grid] */
    if (lua_isnil(L, -1)) {
        rc = 0;
        goto done;
    }
    static const char example[] = "{ [5] = { \"new\", \"potential\", \"loyal\", \"champions\", \"champions\" }, ... }";
    if (!lua_istable(L, -1)) {
        cx_error_set(err, "%s: rfm_segments must be a table: %s", path.data, example);
        goto done;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {                                      /* check every row first */
        int ok = lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && lua_tointeger(L, -2) <= 5 &&
                 lua_istable(L, -1) && lua_rawlen(L, -1) == 5;
        for (int f = 1; ok && f <= 5; f++) {
            lua_rawgeti(L, -1, f);
            ok = lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0 && lua_rawlen(L, -1) <= 64;
            lua_pop(L, 1);
        }
        if (!ok) {
            cx_error_set(err, "%s: rfm_segments: each row is a recency score 1 to 5 holding the five segment "
                         "names of frequency scores 1 to 5: %s", path.data, example);
            goto done;
        }
        lua_pop(L, 1);
    }
    /* Pass 0 looks for a change; pass 1 writes. */
    for (pass = 0; pass < 2; pass++) {
        if (pass == 1 && (!changed || store_begin(s->st, err) < 0))
            break;
        for (int r = 1; r <= 5; r++) {
            if (lua_rawgeti(L, -1, r) != LUA_TTABLE) {
                lua_pop(L, 1);
                continue;
            }
            for (int f = 1; f <= 5; f++) {
                lua_rawgeti(L, -1, f);
                size_t len;
                const char *name = lua_tolstring(L, -1, &len);
                store_value params[3] = {{STORE_INT, r, 0, NULL, 0}, {STORE_INT, f, 0, NULL, 0},
                                         {STORE_TEXT, 0, 0, name, len}};
                int same = 0;
                int q = pass == 0 ? store_query(s->st, "SELECT 1 FROM rfm_segments WHERE r = ?1 AND f = ?2 AND segment = ?3",
                                                params, 3, rfm_cell_matches, &same, err)
                                  : store_rfm_segment_set(s->st, r, f, name, err);
                lua_pop(L, 1);
                if (q < 0) {
                    lua_pop(L, 1);
                    if (pass == 1)
                        store_rollback(s->st);
                    goto done;
                }
                changed |= !same;
            }
            lua_pop(L, 1);
        }
        if (pass == 1 && store_commit(s->st, err) < 0)
            goto done;
    }
    rc = 0;
done:
    lua_settop(L, top);
    buf_free(&path);
    return rc;
}

int session_open(const char *home, const char *client, session **out, cx_error *err)
{
    *out = NULL;
    if (workspace_check_client_name(client, err) < 0)
        return -1;
    if (!workspace_client_exists(home, client)) {
        cx_error_set(err, "no client '%s' in %s (create it with: cxhost client add %s)", client, home, client);
        return -1;
    }
    session *s = calloc(1, sizeof *s);
    if (!s) {
        cx_error_set(err, "out of memory");
        return -1;
    }
    s->config_ref = LUA_NOREF;
    s->home = strdup(home);
    s->client = strdup(client);
    buf dir = BUF_INIT, db = BUF_INIT, plugins = BUF_INIT;
    workspace_client_path(home, client, NULL, &dir);
    workspace_client_path(home, client, "store.db", &db);
    workspace_client_path(home, client, "plugins", &plugins);
    s->dir = strdup(dir.data);
    int rc = -1;
    if (store_open(db.data, 0, &s->st, err) < 0)
        goto done;
    if (!(s->host = luahost_new(0, err)))
        goto done;
    if (!(s->facts = facts_new(s->host, s->st)) || !(s->timers = loop_timers_new(s->host))) {
        cx_error_set(err, "out of memory");
        goto done;
    }
    luahost_set_env_fn(s->host, cxlib_add, s);
    luahost_set_print_fn(s->host, session_print, s);
    if (session_load_config(s, err) < 0 || session_load_libraries(s, err) < 0)
        goto done;
    s->plugins = plugin_set_new(s->host, s->st, s->facts, client, plugins.data, s->config_ref);
    if (!s->plugins) {
        cx_error_set(err, "out of memory");
        goto done;
    }
    if (plugin_load_all(s->plugins, err) < 0 || session_apply_touchpoints(s, err) < 0 ||
        session_apply_rfm_segments(s, err) < 0)
        goto done;
    rc = 0;
done:
    buf_free(&dir);
    buf_free(&db);
    buf_free(&plugins);
    if (rc < 0)
        session_close(s);
    else
        *out = s;
    return rc;
}

void session_close(session *s)
{
    if (!s)
        return;
    if (s->st && store_in_transaction(s->st))
        store_rollback(s->st);
    loop_timers_free(s->timers);
    plugin_set_free(s->plugins);
    facts_free(s->facts);
    luahost_free(s->host);
    store_close(s->st);
    free(s->home);
    free(s->client);
    free(s->dir);
    free(s);
}

int session_reload(session *s, cx_error *err)
{
    if (store_in_transaction(s->st)) {
        cx_error_set(err, "the store is busy with a write; reload between writes");
        return -1;
    }
    lua_State *L = luahost_state(s->host);
    int old_config = s->config_ref, generation = loop_timers_generation(s->timers);
    size_t memory = luahost_memory_limit(s->host);
    int64_t budget = luahost_instruction_budget(s->host);
    plugin_set *old = s->plugins, *fresh = NULL;
    buf plugins = BUF_INIT;
    workspace_client_path(s->home, s->client, "plugins", &plugins);
    /* The facts cache holds nothing between transactions, so the new
     * plugins can share it. */
    loop_timers_set_generation(s->timers, generation + 1);
    if (session_load_config(s, err) < 0)
        goto fail;
    if (!(fresh = plugin_set_new(s->host, s->st, s->facts, s->client, plugins.data, s->config_ref))) {
        cx_error_set(err, "out of memory");
        goto fail;
    }
    if (plugin_load_all(fresh, err) < 0)
        goto fail;
    s->plugins = fresh;
    if (session_apply_touchpoints(s, err) < 0 || session_apply_rfm_segments(s, err) < 0) {
        s->plugins = old;
        goto fail;
    }
    plugin_set_free(old);
    luaL_unref(L, LUA_REGISTRYINDEX, old_config);
    loop_timers_cancel_generation(s->timers, generation);
    buf_free(&plugins);
    return 0;
fail:
    plugin_set_free(fresh);
    if (s->config_ref != old_config)
        luaL_unref(L, LUA_REGISTRYINDEX, s->config_ref);
    s->config_ref = old_config;
    luahost_set_memory_limit(s->host, memory);
    luahost_set_instruction_budget(s->host, budget);
    loop_timers_cancel_generation(s->timers, generation + 1);
    loop_timers_set_generation(s->timers, generation);
    buf_free(&plugins);
    return -1;
}

store *session_store(session *s) { return s->st; }
loop_timers *session_timers(session *s) { return s->timers; }
luahost *session_lua(session *s) { return s->host; }
plugin_set *session_plugins(session *s) { return s->plugins; }
const char *session_client(const session *s) { return s->client; }
const char *session_home(const session *s) { return s->home; }
const char *session_dir(const session *s) { return s->dir; }
void session_set_print_to_stderr(session *s, int on) { s->print_to_stderr = on; }
void session_set_serving(session *s, int on) { s->serving = on; }
int session_serving(const session *s) { return s->serving; }

void session_redirect_print(session *s, luahost_print_fn fn, void *ud)
{
    s->redirect = fn;
    s->redirect_ud = ud;
}

void session_get_print_redirect(const session *s, luahost_print_fn *fn, void **ud)
{
    *fn = s->redirect;
    *ud = s->redirect_ud;
}
