-- report: how the built-in reports show numbers; plugins and scripts find it
-- as cx.report, for reports of their own that should read the same.
local report = {}

-- 12345 as "12,345".
function report.count(n)
  local text = ("%d"):format(n)
  local grouped = text:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (grouped:gsub("^,", ""):gsub("^%-,", "-"))
end

-- 123456 cents as "$1,234.56".
function report.money(cents)
  return "$" .. cx.money.format(cents or 0)
end

return report
