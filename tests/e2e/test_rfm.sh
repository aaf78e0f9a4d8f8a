#!/usr/bin/env bash
# test_rfm.sh: RFM scores and segments (the store's view rfm), the report
# rfm, and the grid in config.lua, on a hand-computed case of five buyers:
#
#   buyer  last purchase      purchases  spent (less refunds)      R  F  M  segment
#   a      2026-01-10 10:00   1            5.00                    5  1  2  new
#   b      2026-01-09 10:00   5          400.00 (500 - 100 back)   4  4  4  champions
#   c      2026-01-01 10:00   5          400.00                    1  4  4  cannot lose
#   d      2026-01-01 10:00   1            1.00                    1  1  1  lost
#   e      2026-01-05 10:00   2           50.00                    3  3  3  loyal
#
# With five buyers a score is the rank (1 + 5 * (rank - 1) / 5), ties sharing
# the lower: c and d tie on recency (rank 1), a and d on frequency (1), b and
# c on frequency (4) and on money (4, after b's refund). f only visited: no
# score. Recency in days counts from the latest event (a's purchase).
. "$(dirname "$0")/lib.sh"

run client add rf
run import --client rf "$SRC/docs/examples/rfm-events.ndjson"
assert_status "import" 0
run refund request --client rf --purchase b-5 --amount 100.00 --at 2026-01-09T12:00:00Z
assert_status "b's refund" 0

row() {   # CUSTOMER: "r f m recency_days frequency monetary_cents segment"
  cx eval --client rf "local r = cx.query('SELECT * FROM rfm WHERE customer = ?1', '$1')[1]
    return r and table.concat({r.r, r.f, r.m, r.recency_days, r.frequency, r.monetary_cents, r.segment}, ' ') or 'none'"
}
assert_eq "a: recent, once: new" "5 1 2 0 1 500 new" "$(row a)"
assert_eq "b: refund taken off: champions" "4 4 4 1 5 40000 champions" "$(row b)"
assert_eq "c: long ago, often: cannot lose" "1 4 4 9 5 40000 cannot lose" "$(row c)"
assert_eq "d: long ago, once: lost" "1 1 1 9 1 100 lost" "$(row d)"
assert_eq "e: loyal" "3 3 3 5 2 5000 loyal" "$(row e)"
assert_eq "f (no purchase) has no score" "none" "$(row f)"
assert_eq "one row per buyer" 5 "$(q rf 'SELECT COUNT(*) AS n FROM rfm')"

run report rfm --client rf --format csv
assert_status "report rfm --format csv" 0
assert_eq "csv" "segment,customers,share,recency_days,purchases,monetary_cents,per_customer_cents
champions,1,0.2000,1.0,5.00,40000,40000
loyal,1,0.2000,5.0,2.00,5000,5000
new,1,0.2000,0.0,1.00,500,500
cannot lose,1,0.2000,9.0,5.00,40000,40000
lost,1,0.2000,9.0,1.00,100,100" "$OUT"
run report rfm --client rf
assert_status "report rfm" 0
assert_contains "table: buyers" "$OUT" "5 buyers, as of 2026-01-10"
assert_contains "table: champions row" "$OUT" "  champions               1   20.0%        1 d        5.0          \$400.00        \$400.00"
assert_contains "table: grid row R=1" "$OUT" "  R=1 1 lost              0 hibernating       0 at risk           1 cannot lose       0 cannot lose"
run report rfm --client rf --as-of 2026-01-20
assert_contains "--as-of moves recency only" "$OUT" "  lost                    1   20.0%       19 d        1.0"
run report rfm --client rf --format json
assert_contains "json: the grid's top row, R=5" "$OUT" '"grid":[[{"customers":1,"segment":"new"},'
assert_contains "json: a segment" "$OUT" '{"customers":1,"monetary_cents":40000,"per_customer_cents":40000,"purchases":5.0,"recency_days":1.0,"segment":"champions","share":0.2}'

# config.lua redraws rows of the grid; the others stay.
cat >"$H/clients/rf/config.lua" <<'LUA'
return {
  rfm_segments = {
    [1] = { "gone", "gone", "slipping", "win back", "win back" },
  },
}
LUA
assert_eq "config: c in the redrawn row" "1 4 4 9 5 40000 win back" "$(row c)"
assert_eq "config: d in the redrawn row" "1 1 1 9 1 100 gone" "$(row d)"
assert_eq "config: other rows kept" "3 3 3 5 2 5000 loyal" "$(row e)"
run report rfm --client rf --format csv
assert_contains "report: the new names" "$OUT" "win back,1,0.2000"
cat >"$H/clients/rf/config.lua" <<'LUA'
return { rfm_segments = { [6] = { "a", "b", "c", "d", "e" } } }
LUA
run report rfm --client rf
assert_status "config: a row 6" 1
assert_contains "config: the error names the file and the setting" "$ERR" "clients/rf/config.lua: rfm_segments: each row is a recency score 1 to 5"
cat >"$H/clients/rf/config.lua" <<'LUA'
return { rfm_segments = { [2] = { "a", "b", "c" } } }
LUA
run report rfm --client rf
assert_status "config: a short row" 1
rm "$H/clients/rf/config.lua"
assert_eq "the redrawn row stays until redrawn again" "1 1 1 9 1 100 gone" "$(row d)"

# An empty client, and real data: every buyer of the CDNOW sample in one segment.
run client add empty
run report rfm --client empty
assert_status "report rfm, no events" 0
assert_contains "no purchases yet" "$OUT" "No purchases yet"
run client add cd
run import --client cd --no-progress "$DATA/CDNOW_sample.txt"
assert_status "import the CDNOW sample" 0
assert_eq "CDNOW sample: 2,357 buyers scored" 2357 "$(q cd 'SELECT COUNT(*) AS n FROM rfm')"
assert_eq "CDNOW sample: all in a segment" 0 "$(q cd "SELECT COUNT(*) AS n FROM rfm WHERE segment = 'unsegmented'")"
assert_eq "CDNOW sample: scores 1..5 only" 0 "$(q cd 'SELECT COUNT(*) AS n FROM rfm WHERE r NOT BETWEEN 1 AND 5 OR f NOT BETWEEN 1 AND 5 OR m NOT BETWEEN 1 AND 5')"
assert_eq "CDNOW sample: the once-buyers share F=1" 1 "$(q cd 'SELECT COUNT(DISTINCT f) AS n FROM rfm WHERE frequency = 1')"
assert_eq "CDNOW sample: money adds up" "$(q cd "SELECT SUM(amount_cents) AS n FROM events WHERE type = 'purchase'")" \
  "$(q cd 'SELECT SUM(monetary_cents) AS n FROM rfm')"
run report --help
assert_contains "report --help lists rfm" "$OUT" "rfm          buyers by recency, frequency and monetary value"
finish
