#!/usr/bin/env bash
# test_eval_run.sh: `cxhost eval` and `cxhost run`: expressions and statements,
# how results print, script arguments, the cx API (customer, query, time,
# money, json, ingest, refresh, plugins) and how script errors are reported.
. "$(dirname "$0")/lib.sh"

cx client add ev >/dev/null
cat >"$TMP/small.csv" <<'CSV'
id,type,customer,at,amount,touchpoint,campaign
o-1,purchase,C-17,2026-03-02T10:15:00Z,49.90,web,spring
o-2,purchase,C-17,2026-03-04,12.00,store,
o-3,purchase,C-23,2026-03-05T09:00:00+01:00,0.07,web,
s-1,survey,C-99,2026-03-06,,email,"said ""great"", again"
CSV
run import --client ev "$TMP/small.csv"
assert_status "import the small CSV" 0
assert_contains "import the small CSV: 4 new" "$OUT" "imported 4 new events"

e() { "$CXHOST" --home "$H" eval --client ev "$1" 2>&1; }

# --- eval: expressions, statements, printing -----------------------------------------------
assert_eq "an expression needs no return" "3" "$(e '1 + 2')"
assert_eq "a statement with return" "6" "$(e 'local x = 2 return x * 3')"
assert_eq "several results, one per line" "$(printf '1\ntwo\ntrue')" "$(e 'return 1, "two", true')"
assert_eq "strings print as they are" "a b" "$(e '"a b"')"
assert_eq "nil prints as nil" "nil" "$(e 'nil')"
assert_eq "a statement without results prints nothing" "" "$(e 'local x = 1')"
assert_eq "print goes to stdout, before the results" "$(printf 'hello\tworld\n42')" "$(e 'print("hello", "world") return 42')"
assert_eq "floats and integers" "$(printf '0.5\n3\n3.0')" "$(e 'return 1/2, 6//2, 6/2')"
assert_eq "an array prints as a list" '{ 1, 2, "x" }' "$(e '{1, 2, "x"}')"
assert_eq "a table prints with sorted keys" '{ abc = 1, de = 2, fghij = 3 }' "$(e '{fghij = 3, abc = 1, de = 2}')"
assert_eq "nested tables and odd keys (numbers first)" '{ [1] = "one", [3] = "three", ["a b"] = { x = true } }' \
  "$(e '{[1] = "one", [3] = "three", ["a b"] = {x = true}}')"
assert_eq "an empty table" '{}' "$(e '{}')"
assert_eq "strings inside tables are quoted" '{ s = "say \"hi\"" }' "$(e '{s = [[say "hi"]]}')"
assert_eq "a cycle is marked" '{ me = <cycle> }' "$(e 'local t = {} t.me = t return t')"
out=$(e 'return print')
if [[ $out == function:* || $out == builtin:* ]]; then pass; else fail "a function prints as function: ..." "$out"; fi
assert_eq "a __tostring that errors does not break printing" "0" \
  "$(e 'return setmetatable({}, {__tostring = function() error("no") end})' >/dev/null; echo $?)"
assert_eq "cx.client" "ev" "$(e 'cx.client')"
assert_eq "globals do not survive between evals" "nil" "$(e 'x_saved = 1' >/dev/null; e 'return rawget(_G, "x_saved")')"

# --- eval: errors ------------------------------------------------------------------------------
run eval --client ev 'local x = nil; return x.field'
assert_status "a runtime error in eval" 1
assert_contains "a runtime error: where" "$ERR" "(eval):1:"
assert_contains "a runtime error: what" "$ERR" "attempt to index a nil value"
assert_contains "a runtime error: traceback" "$ERR" "stack traceback"
assert_eq "a runtime error: nothing on stdout" "" "$OUT"
run eval --client ev 'return 1 +'
assert_status "a syntax error in eval" 1
assert_contains "a syntax error: where" "$ERR" "(eval):1:"
run eval --client ev 'error("custom failure")'
assert_status "error() in eval" 1
assert_contains "error() in eval: the message" "$ERR" "custom failure"
run eval --client ev 'error("no position", 0)'
assert_status "error(msg, 0)" 1
assert_contains "error(msg, 0): the message" "$ERR" "no position"
run eval --client ev 'print("before") error("after printing")'
assert_status "error after print" 1
assert_eq "error after print: what was printed stays" "before" "$OUT"
run eval --client ev
assert_status "eval with no code" 2
run eval --client ev 'return 1' 'return 2'
assert_status "eval with two chunks" 2

