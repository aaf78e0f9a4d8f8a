#!/usr/bin/env bash
# test_report_html.sh: `cxhost report html`, the self-contained page of charts.
#
#   - a coffee chain from scripts/gen-experience.lua (200 customers, seed 5, its touchpoints),
#     imported in two halves around two campaigns run on 1 July 2025, so that the campaigns
#     have responses to count, and one survey at a touchpoint whose name holds & < > " ';
#   - the CDNOW sample (2,357 customers) in a second client, for the value section and its
#     holdout check (1,882 repeat purchases after 30 September 1997, counted here with awk);
#   - a client without events.
# Each page: written whole, nothing fetched (no http:// or https://, no <script>, no
# external url(), <link> or src=), every chart's <svg> there with role="img", an
# aria-label and its id, a section without data saying so instead of a chart, and the
# numbers in the page as text, worked out here from the store, from awk, or from the
# other reports. Then headless Chromium (Debian's package, installed here when missing)
# loads each page: --dump-dom must succeed and hold every chart, the log must show no
# uncaught error and no failed load, and a screenshot of each is kept in the test output
# folder ($CXHOST_TEST_OUT, else test-output/ beside the cxhost binary, in the build tree).
#
# Without chromium, as root it runs apt-get install -y chromium; when that fails, the test
# fails saying so. Not root (and no password-less sudo) and not under CI: SKIP, exit 0.

WAS_CI=${CI:-}   # lib.sh sets CI=1 for every test
. "$(dirname "$0")/lib.sh"

STARTED=$SECONDS

# --- chromium -------------------------------------------------------------------------
find_chromium() {
  CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
}
find_chromium
if [ -z "$CHROMIUM" ]; then
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      SUDO="sudo -n"
    elif [ -z "$WAS_CI" ]; then
      echo "SKIP: chromium is not installed, and installing it needs root (apt-get install -y chromium)"
      exit 0
    else
      echo "FAIL: chromium is not installed and cannot be installed here (not root, no sudo);"
      echo "      install Debian's package: apt-get install -y chromium"
      exit 1
    fi
  fi
  echo "installing chromium: apt-get install -y chromium"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y chromium >"$TMP/apt.log" 2>&1; then
    # Stale package lists: update them, then try once more.
    $SUDO apt-get update >>"$TMP/apt.log" 2>&1
    $SUDO apt-get install -y chromium >>"$TMP/apt.log" 2>&1
  fi
  find_chromium
  if [ -z "$CHROMIUM" ]; then
    echo "FAIL: chromium could not be installed (apt-get install -y chromium); the end of its log:"
    tail -n 15 "$TMP/apt.log" | sed 's/^/    /'
    exit 1
  fi
  STARTED=$SECONDS   # the time limit counts from here
fi
echo "chromium: $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n 1))"

# The test output folder: kept after the test, in the build tree.
OUTDIR=${CXHOST_TEST_OUT:-$(dirname "$CXHOST")/test-output}
mkdir -p "$OUTDIR" || { echo "FAIL: cannot make $OUTDIR"; exit 1; }
OUTDIR=$(cd "$OUTDIR" && pwd)

if ! command -v lua5.4 >/dev/null; then
  echo "FAIL: the lua5.4 interpreter is not installed (scripts/install-deps.sh installs it);"
  echo "      the report needs scripts/gen-experience.lua's data"
  exit 1
fi

# 22222 -> 22,222, as cxhost prints counts.
commas() {
  sed -E ':a; s/^(-?[0-9]+)([0-9]{3})/\1,\2/; ta' <<<"$1"
}

# money CENTS: 4521770 -> $45,217.70, as cx.report.money prints it.
money() {
  local c=$1 sign=
  if [ "$c" -lt 0 ]; then sign=-; c=$((-c)); fi
  printf '%s$%s.%02d' "$sign" "$(commas $((c / 100)))" $((c % 100))
}

