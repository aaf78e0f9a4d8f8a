/* reader.h: turns an input file into events, one at a time.
 *
 * Formats:
 *   csv     a header line naming the columns; id, type, customer, at, amount,
 *           touchpoint are the event fields, any other column becomes a free
 *           field (a JSON string). RFC 4180 quoting; CRLF or LF.
 *   ndjson  one JSON object per line; the same field names; "at" is ISO-8601
 *           text or Unix seconds, "amount" a decimal number or string; every
 *           other member is kept verbatim as a free field. Blank lines skipped.
 *   cdnow   the CDNOW purchase files as published: whitespace-separated,
 *           leading spaces, CRLF, with or without a header; 4 columns (master:
 *           customer, date, CDs, dollars) or 5 (sample: master customer id,
 *           sample id, date, CDs, dollars). Every row is a "purchase" at the
 *           "web" touchpoint with free field {"quantity": CDs}. Its id is
 *           "cdnow-CUSTOMER-YYYYMMDD-RANK", RANK counting that customer's rows
 *           of that date from 1 in file order, so the same row gets the same
 *           id from either file.
 *
 * A bad line yields -1 with an error "FILE:LINE: field 'value' why"; the
 * reader can go on to the next line (that is how --skip-bad works). */
#ifndef CXHOST_READER_H
#define CXHOST_READER_H

#include <stdio.h>
#include <stdint.h>
#include "cxhost/error.h"
#include "cxhost/event.h"

typedef enum reader_format {
    READER_CSV, READER_NDJSON, READER_CDNOW
} reader_format;

typedef struct reader reader;

/* "csv", "ndjson" (also "jsonl"), "cdnow". Returns 0, or -1. */
int reader_format_from_name(const char *name, reader_format *out);
const char *reader_format_name(reader_format fmt);
/* Guesses from the file name's ending (.csv, .ndjson, .jsonl, .json). Returns 0,
 * or -1 when it cannot tell. */
int reader_format_guess(const char *filename, reader_format *out);

/* Reads from fp (not closed by the reader). filename is used in messages only. */
reader *reader_open(FILE *fp, const char *filename, reader_format fmt, cx_error *err);

/* 1: *ev holds the next event (its strings live until the next call);
 * 0: end of input; -1: this line is bad, err says why, the next call goes on
 * with the following line. An I/O error also returns -1, and reader_failed()
 * then says the reader cannot go on. */
int reader_next(reader *r, cx_event *ev, cx_error *err);
int reader_failed(const reader *r);

/* A reader of NDJSON lines that arrive one by one (the service's
 * connections): name is used in messages ("NAME:LINE: ..."). */
reader *reader_open_lines(const char *name);
/* Parses one line (without its line end) numbered lineno: 1 with *ev (its
 * strings live until the next call), 0 for a blank line, -1 for a bad line
 * (err says why). */
int reader_parse_line(reader *r, const char *line, size_t len, long lineno, cx_event *ev, cx_error *err);
/* The id of the record last read, if it had one (also when it was bad). */
const char *reader_last_id(const reader *r);

long reader_line(const reader *r);                  /* first line of the last record */
const char *reader_raw(const reader *r, size_t *len); /* its raw text, no line end */
uint64_t reader_bytes(const reader *r);             /* bytes consumed so far */

void reader_close(reader *r);

#endif
