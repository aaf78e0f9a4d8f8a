/* service.c: `cxhost serve`; see service.h.
 *
 * Lines are taken off the sockets in the read callbacks and queued; a check
 * handle, which libuv runs once per turn of the loop right after the reads,
 * puts everything queued through the plugins in one transaction (up to
 * BATCH_MAX events each), commits, and only then writes the answers. A batch
 * first runs its events without savepoints (the cheap way); if one fails,
 * the batch is taken back and run again with a savepoint per event, so that
 * only the failing event is refused. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>
#include "cxhost/buf.h"
#include "cxhost/ingest.h"
#include "cxhost/json.h"
#include "cxhost/loop.h"
#include "cxhost/reader.h"
#include "cxhost/repl.h"
#include "cxhost/service.h"
#include "cxhost/workspace.h"

#define BATCH_MAX 5000
#define READ_SIZE 65536
#define PAUSE_BYTES ((size_t)4 << 20)   /* queued lines or unsent answers: stop reading the connection */
#define RESUME_BYTES ((size_t)1 << 20)
#define RELOAD_DELAY_MS 300             /* editors write a file in several steps */
#define CAMPAIGNS_POLL_MS 1000          /* how often to look for campaigns started or stopped */
#define DRAIN_MS 3000                   /* at the end, how long to wait for clients to hang up */
#define REPL_REQUEST_MAX ((size_t)1 << 20)

typedef struct service service;

typedef struct connection {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    service *svc;
    struct connection *next;
    int number;
    int is_repl;
    reader *lines;          /* events: parses this connection's lines */
    repl *repl;             /* REPL: the statement being typed */
    session *repl_session;  /* what repl points at (never switched: .use is refused) */
    buf in;                 /* received, not yet a whole line */
    buf out;                /* answers of the current batch */
    long line;              /* lines received */
    int skipping;           /* the rest of an over-long line is being dropped */
    int reading;
    int ended;              /* no more input will be taken */
    int closing;
    int draining;           /* answered and shut down: reading only to see the client hang up */
    int peer_gone;          /* the client hung up, or writing to it failed */
    size_t queued_bytes;
    int queued;
    size_t unsent;          /* bytes of answers written and not yet done */
    int writes;
} connection;

enum { ITEM_EVENT, ITEM_TOO_LONG };

typedef struct item {
    connection *c;
    int kind;
    long line;
    size_t off, len;        /* the line in svc->text */
    size_t answer_off, answer_len;
} item;

typedef struct write_req {
    uv_write_t req;
    connection *c;
    char *data;
    size_t len;
} write_req;

struct service {
    session *s;
    uv_loop_t *loop;
    service_options o;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } listener;
    uv_pipe_t repl_listener;
    uv_check_t check;
    uv_signal_t sigint, sigterm, sighup;
    uv_fs_event_t watch_plugins;
    uv_fs_poll_t watch_config;
    uv_timer_t reload_timer, drain_timer, campaigns_timer;
    int64_t campaigns_revision;   /* as last seen: a change means a campaign started or stopped */
    int open_handles;       /* of the above, not yet closed */
    int has_listener, has_repl, has_watch_plugins, has_watch_config;
    int owns_listen_socket, owns_repl_socket;   /* socket files this service made */
    connection *connections;
    int next_number;
    item *items;
    size_t nitems, capitems;
    buf text;               /* the queued lines */
    buf answers;
    int stopping;
    const char *reload_why;
    char address[300];
    char read_buffer[READ_SIZE];
    int64_t received, stored, duplicates, refused, batches;
};

