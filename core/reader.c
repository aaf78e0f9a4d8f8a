/* reader.c: CSV, NDJSON and CDNOW input as events, see reader.h.
 *
 * Choices the contract leaves open:
 *  - A UTF-8 byte order mark at the start of the file is skipped (Excel
 *    writes one); a line holding a NUL byte is a bad line.
 *  - CSV: the header is read by reader_open, so a missing required column
 *    ("x.csv:1: missing column 'type'") or an empty file makes reader_open
 *    fail. Header names must be non-empty and distinct. Lines that are empty
 *    or only spaces/tabs are skipped. Event fields are trimmed of spaces and
 *    tabs; free fields are kept verbatim. A '"' inside an unquoted field is
 *    taken literally; text after a closing quote is an error. Every value
 *    must be valid UTF-8 (it may end up in JSON).
 *  - NDJSON: a syntax error is reported before any field error of the line.
 *    "at" as a number must be a whole number of seconds. An id or customer
 *    given as a number must be a whole number; its text is kept as written.
 *    A known field given twice is an error; other members are copied as
 *    they stand, duplicates included.
 *  - CDNOW: all data rows of a file must have the same column count. The
 *    rank of a (customer, date) counts every row whose customer and date are
 *    valid, even if its CDs or dollars are bad, so fixing that row and
 *    importing again gives every other row the same id as before.
 *  - After an I/O error every further call fails with the same message. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "cxhost/buf.h"
#include "cxhost/json.h"
#include "cxhost/money.h"
#include "cxhost/reader.h"
#include "cxhost/strmap.h"
#include "cxhost/utc.h"

/* The event fields every format can fill, in the order they are checked. */
enum { F_ID, F_TYPE, F_CUSTOMER, F_AT, F_AMOUNT, F_TOUCHPOINT, F_COUNT };
static const char *const field_names[F_COUNT] = {
    "id", "type", "customer", "at", "amount", "touchpoint"
};

/* How much of an offending value goes into a message. */
#define QUOTE_MAX 40


struct reader {
    FILE *fp;
    char *filename;
    reader_format fmt;

    /* the physical line last read, its line end stripped */
    char *lbuf;
    size_t lcap;
    const char *ln;
    size_t ln_len;
    const char *eol;   /* the line end that was stripped */
    int had_nul;       /* a line of the current record holds a NUL byte */
    long line;         /* physical lines read */
    long rec_line;     /* first line of the current record */
    uint64_t bytes;
    buf raw;           /* the current record, without its final line end */

    int failed;
    buf fail_msg;
    buf problem;       /* first problem found in the current record */

    /* the current event's text; ev points into these */
    buf text[F_COUNT];
    int has[F_COUNT];
    int at_is_seconds; /* NDJSON "at" given as a number */
    int64_t at_seconds;
    buf data;

    /* CSV: the header, and the cells of the current record */
    char **cols;
    int *col_field;    /* the event field of each column, or -1 */
    size_t ncols;
    buf cells;         /* NUL-terminated cells, one after the other */
    size_t *cell_off;
    size_t ncells, cell_cap;

    /* CDNOW */
    int cd_started;    /* the first non-blank line was seen */
    int cd_columns;    /* 4 or 5 once a data row was read */
    strmap ranks;        /* customer and date -> rows seen so far */
    buf key;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("cxhost: out of memory\n", stderr);
        abort();
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

/* ---- format names ---- */

static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int same_ascii_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
            return 0;
    return *a == *b;
}

int reader_format_from_name(const char *name, reader_format *out)
{
    if (!name)
        return -1;
    if (same_ascii_nocase(name, "csv"))
        *out = READER_CSV;
    else if (same_ascii_nocase(name, "ndjson") || same_ascii_nocase(name, "jsonl"))
        *out = READER_NDJSON;
    else if (same_ascii_nocase(name, "cdnow"))
        *out = READER_CDNOW;
    else
        return -1;
    return 0;
}

const char *reader_format_name(reader_format fmt)
{
    switch (fmt) {
    case READER_CSV: return "csv";
    case READER_NDJSON: return "ndjson";
    case READER_CDNOW: return "cdnow";
    }
    return "unknown";
}

static int ends_with_nocase(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && same_ascii_nocase(s + n - k, suffix);
}

