#!/usr/bin/env bash
# Single-event saturation with wrk against one Deno server (127.0.0.1, fresh temp DB):
# 3 x `wrk -t1 -c64 -d10s -s bench/single-event.lua` on POST /v1/events, then
# 3 x the same on GET /livez (HTTP-stack ceiling, no storage). The server is
# started once, so the POST runs share one database (it grows across runs).
#   bench/wrk-single.sh            (env: PORT=<port> to pick the port, DURATION=10s, RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
KEY=bench-key-0123456789abcdef
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
PORT=${PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}
BASE=http://127.0.0.1:$PORT
DIR=$(mktemp -d /tmp/pulsestream-wrk-XXXXXX)
PID=

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then echo "server $PID still alive 5 s after SIGTERM: SIGKILL"; kill -KILL "$PID"; fi
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# `env` execs deno, so $! is the deno process itself.
env DATABASE_URL="file:$DIR/w.db" PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=warn BOOTSTRAP_API_KEY=$KEY \
  RATE_LIMIT_EVENTS_PER_SEC="${RATE_LIMIT_EVENTS_PER_SEC:-1000000000}" RATE_LIMIT_BURST="${RATE_LIMIT_BURST:-1000000000}" \
  ./node_modules/.bin/deno run -A main.tsx >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 600); do
  curl -fsS -o /dev/null "$BASE/livez" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "server exited:"; cat "$DIR/server.log"; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "$BASE/livez" || { echo "server not live after 60 s"; exit 1; }
echo "server pid $PID ($(readlink /proc/$PID/exe)) on $BASE, db $DIR/w.db; wrk: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"

stored() { curl -fsS "$BASE/health" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).store.events))'; }

for i in $(seq "$RUNS"); do
  echo "== POST /v1/events run $i (wrk -t1 -c64 -d$DURATION -s bench/single-event.lua)"
  wrk -t1 -c64 -d"$DURATION" -s bench/single-event.lua "$BASE/v1/events"
  sleep 1
  echo "store.events after run $i: $(stored)"
done
for i in $(seq "$RUNS"); do
  echo "== GET /livez run $i (wrk -t1 -c64 -d$DURATION)"
  wrk -t1 -c64 -d"$DURATION" "$BASE/livez"
done
echo "server peak RSS (VmHWM): $(awk '/VmHWM/{print $2, $3}' /proc/$PID/status)"
if [ -s "$DIR/server.log" ]; then echo "server log (last 20 lines):"; tail -20 "$DIR/server.log"; fi
