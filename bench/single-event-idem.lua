-- wrk script: like single-event.lua, with a unique Idempotency-Key on every request (the key is
-- then the event id). A random prefix per wrk run keeps keys unique across runs on one server.
-- single-event-dynamic.lua runs this script with another header name (PER_REQUEST_HEADER).
--   wrk -t1 -c64 -d10s -s bench/single-event-idem.lua http://127.0.0.1:<port>/v1/events
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local prefix = string.format("wrk-%08x-", math.random(0, 0x7fffffff))
local counter = 0
local header = PER_REQUEST_HEADER or "Idempotency-Key"
local body = '{"deviceId":"dev-17","eventType":"temperature","value":21.5}'
local headers = {
  ["Content-Type"] = "application/json",
  ["x-api-key"] = "bench-key-0123456789abcdef",
}

request = function()
  counter = counter + 1
  headers[header] = prefix .. counter
  return wrk.format("POST", "/v1/events", headers, body)
end
