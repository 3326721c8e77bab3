#!/usr/bin/env bash
# The operator console in a real browser: Debian's chromium driven by Playwright (no browser
# download) against a live bridge on a dev broker of its own, seeded with Okra's sample payloads,
# one payload carrying markup, and one record too large for Kafka (parked). Runs
# scripts/console/test_console.py: sign in, search, one event, replay (dry run, execute, the
# records on Kafka), redrive, a read token's disabled actions and masked data, keyboard only,
# 390 px wide, the CSP with no violation, the token nowhere but sessionStorage.
#
#   scripts/test-console.sh BINARY
# Screenshots of each step go to a run folder, printed at the end (OKRA_CONSOLE_SHOTS sets it).
# OKRA_CONSOLE_README_SHOT=PATH also writes the README's screenshot there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BINARY="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
ensure_apt chromium
ensure_console_venv
[ -x /usr/bin/chromium ] || { say "FAILED: Debian's chromium is not at /usr/bin/chromium (apt install chromium)"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/okra-console.XXXXXX")"
SHOTS="${OKRA_CONSOLE_SHOTS:-$WORK/screenshots}"
mkdir -p "$SHOTS"
export KAFKA_DEV_DIR="$WORK/broker"
BRIDGE_PID=""
OFF_PIDS=""
cleanup() {
  for pid in $OFF_PIDS; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [ -z "$BRIDGE_PID" ] || kill -TERM "$BRIDGE_PID" 2>/dev/null || true
  [ -z "$BRIDGE_PID" ] || wait "$BRIDGE_PID" 2>/dev/null || true
  "$OKRA_ROOT/scripts/kafka-dev.sh" stop >/dev/null 2>&1 || true
  # The screenshots stay (they show sample payloads only); the rest goes.
  rm -rf "$WORK/broker" "$WORK/data" "$WORK/bare-data" "$WORK/logless-data" "$WORK"/token-* "$WORK/admin-tokens" "$WORK/log-key"
}
trap cleanup EXIT

BOOTSTRAP="$("$OKRA_ROOT/scripts/kafka-dev.sh" start)"
random_secret operate- >"$WORK/token-operate"
random_secret read- >"$WORK/token-read"
printf 'console-operate:operate=%s\nconsole-read:read=%s\n' "$(cat "$WORK/token-operate")" "$(cat "$WORK/token-read")" >"$WORK/admin-tokens"
write_log_key "$WORK/log-key"
PREFIX="console$RANDOM"
cat >"$WORK/routes.json" <<JSON
{"version":1,"defaults":{"topic":"$PREFIX.{env}.{product}.{outcome}","key":"record"},"deadLetter":{"topic":"$PREFIX.deadletter"},"routes":[]}
JSON
read -r PORT ADMIN_PORT < <(free_ports 2)
serve() {
  "$BINARY" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --admin-token-file "$WORK/admin-tokens" \
    --allow-unauthenticated --routes "$WORK/routes.json" --data-dir "$WORK/data" --log-key-file "$WORK/log-key" "$@" >>"$WORK/bridge.log" 2>&1 &
  BRIDGE_PID=$!
  for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$BRIDGE_PID" 2>/dev/null || { say "the bridge exited:"; tail -n 20 "$WORK/bridge.log" >&2; exit 1; }
    sleep 0.1
  done
  say "the bridge did not become healthy"; exit 1
}
# A record too large for Kafka: stored while Kafka is away under the default limits, then the
# bridge comes back with Kafka's size limit below it, and parks it.
serve --brokers 127.0.0.1:1
python3 -c 'import json; print(json.dumps({"type": "CALLBACK", "method": "PAYMENT", "code": "PAYMENT_SUCCESS", "env": "production",
  "record": "console-big", "customerId": "cus-big", "note": "x" * 150000}))' >"$WORK/big.json"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$WORK/big.json" "http://127.0.0.1:$PORT/webhooks/okra")" = 200 ] \
  || { say "the large event was not accepted"; exit 1; }
kill -TERM "$BRIDGE_PID"; wait "$BRIDGE_PID" || true
serve --brokers "$BOOTSTRAP" --kafka message.max.bytes=100000 --max-body 64KiB
python3 scripts/adminapi/seed.py --port "$PORT" Tests/OkraEnvelopeTests/Fixtures/payloads || { tail -n 20 "$WORK/bridge.log" >&2; exit 1; }

# Three more: the operations API off in direct mode (no event log) and without admin tokens, and
# a durable bridge with the event log off (its parked records and health still served).
read -r DIRECT_PORT DIRECT_ADMIN BARE_PORT BARE_ADMIN LOGLESS_PORT LOGLESS_ADMIN < <(free_ports 6)
"$BINARY" serve --listen "127.0.0.1:$DIRECT_PORT" --admin-listen "127.0.0.1:$DIRECT_ADMIN" --admin-token-file "$WORK/admin-tokens" \
  --delivery direct --allow-unauthenticated --routes "$WORK/routes.json" --brokers "$BOOTSTRAP" >>"$WORK/direct.log" 2>&1 &
OFF_PIDS="$!"
"$BINARY" serve --listen "127.0.0.1:$BARE_PORT" --admin-listen "127.0.0.1:$BARE_ADMIN" --allow-unauthenticated \
  --routes "$WORK/routes.json" --data-dir "$WORK/bare-data" --log-key-file "$WORK/log-key" --brokers "$BOOTSTRAP" >>"$WORK/bare.log" 2>&1 &
OFF_PIDS="$OFF_PIDS $!"
"$BINARY" serve --listen "127.0.0.1:$LOGLESS_PORT" --admin-listen "127.0.0.1:$LOGLESS_ADMIN" --admin-token-file "$WORK/admin-tokens" --retain 0 \
  --allow-unauthenticated --routes "$WORK/routes.json" --data-dir "$WORK/logless-data" --log-key-file "$WORK/log-key" --brokers "$BOOTSTRAP" >>"$WORK/logless.log" 2>&1 &
OFF_PIDS="$OFF_PIDS $!"
for port in "$DIRECT_ADMIN" "$BARE_ADMIN" "$LOGLESS_ADMIN"; do
  for _ in $(seq 600); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
done

status=0
OKRA_CONSOLE_OPERATE_TOKEN_FILE="$WORK/token-operate" OKRA_CONSOLE_READ_TOKEN_FILE="$WORK/token-read" \
  "$CONSOLE_VENV/bin/python" scripts/console/test_console.py --webhook-port "$PORT" --admin-port "$ADMIN_PORT" \
  --bootstrap "$BOOTSTRAP" --prefix "$PREFIX" --shots "$SHOTS" --direct-admin-port "$DIRECT_ADMIN" --tokenless-admin-port "$BARE_ADMIN" \
  --logless-admin-port "$LOGLESS_ADMIN" || status=$?
if [ "$status" -ne 0 ]; then say "the bridge's last lines:"; tail -n 20 "$WORK/bridge.log" >&2; fi
say "console screenshots: $SHOTS"
exit "$status"
