-- cx-tour: every part of the cx table, in one script.
--   cxhost run --client shop docs/examples/cx-tour.lua

-- cx.client: the client's name
print("client: " .. cx.client)

-- cx.plugins(): the loaded plugins, in the order they run, with their settings
for _, p in ipairs(cx.plugins()) do
  print(("plugin: %s %s (%s, order %d)"):format(p.name, p.version, p.origin, p.order))
end
print("lifecycle's lapsing_days: " .. cx.plugins()[1].config.lapsing_days)

-- cx.query(sql, ...): read-only SQL; ?1, ?2 ... are the values given after sql
local rows = cx.query("SELECT COUNT(*) AS n, SUM(amount_cents) AS cents FROM events WHERE type = ?1",
  "purchase")
print(("purchases: %d for %s"):format(rows[1].n, cx.money.format(rows[1].cents)))

-- cx.customer(id): one customer's events, points, tags and facts (nil if unknown)
local ann = cx.customer("ann")
print(("ann: %d events, %d points, tags: %s, stage: %s"):format(
  ann.events, ann.points, table.concat(ann.tags, " "), ann.facts.lifecycle.stage))
print("nobody: " .. tostring(cx.customer("nobody")))

-- cx.experience: the experience modules' scores, as of the latest event
local act = cx.experience.profile("ann").modules.act
print(("ann's act score: %.1f, from %d observation(s)"):format(act.score, act.observations))

-- cx.loyalty: a customer's points, worked out from the ledger's lots
local points = cx.loyalty.account("ann")
print(("ann's points: %d, %d of them available, %d pending"):format(points.balance, points.available,
  points.pending))

-- cx.time: Unix seconds (UTC) to text and back
local t = cx.time.parse("2026-03-15T13:00:00+01:00")
print(("time: %d = %s, day %s"):format(t, cx.time.iso(t), cx.time.date(t)))
print("bad time: " .. select(2, cx.time.parse("2026-02-30")))
print("now is after 2026: " .. tostring(cx.time.now() > cx.time.parse("2026-01-01")))

-- cx.money: cents to text and back, never a floating-point number
print(("money: %s and %d cents"):format(cx.money.format(123456), cx.money.parse("19.99")))
print("bad money: " .. select(2, cx.money.parse("19.999")))

-- cx.json: tables to JSON text and back
local text = cx.json.encode({ name = "ann", tags = { "vip" }, points = 230 })
print("json: " .. text .. " -> points " .. cx.json.decode(text).points)

-- cx.ingest(event): an event through the plugins, as if imported
print("ingest: " .. cx.ingest({
  id = "s-3", type = "survey", customer = "ann", at = "2026-03-20T10:00:00Z",
  touchpoint = "phone", data = { rating = 4 },
}))
print("again: " .. cx.ingest({ id = "s-3", type = "survey", customer = "ann", at = "2026-03-20" }))

-- cx.refresh([as_of]): every plugin's on_refresh, as of a time
cx.refresh("2026-12-31")
print("ann's stage on 2026-12-31: " .. cx.customer("ann").facts.lifecycle.stage)
