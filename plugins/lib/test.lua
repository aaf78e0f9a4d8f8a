-- test: checking a client's plugins with a script; scripts find it as cx.test.
--
-- A test script feeds events with cx.ingest and checks what the plugins made
-- of them. Run it against a client made for the purpose (a test writes to
-- the store), with `cxhost run --client NAME my-test.lua`:
--
--   local check = cx.test
--   local suite = check.suite("goodwill")
--   suite:case("a complaint earns 100 points", function()
--     cx.ingest({ id = "k1", type = "complaint", customer = "ann", at = "2026-03-01" })
--     check.eq(cx.customer("ann").points, 100, "ann's points")
--   end)
--   suite:finish()   -- "1 passed, 0 failed"; a failed case fails the run (exit status 1)
--
-- A case stops at its first failed check and the next case runs.
local test = {}

local Suite = {}
Suite.__index = Suite

-- A set of cases. options.after, when given, runs after each case's own
-- checks, as part of the case (checks every case must pass, such as
-- invariants of the store).
function test.suite(name, options)
  return setmetatable({ name = name, after = options and options.after, passed = 0, failed = 0 }, Suite)
end

-- Runs fn as a case: it passes unless fn (or the suite's after) raises.
function Suite:case(title, fn)
  local ok, err = pcall(function()
    fn()
    if self.after then self.after() end
  end)
  if ok then
    self.passed = self.passed + 1
  else
    self.failed = self.failed + 1
    print(("FAIL %s: %s"):format(title, tostring(err)))
  end
end

-- Prints the count; raises when a case failed, so that the run fails.
function Suite:finish()
  print(("%d passed, %d failed"):format(self.passed, self.failed))
  if self.failed > 0 then
    error(("%d %s test(s) failed"):format(self.failed, self.name), 0)
  end
end

-- Raises "what: got X, want Y" unless got == want.
function test.eq(got, want, what)
  if got ~= want then
    error(("%s: got %s, want %s"):format(what, tostring(got), tostring(want)), 2)
  end
end

-- The same for numbers that may differ by tolerance (default 1e-6).
function test.near(got, want, what, tolerance)
  tolerance = tolerance or 1e-6
  if type(got) ~= "number" or math.abs(got - want) > tolerance then
    error(("%s: got %s, want %s"):format(what, tostring(got), tostring(want)), 2)
  end
end

-- A time text ("2026-03-01", "2026-03-01T10:00:00Z") as Unix seconds; raises when it is not one.
function test.time(text)
  local t, why = cx.time.parse(text)
  if not t then error(why, 2) end
  return t
end

-- The column n of a query's first row (nil when there is no row).
function test.one(sql, ...)
  local rows = cx.query(sql, ...)
  return rows[1] and rows[1].n
end

-- A customer's facts from one plugin ({} when none); raises for an unknown customer.
function test.facts(customer, plugin)
  local c = cx.customer(customer)
  if not c then error("customer '" .. customer .. "' should exist", 2) end
  return c.facts[plugin] or {}
end

return test
