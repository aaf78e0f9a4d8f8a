/* check.h: the smallest test harness that does the job.
 *
 * CHECK(cond) and CHECK_EQ_INT/CHECK_EQ_STR record a failure with file and
 * line and go on; a test program ends with CHECK_DONE(), which prints
 * "N passed, M failed" and returns the exit status for main. */
#ifndef CXHOST_CHECK_H
#define CXHOST_CHECK_H

#include <stdio.h>
#include <string.h>
#include <inttypes.h>

static int check_passed, check_failed;

#define CHECK(cond) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ_INT(got, want) do { \
    long long g_ = (long long)(got), w_ = (long long)(want); \
    if (g_ == w_) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: %s is %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_); } \
} while (0)

#define CHECK_EQ_STR(got, want) do { \
    const char *g_ = (got), *w_ = (want); \
    if (g_ && w_ && strcmp(g_, w_) == 0) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } \
} while (0)

/* Substring check, for error messages. */
#define CHECK_CONTAINS(haystack, needle) do { \
    const char *h_ = (haystack), *n_ = (needle); \
    if (h_ && strstr(h_, n_)) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, h_ ? h_ : "(null)", n_); } \
} while (0)

#define CHECK_DONE() (printf("%d passed, %d failed\n", check_passed, check_failed), check_failed ? 1 : 0)

#endif
