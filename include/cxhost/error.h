/* error.h: the one error value that every cxhost module fills in.
 *
 * Functions that can fail return -1 (or NULL) and write a sentence a consultant
 * can act on into a cx_error: it names the file, line and field where it can. */
#ifndef CXHOST_ERROR_H
#define CXHOST_ERROR_H

#include <stddef.h>

typedef struct cx_error {
    char text[4096];
} cx_error;

#if defined(__GNUC__)
#define CX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CX_PRINTF(a, b)
#endif

/* Replaces the message. */
void cx_error_set(cx_error *e, const char *fmt, ...) CX_PRINTF(2, 3);
/* Puts "prefix: " in front of the message already there. */
void cx_error_prefix(cx_error *e, const char *fmt, ...) CX_PRINTF(2, 3);

#endif
