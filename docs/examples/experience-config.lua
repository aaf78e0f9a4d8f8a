-- clients/roastery/config.lua: a coffee chain's settings for the experience
-- modules. Only what differs from the defaults is written; each module's
-- types are merged with the built-in ones, entry by entry.
return {
  -- Where each touchpoint sits in the customer's journey, and which
  -- experience provider it is (for the report's stages and its grid).
  touchpoints = {
    social = { stage = "before", provider = "communications" },
    website = { stage = "before", provider = "website" },
    app = { stage = "during", provider = "website" },
    counter = { stage = "during", provider = "people" },
    seating = { stage = "during", provider = "spatial environment" },
    drive_thru = { stage = "during", provider = "people" },
    loyalty_club = { stage = "after", provider = "communications" },
    barista_class = { stage = "after", provider = "people" },
  },

  -- Regulars come several times a week: judge behaviour on the last two
  -- weeks, and do not count opening the app as doing something.
  act = { half_life_days = 14, types = { app_open = 0 } },

  -- A complaint weighs twice the default (4 instead of 2, times severity).
  feel = { types = { complaint = 4 } },

  -- Tastings, an event type of this client, are worth as much as a demo.
  think = { types = { tasting = 1 } },
}
