/* utc.c: ISO-8601 text <-> Unix seconds, see utc.h.
 *
 * Pure arithmetic on the proleptic Gregorian calendar (Howard Hinnant's
 * days-from-civil algorithm), so nothing depends on TZ or the C library's
 * idea of local time. Second 60 (leap second) is refused: Unix time has none.
 * The time part may follow either date form ("19970101T10:00" is accepted). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cxhost/utc.h"

/* "month 13 is out of range" must be a static string, so the reasons for
 * every two-digit value are spelled out at compile time. */
#define UTC_OOR(f, t, u) f " " #t #u " is out of range"
#define UTC_OOR_ROW(f, t) \
    UTC_OOR(f, t, 0), UTC_OOR(f, t, 1), UTC_OOR(f, t, 2), UTC_OOR(f, t, 3), UTC_OOR(f, t, 4), \
    UTC_OOR(f, t, 5), UTC_OOR(f, t, 6), UTC_OOR(f, t, 7), UTC_OOR(f, t, 8), UTC_OOR(f, t, 9)
#define UTC_OOR_TABLE(f) { \
    UTC_OOR_ROW(f, ), UTC_OOR_ROW(f, 1), UTC_OOR_ROW(f, 2), UTC_OOR_ROW(f, 3), UTC_OOR_ROW(f, 4), \
    UTC_OOR_ROW(f, 5), UTC_OOR_ROW(f, 6), UTC_OOR_ROW(f, 7), UTC_OOR_ROW(f, 8), UTC_OOR_ROW(f, 9) }

static const char *const month_oor[100] = UTC_OOR_TABLE("month");
static const char *const day_oor[100] = UTC_OOR_TABLE("day");
static const char *const hour_oor[100] = UTC_OOR_TABLE("hour");
static const char *const minute_oor[100] = UTC_OOR_TABLE("minute");
static const char *const second_oor[100] = UTC_OOR_TABLE("second");

