-- probe: runs after lifecycle (order 10) and records the stage it sees, so the
-- test can tell that client plugins from the .d folder are loaded and ordered.
return {
  name = "probe",
  version = "1",
  order = 20,
  events = { "purchase" },
  on_event = function(ev, ctx)
    if ev.customer then
      ctx.fact_set(ev.customer, "seen_stage", ctx.fact(ev.customer, "stage", "lifecycle") or "none")
    end
  end,
}