static void say(service *svc, const char *fmt, ...) CX_PRINTF(2, 3);
static void say(service *svc, const char *fmt, ...)
{
    (void)svc;
    va_list ap;
    va_start(ap, fmt);
    fputs("cxhost serve: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    va_end(ap);
}

/* Errors of timers' callbacks, in the service's log. */
static void timer_log(void *ud, const char *text)
{
    say(ud, "%s", text);
}

static void handle_closed(uv_handle_t *handle)
{
    service *svc = handle->data;
    svc->open_handles--;
}

static void close_handle(service *svc, uv_handle_t *handle)
{
    if (!uv_is_closing(handle)) {
        handle->data = svc;
        uv_close(handle, handle_closed);
    }
}

static void maybe_finish(service *svc);

/* --- connections ---------------------------------------------------------------------- */

static void connection_closed(uv_handle_t *handle)
{
    connection *c = (connection *)handle;
    service *svc = c->svc;
    for (connection **p = &svc->connections; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    reader_close(c->lines);
    repl_free(c->repl);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
    maybe_finish(svc);
}

static void connection_shut(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    connection *c = (connection *)handle;
    b->base = c->svc->read_buffer;
    b->len = READ_SIZE;
}

/* Closes c once nothing of it is waiting: no queued lines, no answers in
 * flight. At the end of the service, it first says it has finished writing
 * and waits for the client to hang up (closing with unread input would
 * reset the connection, and the client could lose its last answers). */
static void connection_maybe_close(connection *c)
{
    if (c->closing || !c->ended || c->queued || c->writes || c->draining)
        return;
    if (c->svc->stopping && !c->is_repl && !c->peer_gone) {
        uv_shutdown_t *req = malloc(sizeof *req);
        if (req && uv_shutdown(req, &c->h.stream, connection_shut) == 0) {
            c->draining = 1;
            if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0) {
                c->reading = 1;
                return;
            }
        } else {
            free(req);
        }
    }
    c->closing = 1;
    uv_close(&c->h.handle, connection_closed);
}

static void connection_pause(connection *c)
{
    if (c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = 0;
    }
}

static void connection_maybe_resume(connection *c)
{
    if (!c->reading && !c->ended && !c->closing && c->queued_bytes < RESUME_BYTES && c->unsent < RESUME_BYTES &&
        uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
        c->reading = 1;
}

static void written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    connection *c = w->c;
    c->writes--;
    c->unsent -= w->len;
    free(w->data);
    free(w);
    if (status < 0) {                  /* the client is gone */
        c->ended = c->peer_gone = 1;
        connection_pause(c);
    }
    connection_maybe_resume(c);
    connection_maybe_close(c);
}

/* Sends c->out. */
static void connection_send(connection *c)
{
    if (!c->out.len)
        return;
    write_req *w = malloc(sizeof *w);
    if (!w)
        return;
    w->c = c;
    w->len = c->out.len;
    w->data = c->out.data;             /* the buffer goes with the write */
    c->out = (buf)BUF_INIT;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
    if (c->closing || uv_write(&w->req, &c->h.stream, &b, 1, written) != 0) {
        free(w->data);
        free(w);
        return;
    }
    c->writes++;
    c->unsent += w->len;
    if (c->unsent > PAUSE_BYTES)       /* a client that does not read its answers */
        connection_pause(c);
}

/* --- the event lines --------------------------------------------------------------------- */

static void queue_item(service *svc, connection *c, int kind, const char *text, size_t len)
{
    if (svc->nitems == svc->capitems) {
        size_t cap = svc->capitems ? 2 * svc->capitems : 1024;
        item *items = realloc(svc->items, cap * sizeof *items);
        if (!items) {
            say(svc, "out of memory; connection %d: line %ld dropped", c->number, c->line);
            return;
        }
        svc->items = items;
        svc->capitems = cap;
    }
    item *it = &svc->items[svc->nitems++];
    it->c = c;
    it->kind = kind;
    it->line = c->line;
    it->off = svc->text.len;
    it->len = len;
    buf_add(&svc->text, text, len);
    c->queued++;
    c->queued_bytes += len;
    svc->received++;
}

/* One whole line of an event connection. */
static void take_line(service *svc, connection *c, const char *text, size_t len)
{
    c->line++;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
        i++;
    if (i == len)
        return;                        /* blank: no answer */
    queue_item(svc, c, ITEM_EVENT, text, len);
}

static void take_bytes(service *svc, connection *c, const char *data, size_t n)
{
    size_t max = svc->o.max_line;
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t part = nl ? (size_t)(nl - data) : n;
        if (c->skipping) {
            if (nl)
                c->skipping = 0;
        } else if (c->in.len + part > max) {
            c->line++;
            queue_item(svc, c, ITEM_TOO_LONG, "", 0);
            buf_clear(&c->in);
            c->skipping = !nl;
        } else if (nl) {
            if (c->in.len) {
                buf_add(&c->in, data, part);
                take_line(svc, c, c->in.data, c->in.len);
                buf_clear(&c->in);
            } else {
                take_line(svc, c, data, part);
            }
        } else {
            buf_add(&c->in, data, part);
        }
        if (!nl)
            break;
        data += part + 1;
        n -= part + 1;
    }
    if (c->queued_bytes > PAUSE_BYTES)
        connection_pause(c);
}

