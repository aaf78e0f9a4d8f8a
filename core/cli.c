/* cli.c: the cxhost command: arguments, help, and one function per command.
 * Exit status: 0 done, 1 failed (the message says why), 2 wrong usage. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include "embedded.h"
#include "cxhost/buf.h"
#include "cxhost/cli.h"
#include "cxhost/console.h"
#include "cxhost/ingest.h"
#include "cxhost/progress.h"
#include "cxhost/loop.h"
#include "cxhost/reader.h"
#include "cxhost/service.h"
#include "cxhost/session.h"
#include "cxhost/utc.h"
#include "cxhost/workspace.h"

#ifndef CXHOST_VERSION
#define CXHOST_VERSION "0"
#endif

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* The instruction budget of a built-in report, at the least (see cmd_report). */
#define REPORT_INSTRUCTIONS 2000000000LL

/* What the command line said, after the command's name. */
struct args {
    const char *home;
    const char *client;
    const char *format;
    const char *skip_bad;
    const char *as_of;
    const char *event;       /* explain */
    const char *purchase;    /* refund request */
    const char *amount;
    const char *reason;
    const char *id;
    const char *at;
    const char *listen;      /* serve */
    const char *repl;
    const char *max_line;
    const char *connect;     /* repl */
    const char *output;      /* report -o */
    const char *calibration_end;   /* report value */
    const char *horizon;
    const char *period;      /* campaign */
    const char *source;      /* campaign: the file's text, read here */
    int dry_run;
    int no_watch;
    int nlines;
    const char *lines[64];   /* --line SKU[:QTY], repeatable */
    int yes;
    int no_progress;
    int help;
    int npositional;
    const char *positional[64];
};

struct command {
    const char *name;
    int (*run)(struct args *a);
    const char *usage;
    const char *help;
};

static const struct command *find_command(const char *name);

static void print_error(const char *text)
{
    fflush(stdout);   /* what a script printed before it failed comes first */
    fprintf(stderr, "cxhost: %s\n", text);
}

/* "12,345" */
static const char *grouped(long long n, char out[32])
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", n < 0 ? -n : n), j = 0;
    if (n < 0)
        out[j++] = '-';
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            out[j++] = ',';
        out[j++] = digits[i];
    }
    out[j] = '\0';
    return out;
}

static int need_client(struct args *a, const char *command)
{
    if (a->client)
        return 0;
    fprintf(stderr, "cxhost %s: which client? give --client NAME (see cxhost %s --help)\n", command, command);
    return -1;
}

static int open_session(struct args *a, session **s)
{
    cx_error err;
    if (session_open(workspace_home(a->home), a->client, s, &err) < 0) {
        print_error(err.text);
        return -1;
    }
    return 0;
}

/* --- client ---------------------------------------------------------------------- */

static void print_line(void *ud, const char *name)
{
    (void)ud;
    printf("%s\n", name);
}

static int cmd_client(struct args *a)
{
    const char *home = workspace_home(a->home);
    const char *verb = a->npositional > 0 ? a->positional[0] : NULL;
    cx_error err;
    if (verb && strcmp(verb, "list") == 0 && a->npositional == 1) {
        if (workspace_client_list(home, print_line, NULL, &err) < 0) {
            print_error(err.text);
            return EXIT_FAILED;
        }
        return EXIT_OK;
    }
    if (verb && strcmp(verb, "add") == 0 && a->npositional == 2) {
        if (workspace_client_add(home, a->positional[1], &err) < 0) {
            print_error(err.text);
            return EXIT_FAILED;
        }
        printf("client '%s' added: %s/clients/%s\n", a->positional[1], home, a->positional[1]);
        return EXIT_OK;
    }
    if (verb && strcmp(verb, "remove") == 0 && a->npositional == 2) {
        if (!a->yes) {
            fprintf(stderr, "cxhost client remove: this deletes %s/clients/%s and all its data; "
                            "add --yes to confirm\n", home, a->positional[1]);
            return EXIT_USAGE;
        }
        if (workspace_client_remove(home, a->positional[1], &err) < 0) {
            print_error(err.text);
            return EXIT_FAILED;
        }
        printf("client '%s' removed\n", a->positional[1]);
        return EXIT_OK;
    }
    fprintf(stderr, "usage: %s\n", find_command("client")->usage);
    return EXIT_USAGE;
}

/* --- import ----------------------------------------------------------------------- */

static int choose_format(const char *file, const char *flag, reader_format *fmt)
{
    if (flag) {
        if (reader_format_from_name(flag, fmt) == 0)
            return 0;
        fprintf(stderr, "cxhost import: unknown format '%s' (csv, ndjson or cdnow)\n", flag);
        return -1;
    }
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (strncmp(base, "CDNOW", 5) == 0) {
        *fmt = READER_CDNOW;
        return 0;
    }
    if (strcmp(file, "-") != 0 && reader_format_guess(file, fmt) == 0)
        return 0;
    fprintf(stderr, "cxhost import: cannot tell the format of %s; give --format csv|ndjson|cdnow\n", file);
    return -1;
}

