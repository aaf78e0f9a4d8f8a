/* test_reader.c: the CSV, NDJSON and CDNOW readers, good lines and bad.
 *
 * With CXHOST_DATA_DIR set, also reads the real CDNOW files in full and checks
 * counts and totals that were computed independently with awk/bc from the
 * text of the files (see test_cdnow_files). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cxhost/buf.h"
#include "cxhost/json.h"
#include "cxhost/money.h"
#include "cxhost/reader.h"
#include "cxhost/utc.h"

/* ---- helpers ---- */

static FILE *input_fp; /* the file behind the reader under test */

static FILE *file_of(const char *text, size_t len)
{
    FILE *fp = tmpfile();
    if (!fp) {
        perror("tmpfile");
        exit(2);
    }
    fwrite(text, 1, len, fp);
    rewind(fp);
    return fp;
}

/* Opens a reader over text; NULL (with err filled) if reader_open refuses. */
static reader *open_text(const char *name, reader_format fmt, const char *text, cx_error *err)
{
    input_fp = file_of(text, strlen(text));
    reader *r = reader_open(input_fp, name, fmt, err);
    if (!r) {
        fclose(input_fp);
        input_fp = NULL;
    }
    return r;
}

static void done(reader *r)
{
    reader_close(r);
    if (input_fp)
        fclose(input_fp);
    input_fp = NULL;
}

/* The next event as "id|type|customer|at|amount|touchpoint|data" ('-' for
 * none), "error: MESSAGE" or "(end)". */
static const char *next(reader *r)
{
    static char out[8192];
    cx_event ev;
    cx_error err;
    char at[UTC_TEXT_SIZE], amount[MONEY_TEXT_SIZE];
    int rc = reader_next(r, &ev, &err);
    if (rc == 0)
        return "(end)";
    if (rc < 0) {
        snprintf(out, sizeof out, "error: %s", err.text);
        return out;
    }
    utc_format(ev.at, at);
    if (ev.has_amount)
        money_format(ev.amount_cents, amount);
    snprintf(out, sizeof out, "%s|%s|%s|%s|%s|%s|%s", ev.id, ev.type,
             ev.customer ? ev.customer : "-", at, ev.has_amount ? amount : "-",
             ev.touchpoint ? ev.touchpoint : "-", ev.data_json ? ev.data_json : "-");
    return out;
}

static const char *raw(reader *r)
{
    static char out[8192];
    size_t len;
    const char *s = reader_raw(r, &len);
    snprintf(out, sizeof out, "%.*s", (int)len, s);
    return out;
}

/* ---- format names ---- */

static void test_format_names(void)
{
    reader_format f = READER_CDNOW;
    CHECK_EQ_INT(reader_format_from_name("csv", &f), 0);
    CHECK_EQ_INT(f, READER_CSV);
    CHECK_EQ_INT(reader_format_from_name("ndjson", &f), 0);
    CHECK_EQ_INT(f, READER_NDJSON);
    CHECK_EQ_INT(reader_format_from_name("jsonl", &f), 0);
    CHECK_EQ_INT(f, READER_NDJSON);
    CHECK_EQ_INT(reader_format_from_name("cdnow", &f), 0);
    CHECK_EQ_INT(f, READER_CDNOW);
    CHECK_EQ_INT(reader_format_from_name("CSV", &f), 0);
    CHECK_EQ_INT(f, READER_CSV);
    CHECK_EQ_INT(reader_format_from_name("xml", &f), -1);
    CHECK_EQ_INT(reader_format_from_name("", &f), -1);
    CHECK_EQ_STR(reader_format_name(READER_CSV), "csv");
    CHECK_EQ_STR(reader_format_name(READER_NDJSON), "ndjson");
    CHECK_EQ_STR(reader_format_name(READER_CDNOW), "cdnow");
    CHECK_EQ_INT(reader_format_guess("orders.csv", &f), 0);
    CHECK_EQ_INT(f, READER_CSV);
    CHECK_EQ_INT(reader_format_guess("/data/ORDERS.CSV", &f), 0);
    CHECK_EQ_INT(f, READER_CSV);
    CHECK_EQ_INT(reader_format_guess("events.ndjson", &f), 0);
    CHECK_EQ_INT(f, READER_NDJSON);
    CHECK_EQ_INT(reader_format_guess("events.jsonl", &f), 0);
    CHECK_EQ_INT(f, READER_NDJSON);
    CHECK_EQ_INT(reader_format_guess("events.json", &f), 0);
    CHECK_EQ_INT(f, READER_NDJSON);
    CHECK_EQ_INT(reader_format_guess("CDNOW_master.txt", &f), -1);
    CHECK_EQ_INT(reader_format_guess("csv", &f), -1);
    CHECK_EQ_INT(reader_format_guess(".csv", &f), -1);
    CHECK_EQ_INT(reader_format_guess("orders.csv.gz", &f), -1);
}

/* ---- CSV ---- */

