/* json.c: a strict RFC 8259 reader, see json.h.
 *
 * Strict means: numbers exactly per the grammar (no leading zeros, no '+',
 * no bare '.'), strings without raw control characters, only the escapes the
 * RFC lists, \u surrogates only in proper pairs, and raw bytes that are valid
 * UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF).
 *
 * Cursors: when the walk reaches the closing brace (or bracket), only
 * whitespace may follow it in the text, so a cursor over a whole NDJSON line
 * also refuses trailing garbage. On an error, c->p points at the offending
 * byte, which lets callers report a column. */
#include <stdint.h>
#include <string.h>
#include "cxhost/json.h"

typedef struct jparse {
    const char *p;
    const char *end;
    const char *why;
} jparse;

static int jfail(jparse *j, const char *why)
{
    j->why = why;
    return -1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void skip_ws(jparse *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u" at s. */
static long hex4(const char *s, const char *end)
{
    if (end - s < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static int fail_why(const char **why, const char *reason)
{
    *why = reason;
    return -1;
}

/* The length of the UTF-8 sequence lead byte c starts (0: none), and the
 * range its second byte must fall in, which rules out overlong forms,
 * encoded surrogates and code points above U+10FFFF. */
static size_t utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        *lo = c == 0xE0 ? 0xA0 : 0x80;
        *hi = c == 0xED ? 0x9F : 0xBF;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        *lo = c == 0xF0 ? 0x90 : 0x80;
        *hi = c == 0xF4 ? 0x8F : 0xBF;
        return 4;
    }
    return 0;
}

size_t json_utf8_length(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char lo, hi;
    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    size_t k = utf8_lead(s[0], &lo, &hi);
    if (k == 0 || n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return k;
}

int json_utf8_valid(const char *text, size_t n)
{
    size_t i = 0, k;
    while (i < n) {
        if ((unsigned char)text[i] < 0x80) {   /* ASCII, the usual case, needs no call */
            i++;
            continue;
        }
        if ((k = json_utf8_length(text + i, n - i)) == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* One raw UTF-8 sequence at *pp (first byte >= 0x80). */
static int utf8_char(const char **pp, const char *end, uint32_t *cp, const char **why)
{
    const unsigned char *s = (const unsigned char *)*pp;
    unsigned char lo, hi;
    size_t n = utf8_lead(s[0], &lo, &hi);
    if (n == 0 || (size_t)(end - *pp) < n || s[1] < lo || s[1] > hi)
        return fail_why(why, "invalid UTF-8");
    uint32_t v = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return fail_why(why, "invalid UTF-8");
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    *pp += n;
    return 0;
}

/* A \u escape at *pp (pointing at the backslash), pairing surrogates. */
static int unicode_escape(const char **pp, const char *end, uint32_t *cp, const char **why)
{
    const char *s = *pp;
    long hi = hex4(s + 2, end);
    if (hi < 0)
        return fail_why(why, "invalid \\u escape (expected four hex digits)");
    s += 6;
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return fail_why(why, "unpaired surrogate in \\u escape");
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        long lo = end - s >= 2 && s[0] == '\\' && s[1] == 'u' ? hex4(s + 2, end) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail_why(why, "unpaired surrogate in \\u escape");
        *cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
        s += 6;
    } else {
        *cp = (uint32_t)hi;
    }
    *pp = s;
    return 0;
}

/* One character of a string body at *pp: 1 with its code point, 0 at the
 * closing quote (consumed), -1 with *why and *pp left on the bad byte. */
static int string_char(const char **pp, const char *end, uint32_t *cp, const char **why)
{
    const char *s = *pp;
    if (s == end)
        return fail_why(why, "unterminated string");
    unsigned char c = (unsigned char)*s;
    if (c == '"') {
        *pp = s + 1;
        return 0;
    }
    if (c < 0x20)
        return fail_why(why, "control character in a string (it must be escaped)");
    if (c >= 0x80)
        return utf8_char(pp, end, cp, why) < 0 ? -1 : 1;
    if (c != '\\') {
        *cp = c;
        *pp = s + 1;
        return 1;
    }
    if (end - s < 2)
        return fail_why(why, "unterminated string");
    static const char simple[] = "\"\\/bfnrt", value[] = "\"\\/\b\f\n\r\t";
    const char *k = s[1] ? strchr(simple, s[1]) : NULL;
    if (k) {
        *cp = (unsigned char)value[k - simple];
        *pp = s + 2;
        return 1;
    }
    if (s[1] == 'u')
        return unicode_escape(pp, end, cp, why) < 0 ? -1 : 1;
    return fail_why(why, "invalid escape in a string");
}

/* Writes cp as UTF-8; returns the byte count. */
static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int parse_string(jparse *j)
{
    uint32_t cp;
    int rc;
    j->p++; /* the opening quote */
    while ((rc = string_char(&j->p, j->end, &cp, &j->why)) == 1)
        ;
    return rc;
}

static int skip_digits(jparse *j)
{
    const char *start = j->p;
    while (j->p < j->end && is_digit(*j->p))
        j->p++;
    return j->p > start;
}

static int parse_number(jparse *j)
{
    if (*j->p == '-')
        j->p++;
    if (j->p == j->end || !is_digit(*j->p))
        return jfail(j, "invalid number");
    if (*j->p == '0') {
        j->p++;
        if (j->p < j->end && is_digit(*j->p))
            return jfail(j, "leading zeros are not allowed in numbers");
    } else {
        skip_digits(j);
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!skip_digits(j))
            return jfail(j, "expected a digit after the decimal point");
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!skip_digits(j))
            return jfail(j, "expected a digit in the exponent");
    }
    return 0;
}

static int parse_literal(jparse *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return jfail(j, "expected a value");
    j->p += n;
    return 0;
}

static int parse_value(jparse *j, int depth, json_type *type);

/* After '[': elements up to and including ']'. */
static int parse_array_body(jparse *j, int depth)
{
    json_type t;
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        skip_ws(j);
        if (parse_value(j, depth, &t) < 0)
            return -1;
        skip_ws(j);
        if (j->p == j->end)
            return jfail(j, "unexpected end of text in an array");
        if (*j->p == ']') {
            j->p++;
            return 0;
        }
        if (*j->p != ',')
            return jfail(j, "expected ',' or ']'");
        j->p++;
    }
}

/* A key, the colon and the value; leaves j->p after the value. */
static int parse_member(jparse *j, int depth, json_span *key, json_span *value)
{
    if (j->p == j->end)
        return jfail(j, "unexpected end of text in an object");
    if (*j->p != '"')
        return jfail(j, "expected a string key");
    key->type = JSON_STRING;
    key->start = j->p;
    if (parse_string(j) < 0)
        return -1;
    key->len = (size_t)(j->p - key->start);
    skip_ws(j);
    if (j->p == j->end || *j->p != ':')
        return jfail(j, "expected ':' after the key");
    j->p++;
    skip_ws(j);
    value->start = j->p;
    if (parse_value(j, depth, &value->type) < 0)
        return -1;
    value->len = (size_t)(j->p - value->start);
    return 0;
}

/* After '{': members up to and including '}'. */
static int parse_object_body(jparse *j, int depth)
{
    json_span key, value;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        skip_ws(j);
        if (parse_member(j, depth, &key, &value) < 0)
            return -1;
        skip_ws(j);
        if (j->p == j->end)
            return jfail(j, "unexpected end of text in an object");
        if (*j->p == '}') {
            j->p++;
            return 0;
        }
        if (*j->p != ',')
            return jfail(j, "expected ',' or '}'");
        j->p++;
    }
}

/* depth: how many containers enclose this value. */
static int parse_value(jparse *j, int depth, json_type *type)
{
    if (j->p == j->end)
        return jfail(j, "unexpected end of text, expected a value");
    switch (*j->p) {
    case '{':
    case '[':
        if (depth >= JSON_MAX_DEPTH)
            return jfail(j, "nested too deeply");
        *type = *j->p == '{' ? JSON_OBJECT : JSON_ARRAY;
        j->p++;
        return *type == JSON_OBJECT ? parse_object_body(j, depth + 1) : parse_array_body(j, depth + 1);
    case '"':
        *type = JSON_STRING;
        return parse_string(j);
    case 't':
        *type = JSON_TRUE;
        return parse_literal(j, "true");
    case 'f':
        *type = JSON_FALSE;
        return parse_literal(j, "false");
    case 'n':
        *type = JSON_NULL;
        return parse_literal(j, "null");
    default:
        if (*j->p == '-' || is_digit(*j->p)) {
            *type = JSON_NUMBER;
            return parse_number(j);
        }
        return jfail(j, "expected a value");
    }
}

int json_validate(const char *text, size_t len, size_t *offset, const char **why)
{
    jparse j = {text, text + len, NULL};
    json_type type;
    int rc;
    skip_ws(&j);
    rc = parse_value(&j, 0, &type);
    if (rc == 0) {
        skip_ws(&j);
        if (j.p != j.end)
            rc = jfail(&j, "unexpected text after the value");
    }
    if (rc < 0) {
        if (offset)
            *offset = (size_t)(j.p - text);
        if (why)
            *why = j.why;
    }
    return rc;
}

static int cursor_begin(json_cursor *c, const char *text, size_t len, char open, const char **why)
{
    jparse j = {text, text + len, NULL};
    skip_ws(&j);
    c->end = j.end;
    c->first = 1;
    if (j.p == j.end || *j.p != open) {
        c->p = j.p;
        if (why)
            *why = open == '{' ? "expected an object" : "expected an array";
        return -1;
    }
    c->p = j.p + 1;
    return 0;
}

int json_object_begin(json_cursor *c, const char *text, size_t len, const char **why)
{
    return cursor_begin(c, text, len, '{', why);
}

int json_array_begin(json_cursor *c, const char *text, size_t len, const char **why)
{
    return cursor_begin(c, text, len, '[', why);
}

/* Moves past the separator before the next item. 1: an item follows,
 * 0: the closing character was consumed (and only whitespace is left). */
static int cursor_step(json_cursor *c, jparse *j, char close)
{
    skip_ws(j);
    if (j->p == j->end)
        return jfail(j, close == '}' ? "unexpected end of text in an object"
                                     : "unexpected end of text in an array");
    if (*j->p == close) {
        j->p++;
        skip_ws(j);
        if (j->p != j->end)
            return jfail(j, "unexpected text after the closing bracket");
        return 0;
    }
    if (!c->first) {
        if (*j->p != ',')
            return jfail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        j->p++;
        skip_ws(j);
    }
    return 1;
}

/* Stores where the walk stands; a closed cursor has p == NULL. */
static int cursor_finish(json_cursor *c, jparse *j, int rc, const char **why)
{
    if (rc < 0 && why)
        *why = j->why;
    c->p = rc == 0 ? NULL : j->p;
    if (rc == 1)
        c->first = 0;
    return rc;
}

int json_object_next(json_cursor *c, json_span *key, json_span *value, const char **why)
{
    if (!c->p)
        return 0;
    jparse j = {c->p, c->end, NULL};
    int rc = cursor_step(c, &j, '}');
    if (rc == 1 && parse_member(&j, 1, key, value) < 0)
        rc = -1;
    return cursor_finish(c, &j, rc, why);
}

int json_array_next(json_cursor *c, json_span *value, const char **why)
{
    if (!c->p)
        return 0;
    jparse j = {c->p, c->end, NULL};
    int rc = cursor_step(c, &j, ']');
    if (rc == 1) {
        value->start = j.p;
        if (parse_value(&j, 1, &value->type) < 0)
            rc = -1;
        else
            value->len = (size_t)(j.p - value->start);
    }
    return cursor_finish(c, &j, rc, why);
}

/* The body of a string span, or NULL when the span is not a whole string. */
static const char *string_body(json_span s, const char **why)
{
    if (s.type != JSON_STRING || s.len < 2 || s.start[0] != '"' || s.start[s.len - 1] != '"') {
        if (why)
            *why = "not a JSON string";
        return NULL;
    }
    return s.start + 1;
}

int json_string_decode(json_span s, buf *out, const char **why)
{
    const char *p = string_body(s, why), *end = s.start + s.len;
    const char *dummy;
    size_t had = out->len;
    uint32_t cp;
    char bytes[4];
    int rc;
    if (!p)
        return -1;
    if (!why)
        why = &dummy;
    while ((rc = string_char(&p, end, &cp, why)) == 1)
        buf_add(out, bytes, utf8_encode(cp, bytes));
    if (rc == 0 && p != end)
        rc = fail_why(why, "not a JSON string");
    if (rc < 0 && out->data) {
        /* leave out as it was: no half-decoded text */
        out->len = had;
        out->data[had] = '\0';
    }
    return rc;
}

int json_key_is(json_span key, const char *name)
{
    const char *p = string_body(key, NULL), *end = key.start + key.len, *why;
    size_t n = strlen(name), at = 0;
    uint32_t cp;
    char bytes[4];
    int rc;
    if (!p)
        return 0;
    while ((rc = string_char(&p, end, &cp, &why)) == 1) {
        size_t k = utf8_encode(cp, bytes);
        if (n - at < k || memcmp(name + at, bytes, k) != 0)
            return 0;
        at += k;
    }
    return rc == 0 && p == end && at == n;
}
