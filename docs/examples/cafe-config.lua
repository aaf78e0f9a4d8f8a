-- clients/cafe/config.lua: the settings of client "cafe".
return {
  -- Where each touchpoint sits in the customer's journey (stage: before,
  -- during or after the purchase) and who runs it (provider), for the
  -- experience report.
  touchpoints = {
    web = { stage = "before", provider = "website" },
    counter = { stage = "during", provider = "people" },
    terrace = { stage = "during", provider = "spatial environment" },
    app = { stage = "during", provider = "website" },
    email = { stage = "after", provider = "communications" },
  },
}
