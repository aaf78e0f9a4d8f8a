/* console.c: the REPL at a terminal or on a pipe; see console.h.
 *
 * readline's callback interface takes no user data, so the one console of
 * the process is a static. A local console runs the repl in this process; an
 * attached one sends each line to the service's REPL socket and waits for
 * the answer (blocking: the service does the work). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <uv.h>
#include "cxhost/buf.h"
#include "cxhost/console.h"
#include "cxhost/json.h"
#include "cxhost/loop.h"
#include "cxhost/repl.h"
#include "cxhost/workspace.h"

#define HISTORY_MAX 1000

typedef struct console {
    /* local */
    session **sp;
    repl *repl;
    session *hooked;            /* the session whose print and timer log come here */
    /* attached */
    int fd;
    buf reply;                  /* the service's answer being read */
    char remote_prompt[128];
    int remote_more;
    /* both */
    int interactive;
    int colour;
    int done;
    int failures;
    buf statement;              /* the lines of the statement being typed, for the history */
    char history[4096];         /* the history file ("" for none) */
    uv_poll_t input;
    uv_async_t interrupt;
    uv_signal_t winch;
} console;

static console *the_console;
/* An attached console waiting for the service's answer: Ctrl-C asks the
 * service to stop the statement (a byte 0x03 on the socket). */
static volatile sig_atomic_t waiting_remote, remote_interrupt;
/* The Lua state a Ctrl-C stops, read by the signal handler. */
static luahost *volatile interruptible;

/* --- output ------------------------------------------------------------------------ */

static void write_out(void *ud, int is_error, const char *text, size_t len)
{
    console *c = ud;
    FILE *f = is_error ? stderr : stdout;
    if (is_error)
        fflush(stdout);
    if (is_error && c->colour)
        fputs("\033[31m", f);
    fwrite(text, 1, len, f);
    if (is_error && c->colour)
        fputs("\033[0m", f);
    fflush(f);
}

/* print() and timer errors while the prompt waits: the line being typed
 * steps aside and comes back under it. */
static void print_at_prompt(console *c, int is_error, const char *text)
{
    int editing = c->interactive && !c->done;
    if (editing)
        rl_clear_visible_line();
    write_out(c, is_error, text, strlen(text));
    write_out(c, is_error, "\n", 1);
    if (editing)
        rl_forced_update_display();
}

static void idle_print(void *ud, const char *owner, const char *line)
{
    (void)owner;
    print_at_prompt(ud, 0, line);
}

static void idle_log(void *ud, const char *text)
{
    print_at_prompt(ud, 1, text);
}

static void history_open(console *c, const char *home, const char *client);
static void history_close(console *c);

/* Points the session's print and timer log here, and the history at its
 * client's (again after .use). */
static void hook_session(console *c)
{
    session *s = *c->sp;
    if (c->hooked == s)
        return;
    if (c->hooked && c->interactive) {
        history_close(c);
        history_open(c, session_home(s), session_client(s));
    }
    c->hooked = s;
    session_redirect_print(s, idle_print, c);
    loop_timers_set_log(session_timers(s), idle_log, c);
    interruptible = session_lua(s);
}

/* --- history ---------------------------------------------------------------------- */

static void history_open(console *c, const char *home, const char *client)
{
    buf path = BUF_INIT;
    workspace_client_path(home, client, ".history", &path);
    snprintf(c->history, sizeof c->history, "%s", path.data);
    buf_free(&path);
    clear_history();
    stifle_history(HISTORY_MAX);
    /* A statement of several lines stays one entry: each is written after a
     * timestamp line, and read back whole. */
    history_comment_char = '#';
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    struct stat st;
    if (stat(c->history, &st) == 0)
        read_history(c->history);
    else
        write_history(c->history);   /* append_history needs the file */
    chmod(c->history, 0600);
}

static void history_add(console *c)
{
    if (!c->statement.len)
        return;
    HIST_ENTRY *last = history_length ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, c->statement.data) == 0)
        return;
    add_history(c->statement.data);
    if (c->history[0])
        append_history(1, c->history);
}

