-- clients/store/config.lua: the refund rules of client "store".
return {
  refund = {
    -- 7 days to return a purchase, no questions asked; 14 for electronics
    -- (the purchase's, or each line's, "category").
    return_days = { default = 7, electronics = 14 },
    -- Compensation for a complaint, by its severity (1, 2 or 3).
    compensation = {
      { points = 100 },
      { points = 250 },
      { points = 500, credit_cents = 2000 },
    },
    -- At most 600 points a customer in 365 days (credit: 50.00, the default).
    compensation_cap = { points = 600 },
    -- Points already spent are taken from the customer's other points.
    clawback = "within_balance",
  },
  -- Tiers by money spent (in cents) over 12 months: refunded money does not count.
  loyalty = {
    tier_basis = "spend_cents",
    tiers = {
      { name = "member", min = 0 },
      { name = "silver", min = 100000, multiplier = 1.25 },
    },
  },
}