int reader_format_guess(const char *filename, reader_format *out)
{
    if (!filename)
        return -1;
    if (ends_with_nocase(filename, ".csv"))
        *out = READER_CSV;
    else if (ends_with_nocase(filename, ".ndjson") || ends_with_nocase(filename, ".jsonl") ||
             ends_with_nocase(filename, ".json"))
        *out = READER_NDJSON;
    else
        return -1;
    return 0;
}

/* ---- messages ---- */

/* A value fit to quote in a message: at most QUOTE_MAX bytes, control
 * characters and broken UTF-8 shown as '?', "..." when cut. */
static void quote_value(buf *out, const char *s, size_t n)
{
    size_t i = 0, k;
    buf_clear(out);
    while (i < n && i < QUOTE_MAX) {
        unsigned char c = (unsigned char)s[i];
        k = json_utf8_length(s + i, n - i);
        if (k == 0 || c < 0x20 || c == 0x7F) {
            buf_add_char(out, '?');
            i++;
        } else if (i + k > QUOTE_MAX) {
            break;
        } else {
            buf_add(out, s + i, k);
            i += k;
        }
    }
    if (i < n)
        buf_add_str(out, "...");
}

/* Notes the first problem of the current record. */
static void note(reader *r, const char *fmt, ...) CX_PRINTF(2, 3);
static void note(reader *r, const char *fmt, ...)
{
    va_list ap;
    if (r->problem.len)
        return;
    va_start(ap, fmt);
    buf_vprintf(&r->problem, fmt, ap);
    va_end(ap);
}

/* Notes "FIELD 'VALUE' WHY". */
static void note_value(reader *r, const char *field, const char *v, size_t n, const char *why)
{
    buf q = BUF_INIT;
    quote_value(&q, v, n);
    note(r, "%s '%s' %s", field, buf_str(&q), why);
    buf_free(&q);
}

/* Turns the noted problem into "FILE:LINE: problem"; returns -1. */
static int report(reader *r, cx_error *err)
{
    cx_error_set(err, "%s:%ld: %s", r->filename, r->rec_line, buf_str(&r->problem));
    return -1;
}

/* ---- physical lines ---- */

static int read_failed(reader *r, cx_error *err)
{
    r->failed = 1;
    buf_clear(&r->fail_msg);
    buf_printf(&r->fail_msg, "%s:%ld: read error: %s", r->filename, r->line + 1,
               errno ? strerror(errno) : "unknown error");
    cx_error_set(err, "%s", buf_str(&r->fail_msg));
    return -1;
}