static void test_csv_good(void)
{
    cx_error err;
    reader *r = open_text("x.csv", READER_CSV,
                          "id,type,customer,at,amount,touchpoint,channel,note\n"
                          "e1,purchase,c1,2026-03-09T14:05:30Z,12.34,web,email,first\n"
                          "e2,survey,,2026-03-09,,,,\n"
                          "e3,complaint,c2,2026-03-09T15:05+01:00,-0.07,store,,\n",
                          &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "e1|purchase|c1|2026-03-09T14:05:30Z|12.34|web|"
                          "{\"channel\":\"email\",\"note\":\"first\"}");
    CHECK_EQ_INT(reader_line(r), 2);
    CHECK_EQ_STR(raw(r), "e1,purchase,c1,2026-03-09T14:05:30Z,12.34,web,email,first");
    CHECK_EQ_STR(next(r), "e2|survey|-|2026-03-09T00:00:00Z|-|-|-");
    CHECK_EQ_STR(next(r), "e3|complaint|c2|2026-03-09T14:05:00Z|-0.07|store|-");
    CHECK_EQ_INT(reader_line(r), 4);
    CHECK_EQ_STR(next(r), "(end)");
    CHECK_EQ_STR(next(r), "(end)");
    CHECK(!reader_failed(r));
    CHECK_EQ_INT(reader_bytes(r), 188);
    done(r);
}

static void test_csv_header_forms(void)
{
    cx_error err;
    /* names trimmed and lower-cased, any order, only the required ones;
     * BOM skipped, CRLF, no final line end */
    reader *r = open_text("x.csv", READER_CSV,
                          "\xEF\xBB\xBF At ,\tTYPE , Id ,Region\r\n"
                          "19970101,visit,v1,north\r\n"
                          "\r\n"
                          "   \r\n"
                          "20260309,visit, v2 ,  south  ",
                          &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "v1|visit|-|1997-01-01T00:00:00Z|-|-|{\"region\":\"north\"}");
    /* event fields are trimmed, free fields kept as they are */
    CHECK_EQ_STR(next(r), "v2|visit|-|2026-03-09T00:00:00Z|-|-|{\"region\":\"  south  \"}");
    CHECK_EQ_INT(reader_line(r), 5);
    CHECK_EQ_STR(raw(r), "20260309,visit, v2 ,  south  ");
    CHECK_EQ_STR(next(r), "(end)");
    done(r);
}

static void test_csv_quoting(void)
{
    cx_error err;
    reader *r = open_text("q.csv", READER_CSV,
                          "id,type,at,note,other\n"
                          "\"q1\",\"purchase\",2026-01-01,\"a, b\",\"say \"\"hi\"\"\"\n"
                          "q2,purchase,2026-01-02,\"line one\nline two\",x\n"
                          "q3,purchase,2026-01-03,\"\",\"\"\"\"\n"
                          "q4,purchase,2026-01-04,\"crlf\r\n\r\nkept\",\"back\\slash\ttab\"\r\n"
                          "q5,purchase,2026-01-05,5\" vinyl,\n",
                          &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "q1|purchase|-|2026-01-01T00:00:00Z|-|-|"
                          "{\"note\":\"a, b\",\"other\":\"say \\\"hi\\\"\"}");
    CHECK_EQ_STR(next(r), "q2|purchase|-|2026-01-02T00:00:00Z|-|-|"
                          "{\"note\":\"line one\\nline two\",\"other\":\"x\"}");
    CHECK_EQ_INT(reader_line(r), 3);
    CHECK_EQ_STR(raw(r), "q2,purchase,2026-01-02,\"line one\nline two\",x");
    CHECK_EQ_STR(next(r), "q3|purchase|-|2026-01-03T00:00:00Z|-|-|{\"other\":\"\\\"\"}");
    CHECK_EQ_INT(reader_line(r), 5);
    CHECK_EQ_STR(next(r), "q4|purchase|-|2026-01-04T00:00:00Z|-|-|"
                          "{\"note\":\"crlf\\r\\n\\r\\nkept\",\"other\":\"back\\\\slash\\ttab\"}");
    CHECK_EQ_INT(reader_line(r), 6);
    CHECK_EQ_STR(raw(r), "q4,purchase,2026-01-04,\"crlf\r\n\r\nkept\",\"back\\slash\ttab\"");
    /* a quote inside an unquoted field is an ordinary character */
    CHECK_EQ_STR(next(r), "q5|purchase|-|2026-01-05T00:00:00Z|-|-|{\"note\":\"5\\\" vinyl\"}");
    CHECK_EQ_INT(reader_line(r), 9);
    CHECK_EQ_STR(next(r), "(end)");
    done(r);
}

