/* repl.c: the REPL's language; see repl.h.
 *
 * As lua.c does, a statement is first tried as an expression ("return "
 * before it), then as statements; a syntax error at <eof> means it is not
 * finished yet. The REPL's globals are one sandbox environment per session,
 * kept in the registry. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include "cxhost/buf.h"
#include "cxhost/cxlib.h"
#include "cxhost/repl.h"
#include "cxhost/utc.h"
#include "cxhost/workspace.h"

#define SHOW_WIDTH 78
#define ROWS_SHOWN_MAX 1000

struct repl {
    session **sp;
    int can_switch;
    int env_ref;              /* the REPL's globals (LUA_NOREF until first used) */
    buf pending;              /* the statement typed so far */
    long line;                /* lines fed */
    long first_line;          /* the pending statement's first line */
    char chunkname[64];
    int count_lines;
    char prompt[96];
    repl_write_fn write;      /* where the running line's output goes */
    void *write_ud;
};

static const char *const dot_commands[] = {".help", ".plugins", ".reload", ".clients", ".use", ".timer", ".quit", NULL};

repl *repl_new(session **s, int can_switch)
{
    repl *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->sp = s;
    r->can_switch = can_switch;
    r->env_ref = LUA_NOREF;
    snprintf(r->chunkname, sizeof r->chunkname, "=repl");
    return r;
}

static void drop_env(repl *r)
{
    if (r->env_ref != LUA_NOREF && *r->sp)
        luaL_unref(luahost_state(session_lua(*r->sp)), LUA_REGISTRYINDEX, r->env_ref);
    r->env_ref = LUA_NOREF;
}

void repl_free(repl *r)
{
    if (!r)
        return;
    drop_env(r);
    buf_free(&r->pending);
    free(r);
}

void repl_set_chunkname(repl *r, const char *name, int count_lines)
{
    snprintf(r->chunkname, sizeof r->chunkname, "=%s", name);
    r->count_lines = count_lines;
}

void repl_reset(repl *r) { buf_clear(&r->pending); }
session *repl_session(repl *r) { return *r->sp; }

const char *repl_prompt(repl *r)
{
    snprintf(r->prompt, sizeof r->prompt, "%s%s ", session_client(*r->sp), r->pending.len ? ">>" : ">");
    return r->prompt;
}

/* Pushes the REPL's globals, made on first use. [-0, +1, m] */
static void push_env(repl *r)
{
    luahost *h = session_lua(*r->sp);
    lua_State *L = luahost_state(h);
    if (r->env_ref == LUA_NOREF) {
        luahost_push_sandbox(h, "repl");
        r->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->env_ref);
}

static void say(repl *r, int is_error, const char *text)
{
    r->write(r->write_ud, is_error, text, strlen(text));
}

static void sayf(repl *r, int is_error, const char *fmt, ...) CX_PRINTF(3, 4);
static void sayf(repl *r, int is_error, const char *fmt, ...)
{
    buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    r->write(r->write_ud, is_error, b.data ? b.data : "", b.len);
    buf_free(&b);
}

/* print() while a line of this REPL runs. */
static void repl_print(void *ud, const char *owner, const char *line)
{
    repl *r = ud;
    (void)owner;
    sayf(r, 0, "%s\n", line);
}

/* --- showing values ---------------------------------------------------------------- */

