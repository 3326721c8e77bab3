#!/usr/bin/env bash
# End-to-end throughput of a webhook receiver: a fresh dev broker, the receiver, and wrk posting
# a mix of Okra's sample payloads (each made unique) over CONNECTIONS keep-alive connections for
# DURATION; then every record the run's topics hold is consumed to check that every accepted
# request was published. Prints the wrk figures, then one JSON line per receiver with "lost".
#
#   ./scripts/bench.sh [RECEIVER] [DURATION] [CONNECTIONS]     (defaults: durable 30s 32)
#
# RECEIVER: durable, direct (okra-bridge serve in that delivery mode), go, python (the peers of
# bench/peers/: what a team would write instead), or compare: all four in that order, each on a
# fresh broker, then a table of accepted/s and p99 with each one's ratio to the Go receiver; the
# JSON lines are appended to bench/results.jsonl with the date and the machine.
#
#   ./scripts/bench.sh logcost [DURATION] [CONNECTIONS] [PAIRS]    (default 5 pairs)
#
# logcost: what the event log costs (the operations issue's benchmark): PAIRS alternating runs of
# durable with the log on (the default) and off (OKRA_BRIDGE_RETAIN=0), each on a fresh broker,
# then each pair's cost in accepted/s and in CPU a request, their mean and median; appended to
# bench/results.jsonl too.
#   ./scripts/bench.sh keycost [DURATION] [CONNECTIONS] [PAIRS]    (default 5 pairs)
#
# keycost: what sealing the store costs (the privacy issue's benchmark): PAIRS alternating durable
# runs with --log-key-file (the default) and with --log-unencrypted, reported and recorded as
# logcost's are.
#   ./scripts/bench.sh tracecost [DURATION] [CONNECTIONS] [PAIRS]  (default 5 pairs)
#
# tracecost: what tracing costs (the monitoring issue's benchmark): PAIRS alternating durable runs
# with --otlp-endpoint at scripts/bench/otlp_sink.py (a collector stand-in that keeps nothing) and
# without, reported and recorded as logcost's are. Webhooks come without a traceparent, as Okra's
# do: each starts a trace of three spans.
#   OKRA_BENCH_BASELINE=PATH ./scripts/bench.sh buildcost [DURATION] [CONNECTIONS] [PAIRS]
#
# buildcost: a change against the build before it (the CPU issue's method): PAIRS alternating
# runs of this build ("build on") and the okra-bridge binary at OKRA_BENCH_BASELINE ("build
# off"), in durable mode, or direct with OKRA_BENCH_DELIVERY=direct; reported and recorded as
# logcost's are (its "CPU cost" is what this build adds a request: negative is a saving).
#   ./scripts/bench.sh memory [DURATION] [CONNECTIONS]     (default 10m)
#
# memory: the bridge's memory under load (the CPU issue's item 4): one durable run of DURATION
# with RssAnon (its heap) and RssFile (mapped files, the store's pages among them) read from
# /proc every 30 s, and once more 60 s after the load stopped; prints them, and whether RssAnon
# grew after the first minute (its largest sample, and its troughs between serve's once-a-minute
# heap trims), and appends the run with its samples to bench/results.jsonl.
# OKRA_BENCH_ORDER="go python durable direct" runs compare's receivers in that order (the CPU
# issue's runs rotate it).
#   ./scripts/bench.sh floors [DURATION] [CONNECTIONS]
#
# floors: the least a receiver on the bridge's own stack costs here, beside the Go peer and the
# bridge in the same minutes: bench/floors' nio-floor (SwiftNIO alone) and hummingbird-floor
# (Hummingbird with one route), which only check the token and read the body, then durable
# and go, then bench/floors/sqlite_floor.py (SQLite alone, for the rows a webhook writes).
# store-floor (okra-floor-bench, also a receiver of its own) is the contract's parts wired as
# directly as they go: the bridge's decision and seals on the event loop, its rows from one
# writer thread through SQLite's C API with a synced WAL, its producer from memory;
# store-floor-decide, -sealed, -handoff, -rows and -synced stop after that stage (what each part costs
# beside the others); direct-floor is direct mode's parts (the decision, the producer, the answer
# after the reports). floors runs them all beside the bridge in both modes and the Go peer.
# Every JSON line also has the receiver's CPU time per accepted request (cpu_us_per_request),
# and the load generator's (load_cpu_us_per_request) and the dev broker's with its relay
# (broker_cpu_us_per_request) over the same run.
#   ./scripts/bench.sh allocations [DURATION] [CONNECTIONS]     (default 10s 8)
#
# allocations: the heap allocations one webhook costs (the CPU issue's "allocations on the hot
# path"): one durable run under heaptrack (Debian's package), then the calls to malloc and its
# kin a webhook accepted, and the sites that make most of them (the first frame of each stack
# that is not the allocator or the runtime's), appended to bench/results.jsonl. heaptrack slows
# the bridge: the count a webhook is the measure, not the CPU.
# OKRA_BRIDGE_* variables reach serve (e.g. OKRA_BRIDGE_RETAIN=0 turns the event log off);
# OKRA_BENCH_BINARY=path runs that okra-bridge instead of building the current one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"
RECEIVER="${1:-durable}"; DURATION="${2:-30s}"; CONNECTIONS="${3:-32}"; PAIRS="${4:-5}"
[ "$RECEIVER" = memory ] && DURATION="${2:-10m}"
[ "$RECEIVER" = allocations ] && DURATION="${2:-10s}" && CONNECTIONS="${3:-8}"
case "$RECEIVER" in durable|direct|go|python|store-floor|store-floor-decide|store-floor-sealed|store-floor-handoff|store-floor-rows|store-floor-synced|direct-floor|compare|logcost|keycost|tracecost|buildcost|memory|floors|allocations) ;; *) say "usage: $0 [durable|direct|go|python|store-floor[-STAGE]|direct-floor|compare|logcost|keycost|tracecost|buildcost|memory|floors|allocations] [DURATION] [CONNECTIONS] [PAIRS]"; exit 2 ;; esac
if [ "$RECEIVER" = buildcost ] && [ ! -x "${OKRA_BENCH_BASELINE:-}" ]; then say "buildcost needs OKRA_BENCH_BASELINE: the path of the okra-bridge build to compare with"; exit 2; fi
case "$PAIRS" in ''|*[!0-9]*|0) say "PAIRS must be a positive number, not '$PAIRS'"; exit 2 ;; esac
ensure_apt librdkafka-dev pkg-config python3-venv wrk curl

