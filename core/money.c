/* money.c: decimal text <-> int64 cents, see money.h.
 *
 * Accepted: [+-]DIGITS[.D or .DD], e.g. "12", "0.5", "-3.07", "007.50".
 * Refused on purpose: ".5" and "12." (a digit is required on both sides of
 * the point, so a truncated value is never taken for a whole one), "12.340"
 * (more than two decimals even when the extra ones are zero), exponents,
 * separators, spaces, and anything beyond the int64 range of cents. */
#include <inttypes.h>
#include <stdio.h>
#include "cxhost/money.h"

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* v = v * 10 + digit, refusing to pass limit. */
static int push_digit(uint64_t *v, unsigned digit, uint64_t limit)
{
    if (*v > (limit - digit) / 10)
        return -1;
    *v = *v * 10 + digit;
    return 0;
}

/* The reason for the first character that cannot belong to an amount. */
static const char *why_stray(char c)
{
    if (c == 'e' || c == 'E')
        return "has an exponent (write plain decimals, like 1200.50)";
    if (c == ',')
        return "has a comma (use '.' for decimals and no thousands separators)";
    if (c == ' ' || c == '\t')
        return "has spaces";
    return "is not a number";
}

int money_parse(const char *text, size_t len, int64_t *cents, const char **why)
{
    const char *p = text, *end = text + len;
    int neg = 0;
    uint64_t v = 0;
    if (len == 0)
        return fail(why, "is empty");
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    /* the magnitude of INT64_MIN is one more than INT64_MAX */
    uint64_t limit = (uint64_t)INT64_MAX + (uint64_t)neg;
    if (p < end && *p == '.' && p + 1 < end && is_digit(p[1]))
        return fail(why, "needs a digit before the decimal point (write 0.5, not .5)");
    if (p == end || !is_digit(*p))
        return fail(why, "is not a number");
    for (; p < end && is_digit(*p); p++)
        if (push_digit(&v, (unsigned)(*p - '0'), limit) < 0)
            return fail(why, "is too large");
    int decimals = 0;
    if (p < end && *p == '.') {
        p++;
        for (; p < end && is_digit(*p); p++, decimals++) {
            if (decimals == 2)
                return fail(why, "has more than two decimals");
            if (push_digit(&v, (unsigned)(*p - '0'), limit) < 0)
                return fail(why, "is too large");
        }
        if (decimals == 0 && (p == end || (*p != 'e' && *p != 'E')))
            return fail(why, "needs digits after the decimal point");
    }
    if (p < end)
        return fail(why, why_stray(*p));
    for (; decimals < 2; decimals++)
        if (push_digit(&v, 0, limit) < 0)
            return fail(why, "is too large");
    if (!neg)
        *cents = (int64_t)v;
    else
        *cents = v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
    return 0;
}

static uint64_t magnitude(int64_t cents)
{
    return cents < 0 ? 0 - (uint64_t)cents : (uint64_t)cents;
}

void money_format(int64_t cents, char out[MONEY_TEXT_SIZE])
{
    uint64_t m = magnitude(cents);
    snprintf(out, MONEY_TEXT_SIZE, "%s%" PRIu64 ".%02u", cents < 0 ? "-" : "", m / 100,
             (unsigned)(m % 100));
}

void money_format_grouped(int64_t cents, char out[MONEY_TEXT_SIZE])
{
    uint64_t m = magnitude(cents);
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, m / 100);
    size_t o = 0;
    if (cents < 0)
        out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    snprintf(out + o, MONEY_TEXT_SIZE - o, ".%02u", (unsigned)(m % 100));
}
