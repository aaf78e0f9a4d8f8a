/*
 * cxload: a load generator for `cxhost serve`.
 *
 *   cxload --connect HOST:PORT|unix:PATH [--connections 8] [--events 50000]
 *          [--prefix P] [--customers 20000] [--acked FILE] [--window 512]
 *          [--ndjson FILE] [--timeout SECONDS]
 *
 * Each connection is a thread that sends its events pipelined (at most
 * --window lines unanswered) and reads the answers, one line per event, in
 * the order sent. See usage() for the details; tests/e2e/test_serve_load.sh
 * and bench/serve.sh use it.
 *
 * Plain POSIX sockets and pthreads; nothing of cxhost is linked in, so it
 * checks the service from the outside, as a client would.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 3
/* 1997-01-01T00:00:00Z: the first generated event; event N is N minutes later. */
#define BASE_TIME 852076800LL
/* At most this many error answers are printed (all are counted). */
#define MAX_REPORTED 10

static void usage(FILE *to)
{
  fputs(
    "usage: cxload --connect HOST:PORT|unix:PATH [options]\n"
    "\n"
    "Sends purchase events to `cxhost serve` over several connections at once,\n"
    "pipelined, and reads the answers (one line per event, in order).\n"
    "\n"
    "  --connect ADDR      HOST:PORT (IPv4 or IPv6, [::1]:PORT) or unix:PATH\n"
    "  --connections N     connections, one thread each (default 8)\n"
    "  --events N          events per connection (default 50000)\n"
    "  --prefix P          event ids are P-CONN-N, CONN and N from 0 (default ev)\n"
    "  --customers N       customers cust-0 .. cust-(N-1), spread over the events\n"
    "                      (default 20000)\n"
    "  --window N          at most N lines in flight per connection (default 512)\n"
    "  --acked FILE        append the id of every event answered ok, one a line,\n"
    "                      written as the answers arrive\n"
    "  --ndjson FILE       send the lines of FILE (blank lines skipped) instead of\n"
    "                      generated events, dealt round-robin to the connections;\n"
    "                      not with --events\n"
    "  --timeout SECONDS   give a connection up when nothing arrives for that long\n"
    "                      while answers are due (default 120)\n"
    "  --help              this text\n"
    "\n"
    "A generated event: {\"id\":\"P-CONN-N\",\"type\":\"purchase\",\"customer\":\"cust-K\",\n"
    "\"at\":...,\"amount\":...,\"touchpoint\":\"web\"}, with at 1997-01-01T00:00:00Z plus N\n"
    "minutes (every 4th as Unix seconds, the others ISO-8601), amount from 1.00 to\n"
    "500.99, deterministic (every 2nd a JSON string, the others a number).\n"
    "\n"
    "It prints one line to stdout:\n"
    "  sent N acknowledged N failed N in S s: R events/s\n"
    "(failed = sent - acknowledged: error answers and lines never answered; R is\n"
    "acknowledged / S) and details on stderr: duplicates among the acknowledged,\n"
    "the first error answers, connections that ended early (EOF, reset).\n"
    "Exit status: 0 when every event was sent and acknowledged ok (a duplicate\n"
    "is ok), 1 otherwise, 3 on a usage error.\n",
    to);
}

/* ------------------------------------------------------------------ options */

static struct {
  const char *connect;
  int connections;
  long long events;
  bool events_given;
  const char *prefix;
  long long customers;
  long long window;
  const char *acked;
  const char *ndjson;
  int timeout;
} opt = {
  .connections = 8,
  .events = 50000,
  .prefix = "ev",
  .customers = 20000,
  .window = 512,
  .timeout = 120,
};

/* The address to connect to, resolved once. */
static struct sockaddr_storage addr;
static socklen_t addr_len;

static int acked_fd = -1;

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static int reported;

static void report(const char *fmt, ...)
{
  va_list ap;
  pthread_mutex_lock(&report_lock);
  fputs("cxload: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  pthread_mutex_unlock(&report_lock);
}

/* An error answer is printed only for the first MAX_REPORTED. */
static bool may_report(void)
{
  bool yes;
  pthread_mutex_lock(&report_lock);
  yes = reported < MAX_REPORTED;
  reported++;
  pthread_mutex_unlock(&report_lock);
  return yes;
}

/* ------------------------------------------------------------------ buffers */

typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t more)
{
  if (b->len + more <= b->cap) {
    return;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) {
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) {
    fputs("cxload: out of memory\n", stderr);
    exit(1);
  }
  b->p = p;
  b->cap = cap;
}