# --- cx.customer, cx.query after the import --------------------------------------------------------
assert_eq "cx.customer: id, events, first_seen_at" "C-17 2 1772446500" \
  "$(e 'local c = cx.customer("C-17") return c.id .. " " .. c.events .. " " .. c.first_seen_at')"
assert_eq "cx.customer: lifecycle facts" "2 6190 active 1772446500 1772582400" \
  "$(e 'local f = cx.customer("C-17").facts.lifecycle
        return ("%d %d %s %d %d"):format(f.purchase_count, f.total_spend_cents, f.stage, f.first_purchase_at, f.last_purchase_at)')"
assert_eq "cx.customer: the time zone is applied (09:00+01:00 is 08:00Z)" "2026-03-05T08:00:00Z" \
  "$(e 'cx.time.iso(cx.customer("C-23").facts.lifecycle.last_purchase_at)')"
assert_eq "cx.customer: a prospect" "prospect nil" \
  "$(e 'local f = cx.customer("C-99").facts.lifecycle return f.stage .. " " .. tostring(f.purchase_count)')"
# The built-in loyalty plugin: a point per whole 1.00 of each purchase (49.90 and 12.00).
assert_eq "cx.customer: points and tags" "61 0" "$(e 'local c = cx.customer("C-17") return c.points .. " " .. #c.tags')"
assert_eq "cx.customer of nobody is nil" "nil" "$(e 'cx.customer("nobody")')"
assert_eq "cx.customer with a number id" "nil" "$(e 'cx.customer(17)')"
run eval --client ev 'cx.customer()'
assert_status "cx.customer without an id" 1
assert_eq "cx.query: rows as tables" "o-1 4990 web|o-2 1200 store|o-3 7 web" \
  "$(e 'local out = {}
        for _, r in ipairs(cx.query([[SELECT e.external_id, e.amount_cents, t.name AS tp FROM events e
            JOIN touchpoints t ON t.id = e.touchpoint_id WHERE e.type = ?1 ORDER BY e.external_id]], "purchase")) do
          out[#out + 1] = r.external_id .. " " .. r.amount_cents .. " " .. r.tp
        end
        return table.concat(out, "|")')"
assert_eq "cx.query: free fields kept as JSON" '{"campaign":"said \"great\", again"}' \
  "$(e 'cx.query("SELECT data FROM events WHERE external_id = ?1", "s-1")[1].data')"
assert_eq "cx.query: an empty cell of a free column is left out" "nil" \
  "$(e 'cx.query("SELECT data FROM events WHERE external_id = ?1", "o-2")[1].data')"
assert_eq "cx.query: NULL is nil" "nil" "$(e 'cx.query("SELECT amount_cents FROM events WHERE external_id = ?1", "s-1")[1].amount_cents')"
assert_eq "cx.query: no rows is an empty table" "0" "$(e '#cx.query("SELECT * FROM events WHERE 0")')"
assert_eq "cx.query: parameters of each type" "3|2.5|x|1" "$(e 'local r = cx.query("SELECT ?1 AS a, ?2 AS b, ?3 AS c, ?4 AS d", 3, 2.5, "x", true)[1]
  return r.a .. "|" .. r.b .. "|" .. r.c .. "|" .. r.d')"
run eval --client ev 'cx.query("SELECT ?1", {})'
assert_status "cx.query with a table parameter" 1
assert_contains "cx.query with a table parameter: says so" "$ERR" "parameter 1"
run eval --client ev 'cx.query("SELEC 1")'
assert_status "cx.query with bad SQL" 1
assert_contains "cx.query with bad SQL: the error" "$ERR" "cx.query"
run eval --client ev 'cx.query("SELECT * FROM no_such_table")'
assert_status "cx.query of a missing table" 1
assert_contains "cx.query of a missing table: names it" "$ERR" "no_such_table"

# --- cx.time, cx.money, cx.json ---------------------------------------------------------------------
assert_eq "cx.time.iso" "1970-01-01T00:00:00Z" "$(e 'cx.time.iso(0)')"
assert_eq "cx.time.iso of a recent time" "2026-03-09T14:05:30Z" "$(e 'cx.time.iso(1773065130)')"
assert_eq "cx.time.date" "2024-02-29" "$(e 'cx.time.date(1709208000)')"
assert_eq "cx.time.parse: date" "1704067200" "$(e 'cx.time.parse("2024-01-01")')"
assert_eq "cx.time.parse: compact date" "852076800" "$(e 'cx.time.parse("19970101")')"
assert_eq "cx.time.parse: a zone" "1704099600" "$(e 'cx.time.parse("2024-01-01T10:00:00+01:00")')"
assert_eq "cx.time.parse: -0530" "1704123000" "$(e 'cx.time.parse("2024-01-01T10:00-0530")')"
assert_eq "cx.time.parse: fractions dropped" "1704067230" "$(e 'cx.time.parse("2024-01-01 00:00:30.999")')"
assert_eq "cx.time.parse: before 1970" "-86400" "$(e 'cx.time.parse("1969-12-31")')"
assert_eq "cx.time.parse: a bad time gives nil and why" "$(printf "nil\n'2024-13-01' is not a valid time (month 13 is out of range)")" \
  "$(e 'cx.time.parse("2024-13-01")')"
assert_eq "cx.time.parse: February 29th of a common year" "nil" "$(e 'return (cx.time.parse("2023-02-29"))')"
assert_eq "cx.time.parse and iso round trip" "2000-02-29T23:59:59Z" "$(e 'cx.time.iso(cx.time.parse("2000-02-29T23:59:59Z"))')"
assert_eq "cx.time.now is about now" "true" "$(e "math.abs(cx.time.now() - $(date +%s)) < 60")"
assert_eq "cx.money.format" "1,234,567.89" "$(e 'cx.money.format(123456789)')"
assert_eq "cx.money.format: small and negative" "$(printf -- '-0.07\n0.00\n1.00')" "$(e 'return cx.money.format(-7), cx.money.format(0), cx.money.format(100)')"
assert_eq "cx.money.parse" "$(printf '1250\n7\n-1250\n300')" "$(e 'return cx.money.parse("12.5"), cx.money.parse("0.07"), cx.money.parse("-12.50"), cx.money.parse("+3")')"
assert_eq "cx.money.parse: 3 decimals" "$(printf "nil\n'1.234' has more than two decimals")" "$(e 'cx.money.parse("1.234")')"
assert_eq "cx.money.parse: not a number" "nil" "$(e 'return (cx.money.parse("12,50"))')"
run eval --client ev 'cx.money.format(1.5)'
assert_status "cx.money.format of a float" 1
assert_eq "cx.json.encode: sorted keys, arrays" '{"a":[1,2,"x"],"b":1,"c":true,"d":{"e":"q\"uote"}}' \
  "$(e 'cx.json.encode({b = 1, a = {1, 2, "x"}, c = true, d = {e = [[q"uote]]}})')"