BENCH_VENV="$OKRA_ROOT/.tools/bench-venv"
ensure_bench_venv() {
  local want="aiohttp==3.14.5 confluent-kafka==2.16.1"
  if [ -f "$BENCH_VENV/.installed" ] && [ "$(cat "$BENCH_VENV/.installed")" = "$want" ]; then return 0; fi
  say "installing into $BENCH_VENV: $want"
  python3 -m venv "$BENCH_VENV" >&2
  # shellcheck disable=SC2086
  "$BENCH_VENV/bin/pip" install -q $want >&2
  printf '%s' "$want" >"$BENCH_VENV/.installed"
}
ensure_bench_venv   # the counter reads every topic with confluent-kafka

# OKRA_BENCH_BINARY runs a given build instead (to alternate a change with the build before it).
if [ -n "${OKRA_BENCH_BINARY:-}" ]; then
  BIN="$OKRA_BENCH_BINARY"
else
  swift build -c release --product okra-bridge >&2
  BIN="$(swift build -c release --show-bin-path)/okra-bridge"
fi
WORK="$(mktemp -d)"
write_log_key "$WORK/log-key"
TOKEN="bench-production-token-$RANDOM$RANDOM"
RECEIVER_PID=""
# A command serve runs under (allocations: heaptrack); its child is the bridge.
SERVE_UNDER=()
stop_receiver() {
  if [ -n "$RECEIVER_PID" ]; then
    local target="$RECEIVER_PID"
    # Its child that runs serve (heaptrack has another: its interpreter).
    if [ ${#SERVE_UNDER[@]} -gt 0 ]; then target="$(pgrep -P "$RECEIVER_PID" -f " serve " | head -1 || true)"; fi
    kill -TERM "${target:-$RECEIVER_PID}" 2>/dev/null || true; wait "$RECEIVER_PID" 2>/dev/null || true
  fi
  RECEIVER_PID=""
}
SINK_PID=""
cleanup() {
  stop_receiver
  if [ -n "$SINK_PID" ]; then kill -TERM "$SINK_PID" 2>/dev/null || true; fi
  ./scripts/kafka-dev.sh stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Production and environment-less payloads of Okra's docs (sandbox ones need the other token;
# API responses are dead letters, not events).
for f in Tests/OkraEnvelopeTests/Fixtures/payloads/*.json; do
  case "$f" in *.invalid.json|*/api-*) continue ;; esac
  grep -q '"okraenv":"sandbox"' <<<"$("$BIN" normalize "$f")" || echo "$PWD/$f"
done >"$WORK/payloads.txt"

build_go_peer() {
  ensure_apt golang-go golang-github-shopify-sarama-dev
  mkdir -p "$OKRA_ROOT/.build/peers"
  say "building bench/peers/go (GOPATH mode, Debian's Sarama)"
  GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$OKRA_ROOT/.build/peers/go-cache" \
    go build -o "$OKRA_ROOT/.build/peers/okra-peer-go" bench/peers/go/main.go 2>"$WORK/go-build.log" \
    || { cat "$WORK/go-build.log" >&2; exit 1; }
}

build_floors() {
  say "building bench/floors (release)"
  swift build -c release --package-path bench/floors >&2
  FLOORS_BIN="$(swift build -c release --package-path bench/floors --show-bin-path)"
}
build_store_floor() {
  say "building okra-floor-bench (release)"
  swift build -c release --product okra-floor-bench >&2
  STORE_FLOOR_BIN="$(swift build -c release --show-bin-path)/okra-floor-bench"
}

# CPU time a process has used so far (all threads, user and system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU time of process $1's children that have ended and been waited for, in clock ticks.
children_ticks() { awk '{print $16 + $17}' "/proc/$1/stat"; }
# The dev broker's and its relay's CPU time so far, in clock ticks.
broker_ticks() {
  local state="${KAFKA_DEV_DIR:-$OKRA_ROOT/.kafka-dev}"
  echo $(( $(cpu_ticks "$(cat "$state/tansu.pid")") + $(cpu_ticks "$(cat "$state/relay.pid")") ))
}

# The receiver's RssAnon and RssFile in KiB, after the seconds since $2: one line.
memory_sample() { echo "$(( $(date +%s) - $2 )) $(awk '/^RssAnon:|^RssFile:/ {printf "%s ", $2}' "/proc/$1/status")"; }

# Runs one receiver on a fresh broker; prints its JSON line. With MEMORY_SAMPLES set, writes
# the receiver's memory there every 30 s of the load, then once 60 s after it.
bench_one() {
  local receiver="$1" run port broker
  run="bench$(date +%s)$receiver"
  ./scripts/kafka-dev.sh stop >/dev/null 2>&1 || true
  broker="$(./scripts/kafka-dev.sh start)"
  port="$(free_ports)"
  # Topics per product and outcome, as the peers pick them.
  cat >"$WORK/routes.json" <<JSON
{"version":1,"defaults":{"topic":"$run.{product}.{outcome}","key":"record","format":"structured"},"deadLetter":{"topic":"$run.deadletter"},"routes":[]}
JSON
  case "$receiver" in
    durable|direct)
      # Each mode its own store: floors reads durable's schema after direct has run.
      rm -rf "$WORK/data-$receiver"
      "${SERVE_UNDER[@]}" "$BIN" serve --listen "127.0.0.1:$port" --brokers "$broker" --routes "$WORK/routes.json" \
        --data-dir "$WORK/data-$receiver" --delivery "$receiver" --token "production=$TOKEN" ${KEY_ARGUMENTS:---log-key-file $WORK/log-key} \
        >"$WORK/$receiver.out" 2>"$WORK/$receiver.log" &
      ;;
    go)
      PEER_TOKEN="$TOKEN" "$OKRA_ROOT/.build/peers/okra-peer-go" -listen "127.0.0.1:$port" -brokers "$broker" -topic-prefix "$run" 2>"$WORK/go.log" &
      ;;
    python)
      PEER_TOKEN="$TOKEN" "$BENCH_VENV/bin/python" bench/peers/python/peer.py --listen "127.0.0.1:$port" --brokers "$broker" --topic-prefix "$run" 2>"$WORK/python.log" &
      ;;
    nio-floor|hummingbird-floor)
      FLOOR_TOKEN="$TOKEN" "$FLOORS_BIN/$receiver" "$port" 2>"$WORK/$receiver.log" &
      ;;
    store-floor|store-floor-*|direct-floor)
      # store-floor-STAGE stops after STAGE (okra-floor-bench's FLOOR_UPTO); store-floor does all.
      local stage="${receiver#store-floor}"
      stage="${stage#-}"
      [ "$receiver" = direct-floor ] && stage=direct
      rm -rf "$WORK/data-floor"; mkdir -p "$WORK/data-floor"
      FLOOR_UPTO="${stage:-kafka}" FLOOR_TOKEN="$TOKEN" "$STORE_FLOOR_BIN" "$port" "$WORK/data-floor" "$WORK/routes.json" "$broker" 2>"$WORK/$receiver.log" &
      ;;
  esac
  RECEIVER_PID=$!
  # Ready when a webhook is answered 200 (the peers have no health endpoint); that one is
  # not counted, nor published by wrk's counter.
  local ready=""
  for _ in $(seq 1 100); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Okra-Auth: $TOKEN" --data-binary '{"type":"WARMUP","bench_seq":"warmup"}' "http://127.0.0.1:$port/webhooks/okra")" = 200 ]; then ready=1; break; fi
    sleep 0.2
  done
  [ -n "$ready" ] || { say "$receiver did not answer a webhook within 20 s"; tail -5 "$WORK/$receiver.log" >&2; exit 1; }
  local sampler="" began
  began="$(date +%s)"
  if [ -n "${MEMORY_SAMPLES:-}" ]; then
    ( while kill -0 "$RECEIVER_PID" 2>/dev/null; do memory_sample "$RECEIVER_PID" "$began"; sleep 30; done ) >"$MEMORY_SAMPLES" &
    sampler=$!
  fi

  say "wrk: $receiver, $CONNECTIONS connections, $DURATION, $(wc -l <"$WORK/payloads.txt") payload kinds"
  # CPU over wrk's run: the receiver's (every thread, user and system), wrk's (a child of this
  # shell, so counted once it has been waited for), and the dev broker's with its relay.
  local ticks_before ticks_after load_before load_after broker_before broker_after shell="$BASHPID"
  ticks_before="$(cpu_ticks "$RECEIVER_PID")"; load_before="$(children_ticks "$shell")"; broker_before="$(broker_ticks)"
  BENCH_PAYLOADS="$WORK/payloads.txt" BENCH_TOKEN="$TOKEN" \
    wrk -t 2 -c "$CONNECTIONS" -d "$DURATION" --latency -s scripts/bench/post.lua "http://127.0.0.1:$port" | tee "$WORK/wrk.out" >&2
  ticks_after="$(cpu_ticks "$RECEIVER_PID")"; broker_after="$(broker_ticks)"; load_after="$(children_ticks "$shell")"
  local result accepted
  # Each per accepted request: steadier than accepted/s on a machine whose speed moves, and the
  # same measure for the bridge and the peers.
  result="$(python3 -c '
