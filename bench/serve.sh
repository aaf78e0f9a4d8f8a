#!/usr/bin/env bash
# bench/serve.sh: events/s acknowledged by `cxhost serve` over loopback, against
# bench/ingest --quick (bare SQLite inserts and the import pipeline) measured in
# the same run on the same machine. See bench/README.md, "bench/serve".
#
#   bench/serve.sh [--connections N] [--window N] [--reps N] [--dir DIR] [CDNOW_FILE]
#
# Builds cxhost, bench_ingest and cxload in $BUILD_DIR (default build/), turns
# the CDNOW master file into NDJSON purchase events with awk (the same events
# as the cxhost cdnow reader makes: ids cdnow-CUSTOMER-YYYYMMDD-RANK, amounts
# copied as decimal strings, never through floats), then runs:
#   (a), (b)  build/bench/ingest --quick CDNOW_FILE
#   (c)       cxhost import FILE.ndjson into a fresh client (end to end, parsing included)
#   (d)       cxhost serve on a fresh client, cxload --connections N --ndjson FILE.ndjson
# and prints the rates and the ratios serve/import and serve/bare.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
connections=8
window=512
reps=1
dir=${TMPDIR:-/tmp}
master=${CXHOST_DATA_DIR:-$root/../shared/data/cdnow}/CDNOW_master.txt

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
  case $1 in
    --connections) connections=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --help|-h) usage; exit 0 ;;
    -*) echo "bench/serve.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) master=$1; shift ;;
  esac
done
if [ ! -f "$master" ]; then
  echo "bench/serve.sh: no CDNOW file at $master (set CXHOST_DATA_DIR or pass it)" >&2
  exit 2
fi

cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j2 --target cxhost bench_ingest cxload >/dev/null
cxhost=$build/cxhost
cxload=$build/tests/tools/cxload

tmp=$(mktemp -d "$dir/cxserve-bench.XXXXXX")
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then kill -9 "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# 1234567 -> 1,234,567
commas() { awk -v n="$1" 'BEGIN { s = sprintf("%d", n); o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
best() { sort -n | tail -n 1; }
now() { date +%s.%N; }

# CDNOW rows (customer date CDs dollars; CRLF; a header) -> NDJSON purchases.
ndjson=$tmp/cdnow.ndjson
awk '
  { sub(/\r$/, "") }
  NF != 4 || $1 !~ /^[0-9]+$/ { next }
  {
    key = $1 "-" $2
    printf "{\"id\":\"cdnow-%s-%d\",\"type\":\"purchase\",\"customer\":\"%s\",\"at\":\"%s-%s-%sT00:00:00Z\",\"amount\":\"%s\",\"touchpoint\":\"web\",\"quantity\":%s}\n",
      key, ++rank[key], $1, substr($2, 1, 4), substr($2, 5, 2), substr($2, 7, 2), $4, $3
  }' "$master" >"$ndjson"
events=$(wc -l <"$ndjson")

echo "bench/serve: $(commas "$events") CDNOW purchases as NDJSON ($master)"
echo "machine: $(nproc) CPUs; $("$cxhost" --version 2>/dev/null | head -n 1 || true)"

# (a), (b): bench/ingest --quick, same input.
"$build/bench/ingest" --quick --dir "$dir" "$master" >"$tmp/ingest.txt"
read -r _ bare import < <(awk '/^ +events +bare ev\/s/ { getline; gsub(/,/, ""); print $1, $2, $3; exit }' "$tmp/ingest.txt")

# (c): cxhost import of the NDJSON, end to end.
home_c=$tmp/home-import
"$cxhost" --home "$home_c" client add bench >/dev/null
t0=$(now)
"$cxhost" --home "$home_c" import --client bench "$ndjson" >"$tmp/import.txt"
cmd_import=$(awk -v a="$t0" -v b="$(now)" -v n="$events" 'BEGIN { printf "%d", n / (b - a) }')

# (d): serve + cxload, REPS times on fresh workspaces.
count() { "$cxhost" --home "$1" eval --client bench 'cx.query("SELECT COUNT(*) AS n FROM events")[1].n'; }
: >"$tmp/serve.rates"
for ((r = 1; r <= reps; r++)); do
  home=$tmp/home-serve-$r
  "$cxhost" --home "$home" client add bench >/dev/null
  "$cxhost" --home "$home" serve --client bench --listen 127.0.0.1:0 2>"$tmp/serve.log" &
  serve_pid=$!
  port=
  for ((i = 0; i < 300; i++)); do
    port=$(sed -n "s/^cxhost serve: client 'bench' listening on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p" "$tmp/serve.log")
    [ -n "$port" ] && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "bench/serve.sh: serve printed no ready line" >&2
    cat "$tmp/serve.log" >&2
    exit 1
  fi
  status=0
  "$cxload" --connect "127.0.0.1:$port" --connections "$connections" --window "$window" \
    --ndjson "$ndjson" >"$tmp/load.txt" 2>"$tmp/load.err" || status=$?
  kill -TERM "$serve_pid"
  serve_status=0
  wait "$serve_pid" || serve_status=$?
  serve_pid=
  summary=$(cat "$tmp/load.txt")
  stored=$(count "$home")
  echo "  serve run $r: cxload: $summary; serve exit $serve_status; $(commas "$stored") events stored"
  echo "    $(tail -n 1 "$tmp/serve.log")"
  if [ "$status" -ne 0 ] || [ "$serve_status" -ne 0 ] || [ "$stored" -ne "$events" ]; then
    echo "bench/serve.sh: the serve run did not take every event" >&2
    cat "$tmp/load.err" >&2
    exit 1
  fi
  sed -E 's/.*: ([0-9]+) events\/s$/\1/' <<<"$summary" >>"$tmp/serve.rates"
  rm -rf "$home"
done
serve_best=$(best <"$tmp/serve.rates")
serve_median=$(median <"$tmp/serve.rates")

printf '\n'
printf '  %-58s %12s events/s\n' \
  "(a) bare SQLite insert, one transaction (ingest --quick)" "$(commas "$bare")" \
  "(b) import pipeline without parsing (ingest --quick)" "$(commas "$import")" \
  "(c) cxhost import FILE.ndjson, end to end" "$(commas "$cmd_import")" \
  "(d) cxhost serve, $connections connection$([ "$connections" = 1 ] || echo s), acknowledged (best)" "$(commas "$serve_best")"
if [ "$reps" -gt 1 ]; then
  printf '  %-58s %12s events/s\n' "    (median of $reps)" "$(commas "$serve_median")"
fi
printf '\n'
printf '  serve/import (d)/(b)  %s\n' "$(pct "$serve_best" "$import")"
printf '  serve/import (d)/(c)  %s\n' "$(pct "$serve_best" "$cmd_import")"
printf '  serve/bare   (d)/(a)  %s\n' "$(pct "$serve_best" "$bare")"
