#!/usr/bin/env bash
# test_import_cdnow.sh: the real CDNOW files, imported exactly.
#   master: 69,659 rows, 23,570 customers, $2,500,315.63 (250031563 cents)
#   sample:  6,919 rows,  2,357 customers; its cents are summed here with awk
#            in integer arithmetic, independently of cxhost.
. "$(dirname "$0")/lib.sh"

MASTER=$DATA/CDNOW_master.txt
SAMPLE=$DATA/CDNOW_sample.txt
if [ ! -f "$MASTER" ] || [ ! -f "$SAMPLE" ]; then
  fail "the CDNOW files are missing from $DATA (set CXHOST_DATA_DIR)"
  finish
fi

# Integer cents of the last field of each data row, and the customers, by awk.
cents_of() {   # FILE NFIELDS
  awk -v nf="$2" '
    { sub(/\r$/, "") }
    NF == nf && $NF ~ /^[0-9]+(\.[0-9]*)?$/ {
      split($NF, p, "."); d = p[2]; while (length(d) < 2) d = d "0"
      s += p[1] * 100 + d; n++; c[$1] = 1
    }
    END { k = 0; for (x in c) k++; printf "%d %d %d\n", n, k, s }' "$1"
}
read -r s_rows s_customers s_cents < <(cents_of "$SAMPLE" 5)
read -r m_rows m_customers m_cents < <(cents_of "$MASTER" 4)
# The data files are as the README says (guards the awk above).
assert_eq "awk: master rows" 69659 "$m_rows"
assert_eq "awk: master customers" 23570 "$m_customers"
assert_eq "awk: master cents" 250031563 "$m_cents"
assert_eq "awk: sample rows" 6919 "$s_rows"
assert_eq "awk: sample customers" 2357 "$s_customers"

counts() {   # CLIENT -> "events customers cents"
  cx eval --client "$1" 'local r = cx.query([[SELECT COUNT(*) AS n, COALESCE(SUM(amount_cents), 0) AS c,
    (SELECT COUNT(*) FROM customers) AS k FROM events]])[1]
    return ("%d %d %d"):format(r.n, r.k, r.c)' 2>&1
}

# --- master into m ------------------------------------------------------------------
cx client add m >/dev/null
run import --client m "$MASTER"
assert_status "import master" 0
assert_contains "import master: 69,659 new" "$OUT" "imported 69,659 new events"
assert_contains "import master: nothing already there or rejected" "$OUT" "(0 already there, 0 rejected)"
assert_eq "master: events, customers, cents" "69659 23570 250031563" "$(counts m)"
assert_eq "master: every event is a web purchase" "69659" \
  "$(q m "SELECT COUNT(*) AS n FROM events e JOIN touchpoints t ON t.id = e.touchpoint_id
          WHERE e.type = 'purchase' AND t.name = 'web'")"
assert_eq "master: CDs as the free field quantity" "$(awk 'NR > 1 { s += $3 } END { print s }' "$MASTER")" \
  "$(q m "SELECT SUM(json_extract(data, '\$.quantity')) AS n FROM events")"
assert_eq "master: first row's id" "cdnow-00001-19970101-1" \
  "$(q m "SELECT external_id AS n FROM events ORDER BY id LIMIT 1")"
assert_eq "master: first row's amount (11.77)" "1177" \
  "$(q m "SELECT amount_cents AS n FROM events WHERE external_id = 'cdnow-00001-19970101-1'")"
assert_eq "master: first row's time (1997-01-01 UTC)" "852076800" \
  "$(q m "SELECT at AS n FROM events WHERE external_id = 'cdnow-00001-19970101-1'")"
# Two rows of one customer and day get ranks 1 and 2 (00002 bought twice on 1997-01-12).
assert_eq "master: same customer and day get ranks" "cdnow-00002-19970112-1,cdnow-00002-19970112-2" \
  "$(q m "SELECT group_concat(external_id) AS n FROM (SELECT external_id FROM events
          WHERE external_id LIKE 'cdnow-00002-19970112-%' ORDER BY external_id)")"
assert_eq "master: no event ids collide" "69659" "$(q m 'SELECT COUNT(DISTINCT external_id) AS n FROM events')"
assert_eq "master: the import is recorded" "69659 69659 0 0 cdnow" \
  "$(cx eval --client m 'local r = cx.query("SELECT * FROM imports")[1]
     return ("%d %d %d %d %s"):format(r.lines, r.inserted, r.duplicates, r.rejected, r.format)')"
# The lifecycle plugin saw every purchase.
assert_eq "master: lifecycle purchase counts add up" "69659" \
  "$(q m 'SELECT SUM(purchase_count) AS n FROM lifecycle')"
assert_eq "master: lifecycle spend adds up" "250031563" \
  "$(q m 'SELECT SUM(total_spend_cents) AS n FROM lifecycle')"
