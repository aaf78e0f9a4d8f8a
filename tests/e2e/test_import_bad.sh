#!/usr/bin/env bash
# test_import_bad.sh: one bad line in the middle of a good file.
#
# Without --skip-bad: exit status 1, the message names FILE:LINE and the field
# or value, and the store is untouched (store.db byte for byte, the event
# count). With --skip-bad FILE: the good lines are imported and FILE gets one
# line per bad line, "LINE<TAB>REASON<TAB>RAW". Also standard input (-) with
# --format, and line numbers after a CSV record that spans two lines.
. "$(dirname "$0")/lib.sh"

cx client add b >/dev/null   # bad imports go here: it must never change
cx client add k >/dev/null   # --skip-bad imports go here
DB=$H/clients/b/store.db

# Client b holds some events already, so "unchanged" means something.
printf 'id,type,customer,at,amount\nbase-1,purchase,c0,2024-01-01,1.00\nbase-2,visit,c0,2024-01-02,\n' >"$TMP/base.csv"
cx import --client b "$TMP/base.csv" >/dev/null
assert_eq "baseline events in b" "2" "$(q b 'SELECT COUNT(*) AS n FROM events')"

events() { q "$1" 'SELECT COUNT(*) AS n FROM events'; }
no_wal() {   # the store is closed after each command: everything is in store.db
  if [ ! -s "$DB-wal" ]; then pass; else fail "$1: store.db-wal left with data after the command"; fi
}

# check_bad FORMAT_FLAG FILE LINE NEEDLE DESC
#   imports FILE into b, which must fail at LINE, naming NEEDLE, and change nothing.
check_bad() {
  local flag=$1 file=$2 line=$3 needle=$4 desc=$5
  local before_sum before_n
  before_sum=$(sha256sum <"$DB")
  before_n=$(events b)
  if [ -n "$flag" ]; then run import --client b --format "$flag" "$file"; else run import --client b "$file"; fi
  assert_status "$desc: exit status" 1
  assert_contains "$desc: names file and line" "$ERR" "$file:$line:"
  assert_contains "$desc: names the field or value" "$ERR" "$needle"
  assert_not_contains "$desc: no new events reported" "$OUT" "imported"
  assert_eq "$desc: store.db unchanged" "$before_sum" "$(sha256sum <"$DB")"
  assert_eq "$desc: event count unchanged" "$before_n" "$(events b)"
  no_wal "$desc"
}

# check_skip FORMAT_FLAG FILE LINE RAW NEEDLE DESC GOOD
#   imports FILE into k with --skip-bad: GOOD new events, one reject line.
check_skip() {
  local flag=$1 file=$2 line=$3 raw=$4 needle=$5 desc=$6 good=$7
  local rej=$TMP/rejects.txt before_n
  rm -f "$rej"
  before_n=$(events k)
  if [ -n "$flag" ]; then
    run import --client k --format "$flag" --skip-bad "$rej" "$file"
  else
    run import --client k --skip-bad "$rej" "$file"
  fi
  assert_status "$desc --skip-bad: exit status" 0
  assert_match "$desc --skip-bad: counts" "$OUT" "imported $good new events? "
  assert_contains "$desc --skip-bad: 1 rejected" "$OUT" "1 rejected)"
  assert_eq "$desc --skip-bad: events added" "$((before_n + good))" "$(events k)"
  if [ ! -f "$rej" ]; then
    fail "$desc --skip-bad: no rejects file"
    return
  fi
  assert_eq "$desc --skip-bad: one reject line" "1" "$(wc -l <"$rej" | tr -d ' ')"
  local r_line r_reason r_raw r_extra
  IFS=$'\t' read -r r_line r_reason r_raw r_extra <"$rej"
  assert_eq "$desc --skip-bad: reject LINE" "$line" "$r_line"
  assert_contains "$desc --skip-bad: reject REASON" "$r_reason" "$needle"
  assert_eq "$desc --skip-bad: reject RAW" "$raw" "$r_raw"
  assert_eq "$desc --skip-bad: exactly three tab-separated fields" "" "${r_extra:-}"
}