static void buf_add(buf_t *b, const char *s, size_t n)
{
  buf_reserve(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

/* Drops the first n bytes. */
static void buf_consume(buf_t *b, size_t n)
{
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

static bool write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* --------------------------------------------------------------------- JSON */

/* Just enough JSON to read the members of a flat answer or event line. */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) {
    i++;
  }
  return i;
}

/* s[i] is '"': returns the index after the closing quote, or n. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
  for (i++; i < n; i++) {
    if (s[i] == '\\') {
      i++;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return n;
}

/* Returns the index after the value at s[i], or n when it is cut short. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
  if (i >= n) {
    return n;
  }
  if (s[i] == '"') {
    return skip_string(s, n, i);
  }
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < n) {
      char c = s[i];
      if (c == '"') {
        i = skip_string(s, n, i);
        continue;
      }
      if (c == '{' || c == '[') {
        depth++;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          return i + 1;
        }
      }
      i++;
    }
    return n;
  }
  while (i < n && !strchr(",}] \t\r\n", s[i])) {
    i++;
  }
  return i;
}

/* The raw text of the top-level member KEY of the object in s[0..n). */
static bool json_member(const char *s, size_t n, const char *key, const char **v, size_t *vn)
{
  size_t klen = strlen(key);
  size_t i = skip_ws(s, n, 0);
  if (i >= n || s[i] != '{') {
    return false;
  }
  i++;
  for (;;) {
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != '"') {
      return false;
    }
    size_t k0 = i + 1;
    i = skip_string(s, n, i);
    if (i >= n) {
      return false;
    }
    size_t k1 = i - 1;
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != ':') {
      return false;
    }
    i = skip_ws(s, n, i + 1);
    size_t v0 = i;
    i = skip_value(s, n, i);
    if (i > n || i == v0) {
      return false;
    }
    if (k1 - k0 == klen && memcmp(s + k0, key, klen) == 0) {
      *v = s + v0;
      *vn = i - v0;
      return true;
    }
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != ',') {
      return false;
    }
    i++;
  }
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

static bool hex4(const char *s, size_t n, size_t i, unsigned *out)
{
  unsigned u = 0;
  if (i + 4 > n) {
    return false;
  }
  for (size_t k = i; k < i + 4; k++) {
    int h = hexval(s[k]);
    if (h < 0) {
      return false;
    }
    u = u * 16 + (unsigned)h;
  }
  *out = u;
  return true;
}

