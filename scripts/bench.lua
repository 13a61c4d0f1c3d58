-- wrk script of scripts/bench. Arguments after "--":
--   MODE SEED AUTHS [TOKENS] [DELAY_MS]
-- MODE    send: POST /v1/otps/sms/login_or_create, a number never used before per request
--         auth: POST /v1/otps/authenticate, one "method_id<TAB>code" line of TOKENS per request
-- SEED    run number: different runs use different numbers
-- AUTHS   "Basic ...|Basic ..." headers; requests rotate over them (one per project)
-- DELAY_MS  optional: milliseconds between request starts on each thread (a fixed rate, see delay())
-- done() prints one line: RESULT requests=N seconds=S rps=R p50_ms=.. p99_ms=.. s2xx=.. s429=.. s503=.. other=.. errors=..

-- Valid US geographic numbers: these area codes with exchanges 200-999 except N11 and 555.
local AREAS = { 201, 202, 203, 205, 206, 207, 208, 210, 212, 213, 214, 215, 216, 217, 218,
  219, 224, 225, 228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256 }
local EXCHANGES = {}
for x = 200, 999 do
  if x % 100 ~= 11 and x ~= 555 then EXCHANGES[#EXCHANGES + 1] = x end
end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local mode, seed, auths, tokens, delay_ms
local n, ti = 0, 0
s2xx, s429, s503, other = 0, 0, 0, 0

local function split(s, sep)
  local out = {}
  for part in string.gmatch(s, "[^" .. sep .. "]+") do out[#out + 1] = part end
  return out
end

function init(args)
  mode, seed = args[1], tonumber(args[2])
  auths = split(args[3], "|")
  delay_ms = tonumber(args[5] or "0") or 0
  if mode == "auth" then
    tokens = {}
    local i = 0
    for line in io.lines(args[4]) do
      -- each thread takes its own share, so no token is used twice in a run
      if i % nthreads() == id then tokens[#tokens + 1] = split(line, "\t") end
      i = i + 1
    end
  end
end

function nthreads()
  return tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
end

local function number(k)
  -- k-th number of this thread and run: spread over areas first, then exchanges
  local g = (seed * 64 + id) * 1000003 + k
  local area = AREAS[g % #AREAS + 1]
  g = math.floor(g / #AREAS)
  local exchange = EXCHANGES[g % #EXCHANGES + 1]
  g = math.floor(g / #EXCHANGES)
  return string.format("+1%d%d%04d", area, exchange, g % 10000)
end

function request()
  n = n + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = auths[n % #auths + 1],
  }
  local path, body
  if mode == "send" then
    path = "/v1/otps/sms/login_or_create"
    -- 10 minutes: the later authenticate phases use codes sent minutes before (default 2)
    body = '{"phone_number":"' .. number(n) .. '","expiration_minutes":10}'
  else
    ti = ti + 1
    local t = tokens[(ti - 1) % #tokens + 1]
    path = "/v1/otps/authenticate"
    body = '{"method_id":"' .. t[1] .. '","code":"' .. t[2] .. '"}'
  end
  return wrk.format("POST", path, headers, body)
end

-- Paced phases (DELAY_MS > 0): requests leave on a fixed schedule, one every DELAY_MS per
-- thread, the threads staggered, like a fixed-rate generator (`oha -q`); pausing after each
-- answer instead would keep the connections in lockstep, arriving in bursts.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local next_at
function delay()
  if delay_ms <= 0 then return 0 end
  local now = now_ms()
  next_at = next_at or now + id * delay_ms / nthreads()
  local slot = math.max(next_at, now)
  next_at = slot + delay_ms
  return slot - now
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    s2xx = s2xx + 1
  elseif status == 429 then
    s429 = s429 + 1
  elseif status == 503 then
    s503 = s503 + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c = { s2xx = 0, s429 = 0, s503 = 0, other = 0 }
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f ok_rps=%.1f p50_ms=%.1f p99_ms=%.1f s2xx=%d s429=%d s503=%d other=%d errors=%d\n",
    summary.requests, secs, summary.requests / secs, c.s2xx / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    c.s2xx, c.s429, c.s503, c.other,
    e.connect + e.read + e.write + e.timeout))
end