/* Reads the next line into r->ln. 1: a line, 0: end of input, -1: I/O error. */
static int read_line(reader *r, cx_error *err)
{
    errno = 0;
    ssize_t got = getline(&r->lbuf, &r->lcap, r->fp);
    if (got < 0)
        return ferror(r->fp) ? read_failed(r, err) : 0;
    char *s = r->lbuf;
    size_t n = (size_t)got;
    r->bytes += n;
    r->line++;
    if (r->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    r->eol = "";
    if (n && s[n - 1] == '\n') {
        n--;
        r->eol = "\n";
    }
    if (n && s[n - 1] == '\r') {
        n--;
        r->eol = *r->eol ? "\r\n" : "\r";
    }
    if (memchr(s, '\0', n))
        r->had_nul = 1;
    r->ln = s;
    r->ln_len = n;
    return 1;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

/* Reads up to the next line that is not blank and starts a record there. */
static int next_nonblank(reader *r, cx_error *err)
{
    int rc;
    r->had_nul = 0;
    do {
        if ((rc = read_line(r, err)) <= 0)
            return rc;
    } while (is_blank(r->ln, r->ln_len));
    r->rec_line = r->line;
    buf_clear(&r->raw);
    buf_add(&r->raw, r->ln, r->ln_len);
    buf_clear(&r->problem);
    return 1;
}

/* ---- the event ---- */

static void clear_event(reader *r)
{
    for (int f = 0; f < F_COUNT; f++) {
        buf_clear(&r->text[f]);
        r->has[f] = 0;
    }
    r->at_is_seconds = 0;
    buf_clear(&r->data);
}

static void set_text(reader *r, int f, const char *s, size_t n)
{
    buf_clear(&r->text[f]);
    buf_add(&r->text[f], s, n);
    r->has[f] = n > 0;
}

static const char *text_or_null(reader *r, int f)
{
    return r->has[f] ? buf_str(&r->text[f]) : NULL;
}

/* Checks the gathered fields of a CSV or NDJSON record and fills ev. */
static int finish_event(reader *r, cx_event *ev, cx_error *err)
{
    const char *why;
    for (int f = 0; f < F_COUNT; f++)
        if (r->has[f] && strlen(buf_str(&r->text[f])) != r->text[f].len)
            note(r, "%s contains a NUL character", field_names[f]);
    if (!r->has[F_ID])
        note(r, "id is missing");
    if (!r->has[F_TYPE])
        note(r, "type is missing");
    if (r->at_is_seconds)
        ev->at = r->at_seconds;
    else if (!r->has[F_AT])
        note(r, "at is missing");
    else if (utc_parse(r->text[F_AT].data, r->text[F_AT].len, &ev->at, &why) < 0) {
        buf reason = BUF_INIT;
        buf_printf(&reason, "is not a valid time (%s)", why);
        note_value(r, "at", r->text[F_AT].data, r->text[F_AT].len, buf_str(&reason));
        buf_free(&reason);
    }
    ev->has_amount = r->has[F_AMOUNT];
    if (ev->has_amount &&
        money_parse(r->text[F_AMOUNT].data, r->text[F_AMOUNT].len, &ev->amount_cents, &why) < 0)
        note_value(r, "amount", r->text[F_AMOUNT].data, r->text[F_AMOUNT].len, why);
    if (r->problem.len)
        return report(r, err);
    ev->id = buf_str(&r->text[F_ID]);
    ev->type = buf_str(&r->text[F_TYPE]);
    ev->customer = text_or_null(r, F_CUSTOMER);
    ev->touchpoint = text_or_null(r, F_TOUCHPOINT);
    ev->data_json = r->data.len ? buf_str(&r->data) : NULL;
    return 1;
}

/* ---- CSV ---- */

enum { CSV_START, CSV_UNQUOTED, CSV_QUOTED, CSV_QUOTE };

/* cell_off[i] is where cell i starts; cell_off[ncells] where the next will. */
static void cells_reserve(reader *r)
{
    if (r->ncells + 2 > r->cell_cap) {
        r->cell_cap = r->cell_cap ? r->cell_cap * 2 : 16;
        r->cell_off = xrealloc(r->cell_off, r->cell_cap * sizeof *r->cell_off);
    }
}

static void cells_reset(reader *r)
{
    buf_clear(&r->cells);
    r->ncells = 0;
    cells_reserve(r);
    r->cell_off[0] = 0;
}

static void cell_end(reader *r)
{
    buf_add_char(&r->cells, '\0');
    cells_reserve(r);
    r->cell_off[++r->ncells] = r->cells.len;
}

/* One special character (or the first of a field); returns the new state. */
static int csv_step(reader *r, int st, char c)
{
    if (c == ',' && st != CSV_QUOTED) {
        cell_end(r);
        return CSV_START;
    }
    switch (st) {
    case CSV_START:
        if (c == '"')
            return CSV_QUOTED;
        break;
    case CSV_QUOTED: /* c is '"': a closing quote, or the first of a pair */
        return CSV_QUOTE;
    case CSV_QUOTE:
        if (c == '"')
            break; /* a doubled quote stands for one */
        note(r, "field %zu has text after its closing quote", r->ncells + 1);
        break;
    }
    buf_add_char(&r->cells, c);
    return st == CSV_QUOTE && c == '"' ? CSV_QUOTED : CSV_UNQUOTED;
}

/* Feeds one line of a record to the RFC 4180 state machine. */
static void csv_scan(reader *r, const char *s, size_t n, int *st)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        if (*st == CSV_UNQUOTED || *st == CSV_QUOTED) {
            /* copy ordinary characters in one go */
            char stop = *st == CSV_QUOTED ? '"' : ',';
            while (run < n && s[run] != stop)
                run++;
            buf_add(&r->cells, s + i, run - i);
            if ((i = run) == n)
                break;
        }
        *st = csv_step(r, *st, s[i++]);
    }
}

/* Reads one record (possibly several lines) into r->cells.
 * 1: a record (r->problem may hold a problem), 0: end, -1: I/O error. */
