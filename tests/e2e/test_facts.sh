#!/usr/bin/env bash
# test_facts.sh: how facts are stored (one JSON row per customer and plugin),
# what values they take, ctx.each_customer, and a duplicate event that names a
# customer or touchpoint never seen (taken back: nothing changes).
. "$(dirname "$0")/lib.sh"

cat >"$TMP/ev.csv" <<'CSV'
id,type,customer,at,amount,touchpoint
e1,purchase,c1,2024-01-01,10.00,web
e2,purchase,c2,2024-01-02,20.00,web
e3,visit,c1,2024-01-03,,store
e4,purchase,c3,2024-01-04,5.00,web
CSV

# --- values: kinds, nil, a row per customer and plugin -------------------------------------
cx client add kinds >/dev/null
plugin kinds kinds.lua <<'LUA'
return {
  name = "kinds", version = "1",
  on_event = function(ev, ctx)
    if ev.id == "e1" then
      ctx.facts_set(ev.customer, { int = 7, real = 2.5, whole_real = 3.0, yes = true, no = false,
                                   text = 'line\n"two" \u{e9}', gone = "soon" })
    elseif ev.id == "e3" then
      ctx.fact_set(ev.customer, "gone", nil)     -- nil empties a fact
    elseif ev.id == "e2" then
      ctx.fact_set(ev.customer, "only", 1)
    elseif ev.id == "e4" then
      ctx.fact_set(ev.customer, "only", 1)
      ctx.fact_set(ev.customer, "only", nil)     -- a plugin with no facts left: no row
    end
  end,
}
LUA
run import --client kinds "$TMP/ev.csv"
assert_status "import with the kinds plugin" 0
assert_eq "one row per customer and plugin" "2" "$(q kinds "SELECT COUNT(*) AS n FROM customer_state WHERE plugin = 'kinds'")"
assert_eq "the row is a JSON object, names sorted" \
  '{"int":7,"no":0,"real":2.5,"text":"line\n\"two\" é","whole_real":3.0,"yes":1}' \
  "$(q kinds "SELECT s.facts AS n FROM customer_state s JOIN customers c ON c.id = s.customer_id
              WHERE c.external_id = 'c1' AND s.plugin = 'kinds'")"
assert_eq "the view has a row per fact" "6" \
  "$(q kinds "SELECT COUNT(*) AS n FROM customer_facts f JOIN customers c ON c.id = f.customer_id
              WHERE c.external_id = 'c1' AND f.plugin = 'kinds'")"
assert_eq "types survive: integer, real, text, whole real (in name order)" "integer real text real" \
  "$(q kinds "SELECT group_concat(t, ' ') AS n FROM (SELECT typeof(value) AS t FROM customer_facts
              WHERE plugin = 'kinds' AND name IN ('int', 'real', 'whole_real', 'text') ORDER BY name)")"
assert_eq "the row names the event that last changed it (e3 emptied 'gone')" "e3" \
  "$(q kinds "SELECT e.external_id AS n FROM customer_state s JOIN events e ON e.id = s.event_id
              JOIN customers c ON c.id = s.customer_id WHERE c.external_id = 'c1' AND s.plugin = 'kinds'")"
assert_eq "ctx.facts reads the values back (in a later run)" '2.5 3.0 true line' \
  "$(cx eval --client kinds 'local f = cx.customer("c1").facts.kinds
      return ("%s %.1f %s %s"):format(f.real, f.whole_real, f.yes == 1, f.text:match("^%a+"))' 2>&1)"

# A text fact must be UTF-8: the event is refused, and says which fact.
cx client add bytes >/dev/null
plugin bytes bytes.lua <<'LUA'
return { name = "bytes", version = "1", on_event = function(ev, ctx) ctx.fact_set(ev.customer, "raw", "\xff\xfe") end }
LUA
run import --client bytes "$TMP/ev.csv"
assert_status "a non-UTF-8 fact fails the import" 1
assert_contains "the error names the fact" "$ERR" "fact 'raw'"
assert_contains "the error says UTF-8" "$ERR" "UTF-8"
assert_contains "the error names the plugin's file and line" "$ERR" "clients/bytes/plugins/bytes.lua:1:"
assert_eq "a non-UTF-8 fact: nothing imported" "0" "$(q bytes 'SELECT COUNT(*) AS n FROM events')"