/* The answer to one item, into svc->answers. */
static void answer(service *svc, item *it, int ok, const char *id, const char *extra, const char *error)
{
    buf *a = &svc->answers;
    it->answer_off = a->len;
    buf_add_str(a, ok ? "{\"ok\":true,\"id\":" : "{\"ok\":false,\"id\":");
    if (id)
        buf_add_json_string(a, id, strlen(id));
    else
        buf_add_str(a, "null");
    if (extra)
        buf_add_str(a, extra);
    if (error) {
        buf_add_str(a, ",\"error\":");
        buf_add_json_string(a, error, strlen(error));
    }
    buf_add_str(a, "}\n");
    it->answer_len = a->len - it->answer_off;
}

/* Runs items [first, last) through the plugins and commits them: 0, or -1
 * when one failed without savepoints (run it again with them). */
static int run_batch(service *svc, size_t first, size_t last, int alone)
{
    session *s = svc->s;
    store *st = session_store(s);
    cx_error err;
    char message[400];
    if (store_begin(st, &err) < 0) {
        for (size_t i = first; i < last; i++)
            answer(svc, &svc->items[i], 0, NULL, NULL, err.text);
        return 0;
    }
    int64_t stored = 0, duplicates = 0;
    for (size_t i = first; i < last; i++) {
        item *it = &svc->items[i];
        connection *c = it->c;
        if (it->kind == ITEM_TOO_LONG) {
            snprintf(message, sizeof message, "connection %d:%ld: the line is longer than %zu bytes; refused",
                     c->number, it->line, svc->o.max_line);
            answer(svc, it, 0, NULL, NULL, message);
            continue;
        }
        cx_event ev;
        int rc = reader_parse_line(c->lines, svc->text.data + it->off, it->len, it->line, &ev, &err);
        if (rc < 0) {
            answer(svc, it, 0, reader_last_id(c->lines), NULL, err.text);
            continue;
        }
        rc = ingest_event(s, &ev, 0, alone, &err);
        if (rc < 0 && !alone) {
            store_rollback(st);
            return -1;
        }
        if (rc < 0) {
            cx_error_prefix(&err, "connection %d:%ld", c->number, it->line);
            answer(svc, it, 0, ev.id, NULL, err.text);
        } else {
            answer(svc, it, 1, ev.id, rc == 0 ? ",\"duplicate\":true" : NULL, NULL);
            stored += rc == 1;
            duplicates += rc == 0;
        }
    }
    if (store_commit(st, &err) < 0) {
        store_rollback(st);
        cx_error_prefix(&err, "not stored: the commit failed");
        svc->answers.len = svc->items[first].answer_off;
        for (size_t i = first; i < last; i++)
            answer(svc, &svc->items[i], 0, NULL, NULL, err.text);
        return 0;
    }
    svc->stored += stored;
    svc->duplicates += duplicates;
    svc->batches++;
    return 0;
}

/* Everything queued: through the plugins, committed, answered. */
static void flush(service *svc)
{
    if (!svc->nitems)
        return;
    cx_error no_timer;
    (void)luahost_lazy_begin(session_lua(svc->s), &no_timer);
    for (size_t first = 0; first < svc->nitems; first += BATCH_MAX) {
        size_t last = first + BATCH_MAX < svc->nitems ? first + BATCH_MAX : svc->nitems;
        size_t mark = svc->answers.len;
        if (run_batch(svc, first, last, 0) < 0) {
            svc->answers.len = mark;
            run_batch(svc, first, last, 1);
        }
    }
    luahost_lazy_end(session_lua(svc->s));
    for (size_t i = 0; i < svc->nitems; i++) {
        item *it = &svc->items[i];
        buf_add(&it->c->out, svc->answers.data + it->answer_off, it->answer_len);
        it->c->queued--;
        it->c->queued_bytes -= it->len;
    }
    for (size_t i = 0; i < svc->nitems; i++) {
        connection *c = svc->items[i].c;
        if (c->out.len)
            connection_send(c);
    }
    svc->nitems = 0;
    buf_clear(&svc->text);
    buf_clear(&svc->answers);
    for (connection *c = svc->connections; c; c = c->next) {
        connection_maybe_resume(c);
        connection_maybe_close(c);
    }
}

static void on_check(uv_check_t *check)
{
    flush(check->data);
}

/* --- the REPL socket ------------------------------------------------------------------------ */

typedef struct repl_reply {
    buf output, errors;
} repl_reply;