/* Columns a UTF-8 text takes (one per code point). */
static size_t text_width(const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

/* The text of the value at idx in a table cell: nil is empty. [-0, +1, e] */
static const char *cell_text(lua_State *L, int idx, size_t *len)
{
    if (lua_isnil(L, idx)) {
        lua_pushliteral(L, "");
        return lua_tolstring(L, -1, len);
    }
    return luaL_tolstring(L, idx, len);
}

static void add_rule(buf *out, const size_t *widths, int ncols, const char *left, const char *mid, const char *right)
{
    buf_add_str(out, left);
    for (int c = 0; c < ncols; c++) {
        for (size_t i = 0; i < widths[c] + 2; i++)
            buf_add_str(out, "\xe2\x94\x80");   /* ─ */
        buf_add_str(out, c + 1 < ncols ? mid : right);
    }
    buf_add_char(out, '\n');
}

static void add_cell(buf *out, const char *s, size_t len, size_t width, int right_align)
{
    size_t pad = width - text_width(s, len);
    buf_add_str(out, "\xe2\x94\x82 ");           /* │ */
    if (right_align)
        buf_printf(out, "%*s", (int)pad, "");
    buf_add(out, s, len);
    if (!right_align)
        buf_printf(out, "%*s", (int)pad, "");
    buf_add_char(out, ' ');
}

/* The rows at idx (a cx.query result) as a box with the column names at
 * cols on top, numbers right-aligned. [-0, +0, e] */
static void show_rows(lua_State *L, int idx, int cols, buf *out)
{
    int ncols = (int)lua_rawlen(L, cols);
    if (ncols == 0) {
        buf_add_str(out, "(0 rows)\n");
        return;
    }
    lua_Integer nrows = (lua_Integer)lua_rawlen(L, idx), shown = nrows < ROWS_SHOWN_MAX ? nrows : ROWS_SHOWN_MAX;
    size_t *widths = calloc((size_t)ncols + 1, sizeof *widths);
    int *numeric = calloc((size_t)ncols + 1, sizeof *numeric);
    if (!widths || !numeric) {
        free(widths);
        free(numeric);
        luaL_error(L, "out of memory");
    }
    for (int c = 0; c < ncols; c++) {
        size_t len;
        lua_rawgeti(L, cols, c + 1);
        const char *name = lua_tolstring(L, -1, &len);
        widths[c] = text_width(name, len);
        numeric[c] = 1;
        lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= shown; i++) {
        lua_rawgeti(L, idx, i);                          /* [row] */
        for (int c = 0; c < ncols; c++) {
            lua_rawgeti(L, cols, c + 1);
            lua_rawget(L, -2);                           /* [row, v] */
            if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER)
                numeric[c] = 0;
            size_t len;
            const char *s = cell_text(L, -1, &len);      /* [row, v, text] */
            size_t w = text_width(s, len);
            if (w > widths[c])
                widths[c] = w;
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
    add_rule(out, widths, ncols, "\xe2\x94\x8c", "\xe2\x94\xac", "\xe2\x94\x90");   /* ┌ ┬ ┐ */
    for (int c = 0; c < ncols; c++) {
        size_t len;
        lua_rawgeti(L, cols, c + 1);
        const char *name = lua_tolstring(L, -1, &len);
        add_cell(out, name, len, widths[c], 0);
        lua_pop(L, 1);
    }
    buf_add_str(out, "\xe2\x94\x82\n");
    add_rule(out, widths, ncols, "\xe2\x94\x9c", "\xe2\x94\xbc", "\xe2\x94\xa4");   /* ├ ┼ ┤ */
    for (lua_Integer i = 1; i <= shown; i++) {
        lua_rawgeti(L, idx, i);
        for (int c = 0; c < ncols; c++) {
            lua_rawgeti(L, cols, c + 1);
            lua_rawget(L, -2);
            size_t len;
            const char *s = cell_text(L, -1, &len);
            add_cell(out, s, len, widths[c], numeric[c]);
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
        buf_add_str(out, "\xe2\x94\x82\n");
    }
    add_rule(out, widths, ncols, "\xe2\x94\x94", "\xe2\x94\xb4", "\xe2\x94\x98");   /* └ ┴ ┘ */
    if (shown < nrows)
        buf_printf(out, "(%lld rows, the first %lld shown)\n", (long long)nrows, (long long)shown);
    else
        buf_printf(out, "(%lld row%s)\n", (long long)nrows, nrows == 1 ? "" : "s");
    free(widths);
    free(numeric);
}

/* [-2, +0, e]: the value and the buffer (light userdata). */
static int show_protected(lua_State *L)
{
    buf *out = lua_touserdata(L, 2);
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, 1, &len);
        buf_add(out, s, len);
        buf_add_char(out, '\n');
    } else if (cxlib_push_query_columns(L, 1)) {      /* [v, out, cols] */
        show_rows(L, 1, 3, out);
    } else {
        luahost_describe_lines(L, 1, SHOW_WIDTH, out);
        buf_add_char(out, '\n');
    }
    return 0;
}

/* Shows the value at idx: strings as they are, query results as a box,
 * the rest as luahost_describe_lines. [-0, +0, -] */
static void show_value(repl *r, lua_State *L, int idx)
{
    buf out = BUF_INIT;
    lua_pushcfunction(L, show_protected);
    lua_pushvalue(L, idx);
    lua_pushlightuserdata(L, &out);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        buf_clear(&out);
        buf_printf(&out, "<cannot show it: %s>\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
        lua_pop(L, 1);
    }
    r->write(r->write_ud, 0, buf_str(&out), out.len);
    buf_free(&out);
}

/* --- running a statement -------------------------------------------------------------- */

/* Whether a compile error says the text ended too soon. */
static int incomplete(const char *msg)
{
    static const char eof[] = "<eof>";
    size_t len = msg ? strlen(msg) : 0;
    return len >= sizeof eof - 1 && strcmp(msg + len - (sizeof eof - 1), eof) == 0;
}

/* Compiles the pending statement: 1 with the function pushed, 0 when it
 * goes on, -1 after writing the error. [-0, +(0|1), -] */
static int compile_pending(repl *r, lua_State *L)
{
    buf text = BUF_INIT;
    for (long i = 1; r->count_lines && i < r->first_line; i++)
        buf_add_char(&text, '\n');
    size_t lead = text.len;
    buf_add_str(&text, "return ");
    buf_add(&text, buf_str(&r->pending), r->pending.len);
    buf_add_char(&text, ';');
    if (luaL_loadbufferx(L, text.data, text.len, r->chunkname, "t") == LUA_OK) {
        buf_free(&text);
        return 1;
    }
    lua_pop(L, 1);
    text.len = lead;
    buf_add(&text, buf_str(&r->pending), r->pending.len);
    int status = luaL_loadbufferx(L, text.data, text.len, r->chunkname, "t");
    buf_free(&text);
    if (status == LUA_OK)
        return 1;
    const char *msg = lua_tostring(L, -1);
    if (status == LUA_ERRSYNTAX && incomplete(msg)) {
        lua_pop(L, 1);
        return 0;
    }
    sayf(r, 1, "%s\n", msg ? msg : "cannot compile it");
    lua_pop(L, 1);
    return -1;
}

static repl_status run_pending(repl *r)
{
    session *s = *r->sp;
    luahost *h = session_lua(s);
    lua_State *L = luahost_state(h);
    int base = lua_gettop(L);
    push_env(r);                                           /* [env] */
    int compiled = compile_pending(r, L);                  /* [env, fn?] */
    if (compiled == 0) {
        lua_settop(L, base);
        return REPL_MORE;
    }
    buf_clear(&r->pending);
    if (compiled < 0) {
        lua_settop(L, base);
        return REPL_FAILED;
    }
    lua_pushvalue(L, -2);
    lua_setupvalue(L, -2, 1);                              /* its _ENV: the REPL's globals */
    luahost_print_fn old_fn;
    void *old_ud;
    session_get_print_redirect(s, &old_fn, &old_ud);
    session_redirect_print(s, repl_print, r);
    cx_error err;
    int rc = luahost_call(h, 0, LUA_MULTRET, "", &err);  /* [env, results...] */
    session_redirect_print(s, old_fn, old_ud);
    if (rc < 0) {
        sayf(r, 1, "%s\n", err.text);
        lua_settop(L, base);
        return REPL_FAILED;
    }
    for (int i = base + 2; i <= lua_gettop(L); i++)
        show_value(r, L, i);
    lua_settop(L, base);
    return REPL_DONE;
}

/* --- dot commands -------------------------------------------------------------------------- */

static void show_client(void *ud, const char *name)
{
    repl *r = ud;
    sayf(r, 0, "%s %s\n", strcmp(name, session_client(*r->sp)) == 0 ? "*" : " ", name);
}

static void show_timer(void *ud, const loop_timer_info *t)
{
    repl *r = ud;
    char next[UTC_TEXT_SIZE], period[32] = "";
    utc_format(t->next, next);
    if (strcmp(t->kind, "at") != 0)
        snprintf(period, sizeof period, "%g s", t->seconds);
    sayf(r, 0, "%4d  %-5s  %-9s  %-20s  %6lld  %8lld  %s\n", t->id, t->kind, period, next, (long long)t->runs,
         (long long)t->failures, t->owner);
}

static repl_status dot_use(repl *r, const char *name)
{
    if (!*name) {
        say(r, 1, ".use: which client? (.use NAME; .clients lists them)\n");
        return REPL_FAILED;
    }
    if (!r->can_switch) {
        sayf(r, 1, ".use: this REPL is attached to the service of client '%s'; open a REPL of its own "
                   "for another client (cxhost repl --client %s)\n", session_client(*r->sp), name);
        return REPL_FAILED;
    }
    session *next;
    cx_error err;
    if (session_open(session_home(*r->sp), name, &next, &err) < 0) {
        sayf(r, 1, ".use: %s\n", err.text);
        return REPL_FAILED;
    }
    drop_env(r);
    session_close(*r->sp);
    *r->sp = next;
    sayf(r, 0, "now on client '%s' (%d plugins)\n", name, plugin_count(session_plugins(next)));
    return REPL_DONE;
}

static repl_status dot_command(repl *r, const char *line)
{
    char word[16];
    size_t n = 0;
    while (line[n] && !isspace((unsigned char)line[n]) && n < sizeof word - 1) {
        word[n] = line[n];
        n++;
    }
    word[n] = '\0';
    const char *rest = line + n;
    while (isspace((unsigned char)*rest))
        rest++;
    char arg[128];
    snprintf(arg, sizeof arg, "%s", rest);
    for (size_t len = strlen(arg); len && isspace((unsigned char)arg[len - 1]); len--)
        arg[len - 1] = '\0';
    session *s = *r->sp;
    cx_error err;
    if (strcmp(word, ".help") == 0) {
        say(r, 0, "Type Lua: cx.customer(\"42\"), cx.query(\"SELECT type, count(*) AS n FROM events GROUP BY 1\").\n"
                  "An expression's value is shown; a statement left open goes on at the next line.\n"
                  "  .help          this text\n"
                  "  .plugins       the loaded plugins, in the order they run\n"
                  "  .reload        load config.lua and the plugins again\n"
                  "  .clients       the clients of the workspace (* the one in use)\n"
                  "  .use CLIENT    work on another client\n"
                  "  .timer         the timers set with cx.every, cx.after, cx.at (or .timers)\n"
                  "  .quit          leave (or .exit, or Ctrl-D)\n"
                  "Tab completes names (cx.exp<TAB>); Ctrl-C stops a running statement or clears the line.\n");
        return REPL_DONE;
    }
    if (strcmp(word, ".plugins") == 0) {
        plugin_set *ps = session_plugins(s);
        sayf(r, 0, "%-14s %-10s %-9s %5s  %s\n", "name", "version", "origin", "order", "file");
        for (int i = 0; i < plugin_count(ps); i++) {
            plugin_info info;
            plugin_get_info(ps, i, &info);
            sayf(r, 0, "%-14s %-10s %-9s %5d  %s%s\n", info.name, info.version, info.origin, info.order, info.path,
                 info.replaces_builtin ? "  (replaces the built-in)" : "");
        }
        return REPL_DONE;
    }
    if (strcmp(word, ".reload") == 0) {
        if (session_reload(s, &err) < 0) {
            sayf(r, 1, ".reload: %s\nthe previous plugins keep running\n", err.text);
            return REPL_FAILED;
        }
        sayf(r, 0, "reloaded config.lua and %d plugins\n", plugin_count(session_plugins(s)));
        return REPL_DONE;
    }
    if (strcmp(word, ".clients") == 0) {
        if (workspace_client_list(session_home(s), show_client, r, &err) < 0) {
            sayf(r, 1, ".clients: %s\n", err.text);
            return REPL_FAILED;
        }
        return REPL_DONE;
    }
    if (strcmp(word, ".use") == 0)
        return dot_use(r, arg);
    if (strcmp(word, ".timer") == 0 || strcmp(word, ".timers") == 0) {
        loop_timers *t = session_timers(s);
        if (!loop_timers_count(t)) {
            say(r, 0, "no timers (set one with cx.every, cx.after or cx.at)\n");
            return REPL_DONE;
        }
        sayf(r, 0, "%4s  %-5s  %-9s  %-20s  %6s  %8s  %s\n", "id", "kind", "every", "next", "runs", "failures",
             "set by");
        loop_timers_each(t, show_timer, r);
        return REPL_DONE;
    }
    if (strcmp(word, ".quit") == 0 || strcmp(word, ".exit") == 0)
        return REPL_QUIT;
    sayf(r, 1, "unknown command %s (.help lists them)\n", word);
    return REPL_FAILED;
}

repl_status repl_feed(repl *r, const char *line, repl_write_fn write, void *ud)
{
    r->write = write;
    r->write_ud = ud;
    r->line++;
    if (!r->pending.len) {
        const char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            return REPL_DONE;
        if (*p == '.')
            return dot_command(r, p);
        r->first_line = r->line;
    } else {
        buf_add_char(&r->pending, '\n');
    }
    buf_add_str(&r->pending, line);
    return run_pending(r);
}

/* --- completion ---------------------------------------------------------------------------- */

/* Adds base (base_len bytes of it) followed by name. */
static void add_candidate(strlist *m, const char *base, size_t base_len, const char *name)
{
    buf b = BUF_INIT;
    buf_add(&b, base, base_len);
    buf_add_str(&b, name);
    strlist_add(m, buf_str(&b), b.len);
    buf_free(&b);
}

static int compare_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_name(const char *s, size_t len)
{
    if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

/* Adds the string keys of the table at idx (and of its __index tables)
 * that start with prefix. [-0, +0, -] */
static void add_keys(lua_State *L, int idx, const char *prefix, const char *base, size_t base_len, strlist *m)
{
    size_t plen = strlen(prefix);
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    for (int level = 0; level < 4 && lua_type(L, -1) == LUA_TTABLE; level++) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            size_t len;
            if (lua_type(L, -2) == LUA_TSTRING) {
                const char *key = lua_tolstring(L, -2, &len);
                if (is_name(key, len) && strncmp(key, prefix, plen) == 0)
                    add_candidate(m, base, base_len, key);
            }
            lua_pop(L, 1);
        }
        if (!lua_getmetatable(L, -1))
            break;
        lua_getfield(L, -1, "__index");     /* [t, mt, index] */
        lua_remove(L, -2);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
}

/* Looks name up in the table at the top (raw, then through __index
 * tables), replacing the table with the value. [-1, +1, -] */
static void lookup(lua_State *L, const char *name, size_t len)
{
    for (int level = 0; level < 4; level++) {
        lua_pushlstring(L, name, len);
        lua_rawget(L, -2);                  /* [t, v] */
        if (!lua_isnil(L, -1) || !lua_getmetatable(L, -2)) {
            lua_remove(L, -2);
            return;
        }
        lua_getfield(L, -1, "__index");     /* [t, nil, mt, index] */
        lua_replace(L, -4);
        lua_pop(L, 2);                      /* [index] */
        if (lua_type(L, -1) != LUA_TTABLE)
            return;
    }
}

void repl_complete(repl *r, const char *text, repl_match_fn add, void *ud)
{
    static const char *const keywords[] = {"and", "break", "do", "else", "elseif", "end", "false", "for",
                                           "function", "goto", "if", "in", "local", "nil", "not", "or",
                                           "repeat", "return", "then", "true", "until", "while", NULL};
    strlist m = STRLIST_INIT;
    if (text[0] == '.' && !r->pending.len) {
        for (int i = 0; dot_commands[i]; i++)
            if (strncmp(dot_commands[i], text, strlen(text)) == 0)
                add_candidate(&m, "", 0, dot_commands[i]);
    } else {
        lua_State *L = luahost_state(session_lua(*r->sp));
        int top = lua_gettop(L);
        const char *last = NULL;
        for (const char *p = text; *p; p++)
            if (*p == '.' || *p == ':')
                last = p;
        push_env(r);                                          /* [env] */
        const char *prefix = text;
        size_t base_len = 0;
        int ok = 1;
        if (last) {
            /* walk the path before the last separator: cx.experience.x */
            const char *p = text;
            while (ok && p < last) {
                const char *end = p;
                while (end < last && *end != '.' && *end != ':')
                    end++;
                if (!is_name(p, (size_t)(end - p)) || lua_type(L, -1) != LUA_TTABLE) {
                    ok = 0;
                    break;
                }
                lookup(L, p, (size_t)(end - p));
                p = end + 1;
            }
            if (ok && *last == ':' && lua_type(L, -1) == LUA_TSTRING) {
                lua_pop(L, 1);
                push_env(r);
                lookup(L, "string", 6);                       /* a string's methods */
            }
            prefix = last + 1;
            base_len = (size_t)(last - text) + 1;
        } else {
            for (int i = 0; keywords[i]; i++)
                if (strncmp(keywords[i], text, strlen(text)) == 0)
                    add_candidate(&m, "", 0, keywords[i]);
        }
        if (ok && lua_type(L, -1) == LUA_TTABLE)
            add_keys(L, -1, prefix, text, base_len, &m);
        lua_settop(L, top);
    }
    if (m.n)
        qsort(m.items, m.n, sizeof *m.items, compare_text);
    for (size_t i = 0; i < m.n; i++) {
        if (i == 0 || strcmp(m.items[i], m.items[i - 1]) != 0)
            add(ud, m.items[i]);
    }
    strlist_free_from(&m, 0);
}
