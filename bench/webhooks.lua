-- wrk script: replays pre-signed Twilio webhooks and times each one by step.
--
-- Run with as many threads as connections (wrk -tN -cN), so every thread owns
-- exactly one connection: its requests then go out strictly one after the
-- other, and a call's steps (incoming, level, silence, Dial action, status)
-- reach the service in order. Signatures are HMAC-SHA1 over URL and
-- parameters, which Lua cannot compute cheaply, so bench/load.py writes one
-- file per thread, BENCH_DIR/<thread>.tsv, with lines
--   step <TAB> path <TAB> X-Twilio-Signature <TAB> expected text <TAB> form body
-- BENCH_CHECK=1 counts an answer as bad unless it is 200 and holds the
-- expected text (a Dial after the silence, say). BENCH_OUT receives wrk's
-- summary, and BENCH_OUT.<thread> every latency of that thread, in
-- microseconds, by step: wrk crashes copying tables out of a thread in done(),
-- so each thread writes its own file, flushed when wrk exits.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  check = os.getenv("BENCH_CHECK") == "1"
  reqs, steps, expects = {}, {}, {}
  local path = os.getenv("BENCH_DIR") .. "/" .. id .. ".tsv"
  for line in io.lines(path) do
    local step, url, sig, expect, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = sig,
    }
    reqs[#reqs + 1] = wrk.format("POST", url, headers, body)
    steps[#steps + 1] = step
    expects[#expects + 1] = expect
  end
  pos = 1
  started = 0
  bad = {}
  log = assert(io.open(os.getenv("BENCH_OUT") .. "." .. id, "w"))
  log:setvbuf("full")
end

-- The request is only consumed in response(): wrk calls request() once ahead
-- of time to check it, and again to resend after a dropped connection.
function request()
  if pos > #reqs then
    -- Out of pre-signed requests: the run is flagged rather than replaying.
    log:write("exhausted\n")
    wrk.thread:stop()
    pos = #reqs
  end
  started = now_us()
  return reqs[pos]
end

function response(status, headers, body)
  local step = steps[pos]
  log:write("lat\t", step, "\t", math.floor(now_us() - started), "\n")
  local expect = expects[pos]
  if status ~= 200 or (check and expect ~= "" and not string.find(body or "", expect, 1, true)) then
    bad[step] = (bad[step] or 0) + 1
    log:write("bad\t", step, "\n")
    if bad[step] == 1 then
      -- The first bad answer of a step is kept to show why.
      local why = string.gsub(status .. " " .. string.sub(body or "", 1, 300), "[\t\r\n]", " ")
      log:write("sample\t", step, " ", why, "\n")
    end
  end
  pos = pos + 1
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  local e = summary.errors
  out:write(string.format("summary\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", summary.duration, summary.requests, e.connect, e.read, e.write,
    e.status, e.timeout))
  out:write(string.format("wrk\t%d\t%d\t%d\n", latency:percentile(50), latency:percentile(99), latency.max))
  out:close()
end