# The checks every page gets: FILE, then the chart ids it must have.
check_page() {
  local file=$1 name
  shift
  local html
  html=$(cat "$file")
  assert_not_contains "$file: no http:// reference" "${html,,}" "http://"
  assert_not_contains "$file: no https:// reference" "${html,,}" "https://"
  assert_not_contains "$file: no script" "${html,,}" "<script"
  assert_not_contains "$file: no link to a stylesheet or anything else" "${html,,}" "<link"
  assert_not_contains "$file: no src=" "${html,,}" " src="
  assert_not_contains "$file: no @import" "${html,,}" "@import"
  # url() only for a fragment of the page itself (the heat map's gradient).
  assert_eq "$file: url() only to #fragments" "" "$(grep -oE 'url\([^#)][^)]*\)' "$file")"
  assert_contains "$file: a whole page" "$html" "</html>"
  # Every <svg> is a chart with an id, role="img" and a label.
  local all labelled
  all=$(grep -o '<svg' "$file" | wc -l)
  labelled=$(grep -oE '<svg id="chart-[a-z]+" role="img" aria-label="[^"]+"' "$file" | wc -l)
  assert_eq "$file: every svg has an id, role=img and an aria-label" "$all" "$labelled"
  assert_eq "$file: as many charts as expected" "$#" "$all"
  for name in "$@"; do
    assert_contains "$file: chart $name" "$html" "<svg id=\"$name\" role=\"img\""
  done
}

# Loads FILE in headless chromium: --dump-dom, then a screenshot to SHOT; checks the DOM
# holds each chart id given and that the log has no uncaught error or failed load.
browse() {
  local file=$1 shot=$2 name
  shift 2
  local profile="$TMP/chromium-profile"
  local flags=(--headless=new --no-sandbox --disable-gpu --no-first-run --disable-dev-shm-usage
    --disable-background-networking --host-resolver-rules="MAP * ~NOTFOUND"
    --user-data-dir="$profile" --enable-logging=stderr --v=0)
  timeout -k 5 60 "$CHROMIUM" "${flags[@]}" --dump-dom "file://$file" >"$TMP/dom.html" 2>"$TMP/dom.log"
  local rc=$?
  if [ $rc -ne 0 ]; then
    fail "chromium --dump-dom $file: exit status $rc" "$(tail -n 20 "$TMP/dom.log")"
  else
    pass
  fi
  local dom
  dom=$(cat "$TMP/dom.html")
  assert_contains "chromium read the whole page: $file" "$dom" "</html>"
  for name in "$@"; do
    assert_contains "chromium's DOM has $name: $file" "$dom" "id=\"$name\""
  done
  rm -f "$shot"
  timeout -k 5 60 "$CHROMIUM" "${flags[@]}" --hide-scrollbars --screenshot="$shot" --window-size=1280,4000 \
    "file://$file" >"$TMP/shot.out" 2>"$TMP/shot.log"
  rc=$?
  if [ $rc -ne 0 ] || [ ! -s "$shot" ]; then
    fail "chromium --screenshot $file: exit status $rc, no picture" "$(tail -n 20 "$TMP/shot.log")"
  elif [ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]; then
    fail "the screenshot of $file is not a PNG"
  else
    pass
    echo "screenshot: $shot ($(wc -c <"$shot" | tr -d ' ') bytes)"
  fi
  # Load errors: an uncaught exception, a resource that did not load, a refused request.
  local problems
  problems=$(grep -hE 'Uncaught|Failed to load resource|net::ERR_|Not allowed to load|Refused to' \
    "$TMP/dom.log" "$TMP/shot.log")
  assert_eq "chromium: no load errors for $file" "" "$problems"
}

# ==================================================================================
# The coffee chain, with two campaigns
# ==================================================================================
cx client add cafe >/dev/null
lua5.4 "$SRC/scripts/gen-experience.lua" --customers 200 --seed 5 --config "$H/clients/cafe/config.lua" \
  >"$TMP/coffee.ndjson"
grep '"at":"2025-0[1-6]' "$TMP/coffee.ndjson" >"$TMP/spring.ndjson"
grep -v '"at":"2025-0[1-6]' "$TMP/coffee.ndjson" >"$TMP/summer.ndjson"
run import --client cafe "$TMP/spring.ndjson"
assert_status "cafe: import of the first half year" 0

