#!/usr/bin/env bash
# The main job, end to end on this machine: installs what is missing, starts the dev broker,
# builds, runs `okra-bridge serve` with routes.json and generated demo tokens, posts the sample
# payloads from Okra's docs, and shows each one arriving on its Kafka topic.
# The bridge then keeps running; Ctrl-C stops everything this script started.
#
#   ./scripts/run-local.sh          # demo, then keep serving until Ctrl-C
#   ./scripts/run-local.sh --once   # demo, then stop (for checks and CI)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

ONCE=false
[ "${1:-}" = "--once" ] && ONCE=true
ensure_apt librdkafka-dev pkg-config python3-venv curl

say "building okra-bridge (swift build)"
swift build --product okra-bridge >&2
BIN="$(swift build --show-bin-path)/okra-bridge"

STARTED_BROKER=false
if ! ./scripts/kafka-dev.sh status >/dev/null 2>&1; then STARTED_BROKER=true; fi
BROKER="$(./scripts/kafka-dev.sh start)"
WORK="$OKRA_ROOT/.kafka-dev/run-local"
rm -rf "$WORK" && mkdir -p "$WORK"
PORT="$(free_ports)"
PRODUCTION_TOKEN="$(random_secret demo-production-)"
SANDBOX_TOKEN="$(random_secret demo-sandbox-)"
printf 'production=%s\nsandbox=%s\n' "$PRODUCTION_TOKEN" "$SANDBOX_TOKEN" >"$WORK/tokens"
chmod 600 "$WORK/tokens"

SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  if [ "$STARTED_BROKER" = true ]; then ./scripts/kafka-dev.sh stop || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

OKRA_BRIDGE_TOKEN="production=$PRODUCTION_TOKEN,sandbox=$SANDBOX_TOKEN" \
  write_log_key "$WORK/log-key"
  "$BIN" serve --listen "127.0.0.1:$PORT" --brokers "$BROKER" --routes routes.json \
  --data-dir "$WORK/data" --log-key-file "$WORK/log-key" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVE_PID" 2>/dev/null || { say "okra-bridge serve exited; its log:"; cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.1
done

echo "okra-bridge is serving http://127.0.0.1:$PORT/webhooks/okra (Kafka at $BROKER)"
echo "demo tokens: $WORK/tokens; log: $WORK/serve.log"
echo
echo "Posting Okra's sample payloads:"
FIXTURES=Tests/OkraEnvelopeTests/Fixtures/payloads
: >"$WORK/expected"
for file in "$FIXTURES"/*.json; do
  name="$(basename "$file" .json)"
  case "$name" in *.invalid) continue ;; esac
  env=production
  answer="$(curl -s -w ' %{http_code}' -X POST -H "Okra-Auth: $PRODUCTION_TOKEN" --data-binary @"$file" "http://127.0.0.1:$PORT/webhooks/okra")"
  if [[ "$answer" == *environment-mismatch* ]]; then
    env=sandbox
    answer="$(curl -s -w ' %{http_code}' -X POST -H "Okra-Auth: $SANDBOX_TOKEN" --data-binary @"$file" "http://127.0.0.1:$PORT/webhooks/okra")"
  fi
  printf '  %-48s %s\n' "$name" "$answer"
  # The token's environment decides the topics (§1), so the dry run is told which token it was.
  "$BIN" route --routes routes.json --env "$env" "$file" | sed -n 's/^record: topic=\([^ ]*\).*/\1/p' >>"$WORK/expected"
done
bad="$FIXTURES/user-disconnect.invalid.json"
printf '  %-48s %s\n' "$(basename "$bad" .json)" "$(curl -s -w ' %{http_code}' -X POST -H "Okra-Auth: $PRODUCTION_TOKEN" --data-binary @"$bad" "http://127.0.0.1:$PORT/webhooks/okra")"
echo okra.deadletter >>"$WORK/expected"

echo
echo "Waiting for the outbox to drain to Kafka..."
for _ in $(seq 1 100); do
  pending="$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^okra_bridge_outbox_published_total/ {print $2}')"
  [ "${pending:-0}" -ge "$(wc -l <"$WORK/expected")" ] && break
  sleep 0.2
done

echo
echo "On Kafka (topic: key, type):"
sort "$WORK/expected" | uniq -c | while read -r count topic; do
  "$BIN" tail --brokers "$BROKER" --topic "$topic" --from-beginning --count "$count" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    headers = dict(r["headers"])
    value = r["value"]
    if "okra-bridge-reason" in headers:
        kind = "dead letter: " + headers["okra-bridge-reason"]
    else:
        kind = value.get("type") if isinstance(value, dict) else "?"
    print("  %-40s %-34s %s" % (r["topic"], r["key"] or "(none)", kind))
'
done

if [ "$ONCE" = true ]; then exit 0; fi
echo
echo "The bridge keeps running. Try:"
echo "  curl -X POST -H 'Okra-Auth: $PRODUCTION_TOKEN' --data-binary @$FIXTURES/v2-payment-cancelled.json http://127.0.0.1:$PORT/webhooks/okra"
echo "  $BIN tail --brokers $BROKER --topic okra.production.payment.cancelled --from-beginning"
echo "Ctrl-C stops the bridge and the dev broker."
wait "$SERVE_PID"
