-- report: how the built-in reports show numbers; plugins and scripts find it
-- as cx.report, for reports of their own that should read the same.
local report = {}

-- 12345 as "12,345".
function report.count(n)
  local text = ("%d"):format(n)
  local grouped = text:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (grouped:gsub("^,", ""):gsub("^%-,", "-"))
end

-- x with `places` decimals (default 1); a negative that rounds to zero loses its sign.
function report.decimals(x, places)
  local text = ("%." .. (places or 1) .. "f"):format(x)
  if text:match("^%-[0.]+$") then
    text = text:sub(2)
  end
  return text
end

-- A score with its sign, as NPS is written: +12.5, -3.0, and 0.0 without one.
function report.signed(score)
  local text = report.decimals(score, 1)
  if score > 0 and text ~= "0.0" then
    text = "+" .. text
  end
  return text
end

-- 123456 cents as "$1,234.56".
function report.money(cents)
  return "$" .. cx.money.format(cents or 0)
end

return report
