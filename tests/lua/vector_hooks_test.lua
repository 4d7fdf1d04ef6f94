-- Drives examples/vector/sigmaline.lua the way Vector's lua transform
-- does (hooks.init, hooks.process(event, emit) with event.log, shutdown)
-- under Debian's lua5.4, with the sigmaline C module on package.cpath.
-- Run by plugin/lua-module/tests/lua54.rs:
--   lua5.4 <this> <repo root> <dir holding sigmaline.so> <mode>
local root, moddir, mode = arg[1], arg[2], arg[3]
package.cpath = moddir .. "/?.so;" .. package.cpath
local cjson = require("cjson")
local failed, passed = 0, 0
local function check(cond, what)
  if cond then passed = passed + 1 else failed = failed + 1; print("FAIL " .. what) end
end

-- The module itself: a bad rules path is a clear Lua error.
local sigmaline = require("sigmaline")
local ok, e = pcall(sigmaline.new, { rules = "/nonexistent/rules" })
check(not ok and tostring(e):find("/nonexistent/rules", 1, true), "bad rules path named: " .. tostring(e))
ok, e = pcall(sigmaline.new, { rules = root .. "/examples/rules", colour = "blue" })
check(not ok and tostring(e):find("colour", 1, true), "unknown option named")

-- The glue, as Vector runs it.
dofile(root .. "/examples/vector/sigmaline.lua")
hooks.init()
local emitted, tagged, total = {}, 0, 0
for line in io.lines(root .. "/examples/data/seed-events.ndjson") do
  local okj, log = pcall(cjson.decode, line)
  if okj and type(log) == "table" then
    total = total + 1
    hooks.process({ log = log }, function(ev) emitted[#emitted + 1] = ev end)
  end
end
for _, ev in ipairs(emitted) do
  if ev.log.sigma then
    tagged = tagged + 1
    check(ev.log.sigma[1].author == "Dimitrios Slamaris", "tag carries the author")
    check(type(ev.log.sigma[1].tags) == "table", "tags are a list")
  end
end
if mode == "keep" then
  check(#emitted == 4 and tagged == 4, "keep mode emits the four matches, got " .. #emitted)
else
  check(#emitted == total, "tag mode emits every event")
  check(tagged == 4, "four seed events tagged, got " .. tagged)
end
hooks.shutdown(function() end)
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
