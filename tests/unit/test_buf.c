/* test_buf.c: buf_add_real writes the bytes it always has. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cxhost/buf.h"

/* The definition of the text: the two-snprintf way buf_add_real was first
 * written, which its faster code must match byte for byte. */
static void reference_text(char *text, size_t size, double v)
{
    snprintf(text, size, "%.15g", v);
    if (strtod(text, NULL) != v)
        snprintf(text, size, "%.17g", v);
    if (!strpbrk(text, ".eEni"))
        strcat(text, ".0");
}

static buf out = BUF_INIT;

static const char *real_text(double v)
{
    buf_clear(&out);
    buf_add_str(&out, "<");         /* appends, after what is there */
    buf_add_real(&out, v);
    return buf_str(&out) + 1;
}

static void test_known(void)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1.0, "1.0"},
        {-225.0, "-225.0"},
        {0.5, "0.5"},
        {0.1, "0.1"},
        {0.3, "0.3"},
        {4.35, "4.35"},
        {1234.5678, "1234.5678"},
        {-0.0625, "-0.0625"},
        {0.1 + 0.2, "0.30000000000000004"},   /* 15 digits do not read back: 17 */
        {1.0 / 3.0, "0.33333333333333331"},
        {-2.0 / 3.0, "-0.66666666666666663"},
        {100.0 / 3.0, "33.333333333333336"},
        /* %g's switch to the exponent form, at 15 digits and at 17 */
        {999999999999999.0, "999999999999999.0"},
        {1e15, "1e+15"},
        {1e15 + 1, "1000000000000001.0"},
        {1e15 + 0.5, "1000000000000000.5"},
        {999999999999999.9, "999999999999999.88"},
        {9999999999999999.0, "1e+16"},         /* 15 digits round up to a new digit */
        {9007199254740993.0, "9007199254740992.0"},
        {1e16, "1e+16"},
        {1e17, "1e+17"},
        {12345678901234567890.0, "1.2345678901234567e+19"},
        {1e20, "1e+20"},
        {1e22, "1e+22"},
        {1e23, "1e+23"},
        {123456789012345.67, "123456789012345.67"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1e-7, "1e-07"},
        {9.9999999999999995e-5, "9.9999999999999991e-05"},
        {0.000123456789012345678, "0.00012345678901234567"},
        /* exact ties at the 17th digit go to even */
        {0x1p-25, "2.9802322387695312e-08"},
        {0x3p-25, "8.9406967163085938e-08"},
        /* 15 digits exactly halfway to the next double: they read back as
         * that double (its mantissa is even), so 17 digits are needed */
        {0x1.da56a4b0835bfp+75, "6.9999999999999996e+22"},
        {0x1.6345785d7dcd5p+56, "99999999999200592.0"},
        {0x1.52d02c7e14af7p+76, "1.0000000000000001e+23"},
        {0x1.52d02c7e14af6p+76, "1e+23"},      /* and here they go to v */
        /* the ends of the range, and where the integer arithmetic changes */
        {1e-15, "1e-15"},
        {1e-16, "1e-16"},
        {1e43, "1e+43"},
        {9.999999999999999e43, "9.9999999999999989e+43"},
        {1e44, "1e+44"},
        {1e100, "1e+100"},
        {1e-100, "1e-100"},
        {1.5e-300, "1.5e-300"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {-DBL_MAX, "-1.7976931348623157e+308"},
        {5e-324, "4.94065645841247e-324"},
        {-5e-324, "-4.94065645841247e-324"},
        {0x1p-1073, "9.88131291682493e-324"},
        {INFINITY, "inf"},
        {-INFINITY, "-inf"},
        {NAN, "nan"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK_EQ_STR(real_text(cases[i].v), cases[i].text);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* One mismatch printed is enough to see what is wrong; counting the rest. */
static void check_same(double v)
{
    char want[64];
    reference_text(want, sizeof want, v);
    const char *got = real_text(v);
    if (strcmp(got, want) == 0) {
        check_passed++;
        return;
    }
    if (check_failed++ < 10)
        fprintf(stderr, "%s:%d: buf_add_real(%a) is \"%s\", want \"%s\"\n", __FILE__, __LINE__, v, got, want);
}

static void test_against_reference(void)
{
    for (int i = 0; i < 1000; i++) {
        check_same(from_bits(rng()));                                      /* anything, nan and inf included */
        check_same((double)(int64_t)(rng() >> (rng() % 64)));              /* integers of every size */
        check_same((double)(rng() % 100000000) / 100.0);                   /* amounts in cents */
        check_same(3.0 * pow(0.5, (double)(rng() % 3000) / 30.0));         /* decayed sums */
        check_same(ldexp((double)(rng() >> 11), (int)(rng() % 200) - 150)); /* full mantissas */
        check_same(ldexp((double)((rng() >> 11) & ~0xffffffULL), (int)(rng() % 1300) - 1100)); /* short: ties */
        check_same(from_bits(rng() & 0x000fffffffffffffULL));             /* subnormals */
    }
    /* each power of ten and its neighbours: where the exponent form starts */
    for (int k = -325; k <= 309; k++) {
        char t[16];
        snprintf(t, sizeof t, "1e%d", k);
        double p = strtod(t, NULL);
        check_same(p);
        check_same(-p);
        check_same(nextafter(p, 0));
        check_same(nextafter(p, INFINITY));
    }
    /* each power of two: there the next double down is nearer than the one up */
    for (int k = -1074; k <= 1023; k++) {
        double p = ldexp(1, k);
        check_same(p);
        check_same(nextafter(p, 0));
        check_same(3 * p);
    }
}

int main(void)
{
    test_known();
    test_against_reference();
    buf_free(&out);
    return CHECK_DONE();
}