assert_eq "master: every customer has a stage" "23570" \
  "$(q m "SELECT COUNT(*) AS n FROM lifecycle WHERE stage IN ('new', 'active', 'lapsing', 'lapsed')")"

# --- re-import master: nothing new ----------------------------------------------------
run import --client m "$MASTER"
assert_status "re-import master" 0
assert_contains "re-import master: 0 new" "$OUT" "imported 0 new events"
assert_contains "re-import master: all already there" "$OUT" "(69,659 already there, 0 rejected)"
assert_eq "re-import master: same counts" "69659 23570 250031563" "$(counts m)"
assert_eq "re-import master: lifecycle unchanged" "69659" "$(q m 'SELECT SUM(purchase_count) AS n FROM lifecycle')"
assert_eq "re-import master: each event has exactly one lifecycle audit row" "0" \
  "$(q m "SELECT COUNT(*) AS n FROM (SELECT event_id FROM audit WHERE event_id IS NOT NULL AND plugin = 'lifecycle'
          GROUP BY event_id HAVING COUNT(*) <> 1)")"

# --- the sample after the master: its rows are the same purchases ----------------------
run import --client m "$SAMPLE"
assert_status "import sample after master" 0
assert_contains "sample after master: 0 new" "$OUT" "imported 0 new events"
assert_contains "sample after master: 6,919 already there" "$OUT" "(6,919 already there, 0 rejected)"
assert_eq "sample after master: same counts" "69659 23570 250031563" "$(counts m)"

# --- the sample alone ---------------------------------------------------------------------
cx client add s >/dev/null
run import --client s "$SAMPLE"
assert_status "import sample" 0
assert_contains "import sample: 6,919 new" "$OUT" "imported 6,919 new events"
assert_eq "sample: events, customers, cents" "6919 2357 $s_cents" "$(counts s)"
assert_eq "sample cents (as computed when this test was written)" "24409194" "$s_cents"
# The sample's ids are the master's ids: the sample is a subset of the master.
assert_eq "sample: customers use the master's ids" "1" \
  "$(q s "SELECT COUNT(*) AS n FROM customers WHERE external_id = '00004'")"

# The same sample from standard input, with --format.
cx client add s2 >/dev/null
"$CXHOST" --home "$H" import --client s2 --format cdnow - <"$SAMPLE" >"$TMP/o" 2>"$TMP/e"
RC=$?; OUT=$(cat "$TMP/o"); ERR=$(cat "$TMP/e")
assert_status "import sample from stdin" 0
assert_eq "sample from stdin: events, customers, cents" "6919 2357 $s_cents" "$(counts s2)"
ids_of() {
  cx eval --client "$1" 'local a = {} for _, r in ipairs(cx.query("SELECT external_id FROM events ORDER BY external_id")) do
    a[#a + 1] = r.external_id end return table.concat(a, "\n")'
}
ids_of s >"$TMP/ids_s"
ids_of s2 >"$TMP/ids_s2"
assert_eq "sample ids listed" "6919" "$(wc -l <"$TMP/ids_s" | tr -d ' ')"
if cmp -s "$TMP/ids_s" "$TMP/ids_s2"; then pass; else fail "sample from stdin: the same event ids as from the file"; fi

# --- the summary report ---------------------------------------------------------------------
run report summary --client m
assert_status "report summary (master)" 0
assert_contains "summary: customers, events, revenue" "$OUT" "23,570 customers, 69,659 events, \$2,500,315.63 revenue"
assert_contains "summary: date range" "$OUT" "from 1997-01-01 to 1998-06-30"
assert_contains "summary: purchases by type" "$OUT" "purchase"
buyers=$(q m 'SELECT COUNT(*) AS n FROM lifecycle WHERE purchase_count > 0')
assert_eq "every master customer bought" "23570" "$buyers"

s_dollars=$(printf '%d.%02d' $((s_cents / 100)) $((s_cents % 100)) | sed ':a;s/\B[0-9]\{3\}\>\([^0-9]\|$\)/,&/;ta')
run report summary --client s
assert_status "report summary (sample)" 0
assert_contains "summary (sample): totals" "$OUT" "2,357 customers, 6,919 events, \$$s_dollars revenue"
# Stage counts in the report agree with the store.
for stage in active lapsing lapsed; do
  n=$(q s "SELECT COUNT(*) AS n FROM lifecycle WHERE stage = '$stage'")
  n_grouped=$(printf '%d' "$n" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')
  if grep -Eq "^ +$stage +$n_grouped " <<<"$OUT"; then pass; else fail "summary (sample): stage $stage shows $n_grouped" "$OUT"; fi
done

run report nosuch --client s
assert_status "unknown report" 2
assert_contains "unknown report lists the reports" "$ERR" "summary"

finish