static int csv_record(reader *r, cx_error *err)
{
    int rc = next_nonblank(r, err), st = CSV_START;
    if (rc <= 0)
        return rc;
    cells_reset(r);
    csv_scan(r, r->ln, r->ln_len, &st);
    while (st == CSV_QUOTED) {
        /* a quoted field runs on: its line end is part of the value */
        const char *eol = r->eol;
        if ((rc = read_line(r, err)) < 0)
            return -1;
        if (rc == 0) {
            note(r, "a quoted field is never closed");
            break;
        }
        buf_add_str(&r->cells, eol);
        buf_add_str(&r->raw, eol);
        buf_add(&r->raw, r->ln, r->ln_len);
        csv_scan(r, r->ln, r->ln_len, &st);
    }
    cell_end(r);
    if (r->had_nul)
        note(r, "contains a NUL byte");
    return 1;
}

static const char *cell(const reader *r, size_t i, size_t *len)
{
    *len = r->cell_off[i + 1] - r->cell_off[i] - 1;
    return r->cells.data + r->cell_off[i];
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static int field_of_name(const char *name)
{
    for (int f = 0; f < F_COUNT; f++)
        if (strcmp(name, field_names[f]) == 0)
            return f;
    return -1;
}

/* Stores the header's names (trimmed, lower-cased) and maps event fields. */
static void csv_take_header(reader *r)
{
    r->ncols = r->ncells;
    int has_field[F_COUNT] = {0};
    r->cols = xrealloc(NULL, r->ncols * sizeof *r->cols);
    r->col_field = xrealloc(NULL, r->ncols * sizeof *r->col_field);
    for (size_t i = 0; i < r->ncols; i++) {
        size_t n;
        const char *s = cell(r, i, &n);
        trim(&s, &n);
        r->cols[i] = xrealloc(NULL, n + 1);
        for (size_t k = 0; k < n; k++)
            r->cols[i][k] = (char)ascii_lower((unsigned char)s[k]);
        r->cols[i][n] = '\0';
    }
    for (size_t i = 0; i < r->ncols; i++) {
        int f = r->col_field[i] = field_of_name(r->cols[i]);
        if (!r->cols[i][0])
            note(r, "column %zu has no name", i + 1);
        else if (!json_utf8_valid(r->cols[i], strlen(r->cols[i])))
            note(r, "column %zu's name is not valid UTF-8", i + 1);
        for (size_t k = 0; k < i; k++)
            if (strcmp(r->cols[k], r->cols[i]) == 0)
                note(r, "column '%s' appears twice", r->cols[i]);
        if (f >= 0)
            has_field[f] = 1;
    }
    static const int required[] = {F_ID, F_TYPE, F_AT};
    for (size_t k = 0; k < sizeof required / sizeof *required; k++)
        if (!has_field[required[k]])
            note(r, "missing column '%s'", field_names[required[k]]);
}

static int csv_header(reader *r, cx_error *err)
{
    int rc = csv_record(r, err);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        r->rec_line = r->line + 1;
        note(r, "no header line (the file is empty)");
        return report(r, err);
    }
    if (!r->problem.len)
        csv_take_header(r);
    return r->problem.len ? report(r, err) : 0;
}

/* Adds "name":"value" to the free fields. */
static void add_free_string(reader *r, const char *name, const char *s, size_t n)
{
    buf_add_char(&r->data, r->data.len ? ',' : '{');
    buf_add_json_string(&r->data, name, strlen(name));
    buf_add_char(&r->data, ':');
    buf_add_json_string(&r->data, s, n);
}

static int csv_next(reader *r, cx_event *ev, cx_error *err)
{
    int rc = csv_record(r, err);
    if (rc <= 0)
        return rc;
    if (r->problem.len)
        return report(r, err);
    if (r->ncells != r->ncols) {
        note(r, "has %zu field%s, the header has %zu", r->ncells, r->ncells == 1 ? "" : "s",
             r->ncols);
        return report(r, err);
    }
    clear_event(r);
    for (size_t i = 0; i < r->ncols; i++) {
        size_t n;
        const char *s = cell(r, i, &n);
        int f = r->col_field[i];
        if (!json_utf8_valid(s, n))
            note_value(r, r->cols[i], s, n, "is not valid UTF-8 (save the file as UTF-8)");
        if (f >= 0) {
            trim(&s, &n);
            set_text(r, f, s, n);
        } else if (n) {
            add_free_string(r, r->cols[i], s, n);
        }
    }
    if (r->data.len)
        buf_add_char(&r->data, '}');
    return finish_event(r, ev, err);
}

