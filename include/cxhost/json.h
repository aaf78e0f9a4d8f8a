/* json.h: a small, strict JSON (RFC 8259) reader.
 *
 * It does not build a tree: a cursor walks an object or array and hands back
 * each value as a span of the original text, so NDJSON import can pick the
 * fields it knows and copy the rest verbatim. Writing JSON is buf.h's job. */
#ifndef CXHOST_JSON_H
#define CXHOST_JSON_H

#include <stddef.h>
#include "cxhost/buf.h"

typedef enum json_type {
    JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
} json_type;

/* A value as it stands in the text: for strings the span includes the quotes. */
typedef struct json_span {
    json_type type;
    const char *start;
    size_t len;
} json_span;

typedef struct json_cursor {
    const char *p;
    const char *end;
    int first;      /* no member read yet */
} json_cursor;

/* Nesting deeper than this is refused (protects the stack). */
#define JSON_MAX_DEPTH 64

/* Checks that text holds exactly one JSON value (whitespace around it allowed).
 * Returns 0, or -1 with *why set and *offset the byte where it went wrong. */
int json_validate(const char *text, size_t len, size_t *offset, const char **why);

/* Starts walking the object (or array) that text holds. Returns 0, or -1 with
 * *why ("expected an object") when text does not start with '{' (or '['). */
int json_object_begin(json_cursor *c, const char *text, size_t len, const char **why);
int json_array_begin(json_cursor *c, const char *text, size_t len, const char **why);

/* Next member: 1 with key (a JSON_STRING span, quotes included) and value set,
 * 0 at the closing brace, -1 with *why on malformed text. Each value is fully
 * validated before it is returned. */
int json_object_next(json_cursor *c, json_span *key, json_span *value, const char **why);
/* Next element of an array: 1, 0 at the end, -1 on error. */
int json_array_next(json_cursor *c, json_span *value, const char **why);

/* Appends the decoded text of a JSON_STRING span (escapes resolved, \u and
 * surrogate pairs turned into UTF-8) to out. Returns 0, or -1 with *why. */
int json_string_decode(json_span s, buf *out, const char **why);

/* The length of the valid UTF-8 sequence at text (n bytes available), 0 when
 * it is not one: no overlong forms, surrogates or code points past U+10FFFF. */
size_t json_utf8_length(const char *text, size_t n);
/* Whether all n bytes at text are valid UTF-8 (by json_utf8_length's rules). */
int json_utf8_valid(const char *text, size_t n);

/* Whether a JSON_STRING span's decoded text equals the NUL-terminated name. */
int json_key_is(json_span key, const char *name);

#endif
