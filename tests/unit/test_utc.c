/* test_utc.c: ISO-8601 parsing and formatting, and the calendar arithmetic. */
#include <string.h>
#include "check.h"
#include "cxhost/utc.h"

static int64_t parsed(const char *text)
{
    int64_t t = -1;
    const char *why = NULL;
    if (utc_parse(text, strlen(text), &t, &why) < 0) {
        fprintf(stderr, "unexpected failure for '%s': %s\n", text, why);
        return INT64_MIN;
    }
    return t;
}

static const char *refused(const char *text)
{
    int64_t t = 12345;
    const char *why = NULL;
    if (utc_parse(text, strlen(text), &t, &why) == 0)
        return "(accepted)";
    return why ? why : "(no reason)";
}

static const char *formatted(int64_t t)
{
    static char out[UTC_TEXT_SIZE];
    utc_format(t, out);
    return out;
}

static const char *formatted_date(int64_t t)
{
    static char out[UTC_TEXT_SIZE];
    utc_format_date(t, out);
    return out;
}

static void test_days(void)
{
    int64_t y;
    int m, d;
    CHECK_EQ_INT(utc_days_from_civil(1970, 1, 1), 0);
    CHECK_EQ_INT(utc_days_from_civil(1969, 12, 31), -1);
    CHECK_EQ_INT(utc_days_from_civil(2000, 3, 1), 11017);
    CHECK_EQ_INT(utc_days_from_civil(1997, 1, 1), 9862);
    CHECK_EQ_INT(utc_days_from_civil(0, 3, 1), -719468);
    CHECK_EQ_INT(utc_days_from_civil(2400, 2, 29) + 1, utc_days_from_civil(2400, 3, 1));
    CHECK_EQ_INT(utc_days_from_civil(2100, 2, 28) + 1, utc_days_from_civil(2100, 3, 1));
    utc_civil_from_days(-1, &y, &m, &d);
    CHECK(y == 1969 && m == 12 && d == 31);
    utc_civil_from_days(11016, &y, &m, &d);
    CHECK(y == 2000 && m == 2 && d == 29);

    /* every day from 1600 to 2500 survives the round trip, in order */
    int ok = 1;
    int64_t prev = utc_days_from_civil(1599, 12, 31);
    for (int64_t yy = 1600; yy <= 2500 && ok; yy++)
        for (int mm = 1; mm <= 12 && ok; mm++) {
            int dim = mm == 2 ? ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0 ? 29 : 28)
                      : (mm == 4 || mm == 6 || mm == 9 || mm == 11) ? 30 : 31;
            for (int dd = 1; dd <= dim && ok; dd++) {
                int64_t days = utc_days_from_civil(yy, mm, dd);
                utc_civil_from_days(days, &y, &m, &d);
                ok = days == prev + 1 && y == yy && m == mm && d == dd;
                prev = days;
            }
        }
    CHECK(ok);
}

static void test_parse_forms(void)
{
    CHECK_EQ_INT(parsed("1970-01-01"), 0);
    CHECK_EQ_INT(parsed("19700101"), 0);
    CHECK_EQ_INT(parsed("19970101"), 852076800);
    CHECK_EQ_INT(parsed("1997-01-01"), 852076800);
    CHECK_EQ_INT(parsed("2026-03-09"), 1773014400);
    CHECK_EQ_INT(parsed("2026-03-09T14:05"), 1773014400 + 14 * 3600 + 5 * 60);
    CHECK_EQ_INT(parsed("2026-03-09 14:05"), 1773014400 + 14 * 3600 + 5 * 60);
    CHECK_EQ_INT(parsed("2026-03-09T14:05:30"), 1773014400 + 14 * 3600 + 5 * 60 + 30);
    CHECK_EQ_INT(parsed("2026-03-09T14:05:30.250"), 1773014400 + 14 * 3600 + 5 * 60 + 30);
    CHECK_EQ_INT(parsed("2026-03-09T14:05:30.999999999Z"), 1773014400 + 14 * 3600 + 5 * 60 + 30);
    CHECK_EQ_INT(parsed("2026-03-09T14:05:30Z"), 1773014400 + 14 * 3600 + 5 * 60 + 30);
    CHECK_EQ_INT(parsed("2026-03-09t14:05:30z"), 1773014400 + 14 * 3600 + 5 * 60 + 30);
    CHECK_EQ_INT(parsed("1969-12-31T23:59:59Z"), -1);
    CHECK_EQ_INT(parsed("2000-02-29"), 951782400);
    CHECK_EQ_INT(parsed("2400-02-29"), utc_days_from_civil(2400, 2, 29) * 86400);
    CHECK_EQ_INT(parsed("2026-12-31T23:59:59"), utc_days_from_civil(2026, 12, 31) * 86400 + 86399);
}

