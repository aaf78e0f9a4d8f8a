-- clients/shop/config.lua for the service's timer example: refresh every
-- 2 seconds instead of every hour, to see it happen.
return {
  refresher = { every_seconds = 2 },
}
