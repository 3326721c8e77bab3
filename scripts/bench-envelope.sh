#!/usr/bin/env bash
# Normalizer benchmark: payloads/s on one core (taskset -c 0) over the seed payloads, and heap
# bytes allocated per payload (valgrind's heap summary, a run of N minus a run of 0).
#
#   ./scripts/bench-envelope.sh [ITERATIONS]      (default 1000000)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"
ITERATIONS="${1:-1000000}"
ensure_apt valgrind
swift build -c release --product okra-envelope-bench >&2
BIN=.build/release/okra-envelope-bench
# Five runs and their median: on a shared virtual machine single runs vary by up to a third.
runs="$(mktemp)"
trap 'rm -f "$runs"' EXIT
for run in 1 2 3 4 5; do taskset -c 0 "$BIN" --iterations "$ITERATIONS" | tee -a "$runs"; done
python3 -c 'import json, statistics, sys; rates = [json.loads(l)["payloads_per_second"] for l in open(sys.argv[1])]; print(json.dumps({"median_payloads_per_second": int(statistics.median(rates)), "runs": rates}))' "$runs"
heap() {
  valgrind --tool=memcheck --leak-check=no "$BIN" --iterations "$1" 2>&1 >/dev/null \
    | sed -n 's/.*total heap usage: \([0-9,]*\) allocs, [0-9,]* frees, \([0-9,]*\) bytes allocated.*/\1 \2/p' | tr -d ,
}
read -r allocs0 bytes0 < <(heap 0)
read -r allocs1 bytes1 < <(heap 20000)
python3 -c 'import sys; a0,b0,a1,b1=map(int,sys.argv[1:5]); n=20000; print("{\"tool\":\"valgrind\",\"iterations\":%d,\"allocations_per_payload\":%.1f,\"bytes_allocated_per_payload\":%d}" % (n,(a1-a0)/n,(b1-b0)/n))' "$allocs0" "$bytes0" "$allocs1" "$bytes1"
