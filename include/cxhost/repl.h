/* repl.h: the REPL's language: what a line typed at the prompt does.
 *
 * A repl takes lines one at a time and owns:
 *  - the statement being typed: a line that leaves it incomplete (an open
 *    `function`, `do`, `(`, string...) waits for the next, as the
 *    standalone lua does;
 *  - running it in a sandbox of owner "repl" with `cx` and the plugins'
 *    libraries, whose globals stay from one statement to the next; an
 *    expression needs no `return`;
 *  - showing what it returns: tables pretty-printed over several lines
 *    (nesting, sorted keys, cycles marked), cx.query results as a table
 *    with column headers (as sqlite3's .mode box), strings as they are;
 *  - the dot commands (.help .plugins .reload .clients .use .timer .quit);
 *  - completion of globals and table fields (cx.exp -> cx.experience).
 * It draws nothing and reads no terminal: the console (console.h) and the
 * service's REPL socket (service.h) feed it lines and show its output. */
#ifndef CXHOST_REPL_H
#define CXHOST_REPL_H

#include <stddef.h>
#include "cxhost/session.h"

typedef struct repl repl;

typedef enum repl_status {
    REPL_DONE,      /* a statement or dot command ran */
    REPL_MORE,      /* the statement goes on: give the next line */
    REPL_FAILED,    /* it failed; the error was written */
    REPL_QUIT       /* .quit */
} repl_status;

/* Where a line's output goes: is_error for errors. */
typedef void (*repl_write_fn)(void *ud, int is_error, const char *text, size_t len);

/* A repl on session *s. With can_switch, .use CLIENT closes *s and opens
 * the other client there (a REPL of its own); without, .use refuses (a REPL
 * attached to a service works on the service's client). */
repl *repl_new(session **s, int can_switch);
void repl_free(repl *r);

/* Errors name the statement's lines as chunkname:LINE, LINE counting every
 * line fed (a script piped in gets its own line numbers). Default "repl". */
void repl_set_chunkname(repl *r, const char *name, int count_lines);

repl_status repl_feed(repl *r, const char *line, repl_write_fn write, void *ud);
/* Drops the statement being typed (Ctrl-C at the prompt). */
void repl_reset(repl *r);
/* "acme> ", or "acme>> " while a statement goes on. */
const char *repl_prompt(repl *r);
session *repl_session(repl *r);

/* Calls add with each completion of text (the word before the cursor:
 * "cx.exp", "pri", ".pl"), sorted, no repeats. */
typedef void (*repl_match_fn)(void *ud, const char *match);
void repl_complete(repl *r, const char *text, repl_match_fn add, void *ud);

#endif
