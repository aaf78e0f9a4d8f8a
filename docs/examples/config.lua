-- clients/shop/config.lua: the settings of client "shop".
return {
  -- The built-in lifecycle plugin (defaults: 90, 180 and 365 days).
  lifecycle = { new_days = 60, lapsing_days = 120, lapsed_days = 270 },

  -- The client's own loyalty plugin (defaults in its file).
  loyalty = { points_per_dollar = 2, vip_points = 500 },

  -- The built-in feel plugin: a complaint weighs 4 (the default is 2), and
  -- a new event type, thanks, counts as a good moment. Its other types keep
  -- their default weights.
  feel = { types = { complaint = 4, thanks = 1 } },

  -- Where the touchpoints sit in the customer's journey, and who runs them.
  touchpoints = {
    web = { stage = "before", provider = "website" },
    store = { stage = "during", provider = "spatial environment" },
    phone = { stage = "after", provider = "people" },
    email = { stage = "after", provider = "communications" },
  },

  -- Limits for each piece of Lua run for this client.
  limits = { memory_mb = 128, instructions = 50000000 },
}