static void history_close(console *c)
{
    if (c->history[0])
        history_truncate_file(c->history, HISTORY_MAX);
}

/* --- the service's REPL socket ---------------------------------------------------------- */

/* Sends one request and reads the one-line answer into c->reply: 0, or -1
 * when the service is gone. */
static int remote_request(console *c, const char *op, const char *text)
{
    buf req = BUF_INIT;
    buf_printf(&req, "{\"%s\":", op);
    buf_add_json_string(&req, text, strlen(text));
    buf_add_str(&req, "}\n");
    size_t done = 0;
    while (done < req.len) {
        ssize_t n = write(c->fd, req.data + done, req.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            buf_free(&req);
            return -1;
        }
        done += (size_t)n;
    }
    buf_free(&req);
    buf_clear(&c->reply);
    remote_interrupt = 0;
    waiting_remote = 1;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(c->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) {
            if (remote_interrupt && write(c->fd, "\x03", 1) < 0)
                break;
            remote_interrupt = 0;
            continue;
        }
        if (n <= 0)
            break;
        buf_add(&c->reply, chunk, (size_t)n);
        if (memchr(chunk, '\n', (size_t)n)) {
            waiting_remote = 0;
            return 0;
        }
    }
    waiting_remote = 0;
    return -1;
}

/* The string member name of the answer, decoded into out. */
static void reply_field(console *c, const char *name, buf *out)
{
    json_cursor cur;
    json_span key, value;
    const char *why;
    buf_clear(out);
    if (json_object_begin(&cur, c->reply.data, c->reply.len - 1, &why) < 0)
        return;
    while (json_object_next(&cur, &key, &value, &why) == 1)
        if (json_key_is(key, name) && value.type == JSON_STRING)
            json_string_decode(value, out, &why);
}

static repl_status remote_feed(console *c, const char *line)
{
    if (remote_request(c, "line", line) < 0) {
        write_out(c, 1, "the service has gone away\n", 26);
        c->failures++;                     /* the statement did not run */
        return REPL_QUIT;
    }
    buf field = BUF_INIT;
    reply_field(c, "output", &field);
    write_out(c, 0, buf_str(&field), field.len);
    reply_field(c, "errors", &field);
    if (field.len)
        write_out(c, 1, field.data, field.len);
    reply_field(c, "prompt", &field);
    snprintf(c->remote_prompt, sizeof c->remote_prompt, "%s", buf_str(&field));
    reply_field(c, "status", &field);
    repl_status st = strcmp(buf_str(&field), "more") == 0     ? REPL_MORE
                     : strcmp(buf_str(&field), "failed") == 0 ? REPL_FAILED
                     : strcmp(buf_str(&field), "quit") == 0   ? REPL_QUIT
                                                              : REPL_DONE;
    buf_free(&field);
    return st;
}

/* --- one line, either way --------------------------------------------------------------- */

static repl_status feed(console *c, const char *line)
{
    repl_status st;
    if (c->repl) {
        st = repl_feed(c->repl, line, write_out, c);
        hook_session(c);
    } else {
        st = remote_feed(c, line);
    }
    if (st == REPL_FAILED)
        c->failures++;
    return st;
}

static const char *prompt(console *c)
{
    return c->repl ? repl_prompt(c->repl) : c->remote_prompt;
}

static void reset(console *c)
{
    buf_clear(&c->statement);
    if (c->repl)
        repl_reset(c->repl);
    else if (remote_request(c, "reset", "") == 0) {
        buf field = BUF_INIT;
        reply_field(c, "prompt", &field);
        snprintf(c->remote_prompt, sizeof c->remote_prompt, "%s", buf_str(&field));
        buf_free(&field);
    }
}

/* --- completion ---------------------------------------------------------------------------- */

/* The completions of the word being completed; readline takes them one at
 * a time from index next, and frees those. */
static strlist completions;
static size_t completions_next;

static void keep_match(void *ud, const char *match)
{
    strlist_add(ud, match, strlen(match));
}

