-- sigmaline for Fluent Bit's Lua filter (LuaJIT FFI over libsigmaline.so).
--
-- Works with any Fluent Bit build that has the lua filter, with no
-- recompilation. Configure it with environment variables of the Fluent Bit
-- process:
--   SIGMALINE_LIB      path of libsigmaline.so (default: the loader's search)
--   SIGMALINE_RULES    rule file, directory or glob (comma-separated; required)
--   SIGMALINE_MODE     tag | keep | drop (default tag)
--   SIGMALINE_TAG_KEY  field that receives the tags (default sigma)
-- and point the filter at `sigma_filter` (tag, ts, record) or, on Fluent
-- Bit v4.0.4+, at `sigma_filter_v2` (tag, ts, group, metadata, record).
--
-- Each record is encoded to JSON here, evaluated by the C ABI, and only the
-- tags are decoded back. The native filter (flb-filter_sigma.so) skips the
-- msgpack -> Lua table -> JSON -> Lua table -> msgpack round trip and is
-- several times faster; use this one where loading a .so plugin is not an
-- option.

local ffi = require("ffi")

ffi.cdef [[
typedef struct sigmaline_engine sigmaline_engine;
typedef struct sigmaline_error sigmaline_error;
typedef struct sigmaline_options sigmaline_options;
struct sigmaline_options *sigmaline_options_new(void);
int sigmaline_options_set(struct sigmaline_options *opts, const char *key, const char *value,
                          struct sigmaline_error **err);
void sigmaline_options_free(struct sigmaline_options *opts);
struct sigmaline_engine *sigmaline_engine_new(const struct sigmaline_options *opts,
                                              struct sigmaline_error **err);
int sigmaline_eval_json(const struct sigmaline_engine *engine, const uint8_t *record, size_t len,
                        uint8_t **out, size_t *out_len, struct sigmaline_error **err);
void sigmaline_free(uint8_t *p);
const char *sigmaline_error_message(const struct sigmaline_error *err);
void sigmaline_error_free(struct sigmaline_error *err);
]]

local PASS, TAGGED, DROP = 0, 1, 2

local M = {}

-- JSON encoding of a Fluent Bit record (a Lua table from msgpack).
local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function esc(s)
  return (s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format('\\u%04x', c:byte())
  end))
end

local encode
local function is_array(t)
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if type(k) ~= 'number' or k < 1 or k > n or k % 1 ~= 0 then return false end
  end
  return true
end

