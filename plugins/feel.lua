-- feel: how customers feel about the brand (Bernd Schmitt's FEEL module).
--
-- What it listens to, and what each event is worth (a weight; 0 switches a
-- type off, and a client may add its own types):
--   survey       the `feel` rating (1 to 7 agreement, 7 = 100, 1 = 0), and the
--                answer to "would you recommend us" (`nps`, 0 to 10 = 0 to 100,
--                weighed nps_weight)
--   compliment   a good moment: 100
--   complaint    a bad moment: 0, weighing its weight times its `severity`
--                (1 to 3, 1 when not given), so a complaint outweighs a
--                compliment
--   other types  a client maps to feel: 100, or their `feel` rating if given
-- A moment with an `episode` (part of a visit or a journey stage) is
-- remembered with the rest of its episode by the peak-end rule.
--
-- It also keeps the client's NPS (promoters 9-10 minus detractors 0-6, with
-- the number of answers) and CSAT (`csat`, 1 to 5) per touchpoint, and each
-- customer's last answers as the facts `nps` and `csat`.
--
-- Each customer's score, 0 to 100, starts at the prior (50, neutral) and
-- drifts back to it as observations age (their weight halves every
-- half_life_days). The formulas: docs/experience.md. To change a setting for
-- one client, in clients/NAME/config.lua:
--   return { feel = { half_life_days = 60, types = { complaint = 4 } } }

local experience = cx.experience
local MODULE = "feel"

return {
  name = "feel",
  version = "1.0",
  description = "Affect toward the brand: ratings, NPS, compliments and complaints (Schmitt's FEEL)",
  order = 22,

  defaults = {
    half_life_days = 90,
    prior = 50,
    prior_weight = 1,
    types = { survey = 2, compliment = 1, complaint = 2 },
    nps_weight = 1,
  },

  on_load = function(ctx)
    experience.check_settings(MODULE, ctx.config)
    assert(type(ctx.config.nps_weight) == "number" and ctx.config.nps_weight >= 0,
      "config.lua: feel.nps_weight must be a number from 0 up")
    -- Surveys always: NPS and CSAT are counted even when feel ratings weigh 0.
    local types = experience.types(ctx.config)
    if not ctx.config.types.survey or ctx.config.types.survey <= 0 then
      types[#types + 1] = "survey"
    end
    ctx.listen(types)
  end,

  on_event = function(ev, ctx)
    local settings = ctx.config
    local weight = settings.types[ev.type]
    if ev.type == "survey" then
      local feel = experience.rating(ev, "feel", 1, 7)
      if feel and weight and weight > 0 then
        experience.observe(ctx, MODULE, ev, experience.scale(feel, 1, 7), weight, ev.episode)
      end
      local nps = experience.rating(ev, "nps", 0, 10)
      if nps then
        if settings.nps_weight > 0 then
          experience.observe(ctx, MODULE, ev, nps * 10, settings.nps_weight)
        end
        local promoter, detractor = nps >= 9, nps <= 6
        ctx.cell_add("nps", ev.touchpoint, promoter and 100 or detractor and -100 or 0, 1,
          { high = promoter, low = detractor })
        if ev.customer then
          ctx.fact_set(ev.customer, "nps", nps)
        end
      end
      local csat = experience.rating(ev, "csat", 1, 5)
      if csat then
        ctx.cell_add("csat", ev.touchpoint, csat, 1, { high = csat >= 4, low = csat <= 2 })
        if ev.customer then
          ctx.fact_set(ev.customer, "csat", csat)
        end
      end
    elseif ev.type == "complaint" then
      local severity = experience.rating(ev, "severity", 1, 3) or 1
      experience.observe(ctx, MODULE, ev, 0, weight * severity, ev.episode)
    else
      experience.observe_event(ctx, MODULE, ev)
    end
  end,
}
