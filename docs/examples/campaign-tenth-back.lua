-- tenth-back: a tenth of each active customer's balance again, as a bonus.
-- It has a mistake: `/` divides into a fraction (123 / 10 is 12.3), and
-- points are whole. `c.points // 10` is what was meant.
return {
  name = "tenth-back",
  description = "A tenth of the balance again, as a bonus",
  module = "act",
  audience = stage("active"),
  actions = { points(function(c) return c.points / 10 end) },
}
