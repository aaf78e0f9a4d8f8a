/* cli.h: the cxhost command line. */
#ifndef CXHOST_CLI_H
#define CXHOST_CLI_H

/* Runs the command argv names; returns the process's exit status
 * (0 done, 1 failed, 2 wrong usage). */
int cli_main(int argc, char **argv);

#endif