static int cmd_import(struct args *a)
{
    if (need_client(a, "import") < 0)
        return EXIT_USAGE;
    if (a->npositional != 1) {
        fprintf(stderr, "usage: %s\n", find_command("import")->usage);
        return EXIT_USAGE;
    }
    const char *file = a->positional[0];
    reader_format fmt;
    if (choose_format(file, a->format, &fmt) < 0)
        return EXIT_USAGE;

    int is_stdin = strcmp(file, "-") == 0;
    FILE *in = is_stdin ? stdin : fopen(file, "rb");
    if (!in) {
        fprintf(stderr, "cxhost: %s: cannot open it\n", file);
        return EXIT_FAILED;
    }
    struct stat st;
    uint64_t size = (!is_stdin && fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) ? (uint64_t)st.st_size : 0;

    session *s = NULL;
    FILE *rejects = NULL;
    reader *r = NULL;
    int status = EXIT_FAILED;
    cx_error err;
    if (open_session(a, &s) < 0)
        goto done;
    if (a->skip_bad && !(rejects = fopen(a->skip_bad, "w"))) {
        fprintf(stderr, "cxhost: %s: cannot write the rejected lines there\n", a->skip_bad);
        goto done;
    }
    if (!(r = reader_open(in, is_stdin ? "<stdin>" : file, fmt, &err))) {
        print_error(err.text);
        goto done;
    }
    ingest_options opts = {rejects, !a->no_progress && progress_wanted(), size};
    ingest_stats stats;
    if (ingest_file(s, r, is_stdin ? "<stdin>" : file, reader_format_name(fmt), &opts, &stats, &err) < 0) {
        print_error(err.text);
        fprintf(stderr, "cxhost: the import was taken back; nothing was written to client '%s'\n", a->client);
        goto done;
    }
    char n1[32], n2[32], n3[32], n4[32];
    printf("imported %s new event%s from %s into '%s' (%s already there, %s rejected) in %.1f s",
           grouped(stats.inserted, n1), stats.inserted == 1 ? "" : "s", is_stdin ? "<stdin>" : file, a->client, grouped(stats.duplicates, n2),
           grouped(stats.rejected, n3), stats.seconds);
    if (stats.seconds > 0.05)
        printf(", %s records/s", grouped((long long)((double)stats.records / stats.seconds), n4));
    printf("\n");
    if (stats.rejected)
        printf("rejected lines, with the reason for each: %s\n", a->skip_bad);
    status = EXIT_OK;
done:
    reader_close(r);
    if (rejects)
        fclose(rejects);
    if (!is_stdin)
        fclose(in);
    session_close(s);
    return status;
}

/* --- eval, run, report ---------------------------------------------------------------- */

/* Prints the values on the stack above base: strings as they are, others
 * rendered readably. [-0, +0, m] */
static void print_results(lua_State *L, int base)
{
    int top = lua_gettop(L);
    for (int i = base + 1; i <= top; i++) {
        if (lua_type(L, i) == LUA_TSTRING) {
            size_t len;
            const char *s = lua_tolstring(L, i, &len);
            fwrite(s, 1, len, stdout);
            fputc('\n', stdout);
        } else {
            buf out = BUF_INIT;
            luahost_describe(L, i, 8, &out);
            printf("%s\n", buf_str(&out));
            buf_free(&out);
        }
    }
}

/* Sets arg[field] to value when given. [-0, +0, m] */
static void set_arg(lua_State *L, const char *field, const char *value)
{
    if (value) {
        lua_pushstring(L, value);
        lua_setfield(L, -2, field);
    }
}

/* How run_chunk treats what the chunk returns. */
enum { RESULTS_IGNORE, RESULTS_PRINT, RESULTS_STATUS };

/* Runs a chunk in a script sandbox with its arguments in the table `arg`
 * (and the command line's options as arg.format, arg.as_of, arg.event, ...).
 * RESULTS_PRINT prints what it returns; RESULTS_STATUS takes a whole number
 * it returns as the exit status and a text after it as the error message (a
 * command written in Lua). */
static int run_chunk(session *s, const char *text, size_t len, const char *chunkname, const char *what,
                     int try_expression, int nargs, char **args, int results, const struct args *options)
{
    luahost *h = session_lua(s);
    lua_State *L = luahost_state(h);
    cx_error err;
    int base = lua_gettop(L);
    luahost_push_sandbox(h, "script");                       /* [env] */
    lua_createtable(L, nargs, 0);
    for (int i = 0; i < nargs; i++) {
        lua_pushstring(L, args[i]);
        lua_rawseti(L, -2, i + 1);
    }
    if (options) {
        set_arg(L, "format", options->format);
        set_arg(L, "as_of", options->as_of);
        set_arg(L, "event", options->event);
        set_arg(L, "purchase", options->purchase);
        set_arg(L, "amount", options->amount);
        set_arg(L, "reason", options->reason);
        set_arg(L, "id", options->id);
        set_arg(L, "at", options->at);
        set_arg(L, "period", options->period);
        set_arg(L, "calibration_end", options->calibration_end);
        set_arg(L, "horizon", options->horizon);
        set_arg(L, "source", options->source);
        if (options->dry_run) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "dry_run");
        }
        lua_createtable(L, options->nlines, 0);
        for (int i = 0; i < options->nlines; i++) {
            lua_pushstring(L, options->lines[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "lines");
    }
    lua_setfield(L, -2, "arg");
    int loaded = -1;
    if (try_expression) {
        /* As lua.c does: first as an expression, so `cx.customer("1")` prints. */
        buf expr = BUF_INIT;
        buf_printf(&expr, "return %.*s;", (int)len, text);
        loaded = luahost_load(h, buf_str(&expr), expr.len, chunkname, -1, &err);
        buf_free(&expr);
    }
    if (loaded < 0 && luahost_load(h, text, len, chunkname, -1, &err) < 0) {
        print_error(err.text);
        lua_settop(L, base);
        return EXIT_FAILED;
    }                                                        /* [env, fn] */
    if (luahost_call(h, 0, LUA_MULTRET, what, &err) < 0) {
        print_error(err.text);
        lua_settop(L, base);
        return EXIT_FAILED;
    }                                                        /* [env, results...] */
    int status = EXIT_OK;
    if (results == RESULTS_PRINT)
        print_results(L, base + 1);
    else if (results == RESULTS_STATUS && lua_gettop(L) > base + 1 && lua_isinteger(L, base + 2)) {
        status = (int)lua_tointeger(L, base + 2);
        if (lua_gettop(L) > base + 2 && lua_type(L, base + 3) == LUA_TSTRING)
            fprintf(stderr, "cxhost %s: %s\n", what, lua_tostring(L, base + 3));
    }
    lua_settop(L, base);
    fflush(stdout);
    return status;
}