encode = function(v, out)
  local ty = type(v)
  if ty == 'string' then
    out[#out + 1] = '"' .. esc(v) .. '"'
  elseif ty == 'number' then
    if v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = 'null'
    elseif v % 1 == 0 and v > -2^53 and v < 2^53 then
      out[#out + 1] = string.format('%d', v)
    else
      out[#out + 1] = string.format('%.17g', v)
    end
  elseif ty == 'boolean' then
    out[#out + 1] = v and 'true' or 'false'
  elseif ty == 'table' then
    if is_array(v) then
      out[#out + 1] = '['
      for i = 1, #v do
        if i > 1 then out[#out + 1] = ',' end
        encode(v[i], out)
      end
      out[#out + 1] = ']'
    else
      out[#out + 1] = '{'
      local first = true
      for k, x in pairs(v) do
        if not first then out[#out + 1] = ',' end
        first = false
        out[#out + 1] = '"' .. esc(tostring(k)) .. '":'
        encode(x, out)
      end
      out[#out + 1] = '}'
    end
  else
    out[#out + 1] = 'null'
  end
end

function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

-- A small JSON decoder, enough for the tags sigmaline writes (objects,
-- arrays, strings, null).
local function decode(s, i)
  i = s:find('%S', i)
  local c = s:sub(i, i)
  if c == '{' then
    local t = {}
    i = s:find('%S', i + 1)
    if s:sub(i, i) == '}' then return t, i + 1 end
    while true do
      local k
      k, i = decode(s, i)
      i = s:find(':', i, true) + 1
      t[k], i = decode(s, i)
      i = s:find('%S', i)
      local d = s:sub(i, i)
      i = i + 1
      if d == '}' then return t, i end
    end
  elseif c == '[' then
    local t = {}
    i = s:find('%S', i + 1)
    if s:sub(i, i) == ']' then return t, i + 1 end
    while true do
      t[#t + 1], i = decode(s, i)
      i = s:find('%S', i)
      local d = s:sub(i, i)
      i = i + 1
      if d == ']' then return t, i end
    end
  elseif c == '"' then
    local j, parts = i + 1, {}
    while true do
      local q = s:find('["\\]', j)
      parts[#parts + 1] = s:sub(j, q - 1)
      if s:sub(q, q) == '"' then return table.concat(parts), q + 1 end
      local e = s:sub(q + 1, q + 1)
      if e == 'u' then
        local code = tonumber(s:sub(q + 2, q + 5), 16)
        parts[#parts + 1] = code < 128 and string.char(code) or '?'
        j = q + 6
      else
        local map = { b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }
        parts[#parts + 1] = map[e] or e
        j = q + 2
      end
    end
  elseif s:sub(i, i + 3) == 'null' then
    return nil, i + 4
  elseif s:sub(i, i + 3) == 'true' then
    return true, i + 4
  elseif s:sub(i, i + 4) == 'false' then
    return false, i + 5
  else
    local num = s:match('^-?[%d.eE+-]+', i)
    return tonumber(num), i + #num
  end
end

function M.decode(s)
  return (decode(s, 1))
end

local lib, engine, tag_key
local out = ffi.new('uint8_t *[1]')
local out_len = ffi.new('size_t[1]')
local err = ffi.new('sigmaline_error *[1]')

local function fail(what)
  local msg = err[0] ~= nil and ffi.string(lib.sigmaline_error_message(err[0])) or what
  error('sigmaline: ' .. msg)
end

-- Builds the engine once; raises a clear error on a bad configuration.
function M.setup(opts)
  lib = ffi.load(opts.lib or os.getenv('SIGMALINE_LIB') or 'sigmaline')
  local o = lib.sigmaline_options_new()
  local settings = {
    rules = opts.rules or os.getenv('SIGMALINE_RULES'),
    mode = opts.mode or os.getenv('SIGMALINE_MODE'),
    tag_key = opts.tag_key or os.getenv('SIGMALINE_TAG_KEY'),
  }
  for k, v in pairs(settings) do
    if v and lib.sigmaline_options_set(o, k, v, err) ~= 0 then fail(k) end
  end
  engine = lib.sigmaline_engine_new(o, err)
  lib.sigmaline_options_free(o)
  if engine == nil then fail('engine') end
  tag_key = settings.tag_key or 'sigma'
end

-- Evaluates one record: returns the Fluent Bit code and the record.
function M.eval(record)
  if engine == nil then M.setup({}) end
  local had_tag = record[tag_key or 'sigma'] ~= nil
  local json = M.encode(record)
  local r = lib.sigmaline_eval_json(engine, json, #json, out, out_len, nil)
  if r == TAGGED then
    local tagged = ffi.string(out[0], out_len[0])
    lib.sigmaline_free(out[0])
    if had_tag then
      -- An existing tag field: sigmaline rewrote the whole record.
      record[tag_key] = M.decode(tagged)[tag_key]
      return 2, record
    end
    -- The tags were spliced in before the final brace of our own encoding.
    local prefix = #json - 1 + #(',"' .. tag_key .. '":')
    if json == '{}' then prefix = #json - 1 + #('"' .. tag_key .. '":') end
    record[tag_key] = M.decode(tagged:sub(prefix + 1, -2))
    return 2, record
  elseif r == DROP then
    return -1, record
  end
  -- PASS, or an error (not an object): unchanged.
  return 0, record
end

-- Fluent Bit's callback: (tag, timestamp, record) -> code, timestamp, record.
function sigma_filter(tag, ts, record)
  local code, rec = M.eval(record)
  return code, ts, rec
end

-- Fluent Bit v4.0.4+: (tag, timestamp, group, metadata, record)
-- -> code, timestamp, metadata, record.
function sigma_filter_v2(tag, ts, group, metadata, record)
  local code, rec = M.eval(record)
  return code, ts, metadata, rec
end

return M
