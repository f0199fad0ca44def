#!/usr/bin/env bash
# Paired single-event throughput: builds (or settings) take turns, a fresh server and database per
# turn, so that every build sees the same minutes of a shared, noisy machine; prints every turn and
# the median per build.
#   bench/wrk-paired.sh ROUNDS DURATION LUA CONFIG...
#   CONFIG = "label;repo dir;ENV=1 ENV2=2;v8 flags"   (label "ceiling" serves bench/hono-ceiling.ts)
# e.g. bench/wrk-paired.sh 5 8s bench/single-event.lua "ceiling;.;;" "main;.;;" "main-idem;.;;"
# A label ending in "-idem" uses bench/single-event-idem.lua instead of LUA. For the cost of the
# Idempotency-Key pass LUA=bench/single-event-dynamic.lua: it builds each request the same way.
set -uo pipefail
ROUNDS=$1; DUR=$2; LUA=$(realpath "$3"); shift 3
KEY=bench-key-0123456789abcdef
declare -A RUNS
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
    wait "$PID" 2>/dev/null
  fi
  PID=
}
trap cleanup EXIT INT TERM
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
for round in $(seq "$ROUNDS"); do
  for cfg in "$@"; do
    IFS=';' read -r label dir envs flags <<< "$cfg"
    lua=$LUA
    [[ $label == *-idem ]] && lua=$(realpath bench/single-event-idem.lua)
    port=$(free_port)
    db=$(mktemp -d /tmp/pulsestream-paired-XXXXXX)
    entry=main.tsx
    [ "$label" = ceiling ] && entry=bench/hono-ceiling.ts
    # `env` execs deno, so $! is the server itself.
    (cd "$dir" && exec env $envs DATABASE_URL="file:$db/w.db" PORT="$port" HOST=127.0.0.1 LOG_LEVEL=warn \
      BOOTSTRAP_API_KEY=$KEY RATE_LIMIT_EVENTS_PER_SEC=1000000000 RATE_LIMIT_BURST=1000000000 \
      ./node_modules/.bin/deno run -A ${flags:+--v8-flags=$flags} "$entry" >"$db/server.log" 2>&1) &
    PID=$!
    for _ in $(seq 600); do curl -fsS -o /dev/null "http://127.0.0.1:$port/livez" 2>/dev/null && break; sleep 0.1; done
    wrk -t1 -c64 -d2s -s "$lua" "http://127.0.0.1:$port/v1/events" >/dev/null # warm-up
    rps=$(wrk -t1 -c64 -d"$DUR" -s "$lua" "http://127.0.0.1:$port/v1/events" | awk '/Requests\/sec/{printf "%d", $2}')
    cleanup
    rm -rf "$db"
    RUNS[$label]="${RUNS[$label]:-} $rps"
    echo "round $round  $label  $rps req/s  (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
for cfg in "$@"; do
  IFS=';' read -r label _ <<< "$cfg"
  median=$(echo ${RUNS[$label]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$label:${RUNS[$label]}  median $median"
done
