-- wrk script: like single-event-idem.lua, but the per-request header is `X-Request-Id` (which the
-- server ignores) instead of `Idempotency-Key`. wrk then builds every request in Lua in both
-- scripts, so the client (on the same 2 cores as the server) does the same work in both and the
-- difference between the two is the server's cost of the Idempotency-Key alone.
--   wrk -t1 -c64 -d10s -s bench/single-event-dynamic.lua http://127.0.0.1:<port>/v1/events
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local prefix = string.format("wrk-%08x-", math.random(0, 0x7fffffff))
local counter = 0
local body = '{"deviceId":"dev-17","eventType":"temperature","value":21.5}'
local headers = {
  ["Content-Type"] = "application/json",
  ["x-api-key"] = "bench-key-0123456789abcdef",
}

request = function()
  counter = counter + 1
  headers["X-Request-Id"] = prefix .. counter
  return wrk.format("POST", "/v1/events", headers, body)
end
