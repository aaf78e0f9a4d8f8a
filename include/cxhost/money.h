/* money.h: money is an int64 count of cents, never a floating-point number. */
#ifndef CXHOST_MONEY_H
#define CXHOST_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define MONEY_TEXT_SIZE 32

/* Parses decimal text of len bytes ("12", "-12.5", "0.07", "+3.00") into cents.
 * At most two decimals; no exponent, no thousands separators, no spaces.
 * Returns 0, or -1 with *why set to a short static reason
 * ("is not a number", "has more than two decimals", "is too large"). */
int money_parse(const char *text, size_t len, int64_t *cents, const char **why);

/* "1234.50", "-0.07": plain, for files and JSON. */
void money_format(int64_t cents, char out[MONEY_TEXT_SIZE]);
/* "1,234.50": grouped, for people. */
void money_format_grouped(int64_t cents, char out[MONEY_TEXT_SIZE]);

#endif