import json, os, sys
r = json.loads(sys.argv[1])
receiver, load, broker = (int(after) - int(before) for before, after in zip(sys.argv[2::2], sys.argv[3::2]))
tick = os.sysconf("SC_CLK_TCK")
r["cpu_seconds"] = round(receiver / tick, 2)
for name, ticks in (("cpu", receiver), ("load_cpu", load), ("broker_cpu", broker)):
    r[name + "_us_per_request"] = round(ticks / tick * 1e6 / r["accepted"], 1) if r["accepted"] else None
print(json.dumps(r, separators=(",", ":")))' "$(grep '^{"requests"' "$WORK/wrk.out")" \
    "$ticks_before" "$ticks_after" "$load_before" "$load_after" "$broker_before" "$broker_after")"
  accepted="$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["accepted"])' "$result")"
  if [ "$receiver" = durable ]; then
    say "waiting for the outbox to drain"
    for _ in $(seq 1 600); do
      published="$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^okra_bridge_outbox_published_total/ {print $2}')"
      [ "${published:-0}" -ge "$((accepted + 1))" ] && break
      sleep 0.5
    done
  fi
  # The floor keeps no mark a metric shows: its producer lingers 1 ms, so a few seconds deliver
  # what the last batches sent.
  [ "$receiver" = store-floor ] && sleep 3
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    echo "stopped $(( $(date +%s) - began ))" >>"$MEMORY_SAMPLES"
    say "the load stopped; the last memory sample in 60 s"
    sleep 60
    memory_sample "$RECEIVER_PID" "$began" >>"$MEMORY_SAMPLES"
  fi
  stop_receiver
  case "$receiver" in
    nio-floor|hummingbird-floor|store-floor-*)
      # Nothing was published: no loss to count.
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["receiver"]=sys.argv[2]; r["lost"]=None; r["accepted_per_second"]=round(r["accepted"]/r["seconds"]); print(json.dumps(r, separators=(",", ":")))' "$result" "$receiver"
      ;;
    *)
      say "consuming every $run.* topic"
      "$BENCH_VENV/bin/python" scripts/bench/count.py "$broker" "$run" "$result" "$receiver"
      ;;
  esac
}