assert_eq "cx.json.encode: scalars" '"s" 12 1.5 false' \
  "$(e 'return table.concat({cx.json.encode("s"), cx.json.encode(12), cx.json.encode(1.5), cx.json.encode(false)}, " ")')"
assert_eq "cx.json.decode" "2.5 s false 3" \
  "$(e 'local v = cx.json.decode([[{"a":[1,2.5,"s"],"b":{"c":false},"n":3}]]) return v.a[2] .. " " .. v.a[3] .. " " .. tostring(v.b.c) .. " " .. math.tointeger(v.n)')"
assert_eq "cx.json.decode: integers stay integers" "integer float" \
  "$(e 'local v = cx.json.decode("[1, 1.0]") return math.type(v[1]) .. " " .. math.type(v[2])')"
assert_eq "cx.json.decode: unicode escapes" "é€😀" "$(e 'cx.json.decode([["\u00e9\u20ac\ud83d\ude00"]])')"
assert_eq "cx.json round trip" '{"k":[{"x":1},[2,3]]}' "$(e 'cx.json.encode(cx.json.decode([[ {"k": [ {"x": 1}, [2, 3] ]} ]]))')"
run eval --client ev 'cx.json.decode("{bad")'
assert_status "cx.json.decode of bad JSON" 1
assert_contains "cx.json.decode of bad JSON: says so" "$ERR" "cx.json.decode"
run eval --client ev 'cx.json.encode({print})'
assert_status "cx.json.encode of a function" 1
run eval --client ev 'local t = {} t.t = t return cx.json.encode(t)'
assert_status "cx.json.encode of a cycle" 1
run eval --client ev 'cx.json.encode({1/0})'
assert_status "cx.json.encode of infinity" 1