static void test_csv_bad_lines(void)
{
    cx_error err;
    reader *r = open_text("orders.csv", READER_CSV,
                          "id,type,at,amount\n"
                          "a1,purchase,2026-01-01,abc\n"
                          "a2,purchase,2026-13-01,1\n"
                          ",purchase,2026-01-01,1\n"
                          "a4,,2026-01-01,1\n"
                          "a5,purchase,,1\n"
                          "a6,purchase,2026-01-01\n"
                          "a7,purchase,2026-01-01,1,extra\n"
                          "a8,purchase,2026-01-01,1.234\n"
                          "a9,purchase,2026-01-01,1e3\n"
                          "a10,purchase,2026-01-01,12.5\n"
                          "\"a11\"x,purchase,2026-01-01,1\n"
                          "a12,purchase,2026-01-01,1\n",
                          &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "error: orders.csv:2: amount 'abc' is not a number");
    CHECK_EQ_STR(raw(r), "a1,purchase,2026-01-01,abc");
    CHECK_EQ_STR(next(r), "error: orders.csv:3: at '2026-13-01' is not a valid time "
                          "(month 13 is out of range)");
    CHECK_EQ_STR(next(r), "error: orders.csv:4: id is missing");
    CHECK_EQ_STR(next(r), "error: orders.csv:5: type is missing");
    CHECK_EQ_STR(next(r), "error: orders.csv:6: at is missing");
    CHECK_EQ_STR(next(r), "error: orders.csv:7: has 3 fields, the header has 4");
    CHECK_EQ_STR(next(r), "error: orders.csv:8: has 5 fields, the header has 4");
    CHECK_EQ_STR(next(r), "error: orders.csv:9: amount '1.234' has more than two decimals");
    CHECK_EQ_STR(next(r), "error: orders.csv:10: amount '1e3' has an exponent "
                          "(write plain decimals, like 1200.50)");
    /* the reader goes on after bad lines */
    CHECK_EQ_STR(next(r), "a10|purchase|-|2026-01-01T00:00:00Z|12.50|-|-");
    CHECK_EQ_STR(next(r), "error: orders.csv:12: field 1 has text after its closing quote");
    CHECK_EQ_STR(next(r), "a12|purchase|-|2026-01-01T00:00:00Z|1.00|-|-");
    CHECK_EQ_STR(next(r), "(end)");
    CHECK(!reader_failed(r));
    done(r);
}

static void test_csv_long_values(void)
{
    cx_error err;
    buf text = BUF_INIT;
    /* an offending value is cut in the message */
    buf_add_str(&text, "id,type,at,amount\nl1,purchase,2026-01-01,");
    for (int i = 0; i < 100; i++)
        buf_add_char(&text, 'x');
    buf_add_str(&text, "\nl2,purchase,2026-01-01,\"multi\nline\"\n");
    reader *r = open_text("long.csv", READER_CSV, text.data, &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "error: long.csv:2: amount "
                          "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is not a number");
    /* control characters in a quoted value do not break the message */
    CHECK_EQ_STR(next(r), "error: long.csv:3: amount 'multi?line' is not a number");
    done(r);

    /* a 3 MB field and a 1 MB line work */
    buf_clear(&text);
    buf_add_str(&text, "id,type,at,blob\nbig,purchase,2026-01-01,\"");
    for (int i = 0; i < 3000000; i++)
        buf_add_char(&text, (char)('a' + i % 26));
    buf_add_str(&text, "\"\n");
    for (int i = 0; i < 1000000; i++)
        buf_add_char(&text, 'i');
    buf_add_str(&text, ",purchase,2026-01-02,\n");
    r = open_text("big.csv", READER_CSV, text.data, &err);
    CHECK(r != NULL);
    cx_event ev;
    CHECK_EQ_INT(reader_next(r, &ev, &err), 1);
    CHECK_EQ_INT(strlen(ev.data_json), 3000000 + strlen("{\"blob\":\"\"}"));
    size_t len;
    reader_raw(r, &len);
    CHECK_EQ_INT(len, strlen("big,purchase,2026-01-01,\"\"") + 3000000);
    CHECK_EQ_INT(reader_next(r, &ev, &err), 1);
    CHECK_EQ_INT(strlen(ev.id), 1000000);
    CHECK(ev.data_json == NULL);
    CHECK_EQ_INT(reader_next(r, &ev, &err), 0);
    CHECK_EQ_INT(reader_bytes(r), text.len);
    done(r);
    buf_free(&text);
}

static void test_csv_encoding(void)
{
    cx_error err;
    reader *r = open_text("enc.csv", READER_CSV,
                          "id,type,at,note\n"
                          "u1,purchase,2026-01-01,caf\xc3\xa9 \xe2\x82\xac\n"
                          "u2,purchase,2026-01-01,caf\xe9\n"
                          "u3,purchase,2026-01-01,ctrl\x01\n",
                          &err);
    CHECK(r != NULL);
    const char *line = next(r);
    CHECK_EQ_STR(line, "u1|purchase|-|2026-01-01T00:00:00Z|-|-|{\"note\":\"caf\xc3\xa9 \xe2\x82\xac\"}");
    CHECK_EQ_STR(next(r), "error: enc.csv:3: note 'caf?' is not valid UTF-8 (save the file as UTF-8)");
    /* control characters are escaped so data_json stays valid JSON */
    cx_event ev;
    CHECK_EQ_INT(reader_next(r, &ev, &err), 1);
    CHECK_EQ_STR(ev.data_json, "{\"note\":\"ctrl\\u0001\"}");
    CHECK_EQ_INT(json_validate(ev.data_json, strlen(ev.data_json), NULL, NULL), 0);
    done(r);

    /* a NUL byte makes the line bad, not the file */
    static const char nul[] = "id,type,at\nn1,purchase,2026-01-01\nn\0002,purchase,2026-01-01\n"
                              "n3,purchase,2026-01-01\n";
    input_fp = file_of(nul, sizeof nul - 1);
    r = reader_open(input_fp, "nul.csv", READER_CSV, &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "n1|purchase|-|2026-01-01T00:00:00Z|-|-|-");
    CHECK_EQ_STR(next(r), "error: nul.csv:3: contains a NUL byte");
    CHECK_EQ_STR(next(r), "n3|purchase|-|2026-01-01T00:00:00Z|-|-|-");
    done(r);
}