cat >"$TMP/regulars.lua" <<'LUA'
return {
  name = "summer-regulars",
  description = "Regulars quiet for two weeks get 150 points",
  module = "act",
  audience = purchases{ at_least = 2 } & inactive{ days = 14 },
  actions = { points(150, { note = "we miss you", expires_days = 60 }) },
  holdout = 0.3,
  response = { event = "purchase", days = 30 },
}
LUA
cat >"$TMP/welcome.lua" <<'LUA'
return {
  name = "spring-welcome",
  description = "New customers get 50 points",
  module = "relate",
  audience = stage("new"),
  actions = { points(50, { note = "welcome" }) },
  holdout = 0.3,
  response = { event = "visit", days = 21 },
}
LUA
run campaign run --client cafe "$TMP/regulars.lua" --at 2025-07-01T09:00:00Z
assert_status "cafe: campaign summer-regulars" 0
run campaign run --client cafe "$TMP/welcome.lua" --at 2025-07-01T09:00:00Z
assert_status "cafe: campaign spring-welcome" 0
run import --client cafe "$TMP/summer.ndjson"
assert_status "cafe: import of the second half year" 0
# One survey at a touchpoint whose name needs escaping.
printf '%s\n' '{"id":"esc-1","type":"survey","customer":"C0001","at":"2025-12-31T23:00:00Z","touchpoint":"tasting <room> & \"bar\"'"'"'s","feel":6,"nps":9}' \
  >"$TMP/odd.ndjson"
run import --client cafe "$TMP/odd.ndjson"
assert_status "cafe: the survey at the odd touchpoint" 0

CAFE=$OUTDIR/report-html-cafe.html
rm -f "$CAFE"
t0=$SECONDS
run_t 60 report html --client cafe -o "$CAFE"
assert_status "cafe: report html" 0
assert_eq "cafe: says where it wrote" "wrote $CAFE" "$OUT"
echo "cafe: report html in $((SECONDS - t0)) s: $CAFE"
assert_eq "cafe: no partial file left" "" "$(ls "$CAFE.partial" 2>/dev/null)"
check_page "$CAFE" chart-radar chart-grid chart-nps chart-tiers chart-rfm chart-clv chart-holdout chart-uplift
P=$(cat "$CAFE")

# Title and heading: the client and the range of its events.
assert_match "cafe: the title names the client and the dates" "$P" \
  "<title>cafe: customer experience report, 1 January 2025 to 31 December 2025</title>"
assert_contains "cafe: the heading" "$P" "<h1>cafe</h1>"

# Key figures, from the store.
customers=$(q cafe "SELECT COUNT(*) AS n FROM customers")
revenue=$(q cafe "SELECT SUM(amount_cents) AS n FROM events WHERE type = 'purchase'")
assert_contains "cafe: customers" "$P" "<div class=\"label\">Customers</div><div class=\"value\">$(commas "$customers")</div>"
assert_contains "cafe: revenue" "$P" "<div class=\"label\">Revenue</div><div class=\"value\">$(money "$revenue")</div>"

# The radar's numbers: the experience report's means (csv), in the table.
run report experience --client cafe --format csv
while IFS=, read -r section _ _ _ measure score n; do
  [ "$section" = overall ] || continue
  case $measure in
    sense | feel | think | act | relate)
      assert_contains "cafe: $measure's mean $score from $n customers" "$P" \
        "<td>$measure</td><td class=\"num\">$(commas "$n")</td><td class=\"num\">$score</td>" ;;
  esac
done <<<"$OUT"

# The heat map: every touchpoint, escaped; a cell's score written in it.
for tp in social website app counter drive_thru seating barista_class loyalty_club; do
  assert_contains "cafe: touchpoint $tp in the heat map" "$P" ">$tp</text>"
