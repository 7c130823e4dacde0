-- wrk script for bench/load.py: a random tenant per request.
-- BENCH_PATHS: paths separated by "|", "{t}" replaced by a tenant id (one path chosen
-- at random per request); BENCH_TENANTS: how many tenants (ids BENCH_PREFIX0..N-1);
-- BENCH_METHOD; BENCH_API_KEY: sent as X-API-Key; BENCH_BODY=ready-flip: alternating
-- {"ready": true} / {"ready": false} bodies; BENCH_CLOSE=1: "Connection: close" (a new
-- connection per request).
local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^|]+") do
  table.insert(paths, path)
end
local count = tonumber(os.getenv("BENCH_TENANTS") or "0")
local prefix = os.getenv("BENCH_PREFIX") or "bench-"
local method = os.getenv("BENCH_METHOD") or "GET"
local flip = os.getenv("BENCH_BODY") == "ready-flip"
local headers = {}
if os.getenv("BENCH_API_KEY") then headers["X-API-Key"] = os.getenv("BENCH_API_KEY") end
if flip then headers["Content-Type"] = "application/json" end
if os.getenv("BENCH_CLOSE") == "1" then headers["Connection"] = "close" end
local sent = 0
local thread_number = 0

function setup(thread)
  thread_number = thread_number + 1
  thread:set("seed", thread_number)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  local path = paths[math.random(#paths)]
  if count > 0 then
    path = (string.gsub(path, "{t}", prefix .. tostring(math.random(0, count - 1))))
  end
  local body = nil
  if flip then
    sent = sent + 1
    body = (sent % 2 == 0) and '{"ready": true}' or '{"ready": false}'
  end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
