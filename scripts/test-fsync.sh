#!/usr/bin/env bash
# Proves, on the real process, that okra-bridge answers a webhook 200 only once it is durable:
# for EVERY acknowledged webhook there must be an fsync/fdatasync of the store's WAL file
# (DATA_DIR/okra-bridge.sqlite-wal) after that webhook's WAL frames were written and before its
# 200 answer was written to the socket. With SQLite in WAL mode and synchronous=NORMAL a commit
# is not synced (only checkpoints sync the WAL), so a power cut can lose acknowledged webhooks;
# the bridge must run it with synchronous=FULL.
#
# Why strace: the property is about the order of system calls (write the frames, sync them,
# then write the answer), which neither the HTTP answers nor the file contents show, and which a
# library setting (GRDB resetting a pragma) can silently change. strace -f records the calls of
# every thread in the order they happened, with the file behind each fd (-y), so the check
# holds for the binary as built, whatever the code says.
#
# Usage: scripts/test-fsync.sh [BINARY]   (default .build/debug/okra-bridge; it is not built)
# Starts BINARY serve under strace (Kafka unreachable on purpose, so no publisher writes mix in),
# waits for GET /readyz, posts 100 distinct webhooks one at a time, stops it with SIGTERM and
# checks the trace with scripts/fsync/check_trace.py. Exits 0 only when all 100 were answered
# 200 accepted and each answer had its WAL sync. scripts/fsync/fake_bridge.py stands in for the
# bridge to check this script itself (see its header). With OKRA_FSYNC_TRACE=FILE the strace log
# is kept there.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BINARY="${1:-$OKRA_ROOT/.build/debug/okra-bridge}"
case "$BINARY" in /*) ;; *) BINARY="$PWD/$BINARY" ;; esac   # the caller's folder, not the root
cd "$OKRA_ROOT"
COUNT=100
[ -x "$BINARY" ] || { say "no executable at $BINARY (build it first, or pass its path)"; exit 2; }
ensure_apt strace || exit 2
# The checker's own verdicts first, on hand-written traces (split lines, a sync still running
# when the answer starts, a sync before the frames): a checker that passes anything fails here.
python3 "$OKRA_ROOT/scripts/fsync/check_trace.py" --self-test >/dev/null || { say "the trace checker failed its self-test"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/okra-fsync.XXXXXX")"
write_log_key "$WORK/log-key"
DATA="$WORK/data"
TRACE="$WORK/strace.log"
mkdir -p "$DATA"
# A routes file of our own, so an edit of ./routes.json cannot change what is tested.
cat >"$WORK/routes.json" <<'EOF'
{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}
EOF
PORT="$(free_ports 1)"
STRACE_PID=""
BRIDGE_PID=""

# The traced program: the child of our strace (found by its parent pid, never by its name).
traced_child() {
  local stat rest
  for stat in /proc/[0-9]*/stat; do
    rest="$(cat "$stat" 2>/dev/null)" || continue
    rest="${rest##*) }"   # the fields after "pid (comm) "
    set -- $rest
    [ "${2:-}" = "$STRACE_PID" ] && { basename "$(dirname "$stat")"; return 0; }
  done
  return 1
}

# Whether pid $1 still runs (a zombie does not) and is the child of our strace.
is_our_bridge() {
  local rest
  rest="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  rest="${rest##*) }"
  set -- $rest
  [ "$1" != Z ] && [ "$2" = "$STRACE_PID" ]
}

# Waits up to $1 seconds for our strace to end (it ends once the bridge has).
strace_ended_within() {
  local tries=$(($1 * 10))
  while kill -0 "$STRACE_PID" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$STRACE_PID/stat" 2>/dev/null)" != Z ]; do
    [ "$tries" -le 0 ] && return 1
    tries=$((tries - 1))
    sleep 0.1
  done
  return 0
}

# Only what this script started: the bridge under strace, strace, and the temp folder.
cleanup() {
  if [ -n "$STRACE_PID" ]; then
    [ -n "$BRIDGE_PID" ] || BRIDGE_PID="$(traced_child)" || true
    if [ -n "$BRIDGE_PID" ] && is_our_bridge "$BRIDGE_PID"; then kill -KILL "$BRIDGE_PID" 2>/dev/null || true; fi
    strace_ended_within 5 || kill -KILL "$STRACE_PID" 2>/dev/null || true
    wait "$STRACE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

START_TIME=$SECONDS
say "starting $BINARY under strace on 127.0.0.1:$PORT (data in $DATA)"
strace -f -tt -y -s 64 -e trace=write,writev,pwrite64,pwritev,sendmsg,sendto,fsync,fdatasync -o "$TRACE" \
  "$BINARY" serve --listen "127.0.0.1:$PORT" --brokers 127.0.0.1:1 --allow-unauthenticated \
  --routes "$WORK/routes.json" --data-dir "$DATA" --log-key-file "$WORK/log-key" >"$WORK/bridge.log" 2>&1 &
STRACE_PID=$!

if ! python3 scripts/fsync/post_webhooks.py ready --port "$PORT" --timeout 120 --watch "$STRACE_PID"; then
  say "the bridge's last output:"; tail -n 20 "$WORK/bridge.log" >&2
  exit 1
fi
BRIDGE_PID="$(traced_child)" || { say "cannot find the process strace runs"; exit 1; }
say "ready after $((SECONDS - START_TIME)) s (pid $BRIDGE_PID); posting $COUNT webhooks one at a time"

python3 scripts/fsync/post_webhooks.py post --port "$PORT" --count "$COUNT" --prefix "$(random_secret rec-)"
POSTED=$?

say "stopping the bridge (SIGTERM)"
kill -TERM "$BRIDGE_PID" 2>/dev/null || true
if ! strace_ended_within 60; then
  say "the bridge did not stop within 60 s of SIGTERM; killing it"
  is_our_bridge "$BRIDGE_PID" && kill -KILL "$BRIDGE_PID" 2>/dev/null
  strace_ended_within 10 || kill -KILL "$STRACE_PID" 2>/dev/null
fi
wait "$STRACE_PID" 2>/dev/null
STRACE_PID=""

[ -n "${OKRA_FSYNC_TRACE:-}" ] && cp "$TRACE" "$OKRA_FSYNC_TRACE" && say "strace log kept in $OKRA_FSYNC_TRACE"
python3 scripts/fsync/check_trace.py --wal "$DATA/okra-bridge.sqlite-wal" --expect "$COUNT" "$TRACE"
CHECKED=$?
say "run took $((SECONDS - START_TIME)) s"
if [ "$POSTED" -ne 0 ] || [ "$CHECKED" -ne 0 ]; then
  say "FAIL: not every webhook was acknowledged after a WAL sync (see above)"
  exit 1
fi
say "PASS: each of the $COUNT acknowledged webhooks had a WAL fsync/fdatasync before its answer"