# --- CSV --------------------------------------------------------------------------
# name | bad line | what the message must name
csv_cases=(
  "bad amount|ID,purchase,c2,2024-01-02,abc|amount 'abc'"
  "amount with 3 decimals|ID,purchase,c2,2024-01-02,1.234|amount '1.234'"
  "bad date|ID,purchase,c2,yesterday,1.00|at 'yesterday'"
  "month 13|ID,purchase,c2,2024-13-01,1.00|month 13"
  "day 30 of February|ID,purchase,c2,2024-02-30,1.00|at '2024-02-30'"
  "missing id|,purchase,c2,2024-01-02,1.00|id"
  "missing type|ID,,c2,2024-01-02,1.00|type"
  "missing at|ID,purchase,c2,,1.00|at"
  "too few fields|ID,purchase,c2,2024-01-02|fields"
  "too many fields|ID,purchase,c2,2024-01-02,1.00,extra|fields"
)
i=0
for case in "${csv_cases[@]}"; do
  i=$((i + 1))
  IFS='|' read -r name bad needle <<<"$case"
  bad=${bad//ID/csv$i-2}
  f=$TMP/bad$i.csv
  printf 'id,type,customer,at,amount\ncsv%d-1,purchase,c1,2024-01-01,10.00\n%s\ncsv%d-3,purchase,c3,2024-01-03,30.00\n' \
    "$i" "$bad" "$i" >"$f"
  check_bad "" "$f" 3 "$needle" "csv: $name"
  check_skip "" "$f" 3 "$bad" "$needle" "csv: $name" 2
done

# A column the header lacks: the whole file is refused, even with --skip-bad.
printf 'id,type,customer,amount\nh-1,purchase,c1,1.00\n' >"$TMP/nocol.csv"
check_bad "" "$TMP/nocol.csv" 1 "'at'" "csv: missing column at in the header"
printf 'id,customer,at,amount\nh-1,c1,2024-01-01,1.00\n' >"$TMP/nocol2.csv"
check_bad "" "$TMP/nocol2.csv" 1 "'type'" "csv: missing column type in the header"
n=$(events k)
run import --client k --skip-bad "$TMP/rej-h.txt" "$TMP/nocol.csv"
assert_status "csv: missing column with --skip-bad still fails" 1
assert_eq "csv: missing column with --skip-bad imports nothing" "$n" "$(events k)"

# Line numbers count physical lines: a quoted field may span two.
printf 'id,type,customer,at,amount,note\nm-1,purchase,c1,2024-01-01,1.00,"two\nlines"\nm-2,purchase,c1,2024-01-02,x.00,\nm-3,purchase,c1,2024-01-03,1.00,\n' >"$TMP/multi.csv"
check_bad "" "$TMP/multi.csv" 4 "amount 'x.00'" "csv: line after a two-line record"
# CRLF line ends.
printf 'id,type,customer,at,amount\r\ncr-1,purchase,c1,2024-01-01,1.00\r\ncr-2,purchase,c1,2024-01-02,1.001\r\n' >"$TMP/crlf.csv"
check_bad "" "$TMP/crlf.csv" 3 "amount '1.001'" "csv: CRLF"
check_skip "" "$TMP/crlf.csv" 3 "cr-2,purchase,c1,2024-01-02,1.001" "amount" "csv: CRLF" 1

# --- NDJSON ---------------------------------------------------------------------------
nd_cases=(
  'bad amount|{"id":"ID","type":"purchase","customer":"c2","at":"2024-01-02","amount":"abc"}|amount '"'abc'"
  'amount with 3 decimals (number)|{"id":"ID","type":"purchase","customer":"c2","at":"2024-01-02","amount":1.234}|amount '"'1.234'"
  'amount with 3 decimals (text)|{"id":"ID","type":"purchase","customer":"c2","at":"2024-01-02","amount":"1.234"}|more than two decimals'
  'bad date|{"id":"ID","type":"purchase","customer":"c2","at":"someday","amount":"1"}|at '"'someday'"
  'month 13|{"id":"ID","type":"purchase","customer":"c2","at":"2024-13-02","amount":"1"}|month 13'
  'fractional seconds|{"id":"ID","type":"purchase","customer":"c2","at":1.5}|at'
  'missing id|{"type":"purchase","customer":"c2","at":"2024-01-02"}|id'
  'missing type|{"id":"ID","customer":"c2","at":"2024-01-02"}|type'
  'malformed JSON|{"id":"ID","type":"purchase",|JSON'
  'not an object|[1,2,3]|object'
  'text after the object|{"id":"ID","type":"purchase","at":"2024-01-02"} x|JSON'
  'id that is not text|{"id":true,"type":"purchase","at":"2024-01-02"}|id'
)
i=0
for case in "${nd_cases[@]}"; do
  i=$((i + 1))
  IFS='|' read -r name bad needle <<<"$case"
  bad=${bad//ID/nd$i-2}
  f=$TMP/bad$i.ndjson
  {
    printf '{"id":"nd%d-1","type":"purchase","customer":"c1","at":"2024-01-01","amount":"10.00"}\n' "$i"
    printf '%s\n' "$bad"
    printf '{"id":"nd%d-3","type":"purchase","customer":"c3","at":1704240000,"amount":30}\n' "$i"
  } >"$f"
  check_bad "" "$f" 2 "$needle" "ndjson: $name"
  check_skip "" "$f" 2 "$bad" "$needle" "ndjson: $name" 2
done

# --- CDNOW ------------------------------------------------------------------------------
# No header, CRLF, leading spaces, as published. CUST varies per case so the
# ids (customer and date) of the good rows differ between cases.
cd_cases=(
  "3 columns|  CUST 19970112  1|columns"
  "6 columns|  CUST 00001 19970112  1  12.00  9|columns"
  "5 columns among 4|  CUST 00001 19970112  1  12.00|columns"
  "bad dollars|  CUST 19970112  1  abc|dollars 'abc'"
  "dollars with 3 decimals|  CUST 19970112  1  1.234|dollars '1.234'"
  "month 13|  CUST 19971312  1  1.00|month 13"
  "short date|  CUST 1997011  1  1.00|date '1997011'"
  "bad CD count|  CUST 19970112  x  1.00|'x'"
)
i=0
for case in "${cd_cases[@]}"; do
  i=$((i + 1))
  IFS='|' read -r name bad needle <<<"$case"
  cust=$(printf '%05d' $((500 + i)))
  bad=${bad//CUST/$cust}
  f=$TMP/CDNOW_bad$i.txt
  printf '  %s 19970101  1  11.77\r\n%s\r\n  %s 19970102  2  20.76\r\n' "$cust" "$bad" "$cust" >"$f"
  check_bad "" "$f" 2 "$needle" "cdnow: $name"
  check_skip "" "$f" 2 "$bad" "$needle" "cdnow: $name" 2
done
# A file whose name does not say CDNOW, with --format cdnow; the master's header is skipped.
printf ' customer_id  date number_of_cds  dollar_value\r\n  00900 19970101  1  11.77\r\n  00900 19970102  1  1.2.3\r\n' >"$TMP/rows.txt"
check_bad cdnow "$TMP/rows.txt" 3 "dollars '1.2.3'" "cdnow --format with a header"
run import --client b "$TMP/rows.txt"
assert_status "a .txt file without --format: the format is unknown" 2
assert_contains "unknown format: asks for --format" "$ERR" "--format"

# --- several bad lines, one reject line each ------------------------------------------------
{
  printf 'id,type,customer,at,amount\n'
  printf 'many-1,purchase,c1,2024-01-01,1.00\n'
  printf 'many-2,purchase,c1,2024-01-02,1.2345\n'
  printf 'many-3,purchase,c1,2024-01-03,3.00\n'
  printf 'many-4,,c1,2024-01-04,4.00\n'
  printf '\n'
  printf 'many-6,purchase,c1,2024-00-06,6.00\n'
  printf 'many-7,purchase,c1,2024-01-07,7.00\n'
} >"$TMP/many.csv"
n=$(events k)
run import --client k --skip-bad "$TMP/many-rejects.txt" "$TMP/many.csv"
assert_status "several bad lines with --skip-bad" 0
assert_contains "several bad lines: counts" "$OUT" "imported 3 new events"
assert_contains "several bad lines: 3 rejected" "$OUT" "3 rejected)"
assert_contains "several bad lines: names the rejects file" "$OUT" "$TMP/many-rejects.txt"
assert_eq "several bad lines: events added" "$((n + 3))" "$(events k)"
assert_eq "several bad lines: the good ones" "many-1,many-3,many-7" \
  "$(q k "SELECT group_concat(external_id) AS n FROM (SELECT external_id FROM events WHERE external_id LIKE 'many-%' ORDER BY 1)")"
assert_eq "several bad lines: LINE and RAW of each reject" \
  "$(printf '3\tmany-2,purchase,c1,2024-01-02,1.2345\n5\tmany-4,,c1,2024-01-04,4.00\n7\tmany-6,purchase,c1,2024-00-06,6.00')" \
  "$(cut -f1,3 "$TMP/many-rejects.txt")"
assert_eq "several bad lines: the import records the rejects" "3" \
  "$(q k "SELECT rejected AS n FROM imports ORDER BY id DESC LIMIT 1")"
# Importing it again: the good ones are duplicates now.
run import --client k --skip-bad "$TMP/many-rejects.txt" "$TMP/many.csv"
assert_contains "several bad lines, again: all good ones already there" "$OUT" "imported 0 new events"
assert_contains "several bad lines, again" "$OUT" "(3 already there, 3 rejected)"

# The rejects file cannot be written: nothing is imported.
n=$(events k)
run import --client k --skip-bad "$TMP/no/such/dir/rej.txt" "$TMP/many.csv"
assert_status "--skip-bad into a folder that does not exist" 1
assert_eq "--skip-bad unwritable: nothing imported" "$n" "$(events k)"

# --- standard input -----------------------------------------------------------------------------
printf 'id,type,customer,at,amount\nin-1,purchase,c1,2024-01-01,1.00\nin-2,purchase,c1,2024-01-02,1.00\n' >"$TMP/in.csv"
n=$(events k)
"$CXHOST" --home "$H" import --client k --format csv - <"$TMP/in.csv" >"$TMP/o" 2>"$TMP/e"
RC=$?; OUT=$(cat "$TMP/o"); ERR=$(cat "$TMP/e")
assert_status "csv from stdin" 0
assert_contains "csv from stdin: says <stdin>" "$OUT" "from <stdin>"
assert_eq "csv from stdin: events" "$((n + 2))" "$(events k)"
assert_eq "csv from stdin: the import's source" "<stdin>" "$(q k 'SELECT source AS n FROM imports ORDER BY id DESC LIMIT 1')"

"$CXHOST" --home "$H" import --client k - <"$TMP/in.csv" >"$TMP/o" 2>"$TMP/e"
RC=$?; OUT=$(cat "$TMP/o"); ERR=$(cat "$TMP/e")
assert_status "stdin without --format" 2
assert_contains "stdin without --format asks for it" "$ERR" "--format"

before_sum=$(sha256sum <"$DB")
printf '{"id":"sin-1","type":"purchase","at":"2024-01-01"}\n{"id":"sin-2","type":"purchase","at":"2024-01-01","amount":"0.001"}\n' |
  "$CXHOST" --home "$H" import --client b --format ndjson - >"$TMP/o" 2>"$TMP/e"
RC=$?; OUT=$(cat "$TMP/o"); ERR=$(cat "$TMP/e")
assert_status "bad ndjson from stdin" 1
assert_contains "bad ndjson from stdin: <stdin>:2:" "$ERR" "<stdin>:2:"
assert_contains "bad ndjson from stdin: the value" "$ERR" "0.001"
assert_eq "bad ndjson from stdin: store.db unchanged" "$before_sum" "$(sha256sum <"$DB")"

printf 'id,type,at\nx-1,purchase,2024-01-01\n' |
  "$CXHOST" --home "$H" import --client k --format xml - >"$TMP/o" 2>"$TMP/e"
RC=$?; ERR=$(cat "$TMP/e")
assert_status "an unknown --format" 2
assert_contains "an unknown --format is named" "$ERR" "xml"

run import --client k "$TMP/does-not-exist.csv"
assert_status "a file that does not exist" 1
assert_contains "a file that does not exist is named" "$ERR" "does-not-exist.csv"

# --- duplicates: an id already stored is a no-op ----------------------------------------------
# Even when the duplicate names another customer and touchpoint: nothing is
# created for it (ingest.h: "An event whose id is already stored is a no-op").
cx client add d >/dev/null
printf 'id,type,customer,at,amount,touchpoint\nd-1,purchase,c1,2024-01-01,1.00,web\nd-1,purchase,c1,2024-01-01,1.00,web\n' >"$TMP/dup1.csv"
run import --client d "$TMP/dup1.csv"
assert_status "an id twice in one file" 0
assert_match "an id twice in one file: the second is already there" "$OUT" "imported 1 new events? from .*dup1.csv into 'd' \\(1 already there"
printf 'id,type,customer,at,amount,touchpoint\nd-1,refund,ghost,2025-01-01,99.00,kiosk\nd-2,purchase,c1,2024-01-02,2.00,web\n' >"$TMP/dup2.csv"
run import --client d "$TMP/dup2.csv"
assert_status "a duplicate naming a new customer" 0
assert_match "a duplicate naming a new customer: 1 new, 1 already there" "$OUT" "imported 1 new events? from .*dup2.csv into 'd' \\(1 already there"
assert_eq "the duplicate did not change the stored event" "purchase 100" \
  "$(cx eval --client d 'local r = cx.query("SELECT type, amount_cents FROM events WHERE external_id = ?1", "d-1")[1] return r.type .. " " .. r.amount_cents')"
assert_eq "the duplicate created no customer" "0" "$(q d "SELECT COUNT(*) AS n FROM customers WHERE external_id = 'ghost'")"
assert_eq "the duplicate created no touchpoint" "0" "$(q d "SELECT COUNT(*) AS n FROM touchpoints WHERE name = 'kiosk'")"
assert_eq "the duplicate left no effects" "2" "$(q d "SELECT SUM(purchase_count) AS n FROM lifecycle")"

# After all that, b holds exactly its baseline.
assert_eq "b after every bad import" "base-1,base-2" \
  "$(q b "SELECT group_concat(external_id) AS n FROM (SELECT external_id FROM events ORDER BY 1)")"
assert_eq "b: no customers from bad imports" "1" "$(q b 'SELECT COUNT(*) AS n FROM customers')"
assert_eq "b: only the baseline import is recorded" "1" "$(q b 'SELECT COUNT(*) AS n FROM imports')"

finish
