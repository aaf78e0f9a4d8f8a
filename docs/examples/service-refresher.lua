-- refresher: while `cxhost serve` runs, it runs every plugin's on_refresh
-- now and then, as of the clock's time, so that what changes with time alone
-- (lifecycle stages, points whose return window has closed) changes without
-- waiting for an import or a `cxhost refresh`.
return {
  name = "refresher",
  version = "1.0",
  description = "Refreshes the client every hour while the service runs",

  defaults = { every_seconds = 3600 },

  on_load = function(ctx)
    cx.every(ctx.config.every_seconds, function()
      local now = cx.time.now()
      cx.refresh(now)
      ctx.log("refreshed as of", cx.time.iso(now))
    end)
  end,
}