/* Decodes the JSON string v[0..vn) (quotes included) into out (NUL-ended). */
static bool json_string(const char *v, size_t vn, buf_t *out)
{
  out->len = 0;
  if (vn < 2 || v[0] != '"' || v[vn - 1] != '"') {
    return false;
  }
  for (size_t i = 1; i < vn - 1; i++) {
    char c = v[i];
    if (c != '\\') {
      buf_add(out, &c, 1);
      continue;
    }
    if (++i >= vn - 1) {
      return false;
    }
    switch (v[i]) {
    case '"': case '\\': case '/': buf_add(out, &v[i], 1); break;
    case 'b': buf_add(out, "\b", 1); break;
    case 'f': buf_add(out, "\f", 1); break;
    case 'n': buf_add(out, "\n", 1); break;
    case 'r': buf_add(out, "\r", 1); break;
    case 't': buf_add(out, "\t", 1); break;
    case 'u': {
      unsigned u, lo;
      if (!hex4(v, vn - 1, i + 1, &u)) {
        return false;
      }
      i += 4;
      if (u >= 0xD800 && u < 0xDC00 && i + 6 < vn && v[i + 1] == '\\' && v[i + 2] == 'u' &&
          hex4(v, vn - 1, i + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      }
      char e[4];
      size_t en;
      if (u < 0x80) {
        e[0] = (char)u;
        en = 1;
      } else if (u < 0x800) {
        e[0] = (char)(0xC0 | (u >> 6));
        e[1] = (char)(0x80 | (u & 0x3F));
        en = 2;
      } else if (u < 0x10000) {
        e[0] = (char)(0xE0 | (u >> 12));
        e[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        e[2] = (char)(0x80 | (u & 0x3F));
        en = 3;
      } else {
        e[0] = (char)(0xF0 | (u >> 18));
        e[1] = (char)(0x80 | ((u >> 12) & 0x3F));
        e[2] = (char)(0x80 | ((u >> 6) & 0x3F));
        e[3] = (char)(0x80 | (u & 0x3F));
        en = 4;
      }
      buf_add(out, e, en);
      break;
    }
    default:
      return false;
    }
  }
  buf_add(out, "", 1);
  out->len--;
  return true;
}

static bool is_literal(const char *v, size_t vn, const char *lit)
{
  return vn == strlen(lit) && memcmp(v, lit, vn) == 0;
}

/* ------------------------------------------------------------------- events */

typedef struct {
  const char *p;
  size_t len;
} line_t;

/* splitmix64: a deterministic spread of (connection, event). */
static uint64_t mix(uint64_t x)
{
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

static void format_id(char *out, size_t size, int conn, long long n)
{
  snprintf(out, size, "%s-%d-%lld", opt.prefix, conn, n);
}

/* Appends generated event n of connection conn, with its newline. */
static void add_event(buf_t *out, int conn, long long n)
{
  char id[160], at[40], amount[40], line[512];
  uint64_t h = mix(((uint64_t)conn << 40) ^ (uint64_t)n);
  long long customer = (long long)(h % (uint64_t)opt.customers);
  long long cents = 100 + (long long)((h >> 20) % 50000); /* 1.00 .. 500.99 */
  time_t t = (time_t)(BASE_TIME + n * 60);
  format_id(id, sizeof id, conn, n);
  if (n % 4 == 3) {
    snprintf(at, sizeof at, "%lld", (long long)t);
  } else {
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(at, sizeof at, "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  if (n % 2 == 1) {
    snprintf(amount, sizeof amount, "\"%lld.%02lld\"", cents / 100, cents % 100);
  } else {
    snprintf(amount, sizeof amount, "%lld.%02lld", cents / 100, cents % 100);
  }
  int len = snprintf(line, sizeof line,
                     "{\"id\":\"%s\",\"type\":\"purchase\",\"customer\":\"cust-%lld\",\"at\":%s,"
                     "\"amount\":%s,\"touchpoint\":\"web\"}\n",
                     id, customer, at, amount);
  buf_add(out, line, (size_t)len);
}

/* ------------------------------------------------------------- connections */

typedef struct {
  int index;
  const line_t *lines; /* --ndjson: this connection's lines */
  long long total;     /* events to send */
  long long sent;      /* lines written to the socket in full */
  long long answered;
  long long acked;     /* answered ok (duplicates included) */
  long long duplicates;
  long long errors;    /* answered with an error, or with another id */
  bool ended_early;    /* EOF, reset, timeout, ... before every answer */
  pthread_t thread;
  buf_t scratch, scratch2;
} conn_t;

static int connect_socket(char *why, size_t why_size)
{
  int fd = socket(addr.ss_family, SOCK_STREAM, 0);
  if (fd < 0) {
    snprintf(why, why_size, "socket: %s", strerror(errno));
    return -1;
  }
  while (connect(fd, (struct sockaddr *)&addr, addr_len) != 0) {
    if (errno == EINTR) {
      continue;
    }
    snprintf(why, why_size, "cannot connect to %s: %s", opt.connect, strerror(errno));
    close(fd);
    return -1;
  }
  if (addr.ss_family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    snprintf(why, why_size, "fcntl: %s", strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* The id that answer k of c should carry: into c->scratch; false when the
   line sent has no string id (an id of null is then expected). */
static bool expected_id(conn_t *c, long long k)
{
  if (!c->lines) {
    char id[160];
    format_id(id, sizeof id, c->index, k);
    c->scratch.len = 0;
    buf_add(&c->scratch, id, strlen(id) + 1);
    c->scratch.len--;
    return true;
  }
  const char *v;
  size_t vn;
  const line_t *l = &c->lines[k];
  return json_member(l->p, l->len, "id", &v, &vn) && json_string(v, vn, &c->scratch);
}

/* One answer line (without its newline). Returns false when it cannot be
   matched to a line sent (the connection is then given up). */
static bool handle_answer(conn_t *c, const char *s, size_t n, buf_t *acked)
{
  if (n > 0 && s[n - 1] == '\r') {
    n--;
  }
  if (c->answered >= c->sent) {
    report("connection %d: an answer for no line sent: %.*s", c->index, (int)(n > 300 ? 300 : n), s);
    return false;
  }
  long long k = c->answered++;
  bool have_id = expected_id(c, k);
  const char *v;
  size_t vn;
  bool ok = json_member(s, n, "ok", &v, &vn) && is_literal(v, vn, "true");
  bool dup = json_member(s, n, "duplicate", &v, &vn) && is_literal(v, vn, "true");
  bool id_null = !json_member(s, n, "id", &v, &vn) || is_literal(v, vn, "null");
  bool id_ok;
  if (id_null) {
    id_ok = !have_id;
  } else {
    id_ok = have_id && json_string(v, vn, &c->scratch2) && c->scratch2.len == c->scratch.len &&
            memcmp(c->scratch2.p, c->scratch.p, c->scratch.len) == 0;
  }
  if (ok && id_ok) {
    c->acked++;
    if (dup) {
      c->duplicates++;
    }
    if (have_id) {
      buf_add(acked, c->scratch.p, c->scratch.len);
      buf_add(acked, "\n", 1);
    }
    return true;
  }
  c->errors++;
  if (may_report()) {
    report("connection %d, line %lld (id %s): %s%.*s", c->index, k,
           have_id ? c->scratch.p : "none", ok ? "answered for another id: " : "",
           (int)(n > 300 ? 300 : n), s);
  }
  return true;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *conn_main(void *arg)
{
  conn_t *c = arg;
  char why[512];
  int fd = connect_socket(why, sizeof why);
  if (fd < 0) {
    report("connection %d: %s", c->index, why);
    c->ended_early = true;
    return NULL;
  }
  buf_t out = { 0 }, in = { 0 }, acked = { 0 };
  size_t out_pos = 0;     /* bytes of out already written */
  long long queued = 0;   /* lines put into out */
  double last = now_s();  /* when something last arrived (or we started) */
  bool eof = false;
  char send_why[256] = "";  /* why sending stopped: answers are still read */
  why[0] = '\0';

  while (c->answered < c->total && !why[0]) {
    if (send_why[0] && c->answered >= c->sent) {
      snprintf(why, sizeof why, "%s", send_why);
      break;
    }
    /* Fill the window. */
    if (out_pos == out.len) {
      out.len = 0;
      out_pos = 0;
    }
    while (!send_why[0] && queued < c->total && queued - c->answered < opt.window) {
      if (c->lines) {
        buf_add(&out, c->lines[queued].p, c->lines[queued].len);
        buf_add(&out, "\n", 1);
      } else {
        add_event(&out, c->index, queued);
      }
      queued++;
    }
    bool want_send = !send_why[0] && out_pos < out.len;
    struct pollfd p = { .fd = fd, .events = POLLIN | (want_send ? POLLOUT : 0) };
    int r = poll(&p, 1, 1000);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      snprintf(why, sizeof why, "poll: %s", strerror(errno));
      break;
    }
    if (r == 0) {
      if (now_s() - last > opt.timeout) {
        snprintf(why, sizeof why, "nothing arrived for %d s", opt.timeout);
      }
      continue;
    }
    if (want_send && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = send(fd, out.p + out_pos, out.len - out_pos, MSG_NOSIGNAL);
      if (w > 0) {
        const char *q = out.p + out_pos, *end = q + w;
        while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
          c->sent++;
          q++;
        }
        out_pos += (size_t)w;
      } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        snprintf(send_why, sizeof send_why, "send: %s", strerror(errno));
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      for (;;) {
        buf_reserve(&in, 65536);
        ssize_t n = recv(fd, in.p + in.len, in.cap - in.len, 0);
        if (n > 0) {
          in.len += (size_t)n;
          last = now_s();
          continue;
        }
        if (n == 0) {
          eof = true;
        } else if (errno == EINTR) {
          continue;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
          snprintf(why, sizeof why, "recv: %s", strerror(errno));
        }
        break;
      }
      size_t done = 0;
      const char *nl;
      bool lost = false;
      while ((nl = memchr(in.p + done, '\n', in.len - done)) != NULL) {
        size_t len = (size_t)(nl - (in.p + done));
        if (len > 0 && !handle_answer(c, in.p + done, len, &acked)) {
          lost = true;
          break;
        }
        done += len + 1;
      }
      buf_consume(&in, done);
      if (acked.len > 0 && acked_fd >= 0) {
        if (!write_all(acked_fd, acked.p, acked.len)) {
          snprintf(why, sizeof why, "cannot write %s: %s", opt.acked, strerror(errno));
        }
      }
      acked.len = 0;
      if (lost) {
        snprintf(why, sizeof why, "answers out of step");
      } else if (eof && c->answered < c->total && !why[0]) {
        snprintf(why, sizeof why, "%s", send_why[0] ? send_why : "the server closed the connection");
      }
    }
  }
  if (why[0]) {
    c->ended_early = true;
    report("connection %d: %s (%lld sent, %lld answered, %lld not sent)", c->index, why,
           c->sent, c->answered, c->total - c->sent);
  }
  close(fd);
  free(out.p);
  free(in.p);
  free(acked.p);
  return NULL;
}

/* ------------------------------------------------------------------- main */

static bool parse_count(const char *s, long long min, long long *out)
{
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < min) {
    return false;
  }
  *out = v;
  return true;
}

static bool resolve(const char *spec, char *why, size_t why_size)
{
  memset(&addr, 0, sizeof addr);
  if (strncmp(spec, "unix:", 5) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)&addr;
    const char *path = spec + 5;
    if (!*path || strlen(path) >= sizeof un->sun_path) {
      snprintf(why, why_size, "bad unix socket path: %s", path);
      return false;
    }
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, strlen(path) + 1);
    addr_len = (socklen_t)sizeof *un;
    return true;
  }
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || !colon[1]) {
    snprintf(why, why_size, "--connect wants HOST:PORT or unix:PATH, not %s", spec);
    return false;
  }
  char host[256];
  size_t hl = (size_t)(colon - spec);
  if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
    spec++;
    hl -= 2;
  }
  if (hl >= sizeof host) {
    snprintf(why, why_size, "host name too long");
    return false;
  }
  memcpy(host, spec, hl);
  host[hl] = '\0';
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
  int rc = getaddrinfo(host, colon + 1, &hints, &res);
  if (rc != 0) {
    snprintf(why, why_size, "cannot resolve %s: %s", opt.connect, gai_strerror(rc));
    return false;
  }
  memcpy(&addr, res->ai_addr, res->ai_addrlen);
  addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

/* Reads FILE whole; its lines (CR and blank lines dropped) into *lines. */
static bool read_ndjson(const char *path, char **text, line_t **lines, size_t *count)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    report("cannot open %s: %s", path, strerror(errno));
    return false;
  }
  buf_t b = { 0 };
  for (;;) {
    buf_reserve(&b, 1 << 20);
    size_t n = fread(b.p + b.len, 1, b.cap - b.len, f);
    b.len += n;
    if (n == 0) {
      break;
    }
  }
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    report("cannot read %s", path);
    free(b.p);
    return false;
  }
  size_t cap = 1024, n = 0;
  line_t *ls = malloc(cap * sizeof *ls);
  if (!ls) {
    free(b.p);
    return false;
  }
  size_t i = 0;
  while (i < b.len) {
    const char *nl = memchr(b.p + i, '\n', b.len - i);
    size_t end = nl ? (size_t)(nl - b.p) : b.len;
    size_t len = end - i;
    if (len > 0 && b.p[i + len - 1] == '\r') {
      len--;
    }
    if (skip_ws(b.p + i, len, 0) < len) {
      if (n == cap) {
        cap *= 2;
        line_t *more = realloc(ls, cap * sizeof *ls);
        if (!more) {
          free(ls);
          free(b.p);
          return false;
        }
        ls = more;
      }
      ls[n].p = b.p + i;
      ls[n].len = len;
      n++;
    }
    i = end + 1;
  }
  *text = b.p;
  *lines = ls;
  *count = n;
  return true;
}

