-- campaign-journeys: where each customer is on the client's journeys, and
-- what each journey did for them.
--   cxhost run --client NAME docs/examples/campaign-journeys.lua
local rows = cx.query([[
  SELECT k.name AS campaign, c.external_id AS customer, j.step, j.due_at, j.entered_at
  FROM journeys j JOIN campaigns k ON k.id = j.campaign_id JOIN customers c ON c.id = j.customer_id
  ORDER BY k.name, j.entered_at, c.id]])
for _, j in ipairs(rows) do
  local where = j.step and ("at %s, due %s"):format(j.step, cx.time.iso(j.due_at)) or "done"
  print(("%s %s: entered %s, %s"):format(j.campaign, j.customer, cx.time.iso(j.entered_at), where))
  for _, a in ipairs(cx.query([[
      SELECT a.at, a.detail FROM campaign_actions a JOIN campaigns k ON k.id = a.campaign_id
      JOIN customers c ON c.id = a.customer_id WHERE k.name = ?1 AND c.external_id = ?2 ORDER BY a.id]],
      j.campaign, j.customer)) do
    print(("  %s  %s"):format(cx.time.iso(a.at), cx.json.decode(a.detail).action))
  end
end