static int cmd_eval(struct args *a)
{
    if (need_client(a, "eval") < 0)
        return EXIT_USAGE;
    if (a->npositional != 1) {
        fprintf(stderr, "usage: %s\n", find_command("eval")->usage);
        return EXIT_USAGE;
    }
    session *s;
    if (open_session(a, &s) < 0)
        return EXIT_FAILED;
    const char *chunk = a->positional[0];
    int status = run_chunk(s, chunk, strlen(chunk), "=(eval)", "eval", 1, 0, NULL, RESULTS_PRINT, NULL);
    session_close(s);
    return status;
}

static int cmd_run(struct args *a)
{
    if (need_client(a, "run") < 0)
        return EXIT_USAGE;
    if (a->npositional < 1) {
        fprintf(stderr, "usage: %s\n", find_command("run")->usage);
        return EXIT_USAGE;
    }
    const char *path = a->positional[0];
    buf text = BUF_INIT, chunkname = BUF_INIT, what = BUF_INIT;
    if (buf_read_file(&text, path) < 0) {
        fprintf(stderr, "cxhost: %s: cannot read it\n", path);
        buf_free(&text);
        return EXIT_FAILED;
    }
    session *s;
    if (open_session(a, &s) < 0) {
        buf_free(&text);
        return EXIT_FAILED;
    }
    buf_printf(&chunkname, "@%s", path);
    buf_printf(&what, "script %s", path);
    int status = run_chunk(s, buf_str(&text), text.len, chunkname.data, what.data, 0,
                           a->npositional - 1, (char **)a->positional + 1, RESULTS_PRINT, NULL);
    /* A script that set timers goes on until they are all done (cx.every: until Ctrl-C). */
    if (status == EXIT_OK)
        loop_run_while_timers(session_timers(s));
    session_close(s);
    buf_free(&text);
    buf_free(&chunkname);
    buf_free(&what);
    return status;
}

static const struct embedded_file *find_report(const char *name)
{
    for (const struct embedded_file *f = embedded_files; f->path; f++) {
        if (f->kind != EMBEDDED_REPORT)
            continue;
        const char *base = strrchr(f->path, '/');
        base = base ? base + 1 : f->path;
        size_t len = strlen(name);
        if (strncmp(base, name, len) == 0 && strcmp(base + len, ".lua") == 0)
            return f;
    }
    return NULL;
}

/* --as-of, when given, as Unix seconds: 0, or -1 after saying why. */
static int parse_as_of(const struct args *a, const char *command, int64_t *as_of)
{
    const char *why = NULL;
    if (a->as_of && utc_parse(a->as_of, strlen(a->as_of), as_of, &why) < 0) {
        fprintf(stderr, "cxhost %s: --as-of '%s' is not a valid time (%s)\n", command, a->as_of, why);
        return -1;
    }
    return 0;
}

/* print() of a report written to a file (-o). */
static void print_to_file(void *ud, const char *owner, const char *line)
{
    (void)owner;
    fputs(line, ud);
    fputc('\n', ud);
}

