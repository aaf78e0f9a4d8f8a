-- feedback: what surveys and complaints say about a customer's experience.
return {
  name = "feedback",
  version = "1.0",
  description = "Survey ratings as 'feel' scores; complaints tagged for follow-up",
  events = { "survey", "complaint" },

  defaults = { follow_up_days = 14 },

  on_event = function(ev, ctx)
    local who = ev.customer
    if not who then
      return
    end
    if ev.type == "survey" then
      local rating = tonumber(ev.data.rating) -- CSV columns arrive as text
      if rating then
        ctx.score_set(who, "feel", rating * 20, { touchpoint = ev.touchpoint })
        ctx.facts_set(who, { last_rating = rating, last_survey_at = ev.at })
      end
    else -- a complaint
      ctx.tag(who, "complained")
      ctx.fact_set(who, "complained_at", ev.at)
      -- A complaint from a repeat buyer: queue a call. The lifecycle
      -- plugin's facts tell how often the customer bought.
      local life = ctx.facts(who, "lifecycle")
      if (life.purchase_count or 0) >= 2 then
        ctx.outbox_send(who, "phone", "complaint_call", { client = ctx.client })
      end
    end
  end,

  -- Once follow_up_days have passed, a complaint is old news.
  on_refresh = function(ctx, as_of)
    ctx.each_customer(function(customer, facts)
      local complained_at = facts.complained_at
      if complained_at and (as_of - complained_at) // 86400 >= ctx.config.follow_up_days
          and ctx.has_tag(customer, "complained") then
        ctx.untag(customer, "complained")
      end
    end)
  end,
}
