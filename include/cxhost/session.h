/* session.h: one client opened for work.
 *
 * A session owns the client's store, its Lua state (one per client, so the
 * memory cap is per client), its settings from config.lua and its loaded
 * plugins. Everything that runs against a client's data goes through one. */
#ifndef CXHOST_SESSION_H
#define CXHOST_SESSION_H

#include "cxhost/error.h"
#include "cxhost/luahost.h"
#include "cxhost/plugin.h"
#include "cxhost/store.h"

typedef struct session session;

/* Opens client `client` of workspace `home`: its store, its config.lua and
 * every plugin. Fails, naming the file and line, when any of them is wrong. */
int session_open(const char *home, const char *client, session **out, cx_error *err);
void session_close(session *s);

store *session_store(session *s);
luahost *session_lua(session *s);
plugin_set *session_plugins(session *s);
const char *session_client(const session *s);
const char *session_home(const session *s);
const char *session_dir(const session *s);      /* HOME/clients/NAME */

/* Where print() in plugins and scripts goes: stdout for scripts (the
 * default), stderr with a prefix while importing. */
void session_set_print_to_stderr(session *s, int on);

#endif
