-- The client of test_lifecycle_config.lua: lapsed after 200 days instead of 365.
return {
  lifecycle = { lapsed_days = 200 },
}
