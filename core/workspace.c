/* workspace.c: clients as folders; see workspace.h. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>
#include "cxhost/store.h"
#include "cxhost/workspace.h"

const char *workspace_home(const char *flag)
{
    const char *env = getenv("CXHOST_HOME");
    if (flag && *flag)
        return flag;
    return env && *env ? env : "cxhome";
}

int workspace_check_client_name(const char *name, cx_error *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > 64) {
        cx_error_set(err, "client name must be 1 to 64 characters");
        return -1;
    }
    if (name[0] == '.' || name[0] == '-') {
        cx_error_set(err, "client name '%s' must not start with '%c'", name, name[0]);
        return -1;
    }
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        if (!ok) {
            if (c < 0x20 || c == 0x7f)
                cx_error_set(err, "client name must not contain control characters");
            else
                cx_error_set(err, "client name '%s' must not contain '%c' (letters, digits, '.', '-', '_')", name, c);
            return -1;
        }
    }
    return 0;
}

void workspace_client_path(const char *home, const char *name, const char *what, buf *out)
{
    buf_printf(out, "%s/clients/%s", home, name);
    if (what)
        buf_printf(out, "/%s", what);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int workspace_client_exists(const char *home, const char *name)
{
    buf path = BUF_INIT;
    workspace_client_path(home, name, "store.db", &path);
    struct stat st;
    int exists = stat(path.data, &st) == 0;
    buf_free(&path);
    return exists;
}

/* mkdir -p for the few levels a workspace has. */
static int make_dir(const char *path, cx_error *err)
{
    uv_fs_t req;
    int rc = uv_fs_mkdir(NULL, &req, path, 0755, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0 && rc != UV_EEXIST) {
        cx_error_set(err, "%s: cannot create the folder: %s", path, uv_strerror(rc));
        return -1;
    }
    return 0;
}

int workspace_client_add(const char *home, const char *name, cx_error *err)
{
    if (workspace_check_client_name(name, err) < 0)
        return -1;
    if (workspace_client_exists(home, name)) {
        cx_error_set(err, "client '%s' already exists in %s", name, home);
        return -1;
    }
    buf clients = BUF_INIT, dir = BUF_INIT, plugins = BUF_INIT, db = BUF_INIT;
    buf_printf(&clients, "%s/clients", home);
    workspace_client_path(home, name, NULL, &dir);
    workspace_client_path(home, name, "plugins", &plugins);
    workspace_client_path(home, name, "store.db", &db);
    int rc = -1;
    store *st = NULL;
    if (make_dir(home, err) == 0 && make_dir(clients.data, err) == 0 && make_dir(dir.data, err) == 0 &&
        make_dir(plugins.data, err) == 0 && store_open(db.data, 1, &st, err) == 0)
        rc = 0;
    store_close(st);
    buf_free(&clients);
    buf_free(&dir);
    buf_free(&plugins);
    buf_free(&db);
    return rc;
}

/* Removes path and everything below it. */
static int remove_tree(const char *path, cx_error *err)
{
    uv_fs_t req;
    uv_dirent_t ent;
    int n = uv_fs_scandir(NULL, &req, path, 0, NULL);
    if (n < 0) {
        uv_fs_req_cleanup(&req);
        cx_error_set(err, "%s: cannot read the folder: %s", path, uv_strerror(n));
        return -1;
    }
    int rc = 0;
    while (uv_fs_scandir_next(&req, &ent) != UV_EOF && rc == 0) {
        buf child = BUF_INIT;
        buf_printf(&child, "%s/%s", path, ent.name);
        if (ent.type == UV_DIRENT_DIR || (ent.type == UV_DIRENT_UNKNOWN && is_dir(child.data))) {
            rc = remove_tree(child.data, err);
        } else {
            uv_fs_t unlink_req;
            int u = uv_fs_unlink(NULL, &unlink_req, child.data, NULL);
            uv_fs_req_cleanup(&unlink_req);
            if (u < 0) {
                cx_error_set(err, "%s: cannot remove it: %s", child.data, uv_strerror(u));
                rc = -1;
            }
        }
        buf_free(&child);
    }
    uv_fs_req_cleanup(&req);
    if (rc == 0) {
        uv_fs_t rmdir_req;
        int r = uv_fs_rmdir(NULL, &rmdir_req, path, NULL);
        uv_fs_req_cleanup(&rmdir_req);
        if (r < 0) {
            cx_error_set(err, "%s: cannot remove the folder: %s", path, uv_strerror(r));
            rc = -1;
        }
    }
    return rc;
}

int workspace_client_remove(const char *home, const char *name, cx_error *err)
{
    if (workspace_check_client_name(name, err) < 0)
        return -1;
    buf dir = BUF_INIT;
    workspace_client_path(home, name, NULL, &dir);
    int rc;
    if (!is_dir(dir.data)) {
        cx_error_set(err, "no client '%s' in %s", name, home);
        rc = -1;
    } else {
        rc = remove_tree(dir.data, err);
    }
    buf_free(&dir);
    return rc;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int workspace_client_list(const char *home, workspace_client_fn fn, void *ud, cx_error *err)
{
    buf clients = BUF_INIT;
    buf_printf(&clients, "%s/clients", home);
    uv_fs_t req;
    uv_dirent_t ent;
    int n = uv_fs_scandir(NULL, &req, clients.data, 0, NULL);
    buf_free(&clients);
    if (n == UV_ENOENT) {
        uv_fs_req_cleanup(&req);
        return 0;
    }
    if (n < 0) {
        uv_fs_req_cleanup(&req);
        cx_error_set(err, "%s/clients: cannot read the folder: %s", home, uv_strerror(n));
        return -1;
    }
    char **names = calloc((size_t)n + 1, sizeof *names);
    size_t count = 0;
    while (names && uv_fs_scandir_next(&req, &ent) != UV_EOF)
        if (workspace_check_client_name(ent.name, NULL) == 0 && workspace_client_exists(home, ent.name))
            names[count++] = strdup(ent.name);
    uv_fs_req_cleanup(&req);
    if (!names) {
        cx_error_set(err, "out of memory");
        return -1;
    }
    qsort(names, count, sizeof *names, compare_strings);
    for (size_t i = 0; i < count; i++) {
        fn(ud, names[i]);
        free(names[i]);
    }
    free(names);
    return 0;
}