# --- cx.ingest, cx.refresh, cx.plugins from scripts ------------------------------------------------
assert_eq "cx.ingest from eval" "inserted" \
  "$(e 'cx.ingest { id = "x-1", type = "purchase", customer = "C-50", at = "2026-03-10", amount = "5.25", touchpoint = "app", data = { coupon = "A1", n = 2 } }')"
assert_eq "cx.ingest: the event is stored" "C-50 525 app {\"coupon\":\"A1\",\"n\":2}" \
  "$(e 'local r = cx.query([[SELECT c.external_id AS c, e.amount_cents AS a, t.name AS t, e.data AS d FROM events e
        JOIN customers c ON c.id = e.customer_id JOIN touchpoints t ON t.id = e.touchpoint_id WHERE e.external_id = ?1]], "x-1")[1]
        return r.c .. " " .. r.a .. " " .. r.t .. " " .. r.d')"
assert_eq "cx.ingest: the plugins ran" "1 525 new" \
  "$(e 'local f = cx.customer("C-50").facts.lifecycle return f.purchase_count .. " " .. f.total_spend_cents .. " " .. f.stage')"
assert_eq "cx.ingest: amount_cents and numeric ids" "$(printf 'inserted\n999')" \
  "$(e 'return cx.ingest { id = 12345, type = "purchase", customer = 50, at = 1773187200, amount_cents = 999 },
        cx.query("SELECT amount_cents FROM events WHERE external_id = ?1", "12345")[1].amount_cents')"
assert_eq "cx.ingest: a duplicate" "duplicate" "$(e 'cx.ingest { id = "x-1", type = "purchase", at = "2026-03-10" }')"
run eval --client ev 'cx.ingest { id = "x-2", type = "purchase", at = "2026-03-10", amount = "1.234" }'
assert_status "cx.ingest of a bad amount" 1
assert_contains "cx.ingest of a bad amount: why" "$ERR" "more than two decimals"
run eval --client ev 'cx.ingest { id = "x-3", at = "2026-03-10" }'
assert_status "cx.ingest without a type" 1
assert_contains "cx.ingest without a type: names it" "$ERR" "'type'"
run eval --client ev 'cx.ingest { id = "x-4", type = "purchase" }'
assert_status "cx.ingest without a time" 1
assert_contains "cx.ingest without a time: names it" "$ERR" "'at'"
run eval --client ev 'cx.ingest { id = "x-5", type = "purchase", at = "2026-02-30" }'
assert_status "cx.ingest with a bad date" 1
assert_contains "cx.ingest with a bad date: why" "$ERR" "2026-02-30"
run eval --client ev 'cx.ingest { id = "x-6", type = "purchase", at = "2026-03-10", data = { f = print } }'
assert_status "cx.ingest with a function in data" 1
assert_eq "the failed cx.ingest calls stored nothing" "0" \
  "$(q ev "SELECT COUNT(*) AS n FROM events WHERE external_id IN ('x-2', 'x-3', 'x-4', 'x-5', 'x-6')")"