static void test_csv_bad_headers(void)
{
    cx_error err;
    CHECK(open_text("x.csv", READER_CSV, "id,at,amount\n1,2026-01-01,1\n", &err) == NULL);
    CHECK_EQ_STR(err.text, "x.csv:1: missing column 'type'");
    CHECK(open_text("x.csv", READER_CSV, "\n\ncustomer,amount\n", &err) == NULL);
    CHECK_EQ_STR(err.text, "x.csv:3: missing column 'id'");
    CHECK(open_text("x.csv", READER_CSV, "id,type,at,ID\n", &err) == NULL);
    CHECK_EQ_STR(err.text, "x.csv:1: column 'id' appears twice");
    CHECK(open_text("x.csv", READER_CSV, "id,type,at,\n", &err) == NULL);
    CHECK_EQ_STR(err.text, "x.csv:1: column 4 has no name");
    CHECK(open_text("x.csv", READER_CSV, "", &err) == NULL);
    CHECK_EQ_STR(err.text, "x.csv:1: no header line (the file is empty)");
    CHECK(open_text("x.csv", READER_CSV, "\r\n\n", &err) == NULL);
    CHECK_EQ_STR(err.text, "x.csv:3: no header line (the file is empty)");
    CHECK(open_text("x.csv", READER_CSV, "id,type,\"at\n", &err) == NULL);
    CHECK_EQ_STR(err.text, "x.csv:1: a quoted field is never closed");

    /* a header alone is an empty but valid file */
    reader *r = open_text("x.csv", READER_CSV, "id,type,at\n", &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "(end)");
    done(r);
}

static void test_csv_unterminated_quote(void)
{
    cx_error err;
    reader *r = open_text("u.csv", READER_CSV,
                          "id,type,at,note\n"
                          "u1,purchase,2026-01-01,ok\n"
                          "u2,purchase,2026-01-01,\"never closed\n"
                          "u3,purchase,2026-01-01,swallowed\n",
                          &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "u1|purchase|-|2026-01-01T00:00:00Z|-|-|{\"note\":\"ok\"}");
    CHECK_EQ_STR(next(r), "error: u.csv:3: a quoted field is never closed");
    CHECK_EQ_STR(next(r), "(end)");
    done(r);
}

/* ---- NDJSON ---- */

static void test_ndjson_good(void)
{
    cx_error err;
    reader *r = open_text(
        "e.ndjson", READER_NDJSON,
        "{\"id\":\"n1\",\"type\":\"purchase\",\"customer\":42,\"at\":\"2026-03-09T14:05:30Z\","
        "\"amount\":12.34,\"touchpoint\":\"web\",\"channel\":\"email\",\"tags\":[1, 2],"
        "\"nested\":{\"a\":null}}\n"
        "\n"
        "  \t \r\n"
        "{\"id\":7,\"type\":\"survey\",\"at\":1773065130,\"amount\":\"-3.50\",\"score\":9.5}\r\n"
        "  { \"id\" : \"n3\" , \"type\" : \"t\\u00e9l\\u00e9phone\" , \"at\" : 0 , "
        "\"customer\" : null , \"amount\" : null , \"touchpoint\" : \"\" }  \n"
        "{\"id\":\"n4\",\"type\":\"visit\",\"at\":-86400,\"customer\":\"\",\"amount\":\"\","
        "\"\\u0061t2\":\"x\"}\n"
        "{\"id\":\"n5\",\"type\":\"visit\",\"at\":\"19970101\",\"amount\":0,\"q\":\"a\\\"b\"}",
        &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "n1|purchase|42|2026-03-09T14:05:30Z|12.34|web|"
                          "{\"channel\":\"email\",\"tags\":[1, 2],\"nested\":{\"a\":null}}");
    CHECK_EQ_INT(reader_line(r), 1);
    CHECK_EQ_STR(next(r), "7|survey|-|2026-03-09T14:05:30Z|-3.50|-|{\"score\":9.5}");
    CHECK_EQ_INT(reader_line(r), 4);
    CHECK_EQ_STR(raw(r), "{\"id\":7,\"type\":\"survey\",\"at\":1773065130,\"amount\":\"-3.50\","
                         "\"score\":9.5}");
    /* null is absent; escapes in strings are decoded */
    CHECK_EQ_STR(next(r), "n3|t\xc3\xa9l\xc3\xa9phone|-|1970-01-01T00:00:00Z|-|-|-");
    /* an escaped key that spells a free field stays as written */
    CHECK_EQ_STR(next(r), "n4|visit|-|1969-12-31T00:00:00Z|-|-|{\"\\u0061t2\":\"x\"}");
    CHECK_EQ_STR(next(r), "n5|visit|-|1997-01-01T00:00:00Z|0.00|-|{\"q\":\"a\\\"b\"}");
    CHECK_EQ_INT(reader_line(r), 7);
    CHECK_EQ_STR(next(r), "(end)");
    done(r);

    /* an escaped key that spells a known field is that field */
    r = open_text("e.ndjson", READER_NDJSON,
                  "{\"\\u0069d\":\"k1\",\"type\":\"t\",\"at\":0}\n", &err);
    CHECK_EQ_STR(next(r), "k1|t|-|1970-01-01T00:00:00Z|-|-|-");
    done(r);
}

