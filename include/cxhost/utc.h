/* utc.h: time as cxhost stores it.
 *
 * Every time in the store is Unix seconds in UTC, an int64. These functions
 * convert between that and ISO-8601 text without touching the process's time
 * zone (no TZ, no mktime), so results never depend on the machine. */
#ifndef CXHOST_UTC_H
#define CXHOST_UTC_H

#include <stddef.h>
#include <stdint.h>

#define UTC_TEXT_SIZE 32

/* Parses ISO-8601 text of len bytes into Unix seconds (UTC). Accepted forms:
 *   2026-03-09                      midnight UTC
 *   19970101                        compact date (as in the CDNOW files)
 *   2026-03-09T14:05  / T14:05:30 / T14:05:30.250   ('T' or one space)
 *   any of the above with a zone: Z, +01:00, -0530, +01
 * A time with no zone is taken as UTC. Fractions of a second are dropped.
 * Returns 0, or -1 with *why set to a short static reason
 * ("month 13 is out of range", "expected YYYY-MM-DD", ...). */
int utc_parse(const char *text, size_t len, int64_t *out, const char **why);

/* Writes "2026-03-09T14:05:30Z" into out (UTC_TEXT_SIZE bytes). */
void utc_format(int64_t t, char out[UTC_TEXT_SIZE]);
/* Writes "2026-03-09" into out. */
void utc_format_date(int64_t t, char out[UTC_TEXT_SIZE]);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t utc_days_from_civil(int64_t y, int m, int d);
void utc_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* The current time, Unix seconds. */
int64_t utc_now(void);

#endif
