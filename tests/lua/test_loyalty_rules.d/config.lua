-- The client of test_loyalty_rules.lua: multipliers by touchpoint and
-- category, two promotions, a daily cap, tiers by money spent, a custom
-- once-a-year bonus, surveys worth nothing, a custom reward, and return
-- windows (so pending periods) by category.
return {
  loyalty = {
    touchpoint_multipliers = { app = 2, store = 1.15 },
    category_multipliers = { electronics = 1.5 },
    promotions = {
      spring = { from = "2026-03-07", to = "2026-03-08", multiplier = 2 },
      app_week = { from = "2026-05-01", to = "2026-05-07", multiplier = 3, touchpoint = "app" },
    },
    daily_cap = 1000,
    tier_basis = "spend_cents",
    tiers = {
      { name = "member", min = 0 },
      { name = "silver", min = 50000, multiplier = 1.2 },
      { name = "gold", min = 200000, multiplier = 2 },
    },
    bonus = { anniversary = 200, survey = 0 },
    bonus_once_per_year = { "birthday", "anniversary" },
    rewards = { mug = { points = 120, description = "A cxhost mug" } },
  },
  refund = { return_days = { default = 14, electronics = 30 } },
}