int64_t utc_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void utc_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = mm;
    *y = yoe + era * 400 + (mm <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int all_digits(const char *s, const char *end, size_t n)
{
    if ((size_t)(end - s) < n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

/* YYYY-MM-DD or YYYYMMDD at *p; advances *p and returns days since the epoch. */
static int parse_date(const char **p, const char *end, int64_t *days, const char **why)
{
    const char *s = *p;
    int y, m, d;
    if (all_digits(s, end, 4) && end - s >= 10 && s[4] == '-' && s[7] == '-' &&
        all_digits(s + 5, end, 2) && all_digits(s + 8, end, 2)) {
        y = num(s, 4);
        m = num(s + 5, 2);
        d = num(s + 8, 2);
        *p = s + 10;
    } else if (all_digits(s, end, 8) && (end - s == 8 || s[8] < '0' || s[8] > '9')) {
        y = num(s, 4);
        m = num(s + 4, 2);
        d = num(s + 6, 2);
        *p = s + 8;
    } else {
        return fail(why, "expected YYYY-MM-DD or YYYYMMDD");
    }
    if (m < 1 || m > 12)
        return fail(why, month_oor[m]);
    if (m == 2 && d == 29 && !is_leap(y))
        return fail(why, "February 29 only exists in leap years");
    if (d < 1 || d > days_in_month(y, m))
        return fail(why, day_oor[d]);
    *days = utc_days_from_civil(y, m, d);
    return 0;
}

/* HH:MM, HH:MM:SS or HH:MM:SS.fff at *p; the fraction is dropped. */
static int parse_time(const char **p, const char *end, int64_t *secs, const char **why)
{
    const char *s = *p;
    if (!all_digits(s, end, 2) || end - s < 5 || s[2] != ':' || !all_digits(s + 3, end, 2))
        return fail(why, "expected HH:MM after the date");
    int h = num(s, 2), mi = num(s + 3, 2), sec = 0;
    s += 5;
    if (s < end && *s == ':') {
        if (!all_digits(s + 1, end, 2))
            return fail(why, "expected two digits of seconds");
        sec = num(s + 1, 2);
        s += 3;
        if (s < end && *s == '.') {
            if (!all_digits(++s, end, 1))
                return fail(why, "expected digits after the decimal point");
            while (s < end && *s >= '0' && *s <= '9')
                s++;
        }
    }
    if (h > 23)
        return fail(why, hour_oor[h]);
    if (mi > 59)
        return fail(why, minute_oor[mi]);
    if (sec > 59)
        return fail(why, second_oor[sec]);
    *secs = h * 3600 + mi * 60 + sec;
    *p = s;
    return 0;
}

/* Z, +HH:MM, +HHMM or +HH (or '-') at *p; *offset is seconds east of UTC. */
static int parse_zone(const char **p, const char *end, int64_t *offset, const char **why)
{
    const char *s = *p;
    *offset = 0;
    if (*s == 'Z' || *s == 'z') {
        *p = s + 1;
        return 0;
    }
    if ((*s != '+' && *s != '-') || !all_digits(s + 1, end, 2))
        return fail(why, "expected a zone like Z, +01:00 or -0530");
    int sign = *s == '-' ? -1 : 1;
    int h = num(s + 1, 2), mi = 0;
    s += 3;
    if (s < end && *s == ':') {
        if (!all_digits(s + 1, end, 2))
            return fail(why, "expected a zone like Z, +01:00 or -0530");
        mi = num(s + 1, 2);
        s += 3;
    } else if (all_digits(s, end, 2)) {
        mi = num(s, 2);
        s += 2;
    }
    if (h > 23 || mi > 59)
        return fail(why, "zone offset is out of range");
    *offset = sign * (h * 3600 + mi * 60);
    *p = s;
    return 0;
}

int utc_parse(const char *text, size_t len, int64_t *out, const char **why)
{
    const char *p = text, *end = text + len;
    int64_t days, secs = 0, offset = 0;
    if (len == 0)
        return fail(why, "is empty");
    if (parse_date(&p, end, &days, why) < 0)
        return -1;
    if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
        p++;
        if (parse_time(&p, end, &secs, why) < 0)
            return -1;
    }
    if (p < end && parse_zone(&p, end, &offset, why) < 0)
        return -1;
    if (p != end)
        return fail(why, "unexpected text after the time");
    *out = days * 86400 + secs - offset;
    return 0;
}

/* Floor division, so times before 1970 land on the right day. */
static void split_time(int64_t t, int64_t *days, int *secs)
{
    int64_t d = t / 86400, r = t % 86400;
    if (r < 0) {
        r += 86400;
        d--;
    }
    *days = d;
    *secs = (int)r;
}

/* Writes n as `width` digits at out (n >= 0 and fits). */
static void put_digits(char *out, int64_t n, int width)
{
    for (int i = width - 1; i >= 0; i--, n /= 10)
        out[i] = (char)('0' + n % 10);
}

/* "2026-03-09" into out (11 bytes with the NUL); years outside 0..9999
 * through snprintf. Dates are formatted for every explanation a plugin
 * gives, so this avoids printf's cost on the common case. */
static void format_date(int64_t y, int m, int d, char *out)
{
    if (y < 0 || y > 9999) {
        snprintf(out, UTC_TEXT_SIZE, "%04lld-%02d-%02d", (long long)y, m, d);
        return;
    }
    put_digits(out, y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = '\0';
}

void utc_format(int64_t t, char out[UTC_TEXT_SIZE])
{
    int64_t days, y;
    int secs, m, d;
    split_time(t, &days, &secs);
    utc_civil_from_days(days, &y, &m, &d);
    format_date(y, m, d, out);
    size_t n = strlen(out);
    out[n] = 'T';
    put_digits(out + n + 1, secs / 3600, 2);
    out[n + 3] = ':';
    put_digits(out + n + 4, secs / 60 % 60, 2);
    out[n + 6] = ':';
    put_digits(out + n + 7, secs % 60, 2);
    out[n + 9] = 'Z';
    out[n + 10] = '\0';
}

void utc_format_date(int64_t t, char out[UTC_TEXT_SIZE])
{
    int64_t days, y;
    int secs, m, d;
    split_time(t, &days, &secs);
    utc_civil_from_days(days, &y, &m, &d);
    format_date(y, m, d, out);
}

int64_t utc_now(void)
{
    return (int64_t)time(NULL);
}