static int cmd_report(struct args *a)
{
    if (a->npositional < 1) {
        fprintf(stderr, "usage: %s\n", find_command("report")->usage);
        return EXIT_USAGE;
    }
    const struct embedded_file *f = find_report(a->positional[0]);
    if (!f) {
        fprintf(stderr, "cxhost report: no report named '%s' (reports:", a->positional[0]);
        for (const struct embedded_file *e = embedded_files; e->path; e++)
            if (e->kind == EMBEDDED_REPORT) {
                const char *base = strrchr(e->path, '/');
                fprintf(stderr, " %.*s", (int)strlen(base + 1) - 4, base + 1);
            }
        fprintf(stderr, ")\n");
        return EXIT_USAGE;
    }
    if (need_client(a, "report") < 0)
        return EXIT_USAGE;
    if (a->format && strcmp(a->format, "table") != 0 && strcmp(a->format, "csv") != 0 &&
        strcmp(a->format, "json") != 0) {
        fprintf(stderr, "cxhost report: --format '%s' is not a format (table, csv or json)\n", a->format);
        return EXIT_USAGE;
    }
    int64_t as_of = 0;
    if (parse_as_of(a, "report", &as_of) < 0)
        return EXIT_USAGE;
    session *s;
    if (open_session(a, &s) < 0)
        return EXIT_FAILED;
    /* Reports judge the data as it stands: a time before its latest event is
     * a mistake to name here, not deep in a report. */
    int64_t latest = 0;
    cx_error err;
    if (a->as_of && store_latest_event_at(session_store(s), &latest, &err) == 0 && as_of < latest) {
        char date[UTC_TEXT_SIZE];
        utc_format(latest, date);
        fprintf(stderr, "cxhost report: --as-of %s is before the latest event (%s); give a later time\n",
                a->as_of, date);
        session_close(s);
        return EXIT_FAILED;
    }
    buf chunkname = BUF_INIT, what = BUF_INIT, partial = BUF_INIT;
    buf_printf(&chunkname, "@%s", f->path);
    buf_printf(&what, "report %s", a->positional[0]);
    /* -o FILE: the report is written beside FILE and put in its place only
     * when whole, so a failed report leaves no half-written file. */
    FILE *out = NULL;
    if (a->output) {
        buf_printf(&partial, "%s.partial", a->output);
        if (!(out = fopen(partial.data, "w"))) {
            fprintf(stderr, "cxhost report: %s: cannot write it\n", partial.data);
            buf_free(&chunkname);
            buf_free(&what);
            buf_free(&partial);
            session_close(s);
            return EXIT_FAILED;
        }
        session_redirect_print(s, print_to_file, out);
    }
    /* A built-in report is cxhost's own code, not a consultant's: it may
     * run longer than limits.instructions allows a script (fitting the
     * value models on a large client takes more than the default). */
    luahost *h = session_lua(s);
    int64_t budget = luahost_instruction_budget(h);
    if (budget < REPORT_INSTRUCTIONS)
        luahost_set_instruction_budget(h, REPORT_INSTRUCTIONS);
    int status = run_chunk(s, f->text, f->size, chunkname.data, what.data, 0, a->npositional - 1,
                           (char **)a->positional + 1, RESULTS_PRINT, a);
    luahost_set_instruction_budget(h, budget);
    if (out) {
        session_redirect_print(s, NULL, NULL);
        int written = !ferror(out);
        written &= fclose(out) == 0;
        if (status == EXIT_OK && (!written || rename(partial.data, a->output) != 0)) {
            fprintf(stderr, "cxhost report: %s: cannot write it\n", a->output);
            status = EXIT_FAILED;
        }
        if (status != EXIT_OK)
            remove(partial.data);
        else
            printf("wrote %s\n", a->output);
    }
    buf_free(&chunkname);
    buf_free(&what);
    buf_free(&partial);
    session_close(s);
    return status;
}

/* --- commands written in Lua: check, explain, refund ----------------------------------------- */

/* Runs scripts/commands/NAME.lua on the client, with the positional
 * arguments and options in `arg`. It returns its exit status, and a message
 * for the error stream when it failed. */
static int run_command_script(struct args *a, const char *name)
{
    const struct embedded_file *f = NULL;
    char path[128];
    snprintf(path, sizeof path, "scripts/commands/%s.lua", name);
    for (const struct embedded_file *e = embedded_files; e->path && !f; e++)
        if (e->kind == EMBEDDED_COMMAND && strcmp(e->path, path) == 0)
            f = e;
    if (!f) {
        fprintf(stderr, "cxhost: %s is missing from this build\n", path);
        return EXIT_FAILED;
    }
    session *s;
    if (open_session(a, &s) < 0)
        return EXIT_FAILED;
    buf chunkname = BUF_INIT;
    buf_printf(&chunkname, "@%s", f->path);
    int status = run_chunk(s, f->text, f->size, chunkname.data, name, 0, a->npositional, (char **)a->positional,
                           RESULTS_STATUS, a);
    buf_free(&chunkname);
    session_close(s);
    return status;
}

static int cmd_check(struct args *a)
{
    if (need_client(a, "check") < 0)
        return EXIT_USAGE;
    if (a->npositional != 0) {
        fprintf(stderr, "usage: %s\n", find_command("check")->usage);
        return EXIT_USAGE;
    }
    return run_command_script(a, "check");
}

static int cmd_explain(struct args *a)
{
    if (need_client(a, "explain") < 0)
        return EXIT_USAGE;
    if (!a->event || a->npositional != 0) {
        fprintf(stderr, "usage: %s\n", find_command("explain")->usage);
        return EXIT_USAGE;
    }
    return run_command_script(a, "explain");
}

static int cmd_refund(struct args *a)
{
    if (a->npositional != 1 || strcmp(a->positional[0], "request") != 0 || !a->purchase) {
        fprintf(stderr, "usage: %s\n", find_command("refund")->usage);
        return EXIT_USAGE;
    }
    if (need_client(a, "refund") < 0)
        return EXIT_USAGE;
    if (a->amount && a->nlines) {
        fprintf(stderr, "cxhost refund: give --amount or --line, not both\n");
        return EXIT_USAGE;
    }
    a->npositional = 0;
    return run_command_script(a, "refund");
}

/* --- campaign -------------------------------------------------------------------------------- */

/* Checks a campaign without a client: against an empty store in a
 * workspace of its own, made for the check and removed after. */
