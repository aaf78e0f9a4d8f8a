/* embedded.h: the built-in plugins and reports compiled into the binary
 * (generated from plugins/ and scripts/reports/ by scripts/embed.cmake). */
#ifndef CXHOST_EMBEDDED_H
#define CXHOST_EMBEDDED_H

#include <stddef.h>

enum { EMBEDDED_PLUGIN = 1, EMBEDDED_REPORT = 2 };

struct embedded_file {
    int kind;
    const char *path;   /* "plugins/lifecycle.lua", relative to the source tree */
    const char *text;
    size_t size;
};

/* Ends with an entry whose path is NULL. */
extern const struct embedded_file embedded_files[];

#endif
