/* embedded.h: the built-in plugins, their libraries, the reports and the
 * commands written in Lua, compiled into the binary (generated from plugins/,
 * plugins/lib/, scripts/reports/ and scripts/commands/ by scripts/embed.cmake). */
#ifndef CXHOST_EMBEDDED_H
#define CXHOST_EMBEDDED_H

#include <stddef.h>

enum { EMBEDDED_PLUGIN = 1, EMBEDDED_REPORT = 2, EMBEDDED_LIBRARY = 3, EMBEDDED_COMMAND = 4 };

struct embedded_file {
    int kind;
    const char *path;   /* "plugins/lifecycle.lua", relative to the source tree */
    const char *text;
    size_t size;
};

/* Ends with an entry whose path is NULL. */
extern const struct embedded_file embedded_files[];

#endif