# A run with one setting on or off, its line marked with the setting's name: the event
# log (on by default, off with OKRA_BRIDGE_RETAIN=0), the store's key (sealed by default, in
# clear with --log-unencrypted), tracing (off by default, on exporting to the OTLP sink), the
# build (this one, or the baseline's). Durable, unless OKRA_BENCH_DELIVERY says direct.
bench_ab() {
  local setting="$1" state="$2"
  (
    case "$setting:$state" in
      log:on) unset OKRA_BRIDGE_RETAIN ;;
      log:off) export OKRA_BRIDGE_RETAIN=0 ;;
      key:on) unset KEY_ARGUMENTS ;;
      key:off) KEY_ARGUMENTS=--log-unencrypted ;;
      trace:on) export OKRA_BRIDGE_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" ;;
      trace:off) unset OKRA_BRIDGE_OTLP_ENDPOINT ;;
      build:on) ;;
      build:off) BIN="$OKRA_BENCH_BASELINE" ;;
    esac
    bench_one "${OKRA_BENCH_DELIVERY:-durable}"
  ) | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r[sys.argv[1]]=sys.argv[2]; print(json.dumps(r))' "$setting" "$state"
}
case "$RECEIVER" in
  logcost|keycost|tracecost|buildcost)
    setting="${RECEIVER%cost}"
    if [ "$setting" = trace ]; then
      SINK_PORT="$(free_ports)"
      python3 scripts/bench/otlp_sink.py "$SINK_PORT" 2>"$WORK/otlp-sink.log" &
      SINK_PID=$!
    fi
    for _ in $(seq 1 "$PAIRS"); do
      bench_ab "$setting" on | tee -a "$WORK/results.jsonl"
      bench_ab "$setting" off | tee -a "$WORK/results.jsonl"
    done
    if [ "$setting" = trace ]; then kill -TERM "$SINK_PID"; wait "$SINK_PID" || true; cat "$WORK/otlp-sink.log" >&2; fi
    python3 scripts/bench/logcost.py "$WORK/results.jsonl" "$DURATION" "$CONNECTIONS" "$OKRA_ROOT/bench/results.jsonl" "$setting"
    exit 0
    ;;
