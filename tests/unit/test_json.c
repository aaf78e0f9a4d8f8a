/* test_json.c: strict validation, cursors, string decoding, and writing
 * JSON strings and integers into a buf. */
#include <stdint.h>
#include <string.h>
#include "check.h"
#include "cxhost/json.h"

static int valid(const char *text)
{
    return json_validate(text, strlen(text), NULL, NULL) == 0;
}

/* The reason text is refused, "(accepted)" if it is not. */
static const char *refused(const char *text)
{
    size_t off = 0;
    const char *why = NULL;
    if (json_validate(text, strlen(text), &off, &why) == 0)
        return "(accepted)";
    return why ? why : "(no reason)";
}

static size_t refused_at(const char *text)
{
    size_t off = (size_t)-1;
    const char *why;
    json_validate(text, strlen(text), &off, &why);
    return off;
}

static buf decoded_text = BUF_INIT;

/* Decodes a string literal; returns the text or "(error: why)". */
static const char *decoded(const char *literal)
{
    buf *out = &decoded_text;
    static char msg[128];
    const char *why = NULL;
    json_span s = {JSON_STRING, literal, strlen(literal)};
    buf_clear(out);
    if (json_string_decode(s, out, &why) < 0) {
        snprintf(msg, sizeof msg, "(error: %s)", why ? why : "?");
        return msg;
    }
    return buf_str(out);
}

static void test_scalars(void)
{
    CHECK(valid("null"));
    CHECK(valid("true"));
    CHECK(valid("false"));
    CHECK(valid(" \t\r\n 0 \n"));
    CHECK(valid("-0"));
    CHECK(valid("12"));
    CHECK(valid("-12.5e+3"));
    CHECK(valid("1E-2"));
    CHECK(valid("0.0"));
    CHECK(valid("1e5"));
    CHECK(valid("123456789012345678901234567890"));
    CHECK(valid("\"\""));
    CHECK(valid("\"plain\""));

    CHECK_EQ_STR(refused(""), "unexpected end of text, expected a value");
    CHECK_EQ_STR(refused("   "), "unexpected end of text, expected a value");
    CHECK_EQ_STR(refused("nul"), "expected a value");
    CHECK_EQ_STR(refused("True"), "expected a value");
    CHECK_EQ_STR(refused("nullx"), "unexpected text after the value");
    CHECK_EQ_STR(refused("undefined"), "expected a value");
    CHECK_EQ_STR(refused("NaN"), "expected a value");
    CHECK_EQ_STR(refused("'x'"), "expected a value");
    CHECK_EQ_STR(refused("01"), "leading zeros are not allowed in numbers");
    CHECK_EQ_STR(refused("-01"), "leading zeros are not allowed in numbers");
    CHECK_EQ_STR(refused("+1"), "expected a value");
    CHECK_EQ_STR(refused(".5"), "expected a value");
    CHECK_EQ_STR(refused("-"), "invalid number");
    CHECK_EQ_STR(refused("-x"), "invalid number");
    CHECK_EQ_STR(refused("1."), "expected a digit after the decimal point");
    CHECK_EQ_STR(refused("1.e5"), "expected a digit after the decimal point");
    CHECK_EQ_STR(refused("1e"), "expected a digit in the exponent");
    CHECK_EQ_STR(refused("1e+"), "expected a digit in the exponent");
    CHECK_EQ_STR(refused("0x10"), "unexpected text after the value");
    CHECK_EQ_STR(refused("1 2"), "unexpected text after the value");
    CHECK_EQ_STR(refused("{} x"), "unexpected text after the value");
    CHECK_EQ_STR(refused("\"a\"\"b\""), "unexpected text after the value");
    CHECK_EQ_INT(refused_at("  [1, 2, x]"), 9);
    CHECK_EQ_INT(refused_at("{} x"), 3);
}

