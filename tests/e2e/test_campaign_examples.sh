#!/usr/bin/env bash
# test_campaign_examples.sh: the five example campaigns of scripts/campaigns/
# on synthetic data from scripts/gen-experience.lua (docs/generator.md).
#
# Each expected number is worked out here on its own, from the events and the
# facts, not read back from what the campaign wrote:
#   winback                the rfm view's lapsed segments and the purchases'
#                          sum: the audience; the holdout hash (FNV-1a and
#                          Murmur's finaliser, written again below): the arms;
#                          then the points, offers and messages per treated
#                          customer; a dry run writes nothing; a second run
#                          for the same period does nothing, one for another
#                          period meets the per-customer cap; the report after
#                          later purchases, its rates and uplift computed here
#   relate-referral        the relate score (the decay formula, written again
#                          below) or the NPS fact, the lifecycle stage: the
#                          audience; tags and codes; a second period invites
#                          only who was not invited
#   double-points-weekend  weekend purchases (weekday from integer arithmetic)
#                          of customers gold or above at the time (tier_history):
#                          the loyalty points again, from the amount and the
#                          tier multiplier before the purchase (the client's
#                          config.lua lowers the tiers: at the defaults no
#                          customer of a year of coffee reaches gold)
#   feel-recovery          the complaints replayed in time order against the
#                          per-customer caps, the frequency cap and the budget
#   handover-care          the handover visits: who is held out; where each
#                          owner's journey stands after the import and after
#                          each refresh; thanks or call from their complaints
#                          and surveys
# and `cxhost check` holds for every client afterwards. The worked-out numbers
# are also pinned for the seed (7): a change in the generator or in a campaign
# file shows as a failure, not as a test that quietly checks something else.
#
# It needs the lua5.4 interpreter (scripts/install-deps.sh installs it).
. "$(dirname "$0")/lib.sh"

if ! command -v lua5.4 >/dev/null; then
  echo "FAIL: the lua5.4 interpreter is not installed (scripts/install-deps.sh installs it);"
  echo "      the example campaigns need scripts/gen-experience.lua's data"
  exit 1
fi

GEN=$SRC/scripts/gen-experience.lua
CAMP=$SRC/scripts/campaigns
DAY=86400

lua5.4 "$GEN" --scenario coffee --seed 7 --customers 150 >"$TMP/coffee.ndjson"
lua5.4 "$GEN" --scenario property --seed 7 >"$TMP/property.ndjson"
COFFEE_EVENTS=$(wc -l <"$TMP/coffee.ndjson" | tr -d ' ')
PROPERTY_EVENTS=$(wc -l <"$TMP/property.ndjson" | tr -d ' ')

# 22222 -> 22,222, as cxhost prints counts.
commas() {
  sed -E ':a; s/^(-?[0-9]+)([0-9]{3})/\1,\2/; ta' <<<"$1"
}

# money CENTS: 13500 -> 135.00, as cx.money.format prints it.
money() {
  local c=$1 sign=
  if [ "$c" -lt 0 ]; then sign=-; c=$((-c)); fi
  printf '%s%s.%02d' "$sign" "$(commas $((c / 100)))" $((c % 100))
}

# ints NAME...: a worked-out value that is not a whole number (its query
# failed) becomes 0, so that the test goes on and reports every failure.
ints() {
  local v
  for v in "$@"; do
    [[ ${!v} =~ ^-?[0-9]+$ ]] || printf -v "$v" 0
  done
}

# ev CLIENT LUA: the value the Lua code returns (cxhost eval), one line.
ev() {
  cx eval --client "$1" "$2" 2>&1
}

