#!/usr/bin/env bash
# test_experience.sh: the experience modules through the cxhost command:
# generated data with its touchpoints file, `report experience` in its three
# formats and its errors, config.lua's touchpoints and their errors, the
# same scores whether events come in one import or two, and a taken-back
# event leaving no trace in the experience cells.
. "$(dirname "$0")/lib.sh"

GEN="$SRC/scripts/gen-experience.lua"
if ! command -v lua5.4 >/dev/null; then
  echo "lua5.4 is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

# --- generated data, its touchpoints, the report --------------------------------------------
cx client add prop >/dev/null
lua5.4 "$GEN" --scenario property --customers 30 --days 200 --config "$H/clients/prop/config.lua" >"$TMP/prop.ndjson"
run import --client prop "$TMP/prop.ndjson"
assert_status "import of generated property events" 0
assert_eq "the touchpoints file is applied: stages" "7" \
  "$(q prop "SELECT COUNT(*) AS n FROM touchpoints WHERE stage IS NOT NULL AND provider IS NOT NULL")"
assert_eq "handover is after purchase" "after" \
  "$(cx eval --client prop 'return cx.query("SELECT stage FROM touchpoints WHERE name = ?1", "handover")[1].stage')"

run report experience --client prop
assert_status "report (table)" 0
assert_match "title" "$OUT" "^Experience of client prop, as of [0-9]{4}-[0-9]{2}-[0-9]{2}"
assert_contains "modules section" "$OUT" "Modules (customers' scores, 0-100)"
assert_contains "stages section" "$OUT" "By lifecycle stage"
assert_contains "NPS section" "$OUT" "NPS"
assert_contains "grid section" "$OUT" "Experience grid (touchpoint x module: score (observations))"
assert_match "the show flat is in the grid, before purchase" "$OUT" "show_flat +before +spatial environment"
# The customers line agrees with the store.
want=$(q prop "SELECT COUNT(DISTINCT customer_id) AS n FROM customer_state WHERE plugin IN ('sense','feel','think','act','relate')")
assert_match "customers line" "$OUT" "  $want customers with experience scores"

run report experience --client prop --format csv
assert_status "report (csv)" 0
assert_eq "csv header" "section,stage,touchpoint,provider,measure,score,observations" "$(head -1 <<<"$OUT")"
assert_match "csv: an overall NPS row" "$OUT" $'\n''overall,,,,nps,-?[0-9]+\.[0-9],[0-9]+'
assert_match "csv: a grid row" "$OUT" $'\n''grid,before,show_flat,spatial environment,feel,[0-9]+\.[0-9],[0-9]+'
# Every grid row's observations add up to the experience cells' (modules only).
sum_csv=$(awk -F, '$1 == "grid" { n += $7 } END { print n }' <<<"$OUT")
assert_eq "csv grid observations = cells in the store" \
  "$(q prop "SELECT SUM(observations) AS n FROM experience_cells WHERE measure IN ('sense','feel','think','act','relate')")" \
  "$sum_csv"

run report experience --client prop --format json
assert_status "report (json)" 0
assert_eq "json: one line" "1" "$(wc -l <<<"$OUT" | tr -d ' ')"
assert_eq "json reads back, with the summary's NPS answers" \
  "$(q prop "SELECT SUM(observations) AS n FROM experience_cells WHERE measure = 'nps'")" \
  "$(cx eval --client prop "return cx.json.decode([==[$OUT]==]).summary.nps.overall.answers")"

run report experience --client prop --format xml
assert_status "a bad --format" 2
assert_contains "names the format" "$ERR" "--format 'xml' is not a format (table, csv or json)"
run report experience --client prop --as-of 2000-01-01
assert_status "an --as-of before the latest event" 1
assert_contains "says why" "$ERR" "cxhost report: --as-of 2000-01-01 is before the latest event"
assert_not_contains "a user's mistake, not a traceback" "$ERR" "traceback"
run report experience --client prop --as-of 2000-02-30
assert_status "an --as-of that is no time" 2
assert_contains "says so" "$ERR" "--as-of '2000-02-30' is not a valid time"
assert_eq "profile and summary take a time as text too" "ok" \
  "$(cx eval --client prop 'local p = cx.experience.profile("C0001", "2099-01-01") return p and p.as_of == cx.time.parse("2099-01-01") and "ok"')"
run report experience --client prop --as-of 2099-01-01
assert_status "a later --as-of" 0
assert_contains "as of that day" "$OUT" "as of 2099-01-01"

cx client add empty >/dev/null
run report experience --client empty
assert_status "report of an empty client" 0
assert_contains "says there is nothing yet" "$OUT" "No experience observations yet"

# --- one import or two: the same scores ----------------------------------------------------
lua5.4 "$GEN" --customers 25 --days 40 >"$TMP/coffee.ndjson"
lines=$(wc -l <"$TMP/coffee.ndjson")
head -n $((lines / 2)) "$TMP/coffee.ndjson" >"$TMP/first.ndjson"
tail -n +$((lines / 2 + 1)) "$TMP/coffee.ndjson" >"$TMP/second.ndjson"
cx client add whole >/dev/null
cx client add halves >/dev/null
cx import --client whole "$TMP/coffee.ndjson" >/dev/null
cx import --client halves "$TMP/first.ndjson" >/dev/null
cx import --client halves "$TMP/second.ndjson" >/dev/null
run report experience --client whole --format csv
whole=$OUT
run report experience --client halves --format csv
assert_eq "two imports give the report of one" "$whole" "$OUT"
state_sql="SELECT group_concat(c.external_id || ':' || s.plugin || ':' || s.facts, '|') AS n FROM (SELECT * FROM customer_state ORDER BY customer_id, plugin) s JOIN customers c ON c.id = s.customer_id WHERE s.plugin IN ('sense','feel','think','act','relate')"
assert_eq "and the same facts, to the last digit" "$(q whole "$state_sql")" "$(q halves "$state_sql")"

