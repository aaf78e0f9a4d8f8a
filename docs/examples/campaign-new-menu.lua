-- new-menu: a 2.00 voucher for the new winter menu, by email, for the
-- active customers; at most 150.00 of vouchers, and no customer who had a
-- message from any campaign in the last 7 days.
--   cxhost campaign run --client NAME docs/examples/campaign-new-menu.lua
return {
  name = "new-menu",
  description = "A 2.00 voucher to try the new winter menu",
  module = "sense",
  audience = stage("new", "active"),
  actions = {
    send("email", "new-menu", { voucher = "2.00" }, { value = "2.00" }),
  },
  budget = { money = "150.00" },
  frequency = { contacts = 1, days = 7 },
  holdout = 0.1,
}