static void test_ndjson_bad_lines(void)
{
    cx_error err;
    reader *r = open_text(
        "x.ndjson", READER_NDJSON,
        "{\"id\":\"b1\",\"type\":\"t\",\"at\":\"2026-13-01\"}\n"               /* 1 */
        "{\"id\":\"b2\",\"type\":\"t\",\"at\":\"2026-01-01\",\"amount\":1e3}\n" /* 2 */
        "{\"id\":\"b3\",\"type\":\"t\",\"at\":\"2026-01-01\",\"amount\":\"abc\"}\n"
        "[1,2]\n"                                                            /* 4 */
        "{\"id\":\"b5\",\"type\":\"t\",\"at\":0} x\n"
        "{\"id\":\"b6\",\"type\":\"t\",\"at\":0,}\n"
        "{\"id\":\"b7\" \"type\":\"t\"}\n"
        "{\"type\":\"t\",\"at\":0}\n"                                         /* 8 */
        "{\"id\":\"b9\",\"at\":0}\n"
        "{\"id\":\"b10\",\"type\":\"t\"}\n"
        "{\"id\":\"b11\",\"type\":5,\"at\":0}\n"
        "{\"id\":1.5,\"type\":\"t\",\"at\":0}\n"                              /* 12 */
        "{\"id\":\"b13\",\"type\":\"t\",\"at\":1.5}\n"
        "{\"id\":\"b14\",\"type\":\"t\",\"at\":true}\n"
        "{\"id\":\"b15\",\"type\":\"t\",\"at\":0,\"amount\":[1]}\n"
        "{\"id\":\"b16\",\"id\":\"again\",\"type\":\"t\",\"at\":0}\n"         /* 16 */
        "{\"id\":\"b17\",\"type\":5,\"at\":0,\"x\":01}\n"
        "{\"id\":\"b\\u0000\",\"type\":\"t\",\"at\":0}\n"
        "{\"id\":\"b19\",\"type\":\"t\",\"at\":99999999999999999999}\n"
        "{\"id\":\"b20\",\"type\":\"t\",\"at\":0,\"amount\":12.345}\n"        /* 20 */
        "\"just a string\"\n"
        "{\"id\":\"b22\",\"type\":\"t\",\"at\":0\n"
        "{\"id\":\"b23\",\"type\":\"t\",\"touchpoint\":{},\"at\":0}\n"
        "{\"id\":\"ok\",\"type\":\"t\",\"at\":0}\n",                           /* 24 */
        &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "error: x.ndjson:1: at '2026-13-01' is not a valid time "
                          "(month 13 is out of range)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:2: amount '1e3' has an exponent "
                          "(write plain decimals, like 1200.50)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:3: amount 'abc' is not a number");
    CHECK_EQ_STR(next(r), "error: x.ndjson:4: not a JSON object (expected an object at column 1)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:5: not a JSON object "
                          "(unexpected text after the closing bracket at column 31)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:6: not a JSON object (expected a string key at column 30)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:7: not a JSON object (expected ',' or '}' at column 12)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:8: id is missing");
    CHECK_EQ_STR(next(r), "error: x.ndjson:9: type is missing");
    CHECK_EQ_STR(next(r), "error: x.ndjson:10: at is missing");
    CHECK_EQ_STR(next(r), "error: x.ndjson:11: type '5' must be a string");
    CHECK_EQ_STR(next(r), "error: x.ndjson:12: id '1.5' must be a string or a whole number");
    CHECK_EQ_STR(next(r), "error: x.ndjson:13: at '1.5' is not a valid time "
                          "(Unix seconds must be a whole number)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:14: at 'true' must be a time text or Unix seconds");
    CHECK_EQ_STR(next(r), "error: x.ndjson:15: amount '[1]' must be a number or a string");
    CHECK_EQ_STR(next(r), "error: x.ndjson:16: id appears twice");
    /* a syntax error wins over a field error earlier in the line */
    CHECK_EQ_STR(next(r), "error: x.ndjson:17: not a JSON object "
                          "(leading zeros are not allowed in numbers at column 34)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:18: id contains a NUL character");
    CHECK_EQ_STR(next(r), "error: x.ndjson:19: at '99999999999999999999' is not a valid time "
                          "(out of range)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:20: amount '12.345' has more than two decimals");
    CHECK_EQ_STR(next(r), "error: x.ndjson:21: not a JSON object (expected an object at column 1)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:22: not a JSON object "
                          "(unexpected end of text in an object at column 30)");
    CHECK_EQ_STR(next(r), "error: x.ndjson:23: touchpoint '{}' must be a string");
    CHECK_EQ_STR(next(r), "ok|t|-|1970-01-01T00:00:00Z|-|-|-");
    CHECK_EQ_INT(reader_line(r), 24);
    CHECK_EQ_STR(next(r), "(end)");
    CHECK(!reader_failed(r));
    done(r);
}