static void test_strings(void)
{
    CHECK(valid("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\""));
    CHECK(valid("\"\\u00e9\\u00E9\""));
    CHECK(valid("\"\\ud83d\\ude00\""));          /* a surrogate pair */
    CHECK(valid("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""));
    CHECK(valid("\"\x7f\""));                    /* DEL is not a control char in JSON */

    CHECK_EQ_STR(refused("\"abc"), "unterminated string");
    CHECK_EQ_STR(refused("\"abc\\"), "unterminated string");
    CHECK_EQ_STR(refused("\"a\tb\""), "control character in a string (it must be escaped)");
    CHECK_EQ_STR(refused("\"a\nb\""), "control character in a string (it must be escaped)");
    CHECK_EQ_STR(refused("\"\\x41\""), "invalid escape in a string");
    CHECK_EQ_STR(refused("\"\\'\""), "invalid escape in a string");
    CHECK_EQ_STR(refused("\"\\U0041\""), "invalid escape in a string");
    CHECK_EQ_STR(refused("\"\\u12\""), "invalid \\u escape (expected four hex digits)");
    CHECK_EQ_STR(refused("\"\\u12G4\""), "invalid \\u escape (expected four hex digits)");
    CHECK_EQ_STR(refused("\"\\ud83d\""), "unpaired surrogate in \\u escape");
    CHECK_EQ_STR(refused("\"\\ud83dx\""), "unpaired surrogate in \\u escape");
    CHECK_EQ_STR(refused("\"\\ud83d\\u0041\""), "unpaired surrogate in \\u escape");
    CHECK_EQ_STR(refused("\"\\ud83d\\ud83d\""), "unpaired surrogate in \\u escape");
    CHECK_EQ_STR(refused("\"\\ude00\""), "unpaired surrogate in \\u escape");
    CHECK_EQ_STR(refused("\"\\ude00\\ud83d\""), "unpaired surrogate in \\u escape");
    /* raw bytes must be UTF-8 */
    CHECK_EQ_STR(refused("\"\xe9\""), "invalid UTF-8");             /* Latin-1 e-acute */
    CHECK_EQ_STR(refused("\"\xc3\""), "invalid UTF-8");             /* cut short */
    CHECK_EQ_STR(refused("\"\xc0\xaf\""), "invalid UTF-8");         /* overlong '/' */
    CHECK_EQ_STR(refused("\"\xe0\x80\xaf\""), "invalid UTF-8");     /* overlong */
    CHECK_EQ_STR(refused("\"\xed\xa0\x80\""), "invalid UTF-8");     /* encoded surrogate */
    CHECK_EQ_STR(refused("\"\xf4\x90\x80\x80\""), "invalid UTF-8"); /* above U+10FFFF */
    CHECK_EQ_STR(refused("\"\xf0\x9f\x98\""), "invalid UTF-8");
    CHECK_EQ_STR(refused("\"\xff\""), "invalid UTF-8");
    CHECK_EQ_INT(refused_at("\"ab\xff\""), 3);
    /* a NUL byte inside a string is a control character */
    CHECK_EQ_INT(json_validate("\"a\0b\"", 5, NULL, NULL), -1);
    CHECK_EQ_INT(json_validate("\"a\\u0000b\"", 10, NULL, NULL), 0);
}

static void test_decode(void)
{
    CHECK_EQ_STR(decoded("\"plain\""), "plain");
    CHECK_EQ_STR(decoded("\"\""), "");
    CHECK_EQ_STR(decoded("\"a\\\"b\\\\c\\/d\""), "a\"b\\c/d");
    CHECK_EQ_STR(decoded("\"\\b\\f\\n\\r\\t\""), "\b\f\n\r\t");
    CHECK_EQ_STR(decoded("\"\\u0041\\u00e9\\u20AC\""), "A\xc3\xa9\xe2\x82\xac");
    CHECK_EQ_STR(decoded("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80");
    CHECK_EQ_STR(decoded("\"\\uDBFF\\uDFFF\""), "\xf4\x8f\xbf\xbf");  /* U+10FFFF */
    CHECK_EQ_STR(decoded("\"\\u07ff\\u0800\\uffff\""), "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    CHECK_EQ_STR(decoded("\"caf\xc3\xa9\""), "caf\xc3\xa9");
    CHECK_EQ_STR(decoded("\"\\ud83d\""), "(error: unpaired surrogate in \\u escape)");
    CHECK_EQ_STR(decoded("\"abc"), "(error: not a JSON string)");
    CHECK_EQ_STR(decoded("abc"), "(error: not a JSON string)");
    CHECK_EQ_STR(decoded("\"a\"b\""), "(error: not a JSON string)");
    CHECK_EQ_STR(decoded("\""), "(error: not a JSON string)");

    /* \u0000 decodes to a real NUL byte; the length says so */
    buf out = BUF_INIT;
    json_span s = {JSON_STRING, "\"a\\u0000b\"", 10};
    CHECK_EQ_INT(json_string_decode(s, &out, NULL), 0);
    CHECK_EQ_INT(out.len, 3);
    CHECK(memcmp(out.data, "a\0b", 3) == 0);
    /* decoding appends, and a failure leaves the buffer as it was */
    json_span bad = {JSON_STRING, "\"xyz\\q\"", 7};
    CHECK_EQ_INT(json_string_decode(bad, &out, NULL), -1);
    CHECK_EQ_INT(out.len, 3);
    json_span more = {JSON_STRING, "\"cd\"", 4};
    CHECK_EQ_INT(json_string_decode(more, &out, NULL), 0);
    CHECK_EQ_INT(out.len, 5);
    json_span number = {JSON_NUMBER, "12", 2};
    CHECK_EQ_INT(json_string_decode(number, &out, NULL), -1);
    buf_free(&out);
}

static void test_key_is(void)
{
    json_span k = {JSON_STRING, "\"amount\"", 8};
    CHECK(json_key_is(k, "amount"));
    CHECK(!json_key_is(k, "amoun"));
    CHECK(!json_key_is(k, "amounts"));
    CHECK(!json_key_is(k, ""));
    json_span esc = {JSON_STRING, "\"\\u0061mount\"", 13};
    CHECK(json_key_is(esc, "amount"));
    json_span uni = {JSON_STRING, "\"caf\\u00e9\"", 11};
    CHECK(json_key_is(uni, "caf\xc3\xa9"));
    CHECK(!json_key_is(uni, "cafe"));
    json_span empty = {JSON_STRING, "\"\"", 2};
    CHECK(json_key_is(empty, ""));
    json_span num = {JSON_NUMBER, "1", 1};
    CHECK(!json_key_is(num, "1"));
}

static void test_containers(void)
{
    CHECK(valid("{}"));
    CHECK(valid("[]"));
    CHECK(valid(" { \"a\" : [ 1 , { \"b\" : null } ] , \"c\" : \"d\" } "));
    CHECK(valid("{\"a\":1,\"a\":2}"));  /* duplicate keys are legal JSON */
    CHECK_EQ_STR(refused("{"), "unexpected end of text in an object");
    CHECK_EQ_STR(refused("["), "unexpected end of text, expected a value");
    CHECK_EQ_STR(refused("[1"), "unexpected end of text in an array");
    CHECK_EQ_STR(refused("[1,]"), "expected a value");
    CHECK_EQ_STR(refused("[,1]"), "expected a value");
    CHECK_EQ_STR(refused("[1 2]"), "expected ',' or ']'");
    CHECK_EQ_STR(refused("{\"a\":1,}"), "expected a string key");
    CHECK_EQ_STR(refused("{,}"), "expected a string key");
    CHECK_EQ_STR(refused("{a:1}"), "expected a string key");
    CHECK_EQ_STR(refused("{'a':1}"), "expected a string key");
    CHECK_EQ_STR(refused("{\"a\" 1}"), "expected ':' after the key");
    CHECK_EQ_STR(refused("{\"a\":}"), "expected a value");
    CHECK_EQ_STR(refused("{\"a\":1 \"b\":2}"), "expected ',' or '}'");
    CHECK_EQ_STR(refused("{\"a\":1]"), "expected ',' or '}'");
    CHECK_EQ_STR(refused("[1}"), "expected ',' or ']'");
    CHECK_EQ_STR(refused("{\"a\":1"), "unexpected end of text in an object");
}

static void test_depth(void)
{
    char text[2 * JSON_MAX_DEPTH + 8];
    int n = JSON_MAX_DEPTH;
    /* exactly JSON_MAX_DEPTH levels pass */
    memset(text, '[', (size_t)n);
    memset(text + n, ']', (size_t)n);
    CHECK(json_validate(text, (size_t)(2 * n), NULL, NULL) == 0);
    /* one more is refused */
    n++;
    memset(text, '[', (size_t)n);
    memset(text + n, ']', (size_t)n);
    CHECK_EQ_INT(json_validate(text, (size_t)(2 * n), NULL, NULL), -1);
    size_t off;
    const char *why;
    json_validate(text, (size_t)(2 * n), &off, &why);
    CHECK_EQ_STR(why, "nested too deeply");
    CHECK_EQ_INT(off, JSON_MAX_DEPTH);

    /* a huge unclosed nesting fails fast instead of exhausting the stack */
    static char deep[100000];
    memset(deep, '[', sizeof deep);
    CHECK_EQ_INT(json_validate(deep, sizeof deep, NULL, NULL), -1);

    /* the cursor counts its own object as the first level */
    buf b = BUF_INIT;
    buf_add_str(&b, "{\"x\":");
    for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
        buf_add_char(&b, '[');
    for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
        buf_add_char(&b, ']');
    buf_add_char(&b, '}');
    json_cursor c;
    json_span k, v;
    CHECK_EQ_INT(json_object_begin(&c, b.data, b.len, NULL), 0);
    CHECK_EQ_INT(json_object_next(&c, &k, &v, NULL), 1);
    CHECK_EQ_INT(json_object_next(&c, &k, &v, NULL), 0);
    buf_clear(&b);
    buf_add_str(&b, "{\"x\":");
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        buf_add_char(&b, '[');
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        buf_add_char(&b, ']');
    buf_add_char(&b, '}');
    CHECK_EQ_INT(json_object_begin(&c, b.data, b.len, NULL), 0);
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), -1);
    CHECK_EQ_STR(why, "nested too deeply");
    buf_free(&b);
}

