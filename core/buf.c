/* buf.c: growable text buffer, see buf.h. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cxhost/buf.h"

static void out_of_memory(void)
{
    fputs("cxhost: out of memory\n", stderr);
    abort();
}

static void buf_reserve(buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        out_of_memory();
    b->data = p;
    b->cap = cap;
}

void buf_add(buf *b, const void *bytes, size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_add_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_add_char(buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    /* Format straight into the room there is; only a longer text formats twice. */
    va_list again;
    va_copy(again, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    if (n >= 0 && (size_t)n >= room) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    }
    if (n > 0)
        b->len += (size_t)n;
    va_end(again);
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_clear(buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int buf_read_file(buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    char block[8192];
    size_t n;
    if (!f)
        return -1;
    while ((n = fread(block, 1, sizeof block, f)) > 0)
        buf_add(b, block, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}

const char *buf_str(const buf *b) { return b->data ? b->data : ""; }

void buf_add_json_string(buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* Room for the worst case (every byte a \u00XX), then written in place:
     * facts' names and texts go through here once per customer and fact. */
    buf_reserve(b, 6 * len + 2);
    char *out = b->data + b->len;
    *out++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    b->data[b->len] = '\0';
}

void buf_add_int(buf *b, long long v)
{
    char digits[24];
    int n = sizeof digits;
    /* In unsigned arithmetic, so the most negative value needs no special case. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        digits[--n] = '-';
    buf_add(b, digits + n, sizeof digits - (size_t)n);
}

/* --- reals ------------------------------------------------------------------
 *
 * The text is what it has always been: "%.15g" when that reads back as v,
 * else "%.17g" (16 rarely saves a digit), and ".0" when the text would read
 * as an integer. Two snprintf and a strtod cost ~5,800 instructions a number,
 * so the same bytes are made here with integer arithmetic, exact: glibc's
 * "%.Ng" rounds the exact binary value to nearest, ties to even, and strtod
 * rounds the exact decimal the same way (under the default rounding mode and
 * the "C" locale, which cxhost never changes). Only inf, nan and magnitudes
 * from about 1e44 up still go through printf. */

/* The old way, for what the fast way leaves. */
static size_t real_text_printf(char *text, size_t size, double v)
{
    snprintf(text, size, "%.15g", v);
    if (strtod(text, NULL) != v)
        snprintf(text, size, "%.17g", v);
    size_t n = strlen(text);
    if (!strpbrk(text, ".eEni")) {   /* "inf", "nan" have letters too */
        memcpy(text + n, ".0", 3);
        n += 2;
    }
    return n;
}

static const uint64_t pow10_u64[] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL};

/* The k last digits of n at out, two at a time (a division each costs). */
static void put_digits(char *out, uint64_t n, int k)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    while (k > 8) {                 /* 32-bit arithmetic is cheaper on 8-digit blocks */
        uint32_t block = (uint32_t)(n % 100000000);
        n /= 100000000;
        for (int i = 0; i < 4; i++, block /= 100)
            memcpy(out + k - 2 - 2 * i, pairs + 2 * (block % 100), 2);
        k -= 8;
    }
    uint32_t rest = (uint32_t)n;
    for (; k >= 2; k -= 2, rest /= 100)
        memcpy(out + k - 2, pairs + 2 * (rest % 100), 2);
    if (k)
        out[0] = (char)('0' + rest % 10);
}

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;

/* The text of "%.{p}g" for (neg ? -1 : 1) * n * 10^(x - p + 1), where n has
 * exactly p digits, plus ".0" when it has neither '.' nor 'e'. */
static size_t put_g(char *out, int neg, uint64_t n, int p, int x)
{
    char d[20];
    put_digits(d, n, p);
    int nd = p;                     /* %g drops the trailing zeros */
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    char *o = out;
    if (neg)
        *o++ = '-';
    if (x >= p || x < -4) {         /* %g's rule for the exponent form */
        *o++ = d[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        unsigned ax = (unsigned)(x < 0 ? -x : x);
        if (ax >= 100)
            *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);   /* at least two digits */
        *o++ = (char)('0' + ax % 10);
    } else if (x < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = x; i < -1; i++)
            *o++ = '0';
        memcpy(o, d, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i <= x; i++)         /* the integer part, zeros included */
            *o++ = i < nd ? d[i] : '0';
        *o++ = '.';
        if (nd > x + 1) {
            memcpy(o, d + x + 1, (size_t)(nd - x - 1));
            o += nd - x - 1;
        } else {
            *o++ = '0';                      /* the ".0" of an integer */
        }
    }
    return (size_t)(o - out);
}

