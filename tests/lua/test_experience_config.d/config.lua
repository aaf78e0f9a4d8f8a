-- A client that weighs complaints double, maps a new event type to think
-- and switches content off, and gives its touchpoints a stage.
return {
  feel = { types = { complaint = 4 } },
  think = { types = { webinar = 1.5, content = 0 } },
  act = { half_life_days = 10 },
  touchpoints = {
    web = { stage = "before", provider = "website" },
    app = { stage = "during", provider = "website" },
    shop = { stage = "during", provider = "spatial environment" },
  },
}