static int span_is(json_span s, const char *text)
{
    return s.len == strlen(text) && memcmp(s.start, text, s.len) == 0;
}

static void test_object_cursor(void)
{
    const char *text = " {\"id\": \"e1\" , \"n\":-1.5e3,\"o\":{\"a\":[1,2]},\"t\":true,"
                       "\"f\":false,\"z\":null, \"s\":\"x\\ty\"}  \r\n";
    json_cursor c;
    json_span k, v;
    const char *why = NULL;
    CHECK_EQ_INT(json_object_begin(&c, text, strlen(text), &why), 0);
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 1);
    CHECK(k.type == JSON_STRING && span_is(k, "\"id\"") && json_key_is(k, "id"));
    CHECK(v.type == JSON_STRING && span_is(v, "\"e1\""));
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 1);
    CHECK(v.type == JSON_NUMBER && span_is(v, "-1.5e3"));
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 1);
    CHECK(v.type == JSON_OBJECT && span_is(v, "{\"a\":[1,2]}"));
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 1);
    CHECK(v.type == JSON_TRUE && span_is(v, "true"));
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 1);
    CHECK(v.type == JSON_FALSE && span_is(v, "false"));
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 1);
    CHECK(v.type == JSON_NULL && span_is(v, "null"));
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 1);
    CHECK(v.type == JSON_STRING && span_is(v, "\"x\\ty\"") && json_key_is(k, "s"));
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 0);
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 0); /* stays at the end */

    /* a nested object's span can be walked in turn */
    const char *outer = "{\"o\":{\"a\":1,\"b\":\"two\"}}";
    CHECK_EQ_INT(json_object_begin(&c, outer, strlen(outer), &why), 0);
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 1);
    json_cursor inner;
    CHECK_EQ_INT(json_object_begin(&inner, v.start, v.len, &why), 0);
    CHECK_EQ_INT(json_object_next(&inner, &k, &v, &why), 1);
    CHECK(json_key_is(k, "a") && span_is(v, "1"));
    CHECK_EQ_INT(json_object_next(&inner, &k, &v, &why), 1);
    CHECK(json_key_is(k, "b") && span_is(v, "\"two\""));
    CHECK_EQ_INT(json_object_next(&inner, &k, &v, &why), 0);

    /* empty object */
    CHECK_EQ_INT(json_object_begin(&c, " { } ", 5, &why), 0);
    CHECK_EQ_INT(json_object_next(&c, &k, &v, &why), 0);
}

