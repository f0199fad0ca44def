-- wrk script: POST one event per request to /v1/events (server-generated UUIDv7 id).
--   wrk -t1 -c64 -d10s -s bench/single-event.lua http://127.0.0.1:<port>/v1/events
wrk.method = "POST"
wrk.path = "/v1/events"
wrk.body = '{"deviceId":"dev-17","eventType":"temperature","value":21.5}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "bench-key-0123456789abcdef"
