/* console.h: the REPL at a terminal, or fed from a pipe.
 *
 * It owns what is about the terminal: line editing, history and tab
 * completion through GNU readline's callback interface, driven by the loop
 * (so timers fire and an attached service serves while the prompt waits);
 * Ctrl-C, which stops a running statement through the instruction hook or
 * clears the line, and never ends the REPL; Ctrl-D, which does; colours for
 * errors. When standard input is not a terminal it reads statements in
 * order with no prompt and no colours, and the exit status is 1 if one of
 * them failed. What a line means is repl.h's business. */
#ifndef CXHOST_CONSOLE_H
#define CXHOST_CONSOLE_H

#include "cxhost/error.h"
#include "cxhost/session.h"

/* A REPL on *s (which .use may replace), with the history of the client
 * in use (HOME/clients/NAME/.history). Returns the exit status: 0, or 1
 * when a piped statement failed. */
int console_run(session **s);

/* A REPL attached to a service's REPL socket at path. Returns the exit
 * status as console_run does, or -1 with err when it cannot connect. */
int console_attach(const char *path, cx_error *err);

#endif
