/* buf.h: a growable byte buffer, always NUL-terminated.
 *
 * Used wherever text is assembled (JSON, messages, SQL detail). Allocation
 * failure aborts: cxhost cannot do anything useful without memory and the
 * store's transaction guarantees that nothing half-written survives. */
#ifndef CXHOST_BUF_H
#define CXHOST_BUF_H

#include <stddef.h>
#include <stdarg.h>
#include "cxhost/error.h"

typedef struct buf {
    char *data;   /* NUL-terminated; NULL until something is added */
    size_t len;
    size_t cap;
} buf;

#define BUF_INIT {NULL, 0, 0}

void buf_add(buf *b, const void *bytes, size_t len);
void buf_add_str(buf *b, const char *s);
void buf_add_char(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) CX_PRINTF(2, 3);
void buf_vprintf(buf *b, const char *fmt, va_list ap);
void buf_clear(buf *b);            /* len = 0, keeps the memory */
void buf_free(buf *b);             /* releases the memory, back to BUF_INIT */
const char *buf_str(const buf *b); /* "" when empty */

/* Appends the whole file at path. Returns 0, or -1 (errno says why). */
int buf_read_file(buf *b, const char *path);

/* Appends s (len bytes) as a JSON string literal, quotes and escapes included. */
void buf_add_json_string(buf *b, const char *s, size_t len);
/* Appends v in decimal (as "%lld" would, without the cost of printf). */
void buf_add_int(buf *b, long long v);
/* Appends v as "%.15g" writes it when that reads back as v, else as "%.17g"
 * does, with ".0" when it would otherwise read as an integer (made without
 * printf for all but inf, nan and magnitudes from about 1e44 up). */
void buf_add_real(buf *b, double v);

/* A growable list of strings, each the list's own copy (allocation failure
 * aborts, as for buf). */
typedef struct strlist {
    char **items;
    size_t n, cap;
} strlist;

#define STRLIST_INIT {NULL, 0, 0}

/* Appends a copy of the len bytes at s, NUL-terminated. */
void strlist_add(strlist *l, const char *s, size_t len);
/* Frees the items from index first on (the ones before were handed over),
 * and the list, back to STRLIST_INIT. */
void strlist_free_from(strlist *l, size_t first);

#endif