static void test_ndjson_free_fields_are_json(void)
{
    cx_error err;
    cx_event ev;
    reader *r = open_text("f.ndjson", READER_NDJSON,
                          "{\"id\":\"f1\",\"type\":\"t\",\"at\":0,\"a\":\"\\ud83d\\ude00\","
                          "\"b\":{\"c\":[true,false,null,-1.5e-3]},\"a\":2}\n",
                          &err);
    CHECK_EQ_INT(reader_next(r, &ev, &err), 1);
    CHECK_EQ_STR(ev.data_json, "{\"a\":\"\\ud83d\\ude00\",\"b\":{\"c\":[true,false,null,-1.5e-3]},"
                               "\"a\":2}");
    CHECK_EQ_INT(json_validate(ev.data_json, strlen(ev.data_json), NULL, NULL), 0);
    done(r);
}

/* ---- CDNOW ---- */

static void test_cdnow_master(void)
{
    cx_error err;
    reader *r = open_text("CDNOW_master.txt", READER_CDNOW,
                          "customer_id  date  number_of_cds  dollar_value\r\n"
                          "    00001 19970101  1   11.77\r\n"
                          "    00002 19970112  1   12.00\r\n"
                          "    00002 19970112  5   77.00\r\n"
                          "\r\n"
                          "    00002 19970112  2   20.76\r\n"
                          "    00002 19970113  1    0.00\r\n"
                          "\t00001\t19970101\t3\t6.79\r\n"
                          "    00003 19980630  0   10\r\n",
                          &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "cdnow-00001-19970101-1|purchase|00001|1997-01-01T00:00:00Z|11.77|web|"
                          "{\"quantity\":1}");
    CHECK_EQ_INT(reader_line(r), 2);
    CHECK_EQ_STR(raw(r), "    00001 19970101  1   11.77");
    CHECK_EQ_STR(next(r), "cdnow-00002-19970112-1|purchase|00002|1997-01-12T00:00:00Z|12.00|web|"
                          "{\"quantity\":1}");
    CHECK_EQ_STR(next(r), "cdnow-00002-19970112-2|purchase|00002|1997-01-12T00:00:00Z|77.00|web|"
                          "{\"quantity\":5}");
    CHECK_EQ_STR(next(r), "cdnow-00002-19970112-3|purchase|00002|1997-01-12T00:00:00Z|20.76|web|"
                          "{\"quantity\":2}");
    CHECK_EQ_INT(reader_line(r), 6);
    CHECK_EQ_STR(next(r), "cdnow-00002-19970113-1|purchase|00002|1997-01-13T00:00:00Z|0.00|web|"
                          "{\"quantity\":1}");
    CHECK_EQ_STR(next(r), "cdnow-00001-19970101-2|purchase|00001|1997-01-01T00:00:00Z|6.79|web|"
                          "{\"quantity\":3}");
    CHECK_EQ_STR(next(r), "cdnow-00003-19980630-1|purchase|00003|1998-06-30T00:00:00Z|10.00|web|"
                          "{\"quantity\":0}");
    CHECK_EQ_STR(next(r), "(end)");
    done(r);
}

static void test_cdnow_sample(void)
{
    cx_error err;
    /* no header, five columns: the first is the master customer id */
    reader *r = open_text("CDNOW_sample.txt", READER_CDNOW,
                          " 00004 0001 19970101  2   29.33\r\n"
                          " 00004 0001 19970101  2   29.73\r\n"
                          " 00004 0001 19970802  1   14.96\r\n"
                          " 00018 0002 19970101  1   14.96",
                          &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "cdnow-00004-19970101-1|purchase|00004|1997-01-01T00:00:00Z|29.33|web|"
                          "{\"quantity\":2}");
    CHECK_EQ_STR(next(r), "cdnow-00004-19970101-2|purchase|00004|1997-01-01T00:00:00Z|29.73|web|"
                          "{\"quantity\":2}");
    CHECK_EQ_STR(next(r), "cdnow-00004-19970802-1|purchase|00004|1997-08-02T00:00:00Z|14.96|web|"
                          "{\"quantity\":1}");
    CHECK_EQ_STR(next(r), "cdnow-00018-19970101-1|purchase|00018|1997-01-01T00:00:00Z|14.96|web|"
                          "{\"quantity\":1}");
    CHECK_EQ_INT(reader_line(r), 4);
    CHECK_EQ_STR(next(r), "(end)");
    done(r);
}