static void repl_collect(void *ud, int is_error, const char *text, size_t len)
{
    repl_reply *r = ud;
    buf_add(is_error ? &r->errors : &r->output, text, len);
}

static void repl_match(void *ud, const char *match)
{
    buf *out = ud;
    buf_add_char(out, out->data[out->len - 1] == '[' ? ' ' : ',');
    buf_add_json_string(out, match, strlen(match));
}

/* While a statement of an attached REPL runs, the loop is busy with it:
 * a thread watches the connection for the byte 0x03 (Ctrl-C at the other
 * end) and stops the statement as a signal handler would. */
typedef struct interrupt_watch {
    int fd;
    int stop[2];
    luahost *host;
    pthread_t thread;
} interrupt_watch;

static void *watch_for_interrupt(void *arg)
{
    interrupt_watch *w = arg;
    for (;;) {
        struct pollfd fds[2] = {{w->fd, POLLIN, 0}, {w->stop[0], POLLIN, 0}};
        if (poll(fds, 2, -1) < 0)
            continue;
        if (fds[1].revents)
            return NULL;
        unsigned char byte;
        if (recv(w->fd, &byte, 1, MSG_PEEK) != 1 || byte != 0x03)
            return NULL;           /* anything else waits for the loop */
        if (recv(w->fd, &byte, 1, 0) == 1)
            luahost_interrupt(w->host);
    }
}

static int watch_start(interrupt_watch *w, connection *c)
{
    uv_os_fd_t fd;
    if (uv_fileno(&c->h.handle, &fd) != 0 || pipe(w->stop) != 0)
        return -1;
    w->fd = fd;
    w->host = session_lua(c->svc->s);
    if (pthread_create(&w->thread, NULL, watch_for_interrupt, w) != 0) {
        close(w->stop[0]);
        close(w->stop[1]);
        return -1;
    }
    return 0;
}

static void watch_stop(interrupt_watch *w)
{
    if (write(w->stop[1], "x", 1) < 0)
        perror("cxhost serve");
    pthread_join(w->thread, NULL);
    close(w->stop[0]);
    close(w->stop[1]);
}

/* One request line of a REPL connection, answered at once. */
static void repl_request(connection *c, const char *text, size_t len)
{
    json_cursor cur;
    json_span key, value;
    const char *why = NULL;
    buf arg = BUF_INIT;
    int op = 0;   /* 1 line, 2 complete */
    if (json_object_begin(&cur, text, len, &why) == 0) {
        while (json_object_next(&cur, &key, &value, &why) == 1) {
            int which = json_key_is(key, "line") ? 1 : json_key_is(key, "complete") ? 2 : json_key_is(key, "reset") ? 3 : 0;
            if (which && value.type == JSON_STRING && json_string_decode(value, &arg, &why) == 0)
                op = which;
        }
    }
    if (op == 2) {
        buf_add_str(&c->out, "{\"matches\":[");
        repl_complete(c->repl, buf_str(&arg), repl_match, &c->out);
        buf_add_str(&c->out, "]}\n");
    } else if (op == 1 || op == 3) {
        repl_reply reply = {BUF_INIT, BUF_INIT};
        repl_status st = REPL_DONE;
        if (op == 3) {
            repl_reset(c->repl);
        } else {
            interrupt_watch w;
            int watching = watch_start(&w, c) == 0;
            st = repl_feed(c->repl, buf_str(&arg), repl_collect, &reply);
            if (watching)
                watch_stop(&w);
        }
        static const char *const names[] = {"done", "more", "failed", "quit"};
        buf_printf(&c->out, "{\"status\":\"%s\",\"output\":", names[st]);
        buf_add_json_string(&c->out, buf_str(&reply.output), reply.output.len);
        buf_add_str(&c->out, ",\"errors\":");
        buf_add_json_string(&c->out, buf_str(&reply.errors), reply.errors.len);
        buf_add_str(&c->out, ",\"prompt\":");
        const char *prompt = repl_prompt(c->repl);
        buf_add_json_string(&c->out, prompt, strlen(prompt));
        buf_add_str(&c->out, "}\n");
        buf_free(&reply.output);
        buf_free(&reply.errors);
        if (st == REPL_QUIT)
            c->ended = 1;
    } else {
        buf_add_str(&c->out, "{\"status\":\"failed\",\"output\":\"\",\"errors\":\"not a REPL request "
                             "({\\\"line\\\":\\\"...\\\"}, {\\\"complete\\\":\\\"...\\\"} or "
                             "{\\\"reset\\\":\\\"\\\"})\\n\"}\n");
    }
    buf_free(&arg);
    connection_send(c);
}

