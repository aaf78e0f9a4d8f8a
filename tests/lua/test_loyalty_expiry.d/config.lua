-- The client of test_loyalty_expiry.lua: points expire one calendar month
-- after the day they were earned, and are never pending.
return {
  loyalty = { expiry_months = 1, pending = false },
}