static void test_parse_zones(void)
{
    int64_t base = parsed("2026-03-09T14:05:00Z");
    CHECK_EQ_INT(parsed("2026-03-09T15:05+01:00"), base);
    CHECK_EQ_INT(parsed("2026-03-09T15:05:00+0100"), base);
    CHECK_EQ_INT(parsed("2026-03-09T15:05:00+01"), base);
    CHECK_EQ_INT(parsed("2026-03-09T08:35:00-0530"), base);
    CHECK_EQ_INT(parsed("2026-03-09T08:35:00.5-05:30"), base);
    CHECK_EQ_INT(parsed("2026-03-09T14:05:00+00:00"), base);
    CHECK_EQ_INT(parsed("2026-03-09T14:05:00-00:00"), base);
    /* a zone can move the moment across midnight and the year */
    CHECK_EQ_INT(parsed("2027-01-01T00:30+01:00"), parsed("2026-12-31T23:30Z"));
    CHECK_EQ_INT(parsed("1970-01-01T00:00-01:00"), 3600);
    /* a date with a zone is midnight there */
    CHECK_EQ_INT(parsed("2026-03-09+01:00"), parsed("2026-03-08T23:00Z"));
    CHECK_EQ_INT(parsed("2026-03-09Z"), parsed("2026-03-09"));
}

static void test_parse_refused(void)
{
    CHECK_EQ_STR(refused("2026-13-01"), "month 13 is out of range");
    CHECK_EQ_STR(refused("2026-00-10"), "month 0 is out of range");
    CHECK_EQ_STR(refused("19971301"), "month 13 is out of range");
    CHECK_EQ_STR(refused("2026-01-32"), "day 32 is out of range");
    CHECK_EQ_STR(refused("2026-01-00"), "day 0 is out of range");
    CHECK_EQ_STR(refused("2026-04-31"), "day 31 is out of range");
    CHECK_EQ_STR(refused("2026-02-30"), "day 30 is out of range");
    CHECK_EQ_STR(refused("2023-02-29"), "February 29 only exists in leap years");
    CHECK_EQ_STR(refused("1900-02-29"), "February 29 only exists in leap years");
    CHECK_EQ_STR(refused("2100-02-29"), "February 29 only exists in leap years");
    CHECK_EQ_STR(refused("2024-02-29"), "(accepted)");
    CHECK_EQ_STR(refused("2026-03-09T24:00"), "hour 24 is out of range");
    CHECK_EQ_STR(refused("2026-03-09T23:60"), "minute 60 is out of range");
    CHECK_EQ_STR(refused("2026-03-09T23:59:60"), "second 60 is out of range");
    CHECK_EQ_STR(refused("2026-03-09T23:59:99"), "second 99 is out of range");
    CHECK_EQ_STR(refused(""), "is empty");
    CHECK_EQ_STR(refused("2026-3-9"), "expected YYYY-MM-DD or YYYYMMDD");
    CHECK_EQ_STR(refused("26-03-09"), "expected YYYY-MM-DD or YYYYMMDD");
    CHECK_EQ_STR(refused("2026/03/09"), "expected YYYY-MM-DD or YYYYMMDD");
    CHECK_EQ_STR(refused("199701011"), "expected YYYY-MM-DD or YYYYMMDD");
    CHECK_EQ_STR(refused("1997010"), "expected YYYY-MM-DD or YYYYMMDD");
    CHECK_EQ_STR(refused("March 9"), "expected YYYY-MM-DD or YYYYMMDD");
    CHECK_EQ_STR(refused(" 2026-03-09"), "expected YYYY-MM-DD or YYYYMMDD");
    CHECK_EQ_STR(refused("2026-03-09T"), "expected HH:MM after the date");
    CHECK_EQ_STR(refused("2026-03-09 "), "expected HH:MM after the date");
    CHECK_EQ_STR(refused("2026-03-09T14"), "expected HH:MM after the date");
    CHECK_EQ_STR(refused("2026-03-09T1405"), "expected HH:MM after the date");
    CHECK_EQ_STR(refused("2026-03-09T14:5"), "expected HH:MM after the date");
    CHECK_EQ_STR(refused("2026-03-09T14:05:3"), "expected two digits of seconds");
    CHECK_EQ_STR(refused("2026-03-09T14:05:30."), "expected digits after the decimal point");
    CHECK_EQ_STR(refused("2026-03-09T14:05+1"), "expected a zone like Z, +01:00 or -0530");
    CHECK_EQ_STR(refused("2026-03-09T14:05+01:0"), "expected a zone like Z, +01:00 or -0530");
    CHECK_EQ_STR(refused("2026-03-09T14:05 UTC"), "expected a zone like Z, +01:00 or -0530");
    CHECK_EQ_STR(refused("2026-03-09T14:05+24:00"), "zone offset is out of range");
    CHECK_EQ_STR(refused("2026-03-09T14:05+01:60"), "zone offset is out of range");
    CHECK_EQ_STR(refused("2026-03-09T14:05Zx"), "unexpected text after the time");
    CHECK_EQ_STR(refused("2026-03-09T14:05:30+01:00:00"), "unexpected text after the time");
    CHECK_EQ_STR(refused("2026-03-09T14:05+0100x"), "unexpected text after the time");

    /* only len bytes count: the rest of the buffer is not looked at */
    int64_t t = 0;
    CHECK_EQ_INT(utc_parse("2026-03-09T14:05garbage", 16, &t, NULL), 0);
    CHECK_EQ_INT(t, parsed("2026-03-09T14:05"));
    CHECK_EQ_INT(utc_parse("2026-03-0", 9, &t, NULL), -1);
    /* a failure leaves *out alone and tolerates why == NULL */
    t = 7;
    CHECK_EQ_INT(utc_parse("2026-13-01", 10, &t, NULL), -1);
    CHECK_EQ_INT(t, 7);
}