static void take_repl_bytes(connection *c, const char *data, size_t n)
{
    while (n && !c->ended) {
        if (*data == 0x03 && !c->in.len) {   /* a Ctrl-C that came after its statement ended */
            data++;
            n--;
            continue;
        }
        const char *nl = memchr(data, '\n', n);
        size_t part = nl ? (size_t)(nl - data) : n;
        buf_add(&c->in, data, part);
        if (c->in.len > REPL_REQUEST_MAX) {
            c->ended = 1;
            break;
        }
        if (!nl)
            break;
        repl_request(c, buf_str(&c->in), c->in.len);
        buf_clear(&c->in);
        data += part + 1;
        n -= part + 1;
    }
}

/* --- reading and accepting --------------------------------------------------------------------- */

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    connection *c = (connection *)stream;
    service *svc = c->svc;
    if (nread > 0 && c->draining)
        return;                        /* the end: input is no longer taken */
    if (nread > 0) {
        if (c->is_repl)
            take_repl_bytes(c, b->base, (size_t)nread);
        else
            take_bytes(svc, c, b->base, (size_t)nread);
        if (c->ended)
            connection_pause(c);
    } else if (nread < 0) {
        connection_pause(c);
        if (nread == UV_EOF && !c->ended && !c->is_repl && !c->skipping && c->in.len) {
            c->line++;                 /* the last line, without its newline (not one cut by a reset) */
            queue_item(svc, c, ITEM_EVENT, c->in.data, c->in.len);
            buf_clear(&c->in);
        }
        c->ended = c->peer_gone = 1;
        if (c->draining && !c->closing) {
            c->closing = 1;
            uv_close(&c->h.handle, connection_closed);
            return;
        }
    }
    connection_maybe_close(c);
}

static void accept_connection(uv_stream_t *server, int is_repl)
{
    service *svc = server->data;
    connection *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->svc = svc;
    c->is_repl = is_repl;
    c->number = ++svc->next_number;
    int rc = is_repl || strncmp(svc->o.listen, "unix:", 5) == 0 ? uv_pipe_init(svc->loop, &c->h.pipe, 0)
                                                                 : uv_tcp_init(svc->loop, &c->h.tcp);
    if (rc != 0) {
        free(c);
        return;
    }
    c->next = svc->connections;
    svc->connections = c;
    if (uv_accept(server, &c->h.stream) != 0) {
        c->ended = 1;
        connection_maybe_close(c);
        return;
    }
    if (is_repl) {
        c->repl_session = svc->s;
        c->repl = repl_new(&c->repl_session, 0);
    } else {
        char name[32];
        snprintf(name, sizeof name, "connection %d", c->number);
        c->lines = reader_open_lines(name);
        if (!is_repl && strncmp(svc->o.listen, "unix:", 5) != 0)
            uv_tcp_nodelay(&c->h.tcp, 1);
    }
    if ((is_repl && !c->repl) || (!is_repl && !c->lines)) {
        c->ended = 1;
        connection_maybe_close(c);
        return;
    }
    connection_maybe_resume(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status == 0)
        accept_connection(server, 0);
}

static void on_repl_connection(uv_stream_t *server, int status)
{
    if (status == 0)
        accept_connection(server, 1);
}

/* --- reloading, stopping ---------------------------------------------------------------------- */

static void watch_plugins_start(service *svc);

static void reload(service *svc, const char *why)
{
    cx_error err;
    if (session_reload(svc->s, &err) < 0) {
        say(svc, "reload (%s) failed, the previous plugins keep running: %s", why, err.text);
        return;
    }
    say(svc, "reloaded config.lua and %d plugins (%s)", plugin_count(session_plugins(svc->s)), why);
    if (!svc->has_watch_plugins)
        watch_plugins_start(svc);
}

static void on_reload_timer(uv_timer_t *t)
{
    service *svc = t->data;
    reload(svc, svc->reload_why);
}

static void reload_soon(service *svc, const char *why)
{
    if (svc->stopping)
        return;
    if (uv_is_active((uv_handle_t *)&svc->reload_timer) && strcmp(svc->reload_why, why) != 0)
        why = "plugin files and config.lua changed";
    svc->reload_why = why;
    uv_timer_start(&svc->reload_timer, on_reload_timer, RELOAD_DELAY_MS, 0);
}

