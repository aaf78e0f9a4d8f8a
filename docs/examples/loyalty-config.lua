-- clients/shop/config.lua: the loyalty programme of client "shop".
return {
  loyalty = {
    -- Double points in the app; one and a half on books.
    touchpoint_multipliers = { app = 2 },
    category_multipliers = { books = 1.5 },
    -- Triple points all weekend, 7 and 8 March 2026.
    promotions = {
      spring_weekend = { from = "2026-03-07", to = "2026-03-08", multiplier = 3 },
    },
    -- A referral earns 200 points (survey and birthday keep 10 and 50).
    bonus = { referral = 200 },
    -- No customer earns more than 400 points a day.
    daily_cap = 400,
    -- A reward of our own, beside voucher_5 and voucher_25.
    rewards = { coffee = { points = 150, description = "a free coffee" } },
  },
  -- The refund plugin: a purchase can be returned for 14 days, so its
  -- points stay pending for 14 days.
  refund = { return_days = { default = 14 } },
}