/* Walks text as an object; returns the error of the walk or "(ok)". */
static const char *walk_error(const char *text, int *members, size_t *at)
{
    json_cursor c;
    json_span k, v;
    const char *why = NULL;
    int rc;
    *members = 0;
    if (json_object_begin(&c, text, strlen(text), &why) < 0) {
        *at = (size_t)(c.p - text);
        return why;
    }
    while ((rc = json_object_next(&c, &k, &v, &why)) == 1)
        ++*members;
    if (rc < 0) {
        *at = (size_t)(c.p - text);
        return why;
    }
    return "(ok)";
}

static void test_object_cursor_errors(void)
{
    int members;
    size_t at = 0;
    CHECK_EQ_STR(walk_error("[1]", &members, &at), "expected an object");
    CHECK_EQ_STR(walk_error("", &members, &at), "expected an object");
    CHECK_EQ_STR(walk_error("  x", &members, &at), "expected an object");
    CHECK_EQ_INT(at, 2);
    CHECK_EQ_STR(walk_error("{\"a\":1} x", &members, &at), "unexpected text after the closing bracket");
    CHECK_EQ_INT(members, 1);
    CHECK_EQ_INT(at, 8);
    CHECK_EQ_STR(walk_error("{\"a\":1}{}", &members, &at), "unexpected text after the closing bracket");
    CHECK_EQ_STR(walk_error("{\"a\":1", &members, &at), "unexpected end of text in an object");
    CHECK_EQ_STR(walk_error("{\"a\":1,}", &members, &at), "expected a string key");
    CHECK_EQ_STR(walk_error("{\"a\" 1}", &members, &at), "expected ':' after the key");
    CHECK_EQ_STR(walk_error("{\"a\":1 \"b\":2}", &members, &at), "expected ',' or '}'");
    CHECK_EQ_INT(members, 1);
    /* each value is validated in full before it is handed out */
    CHECK_EQ_STR(walk_error("{\"a\":[1,2,{\"b\":01}]}", &members, &at),
                 "leading zeros are not allowed in numbers");
    CHECK_EQ_INT(members, 0);
    CHECK_EQ_INT(at, 16);
    CHECK_EQ_STR(walk_error("{\"a\":\"\\ud800\"}", &members, &at), "unpaired surrogate in \\u escape");
    CHECK_EQ_STR(walk_error("{\"a\\q\":1}", &members, &at), "invalid escape in a string");
    CHECK_EQ_STR(walk_error("{\"a\":tru}", &members, &at), "expected a value");
    CHECK_EQ_STR(walk_error("{\"a\":1}\n", &members, &at), "(ok)");
}