esac

case "$RECEIVER" in
  compare)
    read -r -a RECEIVERS <<<"${OKRA_BENCH_ORDER:-durable direct go python}"
    for receiver in "${RECEIVERS[@]}"; do
      case "$receiver" in durable|direct|go|python) ;; *) say "OKRA_BENCH_ORDER names durable, direct, go and python, not '$receiver'"; exit 2 ;; esac
    done
    ;;
  memory) RECEIVERS=(durable); MEMORY_SAMPLES="$WORK/memory.txt" ;;
  allocations)
    # heaptrack writes a .gz instead when zstd's command is missing; procps has pgrep.
    ensure_apt heaptrack zstd procps
    RECEIVERS=(durable); SERVE_UNDER=(heaptrack -o "$WORK/heap")
    ;;
  floors) RECEIVERS=(nio-floor hummingbird-floor store-floor-decide store-floor-sealed store-floor-handoff store-floor-rows store-floor-synced store-floor durable direct-floor direct go) ;;
  *) RECEIVERS=("$RECEIVER") ;;
esac
for receiver in "${RECEIVERS[@]}"; do [ "$receiver" = go ] && build_go_peer; done
[ "$RECEIVER" = floors ] && build_floors
case "$RECEIVER" in floors|store-floor*|direct-floor) build_store_floor ;; esac
for receiver in "${RECEIVERS[@]}"; do
  bench_one "$receiver" | tee -a "$WORK/results.jsonl"
done
if [ "$RECEIVER" = floors ]; then
  # SQLite alone, with the schema of the store the durable run made.
  python3 bench/floors/sqlite_floor.py "$WORK/data-durable/okra-bridge.sqlite" 50000 16 32 | tee -a "$WORK/results.jsonl"
fi
case "$RECEIVER" in
  memory) python3 scripts/bench/memory.py "$WORK/results.jsonl" "$MEMORY_SAMPLES" "$DURATION" "$CONNECTIONS" "$OKRA_ROOT/bench/results.jsonl" ;;
  allocations)
    heap="$(ls "$WORK"/heap.* 2>/dev/null | head -1 || true)"
    [ -n "$heap" ] || { say "heaptrack wrote no file in $WORK"; exit 1; }
    heaptrack_print "$heap" --flamegraph-cost-type allocations -F "$WORK/stacks.txt" >"$WORK/heap.txt"
    swift demangle --simplified <"$WORK/stacks.txt" >"$WORK/stacks-demangled.txt"
    python3 scripts/bench/allocations.py "$WORK/results.jsonl" "$WORK/heap.txt" "$WORK/stacks-demangled.txt" "$DURATION" "$CONNECTIONS" "$OKRA_ROOT/bench/results.jsonl"
    ;;
  compare|floors) python3 scripts/bench/compare.py "$WORK/results.jsonl" "$DURATION" "$CONNECTIONS" "$OKRA_ROOT/bench/results.jsonl" ;;
esac
