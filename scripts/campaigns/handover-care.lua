-- Look after new owners in the weeks after the handover of their home
-- (a property developer's post-handover care journey).
--
-- What it does: when an owner comes to the handover of their flat (a `visit`
-- at the touchpoint "handover"), they start a journey of a few steps:
--   1. welcome   at once: an email welcoming them home (the guide to the
--                flat, who to call for what); then 3 days' pause;
--   2. survey    an email asking how the handover went; then 14 days' pause;
--   3. check     the care team's rule: an owner who has complained since the
--                handover, or has not answered a survey in the weeks after it
--                (the ratings given on the day itself do not count), goes to
--                "call"; the others to "thanks";
--   4. thanks    500 loyalty points as a thank-you, and the journey ends;
--   5. call      a phone call from the care team (a task in the outbox for
--                the phone channel), and the journey ends.
-- Each owner makes the journey once.
--
-- Why: the weeks after the keys are handed over decide whether an owner
-- recommends us or warns their friends off. Snags that are followed up
-- quickly turn into goodwill; silence turns into complaints. A tenth of the
-- owners are held out (they get none of it) to measure what the care does:
-- `cxhost campaign report` counts a referral within 90 days as a response.
--
-- How to run it: it reacts to handovers as they arrive, and each step waits
-- its time; the service (`cxhost serve`) moves owners on by itself, and
-- `cxhost refresh` does it by hand:
--   cxhost campaign check scripts/campaigns/handover-care.lua
--   cxhost campaign start --client NAME scripts/campaigns/handover-care.lua
--   cxhost import --client NAME events.ndjson
--   cxhost refresh --client NAME                 (moves owners whose pause is over)
--   cxhost campaign report --client NAME handover-care
-- Stop it with: cxhost campaign stop --client NAME handover-care

local DAY = 86400

return {
  name = "handover-care",
  description = "Post-handover care: welcome, survey, then a thank-you or a call from the care team",
  module = "feel",

  audience = everyone(),

  trigger = event("visit", function(ev, c) return ev.touchpoint == "handover" end),

  journey = {
    { step = "welcome",
      send("email", "welcome_home", { guide = "owners-guide.pdf", care_line = "after-sales" }),
      wait = "3 days" },
    { step = "survey",
      send("email", "handover_survey", function(c) return { owner = c.id } end),
      wait = "14 days" },
    { step = "check",
      decide = function(c)
        local complained = c.events("complaint", c.entered_at) > 0
        local answered = c.events("survey", c.entered_at + 3 * DAY) > 0
        if complained or not answered then
          return "call"
        end
        return "thanks"
      end },
    { step = "thanks",
      points(500, { note = "thank you for your feedback on the handover" }),
      stop = true },
    { step = "call",
      send("phone", "care_call", function(c) return { owner = c.id, reason = "after the handover" } end) },
  },

  budget = { points = 50000, contacts = 1000 },

  holdout = 0.1,

  -- A happy owner recommends us: a referral within 90 days of the handover.
  response = { event = "referral", days = 90 },
}