static void on_plugin_change(uv_fs_event_t *handle, const char *filename, int events, int status)
{
    (void)events;
    size_t len = filename ? strlen(filename) : 0;
    if (status == 0 && (!filename || (len > 4 && strcmp(filename + len - 4, ".lua") == 0)))
        reload_soon(handle->data, "a plugin file changed");
}

static void on_config_change(uv_fs_poll_t *handle, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    (void)curr;
    if (status < 0 && prev->st_ino == 0)
        return;                        /* there was none to begin with */
    reload_soon(handle->data, "config.lua changed");
}

static void watch_plugins_start(service *svc)
{
    buf dir = BUF_INIT;
    workspace_client_path(session_home(svc->s), session_client(svc->s), "plugins", &dir);
    struct stat st;
    if (stat(dir.data, &st) == 0 && S_ISDIR(st.st_mode) && uv_fs_event_init(svc->loop, &svc->watch_plugins) == 0) {
        svc->open_handles++;
        svc->has_watch_plugins = 1;
        svc->watch_plugins.data = svc;
        if (uv_fs_event_start(&svc->watch_plugins, on_plugin_change, dir.data, 0) != 0)
            say(svc, "cannot watch %s for changes; reload with SIGHUP", dir.data);
    }
    buf_free(&dir);
}

/* `cxhost campaign start` and `stop` change the store, not a file: the
 * service looks at the campaigns' revision and reloads when it moved, so
 * that the campaigns plugin listens to what the started campaigns need. */
static void on_campaigns_timer(uv_timer_t *t)
{
    service *svc = t->data;
    int64_t revision = 0;
    cx_error err;
    if (store_campaigns_revision(session_store(svc->s), &revision, &err) < 0) {
        say(svc, "cannot look for campaign changes: %s", err.text);
        return;
    }
    if (revision != svc->campaigns_revision) {
        svc->campaigns_revision = revision;
        reload_soon(svc, "campaigns started or stopped");
    }
}

static void on_sighup(uv_signal_t *sig, int signum)
{
    (void)signum;
    reload(sig->data, "SIGHUP");
}

/* Ends the loop once the listeners and connections are all gone. */
static void maybe_finish(service *svc)
{
    if (svc->stopping && !svc->connections)
        uv_stop(svc->loop);
}

static void on_drain_timeout(uv_timer_t *t)
{
    service *svc = t->data;
    for (connection *c = svc->connections; c; c = c->next)
        if (!c->closing) {
            c->closing = 1;
            uv_close(&c->h.handle, connection_closed);
        }
}

static void stop(service *svc, const char *why)
{
    if (svc->stopping)
        return;
    svc->stopping = 1;
    say(svc, "%s: no new connections; committing what was received", why);
    if (svc->has_listener)
        close_handle(svc, &svc->listener.handle);
    if (svc->has_repl)
        close_handle(svc, (uv_handle_t *)&svc->repl_listener);
    svc->has_listener = svc->has_repl = 0;
    for (connection *c = svc->connections; c; c = c->next) {
        connection_pause(c);
        c->ended = 1;
    }
    flush(svc);
    for (connection *c = svc->connections; c; c = c->next)
        connection_maybe_close(c);
    uv_timer_start(&svc->drain_timer, on_drain_timeout, DRAIN_MS, 0);
    uv_timer_stop(&svc->campaigns_timer);
    maybe_finish(svc);
}

static void on_stop_signal(uv_signal_t *sig, int signum)
{
    stop(sig->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* --- starting ------------------------------------------------------------------------------------- */

/* Whether a service answers on the unix socket at path; a socket file no
 * one answers on is left by one that was killed, and may go. */
static int unix_socket_in_use(const char *path)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path)
        return 0;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    int in_use = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return in_use;
}

/* Removes a socket file left at path by a service that was killed; -1 when
 * a running service has it. */
