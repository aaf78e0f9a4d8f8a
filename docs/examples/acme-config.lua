-- clients/acme/config.lua: the settings of client "acme".
return {
  -- Settings of the built-in lifecycle plugin. Its defaults are
  -- new_days = 90, lapsing_days = 180, lapsed_days = 365.
  lifecycle = { lapsing_days = 120, lapsed_days = 270 },

  -- Limits for each piece of Lua run for this client (plugins, scripts).
  limits = { memory_mb = 128 },
}