static void test_cdnow_bad_lines(void)
{
    cx_error err;
    reader *r = open_text("c.txt", READER_CDNOW,
                          "\n"
                          "  \r\n"
                          "00001 19970101 1 11.77\n"          /* 3: no header, fine */
                          "customer date cds dollars\n"       /* 4: a header, too late */
                          "00001 19970101 1\n"
                          "00001 0001 19970101 1 11.77\n"     /* 6: five after four */
                          "00001 19970101 1 11.77 x y\n"
                          "00001 1997-01-01 1 11.77\n"        /* 8 */
                          "00001 19971301 1 11.77\n"
                          "00001 19970229 1 11.77\n"
                          "00001 19970101 -1 11.77\n"         /* 11: rank 2 taken */
                          "00001 19970101 1.5 11.77\n"        /* 12: rank 3 taken */
                          "00001 19970101 1 11,77\n"          /* 13: rank 4 taken */
                          "00001 19970101 1 1e3\n"            /* 14: rank 5 taken */
                          "00001 19970101 1 11.777\n"         /* 15: rank 6 taken */
                          "0000x 19970101 1 11.77\n"          /* 16 */
                          "00001 19970101 0000000000000000000000001 11.77\n"
                          "00001 19970101 1000000000000000000 11.77\n"
                          "00001 19970101 2 3.50\n",          /* 19 */
                          &err);
    CHECK(r != NULL);
    CHECK_EQ_STR(next(r), "cdnow-00001-19970101-1|purchase|00001|1997-01-01T00:00:00Z|11.77|web|"
                          "{\"quantity\":1}");
    CHECK_EQ_INT(reader_line(r), 3);
    CHECK_EQ_STR(next(r), "error: c.txt:4: customer 'customer' is not all digits");
    CHECK_EQ_STR(next(r), "error: c.txt:5: has 3 columns, expected 4 (customer date CDs dollars) "
                          "or 5 (customer sample-id date CDs dollars)");
    CHECK_EQ_STR(next(r), "error: c.txt:6: has 5 columns, the rows before have 4");
    CHECK_EQ_STR(next(r), "error: c.txt:7: has 6 columns, expected 4 (customer date CDs dollars) "
                          "or 5 (customer sample-id date CDs dollars)");
    CHECK_EQ_STR(next(r), "error: c.txt:8: date '1997-01-01' is not YYYYMMDD");
    CHECK_EQ_STR(next(r), "error: c.txt:9: date '19971301' is not a valid date "
                          "(month 13 is out of range)");
    CHECK_EQ_STR(next(r), "error: c.txt:10: date '19970229' is not a valid date "
                          "(February 29 only exists in leap years)");
    CHECK_EQ_STR(next(r), "error: c.txt:11: cds '-1' is not a non-negative whole number");
    CHECK_EQ_STR(next(r), "error: c.txt:12: cds '1.5' is not a non-negative whole number");
    CHECK_EQ_STR(next(r), "error: c.txt:13: dollars '11,77' has a comma "
                          "(use '.' for decimals and no thousands separators)");
    CHECK_EQ_STR(next(r), "error: c.txt:14: dollars '1e3' has an exponent "
                          "(write plain decimals, like 1200.50)");
    CHECK_EQ_STR(next(r), "error: c.txt:15: dollars '11.777' has more than two decimals");
    CHECK_EQ_STR(next(r), "error: c.txt:16: customer '0000x' is not all digits");
    /* leading zeros in a count are fine; more than 18 digits is not */
    CHECK_EQ_STR(next(r), "cdnow-00001-19970101-7|purchase|00001|1997-01-01T00:00:00Z|11.77|web|"
                          "{\"quantity\":1}");
    CHECK_EQ_STR(next(r), "error: c.txt:18: cds '1000000000000000000' is not a non-negative "
                          "whole number");
    /* bad rows with a valid customer and date still took their rank */
    CHECK_EQ_STR(next(r), "cdnow-00001-19970101-9|purchase|00001|1997-01-01T00:00:00Z|3.50|web|"
                          "{\"quantity\":2}");
    CHECK_EQ_STR(next(r), "(end)");
    done(r);

    /* a header is only skipped on the first non-blank line, and only once */
    r = open_text("h.txt", READER_CDNOW, "\n  id date cds dollars\r\nid date cds dollars\r\n", &err);
    CHECK_EQ_STR(next(r), "error: h.txt:3: customer 'id' is not all digits");
    CHECK_EQ_STR(next(r), "(end)");
    done(r);

    /* a header and nothing else: no events */
    r = open_text("h.txt", READER_CDNOW, "customer_id date number_of_cds dollar_value\r\n", &err);
    CHECK_EQ_STR(next(r), "(end)");
    done(r);
}

/* Many distinct (customer, date) keys, each seen twice: the rank table grows. */
static void test_cdnow_many_keys(void)
{
    enum { KEYS = 120000 };
    buf text = BUF_INIT;
    cx_error err;
    cx_event ev;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < KEYS; k++)
            buf_printf(&text, "%06d 199%d%02d%02d 1 1.00\n", k / 7, 7 + k % 2, 1 + k % 12,
                       1 + k % 7);
    input_fp = file_of(text.data, text.len);
    reader *r = reader_open(input_fp, "many.txt", READER_CDNOW, &err);
    int ok = 1, n = 0;
    while (ok && reader_next(r, &ev, &err) == 1) {
        const char *rank = strrchr(ev.id, '-');
        ok = strcmp(rank, n < KEYS ? "-1" : "-2") == 0;
        if (!ok)
            fprintf(stderr, "row %d got id %s\n", n + 1, ev.id);
        n++;
    }
    CHECK(ok);
    CHECK_EQ_INT(n, 2 * KEYS);
    done(r);
    buf_free(&text);
}

/* ---- I/O errors ---- */

static void test_io_error(void)
{
    cx_error err;
    cx_event ev;
    /* reading a stream opened for writing fails with an I/O error */
    FILE *fp = fopen("/dev/null", "w");
    CHECK(fp != NULL);
    if (!fp)
        return;
    reader *r = reader_open(fp, "w.ndjson", READER_NDJSON, &err);
    CHECK(r != NULL);
    CHECK_EQ_INT(reader_next(r, &ev, &err), -1);
    CHECK(reader_failed(r));
    CHECK_CONTAINS(err.text, "w.ndjson:1: read error");
    /* and keeps failing */
    cx_error again;
    CHECK_EQ_INT(reader_next(r, &ev, &again), -1);
    CHECK_EQ_STR(again.text, err.text);
    reader_close(r);

    /* for CSV the header read already fails */
    CHECK(reader_open(fp, "w.csv", READER_CSV, &err) == NULL);
    CHECK_CONTAINS(err.text, "w.csv:1: read error");
    fclose(fp);

    CHECK(reader_open(NULL, "none.csv", READER_CSV, &err) == NULL);
    reader_close(NULL);
}