static int check_campaign_alone(struct args *a)
{
    const char *tmp = getenv("TMPDIR");
    char home[512];
    snprintf(home, sizeof home, "%s/cxhost-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cx_error err;
    if (!mkdtemp(home)) {
        print_error("cannot make a temporary folder for the check");
        return EXIT_FAILED;
    }
    int status = EXIT_FAILED;
    if (workspace_client_add(home, "check", &err) < 0) {
        print_error(err.text);
    } else {
        struct args b = *a;
        b.home = home;
        b.client = "check";
        status = run_command_script(&b, "campaign");
        workspace_client_remove(home, "check", &err);
    }
    char path[sizeof home + 16];
    snprintf(path, sizeof path, "%s/clients", home);
    rmdir(path);
    rmdir(home);
    return status;
}

static int cmd_campaign(struct args *a)
{
    static const char *const with_file[] = {"check", "run", "start", NULL};
    static const char *const with_name[] = {"stop", "report", NULL};
    const char *verb = a->npositional > 0 ? a->positional[0] : "";
    int file = 0, name = 0;
    for (int i = 0; with_file[i]; i++)
        file |= strcmp(verb, with_file[i]) == 0;
    for (int i = 0; with_name[i]; i++)
        name |= strcmp(verb, with_name[i]) == 0;
    int list = strcmp(verb, "list") == 0;
    if ((!file && !name && !list) || a->npositional != (list ? 1 : 2)) {
        fprintf(stderr, "usage: %s\n", find_command("campaign")->usage);
        return EXIT_USAGE;
    }
    int check = strcmp(verb, "check") == 0;
    if (!check && need_client(a, "campaign") < 0)
        return EXIT_USAGE;
    if (a->format && (strcmp(verb, "report") != 0 || (strcmp(a->format, "table") != 0 && strcmp(a->format, "json") != 0))) {
        fprintf(stderr, "cxhost campaign: --format is table or json, for campaign report\n");
        return EXIT_USAGE;
    }
    if (a->dry_run && strcmp(verb, "run") != 0) {
        fprintf(stderr, "cxhost campaign: --dry-run is for campaign run\n");
        return EXIT_USAGE;
    }
    buf text = BUF_INIT;
    if (file) {
        if (buf_read_file(&text, a->positional[1]) < 0) {
            fprintf(stderr, "cxhost campaign: %s: cannot read it\n", a->positional[1]);
            buf_free(&text);
            return EXIT_FAILED;
        }
        a->source = buf_str(&text);
    }
    int status = check && !a->client ? check_campaign_alone(a) : run_command_script(a, "campaign");
    buf_free(&text);
    return status;
}

/* --- plugins, refresh --------------------------------------------------------------------- */

static int cmd_plugins(struct args *a)
{
    if (need_client(a, "plugins") < 0)
        return EXIT_USAGE;
    session *s;
    if (open_session(a, &s) < 0)
        return EXIT_FAILED;
    plugin_set *ps = session_plugins(s);
    printf("%-14s %-10s %-9s %5s  %s\n", "name", "version", "origin", "order", "file");
    for (int i = 0; i < plugin_count(ps); i++) {
        plugin_info info;
        plugin_get_info(ps, i, &info);
        printf("%-14s %-10s %-9s %5d  %s%s\n", info.name, info.version, info.origin, info.order, info.path,
               info.replaces_builtin ? "  (replaces the built-in)" : "");
    }
    session_close(s);
    return EXIT_OK;
}

static int cmd_refresh(struct args *a)
{
    if (need_client(a, "refresh") < 0)
        return EXIT_USAGE;
    int64_t as_of = 0;
    if (parse_as_of(a, "refresh", &as_of) < 0)
        return EXIT_USAGE;
    session *s;
    if (open_session(a, &s) < 0)
        return EXIT_FAILED;
    cx_error err;
    int status = ingest_refresh_alone(s, &as_of, &err) < 0 ? EXIT_FAILED : EXIT_OK;
    if (status == EXIT_OK) {
        char date[UTC_TEXT_SIZE];
        utc_format(as_of, date);
        printf("refreshed '%s' as of %s\n", a->client, as_of ? date : "(no events yet)");
    } else {
        print_error(err.text);
    }
    session_close(s);
    return status;
}

/* --- serve, repl ----------------------------------------------------------------------------- */

static int cmd_serve(struct args *a)
{
    if (need_client(a, "serve") < 0)
        return EXIT_USAGE;
    if (!a->listen || a->npositional) {
        fprintf(stderr, "usage: %s\n", find_command("serve")->usage);
        return EXIT_USAGE;
    }
    service_options o = {a->listen, a->repl, 0, a->no_watch};
    if (a->max_line) {
        char *end;
        long long n = strtoll(a->max_line, &end, 10);
        if (*end || n < 64 || n > (1LL << 30)) {
            fprintf(stderr, "cxhost serve: --max-line '%s' must be a number of bytes from 64 to 1073741824\n",
                    a->max_line);
            return EXIT_USAGE;
        }
        o.max_line = (size_t)n;
    }
    session *s;
    if (open_session(a, &s) < 0)
        return EXIT_FAILED;
    cx_error err;
    int status = service_run(s, &o, &err) < 0 ? EXIT_FAILED : EXIT_OK;
    if (status != EXIT_OK)
        fprintf(stderr, "cxhost serve: %s\n", err.text);
    session_close(s);
    return status;
}

static int cmd_repl(struct args *a)
{
    if (a->npositional || (a->connect && a->client)) {
        fprintf(stderr, "usage: %s\n", find_command("repl")->usage);
        return EXIT_USAGE;
    }
    if (a->connect) {
        cx_error err;
        int status = console_attach(a->connect, &err);
        if (status < 0) {
            print_error(err.text);
            return EXIT_FAILED;
        }
        return status;
    }
    if (need_client(a, "repl") < 0)
        return EXIT_USAGE;
    session *s;
    if (open_session(a, &s) < 0)
        return EXIT_FAILED;
    int status = console_run(&s);
    session_close(s);
    return status;
}

/* --- help ------------------------------------------------------------------------------------- */

static int cmd_help(struct args *a);
static int cmd_version(struct args *a)
{
    (void)a;
    printf("cxhost %s (Lua %s.%s, schema %d)\n", CXHOST_VERSION, LUA_VERSION_MAJOR, LUA_VERSION_MINOR,
           STORE_SCHEMA_VERSION);
    return EXIT_OK;
}

static const struct command commands[] = {
    {"client", cmd_client, "cxhost client add NAME | list | remove NAME --yes",
     "Manages the clients of the workspace. Each client is a folder,\n"
     "HOME/clients/NAME, holding its store (store.db), its own plugins\n"
     "(plugins/) and its settings (config.lua). Names: letters, digits, '.', '-', '_'.\n"
     "  add NAME          create the client and an empty store\n"
     "  list              the clients, one per line\n"
     "  remove NAME --yes delete the client's folder and all its data\n"},
    {"import", cmd_import, "cxhost import --client NAME [--format csv|ndjson|cdnow] [--skip-bad FILE] FILE",
     "Imports events from FILE (- for standard input) through the plugins, in\n"
     "one transaction: on the first bad line or failing plugin nothing is written\n"
     "and the error names the file, line and field. Events already stored (same id)\n"
     "are skipped, so importing a file twice adds nothing.\n"
     "  --format F       csv, ndjson or cdnow (default: from the file's name)\n"
     "  --skip-bad FILE  write bad lines to FILE (LINE<TAB>REASON<TAB>TEXT) and import the rest\n"
     "  --no-progress    no progress bar (there is none anyway unless on a terminal)\n"},
    {"eval", cmd_eval, "cxhost eval --client NAME 'LUA CODE'",
     "Runs a piece of Lua with cx loaded, in the plugin sandbox, and prints what\n"
     "it returns. An expression needs no 'return': cxhost eval --client acme 'cx.customer(\"42\")'\n"},
    {"run", cmd_run, "cxhost run --client NAME SCRIPT.lua [ARGS...]",
     "Runs a Lua script file with cx loaded, in the plugin sandbox. Its arguments\n"
     "are in the table `arg`. What it returns is printed.\n"},
    {"plugins", cmd_plugins, "cxhost plugins --client NAME",
     "Lists the client's loaded plugins in the order they run, with version and\n"
     "origin (built-in, or the client's own from HOME/clients/NAME/plugins/).\n"},
    {"refresh", cmd_refresh, "cxhost refresh --client NAME [--as-of DATE]",
     "Runs every plugin's on_refresh hook, which updates what changes with time\n"
     "alone (a customer becoming lapsed). DATE defaults to the latest event's time.\n"
     "Imports do this by themselves at the end.\n"},
    {"report", cmd_report,
     "cxhost report REPORT --client NAME [--format table|csv|json] [--as-of DATE] [--calibration-end DATE] "
     "[--horizon 52w] [-o FILE]",
     "Prints a report on the client's data. Reports:\n"
     "  summary      customers, events, revenue, lifecycle stages, best customers\n"
     "  experience   the five experience modules (sense, feel, think, act, relate):\n"
     "               customers' scores, NPS and CSAT per lifecycle stage, and the\n"
     "               experience grid of touchpoints against modules\n"
     "  rfm          buyers by recency, frequency and monetary value: the RFM\n"
     "               segments (champions, loyal, ... lost) and the R x F grid\n"
     "  value        customer value: the BG/NBD and Gamma-Gamma models fitted on\n"
     "               the purchases, expected purchases and lifetime value, and the\n"
     "               holdout check of predicted against actual repeat purchases\n"
     "               (--calibration-end DATE ends the fit's period; --horizon\n"
     "               52w|90d|12m is how far ahead purchases are expected)\n"
     "  html         all of it as one page to look at (-o FILE.html)\n"
     "  --format F   table (default), csv or json (the experience, rfm and value reports)\n"
     "  --as-of DATE judge scores at DATE (default: the latest event's time)\n"
     "  -o FILE      write the report to FILE (whole, or not at all) instead of\n"
     "               printing it\n"},
    {"check", cmd_check, "cxhost check --client NAME",
     "Checks the client's loyalty ledger and refunds against each other and\n"
     "prints every problem found: every customer's entries replayed (their\n"
     "balance is what their lots hold; no redemption beyond what was available,\n"
     "no expiry beyond what was left), clawbacks against what the purchase\n"
     "earned, refunds against what was paid, the loyalty plugin's tiers against\n"
     "their history. Exit status 0 when all holds, 1 when something is wrong.\n"},
    {"explain", cmd_explain, "cxhost explain --client NAME --event ID",
     "Explains one event: every loyalty and refund rule that was weighed for it,\n"
     "whether it fired and why, and the ledger entries, tier changes and refund\n"
     "decisions it wrote.\n"
     "  --event ID   the event's id, as imported\n"},
    {"refund", cmd_refund,
     "cxhost refund request --client NAME --purchase ID [--amount X | --line SKU[:QTY] ...] [--reason TEXT] "
     "[--id ID] [--at TIME]",
     "Asks for a refund of a purchase, as a refund_request event through the\n"
     "plugins, and prints the decision (approved, partial or rejected, with the\n"
     "rule and the reason) and the points taken back.\n"
     "  --purchase ID   the purchase's event id\n"
     "  --amount X      the amount to refund (12.50); default: all that is left\n"
     "  --line SKU[:QTY] a line of the purchase to refund (default: its whole\n"
     "                  quantity); repeat for more lines\n"
     "  --reason TEXT   the customer's reason, kept with the request\n"
     "  --id ID         the request's id: the same id twice is decided once\n"
     "                  (default: refund:PURCHASE:TIME[:CENTS][:LINES], from what\n"
     "                  is asked, so the same command twice is decided once)\n"
     "  --at TIME       when it was asked (default: now)\n"},
    {"campaign", cmd_campaign,
     "cxhost campaign check [--client NAME] FILE | run --client NAME FILE [--dry-run] [--at TIME] [--period P] | "
     "start --client NAME FILE [--at TIME] | stop --client NAME CAMPAIGN [--at TIME] | list --client NAME | "
     "report --client NAME CAMPAIGN [--format table|json]",
     "Campaigns are Lua files (docs/campaigns.md): an audience, a trigger, actions\n"
     "or a journey, a budget and a holdout.\n"
     "  check FILE         check the file and print every error with its line\n"
     "                     (with --client, against that client's plugins and data)\n"
     "  run FILE           run it once, now: each action is recorded with the run; a\n"
     "                     second run for the same period does nothing\n"
     "    --dry-run        print the audience, the holdout, the cost against the\n"
     "                     budget and a sample of the actions; write nothing\n"
     "    --at TIME        run as of TIME (default: now)\n"
     "    --period P       name the period yourself (default: \"once\", or the\n"
     "                     schedule's slot at TIME)\n"
     "  start FILE         register it with the service: `cxhost serve` runs its\n"
     "                     schedule and its event triggers, and journeys move on\n"
     "                     (--at TIME: started as of TIME, default now)\n"
     "  stop CAMPAIGN      stop a registered campaign (--at TIME as for start)\n"
     "  list               the client's campaigns and their last runs\n"
     "  report CAMPAIGN    treated against held out: response rate, revenue per\n"
     "                     customer, points and money spent, and the uplift with\n"
     "                     its 95% confidence interval\n"},
    {"serve", cmd_serve, "cxhost serve --client NAME --listen HOST:PORT|unix:PATH [--repl PATH] [--max-line BYTES] "
     "[--no-watch]",
     "Runs the client as a service: events come in as NDJSON, one per line, over\n"
     "any number of connections, and each line is answered with one line once the\n"
     "event is committed with all its plugins' effects:\n"
     "  {\"ok\":true,\"id\":\"ID\"}   ({\"ok\":true,\"id\":\"ID\",\"duplicate\":true} if it was there)\n"
     "  {\"ok\":false,\"id\":\"ID\",\"error\":\"...\"}\n"
     "SIGINT or SIGTERM: stop accepting, commit and answer what was received, exit 0.\n"
     "SIGHUP, or a change in the client's plugins/ or config.lua: reload the plugins\n"
     "(if they fail to load, the running ones stay). See docs/service.md.\n"
     "  --listen ADDR     127.0.0.1:7070 (port 0 picks a free one), [::1]:7070, unix:PATH\n"
     "  --repl PATH       a unix socket for `cxhost repl --connect PATH`\n"
     "  --max-line BYTES  longer lines are refused (default 1048576)\n"
     "  --no-watch        reload on SIGHUP only, not when files change\n"},
    {"repl", cmd_repl, "cxhost repl --client NAME | --connect PATH",
     "An interactive Lua prompt with cx and every plugin loaded. An expression's\n"
     "value is shown (cx.query results as a table); a statement left open goes on\n"
     "at the next line. Tab completes names (cx.exp<TAB>), the history is kept per\n"
     "client (HOME/clients/NAME/.history), Ctrl-C stops a running statement or\n"
     "clears the line, Ctrl-D leaves. Timers set with cx.every/cx.after/cx.at fire\n"
     "while the prompt waits. .help lists the dot commands (.plugins .reload\n"
     ".clients .use .timer .quit). With standard input from a pipe or a file it\n"
     "runs the statements in order with no prompt, and exits 1 if one failed.\n"
     "See docs/repl.md.\n"
     "  --connect PATH   attach to a running service's REPL socket (serve --repl PATH)\n"},
    {"version", cmd_version, "cxhost version", "Prints the version of cxhost, Lua and the store schema.\n"},
    {"help", cmd_help, "cxhost help [COMMAND]", "Prints help on cxhost or on one command.\n"},
    {NULL, NULL, NULL, NULL},
};

static const struct command *find_command(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void print_overview(FILE *out)
{
    fprintf(out,
            "cxhost: a customer-experience scripting host (SQLite store, Lua plugins)\n\n"
            "usage: cxhost [--home DIR] COMMAND [OPTIONS]\n\n"
            "commands:\n");
    for (const struct command *c = commands; c->name; c++)
        fprintf(out, "  %s\n", c->usage);
    fprintf(out,
            "\n--home DIR is the workspace folder (default: $CXHOST_HOME, else ./cxhome).\n"
            "cxhost COMMAND --help tells more about one command.\n");
}

static void print_command_help(const struct command *c)
{
    printf("usage: %s\n\n%s", c->usage, c->help);
    printf("\n--home DIR is the workspace folder (default: $CXHOST_HOME, else ./cxhome).\n");
}

static int cmd_help(struct args *a)
{
    if (a->npositional == 0) {
        print_overview(stdout);
        return EXIT_OK;
    }
    const struct command *c = find_command(a->positional[0]);
    if (!c) {
        fprintf(stderr, "cxhost: no command '%s'\n", a->positional[0]);
        return EXIT_USAGE;
    }
    print_command_help(c);
    return EXIT_OK;
}

/* --- arguments ---------------------------------------------------------------------------------- */

static int option_value(int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "cxhost: %s needs a value\n", argv[*i]);
        return -1;
    }
    *out = argv[++*i];
    return 0;
}

