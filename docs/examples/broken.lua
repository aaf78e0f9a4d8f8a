-- broken: a plugin with a mistake in it, to show what an error looks like.
return {
  name = "broken",
  version = "0.1",
  events = { "survey" },
  on_event = function(ev, ctx)
    local stars = ev.data.stars -- this file has no "stars" column: nil
    ctx.fact_set(ev.customer, "stars_x2", stars * 2)
  end,
}