static int unix_socket_claim(const char *path, const char *option, cx_error *err)
{
    /* A service that was just killed may still answer for a moment, while
     * the system takes it down: only one that goes on answering has it. */
    int tries = 0;
    while (unix_socket_in_use(path) && ++tries < 10)
        uv_sleep(100);
    if (tries == 10) {
        cx_error_set(err, "%s%s: another service is listening there", option, path);
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    return 0;
}

/* Binds and listens on o->listen; fills svc->address with what it is. */
static int listen_on(service *svc, cx_error *err)
{
    const char *spec = svc->o.listen;
    int rc;
    if (strncmp(spec, "unix:", 5) == 0) {
        const char *path = spec + 5;
        if (!*path) {
            cx_error_set(err, "--listen unix:PATH needs a path");
            return -1;
        }
        if (unix_socket_claim(path, "--listen unix:", err) < 0)
            return -1;
        if ((rc = uv_pipe_init(svc->loop, &svc->listener.pipe, 0)) == 0) {
            svc->open_handles++;
            svc->has_listener = 1;
            rc = uv_pipe_bind(&svc->listener.pipe, path);
            svc->owns_listen_socket = rc == 0;
        }
        snprintf(svc->address, sizeof svc->address, "unix:%s", path);
    } else {
        char host[256];
        const char *colon = strrchr(spec, ':');
        if (!colon || colon == spec || !colon[1] || (size_t)(colon - spec) >= sizeof host) {
            cx_error_set(err, "--listen '%s': give HOST:PORT (127.0.0.1:7070) or unix:PATH", spec);
            return -1;
        }
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535) {
            cx_error_set(err, "--listen '%s': the port must be a number from 0 to 65535", spec);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
        if (host[0] == '[' && host[strlen(host) - 1] == ']') {
            memmove(host, host + 1, strlen(host));
            host[strlen(host) - 1] = '\0';
        }
        struct sockaddr_storage addr;
        if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
            uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr) != 0) {
            cx_error_set(err, "--listen '%s': '%s' is not an IP address (127.0.0.1, ::1, 0.0.0.0)", spec, host);
            return -1;
        }
        if ((rc = uv_tcp_init(svc->loop, &svc->listener.tcp)) == 0) {
            svc->open_handles++;
            svc->has_listener = 1;
            rc = uv_tcp_bind(&svc->listener.tcp, (struct sockaddr *)&addr, 0);
        }
        if (rc == 0) {
            struct sockaddr_storage bound;
            int len = sizeof bound;
            char ip[64] = "?";
            uv_tcp_getsockname(&svc->listener.tcp, (struct sockaddr *)&bound, &len);
            if (bound.ss_family == AF_INET6) {
                uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
                snprintf(svc->address, sizeof svc->address, "[%s]:%d", ip,
                         ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
            } else {
                uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
                snprintf(svc->address, sizeof svc->address, "%s:%d", ip,
                         ntohs(((struct sockaddr_in *)&bound)->sin_port));
            }
        }
    }
    svc->listener.handle.data = svc;
    if (rc == 0)
        rc = uv_listen(&svc->listener.stream, 128, on_connection);
    if (rc != 0) {
        cx_error_set(err, "cannot listen on %s: %s", spec, uv_strerror(rc));
        return -1;
    }
    return 0;
}

static int listen_repl(service *svc, cx_error *err)
{
    const char *path = svc->o.repl_path;
    if (unix_socket_claim(path, "--repl ", err) < 0)
        return -1;
    int rc = uv_pipe_init(svc->loop, &svc->repl_listener, 0);
    if (rc == 0) {
        svc->open_handles++;
        svc->has_repl = 1;
        svc->repl_listener.data = svc;
        rc = uv_pipe_bind(&svc->repl_listener, path);
        svc->owns_repl_socket = rc == 0;
    }
    if (rc == 0) {
        /* Only this user may attach: the REPL runs any code on the client's data. */
        uv_pipe_chmod(&svc->repl_listener, UV_READABLE | UV_WRITABLE);
        chmod(path, 0600);
        rc = uv_listen((uv_stream_t *)&svc->repl_listener, 16, on_repl_connection);
    }
    if (rc != 0) {
        cx_error_set(err, "--repl %s: cannot listen there: %s", path, uv_strerror(rc));
        return -1;
    }
    return 0;
}

static void init_handle(service *svc, uv_handle_t *handle)
{
    handle->data = svc;
    svc->open_handles++;
}

