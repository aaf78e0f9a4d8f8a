-- campaign-mistakes: a campaign with a mistake on almost every line, to see
-- what `cxhost campaign check` says about each.
return {
  name = "summer sale",
  description = "Double points in August",
  module = "taste",
  audience = stage("lapsing") | rfm("at risk"),
  trigger = "daily 9 o'clock",
  actions = {
    points(100),
    "send an email",
  },
  budget = { points = 5000, euros = 300 },
  holdout = 0.6,
  reponse = { event = "purchase", days = 30 },
}
