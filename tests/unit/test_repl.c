/* test_repl.c: the REPL's language on a real session (statements, values,
 * query boxes, multi-line input, dot commands, completion), reloading a
 * session's plugins (a failed reload keeps the running ones; plugin timers
 * follow their plugins) and the service's line parser. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cxhost/buf.h"
#include "cxhost/loop.h"
#include "cxhost/reader.h"
#include "cxhost/repl.h"
#include "cxhost/session.h"
#include "cxhost/workspace.h"

static buf output, errors;

static void collect(void *ud, int is_error, const char *text, size_t len)
{
    (void)ud;
    buf_add(is_error ? &errors : &output, text, len);
}

/* Feeds one line; output and errors hold what it wrote. */
static repl_status feed(repl *r, const char *line)
{
    buf_clear(&output);
    buf_clear(&errors);
    return repl_feed(r, line, collect, NULL);
}

static buf matches;

static void add_match(void *ud, const char *m)
{
    (void)ud;
    buf_printf(&matches, "%s%s", matches.len ? " " : "", m);
}

static const char *complete(repl *r, const char *text)
{
    buf_clear(&matches);
    repl_complete(r, text, add_match, NULL);
    return buf_str(&matches);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_statements(repl *r)
{
    CHECK_EQ_INT(feed(r, "1 + 1"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "2\n");
    CHECK_EQ_INT(feed(r, "   "), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "");
    CHECK_EQ_INT(feed(r, "greeting = 'hello'"), REPL_DONE);
    CHECK_EQ_INT(feed(r, "greeting, #greeting"), REPL_DONE);   /* globals stay; strings as they are */
    CHECK_EQ_STR(buf_str(&output), "hello\n5\n");
    CHECK_EQ_INT(feed(r, "print('a', 1)"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "a\t1\n");
    CHECK_EQ_INT(feed(r, "{1, 'two', {x = 3}}"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "{ 1, \"two\", { x = 3 } }\n");

    /* multi-line */
    CHECK_EQ_STR(repl_prompt(r), "acme> ");
    CHECK_EQ_INT(feed(r, "function twice(n)"), REPL_MORE);
    CHECK_EQ_STR(repl_prompt(r), "acme>> ");
    CHECK_EQ_INT(feed(r, "  return 2 * n"), REPL_MORE);
    CHECK_EQ_INT(feed(r, "end"), REPL_DONE);
    CHECK_EQ_STR(repl_prompt(r), "acme> ");
    CHECK_EQ_INT(feed(r, "twice(21)"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "42\n");
    CHECK_EQ_INT(feed(r, "s = [[one"), REPL_MORE);            /* an open long string goes on too */
    CHECK_EQ_INT(feed(r, "two]]"), REPL_DONE);
    CHECK_EQ_INT(feed(r, "s"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "one\ntwo\n");
    CHECK_EQ_INT(feed(r, "if true then"), REPL_MORE);
    repl_reset(r);                                          /* Ctrl-C at the prompt */
    CHECK_EQ_STR(repl_prompt(r), "acme> ");
    CHECK_EQ_INT(feed(r, "3"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "3\n");

    /* errors */
    CHECK_EQ_INT(feed(r, "x = = 1"), REPL_FAILED);
    CHECK_CONTAINS(buf_str(&errors), "repl:1:");
    CHECK_CONTAINS(buf_str(&errors), "unexpected symbol");
    CHECK_EQ_INT(feed(r, "error('boom')"), REPL_FAILED);
    CHECK_CONTAINS(buf_str(&errors), "boom");
    CHECK_CONTAINS(buf_str(&errors), "stack traceback");
    CHECK_EQ_INT(feed(r, "undefined_name"), REPL_FAILED);
    CHECK_CONTAINS(buf_str(&errors), "undefined_name");
    CHECK_EQ_INT(feed(r, "io.open('x')"), REPL_FAILED);      /* the REPL is sandboxed as scripts are */
}

static void test_query_box(repl *r)
{
    CHECK_EQ_INT(feed(r, "cx.query(\"SELECT 1 AS n, 'Zoë' AS name UNION ALL SELECT 22, NULL\")"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output),
                 "┌────┬──────┐\n"
                 "│ n  │ name │\n"
                 "├────┼──────┤\n"
                 "│  1 │ Zoë  │\n"
                 "│ 22 │      │\n"
                 "└────┴──────┘\n"
                 "(2 rows)\n");
    CHECK_EQ_INT(feed(r, "#cx.query('SELECT 1 WHERE 0')"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "0\n");
    /* a copy of the rows is a plain table again */
    CHECK_EQ_INT(feed(r, "local rows = cx.query('SELECT 7 AS n') return {rows[1]}"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "{ { n = 7 } }\n");
}

static void test_dot_commands(repl *r)
{
    CHECK_EQ_INT(feed(r, ".help"), REPL_DONE);
    CHECK_CONTAINS(buf_str(&output), ".timer");
    CHECK_EQ_INT(feed(r, ".plugins"), REPL_DONE);
    CHECK_CONTAINS(buf_str(&output), "loyalty");
    CHECK_EQ_INT(feed(r, ".clients"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "* acme\n  other\n");
    CHECK_EQ_INT(feed(r, ".use other"), REPL_FAILED);        /* this repl may not switch */
    CHECK_CONTAINS(buf_str(&errors), "cxhost repl --client other");
    CHECK_EQ_INT(feed(r, ".timer"), REPL_DONE);
    CHECK_CONTAINS(buf_str(&output), "no timers");
    CHECK_EQ_INT(feed(r, "cx.every(60, function() end)"), REPL_DONE);
    CHECK_EQ_INT(feed(r, ".timer"), REPL_DONE);
    CHECK_CONTAINS(buf_str(&output), "every  60 s");
    CHECK_CONTAINS(buf_str(&output), "repl");
    CHECK_EQ_INT(feed(r, "cx.cancel(1), cx.cancel(1)"), REPL_DONE);
    CHECK_EQ_STR(buf_str(&output), "true\nfalse\n");
    CHECK_EQ_INT(feed(r, ".nonsense"), REPL_FAILED);
    CHECK_CONTAINS(buf_str(&errors), "unknown command .nonsense");
    CHECK_EQ_INT(feed(r, ".quit"), REPL_QUIT);
}

static void test_completion(repl *r)
{
    CHECK_EQ_STR(complete(r, "cx.exp"), "cx.experience");
    CHECK_EQ_STR(complete(r, "cx.time.i"), "cx.time.iso");
    CHECK_EQ_STR(complete(r, "pri"), "print");
    CHECK_EQ_STR(complete(r, "whi"), "while");
    CHECK_EQ_STR(complete(r, "string.up"), "string.upper");
    CHECK_EQ_STR(complete(r, ".pl"), ".plugins");
    CHECK_EQ_STR(complete(r, "greet"), "greeting");           /* the REPL's own globals */
    CHECK_EQ_STR(complete(r, "greeting:up"), "greeting:upper");
    CHECK_EQ_STR(complete(r, "nothing.here"), "");
    CHECK_EQ_STR(complete(r, "cx.time.iso.x"), "");
}

/* A reload that fails leaves the running plugins; one that works takes the
 * old plugins' timers with it. */
static void test_reload(session *s, const char *plugins)
{
    buf path = BUF_INIT;
    cx_error err;
    int builtins = plugin_count(session_plugins(s));
    buf_printf(&path, "%s/ticker.lua", plugins);
    write_file(path.data, "return { name = 'ticker', version = '1', on_load = function(ctx) "
                          "cx.every(3600, function() end) end }\n");
    CHECK(session_reload(s, &err) == 0);
    CHECK_EQ_INT(plugin_count(session_plugins(s)), builtins + 1);
    loop_timers *t = session_timers(s);
    int scripts = loop_timers_count(t) - 1;
    CHECK(scripts >= 0);
    write_file(path.data, "return { name = 'ticker', version = '2', on_load = function(ctx) end }\n");
    CHECK(session_reload(s, &err) == 0);
    CHECK_EQ_INT(loop_timers_count(t), scripts);              /* version 1's timer went with it */
    write_file(path.data, "return { name = 'ticker', version = '3', on_load = function(ctx) "
                          "cx.every(3600, function() end); error('no') end }\n");
    CHECK(session_reload(s, &err) < 0);
    CHECK_CONTAINS(err.text, "no");
    CHECK_EQ_INT(loop_timers_count(t), scripts);              /* the failed version's timer is gone */
    plugin_info info;
    int found = 0;
    for (int i = 0; i < plugin_count(session_plugins(s)); i++) {
        plugin_get_info(session_plugins(s), i, &info);
        if (strcmp(info.name, "ticker") == 0)
            found = strcmp(info.version, "2") == 0;
    }
    CHECK(found);                                             /* version 2 still runs */
    remove(path.data);
    CHECK(session_reload(s, &err) == 0);
    CHECK_EQ_INT(plugin_count(session_plugins(s)), builtins);
    buf_free(&path);
}

static void test_parse_line(void)
{
    reader *r = reader_open_lines("connection 7");
    cx_event ev;
    cx_error err;
    const char *line = "{\"id\":\"e1\",\"type\":\"purchase\",\"customer\":\"c\",\"at\":\"2026-01-02T03:04:05Z\","
                       "\"amount\":\"1.50\",\"sku\":\"x\"}\r";
    CHECK_EQ_INT(reader_parse_line(r, line, strlen(line), 3, &ev, &err), 1);
    CHECK_EQ_STR(ev.id, "e1");
    CHECK_EQ_INT(ev.amount_cents, 150);
    CHECK_EQ_STR(ev.data_json, "{\"sku\":\"x\"}");
    CHECK_EQ_INT(reader_parse_line(r, "  ", 2, 4, &ev, &err), 0);
    line = "{\"id\":\"e2\",\"type\":\"purchase\",\"at\":\"yesterday\"}";
    CHECK_EQ_INT(reader_parse_line(r, line, strlen(line), 5, &ev, &err), -1);
    CHECK_CONTAINS(err.text, "connection 7:5: at 'yesterday'");
    CHECK_EQ_STR(reader_last_id(r), "e2");
    line = "{\"id\":\"e3\",\"type\":";
    CHECK_EQ_INT(reader_parse_line(r, line, strlen(line), 6, &ev, &err), -1);
    CHECK_CONTAINS(err.text, "connection 7:6: not a JSON object");
    CHECK(reader_last_id(r) == NULL);                         /* a broken line's id is not trusted */
    reader_close(r);
}

int main(void)
{
    char home[] = "/tmp/cxhost-test-repl-XXXXXX";
    cx_error err;
    if (!mkdtemp(home) || workspace_client_add(home, "acme", &err) < 0 || workspace_client_add(home, "other", &err) < 0) {
        fprintf(stderr, "cannot make a workspace in /tmp\n");
        return 1;
    }
    session *s = NULL;
    if (session_open(home, "acme", &s, &err) < 0) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    repl *r = repl_new(&s, 0);
    test_statements(r);
    test_query_box(r);
    test_completion(r);
    test_dot_commands(r);
    repl_free(r);
    buf plugins = BUF_INIT;
    workspace_client_path(home, "acme", "plugins", &plugins);
    test_reload(s, plugins.data);
    buf_free(&plugins);
    test_parse_line();
    session_close(s);
    loop_finish();
    workspace_client_remove(home, "acme", &err);
    workspace_client_remove(home, "other", &err);
    remove(home);
    buf_free(&output);
    buf_free(&errors);
    buf_free(&matches);
    return CHECK_DONE();
}
