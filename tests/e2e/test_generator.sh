#!/usr/bin/env bash
# test_generator.sh: scripts/gen-experience.lua, the synthetic event stream for
# the experience modules (docs/generator.md).
#
# The same options give the same bytes, another seed other bytes; the defaults
# are what --help says; both scenarios import with `cxhost import --format
# ndjson`, every event counted, and a second import adds nothing; each scenario
# uses every event type of its vocabulary and only those, and the values stay
# in their ranges (ratings 1..7, nps 0..10 with promoters, passives and
# detractors, csat 1..5, severity 1..3, amounts, audits without a customer);
# episodes belong to one customer; times are sorted and inside the window;
# --config writes Lua that returns the scenario's touchpoints; --help exits 0
# and a bad option exits 2, naming it.
#
# It needs the lua5.4 interpreter (scripts/install-deps.sh installs it).
. "$(dirname "$0")/lib.sh"

if ! command -v lua5.4 >/dev/null; then
  echo "FAIL: the lua5.4 interpreter is not installed (scripts/install-deps.sh installs it);"
  echo "      scripts/gen-experience.lua cannot be tested without it"
  exit 1
fi

GEN=$SRC/scripts/gen-experience.lua
GOUT=
GERR=
GRC=0

# gen ARGS...: runs the generator; stdout goes to $TMP/gen.out (also $GOUT
# when small), stderr to $GERR, the exit status to $GRC.
gen() {
  lua5.4 "$GEN" "$@" >"$TMP/gen.out" 2>"$TMP/gen.err"
  GRC=$?
  GERR=$(cat "$TMP/gen.err")
  GOUT=$(head -c 20000 "$TMP/gen.out")
}

# 41039 -> 41,039, as cxhost prints counts.
commas() {
  sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta' <<<"$1"
}

lines_of() {
  wc -l <"$1" | tr -d ' '
}

# --- --help and bad options --------------------------------------------------------
gen --help
assert_eq "--help: exit status" 0 "$GRC"
assert_contains "--help: usage" "$GOUT" "usage:"
for opt in --scenario --seed --customers --start --days --config --help; do
  assert_contains "--help names $opt" "$GOUT" "$opt"
done
assert_eq "--help: nothing on stderr" "" "$GERR"

