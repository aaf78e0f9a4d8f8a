/* workspace.h: the folder that holds a consultant's clients.
 *
 *   HOME/clients/NAME/store.db      the client's store
 *   HOME/clients/NAME/plugins/      the client's own plugins
 *   HOME/clients/NAME/config.lua    the client's settings (optional)
 *
 * HOME is --home, else $CXHOST_HOME, else ./cxhome. A client is a folder, so
 * handing one over or deleting it is a file operation. */
#ifndef CXHOST_WORKSPACE_H
#define CXHOST_WORKSPACE_H

#include "cxhost/buf.h"
#include "cxhost/error.h"

/* The workspace folder to use, given the --home flag (or NULL). */
const char *workspace_home(const char *flag);

/* A client name is 1-64 characters: letters, digits, '.', '-', '_', not
 * starting with '.' or '-' (so no '/', no "..", no control characters). */
int workspace_check_client_name(const char *name, cx_error *err);

/* Appends HOME/clients/NAME (and /what, when what is not NULL) to out. */
void workspace_client_path(const char *home, const char *name, const char *what, buf *out);

int workspace_client_exists(const char *home, const char *name);
int workspace_client_add(const char *home, const char *name, cx_error *err);
int workspace_client_remove(const char *home, const char *name, cx_error *err);

/* Calls fn with each client's name, sorted. */
typedef void (*workspace_client_fn)(void *ud, const char *name);
int workspace_client_list(const char *home, workspace_client_fn fn, void *ud, cx_error *err);

#endif
