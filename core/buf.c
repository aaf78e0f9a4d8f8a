/* buf.c: growable text buffer, see buf.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cxhost/buf.h"

static void buf_reserve(buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        fputs("cxhost: out of memory\n", stderr);
        abort();
    }
    b->data = p;
    b->cap = cap;
}

void buf_add(buf *b, const void *bytes, size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_add_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_add_char(buf *b, char c) { buf_add(b, &c, 1); }

void buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    /* Format straight into the room there is; only a longer text formats twice. */
    va_list again;
    va_copy(again, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    if (n >= 0 && (size_t)n >= room) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    }
    if (n > 0)
        b->len += (size_t)n;
    va_end(again);
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_clear(buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int buf_read_file(buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    char block[8192];
    size_t n;
    if (!f)
        return -1;
    while ((n = fread(block, 1, sizeof block, f)) > 0)
        buf_add(b, block, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}

const char *buf_str(const buf *b) { return b->data ? b->data : ""; }

void buf_add_json_string(buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_add_char(b, '"');
    size_t run = 0;   /* start of the bytes that need no escape, copied at once */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': buf_add(b, "\\\"", 2); break;
        case '\\': buf_add(b, "\\\\", 2); break;
        case '\n': buf_add(b, "\\n", 2); break;
        case '\r': buf_add(b, "\\r", 2); break;
        case '\t': buf_add(b, "\\t", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_add(b, esc, 6);
        }
        }
    }
    buf_add(b, s + run, len - run);
    buf_add_char(b, '"');
}

void buf_add_int(buf *b, long long v)
{
    char digits[24];
    int n = sizeof digits;
    /* In unsigned arithmetic, so the most negative value needs no special case. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        digits[--n] = '-';
    buf_add(b, digits + n, sizeof digits - (size_t)n);
}

void buf_add_real(buf *b, double v)
{
    char text[40];
    /* 15 digits when they read back as the same number (0.1 stays 0.1),
     * else 17, which always do (16 rarely saves a digit, and a third try
     * costs as much as the first two). */
    snprintf(text, sizeof text, "%.15g", v);
    if (strtod(text, NULL) != v)
        snprintf(text, sizeof text, "%.17g", v);
    buf_add_str(b, text);
    if (!strpbrk(text, ".eEni"))   /* "inf", "nan" have letters too */
        buf_add(b, ".0", 2);
}