static void test_format(void)
{
    CHECK_EQ_STR(formatted(0), "1970-01-01T00:00:00Z");
    CHECK_EQ_STR(formatted(-1), "1969-12-31T23:59:59Z");
    CHECK_EQ_STR(formatted(-86400), "1969-12-31T00:00:00Z");
    CHECK_EQ_STR(formatted(-86401), "1969-12-30T23:59:59Z");
    CHECK_EQ_STR(formatted(1773065130), "2026-03-09T14:05:30Z");
    CHECK_EQ_STR(formatted(951782400), "2000-02-29T00:00:00Z");
    CHECK_EQ_STR(formatted(253402300799), "9999-12-31T23:59:59Z");
    CHECK_EQ_STR(formatted_date(852076800), "1997-01-01");
    CHECK_EQ_STR(formatted_date(852076800 + 86399), "1997-01-01");
    CHECK_EQ_STR(formatted_date(-1), "1969-12-31");
    /* the extremes must not crash or overflow the buffer */
    CHECK(strlen(formatted(INT64_MAX)) < UTC_TEXT_SIZE);
    CHECK(strlen(formatted(INT64_MIN)) < UTC_TEXT_SIZE);

    /* format then parse gives the same second, across a wide range */
    int ok = 1;
    for (int64_t t = -2208988800; t < 4102444800 && ok; t += 86399 * 7 + 12345) {
        ok = parsed(formatted(t)) == t;
        if (!ok)
            fprintf(stderr, "round trip failed at %lld\n", (long long)t);
    }
    CHECK(ok);
}

static void test_now(void)
{
    int64_t now = utc_now();
    CHECK(now > parsed("2024-01-01"));
    CHECK(now < parsed("2200-01-01"));
}

int main(void)
{
    test_days();
    test_parse_forms();
    test_parse_zones();
    test_parse_refused();
    test_format();
    test_now();
    return CHECK_DONE();
}