static void forget_matches(void)
{
    strlist_free_from(&completions, completions_next);
    completions_next = 0;
}

static void remote_matches(console *c, const char *text)
{
    if (remote_request(c, "complete", text) < 0)
        return;
    json_cursor cur, arr;
    json_span key, value, item;
    const char *why;
    if (json_object_begin(&cur, c->reply.data, c->reply.len - 1, &why) < 0)
        return;
    while (json_object_next(&cur, &key, &value, &why) == 1) {
        if (!json_key_is(key, "matches") || value.type != JSON_ARRAY ||
            json_array_begin(&arr, value.start, value.len, &why) < 0)
            continue;
        buf text_buf = BUF_INIT;
        while (json_array_next(&arr, &item, &why) == 1) {
            buf_clear(&text_buf);
            if (item.type == JSON_STRING && json_string_decode(item, &text_buf, &why) == 0)
                keep_match(&completions, buf_str(&text_buf));
        }
        buf_free(&text_buf);
    }
}

/* readline's generator: the matches one at a time, each malloc'd (readline frees them). */
static char *next_match(const char *text, int state)
{
    console *c = the_console;
    if (state == 0) {
        forget_matches();
        if (c->repl)
            repl_complete(c->repl, text, keep_match, &completions);
        else
            remote_matches(c, text);
    }
    if (completions_next < completions.n)
        return completions.items[completions_next++];
    forget_matches();
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)start, (void)end;
    rl_attempted_completion_over = 1;      /* no file names */
    rl_completion_append_character = '\0';
    return rl_completion_matches(text, next_match);
}

/* --- the terminal ------------------------------------------------------------------------ */

static void on_line(char *line)
{
    console *c = the_console;
    if (!line) {                           /* Ctrl-D */
        fputc('\n', stdout);
        c->done = 1;
        rl_callback_handler_remove();      /* else readline draws the prompt once more */
        uv_stop(loop_uv());
        return;
    }
    if (c->statement.len)
        buf_add_char(&c->statement, '\n');
    buf_add_str(&c->statement, line);
    repl_status st = feed(c, line);
    free(line);
    if (st != REPL_MORE) {
        history_add(c);
        buf_clear(&c->statement);
    }
    if (st == REPL_QUIT) {
        c->done = 1;
        rl_callback_handler_remove();
        uv_stop(loop_uv());
        return;
    }
    rl_set_prompt(prompt(c));
}

static void on_input(uv_poll_t *poll, int status, int events)
{
    (void)poll, (void)status, (void)events;
    if (!the_console->done)
        rl_callback_read_char();
}

/* Ctrl-C at the prompt: the line and the statement being typed go. */
static void on_interrupt(uv_async_t *async)
{
    console *c = async->data;
    if (c->done)
        return;
    rl_callback_sigcleanup();
    rl_replace_line("", 0);
    fputc('\n', stdout);
    reset(c);
    rl_set_prompt(prompt(c));
    rl_on_new_line();
    rl_redisplay();
}

static void on_winch(uv_signal_t *sig, int signum)
{
    (void)sig, (void)signum;
    rl_resize_terminal();
}

/* SIGINT: stop the running statement, else (at the prompt) clear the line. */
static void on_sigint(int sig)
{
    (void)sig;
    luahost *h = interruptible;
    if (waiting_remote)
        remote_interrupt = 1;
    else if (h && luahost_running(h))
        luahost_interrupt(h);
    else if (the_console && the_console->interactive)
        uv_async_send(&the_console->interrupt);
    else {
        signal(SIGINT, SIG_DFL);           /* a piped REPL waiting for input: Ctrl-C ends it */
        raise(SIGINT);
    }
}