/* ---- NDJSON ---- */

static int field_of_key(json_span key)
{
    for (int f = 0; f < F_COUNT; f++)
        if (json_key_is(key, field_names[f]))
            return f;
    return -1;
}

static int is_whole_number(json_span v)
{
    return v.type == JSON_NUMBER && !memchr(v.start, '.', v.len) && !memchr(v.start, 'e', v.len) &&
           !memchr(v.start, 'E', v.len);
}

/* The decoded text of a string value becomes field f. */
static void take_string(reader *r, int f, json_span v)
{
    const char *why;
    buf_clear(&r->text[f]);
    if (json_string_decode(v, &r->text[f], &why) < 0)
        note(r, "%s: %s", field_names[f], why);
    r->has[f] = r->text[f].len > 0;
}

/* Unix seconds written as a JSON integer. */
static void take_seconds(reader *r, json_span v)
{
    const char *s = v.start, *end = v.start + v.len;
    int neg = *s == '-';
    uint64_t mag = 0, limit = (uint64_t)INT64_MAX + (uint64_t)neg;
    for (s += neg; s < end; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (mag > (limit - d) / 10) {
            note_value(r, "at", v.start, v.len, "is not a valid time (out of range)");
            return;
        }
        mag = mag * 10 + d;
    }
    r->at_seconds = !neg ? (int64_t)mag : mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
    r->at_is_seconds = 1;
}

/* One known member; problems are noted, not returned, so that a syntax
 * error later in the line is what gets reported. */
static void ndjson_field(reader *r, int f, json_span v)
{
    if (v.type == JSON_NULL)
        return;
    if (v.type == JSON_STRING) {
        take_string(r, f, v);
        return;
    }
    switch (f) {
    case F_ID:
    case F_CUSTOMER:
        if (is_whole_number(v))
            set_text(r, f, v.start, v.len);
        else
            note_value(r, field_names[f], v.start, v.len, "must be a string or a whole number");
        break;
    case F_AT:
        if (is_whole_number(v))
            take_seconds(r, v);
        else if (v.type == JSON_NUMBER)
            note_value(r, "at", v.start, v.len,
                       "is not a valid time (Unix seconds must be a whole number)");
        else
            note_value(r, "at", v.start, v.len, "must be a time text or Unix seconds");
        break;
    case F_AMOUNT:
        if (v.type == JSON_NUMBER)
            set_text(r, f, v.start, v.len); /* the raw text, so 12.34 stays exact */
        else
            note_value(r, "amount", v.start, v.len, "must be a number or a string");
        break;
    default:
        note_value(r, field_names[f], v.start, v.len, "must be a string");
    }
}

/* Copies an unknown member verbatim into the free fields. */
static void add_free_member(reader *r, json_span key, json_span value)
{
    buf_add_char(&r->data, r->data.len ? ',' : '{');
    buf_add(&r->data, key.start, key.len);
    buf_add_char(&r->data, ':');
    buf_add(&r->data, value.start, value.len);
}

/* The record in r->ln as an event. */
static int ndjson_record(reader *r, cx_event *ev, cx_error *err)
{
    int rc, seen[F_COUNT] = {0};
    json_cursor c;
    json_span key, value;
    const char *why;
    clear_event(r);
    if (json_object_begin(&c, r->ln, r->ln_len, &why) == 0) {
        while ((rc = json_object_next(&c, &key, &value, &why)) == 1) {
            int f = field_of_key(key);
            if (f < 0)
                add_free_member(r, key, value);
            else if (seen[f]++)
                note(r, "%s appears twice", field_names[f]);
            else
                ndjson_field(r, f, value);
        }
    } else {
        rc = -1;
    }
    if (rc < 0) {
        /* a broken line: that is the one thing worth saying about it, and
         * nothing read from it (its id) can be trusted */
        buf_clear(&r->problem);
        r->has[F_ID] = 0;
        note(r, "not a JSON object (%s at column %ld)", why, (long)(c.p - r->ln) + 1);
        return report(r, err);
    }
    if (r->data.len)
        buf_add_char(&r->data, '}');
    return finish_event(r, ev, err);
}

