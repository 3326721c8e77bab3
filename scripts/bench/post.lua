-- wrk script for scripts/bench.sh: POSTs a mix of Okra's sample payloads, each made unique by a
-- per-thread counter in an extra top-level field (so none is a duplicate), and counts the 200s.
local payloads = {}
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local list = io.open(os.getenv("BENCH_PAYLOADS"), "r")
  for path in list:lines() do
    local f = io.open(path, "r")
    local body = f:read("*a"):gsub("^%s*{", "", 1)
    f:close()
    table.insert(payloads, body)
  end
  list:close()
  counter = 0
  accepted = 0
  other = 0
  wrk.method = "POST"
  wrk.headers["Okra-Auth"] = os.getenv("BENCH_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = payloads[(counter % #payloads) + 1]
  return wrk.format(nil, "/webhooks/okra", nil, '{"bench_seq":"' .. id .. "-" .. counter .. '",' .. body)
end

function response(status, headers, body)
  if status == 200 then accepted = accepted + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("accepted")
    bad = bad + t:get("other")
  end
  io.write(string.format('{"requests":%d,"accepted":%d,"not_accepted":%d,"socket_errors":%d,"seconds":%.3f,"requests_per_second":%.0f,"latency_ms":{"p50":%.3f,"p99":%.3f,"max":%.3f}}\n',
    summary.requests, ok, bad, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