static void test_array_cursor(void)
{
    const char *text = "[1, \"two\", [3], {\"four\":4}, null]";
    json_cursor c;
    json_span v;
    const char *why = NULL;
    CHECK_EQ_INT(json_array_begin(&c, text, strlen(text), &why), 0);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 1);
    CHECK(v.type == JSON_NUMBER && span_is(v, "1"));
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 1);
    CHECK(v.type == JSON_STRING && span_is(v, "\"two\""));
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 1);
    CHECK(v.type == JSON_ARRAY && span_is(v, "[3]"));
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 1);
    CHECK(v.type == JSON_OBJECT && span_is(v, "{\"four\":4}"));
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 1);
    CHECK(v.type == JSON_NULL);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 0);

    CHECK_EQ_INT(json_array_begin(&c, "[]", 2, &why), 0);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 0);
    CHECK_EQ_INT(json_array_begin(&c, "{}", 2, &why), -1);
    CHECK_EQ_STR(why, "expected an array");
    CHECK_EQ_INT(json_array_begin(&c, "[1,]", 4, &why), 0);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 1);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), -1);
    CHECK_EQ_STR(why, "expected a value");
    CHECK_EQ_INT(json_array_begin(&c, "[1 2]", 5, &why), 0);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 1);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), -1);
    CHECK_EQ_STR(why, "expected ',' or ']'");
    CHECK_EQ_INT(json_array_begin(&c, "[1] 2", 5, &why), 0);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), 1);
    CHECK_EQ_INT(json_array_next(&c, &v, &why), -1);
    CHECK_EQ_STR(why, "unexpected text after the closing bracket");
}

/* Writing: escapes only where JSON needs them, plain runs as they are. */
static void test_writing(void)
{
    buf b = BUF_INIT;
    const char raw[] = "plain \"q\" back\\ tab\t nl\n cr\r bell\a \xc3\xa9nd";
    buf_add_json_string(&b, raw, sizeof raw - 1);
    CHECK_EQ_STR(buf_str(&b), "\"plain \\\"q\\\" back\\\\ tab\\t nl\\n cr\\r bell\\u0007 \xc3\xa9nd\"");
    buf_clear(&b);
    buf_add_json_string(&b, "", 0);
    buf_add_json_string(&b, "\"", 1);
    buf_add_json_string(&b, "a\0b", 3);   /* an embedded NUL is escaped, not the end */
    CHECK_EQ_STR(buf_str(&b), "\"\"\"\\\"\"\"a\\u0000b\"");
    const long long ints[] = {0, 7, -7, 1234567890123LL, INT64_MAX, INT64_MIN};
    const char *texts[] = {"0", "7", "-7", "1234567890123", "9223372036854775807", "-9223372036854775808"};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        buf_clear(&b);
        buf_add_int(&b, ints[i]);
        CHECK_EQ_STR(buf_str(&b), texts[i]);
    }
    const double reals[] = {0.3, 1.5, -225.0, 1e20, 0.1 + 0.2, 1e-7};
    const char *real_texts[] = {"0.3", "1.5", "-225.0", "1e+20", "0.30000000000000004", "1e-07"};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        buf_clear(&b);
        buf_add_real(&b, reals[i]);
        CHECK_EQ_STR(buf_str(&b), real_texts[i]);
    }
    buf_free(&b);
}

int main(void)
{
    test_writing();
    test_scalars();
    test_strings();
    test_decode();
    test_key_is();
    test_containers();
    test_depth();
    test_object_cursor();
    test_object_cursor_errors();
    test_array_cursor();
    buf_free(&decoded_text);
    return CHECK_DONE();
}