static void catch_sigint(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

static void close_handle(uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static int run_interactive(console *c)
{
    uv_loop_t *loop = loop_uv();
    rl_readline_name = "cxhost";
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_attempted_completion_function = complete;
    rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(+-*/%^~#,[]";
    rl_completer_word_break_characters = rl_basic_word_break_characters;
    uv_poll_init(loop, &c->input, STDIN_FILENO);
    uv_async_init(loop, &c->interrupt, on_interrupt);
    c->interrupt.data = c;
    uv_signal_init(loop, &c->winch);
    uv_signal_start(&c->winch, on_winch, SIGWINCH);
    static const char banner[] = "cxhost REPL: .help for help, Ctrl-D to leave\n";
    if (c->repl)
        write_out(c, 0, banner, sizeof banner - 1);
    rl_callback_handler_install(prompt(c), on_line);
    uv_poll_start(&c->input, UV_READABLE, on_input);
    while (!c->done)
        uv_run(loop, UV_RUN_DEFAULT);
    rl_callback_handler_remove();
    close_handle((uv_handle_t *)&c->input);
    close_handle((uv_handle_t *)&c->interrupt);
    close_handle((uv_handle_t *)&c->winch);
    uv_run(loop, UV_RUN_NOWAIT);
    return 0;
}

/* Statements from a pipe or a file: in order, no prompt, no colours. */
static int run_piped(console *c)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    repl_status st = REPL_DONE;
    long number = 0;
    if (c->repl)
        repl_set_chunkname(c->repl, "stdin", 1);
    while (!c->done && (n = getline(&line, &cap, stdin)) >= 0) {
        number++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        st = feed(c, line);
        if (st == REPL_QUIT)
            break;
        uv_run(loop_uv(), UV_RUN_NOWAIT);  /* timers that are due */
    }
    free(line);
    /* As `cxhost run` does: timers still set run out before the end (.quit does not wait). */
    if (st != REPL_QUIT && c->sp)
        loop_run_while_timers(session_timers(*c->sp));
    if (st == REPL_MORE) {
        fprintf(stderr, "stdin:%ld: the statement is not finished at the end of the input\n", number);
        c->failures++;
    }
    return c->failures ? 1 : 0;
}

static int run(console *c)
{
    the_console = c;
    c->interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    const char *no_colour = getenv("NO_COLOR");   /* no-color.org: set and not empty */
    c->colour = c->interactive && isatty(STDERR_FILENO) && !(no_colour && *no_colour);
    catch_sigint(1);
    int status = c->interactive ? run_interactive(c) : run_piped(c);
    catch_sigint(0);
    interruptible = NULL;
    the_console = NULL;
    forget_matches();
    buf_free(&c->statement);
    buf_free(&c->reply);
    return status;
}

int console_run(session **s)
{
    console c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.sp = s;
    if (!(c.repl = repl_new(s, 1))) {
        fprintf(stderr, "cxhost: out of memory\n");
        return 1;
    }
    int interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (interactive) {
        hook_session(&c);
        history_open(&c, session_home(*s), session_client(*s));
    } else {
        interruptible = session_lua(*s);
    }
    int status = run(&c);
    if (interactive)
        history_close(&c);
    if (c.hooked == *s) {
        session_redirect_print(*s, NULL, NULL);
        loop_timers_set_log(session_timers(*s), NULL, NULL);
    }
    repl_free(c.repl);
    return status;
}

int console_attach(const char *path, cx_error *err)
{
    console c;
    memset(&c, 0, sizeof c);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        cx_error_set(err, "%s: the socket's path is too long", path);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    c.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        cx_error_set(err, "cannot attach to %s: %s (is `cxhost serve ... --repl %s` running?)", path,
                     strerror(errno), path);
        if (c.fd >= 0)
            close(c.fd);
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* An empty line: nothing runs, and the answer has the prompt. */
    if (remote_request(&c, "line", "") < 0) {
        cx_error_set(err, "%s: the service did not answer", path);
        close(c.fd);
        buf_free(&c.reply);
        return -1;
    }
    buf field = BUF_INIT;
    reply_field(&c, "prompt", &field);
    snprintf(c.remote_prompt, sizeof c.remote_prompt, "%s", buf_str(&field));
    buf_free(&field);
    int status = run(&c);
    close(c.fd);
    return status;
}
