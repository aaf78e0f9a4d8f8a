/* test_money.c: decimal text <-> int64 cents. */
#include <string.h>
#include "check.h"
#include "cxhost/money.h"

static int64_t cents(const char *text)
{
    int64_t c = -1;
    const char *why = NULL;
    if (money_parse(text, strlen(text), &c, &why) < 0) {
        fprintf(stderr, "unexpected failure for '%s': %s\n", text, why);
        return INT64_MIN + 1;
    }
    return c;
}

static const char *refused(const char *text)
{
    int64_t c = 0;
    const char *why = NULL;
    if (money_parse(text, strlen(text), &c, &why) == 0)
        return "(accepted)";
    return why ? why : "(no reason)";
}

static const char *plain(int64_t c)
{
    static char out[MONEY_TEXT_SIZE];
    money_format(c, out);
    return out;
}

static const char *grouped(int64_t c)
{
    static char out[MONEY_TEXT_SIZE];
    money_format_grouped(c, out);
    return out;
}

static void test_parse_good(void)
{
    CHECK_EQ_INT(cents("12"), 1200);
    CHECK_EQ_INT(cents("-12.5"), -1250);
    CHECK_EQ_INT(cents("0.07"), 7);
    CHECK_EQ_INT(cents("-0.07"), -7);
    CHECK_EQ_INT(cents("+3.00"), 300);
    CHECK_EQ_INT(cents("0.5"), 50);
    CHECK_EQ_INT(cents("0"), 0);
    CHECK_EQ_INT(cents("-0"), 0);
    CHECK_EQ_INT(cents("-0.00"), 0);
    CHECK_EQ_INT(cents("007.50"), 750);
    CHECK_EQ_INT(cents("11.77"), 1177);
    CHECK_EQ_INT(cents("1234567.89"), 123456789);
    /* the classic floating-point traps come out exact */
    CHECK_EQ_INT(cents("0.29"), 29);
    CHECK_EQ_INT(cents("1.15"), 115);
    CHECK_EQ_INT(cents("4.35"), 435);
    CHECK_EQ_INT(cents("1005.10"), 100510);
    /* the edges of int64 */
    CHECK_EQ_INT(cents("92233720368547758.07"), INT64_MAX);
    CHECK_EQ_INT(cents("-92233720368547758.08"), INT64_MIN);
    CHECK_EQ_INT(cents("00000000000000000000000000001.5"), 150);
    /* only len bytes count */
    int64_t c = 0;
    CHECK_EQ_INT(money_parse("12.345", 5, &c, NULL), 0);
    CHECK_EQ_INT(c, 1234);
}

static void test_parse_refused(void)
{
    CHECK_EQ_STR(refused(""), "is empty");
    CHECK_EQ_STR(refused("abc"), "is not a number");
    CHECK_EQ_STR(refused("-"), "is not a number");
    CHECK_EQ_STR(refused("+"), "is not a number");
    CHECK_EQ_STR(refused("."), "is not a number");
    CHECK_EQ_STR(refused("-."), "is not a number");
    CHECK_EQ_STR(refused("--1"), "is not a number");
    CHECK_EQ_STR(refused("+-1"), "is not a number");
    CHECK_EQ_STR(refused(".5"), "needs a digit before the decimal point (write 0.5, not .5)");
    CHECK_EQ_STR(refused("-.5"), "needs a digit before the decimal point (write 0.5, not .5)");
    CHECK_EQ_STR(refused("12."), "needs digits after the decimal point");
    CHECK_EQ_STR(refused("12.345"), "has more than two decimals");
    CHECK_EQ_STR(refused("12.340"), "has more than two decimals");
    CHECK_EQ_STR(refused("0.001"), "has more than two decimals");
    CHECK_EQ_STR(refused("1e3"), "has an exponent (write plain decimals, like 1200.50)");
    CHECK_EQ_STR(refused("1.5E2"), "has an exponent (write plain decimals, like 1200.50)");
    CHECK_EQ_STR(refused("12.e5"), "has an exponent (write plain decimals, like 1200.50)");
    CHECK_EQ_STR(refused("1,000"), "has a comma (use '.' for decimals and no thousands separators)");
    CHECK_EQ_STR(refused("12,50"), "has a comma (use '.' for decimals and no thousands separators)");
    CHECK_EQ_STR(refused("12 "), "has spaces");
    CHECK_EQ_STR(refused("1 000"), "has spaces");
    CHECK_EQ_STR(refused(" 12"), "is not a number");
    CHECK_EQ_STR(refused("$12"), "is not a number");
    CHECK_EQ_STR(refused("12$"), "is not a number");
    CHECK_EQ_STR(refused("1.2.3"), "is not a number");
    CHECK_EQ_STR(refused("0x10"), "is not a number");
    CHECK_EQ_STR(refused("NaN"), "is not a number");
    CHECK_EQ_STR(refused("inf"), "is not a number");
    /* one cent past either end of int64 */
    CHECK_EQ_STR(refused("92233720368547758.08"), "is too large");
    CHECK_EQ_STR(refused("-92233720368547758.09"), "is too large");
    CHECK_EQ_STR(refused("92233720368547759"), "is too large");
    CHECK_EQ_STR(refused("99999999999999999999999999"), "is too large");
    CHECK_EQ_STR(refused("184467440737095516.16"), "is too large");
    /* a failure leaves *cents alone and tolerates why == NULL */
    int64_t c = 42;
    CHECK_EQ_INT(money_parse("x", 1, &c, NULL), -1);
    CHECK_EQ_INT(c, 42);
}

static void test_format(void)
{
    CHECK_EQ_STR(plain(0), "0.00");
    CHECK_EQ_STR(plain(7), "0.07");
    CHECK_EQ_STR(plain(-7), "-0.07");
    CHECK_EQ_STR(plain(123450), "1234.50");
    CHECK_EQ_STR(plain(-123450), "-1234.50");
    CHECK_EQ_STR(plain(250031563), "2500315.63");
    CHECK_EQ_STR(plain(INT64_MAX), "92233720368547758.07");
    CHECK_EQ_STR(plain(INT64_MIN), "-92233720368547758.08");
    CHECK_EQ_STR(grouped(0), "0.00");
    CHECK_EQ_STR(grouped(-5), "-0.05");
    CHECK_EQ_STR(grouped(99999), "999.99");
    CHECK_EQ_STR(grouped(100000), "1,000.00");
    CHECK_EQ_STR(grouped(123450), "1,234.50");
    CHECK_EQ_STR(grouped(-123450), "-1,234.50");
    CHECK_EQ_STR(grouped(12345678900), "123,456,789.00");
    CHECK_EQ_STR(grouped(250031563), "2,500,315.63");
    CHECK_EQ_STR(grouped(INT64_MAX), "92,233,720,368,547,758.07");
    CHECK_EQ_STR(grouped(INT64_MIN), "-92,233,720,368,547,758.08");

    /* format then parse gives the same cents */
    int ok = 1;
    for (int64_t c = -1000003; c <= 1000003 && ok; c += 997) {
        ok = cents(plain(c)) == c;
        if (!ok)
            fprintf(stderr, "round trip failed at %lld\n", (long long)c);
    }
    CHECK(ok);
}

int main(void)
{
    test_parse_good();
    test_parse_refused();
    test_format();
    return CHECK_DONE();
}
