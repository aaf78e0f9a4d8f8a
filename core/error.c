/* error.c: cx_error, see error.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cxhost/error.h"

void cx_error_set(cx_error *e, const char *fmt, ...)
{
    va_list ap;
    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
}

void cx_error_prefix(cx_error *e, const char *fmt, ...)
{
    char prefix[1024];
    va_list ap;
    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Move the old message right, cutting its end if it no longer fits. */
    size_t plen = strlen(prefix) + 2, old = strnlen(e->text, sizeof e->text - 1);
    if (plen >= sizeof e->text)
        plen = sizeof e->text - 1;
    if (old > sizeof e->text - 1 - plen)
        old = sizeof e->text - 1 - plen;
    memmove(e->text + plen, e->text, old);
    e->text[plen + old] = '\0';
    memcpy(e->text, prefix, plen - 2);
    memcpy(e->text + plen - 2, ": ", 2);
}