# --- ctx.each_customer ------------------------------------------------------------------------
cx client add walk >/dev/null
plugin walk walk.lua <<'LUA'
return {
  name = "walk", version = "1",
  on_event = function(ev, ctx)
    ctx.fact_set(ev.customer, "seen", (ctx.fact(ev.customer, "seen") or 0) + 1)
  end,
  on_refresh = function(ctx, as_of)
    local order = {}
    ctx.each_customer(function(customer, facts)
      order[#order + 1] = customer .. "=" .. facts.seen
      ctx.fact_set(customer, "walked_at", as_of)
    end)
    ctx.log("walk: " .. table.concat(order, " "))
    local n = 0
    ctx.each_customer(function(customer, facts) n = n + 1 end, "lifecycle")
    ctx.log("lifecycle customers: " .. n)
  end,
}
LUA
run import --client walk "$TMP/ev.csv"
assert_status "import with ctx.each_customer in on_refresh" 0
assert_contains "each_customer sees this import's facts, in order of customers" "$ERR" "walk: c1=2 c2=1 c3=1"
assert_contains "each_customer of another plugin" "$ERR" "lifecycle customers: 3"
assert_eq "each_customer's writes are stored" "3" \
  "$(q walk "SELECT COUNT(*) AS n FROM customer_facts WHERE plugin = 'walk' AND name = 'walked_at'")"
# A second refresh reads the facts from the store, not from this run's memory.
run refresh --client walk --as-of 2025-01-01
assert_status "refresh with ctx.each_customer" 0
assert_contains "each_customer after a restart" "$ERR" "walk: c1=2 c2=1 c3=1"
assert_eq "each_customer's writes in a later refresh" "1735689600" \
  "$(q walk "SELECT MIN(value) AS n FROM customer_facts WHERE plugin = 'walk' AND name = 'walked_at'")"

# An error inside fn stops the walk and the refresh, naming the file and line.
cx client add walkbad >/dev/null
plugin walkbad walk.lua <<'LUA'
return {
  name = "walk", version = "1",
  on_event = function(ev, ctx) ctx.fact_set(ev.customer, "seen", 1) end,
  on_refresh = function(ctx, as_of)
    ctx.each_customer(function(customer, facts)
      if customer == "c2" then error("no walking past " .. customer) end
      ctx.fact_set(customer, "walked", true)
    end)
  end,
}
LUA
run import --client walkbad "$TMP/ev.csv"
assert_status "an error in each_customer's fn fails the import" 1
assert_contains "the error's message" "$ERR" "no walking past c2"
assert_contains "the error names the file and line" "$ERR" "clients/walkbad/plugins/walk.lua:6:"
assert_contains "the error names the hook" "$ERR" "on_refresh"
assert_eq "an error in each_customer's fn: nothing imported" "0" "$(q walkbad 'SELECT COUNT(*) AS n FROM events')"
run eval --client walkbad 'return 1'
assert_status "each_customer with a function missing" 0
plugin walkbad walk.lua <<'LUA'
return { name = "walk", version = "1", on_refresh = function(ctx) ctx.each_customer("not a function") end }
LUA
run refresh --client walkbad
assert_status "refresh of an empty store" 0
run import --client walkbad "$TMP/ev.csv"
assert_status "each_customer without a function" 1
assert_contains "each_customer without a function: the message" "$ERR" "function expected"

# --- a duplicate event naming a customer or touchpoint never seen -----------------------------
cx client add dup >/dev/null
run import --client dup "$TMP/ev.csv"
assert_status "first import" 0
cat >"$TMP/dup.csv" <<'CSV'
id,type,customer,at,amount,touchpoint
e1,purchase,someone-new,2024-02-01,99.00,a-new-place
n1,purchase,c9,2024-02-02,1.00,web
CSV
before=$(q dup "SELECT (SELECT COUNT(*) FROM customers) || '/' || (SELECT COUNT(*) FROM touchpoints) AS n")
run import --client dup "$TMP/dup.csv"
assert_status "import with a duplicate naming new things" 0
assert_contains "the duplicate is counted as already there" "$OUT" "1 already there"
assert_eq "the duplicate's new customer and touchpoint are taken back; the new event's customer stays" \
  "$(( ${before%/*} + 1 ))/${before#*/}" \
  "$(q dup "SELECT (SELECT COUNT(*) FROM customers) || '/' || (SELECT COUNT(*) FROM touchpoints) AS n")"
assert_eq "no customer from the duplicate" "0" "$(q dup "SELECT COUNT(*) AS n FROM customers WHERE external_id = 'someone-new'")"
assert_eq "the event after it has its customer" "1" \
  "$(q dup "SELECT COUNT(*) AS n FROM events e JOIN customers c ON c.id = e.customer_id WHERE e.external_id = 'n1' AND c.external_id = 'c9'")"
assert_eq "lifecycle facts for the new customer" "1" "$(q dup "SELECT purchase_count AS n FROM lifecycle WHERE customer = 'c9'")"

# --- a fact cache smaller than the import: the same facts --------------------------------------
# The CDNOW sample's 2,357 customers need more than 1 MiB of cached facts, so
# with fact_cache_mb = 1 they are written out and read back part-way through.
cx client add roomy >/dev/null
cx client add tight >/dev/null
printf 'return { limits = { fact_cache_mb = 1 } }\n' >"$H/clients/tight/config.lua"
for c in roomy tight; do
  run import --client "$c" --format cdnow "$DATA/CDNOW_sample.txt"
  assert_status "CDNOW sample into $c" 0
done
facts_of() {
  q "$1" "SELECT COUNT(*) || ' ' || group_concat(customer || ',' || first_purchase_at || ',' || last_purchase_at || ',' ||
            purchase_count || ',' || total_spend_cents || ',' || stage, ';') AS n
          FROM (SELECT * FROM lifecycle ORDER BY customer)"
}
roomy=$(facts_of roomy)
assert_eq "customers with lifecycle facts" "2357" "${roomy%% *}"
[ "$roomy" = "$(facts_of tight)" ] && pass || fail "lifecycle facts differ with fact_cache_mb = 1"

finish
