#!/usr/bin/env bash
# Producer throughput: OkraKafka (okra-kafka-bench) beside kcat, which is librdkafka's own
# producer, on the same dev broker in the same run. Each tool runs RUNS times, alternating, on a
# fresh 4-partition topic: MESSAGES keyed messages of SIZE bytes, idempotence on, acks=all,
# linger.ms=5, every delivery report awaited. Prints one JSON line per run and the medians.
#
#   ./scripts/bench-kafka.sh [MESSAGES] [RUNS]      (defaults: 1000000 3; SIZE=300)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

MESSAGES="${1:-1000000}"
RUNS="${2:-3}"
SIZE="${SIZE:-300}"
ensure_apt librdkafka-dev pkg-config python3-venv kcat

swift build -c release --product okra-kafka-bench >&2
BROKER="$(./scripts/kafka-dev.sh start)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# kcat input: "KEY:VALUE" lines with the same 1024 keys and value size as okra-kafka-bench.
python3 - "$MESSAGES" "$SIZE" >"$work/messages.txt" <<'PY'
import sys
count, size = int(sys.argv[1]), int(sys.argv[2])
value = b"x" * size
out = sys.stdout.buffer
for start in range(0, count, 100000):
    out.write(b"".join(b"%d:%s\n" % (i % 1024, value) for i in range(start, min(count, start + 100000))))
PY

kcat_run() {
  local topic="bench-kcat-$RANDOM$RANDOM" start end
  kcat -L -b "$BROKER" -t "$topic" >/dev/null 2>&1 || true   # auto-creates it (4 partitions on Tansu)
  start=$(date +%s.%N)
  kcat -P -b "$BROKER" -t "$topic" -K: -X enable.idempotence=true -X acks=all -X linger.ms=5 -l "$work/messages.txt"
  end=$(date +%s.%N)
  python3 -c 'import sys; m=int(sys.argv[1]); s=float(sys.argv[3])-float(sys.argv[2]); print("{\"tool\":\"kcat\",\"messages\":%d,\"seconds\":%.3f,\"messages_per_second\":%d}" % (m, s, m/s))' "$MESSAGES" "$start" "$end"
}

: >"$work/results.jsonl"
for run in $(seq 1 "$RUNS"); do
  .build/release/okra-kafka-bench --brokers "$BROKER" --messages "$MESSAGES" --size "$SIZE" | tee -a "$work/results.jsonl"
  kcat_run | tee -a "$work/results.jsonl"
done

python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
median = {tool: statistics.median(r["messages_per_second"] for r in rows if r["tool"] == tool) for tool in ("okra-kafka-bench", "kcat")}
ratio = median["okra-kafka-bench"] / median["kcat"]
print(json.dumps({"median_okra_kafka_bench": int(median["okra-kafka-bench"]), "median_kcat": int(median["kcat"]), "ratio": round(ratio, 3)}))
PY