static int usage_error(const char *fmt, const char *arg)
{
  fputs("cxload: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs(" (see cxload --help)\n", stderr);
  return EXIT_USAGE;
}

int main(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (a[0] != '-' || a[1] != '-') {
      return usage_error("unexpected argument %s", a);
    }
    if (i + 1 >= argc) {
      return usage_error("%s needs a value", a);
    }
    const char *v = argv[++i];
    long long n;
    if (strcmp(a, "--connect") == 0) {
      opt.connect = v;
    } else if (strcmp(a, "--connections") == 0) {
      if (!parse_count(v, 1, &n) || n > 4096) {
        return usage_error("--connections wants 1 to 4096, not %s", v);
      }
      opt.connections = (int)n;
    } else if (strcmp(a, "--events") == 0) {
      if (!parse_count(v, 0, &opt.events) || opt.events > (1LL << 40)) {
        return usage_error("--events wants a count, not %s", v);
      }
      opt.events_given = true;
    } else if (strcmp(a, "--prefix") == 0) {
      if (!*v || strlen(v) > 100 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                               "0123456789._:-") != strlen(v)) {
        return usage_error("--prefix wants 1 to 100 of A-Z a-z 0-9 . _ : -, not %s", v);
      }
      opt.prefix = v;
    } else if (strcmp(a, "--customers") == 0) {
      if (!parse_count(v, 1, &opt.customers)) {
        return usage_error("--customers wants a count of at least 1, not %s", v);
      }
    } else if (strcmp(a, "--window") == 0) {
      if (!parse_count(v, 1, &opt.window) || opt.window > 1000000) {
        return usage_error("--window wants 1 to 1000000, not %s", v);
      }
    } else if (strcmp(a, "--acked") == 0) {
      opt.acked = v;
    } else if (strcmp(a, "--ndjson") == 0) {
      opt.ndjson = v;
    } else if (strcmp(a, "--timeout") == 0) {
      if (!parse_count(v, 1, &n) || n > 86400) {
        return usage_error("--timeout wants 1 to 86400 seconds, not %s", v);
      }
      opt.timeout = (int)n;
    } else {
      return usage_error("unknown option %s", a);
    }
  }
  if (!opt.connect) {
    return usage_error("%s", "--connect is needed");
  }
  if (opt.ndjson && opt.events_given) {
    return usage_error("%s", "--events and --ndjson do not go together");
  }
  char why[512];
  if (!resolve(opt.connect, why, sizeof why)) {
    fprintf(stderr, "cxload: %s\n", why);
    return EXIT_USAGE;
  }

  /* A server that goes away must not kill us: send() says EPIPE instead. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);

  char *text = NULL;
  line_t *lines = NULL;
  size_t nlines = 0;
  if (opt.ndjson && !read_ndjson(opt.ndjson, &text, &lines, &nlines)) {
    return 1;
  }
  if (opt.acked) {
    acked_fd = open(opt.acked, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (acked_fd < 0) {
      report("cannot open %s: %s", opt.acked, strerror(errno));
      free(text);
      free(lines);
      return 1;
    }
  }

  conn_t *conns = calloc((size_t)opt.connections, sizeof *conns);
  line_t *dealt = NULL;
  if (!conns || (nlines && !(dealt = malloc(nlines * sizeof *dealt)))) {
    fputs("cxload: out of memory\n", stderr);
    return 1;
  }
  size_t at = 0;
  for (int i = 0; i < opt.connections; i++) {
    conn_t *c = &conns[i];
    c->index = i;
    if (opt.ndjson) {
      /* Round-robin: line j goes to connection j % connections. */
      c->lines = dealt + at;
      for (size_t j = (size_t)i; j < nlines; j += (size_t)opt.connections) {
        dealt[at++] = lines[j];
      }
      c->total = (long long)(dealt + at - c->lines);
    } else {
      c->total = opt.events;
    }
  }

  double t0 = now_s();
  int started = 0;
  for (int i = 0; i < opt.connections; i++) {
    int rc = pthread_create(&conns[i].thread, NULL, conn_main, &conns[i]);
    if (rc != 0) {
      report("cannot start a thread: %s", strerror(rc));
      break;
    }
    started++;
  }
  long long planned = 0, sent = 0, acked = 0, duplicates = 0, errors = 0, answered = 0;
  int early = 0;
  for (int i = 0; i < opt.connections; i++) {
    conn_t *c = &conns[i];
    if (i < started) {
      pthread_join(c->thread, NULL);
    } else {
      c->ended_early = true;
    }
    planned += c->total;
    sent += c->sent;
    acked += c->acked;
    duplicates += c->duplicates;
    errors += c->errors;
    answered += c->answered;
    early += c->ended_early;
    free(c->scratch.p);
    free(c->scratch2.p);
  }
  double secs = now_s() - t0;
  if (acked_fd >= 0) {
    close(acked_fd);
  }

  printf("sent %lld acknowledged %lld failed %lld in %.2f s: %.0f events/s\n", sent, acked,
         sent - acked, secs, secs > 0 ? (double)acked / secs : 0.0);
  fflush(stdout);
  report("%d connections, %lld events to send: %lld acknowledged (%lld duplicates), %lld error "
         "answers, %lld never answered, %lld never sent; %d connections ended early",
         opt.connections, planned, acked, duplicates, errors, sent - answered, planned - sent,
         early);
  free(conns);
  free(dealt);
  free(lines);
  free(text);
  return (early == 0 && sent == planned && acked == sent) ? 0 : 1;
}