# --- a taken-back event leaves no trace in the cells -----------------------------------------
cx client add tb >/dev/null
mkdir -p "$H/clients/tb/plugins"
cat >"$H/clients/tb/plugins/refuse.lua" <<'LUA'
return {
  name = "refuse", version = "1", order = 100,
  on_event = function(ev, ctx)
    if ev.id == "s2" then error("refused on purpose") end
  end,
}
LUA
cat >"$TMP/tb.ndjson" <<'JSON'
{"id":"a1","type":"audit","at":"2025-01-01T08:00:00Z","touchpoint":"counter","sight":7,"sound":4}
{"id":"s1","type":"survey","customer":"C1","at":"2025-01-01T09:00:00Z","touchpoint":"counter","feel":7,"nps":10}
{"id":"s2","type":"survey","customer":"C2","at":"2025-01-01T10:00:00Z","touchpoint":"counter","feel":1,"nps":0,"sense":1}
{"id":"s3","type":"survey","customer":"C3","at":"2025-01-01T11:00:00Z","touchpoint":"counter","feel":4}
JSON
run import --client tb --skip-bad "$TMP/tb.rejects" "$TMP/tb.ndjson"
assert_status "import with one refused survey" 0
assert_eq "one line rejected, the refused survey's (line 3)" "3" "$(cut -f1 "$TMP/tb.rejects")"
assert_contains "its reason" "$(cat "$TMP/tb.rejects")" "refused on purpose"
assert_eq "sense at the counter: the audit's two senses only" "2" \
  "$(q tb "SELECT observations AS n FROM experience_cells WHERE measure = 'sense'")"
assert_eq "feel at the counter: s1 and s3 (and s1's NPS), not s2" "3" \
  "$(q tb "SELECT observations AS n FROM experience_cells WHERE measure = 'feel'")"
assert_eq "NPS: s1's answer only" "1 1 0" \
  "$(cx eval --client tb 'local r = cx.query("SELECT observations, high, low FROM experience_cells WHERE measure = ?1", "nps")[1] return r.observations .. " " .. r.high .. " " .. r.low')"
assert_eq "no facts for C2" "0" \
  "$(q tb "SELECT COUNT(*) AS n FROM customer_state s JOIN customers c ON c.id = s.customer_id WHERE c.external_id = 'C2'")"

# --- config.lua's touchpoints: errors name the file and the field ----------------------------
cx client add bad >/dev/null
printf 'return { touchpoints = { shop = { stage = "durin" } } }\n' >"$H/clients/bad/config.lua"
run plugins --client bad
assert_status "a wrong stage" 1
assert_contains "names the file and field" "$ERR" \
  "clients/bad/config.lua: touchpoints.shop.stage: 'durin' is not a stage (before, during, after)"
printf 'return { touchpoints = { shop = { provider = "music" } } }\n' >"$H/clients/bad/config.lua"
run plugins --client bad
assert_status "a wrong provider" 1
assert_contains "lists the providers" "$ERR" \
  "touchpoints.shop.provider: 'music' is not a provider (communications, visual identity, product presence, co-branding, spatial environment, website, people)"
printf 'return { touchpoints = "shop" }\n' >"$H/clients/bad/config.lua"
run plugins --client bad
assert_status "touchpoints not a table" 1
assert_contains "says what it should be" "$ERR" "touchpoints must be a table"
printf 'return { feel = { types = { complaint = "many" } } }\n' >"$H/clients/bad/config.lua"
run plugins --client bad
assert_status "a weight that is not a number" 1
assert_contains "names the setting" "$ERR" "config.lua: feel.types.complaint must be a number, not a string"
printf 'return { feel = { half_life_days = -1 } }\n' >"$H/clients/bad/config.lua"
run plugins --client bad
assert_status "a half-life below 0" 1
assert_contains "names the setting and its range" "$ERR" \
  "config.lua: feel.half_life_days must be a number from 0 to 36500, not -1"
printf 'return { think = { types = { demo = -2 } } }\n' >"$H/clients/bad/config.lua"
run plugins --client bad
assert_status "a negative weight" 1
assert_contains "names the type" "$ERR" "config.lua: think.types.demo must be a number from 0 to 1000000, not -2"
printf 'return {}\n' >"$H/clients/bad/config.lua"
assert_eq "nothing was written to the bad client's store" "0" "$(q bad "SELECT COUNT(*) AS n FROM touchpoints")"

# --- feel's survey weight 0: no feel ratings, NPS and CSAT still counted ----------------------
cx client add nofeel >/dev/null
printf 'return { feel = { types = { survey = 0 } } }\n' >"$H/clients/nofeel/config.lua"
printf '%s\n' '{"id":"n1","type":"survey","customer":"C1","at":"2025-01-01T09:00:00Z","feel":7,"nps":9,"csat":5}' \
  >"$TMP/nofeel.ndjson"
run import --client nofeel "$TMP/nofeel.ndjson"
assert_status "import" 0
assert_eq "the NPS answer is counted" "1" "$(q nofeel "SELECT observations AS n FROM experience_cells WHERE measure = 'nps'")"
assert_eq "the CSAT answer too" "1" "$(q nofeel "SELECT observations AS n FROM experience_cells WHERE measure = 'csat'")"
assert_eq "feel observes the NPS only, not the rating" "1" \
  "$(cx eval --client nofeel 'return cx.customer("C1").facts.feel.observations')"
assert_eq "the report says 1 customer" "  1 customer with experience scores" \
  "$(cx report experience --client nofeel | sed -n 2p)"

finish