static const uint64_t pow5_u64[] = {
    1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL, 390625ULL,
    1953125ULL, 9765625ULL, 48828125ULL, 244140625ULL, 1220703125ULL, 6103515625ULL,
    30517578125ULL, 152587890625ULL, 762939453125ULL, 3814697265625ULL,
    19073486328125ULL, 95367431640625ULL, 476837158203125ULL, 2384185791015625ULL,
    11920928955078125ULL, 59604644775390625ULL, 298023223876953125ULL,
    1490116119384765625ULL, 7450580596923828125ULL};   /* 5^0 .. 5^27 */

/* How the fraction left over by scale10 compares with one half. */
enum { FRAC_ZERO, FRAC_LOW, FRAC_HALF, FRAC_HIGH };

/* 5^s in 64-bit limbs, least significant first: the factor for the numbers
 * below 1e-15, for which 128 bits do not do. */
typedef struct big5 {
    uint64_t limb[15];              /* 5^350 * 2^55 < 2^869 needs 14 */
    int n;
} big5;

static int big5_set(big5 *f, int s)
{
    if (s > 350)
        return 0;
    f->limb[0] = pow5_u64[s % 27];
    f->n = 1;
    for (int k = s / 27; k > 0; k--) {
        uint64_t carry = 0;
        for (int i = 0; i < f->n; i++) {
            u128 p = (u128)f->limb[i] * pow5_u64[27] + carry;
            f->limb[i] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        if (carry)
            f->limb[f->n++] = carry;
    }
    return 1;
}

/* mant * f * 2^t, t < 0, as scale10 gives it. */
static int scale10_big(uint64_t mant, int t, const big5 *f, uint64_t *q, int *frac)
{
    uint64_t p[16] = {0};           /* zeros beyond the product, for the reads below */
    int n = f->n;
    uint64_t carry = 0;
    for (int i = 0; i < n; i++) {
        u128 x = (u128)f->limb[i] * mant + carry;
        p[i] = (uint64_t)x;
        carry = (uint64_t)(x >> 64);
    }
    p[n++] = carry;
    int sh = -t;
    if (t >= 0 || sh / 64 + 2 > 16)
        return 0;
    int li = sh / 64, bit = sh % 64;
    *q = bit ? p[li] >> bit | p[li + 1] << (64 - bit) : p[li];
    if ((bit ? p[li + 1] >> bit : p[li + 1]) != 0)
        return 0;
    for (int i = li + 2; i < n; i++)
        if (p[i])
            return 0;
    int hb = sh - 1, hl = hb / 64;  /* the bit worth one half */
    int half = (int)(p[hl] >> (hb % 64) & 1);
    uint64_t below = p[hl] & ((1ULL << (hb % 64)) - 1);
    for (int i = 0; i < hl; i++)
        below |= p[i];
    *frac = half ? (below ? FRAC_HIGH : FRAC_HALF) : (below ? FRAC_LOW : FRAC_ZERO);
    return 1;
}

/* mant * 2^e * 10^s, exactly, as an integer part *q and the class of the
 * fraction; 0 when that is beyond reach (mant must be < 2^55). f is 5^s
 * when s > 31. */
static int scale10(uint64_t mant, int e, int s, const big5 *f, uint64_t *q, int *frac)
{
    int t = e + s;                  /* 10^s = 5^s * 2^s */
    u128 a;
    if (s > 31)
        return scale10_big(mant, t, f, q, frac);
    if (s >= 0) {
        a = (u128)mant * pow5_u64[s > 27 ? 27 : s];   /* < 2^55 * 5^31 < 2^128 */
        if (s > 27)
            a *= pow5_u64[s - 27];
        if (t >= 0) {
            if (t > 63 || a > (u128)(UINT64_MAX >> t))
                return 0;
            *q = (uint64_t)a << t;
            *frac = FRAC_ZERO;
            return 1;
        }
        if (t < -127 || (a >> -t) >> 64)
            return 0;
        u128 rest = a & (((u128)1 << -t) - 1), half = (u128)1 << (-t - 1);
        *q = (uint64_t)(a >> -t);
        *frac = rest == 0 ? FRAC_ZERO : rest < half ? FRAC_LOW : rest == half ? FRAC_HALF : FRAC_HIGH;
        return 1;
    }
    if (s < -27 || t < 0 || t > 72)
        return 0;
    a = (u128)mant << t;
    uint64_t d = pow5_u64[-s];
    u128 whole = a / d;
    if (whole >> 64)
        return 0;
    uint64_t rest = (uint64_t)(a - whole * d);   /* < d < 2^63, so 2 * rest fits */
    *q = (uint64_t)whole;
    *frac = rest == 0 ? FRAC_ZERO : 2 * rest < d ? FRAC_LOW : 2 * rest == d ? FRAC_HALF : FRAC_HIGH;
    return 1;
}

/* q + fraction rounded to a multiple of 10^j, in units of 10^j: to nearest,
 * ties to even, as glibc's printf rounds. */
static uint64_t round_digits(uint64_t q, int frac, int j)
{
    if (j == 0)
        return q + (frac == FRAC_HIGH || (frac == FRAC_HALF && (q & 1)));
    uint64_t unit = pow10_u64[j], n = q / unit, rem = q % unit, half = unit / 2;
    return n + (rem > half || (rem == half && (frac != FRAC_ZERO || (n & 1))));
}

/* The text of a finite, non-zero v without printf, or 0 when v is out of
 * reach (about 1e44 and up). */
static size_t real_text_fast(char *text, uint64_t bits)
{
    int neg = (int)(bits >> 63), be = (int)(bits >> 52 & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (be == 0x7ff || (be == 0 && m == 0))
        return 0;
    if (be)
        m |= 1ULL << 52;
    int e = be ? be - 1075 : -1074; /* |v| = m * 2^e */
    /* x = floor(log10 2^floor(log2 |v|)): the exponent of |v|, or one less */
    int p = (e + 63 - __builtin_clzll(m)) * 78913;
    int x = p >= 0 ? p >> 18 : -((-p + (1 << 18) - 1) >> 18);
    int s = 16 - x;                 /* scaling by 10^s leaves 17 or 18 digits */
    big5 f;
    uint64_t q;
    int frac;
    if ((s > 31 && !big5_set(&f, s)) || !scale10(m, e, s, &f, &q, &frac) || q < pow10_u64[16] ||
        q >= pow10_u64[18])
        return 0;
    int j = q >= pow10_u64[17];     /* digits beyond the 17th */
    x += j;                         /* now the exponent of |v| */

    /* The 15 digits read back as v when they lie in v's rounding interval:
     * up to the midpoints with the neighbours, the midpoint itself when the
     * tie goes to v (even m). All of it scaled by 10^s, like q. */
    uint64_t n15 = round_digits(q, frac, j + 2);
    uint64_t r15 = n15 * pow10_u64[j + 2];
    int back;
    if (r15 == q && frac == FRAC_ZERO) {
        back = 1;                   /* exactly v */
    } else {
        uint64_t qm;
        int fm;
        if (r15 > q) {              /* above v: below the upper midpoint? */
            if (!scale10(2 * m + 1, e - 1, s, &f, &qm, &fm))
                return 0;
            back = r15 < qm || (r15 == qm && (fm != FRAC_ZERO || !(m & 1)));
        } else {                    /* below v: above the lower midpoint, which
                                     * is closer at a power of two */
            int ok = m == 1ULL << 52 && be > 1 ? scale10(4 * m - 1, e - 2, s, &f, &qm, &fm)
                                               : scale10(2 * m - 1, e - 1, s, &f, &qm, &fm);
            if (!ok)
                return 0;
            back = r15 > qm || (r15 == qm && fm == FRAC_ZERO && !(m & 1));
        }
    }
    if (back) {
        if (n15 == pow10_u64[15])   /* rounded up to a new digit: 9.99..e9 -> 1e10 */
            return put_g(text, neg, pow10_u64[14], 15, x + 1);
        return put_g(text, neg, n15, 15, x);
    }
    uint64_t n17 = round_digits(q, frac, j);
    if (n17 == pow10_u64[17])
        return put_g(text, neg, pow10_u64[16], 17, x + 1);
    return put_g(text, neg, n17, 17, x);
}
#else
static size_t real_text_fast(char *text, uint64_t bits)
{
    (void)text;
    (void)bits;
    return 0;
}
#endif

void buf_add_real(buf *b, double v)
{
    char text[40];
    size_t n;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    double a = fabs(v);
    if (a < 1e15 && (double)(uint64_t)a == a) {
        /* An integer of at most 15 digits: "%.15g" prints it whole and it
         * reads back exactly (the sign bit kept, for "-0.0"). */
        n = 0;
        if (bits >> 63)
            text[n++] = '-';
        uint64_t i = (uint64_t)a;
        int k = 1;
        while (k < 15 && i >= pow10_u64[k])
            k++;
        put_digits(text + n, i, k);
        n += (size_t)k;
        memcpy(text + n, ".0", 2);
        n += 2;
    } else if (!(n = real_text_fast(text, bits))) {
        n = real_text_printf(text, sizeof text, v);
    }
    buf_add(b, text, n);
}

void strlist_add(strlist *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items)
            out_of_memory();
        l->items = items;
        l->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        out_of_memory();
    memcpy(copy, s, len);
    copy[len] = '\0';
    l->items[l->n++] = copy;
}

void strlist_free_from(strlist *l, size_t first)
{
    for (size_t i = first; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}