# A script that ingests and then fails: what it ingested before the error stays
# (each cx.ingest commits on its own).
run eval --client ev 'cx.ingest { id = "x-7", type = "visit", customer = "C-51", at = "2026-03-11" } error("then a failure")'
assert_status "ingest then fail" 1
assert_eq "ingest then fail: the ingested event stays" "1" "$(q ev "SELECT COUNT(*) AS n FROM events WHERE external_id = 'x-7'")"
# cx.refresh moves the stages.
assert_eq "cx.refresh as of a later date" "lapsing" \
  "$(e 'cx.refresh("2026-09-07") return cx.customer("C-17").facts.lifecycle.stage')"
assert_eq "cxhost refresh --as-of" "lapsed" \
  "$(cx refresh --client ev --as-of 2027-03-05 >/dev/null && e 'cx.customer("C-17").facts.lifecycle.stage')"
run refresh --client ev --as-of 2026-13-01
assert_status "refresh with a bad --as-of" 2
assert_contains "refresh with a bad --as-of: why" "$ERR" "month 13"
run refresh --client ev
assert_status "cxhost refresh" 0
assert_contains "cxhost refresh: as of the latest event" "$OUT" "as of 2026-03-11"
assert_eq "cx.plugins" "lifecycle 1.0 built-in 10" \
  "$(e 'local p = cx.plugins()[1] return p.name .. " " .. p.version .. " " .. p.origin .. " " .. p.order')"

# --- run: scripts, arguments, errors -------------------------------------------------------------------
cat >"$TMP/args.lua" <<'LUA'
-- prints its arguments, then returns a summary
print("n=" .. #arg)
for i, a in ipairs(arg) do print(i .. ":" .. a) end
local buyers = cx.query("SELECT COUNT(*) AS n FROM lifecycle WHERE purchase_count > 0")[1].n
return "buyers=" .. buyers, { first = arg[1] }
LUA
run run --client ev "$TMP/args.lua" one "two words" --three
assert_status "run with arguments" 0
assert_eq "run: arg holds the arguments, options after the script included" \
  "$(printf 'n=3\n1:one\n2:two words\n3:--three\nbuyers=4\n{ first = "one" }')" "$OUT"
run run --client ev "$TMP/args.lua"
assert_status "run without arguments" 0
assert_contains "run without arguments: arg is empty" "$OUT" "n=0"

cat >"$TMP/fails.lua" <<'LUA'
local function check(x)
  if x > 1 then
    error("x is too big: " .. x)
  end
end

check(1)
check(2)
LUA
run run --client ev "$TMP/fails.lua"
assert_status "a failing script" 1
assert_contains "a failing script: file and line of the error" "$ERR" "$TMP/fails.lua:3: x is too big: 2"
assert_contains "a failing script: traceback" "$ERR" "stack traceback"
assert_contains "a failing script: the calling line" "$ERR" "$TMP/fails.lua:8:"
printf 'local x = \n' >"$TMP/syntax.lua"
run run --client ev "$TMP/syntax.lua"
assert_status "a script with a syntax error" 1
assert_contains "a script with a syntax error: file and line" "$ERR" "$TMP/syntax.lua:"
run run --client ev "$TMP/none.lua"
assert_status "a script that does not exist" 1
assert_contains "a script that does not exist: named" "$ERR" "$TMP/none.lua"
run run --client ev
assert_status "run without a script" 2
printf 'cx.ingest { id = "r-1", type = "purchase", customer = "C-60", at = "2026-03-12", amount = "1.00" }\nreturn cx.customer("C-60").facts.lifecycle.purchase_count\n' >"$TMP/ingest.lua"
run run --client ev "$TMP/ingest.lua"
assert_status "run a script that ingests" 0
assert_eq "run a script that ingests: its result" "1" "$OUT"
assert_eq "run a script that ingests: stored" "1" "$(q ev "SELECT COUNT(*) AS n FROM events WHERE external_id = 'r-1'")"

finish
