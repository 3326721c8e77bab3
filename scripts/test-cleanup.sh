#!/usr/bin/env bash
# Checks stop_recorded_processes (scripts/lib.sh), which scripts/test.sh's cleanup uses: a
# recorded child is killed; a process that looks like a test's bridge but was started by
# someone else is left alone, and so is a recorded pid now running another program.
# Prints "N passed, N failed" and exits 1 on any failure.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/okra-cleanup-test.XXXXXX")"
mkdir -p "$run_dir/pids"
pids=()
trap 'kill -KILL "${pids[@]}" 2>/dev/null; rm -rf "$run_dir"' EXIT

# Each stand-in runs python3 with a command line an operator's bridge could have.
start() {
  python3 -c 'import time; time.sleep(120)' okra-bridge serve --listen 127.0.0.1:1 </dev/null >/dev/null 2>&1 &
  pids+=("$!")
  disown "$!"
}
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

start; ours="$!"
start; theirs="$!"
start; reused="$!"
sleep 0.5
# Ours is recorded with the program it runs (its argv[0], as the tests record their children);
# the reused pid with another program, as when a recorded child ended and the kernel gave its
# pid to something else.
tr '\0' '\n' <"/proc/$ours/cmdline" | head -n 1 | tr -d '\n' >"$run_dir/pids/$ours"
printf '%s' "/opt/okra/okra-bridge" >"$run_dir/pids/$reused"

stop_recorded_processes "$run_dir/pids"
sleep 0.2

passed=0 failed=0
check() {
  if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); say "FAILED: $1"; fi
}
check "a recorded child is killed" "! alive $ours"
check "a bridge the tests did not start is left running" "alive $theirs"
check "a recorded pid running another program is left running" "alive $reused"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
