-- deli-specials: every Friday at 16:00 (UTC), the weekend's specials by
-- email, for every customer.
--   cxhost campaign start --client NAME docs/examples/campaign-deli-specials.lua
return {
  name = "deli-specials",
  description = "The weekend's specials, every Friday",
  module = "sense",
  audience = everyone(),
  trigger = "every friday 16:00",
  actions = { send("email", "weekend-specials") },
}
