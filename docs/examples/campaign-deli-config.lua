-- clients/deli/config.lua for the campaign examples: the campaigns plugin's
-- settings. At most 2 messages to a customer in any 7 days, across all
-- campaigns (a campaign's own `frequency` replaces this); and the service
-- looks for scheduled runs and journey steps every 10 seconds.
return {
  campaigns = {
    frequency = { contacts = 2, days = 7 },
    tick_seconds = 10,
  },
}