# args | what stderr must name
bad_cases=(
  "--seeds 7|--seeds"
  "--scenario tea|--scenario"
  "--scenario|--scenario"
  "--seed abc|--seed"
  "--seed -3|--seed"
  "--seed 1.5|--seed"
  "--customers 0|--customers"
  "--customers many|--customers"
  "--days 0|--days"
  "--days 99999|--days"
  "--start 2025-02-30|--start"
  "--start 2025-13-01|--start"
  "--start 25-01-01|--start"
  "--start 1969-12-31|--start"
  "--config|--config"
  "--seed 1 --seed 2|--seed"
  "--help=yes|--help"
  "stray|stray"
  "-x|-x"
)
for c in "${bad_cases[@]}"; do
  args=${c%%|*}
  needle=${c#*|}
  # shellcheck disable=SC2086 # the arguments are split on purpose
  gen $args
  assert_eq "bad option '$args': exit status" 2 "$GRC"
  assert_contains "bad option '$args': stderr names it" "$GERR" "$needle"
  assert_eq "bad option '$args': no events written" "" "$GOUT"
done
gen --config "$TMP/no/such/folder/config.lua" --days 1
assert_eq "--config into a missing folder: exit status 1" 1 "$GRC"
assert_contains "--config into a missing folder: says which file" "$GERR" "$TMP/no/such/folder/config.lua"

# --- each scenario -------------------------------------------------------------------
# What each scenario must give. Touchpoints: "name stage provider", sorted by
# name.
declare -A TOUCHPOINTS TYPES CENTS CUSTOMERS
TOUCHPOINTS[coffee]='app during website
barista_class after people
counter during people
drive_thru during people
loyalty_club after communications
seating during spatial environment
social before communications
website before website'
TOUCHPOINTS[property]='after_sales after people
community_events after co-branding
contract_signing during people
handover after product presence
sales_office before people
show_flat before spatial environment
website before website'
TYPES[coffee]="app_open audit club_join community complaint compliment content demo purchase question referral share survey trial visit workshop"
TYPES[property]="audit club_join community complaint compliment content demo purchase question referral share survey trial visit workshop"
CENTS[coffee]="250 1200"             # 2.50 to 12.00
CENTS[property]="500000 8000000"     # 5,000.00 to 80,000.00
CUSTOMERS[coffee]=300
CUSTOMERS[property]=120

# Prints the --config file $1 as "name stage provider" lines, sorted, after
# checking with lua5.4 that it is a chunk returning { touchpoints = {...} }.
config_lines() {
  CFG=$1 lua5.4 -e '
    local t = dofile(os.getenv("CFG"))
    assert(type(t) == "table", "the file does not return a table")
    assert(type(t.touchpoints) == "table", "no touchpoints table")
    local names = {}
    for name, tp in pairs(t.touchpoints) do
      assert(type(name) == "string" and type(tp) == "table", "bad entry")
      names[#names + 1] = name
    end
    table.sort(names)
    for _, name in ipairs(names) do
      local tp = t.touchpoints[name]
      print(name .. " " .. tostring(tp.stage) .. " " .. tostring(tp.provider))
    end' 2>&1
}

START=1735689600 # 2025-01-01T00:00:00Z
END=$((START + 365 * 86400))

for sc in coffee property; do
  ev=$TMP/$sc.ndjson
  gen --scenario "$sc" --config "$TMP/$sc-config.lua"
  cp "$TMP/gen.out" "$ev"
  assert_eq "$sc: exit status" 0 "$GRC"
  assert_eq "$sc: nothing on stderr" "" "$GERR"
  n=$(lines_of "$ev")
  if [ "$n" -gt 1000 ]; then pass; else fail "$sc: only $n events at the default options"; fi

  # Deterministic: the same options twice give the same bytes; the config
  # changes nothing in the events; another seed changes them.
  gen --scenario "$sc" --config "$TMP/$sc-config2.lua"
  if cmp -s "$ev" "$TMP/gen.out"; then pass; else fail "$sc: the same seed gave different events"; fi
  if cmp -s "$TMP/$sc-config.lua" "$TMP/$sc-config2.lua"; then pass; else fail "$sc: the same config twice differs"; fi
  gen --scenario "$sc"
  if cmp -s "$ev" "$TMP/gen.out"; then pass; else fail "$sc: --config changed the events"; fi
  gen --scenario "$sc" --seed 42 --customers "${CUSTOMERS[$sc]}" --start 2025-01-01 --days 365
  if cmp -s "$ev" "$TMP/gen.out"; then pass; else fail "$sc: the defaults are not seed 42, ${CUSTOMERS[$sc]} customers, 2025-01-01, 365 days"; fi
  gen --scenario "$sc" --seed 43
  assert_eq "$sc --seed 43: exit status" 0 "$GRC"
  if ! cmp -s "$ev" "$TMP/gen.out" && [ -s "$TMP/gen.out" ]; then pass; else fail "$sc: seed 43 gave the same events as seed 42"; fi

  # Sorted by time, inside the window.
  if grep -o '"at":"[^"]*"' "$ev" | LC_ALL=C sort -c 2>/dev/null; then pass; else fail "$sc: events not sorted by time"; fi
  assert_eq "$sc: every line has an at" "$n" "$(grep -c '"at":"20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z"' "$ev")"

  # The config file: Lua returning the scenario's touchpoints.
  assert_eq "$sc: --config touchpoints" "${TOUCHPOINTS[$sc]}" "$(config_lines "$TMP/$sc-config.lua")"

  # Import: every line is an event; again, nothing new.
  cx client add "$sc" >/dev/null
  run import --client "$sc" --format ndjson "$ev"
  assert_status "$sc: import" 0
  assert_contains "$sc: import counts" "$OUT" "imported $(commas "$n") new events"
  assert_contains "$sc: import rejects nothing" "$OUT" "(0 already there, 0 rejected)"
  assert_eq "$sc: events in the store" "$n" "$(q "$sc" 'SELECT COUNT(*) AS n FROM events')"
  run import --client "$sc" --format ndjson "$ev"
  assert_status "$sc: import again" 0
  assert_contains "$sc: import again adds nothing" "$OUT" "imported 0 new events"
  assert_contains "$sc: import again: all already there" "$OUT" "($(commas "$n") already there, 0 rejected)"
  assert_eq "$sc: events in the store after importing again" "$n" "$(q "$sc" 'SELECT COUNT(*) AS n FROM events')"

  # The event types: every one of the scenario's, and no other.
  assert_eq "$sc: event types" "${TYPES[$sc]}" \
    "$(q "$sc" 'SELECT group_concat(type, " ") AS n FROM (SELECT DISTINCT type FROM events ORDER BY type)')"
  for t in ${TYPES[$sc]}; do
    got=$(q "$sc" 'SELECT COUNT(*) AS n FROM events WHERE type = ?1' "$t")
    if [[ $got =~ ^[0-9]+$ ]] && [ "$got" -gt 0 ]; then pass; else fail "$sc: no '$t' event" "$got"; fi
  done

  # Touchpoints: every event has one, from the config.
  assert_eq "$sc: events without a touchpoint" 0 "$(q "$sc" 'SELECT COUNT(*) AS n FROM events WHERE touchpoint_id IS NULL')"
  assert_eq "$sc: the touchpoints used are the config's" "$(cut -d' ' -f1 <<<"${TOUCHPOINTS[$sc]}" | tr '\n' ' ' | sed 's/ $//')" \
    "$(q "$sc" 'SELECT group_concat(name, " ") AS n FROM (SELECT name FROM touchpoints ORDER BY name)')"

  # Customers and audits.
  assert_eq "$sc: audits have no customer" 0 \
    "$(q "$sc" 'SELECT COUNT(*) AS n FROM events WHERE type = ?1 AND customer_id IS NOT NULL' audit)"
  assert_eq "$sc: every other event has a customer" 0 \
    "$(q "$sc" 'SELECT COUNT(*) AS n FROM events WHERE type <> ?1 AND customer_id IS NULL' audit)"
  assert_eq "$sc: customer ids are C and a number up to --customers" 0 \
    "$(q "$sc" 'SELECT COUNT(*) AS n FROM customers WHERE external_id NOT GLOB ?1 OR CAST(substr(external_id, 2) AS INTEGER) NOT BETWEEN 1 AND ?2' 'C[0-9][0-9][0-9][0-9]' "${CUSTOMERS[$sc]}")"
  assert_eq "$sc: times inside 2025" 0 \
    "$(q "$sc" 'SELECT COUNT(*) AS n FROM events WHERE at < ?1 OR at >= ?2' "$START" "$END")"

  # Money: purchases only, in range.
  read -r lo hi <<<"${CENTS[$sc]}"
  assert_eq "$sc: purchase amounts from $lo to $hi cents" 0 \
    "$(q "$sc" 'SELECT COUNT(*) AS n FROM events WHERE type = ?1 AND (amount_cents IS NULL OR amount_cents < CAST(?2 AS INTEGER) OR amount_cents > CAST(?3 AS INTEGER))' purchase "$lo" "$hi")"
  assert_eq "$sc: only purchases have an amount" 0 \
    "$(q "$sc" 'SELECT COUNT(*) AS n FROM events WHERE type <> ?1 AND amount_cents IS NOT NULL' purchase)"
  assert_eq "$sc: amounts are decimal text with two decimals" "$(grep -c '"amount":' "$ev")" \
    "$(grep -cE '"amount":"[0-9]+\.[0-9]{2}"' "$ev")"

  # Surveys: at least one answer, each in its range; NPS of every kind.
  assert_eq "$sc: surveys without an answer" 0 \
    "$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE type = 'survey' AND coalesce(json_extract(data, '\$.sense'), json_extract(data, '\$.feel'), json_extract(data, '\$.think'), json_extract(data, '\$.act'), json_extract(data, '\$.relate'), json_extract(data, '\$.nps'), json_extract(data, '\$.csat')) IS NULL")"
  for dim in sense feel think act relate; do
    assert_eq "$sc: survey $dim in 1..7, a whole number" 0 \
      "$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE type = 'survey' AND json_type(data, '\$.$dim') IS NOT NULL AND (json_type(data, '\$.$dim') <> 'integer' OR json_extract(data, '\$.$dim') NOT BETWEEN 1 AND 7)")"
    got=$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE type = 'survey' AND json_extract(data, '\$.$dim') IS NOT NULL")
    if [[ $got =~ ^[0-9]+$ ]] && [ "$got" -gt 0 ]; then pass; else fail "$sc: no survey rates $dim" "$got"; fi
  done
  assert_eq "$sc: nps in 0..10" 0 \
    "$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE json_type(data, '\$.nps') IS NOT NULL AND (json_type(data, '\$.nps') <> 'integer' OR json_extract(data, '\$.nps') NOT BETWEEN 0 AND 10)")"
  assert_eq "$sc: csat in 1..5" 0 \
    "$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE json_type(data, '\$.csat') IS NOT NULL AND (json_type(data, '\$.csat') <> 'integer' OR json_extract(data, '\$.csat') NOT BETWEEN 1 AND 5)")"
  for kind in "promoters|9 AND 10" "passives|7 AND 8" "detractors|0 AND 6"; do
    got=$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE type = 'survey' AND json_extract(data, '\$.nps') BETWEEN ${kind#*|}")
    if [[ $got =~ ^[0-9]+$ ]] && [ "$got" -gt 0 ]; then pass; else fail "$sc: no nps answers from ${kind%|*}" "$got"; fi
  done

  # Complaints: severity 1..3; a bit of every severity.
  assert_eq "$sc: complaint severity in 1..3" 0 \
    "$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE type = 'complaint' AND (json_type(data, '\$.severity') IS NOT 'integer' OR json_extract(data, '\$.severity') NOT BETWEEN 1 AND 3)")"
  assert_eq "$sc: complaints of severity 1, 2 and 3" 3 \
    "$(q "$sc" "SELECT COUNT(DISTINCT json_extract(data, '\$.severity')) AS n FROM events WHERE type = 'complaint'")"

  # Audits: senses only, 1..7.
  assert_eq "$sc: audits rate at least one sense" 0 \
    "$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE type = 'audit' AND coalesce(json_extract(data, '\$.sight'), json_extract(data, '\$.sound'), json_extract(data, '\$.smell'), json_extract(data, '\$.taste'), json_extract(data, '\$.touch')) IS NULL")"
  for sense in sight sound smell taste touch; do
    assert_eq "$sc: audit $sense in 1..7" 0 \
      "$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE type = 'audit' AND json_type(data, '\$.$sense') IS NOT NULL AND (json_type(data, '\$.$sense') <> 'integer' OR json_extract(data, '\$.$sense') NOT BETWEEN 1 AND 7)")"
  done

  # Episodes: one customer each; some have several rated moments.
  assert_eq "$sc: an episode belongs to one customer" 0 \
    "$(q "$sc" "SELECT COUNT(*) AS n FROM (SELECT json_extract(data, '\$.episode') AS e FROM events WHERE e IS NOT NULL GROUP BY e HAVING COUNT(DISTINCT customer_id) > 1)")"
  got=$(q "$sc" "SELECT COUNT(*) AS n FROM (SELECT json_extract(data, '\$.episode') AS e FROM events WHERE type = 'survey' AND e IS NOT NULL GROUP BY e HAVING COUNT(*) >= 2)")
  if [[ $got =~ ^[0-9]+$ ]] && [ "$got" -gt 0 ]; then pass; else fail "$sc: no episode with two rated moments" "$got"; fi
  got=$(q "$sc" "SELECT COUNT(*) AS n FROM events WHERE type = 'visit' AND json_extract(data, '\$.episode') IS NULL")
  assert_eq "$sc: every visit is in an episode" 0 "$got"
