/* session.h: one client opened for work.
 *
 * A session owns the client's store, its Lua state (one per client, so the
 * memory cap is per client), its settings from config.lua and its loaded
 * plugins. Everything that runs against a client's data goes through one. */
#ifndef CXHOST_SESSION_H
#define CXHOST_SESSION_H

#include "cxhost/error.h"
#include "cxhost/loop.h"
#include "cxhost/luahost.h"
#include "cxhost/plugin.h"
#include "cxhost/store.h"

typedef struct session session;

/* Opens client `client` of workspace `home`: its store, its config.lua and
 * every plugin. Fails, naming the file and line, when any of them is wrong. */
int session_open(const char *home, const char *client, session **out, cx_error *err);
void session_close(session *s);

/* Reloads config.lua and the plugins (built-in and the client's) and runs
 * their on_load, between transactions. When anything fails to load, the
 * previous plugins and settings stay as they were, and err says why. The old
 * plugins' timers are cancelled when the new ones take over. */
int session_reload(session *s, cx_error *err);

store *session_store(session *s);
loop_timers *session_timers(session *s);
luahost *session_lua(session *s);
plugin_set *session_plugins(session *s);
const char *session_client(const session *s);
const char *session_home(const session *s);
const char *session_dir(const session *s);      /* HOME/clients/NAME */

/* Where print() in plugins and scripts goes: stdout for scripts (the
 * default), stderr with a prefix while importing. */
void session_set_print_to_stderr(session *s, int on);
/* Whether the session runs as `cxhost serve`: the service is the client's
 * clock (the campaigns plugin runs scheduled campaigns only there). */
void session_set_serving(session *s, int on);
int session_serving(const session *s);
/* Sends print() elsewhere (the REPL gathering a statement's output); fn
 * NULL puts it back. */
void session_redirect_print(session *s, luahost_print_fn fn, void *ud);
void session_get_print_redirect(const session *s, luahost_print_fn *fn, void **ud);

#endif