done
assert_contains "cafe: the odd touchpoint, escaped" "$P" "tasting &lt;room&gt; &amp; &quot;bar&quot;&#39;s"
assert_not_contains "cafe: the odd touchpoint, never raw" "$P" "tasting <room>"
cell=$(cx eval --client cafe 'for _, r in ipairs(cx.experience.grid()) do
  if r.touchpoint == "counter" then
    local c = r.cells.act return ("%d %d %.1f"):format(math.floor(c.score + 0.5), c.observations, c.score)
  end end')
read -r cell_whole cell_n cell_score <<<"$cell"
assert_contains "cafe: counter x act, its score in the cell" "$P" ">$cell_whole</text>"
assert_contains "cafe: counter x act in the table" "$P" "<td class=\"num\">$cell_score ($(commas "$cell_n"))</td>"
assert_contains "cafe: the heat map's legend" "$P" "50 neutral</text>"

# NPS by month, counted here from the surveys.
while read -r month answers promoters detractors; do
  passives=$((answers - promoters - detractors))
  score=$(awk -v p="$promoters" -v d="$detractors" -v n="$answers" 'BEGIN {
    s = sprintf("%.1f", 100 * (p - d) / n); if (s + 0 > 0) s = "+" s; print s }')
  assert_contains "cafe: NPS of $month" "$P" \
    "<td>$month</td><td class=\"num\">$answers</td><td class=\"num\">$promoters</td><td class=\"num\">$passives</td><td class=\"num\">$detractors</td><td class=\"num\">$score</td>"
done < <(cx eval --client cafe 'local out = {}
  for _, r in ipairs(cx.query([[SELECT strftime("%Y-%m", at, "unixepoch") AS m, COUNT(*) AS n,
      SUM(json_extract(data, "$.nps") >= 9) AS p, SUM(json_extract(data, "$.nps") <= 6) AS d
      FROM events WHERE type = "survey" AND json_extract(data, "$.nps") IS NOT NULL GROUP BY m ORDER BY m]])) do
    out[#out + 1] = ("%s %d %d %d"):format(r.m, r.n, r.p, r.d)
  end
  return table.concat(out, "\n")')

# Tiers: customers without a tier fact are members.
members=$(q cafe "SELECT COUNT(*) AS n FROM customers c LEFT JOIN facts f ON f.customer_id = c.id
  WHERE COALESCE(json_extract(f.data, '$.loyalty.tier'), 'member') = 'member'")
silver=$(q cafe "SELECT COUNT(*) AS n FROM facts WHERE json_extract(data, '$.loyalty.tier') = 'silver'")
assert_contains "cafe: members" "$P" "<td>member</td><td>0 points</td><td class=\"num\">$(commas "$members")</td>"
assert_contains "cafe: silver" "$P" "<td>silver</td><td>500 points</td><td class=\"num\">$(commas "$silver")</td>"

# RFM: each segment's buyers, and the champions' spend, from the view.
while read -r n seg; do
  assert_contains "cafe: RFM segment $seg" "$P" "$seg</span></td><td class=\"num\">$(commas "$n")</td>"
done < <(cx eval --client cafe 'local out = {}
  for _, r in ipairs(cx.query("SELECT segment, COUNT(*) AS n FROM rfm GROUP BY segment")) do
    out[#out + 1] = r.n .. " " .. r.segment end
  return table.concat(out, "\n")')
champions=$(q cafe "SELECT SUM(monetary_cents) AS n FROM rfm WHERE segment = 'champions'")
assert_contains "cafe: the champions' spend" "$P" "$(money "$champions")"
c55=$(q cafe "SELECT COUNT(*) AS n FROM rfm WHERE r = 5 AND f = 5")
assert_match "cafe: the cell R=5, F=5 in the grid" "$P" ">$c55</text><text [^>]*>champions</text>"

# Campaigns: the same uplift as `cxhost campaign report`, and the arms from the store.
run campaign report --client cafe summer-regulars
if [[ $OUT =~ uplift\ in\ response\ rate:\ ([-+][0-9.]+\ pts)\ \(95%\ CI\ ([-+][0-9.]+\ pts)\ to\ ([-+][0-9.]+\ pts)\) ]]; then
  assert_contains "cafe: summer-regulars' uplift as campaign report has it" "$P" \
    "${BASH_REMATCH[1]} (${BASH_REMATCH[2]} to ${BASH_REMATCH[3]})"
else
  fail "campaign report: no measurable uplift for summer-regulars" "$OUT"
fi
treated=$(q cafe "SELECT COUNT(*) AS n FROM campaign_members m JOIN campaigns k ON k.id = m.campaign_id
  WHERE k.name = 'summer-regulars' AND m.arm = 'treated'")
held=$(q cafe "SELECT COUNT(*) AS n FROM campaign_members m JOIN campaigns k ON k.id = m.campaign_id
  WHERE k.name = 'summer-regulars' AND m.arm = 'holdout'")
assert_contains "cafe: summer-regulars' arms" "$P" "$treated treated, $held held out"
assert_contains "cafe: spring-welcome is not measurable, and says why" "$P" "not measurable: too few holdout customers"

# Value: the histogram's buyers add up to the buyers, the holdout check has its numbers.
buyers=$(q cafe "SELECT COUNT(DISTINCT customer_id) AS n FROM events WHERE type = 'purchase'")
binned=$(grep -oE 'to under \$[0-9.,]+</td><td class="num">[0-9,]+' "$CAFE" | sed -E 's/.*>//; s/,//g' |
  awk '{ s += $1 } END { print s + 0 }')
assert_eq "cafe: the CLV histogram holds every buyer" "$buyers" "$binned"
assert_match "cafe: the holdout check in words" "$P" "it predicted <strong>[0-9,]+</strong>; they made <strong>[0-9,]+</strong>"

# ==================================================================================
# The CDNOW sample: the value section on real data
# ==================================================================================
SAMPLE=$DATA/CDNOW_sample.txt
if [ ! -f "$SAMPLE" ]; then
  fail "the CDNOW sample is missing from $DATA (set CXHOST_DATA_DIR)"
else
  cx client add cdnow >/dev/null
  run import --client cdnow "$SAMPLE"
  assert_status "cdnow: import of the sample" 0
  CD=$OUTDIR/report-html-cdnow.html
  rm -f "$CD"
  t0=$SECONDS
  run_t 60 report html --client cdnow -o "$CD"
  assert_status "cdnow: report html" 0
  echo "cdnow: report html in $((SECONDS - t0)) s: $CD"
  # No surveys, no campaigns: those sections say so, without a chart.
  check_page "$CD" chart-radar chart-grid chart-tiers chart-rfm chart-clv chart-holdout
  P=$(cat "$CD")
  assert_contains "cdnow: the title" "$P" "<title>cdnow: customer experience report, 1 January 1997 to 30 June 1998</title>"
  assert_contains "cdnow: no NPS, in words" "$P" "No NPS answers yet"
  assert_contains "cdnow: no campaigns, in words" "$P" "This client has no campaigns yet."
  assert_not_contains "cdnow: no NPS chart" "$P" 'id="chart-nps"'
  assert_not_contains "cdnow: no uplift chart" "$P" 'id="chart-uplift"'
  # The holdout: repeat purchase days from 1 October 1997 to 30 June 1998, by awk (every
  # customer of the sample first bought in the first quarter of 1997).
  actual=$(awk '{ sub(/\r$/, "") } $3 > 19970930 && $3 <= 19980630 { k[$1 " " $3] = 1 }
    END { n = 0; for (x in k) n++; print n }' "$SAMPLE")
  assert_eq "awk: the sample's holdout purchases (Fader, Hardie & Lee: 1,882)" 1882 "$actual"
  assert_contains "cdnow: the cut-off halfway, the published one" "$P" \
    "Fitted to the purchases up to 30 September 1997 (2,357 buyers)"
  assert_match "cdnow: predicted (about 1,654 at the published parameters) and actual" "$P" \
    "it predicted <strong>1,6[0-9]{2}</strong>; they made <strong>$(commas "$actual")</strong>"
  # The bucket of the customers with no repeat purchase before the cut-off.
  zero=$(awk '{ sub(/\r$/, "") } $3 <= 19970930 { d[$1 " " $3] = 1; c[$1] = 1 }
    END { for (x in d) { split(x, p, " "); n[p[1]]++ } z = 0; for (k in c) if (n[k] == 1) z++; print z }' "$SAMPLE")
  zero_after=$(awk -v z=0 '{ sub(/\r$/, "") } $3 <= 19970930 { d[$1 " " $3] = 1 }
    $3 > 19970930 && $3 <= 19980630 { h[$1 " " $3] = 1 }
    END { for (x in d) { split(x, p, " "); n[p[1]]++ } s = 0
          for (x in h) { split(x, p, " "); if (n[p[1]] == 1) s++ } print s }' "$SAMPLE")
  assert_match "cdnow: bucket 0: buyers and actual purchases, from awk" "$P" \
    "<tr><td>0</td><td class=\"num\">$(commas "$zero")</td><td class=\"num\">[0-9.,]+</td><td class=\"num\">$(commas "$zero_after")</td>"
  # The models, fitted up to the cut-off: the published estimates (Fader, Hardie & Lee 2005;
  # Fader & Hardie's Gamma-Gamma note: p = 6.25, q = 3.74, gamma = 15.44).
  assert_contains "cdnow: BG/NBD as published" "$P" "r = 0.243, alpha = 4.414, a = 0.793, b = 2.426"
  assert_match "cdnow: Gamma-Gamma as published" "$P" "p = 6\.2[45][0-9], q = 3\.7[34][0-9], gamma = 15\.4[34][0-9]"
  binned=$(grep -oE 'to under \$[0-9.,]+</td><td class="num">[0-9,]+' "$CD" | sed -E 's/.*>//; s/,//g' |
    awk '{ s += $1 } END { print s + 0 }')
  assert_eq "cdnow: the CLV histogram holds every buyer" 2357 "$binned"
  assert_contains "cdnow: buyers" "$P" "<div class=\"label\">Buyers</div><div class=\"value\">2,357</div>"
  # --calibration-end and --horizon reach the value section; a bad one is refused, and no
  # file is written.
  run report html --client cdnow --calibration-end 1997-06-30 --horizon 26w -o "$TMP/june.html"
  assert_status "cdnow: --calibration-end 1997-06-30 --horizon 26w" 0
  assert_contains "cdnow: the cut-off given" "$(cat "$TMP/june.html")" "Fitted to the purchases up to 30 June 1997"
  assert_contains "cdnow: the horizon given" "$(cat "$TMP/june.html")" "in the next 26 weeks"
  run report html --client cdnow --calibration-end 1997-13-45 -o "$TMP/bad.html"
  assert_status "cdnow: a bad --calibration-end" 1
  assert_contains "cdnow: says which" "$ERR" "--calibration-end '1997-13-45' is not a valid time"
  assert_eq "cdnow: no page for a bad option" "" "$(ls "$TMP"/bad.html* 2>/dev/null)"
fi

# ==================================================================================
# A client without events; -o to a folder that is not there
# ==================================================================================
cx client add empty >/dev/null
EMPTY=$TMP/empty.html
run report html --client empty -o "$EMPTY"
assert_status "empty: report html" 0
check_page "$EMPTY"
assert_contains "empty: says there is nothing yet" "$(cat "$EMPTY")" "This client has no events yet"
run report html --client cafe -o "$TMP/no/such/folder/report.html"
assert_status "-o into a missing folder" 1
assert_eq "-o into a missing folder: no file" "" "$(ls "$TMP/no/such/folder" 2>/dev/null)"

# ==================================================================================
# Headless Chromium
# ==================================================================================
browse "$CAFE" "$OUTDIR/report-html.png" chart-radar chart-grid chart-nps chart-tiers chart-rfm chart-clv \
  chart-holdout chart-uplift
if [ -f "${CD:-}" ]; then
  browse "$CD" "$OUTDIR/report-html-cdnow.png" chart-radar chart-grid chart-tiers chart-rfm chart-clv chart-holdout
fi

echo "test output: $OUTDIR (report-html.png, report-html-cdnow.png and the pages)"
echo "time after chromium was there: $((SECONDS - STARTED)) s"
if [ $((SECONDS - STARTED)) -gt 60 ]; then
  fail "the test took $((SECONDS - STARTED)) s, over its 60 s"
fi
finish
