-- clients/shop/config.lua: the settings of client "shop".
return {
  -- The built-in lifecycle plugin (defaults: 90, 180 and 365 days).
  lifecycle = { new_days = 60, lapsing_days = 120, lapsed_days = 270 },

  -- The client's own loyalty plugin (defaults in its file).
  loyalty = { points_per_dollar = 2, vip_points = 500 },

  -- Limits for each piece of Lua run for this client.
  limits = { memory_mb = 128, instructions = 50000000 },
}
