#!/usr/bin/env bash
# bench/campaigns.sh: what campaigns cost, as ratios against baselines measured
# in the same run on the same machine. See bench/README.md, "bench/campaigns".
#
#   bench/campaigns.sh [--reps N] [--dir DIR] [CDNOW_FILE]
#
# On the CDNOW master file (23,570 customers, 69,659 purchases):
#   (a) cxhost import into a fresh client, no campaign started
#   (b) the same with two campaigns started: one on each purchase, one on
#       entering a loyalty tier (which looks at every event): the import's
#       rate against (a)
#   (c) cxhost campaign run of a campaign over every customer (a tag and a
#       message for each, a holdout of 5%): customers acted for per second,
#       against (d)
#   (d) bare SQLite: the same number of rows inserted into a table of the
#       same shape by the sqlite3 shell, in one transaction
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
reps=1
dir=${TMPDIR:-/tmp}
master=${CXHOST_DATA_DIR:-$root/../shared/data/cdnow}/CDNOW_master.txt

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --help|-h) usage; exit 0 ;;
    -*) echo "bench/campaigns.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) master=$1; shift ;;
  esac
done
if [ ! -f "$master" ]; then
  echo "bench/campaigns.sh: no CDNOW file at $master (set CXHOST_DATA_DIR or pass it)" >&2
  exit 2
fi
command -v sqlite3 >/dev/null || { echo "bench/campaigns.sh: needs the sqlite3 shell" >&2; exit 2; }

cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j2 --target cxhost >/dev/null
cxhost=$build/cxhost
tmp=$(mktemp -d "$dir/cxcampaign-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

seconds() {   # COMMAND...: wall seconds it took
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }'; }

cat >"$tmp/on-purchase.lua" <<'LUA'
return { name = "bench-purchase", description = "A note on large purchases", module = "act",
         audience = everyone(), trigger = event("purchase", function(ev, c) return ev.amount_cents >= 10000 end),
         actions = { send("email", "thanks") }, frequency = { contacts = 1000, days = 1 } }
LUA
cat >"$tmp/on-tier.lua" <<'LUA'
return { name = "bench-tier", description = "Points on reaching silver", module = "relate",
         audience = everyone(), trigger = enters(tier("silver", "gold")), actions = { points(100) } }
LUA
cat >"$tmp/everyone.lua" <<'LUA'
return { name = "bench-everyone", description = "A tag and a message for everyone", module = "relate",
         audience = everyone(), actions = { tag("reached"), send("email", "note", { n = 1 }) },
         frequency = { contacts = 1000, days = 1 }, holdout = 0.05 }
LUA

records=$(grep -c . "$master")
plain=() with=() runs=() bare=()
for rep in $(seq 1 "$reps"); do
  h=$tmp/h$rep
  "$cxhost" --home "$h" client add a >/dev/null
  "$cxhost" --home "$h" client add b >/dev/null
  plain+=("$(seconds "$cxhost" --home "$h" import --client a --no-progress "$master")")
  "$cxhost" --home "$h" campaign start --client b "$tmp/on-purchase.lua" --at 1996-12-31 >/dev/null
  "$cxhost" --home "$h" campaign start --client b "$tmp/on-tier.lua" --at 1996-12-31 >/dev/null
  with+=("$(seconds "$cxhost" --home "$h" import --client b --no-progress "$master")")
  runs+=("$(seconds "$cxhost" --home "$h" campaign run --client a "$tmp/everyone.lua" --at 1998-07-01)")
  acted=$("$cxhost" --home "$h" eval --client a \
    "cx.query(\"SELECT COUNT(DISTINCT customer_id) AS n FROM campaign_actions\")[1].n")
  # (d): campaign_actions and outbox rows, as many as the run wrote.
  rows=$("$cxhost" --home "$h" eval --client a \
    "cx.query(\"SELECT (SELECT COUNT(*) FROM campaign_actions) + (SELECT COUNT(*) FROM outbox) AS n\")[1].n")
  bare+=("$(seconds sqlite3 "$tmp/bare$rep.db" "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
    CREATE TABLE t(id INTEGER PRIMARY KEY, run_id INTEGER, customer_id INTEGER, kind TEXT, points INTEGER,
      money_cents INTEGER, contact INTEGER, detail TEXT, at INTEGER);
    BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
    INSERT INTO t(run_id, customer_id, kind, points, money_cents, contact, detail, at)
      SELECT 1, i, 'send', 0, 0, 1, '{\"action\":\"send\"}', 899251200 FROM n; COMMIT;")")
done
a=$(printf '%s\n' "${plain[@]}" | median)
b=$(printf '%s\n' "${with[@]}" | median)
c=$(printf '%s\n' "${runs[@]}" | median)
d=$(printf '%s\n' "${bare[@]}" | median)
echo "CDNOW master: $records purchases; median of $reps run(s)"
echo "(a) import, no campaign:            ${a} s  $(rate "$records" "$a") events/s"
echo "(b) import, 2 campaigns started:    ${b} s  $(rate "$records" "$b") events/s  ($(pct "$(rate "$records" "$b")" "$(rate "$records" "$a")") of (a))"
echo "(c) campaign run over everyone:     ${c} s  $(rate "$acted" "$c") customers/s ($acted acted for, $rows rows)"
echo "(d) bare SQLite, $rows rows:        ${d} s  $(rate "$rows" "$d") rows/s  ((c) writes $(pct "$(rate "$rows" "$c")" "$(rate "$rows" "$d")") of (d)'s rows/s)"
