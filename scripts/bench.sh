#!/usr/bin/env bash
# End-to-end throughput of `okra-bridge serve`: the dev broker, a release build of serve, and wrk
# posting a mix of Okra's sample payloads (each made unique) over CONNECTIONS keep-alive
# connections for DURATION; then every topic record is consumed to check that every accepted
# request was published. Prints the wrk figures, then one JSON line with "lost".
#
#   ./scripts/bench.sh [durable|direct] [DURATION] [CONNECTIONS]     (defaults: durable 30s 32)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"
MODE="${1:-durable}"; DURATION="${2:-30s}"; CONNECTIONS="${3:-32}"
ensure_apt librdkafka-dev pkg-config python3-venv wrk curl

swift build -c release --product okra-bridge >&2
BIN="$(swift build -c release --show-bin-path)/okra-bridge"
BROKER="$(./scripts/kafka-dev.sh start)"
WORK="$(mktemp -d)"
RUN="bench$(date +%s)"
TOKEN="bench-production-token-$RANDOM$RANDOM"
SERVE_PID=""
cleanup() { [ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# One record per accepted request, on one topic of this run's own.
cat >"$WORK/routes.json" <<JSON
{"version":1,"defaults":{"topic":"$RUN","key":"record","format":"structured"},"deadLetter":{"topic":"$RUN.deadletter"},"routes":[]}
JSON
# Production and environment-less payloads of Okra's docs (sandbox ones need the other token;
# API responses are dead letters, not events).
for f in Tests/OkraEnvelopeTests/Fixtures/payloads/*.json; do
  case "$f" in *.invalid.json|*/api-*) continue ;; esac
  "$BIN" normalize "$f" | grep -q '"okraenv":"sandbox"' || echo "$PWD/$f"
done >"$WORK/payloads.txt"

PORT="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
"$BIN" serve --listen "127.0.0.1:$PORT" --brokers "$BROKER" --routes "$WORK/routes.json" \
  --data-dir "$WORK/data" --delivery "$MODE" --token "production=$TOKEN" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

say "wrk: $MODE delivery, $CONNECTIONS connections, $DURATION, $(wc -l <"$WORK/payloads.txt") payload kinds"
BENCH_PAYLOADS="$WORK/payloads.txt" BENCH_TOKEN="$TOKEN" \
  wrk -t 2 -c "$CONNECTIONS" -d "$DURATION" --latency -s scripts/bench/post.lua "http://127.0.0.1:$PORT" | tee "$WORK/wrk.out" >&2
RESULT="$(grep '^{"requests"' "$WORK/wrk.out")"
ACCEPTED="$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["accepted"])' "$RESULT")"

say "waiting for the outbox to drain, then consuming $RUN"
for _ in $(seq 1 600); do
  published="$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^okra_bridge_outbox_published_total/ {print $2}')"
  [ "$MODE" = direct ] || [ "${published:-0}" -ge "$ACCEPTED" ] && break
  sleep 0.5
done
timeout 300 "$BIN" tail --brokers "$BROKER" --topic "$RUN" --from-beginning --count "$ACCEPTED" >"$WORK/consumed.jsonl" || true
python3 - "$RESULT" "$WORK/consumed.jsonl" "$MODE" <<'PY'
import json, sys
result = json.loads(sys.argv[1])
ids = set()
for line in open(sys.argv[2]):
    headers = dict(json.loads(line)["headers"])
    ids.add(headers.get("idempotency-key"))
result["mode"] = sys.argv[3]
result["published_unique"] = len(ids)
result["lost"] = max(0, result["accepted"] - len(ids))
result["accepted_per_second"] = round(result["accepted"] / result["seconds"])
print(json.dumps(result))
PY
