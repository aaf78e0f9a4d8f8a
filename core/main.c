/* main.c: cxhost's entry point; all the work is in cli.c. */
#include "cxhost/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