/* ---- the real CDNOW files ---- */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct file_summary {
    long events;
    long errors;
    long customers;     /* distinct */
    long duplicate_ids;
    int64_t cents;
    uint64_t bytes;
    char **ids;         /* sorted */
} file_summary;

static long count_distinct(char **v, long n)
{
    long distinct = 0;
    qsort(v, (size_t)n, sizeof *v, compare_strings);
    for (long i = 0; i < n; i++)
        distinct += i == 0 || strcmp(v[i - 1], v[i]) != 0;
    return distinct;
}

static void free_strings(char **v, long n)
{
    for (long i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int summarize(const char *dir, const char *name, file_summary *s)
{
    char path[4096];
    cx_error err;
    cx_event ev;
    int rc;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return -1;
    }
    memset(s, 0, sizeof *s);
    reader *r = reader_open(fp, name, READER_CDNOW, &err);
    long cap = 1024;
    char **customers = malloc((size_t)cap * sizeof *customers);
    s->ids = malloc((size_t)cap * sizeof *s->ids);
    while ((rc = reader_next(r, &ev, &err)) != 0) {
        if (rc < 0) {
            if (s->errors++ < 5)
                fprintf(stderr, "%s\n", err.text);
            if (reader_failed(r))
                break;
            continue;
        }
        if (s->events == cap) {
            cap *= 2;
            customers = realloc(customers, (size_t)cap * sizeof *customers);
            s->ids = realloc(s->ids, (size_t)cap * sizeof *s->ids);
        }
        customers[s->events] = strdup(ev.customer);
        s->ids[s->events] = strdup(ev.id);
        s->events++;
        s->cents += ev.amount_cents;
    }
    s->bytes = reader_bytes(r);
    reader_close(r);
    fclose(fp);
    s->customers = count_distinct(customers, s->events);
    s->duplicate_ids = s->events - count_distinct(s->ids, s->events);
    free_strings(customers, s->events);
    return 0;
}

/* Expected values, computed from the files' text with integer arithmetic:
 *   tr -d '\r' < CDNOW_master.txt | tail -n +2 | awk '{print $4}' | tr -d . \
 *       | sed -E 's/^0+//;s/^$/0/' | paste -sd+ | bc          -> 250031563
 *   tr -d '\r' < CDNOW_sample.txt | awk '{print $5}' | tr -d . \
 *       | sed -E 's/^0+//;s/^$/0/' | paste -sd+ | bc          -> 24409194
 * (every dollar value in both files has exactly two decimals), and the
 * distinct customers with awk '{c[$1]=1} END {print length(c)}'. */
static void test_cdnow_files(void)
{
    const char *dir = getenv("CXHOST_DATA_DIR");
    file_summary master, sample;
    if (!dir || !*dir) {
        printf("CXHOST_DATA_DIR not set: skipping the real CDNOW files\n");
        return;
    }
    if (summarize(dir, "CDNOW_master.txt", &master) < 0 ||
        summarize(dir, "CDNOW_sample.txt", &sample) < 0) {
        CHECK(!"the CDNOW files can be read");
        return;
    }
    CHECK_EQ_INT(master.errors, 0);
    CHECK_EQ_INT(master.events, 69659);
    CHECK_EQ_INT(master.customers, 23570);
    CHECK_EQ_INT(master.cents, 250031563);
    CHECK_EQ_INT(master.duplicate_ids, 0);
    CHECK_EQ_INT(master.bytes, 1950500);
    CHECK_EQ_INT(sample.errors, 0);
    CHECK_EQ_INT(sample.events, 6919);
    CHECK_EQ_INT(sample.customers, 2357);
    CHECK_EQ_INT(sample.cents, 24409194);
    CHECK_EQ_INT(sample.duplicate_ids, 0);
    CHECK_EQ_INT(sample.bytes, 228327);

    /* the sample is a subset of the master's customers, so the same rows
     * must carry the same ids in both files */
    long missing = 0;
    for (long i = 0; i < sample.events; i++)
        if (!bsearch(&sample.ids[i], master.ids, (size_t)master.events, sizeof *master.ids,
                     compare_strings) && missing++ < 5)
            fprintf(stderr, "sample id %s is not among the master ids\n", sample.ids[i]);
    CHECK_EQ_INT(missing, 0);
    free_strings(master.ids, master.events);
    free_strings(sample.ids, sample.events);
}

int main(void)
{
    test_format_names();
    test_csv_good();
    test_csv_header_forms();
    test_csv_quoting();
    test_csv_bad_lines();
    test_csv_long_values();
    test_csv_encoding();
    test_csv_bad_headers();
    test_csv_unterminated_quote();
    test_ndjson_good();
    test_ndjson_bad_lines();
    test_ndjson_free_fields_are_json();
    test_cdnow_master();
    test_cdnow_sample();
    test_cdnow_bad_lines();
    test_cdnow_many_keys();
    test_io_error();
    test_cdnow_files();
    return CHECK_DONE();
}