# snapshot CLIENT: row counts of every table a campaign may write.
snapshot() {
  ev "$1" 'local out = {}
    for _, t in ipairs({ "campaigns", "campaign_runs", "campaign_members", "campaign_actions", "journeys",
                         "ledger", "outbox", "customer_tags", "events", "tier_history" }) do
      out[#out + 1] = t .. "=" .. cx.query("SELECT COUNT(*) AS n FROM " .. t)[1].n
    end
    local f = cx.query("SELECT COUNT(*) AS n, TOTAL(length(data)) AS l FROM facts")[1]
    out[#out + 1] = ("facts=%d/%d"):format(f.n, math.tointeger(f.l))
    return table.concat(out, " ")'
}

# The holdout, worked out again: FNV-1a (32 bits) of "CAMPAIGN\0CUSTOMER",
# Murmur3's finaliser, as a fraction of 2^32; held out below the share.
HASH_LUA='
local function bucket(campaign, customer)
  local h = 2166136261
  local text = campaign .. "\0" .. customer
  for i = 1, #text do
    h = ((h ~ text:byte(i)) * 16777619) & 0xffffffff
  end
  h = h ~ (h >> 16)
  h = (h * 0x85ebca6b) & 0xffffffff
  h = h ~ (h >> 13)
  h = (h * 0xc2b2ae35) & 0xffffffff
  h = h ~ (h >> 16)
  return h / 4294967296.0
end
-- "audience holdout treated|held out ids|treated ids" of a list of customers.
local function arms(campaign, share, list)
  local held, treated = {}, {}
  for _, who in ipairs(list) do
    if bucket(campaign, who) < share then held[#held + 1] = who else treated[#treated + 1] = who end
  end
  table.sort(held)
  table.sort(treated)
  return ("%d %d %d|%s|%s"):format(#list, #held, #treated, table.concat(held, " "), table.concat(treated, " "))
end
'

# members CLIENT CAMPAIGN: the store's arms in the same form as arms() above.
members() {
  ev "$1" "local held, treated = {}, {}
    for _, r in ipairs(cx.query([[SELECT cu.external_id AS who, m.arm FROM campaign_members m
        JOIN campaigns k ON k.id = m.campaign_id JOIN customers cu ON cu.id = m.customer_id
        WHERE k.name = ?1 ORDER BY cu.external_id]], '$2')) do
      if r.arm == 'holdout' then held[#held + 1] = r.who else treated[#treated + 1] = r.who end
    end
    return ('%d %d %d|%s|%s'):format(#held + #treated, #held, #treated, table.concat(held, ' '),
      table.concat(treated, ' '))"
}

# ==================================================================================
# Every file is sound
# ==================================================================================
for f in winback relate-referral double-points-weekend feel-recovery handover-care; do
  run campaign check "$CAMP/$f.lua"
  assert_status "check $f.lua" 0
  assert_contains "check $f.lua: sound" "$OUT" "campaign $f is sound"
  head -n 1 "$CAMP/$f.lua" | grep -q '^-- ' && pass || fail "$f.lua starts with a comment block"
done
run campaign check "$CAMP/winback.lua"
assert_contains "winback: what check says" "$OUT" "module feel, trigger once, 2 actions, holdout 10%"
run campaign check "$CAMP/handover-care.lua"
assert_contains "handover-care: what check says" "$OUT" \
  'module feel, trigger event("visit"), a journey of 5 steps, holdout 10%'

# ==================================================================================
# winback and relate-referral: run once over the coffee chain, after its year
# ==================================================================================
run client add cafe
run import --client cafe --format ndjson "$TMP/coffee.ndjson"
assert_status "cafe: import" 0
assert_contains "cafe: every event imported" "$OUT" "imported $(commas "$COFFEE_EVENTS") new events"
run campaign list --client cafe
assert_status "list, no campaigns" 0
assert_contains "list, no campaigns" "$OUT" "client 'cafe' has no campaigns yet"

AT=2026-01-02T00:00:00Z
T=$(ev cafe "cx.time.parse('$AT')")
ints T

# --- winback: the audience worked out from the rfm view and the events --------------
WB=$(ev cafe "$HASH_LUA
  local list = {}
  for _, r in ipairs(cx.query([[SELECT r.customer FROM rfm r
      WHERE r.segment IN ('at risk', 'cannot lose', 'hibernating')
        AND (SELECT SUM(e.amount_cents) FROM events e WHERE e.customer_id = r.customer_id
             AND e.type = 'purchase' AND e.at <= ?1) >= 3000 ORDER BY r.customer]], $T)) do
    list[#list + 1] = r.customer
  end
  return arms('winback', 0.1, list)")
read -r WB_N WB_H WB_T <<<"${WB%%|*}"
ints WB_N WB_H WB_T
echo "winback: audience $WB_N, held out $WB_H, treated $WB_T"
assert_eq "winback: the audience of seed 7 (29, 2 held out)" "29 2 27" "$WB_N $WB_H $WB_T"

before=$(snapshot cafe)
run campaign run --client cafe "$CAMP/winback.lua" --at "$AT" --dry-run
assert_status "winback --dry-run" 0
assert_contains "dry run: the audience" "$OUT" "audience  $WB_N customers: (rfm(\"at risk\", \"cannot lose\", \"hibernating\") & spend{ at_least = 30 })"
assert_contains "dry run: the holdout" "$OUT" "holdout   $WB_H (10% of the audience is held out), treated $WB_T"
assert_contains "dry run: the actions" "$OUT" \
  "actions   for $WB_T customers: $(commas $((WB_T * 250))) points, $(money $((WB_T * 500))) money, $WB_T contacts"
assert_contains "dry run: the money budget" "$OUT" \
  "money     $(money $((WB_T * 500))) now, 0.00 before, of 500.00 ($(money $((50000 - WB_T * 500))) left after)"
assert_contains "dry run: says so" "$OUT" "dry run: nothing was written"
assert_eq "dry run: nothing written" "$before" "$(snapshot cafe)"

run campaign run --client cafe "$CAMP/winback.lua" --at "$AT"
assert_status "winback run" 0
assert_contains "run: done" "$OUT" "of winback for once: done"
assert_contains "run: the arms" "$OUT" "audience $WB_N, held out $WB_H, treated $WB_T"
assert_contains "run: the actions" "$OUT" \
  "acted for $WB_T: $(commas $((WB_T * 250))) points, $(money $((WB_T * 500))) money, $WB_T contacts"
assert_eq "winback: the members and their arms (the hash)" "$WB" "$(members cafe winback)"
assert_eq "winback: the run's status and stats" "done $WB_N $WB_H $WB_T $WB_T $((WB_T * 250)) $((WB_T * 500)) $WB_T 0" \
  "$(ev cafe "local r = cx.query([[SELECT r.status, r.stats FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id
      WHERE k.name = 'winback' AND r.period = 'once']])[1]
    local s = cx.json.decode(r.stats)
    return table.concat({ r.status, s.audience, s.holdout, s.treated, s.acted, s.points, s.money_cents, s.contacts,
      s.not_reached }, ' ')")"
assert_eq "winback: actions are points and sends, for the treated only" \
  "points $WB_T $((WB_T * 250)) 0 0;send $WB_T 0 $((WB_T * 500)) $WB_T;holdout 0" \
  "$(ev cafe "local out = {}
    for _, r in ipairs(cx.query([[SELECT a.kind, COUNT(*) AS n, SUM(a.points) AS p, SUM(a.money_cents) AS m,
        SUM(a.contact) AS c FROM campaign_actions a JOIN campaigns k ON k.id = a.campaign_id
        WHERE k.name = 'winback' GROUP BY a.kind ORDER BY a.kind]])) do
      out[#out + 1] = table.concat({ r.kind, r.n, r.p, r.m, r.c }, ' ')
    end
    out[#out + 1] = 'holdout ' .. cx.query([[SELECT COUNT(*) AS n FROM campaign_actions a JOIN campaign_members m
      ON m.campaign_id = a.campaign_id AND m.customer_id = a.customer_id WHERE m.arm = 'holdout']])[1].n
    return table.concat(out, ';')")"
assert_eq "winback: ledger, 250 bonus points each, expiring in 90 days" "$WB_T $((WB_T * 250)) $WB_T" \
  "$(ev cafe "local r = cx.query([[SELECT COUNT(*) AS n, SUM(points) AS p,
      SUM(kind = 'bonus' AND plugin = 'campaigns' AND note = 'welcome back' AND at = ?1 AND expires_at = ?1 + 90 * 86400) AS ok
      FROM ledger WHERE rule = 'campaign:winback']], $T)[1]
    return r.n .. ' ' .. r.p .. ' ' .. r.ok")"
assert_eq "winback: one offer email per treated customer, with the code" "$WB_T $WB_T $WB_T" \
  "$(ev cafe "local r = cx.query([[SELECT COUNT(*) AS n, COUNT(DISTINCT o.customer_id) AS d,
      SUM(o.channel = 'email' AND o.status = 'pending' AND json_extract(o.vars, '$.code') = 'COMEBACK5'
          AND m.arm = 'treated') AS ok
      FROM outbox o JOIN campaign_members m ON m.customer_id = o.customer_id
      JOIN campaigns k ON k.id = m.campaign_id AND k.name = 'winback' WHERE o.template = 'winback']])[1]
    return r.n .. ' ' .. r.d .. ' ' .. r.ok")"

# Twice: the same period does nothing; another period meets the per-customer cap.
before=$(snapshot cafe)
run campaign run --client cafe "$CAMP/winback.lua" --at "$AT"
assert_status "winback again" 0
assert_contains "again: nothing done" "$OUT" "winback already ran for once: nothing was done again"
assert_eq "again: nothing written" "$before" "$(snapshot cafe)"
run campaign run --client cafe "$CAMP/winback.lua" --at 2026-01-09 --period 2026-W02
assert_status "winback, another period" 0
assert_contains "another period: no one acted for" "$OUT" "acted for 0: 0 points, 0.00 money, 0 contacts"
assert_contains "another period: the cap" "$OUT" "skipped $WB_T over a per-customer cap, 0 over the frequency cap"
assert_eq "another period: no new action, one new run" "0 2" \
  "$(ev cafe "return cx.query([[SELECT COUNT(*) AS n FROM campaign_actions WHERE run_id =
      (SELECT r.id FROM campaign_runs r WHERE r.period = '2026-W02')]])[1].n .. ' ' ..
    cx.query([[SELECT COUNT(*) AS n FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id
      WHERE k.name = 'winback']])[1].n")"
assert_eq "another period: no new offer" "$WB_T" "$(q cafe "SELECT COUNT(*) AS n FROM outbox WHERE template = 'winback'")"

# --- relate-referral: the audience worked out from the facts ------------------------
# relate score as of T: (value_sum * d + prior * prior_weight) / (weight_sum * d + prior_weight),
# d = 2^-(age / half-life); the relate plugin's defaults: half-life 120 days, prior 0, weight 3.
RR=$(ev cafe "$HASH_LUA
  local T, list = $T, {}
  for _, r in ipairs(cx.query([[SELECT c.external_id AS who, json_extract(f.data, '\$.relate') AS relate,
      json_extract(f.data, '\$.feel.nps') AS nps, json_extract(f.data, '\$.lifecycle.stage') AS stage
      FROM facts f JOIN customers c ON c.id = f.customer_id ORDER BY c.external_id]])) do
    local fan = r.nps ~= nil and r.nps >= 9
    if r.relate then
      local f = cx.json.decode(r.relate)
      local d = T > f.as_of and 2.0 ^ (-(T - f.as_of) / (120 * 86400)) or 1.0
      fan = fan or (f.value_sum * d + 0 * 3) / (f.weight_sum * d + 3) >= 60
    end
    if fan and r.stage == 'active' then
      list[#list + 1] = r.who
    end
  end
  return arms('relate-referral', 0.1, list)")
read -r RR_N RR_H RR_T <<<"${RR%%|*}"
ints RR_N RR_H RR_T
echo "relate-referral: audience $RR_N, held out $RR_H, treated $RR_T"
assert_eq "referral: the audience of seed 7 (24, 2 held out)" "24 2 22" "$RR_N $RR_H $RR_T"

before=$(snapshot cafe)
run campaign run --client cafe "$CAMP/relate-referral.lua" --at "$AT" --dry-run
assert_status "referral --dry-run" 0
assert_contains "referral dry run: the audience" "$OUT" "audience  $RR_N customers: (((score(\"relate\", \">=\", 60) | query("
assert_contains "referral dry run: the holdout" "$OUT" "holdout   $RR_H (10% of the audience is held out), treated $RR_T"
assert_contains "referral dry run: the actions" "$OUT" "actions   for $RR_T customers: 0 points, 0.00 money, $RR_T contacts"
assert_eq "referral dry run: nothing written" "$before" "$(snapshot cafe)"

run campaign run --client cafe "$CAMP/relate-referral.lua" --at "$AT"
assert_status "referral run" 0
assert_contains "referral run: the arms" "$OUT" "audience $RR_N, held out $RR_H, treated $RR_T"
assert_contains "referral run: the contacts" "$OUT" "acted for $RR_T: 0 points, 0.00 money, $RR_T contacts"
assert_eq "referral: the members and their arms" "$RR" "$(members cafe relate-referral)"
RR_TREATED=${RR##*|}
assert_eq "referral: the treated are tagged, no one else" "$RR_TREATED" \
  "$(ev cafe "local out = {}
    for _, r in ipairs(cx.query([[SELECT c.external_id AS who FROM customer_tags t JOIN customers c ON c.id = t.customer_id
        WHERE t.tag = 'referral-invited' ORDER BY c.external_id]])) do out[#out + 1] = r.who end
    return table.concat(out, ' ')")"
assert_eq "referral: one invitation each, with their own code" "$RR_T $RR_T" \
  "$(ev cafe "local r = cx.query([[SELECT COUNT(*) AS n, SUM(json_extract(o.vars, '\$.code') = 'REF-' || c.external_id
      AND o.channel = 'email') AS ok FROM outbox o JOIN customers c ON c.id = o.customer_id
      WHERE o.template = 'refer_a_friend']])[1]
    return r.n .. ' ' .. r.ok")"
assert_eq "referral: actions" "send $RR_T $RR_T;tag $RR_T 0" \
  "$(ev cafe "local out = {}
    for _, r in ipairs(cx.query([[SELECT a.kind, COUNT(*) AS n, SUM(a.contact) AS c FROM campaign_actions a
        JOIN campaigns k ON k.id = a.campaign_id WHERE k.name = 'relate-referral' GROUP BY a.kind ORDER BY a.kind]])) do
      out[#out + 1] = r.kind .. ' ' .. r.n .. ' ' .. r.c
    end
    return table.concat(out, ';')")"

before=$(snapshot cafe)
run campaign run --client cafe "$CAMP/relate-referral.lua" --at "$AT"
assert_contains "referral again: nothing done" "$OUT" "relate-referral already ran for once: nothing was done again"
assert_eq "referral again: nothing written" "$before" "$(snapshot cafe)"
# A new period: the invited are tagged and left out; only the held out are left, and stay out.
run campaign run --client cafe "$CAMP/relate-referral.lua" --at 2026-01-09 --period 2026-W02
assert_status "referral, another period" 0
assert_contains "another period: only the held out are left" "$OUT" "audience $RR_H, held out $RR_H, treated 0"
assert_eq "another period: no new invitation" "$RR_T" "$(q cafe "SELECT COUNT(*) AS n FROM outbox WHERE template = 'refer_a_friend'")"

run campaign list --client cafe
assert_status "list" 0
assert_match "list: referral" "$OUT" 'relate-referral +relate +- +2 +once +2026-W02 done'
assert_match "list: winback" "$OUT" 'winback +feel +- +2 +once +2026-W02 done'

run campaign run --client cafe "$CAMP/double-points-weekend.lua" --at "$AT"
assert_status "an event campaign cannot be run" 1
assert_contains "an event campaign cannot be run: why" "$ERR" "register it with cxhost campaign start"

# --- winback report: later purchases of two treated and one held out customer ------
read -r t1 t2 t3 <<<"$(ev cafe "local out = {}
  for _, r in ipairs(cx.query([[SELECT c.external_id AS who FROM campaign_members m JOIN campaigns k ON k.id = m.campaign_id
      JOIN customers c ON c.id = m.customer_id WHERE k.name = 'winback' AND m.arm = 'treated' ORDER BY c.id LIMIT 3]])) do
    out[#out + 1] = r.who
  end
  return table.concat(out, ' ')")"
h1=$(ev cafe "return cx.query([[SELECT c.external_id AS n FROM campaign_members m JOIN campaigns k ON k.id = m.campaign_id
  JOIN customers c ON c.id = m.customer_id WHERE k.name = 'winback' AND m.arm = 'holdout' ORDER BY c.id LIMIT 1]])[1].n")
cat >"$TMP/later.ndjson" <<EOF
{"id":"later-1","type":"purchase","customer":"$t1","at":"2026-01-10T09:00:00Z","touchpoint":"counter","amount":"12.00"}
{"id":"later-2","type":"purchase","customer":"$t2","at":"2026-01-20T09:00:00Z","touchpoint":"counter","amount":"8.50"}
{"id":"later-3","type":"purchase","customer":"$t3","at":"2026-02-15T09:00:00Z","touchpoint":"counter","amount":"20.00"}
{"id":"later-4","type":"purchase","customer":"$h1","at":"2026-01-15T09:00:00Z","touchpoint":"counter","amount":"5.00"}
{"id":"later-5","type":"visit","customer":"$h1","at":"2026-01-15T08:55:00Z","touchpoint":"counter"}
EOF
run import --client cafe --format ndjson "$TMP/later.ndjson"
assert_status "later purchases" 0
run campaign report --client cafe winback
assert_status "winback report" 0
# Responded within 30 days of 2026-01-02: t1 and t2 (t3 on day 44 is too late), and h1.
EXPECT_REPORT=$(lua5.4 - "$WB_T" "$WB_H" <<'LUA'
local nt, nh = tonumber(arg[1]), tonumber(arg[2])
local xt, xh, st, sst, sh, ssh = 2, 1, 1200 + 850, 1200 * 1200 + 850 * 850, 500, 500 * 500
local pt, ph = xt / nt, xh / nh
local diff = pt - ph
local se = math.sqrt(pt * (1 - pt) / nt + ph * (1 - ph) / nh)
local function pts(x) return (("%+.1f pts"):format(x * 100)) end
local mt, mh = st / nt, sh / nh
local vt, vh = (sst - mt * st) / (nt - 1), (ssh - mh * sh) / (nh - 1)
local rse = math.sqrt(vt / nt + vh / nh)
local function signed(x)
  local c = math.floor(x + 0.5)
  return (c < 0 and "-" or "+") .. ("%d.%02d"):format(math.abs(c) // 100, math.abs(c) % 100)
end
print(("%.1f%%|%.1f%%|%s|%s|%s|%s|%s|%s"):format(pt * 100, ph * 100, pts(diff), pts(diff - 1.959964 * se),
  pts(diff + 1.959964 * se), signed(mt - mh), signed(mt - mh - 1.959964 * rse), signed(mt - mh + 1.959964 * rse)))
LUA
)
IFS='|' read -r rate_t rate_h up up_lo up_hi rev rev_lo rev_hi <<<"$EXPECT_REPORT"
assert_contains "report: the title" "$OUT" "campaign winback (feel): Win back lapsed customers"
assert_contains "report: the response" "$OUT" "a response is a purchase within 30 days of entering the campaign"
assert_contains "report: customers" "$OUT" "$(printf '%-22s %12s %12s' customers "$WB_T" "$WB_H")"
assert_contains "report: responded" "$OUT" "$(printf '%-22s %12s %12s' responded 2 1)"
assert_contains "report: response rate" "$OUT" "$(printf '%-22s %12s %12s' 'response rate' "$rate_t" "$rate_h")"
assert_contains "report: revenue per customer" "$OUT" \
  "$(printf '%-22s %12s %12s' 'revenue per customer' "$(money $((2050 / WB_T)))" "$(money $((500 / WB_H)))")"
assert_contains "report: points given" "$OUT" "$(printf '%-22s %12s %12s' 'points given' "$(commas $((WB_T * 250)))" 0)"
assert_contains "report: money spent" "$OUT" "$(printf '%-22s %12s %12s' 'money spent' "$(money $((WB_T * 500)))" 0.00)"
assert_contains "report: contacts" "$OUT" "$(printf '%-22s %12s %12s' contacts "$WB_T" 0)"
assert_contains "report: uplift in response rate" "$OUT" "uplift in response rate: $up (95% CI $up_lo to $up_hi)"
assert_contains "report: uplift in revenue" "$OUT" "uplift in revenue per customer: $rev (95% CI $rev_lo to $rev_hi)"
run campaign report --client cafe winback --format json
assert_contains "report json: the held out" "$OUT" \
  "\"holdout\":{\"contacts\":0,\"money_cents\":0,\"n\":$WB_H,\"points\":0,\"responded\":1,\"revenue\":500,\"revenue_sq\":250000.0}"
assert_contains "report json: the treated" "$OUT" \
  "\"treated\":{\"contacts\":$WB_T,\"money_cents\":$((WB_T * 500)),\"n\":$WB_T,\"points\":$((WB_T * 250)),\"responded\":2,\"revenue\":2050,\"revenue_sq\":2162500.0}"
run check --client cafe
assert_status "cafe: check after the campaigns" 0
assert_contains "cafe: check holds" "$OUT" "all hold"

# ==================================================================================
# double-points-weekend: started before the year's purchases arrive
# ==================================================================================
run client add gold
# Lower tier thresholds, so that a year of coffee makes gold (and platinum) members.
cat >"$H/clients/gold/config.lua" <<'LUA'
return { loyalty = { tiers = {
  { name = "member", min = 0 },
  { name = "silver", min = 300, multiplier = 1.25 },
  { name = "gold", min = 800, multiplier = 1.5 },
  { name = "platinum", min = 1200, multiplier = 2 },
} } }
LUA
run campaign start --client gold "$CAMP/double-points-weekend.lua" --at 2024-12-31
assert_status "double points: start" 0
assert_contains "double points: started" "$OUT" 'started double-points-weekend (event("purchase"))'
run import --client gold --format ndjson "$TMP/coffee.ndjson"
assert_status "gold: import" 0

# Weekend purchases ((day + 4) % 7: 0 Sunday, 6 Saturday) by a customer gold or
# above once the purchase is counted; the points again: the amount at the
# multiplier of the tier before the purchase (the purchase that reaches a tier
# earns at the old one), whole points.
DP_SQL="WITH p AS (
  SELECT e.id, e.customer_id, e.amount_cents,
    (SELECT h.tier FROM tier_history h WHERE h.customer_id = e.customer_id AND h.at <= e.at
       ORDER BY h.at DESC, h.id DESC LIMIT 1) AS tier_now,
    COALESCE((SELECT h.tier FROM tier_history h WHERE h.customer_id = e.customer_id AND h.at < e.at
       ORDER BY h.at DESC, h.id DESC LIMIT 1), 'member') AS tier_before
  FROM events e WHERE e.type = 'purchase' AND ((e.at / 86400) + 4) % 7 IN (0, 6)),
q AS (SELECT id, customer_id, amount_cents * (CASE tier_before WHEN 'silver' THEN 125 WHEN 'gold' THEN 150
    WHEN 'platinum' THEN 200 ELSE 100 END) / 10000 AS points FROM p WHERE tier_now IN ('gold', 'platinum'))"
DP=$(ev gold "local r = cx.query([[$DP_SQL SELECT COUNT(*) AS n, SUM(points) AS p, COUNT(DISTINCT customer_id) AS c,
  SUM(points > 0) AS nz FROM q]])[1] return r.n .. ' ' .. r.p .. ' ' .. r.c .. ' ' .. r.nz")
read -r DP_N DP_P DP_C DP_NZ <<<"$DP"
ints DP_N DP_P DP_C DP_NZ
echo "double-points-weekend: $DP_N weekend purchases by $DP_C gold or platinum customers, $DP_NZ earning, $DP_P points again"
assert_eq "double points: seed 7 has 230 weekend purchases by 41 gold members, 1,867 points" "230 1867 41 230" "$DP"
assert_eq "double points: the ledger" "$DP_NZ $DP_P" \
  "$(ev gold "local r = cx.query([[SELECT COUNT(*) AS n, SUM(points) AS p FROM ledger
    WHERE rule = 'campaign:double-points-weekend' AND kind = 'bonus' AND plugin = 'campaigns']])[1] return r.n .. ' ' .. r.p")"
assert_eq "double points: each bonus is for one of those purchases, its points again" "0 0" \
  "$(ev gold "local r = cx.query([[$DP_SQL SELECT
      (SELECT COUNT(*) FROM ledger l LEFT JOIN q ON q.id = l.event_id
       WHERE l.rule = 'campaign:double-points-weekend' AND (q.id IS NULL OR q.points <> l.points)) AS wrong,
      (SELECT COUNT(*) FROM ledger l JOIN ledger b ON b.event_id = l.event_id AND b.rule = 'campaign:double-points-weekend'
       WHERE l.rule = 'purchase' AND l.points <> b.points) AS differ]])[1]
    return r.wrong .. ' ' .. r.differ")"
assert_eq "double points: actions, members" "points $DP_NZ $DP_P;members $DP_C treated" \
  "$(ev gold "local a = cx.query([[SELECT kind, COUNT(*) AS n, SUM(points) AS p FROM campaign_actions GROUP BY kind]])[1]
    local m = cx.query([[SELECT COUNT(*) AS n, GROUP_CONCAT(DISTINCT arm) AS arms FROM campaign_members]])[1]
    return a.kind .. ' ' .. a.n .. ' ' .. a.p .. ';members ' .. m.n .. ' ' .. m.arms")"
assert_eq "double points: none on a weekday" 0 "$(q gold "SELECT COUNT(*) AS n FROM campaign_actions a JOIN events e
  ON e.id = a.event_id WHERE ((e.at / 86400) + 4) % 7 NOT IN (0, 6)")"
assert_eq "double points: no one below gold" 0 "$(q gold "SELECT COUNT(*) AS n FROM campaign_actions a JOIN events e
  ON e.id = a.event_id WHERE (SELECT h.tier FROM tier_history h WHERE h.customer_id = e.customer_id AND h.at <= e.at
  ORDER BY h.at DESC, h.id DESC LIMIT 1) NOT IN ('gold', 'platinum')")"
run campaign list --client gold
assert_match "double points: listed, started, live" "$OUT" 'double-points-weekend +act +started +1 +event\("purchase"\) +on events: live'

before=$(snapshot gold)
run import --client gold --format ndjson "$TMP/coffee.ndjson"
assert_contains "double points: importing again adds nothing" "$OUT" "imported 0 new events"
run campaign start --client gold "$CAMP/double-points-weekend.lua" --at 2024-12-31
assert_status "double points: started again" 0
# A second start is an event of its own (start number 2), and nothing more.
events_before=$(printf '%s\n' "$before" | sed -n 's/.* events=\([0-9]*\).*/\1/p')
assert_eq "double points: nothing done twice" "${before/events=$events_before/events=$((events_before + 1))}" \
  "$(snapshot gold)"
run check --client gold
assert_status "gold: check after the campaign" 0

# ==================================================================================
# feel-recovery: started before the complaints arrive
# ==================================================================================
run client add care
run campaign start --client care "$CAMP/feel-recovery.lua" --at 2024-12-31
assert_status "recovery: start" 0
run import --client care --format ndjson "$TMP/coffee.ndjson"
assert_status "care: import" 0
# The complaints in the order they happened, against the caps: per customer 600
# points and 4 messages in all, 2 messages in 7 days, the budget 30,000 points
# and 500 messages; 100 points per level of severity.
FR=$(ev care "local DAY = 86400
  local pts, cnt, sent = {}, {}, {}
  local tp, tc, acted, capped, freq, who_acted, nwho = 0, 0, 0, 0, 0, {}, 0
  for _, e in ipairs(cx.query([[SELECT c.external_id AS who, e.at, json_extract(e.data, '\$.severity') AS sev
      FROM events e JOIN customers c ON c.id = e.customer_id WHERE e.type = 'complaint' ORDER BY e.at, e.id]])) do
    local need, who = 100 * e.sev, e.who
    local recent = 0
    for _, t in ipairs(sent[who] or {}) do
      if t > e.at - 7 * DAY and t <= e.at then recent = recent + 1 end
    end
    if not who_acted[who] then who_acted[who] = true nwho = nwho + 1 end
    if (pts[who] or 0) + need > 600 or (cnt[who] or 0) + 1 > 4 then
      capped = capped + 1
    elseif recent + 1 > 2 then
      freq = freq + 1
    elseif tp + need <= 30000 and tc + 1 <= 500 then
      pts[who], cnt[who] = (pts[who] or 0) + need, (cnt[who] or 0) + 1
      sent[who] = sent[who] or {}
      table.insert(sent[who], e.at)
      tp, tc, acted = tp + need, tc + 1, acted + 1
    end
  end
  return ('%d %d %d %d %d'):format(acted, tp, capped, freq, nwho)")
read -r FR_N FR_P FR_CAPPED FR_FREQ FR_WHO <<<"$FR"
ints FR_N FR_P FR_CAPPED FR_FREQ FR_WHO
echo "feel-recovery: $FR_N complaints answered ($FR_P points), $FR_CAPPED over a per-customer cap," \
  "$FR_FREQ over the frequency cap, $FR_WHO customers"
assert_eq "recovery: seed 7 has 157 complaints answered, 42 capped, of 83 customers" "157 24400 42 0 83" "$FR"
assert_eq "recovery: actions" "points $FR_N $FR_P 0;send $FR_N 0 $FR_N" \
  "$(ev care "local out = {}
    for _, r in ipairs(cx.query([[SELECT kind, COUNT(*) AS n, SUM(points) AS p, SUM(contact) AS c FROM campaign_actions
        GROUP BY kind ORDER BY kind]])) do out[#out + 1] = table.concat({ r.kind, r.n, r.p, r.c }, ' ') end
    return table.concat(out, ';')")"
assert_eq "recovery: ledger entries, scaled by severity" "$FR_N $FR_P 0" \
  "$(ev care "local r = cx.query([[SELECT COUNT(*) AS n, SUM(l.points) AS p,
      SUM(l.points <> 100 * json_extract(e.data, '\$.severity') OR e.type <> 'complaint') AS wrong
      FROM ledger l JOIN events e ON e.id = l.event_id WHERE l.rule = 'campaign:feel-recovery']])[1]
    return r.n .. ' ' .. r.p .. ' ' .. r.wrong")"
assert_eq "recovery: apologies in the outbox, with the points" "$FR_N 0" \
  "$(ev care "local r = cx.query([[SELECT COUNT(*) AS n,
      SUM(json_extract(o.vars, '\$.points') <> 100 * json_extract(e.data, '\$.severity')) AS wrong
      FROM outbox o JOIN events e ON e.id = o.event_id WHERE o.template = 'apology' AND o.channel = 'email']])[1]
    return r.n .. ' ' .. r.wrong")"
assert_eq "recovery: no customer over the caps" 0 "$(q care "SELECT COUNT(*) AS n FROM (SELECT customer_id,
  SUM(points) AS p, SUM(contact) AS c FROM campaign_actions GROUP BY customer_id) WHERE p > 600 OR c > 4")"
assert_eq "recovery: every complainer a treated member" "$FR_WHO treated" \
  "$(ev care "local m = cx.query([[SELECT COUNT(*) AS n, GROUP_CONCAT(DISTINCT arm) AS arms FROM campaign_members]])[1]
    return m.n .. ' ' .. m.arms")"

# Stopped, it answers no more complaints.
run campaign stop --client care feel-recovery --at 2026-01-01
assert_status "recovery: stop" 0
assert_contains "recovery: stopped" "$OUT" "stopped feel-recovery"
run campaign list --client care
assert_match "recovery: listed, not started" "$OUT" 'feel-recovery +feel +- +1 +event\("complaint"\) +on events: ended'
before=$(snapshot care)
printf '%s\n' '{"id":"late-complaint","type":"complaint","customer":"C0001","at":"2026-01-05T10:00:00Z","touchpoint":"counter","severity":1}' \
  >"$TMP/late-complaint.ndjson"
run import --client care --format ndjson "$TMP/late-complaint.ndjson"
assert_status "a complaint after the stop" 0
assert_eq "after the stop: no action" "$FR_N" "$(q care "SELECT COUNT(*) AS n FROM campaign_actions WHERE kind = 'send'")"
run campaign stop --client care feel-recovery
assert_contains "stop twice" "$OUT" "feel-recovery is not running"
run check --client care
assert_status "care: check after the campaign" 0

# ==================================================================================
# handover-care: a journey on the property developer's handovers
# ==================================================================================
run client add homes
run campaign start --client homes "$CAMP/handover-care.lua" --at 2024-12-31
assert_status "handover: start" 0
run import --client homes --format ndjson "$TMP/property.ndjson"
assert_status "homes: import" 0
assert_contains "homes: every event imported" "$OUT" "imported $(commas "$PROPERTY_EVENTS") new events"

HV_SQL="SELECT c.external_id AS who, e.at FROM events e JOIN customers c ON c.id = e.customer_id
  JOIN touchpoints t ON t.id = e.touchpoint_id WHERE e.type = 'visit' AND t.name = 'handover' ORDER BY c.external_id"
HO=$(ev homes "$HASH_LUA
  local list = {}
  for _, r in ipairs(cx.query([[$HV_SQL]])) do list[#list + 1] = r.who end
  return arms('handover-care', 0.1, list)")
read -r HO_N HO_H HO_T <<<"${HO%%|*}"
ints HO_N HO_H HO_T
echo "handover-care: $HO_N handovers, held out $HO_H, treated $HO_T"
assert_eq "handover: seed 7 has 31 handovers, 4 held out" "31 4 27" "$HO_N $HO_H $HO_T"
assert_eq "handover: one handover each" "$HO_N" "$(q homes "SELECT COUNT(DISTINCT who) AS n FROM ($HV_SQL)")"
assert_eq "handover: the members and their arms" "$HO" "$(members homes handover-care)"

# Where each treated owner stands: entered at the handover visit; the import
# ends with a refresh as of the latest event (END), which sends the survey to
# those whose 3 days are over (then 14 days' wait from END) and leaves the
# others due 3 days after their handover.
END=$(q homes "SELECT MAX(at) AS n FROM events")
ints END
# journey_state: "step due_at" per treated owner, sorted, as the store holds it.
journey_state() {
  ev homes "local out = {}
    for _, r in ipairs(cx.query([[SELECT c.external_id AS who, COALESCE(j.step, '-') AS step, COALESCE(j.due_at, 0) AS due,
        j.entered_at FROM journeys j JOIN customers c ON c.id = j.customer_id ORDER BY c.external_id]])) do
      out[#out + 1] = r.who .. ':' .. r.step .. ':' .. r.due .. ':' .. r.entered_at
    end
    return table.concat(out, ' ')"
}
# expect_state REFRESHES...: the journeys worked out from the handovers, after
# the import's refresh (END) and then each refresh time given, in order.
# Thanks or call: a complaint since the handover, or no survey from 3 days
# after it on, means a call.
expect_state() {
  local times
  times=$(IFS=,; echo "$*")
  ev homes "$HASH_LUA
    local refreshes = { $END }
    for _, t in ipairs({ $times }) do refreshes[#refreshes + 1] = t end
    local out = {}
    for _, r in ipairs(cx.query([[$HV_SQL]])) do
      if bucket('handover-care', r.who) >= 0.1 then
        local step, due = 'survey', r.at + 3 * 86400
        for _, now in ipairs(refreshes) do
          if step ~= '-' and due <= now then
            if step == 'survey' then
              step, due = 'check', now + 14 * 86400
            else
              step, due = '-', 0
            end
          end
        end
        out[#out + 1] = r.who .. ':' .. step .. ':' .. due .. ':' .. r.at
      end
    end
    return table.concat(out, ' ')"
}
R1=$(ev homes "cx.time.parse('2026-01-02')")
R2=$(ev homes "cx.time.parse('2026-01-14')")
R3=$(ev homes "cx.time.parse('2026-02-01')")
ints R1 R2 R3
assert_eq "journeys after the import" "$(expect_state)" "$(journey_state)"
SURVEYED=$(expect_state | tr ' ' '\n' | grep -c ':check:')
assert_eq "handover: seed 7 has 26 owners surveyed by the import's refresh" 26 "$SURVEYED"
assert_eq "after the import: welcome for all, survey for those 3 days on" \
  "welcome_home $HO_T;handover_survey $SURVEYED" \
  "$(ev homes "local out = {}
    for _, r in ipairs(cx.query([[SELECT template, COUNT(*) AS n FROM outbox WHERE channel = 'email'
        GROUP BY template ORDER BY template DESC]])) do out[#out + 1] = r.template .. ' ' .. r.n end
    return table.concat(out, ';')")"

run refresh --client homes --as-of 2026-01-02
assert_status "refresh 2026-01-02" 0
assert_eq "journeys after 2026-01-02" "$(expect_state "$R1")" "$(journey_state)"
run refresh --client homes --as-of 2026-01-14
assert_eq "journeys after 2026-01-14" "$(expect_state "$R1" "$R2")" "$(journey_state)"
assert_match "2026-01-14: some done, some still waiting (data as expected)" "$(journey_state)" ':-:0:.*:check:|:check:.*:-:0:'
before=$(snapshot homes)
run refresh --client homes --as-of 2026-01-14
assert_eq "the same refresh again: nothing moves" "$before" "$(snapshot homes)"
run refresh --client homes --as-of 2026-02-01
assert_eq "journeys after 2026-02-01: all done" "$(expect_state "$R1" "$R2" "$R3")" "$(journey_state)"
assert_eq "all done" "$HO_T" "$(q homes "SELECT COUNT(*) AS n FROM journeys WHERE step IS NULL AND due_at IS NULL")"

# thanks or call, from the owners' complaints and surveys
read -r HO_CALL HO_THANKS <<<"$(ev homes "$HASH_LUA
  local call, thanks = 0, 0
  for _, r in ipairs(cx.query([[SELECT v.who, v.at,
      (SELECT COUNT(*) FROM events x JOIN customers c ON c.id = x.customer_id
       WHERE c.external_id = v.who AND x.type = 'complaint' AND x.at >= v.at) AS complaints,
      (SELECT COUNT(*) FROM events x JOIN customers c ON c.id = x.customer_id
       WHERE c.external_id = v.who AND x.type = 'survey' AND x.at >= v.at + 3 * 86400) AS surveys
      FROM ($HV_SQL) v]])) do
    if bucket('handover-care', r.who) >= 0.1 then
      if r.complaints > 0 or r.surveys == 0 then call = call + 1 else thanks = thanks + 1 end
    end
  end
  return call .. ' ' .. thanks")"
ints HO_CALL HO_THANKS
echo "handover-care: $HO_THANKS thanked, $HO_CALL called"
assert_eq "handover: seed 7 has 12 calls and 15 thanks" "12 15" "$HO_CALL $HO_THANKS"
assert_eq "handover: thanks, 500 points each" "$HO_THANKS $((HO_THANKS * 500))" \
  "$(ev homes "local r = cx.query([[SELECT COUNT(*) AS n, SUM(points) AS p FROM ledger WHERE rule = 'campaign:handover-care'
    AND kind = 'bonus']])[1] return r.n .. ' ' .. r.p")"
assert_eq "handover: the outbox" "email handover_survey $HO_T;email welcome_home $HO_T;phone care_call $HO_CALL" \
  "$(ev homes "local out = {}
    for _, r in ipairs(cx.query([[SELECT channel, template, COUNT(*) AS n FROM outbox GROUP BY 1, 2 ORDER BY 1, 2]])) do
      out[#out + 1] = r.channel .. ' ' .. r.template .. ' ' .. r.n
    end
    return table.concat(out, ';')")"
assert_eq "handover: the held out got nothing, and have no journey" "0 0" \
  "$(ev homes "return cx.query([[SELECT COUNT(*) AS n FROM campaign_actions a JOIN campaign_members m
      ON m.campaign_id = a.campaign_id AND m.customer_id = a.customer_id WHERE m.arm = 'holdout']])[1].n .. ' ' ..
    cx.query([[SELECT COUNT(*) AS n FROM journeys j JOIN campaign_members m
      ON m.campaign_id = j.campaign_id AND m.customer_id = j.customer_id WHERE m.arm = 'holdout']])[1].n")"
assert_eq "handover: each owner thanked or called, not both" "0" "$(q homes "SELECT COUNT(*) AS n FROM
  (SELECT customer_id FROM campaign_actions WHERE kind = 'points' OR (kind = 'send' AND detail LIKE '%care_call%')
   GROUP BY customer_id HAVING COUNT(*) <> 1)")"

before=$(snapshot homes)
run import --client homes --format ndjson "$TMP/property.ndjson"
assert_contains "homes: importing again adds nothing" "$OUT" "imported 0 new events"
run refresh --client homes --as-of 2026-03-01
assert_eq "homes: a journey is made once" "$(sed 's/facts=[^ ]*//' <<<"$before")" "$(snapshot homes | sed 's/facts=[^ ]*//')"

run campaign report --client homes handover-care
assert_status "handover report" 0
assert_contains "handover report: customers" "$OUT" "$(printf '%-22s %12s %12s' customers "$HO_T" "$HO_H")"
assert_contains "handover report: points" "$OUT" "$(printf '%-22s %12s %12s' 'points given' "$(commas $((HO_THANKS * 500)))" 0)"
assert_contains "handover report: contacts" "$OUT" "$(printf '%-22s %12s %12s' contacts $((HO_T * 2 + HO_CALL)) 0)"
run check --client homes
assert_status "homes: check after the journey" 0

finish
