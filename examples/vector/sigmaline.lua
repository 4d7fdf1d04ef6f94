-- Vector lua transform hooks (version 2 of the transform): tag, keep or
-- drop Windows events with sigmaline. See examples/vector/vector.yaml.
-- The rules path comes from SIGMALINE_RULES (default /etc/sigmaline/rules),
-- the mode from SIGMALINE_MODE (tag | keep | drop, default tag).
local sigmaline = require("sigmaline")
local engine

hooks = {}

function hooks.init()
  engine = sigmaline.new({
    rules = os.getenv("SIGMALINE_RULES") or "/etc/sigmaline/rules",
    mode = os.getenv("SIGMALINE_MODE") or "tag",
  })
end

function hooks.process(event, emit)
  if engine:process(event.log) ~= "drop" then
    emit(event)
  end
end

function hooks.shutdown(emit)
  local s = engine:stats()
  io.stderr:write(string.format("sigmaline: %d rules, %d records matched, %d malformed\n",
    s.rules, s.matched, s.malformed))
end
