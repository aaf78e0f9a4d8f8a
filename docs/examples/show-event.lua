-- show_event: writes every event a plugin receives to the log, as JSON.
-- Handy while writing a plugin; remove it afterwards.
return {
  name = "show_event",
  version = "1.0",
  on_event = function(ev, ctx)
    ctx.log(cx.json.encode(ev))
  end,
}
