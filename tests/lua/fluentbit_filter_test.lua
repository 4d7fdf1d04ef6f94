-- Drives plugin/lua/sigmaline.lua exactly as Fluent Bit's lua filter calls
-- it: sigma_filter(tag, ts, record) -> code, ts, record, and the v4.0.4+
-- form sigma_filter_v2(tag, ts, group, metadata, record). Run by
-- plugin/tests/lua_filter.rs: luajit <this> <repo root> <libsigmaline.so>
local root, lib = arg[1], arg[2]
package.path = root .. '/plugin/lua/?.lua;' .. package.path
local failed, passed = 0, 0
local function check(cond, what)
  if cond then passed = passed + 1 else failed = failed + 1; print('FAIL ' .. what) end
end

local sigmaline = require('sigmaline')
sigmaline.setup({ lib = lib, rules = root .. '/examples/rules' })

-- The JSON encoder round-trips what Fluent Bit hands over.
local enc = sigmaline.encode({ a = 'x"\\\n\1', n = 13, f = 1.5, b = true, l = { 1, 'two' }, e = {} })
local back = sigmaline.decode(enc)
check(back.a == 'x"\\\n\1' and back.n == 13 and back.f == 1.5 and back.b == true, 'encode/decode scalars')
check(back.l[1] == 1 and back.l[2] == 'two', 'encode/decode arrays')

-- The bundled events, as Fluent Bit's json parser would give them.
local tagged, untouched = 0, 0
for line in io.lines(root .. '/examples/data/seed-events.ndjson') do
  local ok, rec = pcall(sigmaline.decode, line)
  if ok and type(rec) == 'table' then
    local ts = 1700000000.25
    local code, ts2, out = sigma_filter('winlog.test', ts, rec)
    check(ts2 == ts, 'timestamp returned')
    if code == 2 then
      tagged = tagged + 1
      check(type(out.sigma) == 'table' and out.sigma[1].author == 'Dimitrios Slamaris', 'tag carries the author')
      check(type(out.sigma[1].tags) == 'table', 'tags decoded as a list')
    else
      check(code == 0 and out.sigma == nil, 'unmatched record unchanged')
      untouched = untouched + 1
    end
  end
end
-- examples/data/README.md: the seed events hold four matches.
check(tagged == 4, 'four seed events are tagged, got ' .. tagged)
check(untouched > 0, 'the rest pass unchanged')

-- v4.0.4+ form: metadata comes back as given.
local hit = { EventID = 13, Channel = 'Microsoft-Windows-Sysmon/Operational',
  TargetObject = 'HKLM\\System\\CurrentControlSet\\Services\\DHCPServer\\Parameters\\CalloutDlls' }
local meta = { source = 'x' }
local code, ts, m, rec = sigma_filter_v2('t', 5, {}, meta, hit)
check(code == 2 and ts == 5 and m == meta and rec.sigma[1].title == 'DHCP Callout DLL Installation', '5-argument form')

-- A record that already has the tag field gets it replaced.
local pre = { EventID = 13, Channel = hit.Channel, TargetObject = hit.TargetObject, sigma = 'forged' }
code, ts, rec = sigma_filter('t', 1, pre)
check(code == 2 and type(rec.sigma) == 'table' and rec.sigma[1].id ~= nil, 'existing tag field replaced')

-- Keep mode drops what matches nothing (-1).
local keep = dofile(root .. '/plugin/lua/sigmaline.lua')
keep.setup({ lib = lib, rules = root .. '/examples/rules', mode = 'keep' })
check(keep.eval({ EventID = 1, Channel = 'x' }) == -1, 'keep mode drops a non-match')
check(keep.eval(hit) == 2, 'keep mode keeps a match')

-- A bad configuration is a clear error.
local bad = dofile(root .. '/plugin/lua/sigmaline.lua')
local ok, e = pcall(bad.setup, { lib = lib, rules = '/nonexistent/rules' })
check(not ok and tostring(e):find('/nonexistent/rules', 1, true) ~= nil, 'missing rules are named: ' .. tostring(e))

print(string.format('%d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