int service_run(session *s, const service_options *o, cx_error *err)
{
    service *svc = calloc(1, sizeof *svc);
    if (!svc) {
        cx_error_set(err, "out of memory");
        return -1;
    }
    svc->s = s;
    svc->loop = loop_uv();
    svc->o = *o;
    if (!svc->o.max_line)
        svc->o.max_line = SERVICE_MAX_LINE_DEFAULT;
    int rc = -1;
    uv_check_init(svc->loop, &svc->check);
    init_handle(svc, (uv_handle_t *)&svc->check);
    uv_signal_init(svc->loop, &svc->sigint);
    init_handle(svc, (uv_handle_t *)&svc->sigint);
    uv_signal_init(svc->loop, &svc->sigterm);
    init_handle(svc, (uv_handle_t *)&svc->sigterm);
    uv_signal_init(svc->loop, &svc->sighup);
    init_handle(svc, (uv_handle_t *)&svc->sighup);
    uv_timer_init(svc->loop, &svc->reload_timer);
    init_handle(svc, (uv_handle_t *)&svc->reload_timer);
    uv_timer_init(svc->loop, &svc->drain_timer);
    init_handle(svc, (uv_handle_t *)&svc->drain_timer);
    uv_timer_init(svc->loop, &svc->campaigns_timer);
    init_handle(svc, (uv_handle_t *)&svc->campaigns_timer);
    if (listen_on(svc, err) < 0 || (o->repl_path && listen_repl(svc, err) < 0))
        goto done;
    /* A client that hangs up with answers unsent must not end the service. */
    signal(SIGPIPE, SIG_IGN);
    uv_check_start(&svc->check, on_check);
    uv_signal_start(&svc->sigint, on_stop_signal, SIGINT);
    uv_signal_start(&svc->sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&svc->sighup, on_sighup, SIGHUP);
    if (store_campaigns_revision(session_store(s), &svc->campaigns_revision, err) < 0)
        goto done;
    uv_timer_start(&svc->campaigns_timer, on_campaigns_timer, CAMPAIGNS_POLL_MS, CAMPAIGNS_POLL_MS);
    if (!o->no_watch) {
        watch_plugins_start(svc);
        buf config = BUF_INIT;
        workspace_client_path(session_home(s), session_client(s), "config.lua", &config);
        if (uv_fs_poll_init(svc->loop, &svc->watch_config) == 0) {
            init_handle(svc, (uv_handle_t *)&svc->watch_config);
            svc->has_watch_config = 1;
            uv_fs_poll_start(&svc->watch_config, on_config_change, config.data, 1000);
        }
        buf_free(&config);
    }
    session_set_print_to_stderr(s, 1);
    session_set_serving(s, 1);
    loop_timers_set_log(session_timers(s), timer_log, svc);
    say(svc, "client '%s' listening on %s (%d plugins)%s%s", session_client(s), svc->address,
          plugin_count(session_plugins(s)), o->repl_path ? "; REPL on unix:" : "", o->repl_path ? o->repl_path : "");
    uv_run(svc->loop, UV_RUN_DEFAULT);
    say(svc, "stopped: %lld lines received, %lld events stored, %lld duplicates, in %lld commits",
          (long long)svc->received, (long long)svc->stored, (long long)svc->duplicates, (long long)svc->batches);
    session_set_print_to_stderr(s, 0);
    session_set_serving(s, 0);
    loop_timers_set_log(session_timers(s), NULL, NULL);
    rc = 0;
done:
    /* Whatever is left: connections, handles. */
    for (connection *c = svc->connections; c; c = c->next)
        if (!c->closing) {
            c->closing = 1;
            uv_close(&c->h.handle, connection_closed);
        }
    svc->stopping = 0;   /* closing connections must not stop the loop below */
    uv_handle_t *mine[] = {(uv_handle_t *)&svc->check, (uv_handle_t *)&svc->sigint, (uv_handle_t *)&svc->sigterm,
                           (uv_handle_t *)&svc->sighup, (uv_handle_t *)&svc->reload_timer,
                           (uv_handle_t *)&svc->drain_timer, (uv_handle_t *)&svc->campaigns_timer};
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
        close_handle(svc, mine[i]);
    if (svc->has_listener)
        close_handle(svc, &svc->listener.handle);
    if (svc->has_repl)
        close_handle(svc, (uv_handle_t *)&svc->repl_listener);
    if (svc->has_watch_plugins)
        close_handle(svc, (uv_handle_t *)&svc->watch_plugins);
    if (svc->has_watch_config)
        close_handle(svc, (uv_handle_t *)&svc->watch_config);
    while (svc->open_handles > 0 || svc->connections)
        uv_run(svc->loop, UV_RUN_ONCE);
    if (svc->owns_repl_socket)
        unlink(o->repl_path);
    if (svc->owns_listen_socket)
        unlink(o->listen + 5);
    free(svc->items);
    buf_free(&svc->text);
    buf_free(&svc->answers);
    free(svc);
    return rc;
}