done

# Taste only where there is something to taste.
assert_eq "coffee: taste audited at the counter and the drive-thru" "counter drive_thru" \
  "$(q coffee "SELECT group_concat(name, ' ') AS n FROM (SELECT DISTINCT t.name FROM events e JOIN touchpoints t ON t.id = e.touchpoint_id WHERE json_extract(e.data, '\$.taste') IS NOT NULL ORDER BY t.name)")"
assert_eq "property: no taste audits" 0 \
  "$(q property "SELECT COUNT(*) AS n FROM events WHERE json_extract(data, '\$.taste') IS NOT NULL")"
# A bad handover brings after-sales complaints.
got=$(q property "SELECT COUNT(*) AS n FROM events e JOIN touchpoints t ON t.id = e.touchpoint_id WHERE e.type = 'complaint' AND t.name = 'after_sales'")
if [[ $got =~ ^[0-9]+$ ]] && [ "$got" -gt 0 ]; then pass; else fail "property: no after-sales complaints" "$got"; fi

# --- the window and the number of customers ---------------------------------------
gen --scenario coffee --start 2024-02-25 --days 10 --customers 40 --seed 7
assert_eq "a 10-day window: exit status" 0 "$GRC"
ats=$(grep -o '"at":"[^"]*"' "$TMP/gen.out" | cut -d'"' -f4)
assert_match "a 10-day window: first event on or after 2024-02-25" "$(head -n 1 <<<"$ats")" '^2024-0(2-2[5-9]|3-0[1-5])T'
assert_match "a 10-day window: last event before 2024-03-06" "$(tail -n 1 <<<"$ats")" '^2024-0(2-2[5-9]|3-0[1-5])T'
assert_contains "a 10-day window: the leap day is there" "$ats" "2024-02-29T"
cp "$TMP/gen.out" "$TMP/window.ndjson"
cx client add window >/dev/null
run import --client window --format ndjson "$TMP/window.ndjson"
assert_status "a 10-day window: import" 0
# 2024-02-25T00:00:00Z is 1708819200; ten days later is 1709683200.
assert_eq "a 10-day window: the times cxhost reads are inside it" 0 \
  "$(q window 'SELECT COUNT(*) AS n FROM events WHERE at < 1708819200 OR at >= 1709683200')"
customers=$(grep -o '"customer":"[^"]*"' "$TMP/gen.out" | sort -u | cut -d'"' -f4 | tr '\n' ' ')
if [ -n "$customers" ] && ! grep -qvE '^C00(0[1-9]|[1-3][0-9]|40)$' <<<"$(tr ' ' '\n' <<<"${customers% }")"; then
  pass
else
  fail "--customers 40: customer ids other than C0001..C0040" "$customers"
fi

finish