static int ndjson_next(reader *r, cx_event *ev, cx_error *err)
{
    int rc = next_nonblank(r, err);
    return rc <= 0 ? rc : ndjson_record(r, ev, err);
}

reader *reader_open_lines(const char *name)
{
    reader *r = xrealloc(NULL, sizeof *r);
    memset(r, 0, sizeof *r);
    r->filename = xstrdup(name ? name : "(input)");
    r->fmt = READER_NDJSON;
    r->eol = "";
    return r;
}

int reader_parse_line(reader *r, const char *line, size_t len, long lineno, cx_event *ev, cx_error *err)
{
    memset(ev, 0, sizeof *ev);
    clear_event(r);
    if (len && line[len - 1] == '\r')
        len--;
    r->line = r->rec_line = lineno;
    r->bytes += len;
    r->ln = line;
    r->ln_len = len;
    r->had_nul = memchr(line, '\0', len) != NULL;
    if (is_blank(line, len))
        return 0;
    buf_clear(&r->raw);
    buf_add(&r->raw, line, len);
    buf_clear(&r->problem);
    return ndjson_record(r, ev, err);
}

const char *reader_last_id(const reader *r)
{
    return r->has[F_ID] ? buf_str(&r->text[F_ID]) : NULL;
}

/* ---- CDNOW ---- */

/* Counts one more row for key and returns the count (the row's rank). */
static long rank_bump(strmap *ranks, const char *key, size_t n)
{
    int64_t count = 0;
    strmap_get(ranks, key, n, &count);
    strmap_put(ranks, key, n, ++count);
    return (long)count;
}

typedef struct token {
    const char *s;
    size_t n;
} token;

/* Splits the line on spaces and tabs; returns the token count (only the
 * first `max` are stored). */
static size_t split_tokens(const char *s, size_t n, token *tok, size_t max)
{
    size_t count = 0, i = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n)
            return count;
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        if (count < max)
            tok[count] = (token){s + start, i - start};
        count++;
    }
}

static int all_digits(token t)
{
    if (t.n == 0)
        return 0;
    for (size_t i = 0; i < t.n; i++)
        if (t.s[i] < '0' || t.s[i] > '9')
            return 0;
    return 1;
}

/* Customer and date; bumps and returns the rank, or 0 after noting a problem. */
static long cdnow_key(reader *r, token cust, token date, cx_event *ev)
{
    const char *why;
    if (!all_digits(cust)) {
        note_value(r, "customer", cust.s, cust.n, "is not all digits");
        return 0;
    }
    if (date.n != 8 || !all_digits(date)) {
        note_value(r, "date", date.s, date.n, "is not YYYYMMDD");
        return 0;
    }
    if (utc_parse(date.s, date.n, &ev->at, &why) < 0) {
        buf reason = BUF_INIT;
        buf_printf(&reason, "is not a valid date (%s)", why);
        note_value(r, "date", date.s, date.n, buf_str(&reason));
        buf_free(&reason);
        return 0;
    }
    buf_clear(&r->key);
    buf_add(&r->key, cust.s, cust.n);
    buf_add_char(&r->key, '-');
    buf_add(&r->key, date.s, date.n);
    return rank_bump(&r->ranks, r->key.data, r->key.len);
}

/* A count of CDs: digits only, at most 18 of them after leading zeros. */
static int parse_count(token t, int64_t *out)
{
    int64_t v = 0;
    size_t i = 0;
    if (!all_digits(t))
        return -1;
    while (i + 1 < t.n && t.s[i] == '0')
        i++;
    if (t.n - i > 18)
        return -1;
    for (; i < t.n; i++)
        v = v * 10 + (t.s[i] - '0');
    *out = v;
    return 0;
}

/* Checks the column count; sets *first to the customer column's index. */
static int cdnow_columns(reader *r, size_t count)
{
    if (count != 4 && count != 5) {
        note(r, "has %zu column%s, expected 4 (customer date CDs dollars) or 5 "
                "(customer sample-id date CDs dollars)", count, count == 1 ? "" : "s");
        return -1;
    }
    if (r->cd_columns && (size_t)r->cd_columns != count) {
        note(r, "has %zu columns, the rows before have %d", count, r->cd_columns);
        return -1;
    }
    r->cd_columns = (int)count;
    return 0;
}

