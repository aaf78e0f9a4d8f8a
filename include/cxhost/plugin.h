/* plugin.h: the plugin loader and the plugin API (ctx).
 *
 * A plugin is a Lua file that returns a table:
 *   name, version, description   who it is
 *   events = {"purchase", ...}    the event types on_event wants (all when absent)
 *   order = 100                   lower runs first; ties by name
 *   defaults = {...}              its settings, overridable per client in config.lua
 *   on_load(ctx)                  once, after all plugins are loaded
 *   on_event(ev, ctx)             for each new event, inside the event's transaction
 *   on_refresh(ctx, as_of)        when time has passed (after an import, `cxhost refresh`)
 * Built-in plugins load first; a client plugin with the same name replaces
 * the built-in one. Each plugin runs in its own sandbox, and writes only
 * through its ctx (facts, tags, ledger, scores, outbox), which records the
 * plugin and the event in the audit trail. docs/plugins.md is the reference. */
#ifndef CXHOST_PLUGIN_H
#define CXHOST_PLUGIN_H

#include <stdint.h>
#include "cxhost/error.h"
#include "cxhost/facts.h"
#include "cxhost/event.h"
#include "cxhost/luahost.h"
#include "cxhost/store.h"

typedef struct plugin_set plugin_set;

typedef struct plugin_info {
    const char *name;
    const char *version;
    const char *description;
    const char *origin;    /* "built-in" or "client" */
    const char *path;      /* the file it came from */
    int order;
    int replaces_builtin;  /* a client plugin that took a built-in's place */
} plugin_info;

/* config_ref: a registry reference to the client's config table (or LUA_NOREF);
 * f: the facts cache the plugins' ctx reads and writes. */
plugin_set *plugin_set_new(luahost *h, store *st, facts *f, const char *client, const char *plugin_dir,
                           int config_ref);
void plugin_set_free(plugin_set *ps);

/* Loads the built-in plugins, then every *.lua file in the client's plugin
 * folder, then runs each on_load. */
int plugin_load_all(plugin_set *ps, cx_error *err);

int plugin_count(const plugin_set *ps);
/* Pushes a copy of plugin i's settings (its defaults overlaid with the
 * client's config.lua), two levels deep. [-0, +1, m] */
void plugin_push_config(plugin_set *ps, int i);
void plugin_get_info(const plugin_set *ps, int i, plugin_info *info);

/* Runs on_event of every plugin that wants ev->type, in order, inside the
 * caller's transaction. The first failure stops and is returned (the caller
 * takes the event back). */
int plugin_handle_event(plugin_set *ps, const cx_event *ev, store_id event_id, store_id customer_id, cx_error *err);

/* Runs on_refresh(ctx, as_of) of every plugin that has one. */
int plugin_refresh(plugin_set *ps, int64_t as_of, cx_error *err);

/* Whether a plugin hook is running now (plugins may not feed events back in). */
int plugin_in_hook(const plugin_set *ps);

#endif