static int parse_args(const char *command, int argc, char **argv, struct args *a)
{
    int is_run = strcmp(command, "run") == 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        int rc = 0;
        if (is_run && a->npositional >= 1) {
            /* Everything after the script belongs to the script. */
            a->positional[a->npositional++] = arg;
            if (a->npositional == (int)(sizeof a->positional / sizeof a->positional[0]))
                break;
            continue;
        }
        if (strcmp(arg, "--home") == 0)
            rc = option_value(argc, argv, &i, &a->home);
        else if (strcmp(arg, "--client") == 0 || strcmp(arg, "-c") == 0)
            rc = option_value(argc, argv, &i, &a->client);
        else if (strcmp(arg, "--format") == 0)
            rc = option_value(argc, argv, &i, &a->format);
        else if (strcmp(arg, "--skip-bad") == 0)
            rc = option_value(argc, argv, &i, &a->skip_bad);
        else if (strcmp(arg, "--as-of") == 0)
            rc = option_value(argc, argv, &i, &a->as_of);
        else if (strcmp(arg, "--event") == 0)
            rc = option_value(argc, argv, &i, &a->event);
        else if (strcmp(arg, "--purchase") == 0)
            rc = option_value(argc, argv, &i, &a->purchase);
        else if (strcmp(arg, "--amount") == 0)
            rc = option_value(argc, argv, &i, &a->amount);
        else if (strcmp(arg, "--reason") == 0)
            rc = option_value(argc, argv, &i, &a->reason);
        else if (strcmp(arg, "--id") == 0)
            rc = option_value(argc, argv, &i, &a->id);
        else if (strcmp(arg, "--at") == 0)
            rc = option_value(argc, argv, &i, &a->at);
        else if (strcmp(arg, "--listen") == 0)
            rc = option_value(argc, argv, &i, &a->listen);
        else if (strcmp(arg, "--repl") == 0)
            rc = option_value(argc, argv, &i, &a->repl);
        else if (strcmp(arg, "--max-line") == 0)
            rc = option_value(argc, argv, &i, &a->max_line);
        else if (strcmp(arg, "--connect") == 0)
            rc = option_value(argc, argv, &i, &a->connect);
        else if (strcmp(arg, "--no-watch") == 0)
            a->no_watch = 1;
        else if (strcmp(arg, "--calibration-end") == 0)
            rc = option_value(argc, argv, &i, &a->calibration_end);
        else if (strcmp(arg, "--horizon") == 0)
            rc = option_value(argc, argv, &i, &a->horizon);
        else if (strcmp(arg, "--output") == 0 || strcmp(arg, "-o") == 0)
            rc = option_value(argc, argv, &i, &a->output);
        else if (strcmp(arg, "--period") == 0)
            rc = option_value(argc, argv, &i, &a->period);
        else if (strcmp(arg, "--dry-run") == 0)
            a->dry_run = 1;
        else if (strcmp(arg, "--line") == 0) {
            if (a->nlines == (int)(sizeof a->lines / sizeof a->lines[0])) {
                fprintf(stderr, "cxhost %s: at most %d --line options\n", command, a->nlines);
                return -1;
            }
            rc = option_value(argc, argv, &i, &a->lines[a->nlines]);
            a->nlines += rc == 0;
        } else if (strcmp(arg, "--yes") == 0)
            a->yes = 1;
        else if (strcmp(arg, "--no-progress") == 0)
            a->no_progress = 1;
        else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            a->help = 1;
        else if (arg[0] == '-' && arg[1] == '-') {
            fprintf(stderr, "cxhost %s: unknown option %s (see cxhost %s --help)\n", command, arg, command);
            return -1;
        } else if (a->npositional < (int)(sizeof a->positional / sizeof a->positional[0]))
            a->positional[a->npositional++] = arg;
        if (rc < 0)
            return -1;
    }
    return 0;
}

int cli_main(int argc, char **argv)
{
    struct args a;
    memset(&a, 0, sizeof a);
    int i = 1;
    /* Global options may come before the command. */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            a.home = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_overview(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            return cmd_version(&a);
        } else {
            fprintf(stderr, "cxhost: unknown option %s\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_overview(stderr);
        return EXIT_USAGE;
    }
    const struct command *c = find_command(argv[i]);
    if (!c) {
        fprintf(stderr, "cxhost: no command '%s' (see cxhost --help)\n", argv[i]);
        return EXIT_USAGE;
    }
    if (parse_args(c->name, argc - i - 1, argv + i + 1, &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        print_command_help(c);
        return EXIT_OK;
    }
    int status = c->run(&a);
    loop_finish();
    return status;
}
