-- wrk script: POST bodies whose events are all distinct (so the server must commit each one
-- instead of acknowledging a duplicate). Each event is the 1 KB sample event with a unique id,
-- one of 5,000 actors, one of 97 targets, and a timestamp of "now" (as a live sender's would
-- be); BATCH events per request as NDJSON.
-- usage: wrk ... -s unique_events.lua URL -- BATCH "Name: value" ... [prefix=P]
-- (several wrk processes at once need distinct prefixes, or their events would repeat each other's)
local counter = 0
local thread_id = 0
local batch = 1
local headers = {}
local prefix = ""
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local template = '{"id":"evt-%s%d-%d","type":"audit.user.login","timestamp":"%s.%03dZ",' ..
  '"actor":{"id":"u-%d","email":"engineer%d@example.com","ip":"198.51.100.23","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"},' ..
  '"target":{"type":"application","id":"app-%d","name":"Incydr Console"},"outcome":"success","severity":"info",' ..
  '"context":{"tenantId":"c4e43418-07d9-4a9f-a138-29f39a124d33","sessionId":"0_147e9445-2f30-4a91-8b2a-9455332e880a","requestId":"req-5d0c6b1e-7f35-4bd2-9c60-1d6b6a0a6f2d","geo":{"country":"DE","city":"Berlin"}},' ..
  '"details":{"method":"sso","idp":"okta","mfa":true,"riskScore":17,"indicators":["first-login-from-country","new-device"],' ..
  '"note":"lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum"}}'

function init(args)
  thread_id = tonumber(tid) or 0
  batch = tonumber(args[1]) or 1
  headers["Content-Type"] = batch > 1 and "application/x-ndjson" or "application/json"
  for i = 2, #args do
    local p = string.match(args[i], "^prefix=(.*)$")
    if p then
      prefix = p
    else
      local k, v = string.match(args[i], "^([^:]+):%s*(.*)$")
      if k then headers[k] = v end
    end
  end
end

function request()
  local lines = {}
  local now = os.date("!%Y-%m-%dT%H:%M:%S")
  for i = 1, batch do
    counter = counter + 1
    local n = counter
    lines[i] = string.format(template, prefix, thread_id, n, now, n % 1000, n % 5000, n % 5000, n % 97)
  end
  local body = table.concat(lines, "\n")
  headers["Content-Length"] = tostring(#body)
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"rps":%.1f,"lat_p50_us":%d,"lat_p99_us":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