static int cdnow_row(reader *r, token *tok, size_t count, cx_event *ev, cx_error *err)
{
    int64_t cds = 0;
    const char *why;
    size_t d = count == 5 ? 2 : 1; /* the date column; customer is always first */
    if (cdnow_columns(r, count) < 0)
        return report(r, err);
    if (count == 5 && !all_digits(tok[1]))
        note_value(r, "sample id", tok[1].s, tok[1].n, "is not all digits");
    long rank = cdnow_key(r, tok[0], tok[d], ev);
    if (parse_count(tok[d + 1], &cds) < 0)
        note_value(r, "cds", tok[d + 1].s, tok[d + 1].n, "is not a non-negative whole number");
    if (money_parse(tok[d + 2].s, tok[d + 2].n, &ev->amount_cents, &why) < 0)
        note_value(r, "dollars", tok[d + 2].s, tok[d + 2].n, why);
    if (r->problem.len)
        return report(r, err);
    clear_event(r);
    buf_add_str(&r->text[F_ID], "cdnow-");
    buf_add(&r->text[F_ID], r->key.data, r->key.len); /* CUSTOMER-YYYYMMDD */
    buf_printf(&r->text[F_ID], "-%ld", rank);
    buf_add(&r->text[F_CUSTOMER], tok[0].s, tok[0].n);
    buf_printf(&r->data, "{\"quantity\":%lld}", (long long)cds);
    ev->id = buf_str(&r->text[F_ID]);
    ev->type = "purchase";
    ev->customer = buf_str(&r->text[F_CUSTOMER]);
    ev->has_amount = 1;
    ev->touchpoint = "web";
    ev->data_json = buf_str(&r->data);
    return 1;
}

static int cdnow_next(reader *r, cx_event *ev, cx_error *err)
{
    token tok[5];
    for (;;) {
        int rc = next_nonblank(r, err);
        if (rc <= 0)
            return rc;
        if (r->had_nul) {
            note(r, "contains a NUL byte");
            return report(r, err);
        }
        size_t count = split_tokens(r->ln, r->ln_len, tok, 5);
        int first = !r->cd_started;
        r->cd_started = 1;
        if (first && !all_digits(tok[0]))
            continue; /* the header line */
        return cdnow_row(r, tok, count, ev, err);
    }
}

/* ---- the reader ---- */

reader *reader_open(FILE *fp, const char *filename, reader_format fmt, cx_error *err)
{
    if (!fp) {
        cx_error_set(err, "%s: no input", filename ? filename : "(input)");
        return NULL;
    }
    reader *r = xrealloc(NULL, sizeof *r);
    memset(r, 0, sizeof *r);
    r->fp = fp;
    r->filename = xstrdup(filename ? filename : "(input)");
    r->fmt = fmt;
    r->eol = "";
    if (fmt == READER_CSV && csv_header(r, err) < 0) {
        reader_close(r);
        return NULL;
    }
    return r;
}

int reader_next(reader *r, cx_event *ev, cx_error *err)
{
    memset(ev, 0, sizeof *ev);
    if (r->failed) {
        cx_error_set(err, "%s", buf_str(&r->fail_msg));
        return -1;
    }
    switch (r->fmt) {
    case READER_CSV: return csv_next(r, ev, err);
    case READER_NDJSON: return ndjson_next(r, ev, err);
    case READER_CDNOW: return cdnow_next(r, ev, err);
    }
    cx_error_set(err, "%s: unknown input format", r->filename);
    return -1;
}

int reader_failed(const reader *r) { return r->failed; }

long reader_line(const reader *r) { return r->rec_line; }

const char *reader_raw(const reader *r, size_t *len)
{
    if (len)
        *len = r->raw.len;
    return buf_str(&r->raw);
}

uint64_t reader_bytes(const reader *r) { return r->bytes; }

void reader_close(reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncols; i++)
        free(r->cols[i]);
    free(r->cols);
    free(r->col_field);
    free(r->cell_off);
    buf_free(&r->cells);
    for (int f = 0; f < F_COUNT; f++)
        buf_free(&r->text[f]);
    buf_free(&r->data);
    buf_free(&r->raw);
    buf_free(&r->problem);
    buf_free(&r->fail_msg);
    buf_free(&r->key);
    strmap_free(&r->ranks);
    free(r->lbuf);
    free(r->filename);
    free(r);
}
