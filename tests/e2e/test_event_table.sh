#!/usr/bin/env bash
# test_event_table.sh: the `ev` table plugins receive. One table per event,
# shared by the plugins that handle it; `id` and `data` filled in when first
# read (and by pairs and cx.json.encode), and refused, with a clear error,
# when first read after the event; `episode` read out of data. Also: customers met in a first import
# (when the store starts empty) are found without a query, and a taken-back
# event's new customer is not left half-known.
. "$(dirname "$0")/lib.sh"

cat >"$TMP/ev.ndjson" <<'JSON'
{"id":"e1","type":"survey","customer":"c1","at":"2024-01-01T10:00:00Z","touchpoint":"web","nps":9,"note":"fine"}
{"id":"e2","type":"purchase","customer":"c2","at":"2024-01-02T10:00:00Z","amount":"12.50"}
{"id":"e3","type":"note","customer":"c2","at":"2024-01-03T10:00:00Z","shop":"north"}
JSON

# --- shared, lazy, complete through pairs ------------------------------------------------
cx client add ev >/dev/null
plugin ev a_first.lua <<'LUA'
kept = nil
return {
  name = "first", version = "1", order = 1,
  on_event = function(ev, ctx)
    ev.seen_by_first = true          -- the next plugin sees the same table
    if ev.type == "note" then        -- keeps the note, reading its id only
      kept = ev
      return ctx.log("note id=" .. ev.id)
    end
    ctx.log(ev.type .. " id=" .. ev.id .. " nps=" .. tostring(ev.data.nps))
  end,
  on_refresh = function(ctx)
    -- The note was handled before: its id was read then, its data never.
    ctx.log("kept id " .. kept.id)
    local ok, why = pcall(function() return kept.data end)
    ctx.log("kept data: " .. tostring(ok) .. " " .. tostring(why))
  end,
}
LUA
plugin ev b_second.lua <<'LUA'
return {
  name = "second", version = "1", order = 2,
  events = { "survey", "purchase" },
  on_event = function(ev, ctx)
    local keys = {}
    for k in pairs(ev) do keys[#keys + 1] = k end
    table.sort(keys)
    ctx.log("shared=" .. tostring(ev.seen_by_first) .. " keys=" .. table.concat(keys, ","))
    ctx.log(cx.json.encode(ev))
  end,
}
LUA
run import --client ev "$TMP/ev.ndjson"
assert_status "import" 0
assert_contains "first reads id and data" "$ERR" "ev/first: survey id=e1 nps=9"
assert_contains "first: no data is an empty table" "$ERR" "ev/first: purchase id=e2 nps=nil"
assert_contains "second sees first's table, and pairs sees id and data" "$ERR" \
  "ev/second: shared=true keys=at,customer,data,id,seen_by_first,touchpoint,type"
assert_contains "JSON of ev has every field" "$ERR" \
  'ev/second: {"at":1704103200,"customer":"c1","data":{"note":"fine","nps":9},"id":"e1","seen_by_first":true,"touchpoint":"web","type":"survey"}'
assert_contains "JSON of a purchase" "$ERR" \
  'ev/second: {"amount_cents":1250,"at":1704189600,"customer":"c2","data":{},"id":"e2","seen_by_first":true,"type":"purchase"}'
assert_contains "a field read during the event stays" "$ERR" "ev/first: kept id e3"
assert_contains "a field first read after the event is refused, saying why" "$ERR" \
  "ev/first: kept data: false"
assert_contains "the refusal names the field and the cure" "$ERR" \
  "ev.data is read after its event was handled; read it in on_event (local id = ev.id) to keep it"

# --- ev.episode: data's episode without decoding data ---------------------------------------
cx client add ep >/dev/null
cat >"$TMP/ep.ndjson" <<'JSON'
{"id":"v1","type":"visit","customer":"c1","at":"2024-01-01T10:00:00Z","episode":"trip-7","act":6}
{"id":"v2","type":"visit","customer":"c1","at":"2024-01-01T10:05:00Z","episode":42}
{"id":"v3","type":"visit","customer":"c1","at":"2024-01-01T10:10:00Z","note":"no episode"}
{"id":"v4","type":"visit","customer":"c1","at":"2024-01-01T10:15:00Z","episode":"first"}
JSON
plugin ep a_reader.lua <<'LUA'
return {
  name = "reader", version = "1", order = 1,
  on_event = function(ev, ctx)
    -- v4: data is decoded and changed first; episode then follows data.
    if ev.id == "v4" then ev.data.episode = "changed" end
    ctx.log(ev.id .. " episode=" .. tostring(ev.episode) .. " " .. tostring(math.type(ev.episode)) .. "|" .. type(ev.episode))
  end,
}
LUA
run import --client ep "$TMP/ep.ndjson"
assert_status "import with episodes" 0
assert_contains "a text episode" "$ERR" "ep/reader: v1 episode=trip-7 nil|string"
assert_contains "a number episode keeps its type" "$ERR" "ep/reader: v2 episode=42 integer|number"
assert_contains "no episode: nil" "$ERR" "ep/reader: v3 episode=nil nil|nil"
assert_contains "after a change to ev.data, ev.episode follows it" "$ERR" "ep/reader: v4 episode=changed nil|string"
# A key written with escapes is still found; data without the word at all
# is not scanned (and has no episode).
cx client add ep2 >/dev/null
printf '%s\n' '{"id":"w1","type":"visit","customer":"c1","at":"2024-01-01T10:00:00Z","\u0065pisode":"esc"}' \
  '{"id":"w2","type":"visit","customer":"c1","at":"2024-01-01T10:05:00Z","quantity":2}' >"$TMP/ep2.ndjson"
cp "$H/clients/ep/plugins/a_reader.lua" "$H/clients/ep2/plugins/"
run import --client ep2 "$TMP/ep2.ndjson"
assert_status "import with an escaped episode key" 0
assert_contains "an escaped key" "$ERR" "ep2/reader: w1 episode=esc nil|string"
assert_contains "no episode, nothing like it in data: nil" "$ERR" "ep2/reader: w2 episode=nil nil|nil"
assert_eq "act observed the four visits" "4" \
  "$(q ep "SELECT json_extract(facts, '$.observations') AS n FROM customer_state WHERE plugin = 'act'")"
assert_eq "act's open episode is v4's, as changed by the plugin before it" "changed" \
  "$(q ep "SELECT json_extract(facts, '$.episode') AS n FROM customer_state WHERE plugin = 'act'")"

# --- the store's map of customers in a first import ---------------------------------------
# c1 twice (found in the map), c2 new; with --skip-bad a failing event of a
# new customer c9 is taken back (and the map with it), after which c1 must
# still be found and c9 added again.
cx client add fi >/dev/null
plugin fi fail.lua <<'LUA'
return {
  name = "fail", version = "1",
  on_event = function(ev, ctx)
    if ev.id == "bad" then error("refused on purpose") end
  end,
}
LUA
cat >"$TMP/fi.csv" <<'CSV'
id,type,customer,at,amount
p1,purchase,c1,2024-01-01,1.00
p2,purchase,c2,2024-01-02,2.00
bad,purchase,c9,2024-01-04,4.00
p3,purchase,c1,2024-01-03,3.00
p4,purchase,c9,2024-01-05,5.00
p5,purchase,c9,2024-01-06,6.00
CSV
run import --client fi --skip-bad "$TMP/rejects.txt" "$TMP/fi.csv"
assert_status "import with one refused event" 0
assert_eq "one line rejected" "1" "$(wc -l <"$TMP/rejects.txt" | tr -d ' ')"
assert_eq "three customers, each once" "c1 c2 c9" \
  "$(cx eval --client fi 'local t = {} for _, r in ipairs(cx.query("SELECT external_id FROM customers ORDER BY external_id")) do t[#t + 1] = r.external_id end return table.concat(t, " ")')"
assert_eq "c9's purchases are both on one customer" "2" \
  "$(q fi "SELECT COUNT(*) AS n FROM events e JOIN customers c ON c.id = e.customer_id WHERE c.external_id = 'c9'")"
assert_eq "c1's purchases on one customer" "2" \
  "$(q fi "SELECT COUNT(*) AS n FROM events e JOIN customers c ON c.id = e.customer_id WHERE c.external_id = 'c1'")"
assert_eq "lifecycle counted c9's two purchases" "2" \
  "$(q fi "SELECT purchase_count AS n FROM lifecycle WHERE customer = 'c9'")"

# A second import into the same (no longer empty) store finds them again.
cat >"$TMP/fi2.csv" <<'CSV'
id,type,customer,at,amount
p6,purchase,c1,2024-02-01,1.00
p7,purchase,c3,2024-02-02,2.00
CSV
run import --client fi "$TMP/fi2.csv"
assert_status "second import" 0
assert_eq "four customers now" "4" "$(q fi "SELECT COUNT(*) AS n FROM customers")"
assert_eq "c1 has three purchases" "3" "$(q fi "SELECT purchase_count AS n FROM lifecycle WHERE customer = 'c1'")"

finish
