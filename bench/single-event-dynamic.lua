-- wrk script: single-event-idem.lua with `X-Request-Id` (which the server ignores) as the
-- per-request header instead of `Idempotency-Key`. wrk then builds every request in Lua in both
-- scripts, so the client (on the same 2 cores as the server) does the same work in both and the
-- difference between the two is the server's cost of the Idempotency-Key alone.
--   wrk -t1 -c64 -d10s -s bench/single-event-dynamic.lua http://127.0.0.1:<port>/v1/events
PER_REQUEST_HEADER = "X-Request-Id"
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "single-event-idem.lua")
