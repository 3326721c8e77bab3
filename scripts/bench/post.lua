-- wrk script for scripts/bench.sh: POSTs a mix of Okra's sample payloads, each made unique by a
-- per-thread counter in an extra top-level field (so none is a duplicate), with record, customer
-- and account ids of its own (as production's are: the samples repeat theirs, which makes the
-- store's index inserts cheaper than they are), and counts the 200s.
local id_keys = { "record", "recordId", "record_id", "customerId", "customer_id", "customer", "accountId", "account_id", "_id" }
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
    -- Each id that is a non-empty string gets the request's sequence appended (the keys the
    -- normalizer reads; an empty one stays empty, as the normalizer skips it).
    for _, key in ipairs(id_keys) do
      body = body:gsub('("' .. key .. '"%s*:%s*")([^"]+)"', '%1%2-@SEQ@"')
    end
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
  local seq = id .. "-" .. counter
  local body = payloads[(counter % #payloads) + 1]:gsub("@SEQ@", seq)
  return wrk.format(nil, "/webhooks/okra", nil, '{"bench_seq":"' .. seq .. '",' .. body)
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
