#!/usr/bin/env bash
# Power-loss test of the durable store: "a 200 means fsynced".
#
# Usage: scripts/test-powerloss.sh [BINARY]   (default .build/debug/okra-bridge; as root)
#   POWERLOSS_LOAD_SECONDS (default 6) how long the load runs before the cut;
#   POWERLOSS_THREADS (default 16) how many clients post at once;
#   POWERLOSS_CUT=0 kills the bridge but skips the cut: a control run, where nothing may be
#   lost whatever the store's synchronous setting (a process crash keeps the kernel's writes).
#
# The bridge's data dir sits on lossyfs (scripts/powerloss/lossyfs.py), a FUSE pass-through
# filesystem that keeps every write in memory until it is fsynced. Kafka is unreachable on
# purpose, so every accepted webhook waits in the store. Under load, the bridge is killed with
# SIGKILL and the filesystem then drops every unsynced write, as a power cut would. A fresh mount
# of what reached the backing folder gets a new bridge, and every id that was answered 200 must
# be found there (GET /admin/events/{id}), and the file must pass SQLite's PRAGMA
# integrity_check. Exits 1 when any acknowledged webhook is lost, when the file is not whole, or
# when fewer than 200 were acknowledged (then the run proved nothing).
#
# Everything it starts (lossyfs, bridges, the load) is recorded and stopped at exit, and the
# mount is undone; nothing else on the machine is touched.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

BINARY="${1:-.build/debug/okra-bridge}"
LOAD_SECONDS="${POWERLOSS_LOAD_SECONDS:-6}"
THREADS="${POWERLOSS_THREADS:-16}"
CUT="${POWERLOSS_CUT:-1}"
[ -x "$BINARY" ] || { say "no bridge at $BINARY: build it (swift build) or pass its path"; exit 1; }
BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")"
[ -c /dev/fuse ] || { say "no /dev/fuse: this test needs FUSE (and root)"; exit 1; }
ensure_powerloss_venv || exit 1
PY="$POWERLOSS_VENV/bin/python"
HERE="$OKRA_ROOT/scripts/powerloss"
started_at=$SECONDS

WORK="$(mktemp -d "${TMPDIR:-/tmp}/okra-powerloss.XXXXXX")"
BACKING="$WORK/backing"
MNT="$WORK/mnt"
mkdir -p "$BACKING" "$MNT" "$WORK/pids" "$WORK/fs-pids"

# As root, umount(8) undoes a FUSE mount (no fusermount needed); lazily when it is busy.
unmount() {
  mountpoint -q "$MNT" || return 0
  umount "$MNT" 2>/dev/null || umount -l "$MNT"
}
cleanup() {
  stop_recorded_processes "$WORK/pids"
  unmount
  sleep 0.2
  stop_recorded_processes "$WORK/fs-pids"
  if mountpoint -q "$MNT"; then say "$MNT is still mounted; leaving $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Starts "$@" in the background, records it for the cleanup (in folder $1) and sets STARTED.
start_recorded() {
  local folder="$1"
  shift
  "$@" &
  STARTED=$!
  printf '%s' "$1" >"$folder/$STARTED"
}

# Whether process $1 (a child of this script) still runs: not ended, nor a zombie.
running() {
  kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# Mounts lossyfs over $BACKING on $MNT and waits for the mount.
mount_lossyfs() {
  start_recorded "$WORK/fs-pids" "$PY" "$HERE/lossyfs.py" "$BACKING" "$MNT" 2>>"$WORK/lossyfs.log"
  FS_PID=$STARTED
  local tries
  for tries in $(seq 100); do
    mountpoint -q "$MNT" && return 0
    kill -0 "$FS_PID" 2>/dev/null || break
    sleep 0.1
  done
  say "lossyfs did not mount:"; cat "$WORK/lossyfs.log" >&2
  exit 1
}

# Unmounts it and waits for lossyfs to end.
unmount_lossyfs() {
  unmount
  wait "$FS_PID" 2>/dev/null
  rm -f "$WORK/fs-pids/$FS_PID"
}

# Starts the bridge on the mount (log in $1) and waits until /readyz answers 200.
start_bridge() {
  start_recorded "$WORK/pids" "$BINARY" serve --listen "127.0.0.1:$PORT" --brokers 127.0.0.1:1 \
    --allow-unauthenticated --routes "$OKRA_ROOT/routes.json" --data-dir "$MNT/data" \
    --admin-listen "127.0.0.1:$ADMIN_PORT" --admin-token-file "$WORK/admin-token" --log-key-file "$WORK/log-key" >>"$1" 2>&1
  BRIDGE_PID=$STARTED
  local tries
  for tries in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz")" = 200 ] && return 0
    kill -0 "$BRIDGE_PID" 2>/dev/null || break
    sleep 0.2
  done
  say "the bridge did not become ready; the end of its log ($1):"
  tail -n 20 "$1" >&2
  exit 1
}

say "checking lossyfs itself"
"$PY" "$HERE/selftest.py" || { say "lossyfs failed its self-test"; exit 1; }

read -r PORT ADMIN_PORT < <(free_ports 2)
random_secret powerloss-admin- >"$WORK/admin-token"
write_log_key "$WORK/log-key"

say "mounting lossyfs and starting the bridge ($BINARY)"
mount_lossyfs
start_bridge "$WORK/bridge-1.log"

say "posting webhooks from $THREADS clients for ${LOAD_SECONDS}s, then SIGKILL and $([ "$CUT" != 0 ] && echo "a power cut" || echo "no power cut (control run)")"
# The load itself sends the SIGKILL, right after an acknowledgement (client.py); should none
# come, the bridge is killed here a little later.
start_recorded "$WORK/pids" "$PY" "$HERE/client.py" load --url "http://127.0.0.1:$PORT" --out "$WORK/acknowledged" \
  --threads "$THREADS" --max-seconds "$((LOAD_SECONDS + 60))" --kill "$BRIDGE_PID" --kill-after "$LOAD_SECONDS"
LOAD_PID=$STARTED
for tries in $(seq $((LOAD_SECONDS * 10 + 100))); do
  running "$BRIDGE_PID" || break
  sleep 0.1
done
running "$LOAD_PID" || { say "the load stopped early"; exit 1; }
if running "$BRIDGE_PID"; then
  say "no acknowledgement came after ${LOAD_SECONDS}s: the bridge is killed without one"
  kill -KILL "$BRIDGE_PID"
fi
wait "$BRIDGE_PID" 2>/dev/null
if [ "$CUT" != 0 ]; then
  printf cut >"$MNT/.lossyfs-cut" || { say "the cut failed"; exit 1; }
fi
kill -TERM "$LOAD_PID"
wait "$LOAD_PID"
rm -f "$WORK/pids/$BRIDGE_PID" "$WORK/pids/$LOAD_PID"
unmount_lossyfs
grep "^lossyfs: cut:" "$WORK/lossyfs.log" >&2

say "mounting what reached the disk and starting the bridge again"
mount_lossyfs
start_bridge "$WORK/bridge-2.log"
"$PY" "$HERE/client.py" check --url "http://127.0.0.1:$ADMIN_PORT" --token-file "$WORK/admin-token" \
  --ids "$WORK/acknowledged" --min 200 | tee "$WORK/check.txt"
status=${PIPESTATUS[0]}
kill -TERM "$BRIDGE_PID"
wait "$BRIDGE_PID" 2>/dev/null
rm -f "$WORK/pids/$BRIDGE_PID"
# The file itself must be whole too, not only hold the ids: SQLite's own check, read-only.
integrity=$("$PY" - "$MNT/data/okra-bridge.sqlite" <<'PY'
import sqlite3, sys, urllib.parse
try:
    db = sqlite3.connect(f"file:{urllib.parse.quote(sys.argv[1])}?mode=ro", uri=True)
    rows = db.execute("PRAGMA integrity_check").fetchall()
    print("; ".join(row[0] for row in rows).replace("\n", "; ")[:300])
except sqlite3.DatabaseError as error:
    print(error)
PY
) || integrity="the check failed to run"
unmount_lossyfs

acknowledged=$(wc -l <"$WORK/acknowledged")
found=$(sed -n 's/^acknowledged [0-9]*, found \([0-9]*\),.*/\1/p' "$WORK/check.txt")
took="$((SECONDS - started_at))s"
if [ "$integrity" != ok ]; then
  echo "powerloss: FAILED: the store's file is not whole after the cut: $integrity; ids: $(cat "$WORK/check.txt") ($took)"
  exit 1
elif [ "$status" -eq 0 ]; then
  echo "powerloss: PASSED: all $acknowledged acknowledged webhooks found after the cut, the file whole ($took)"
elif [ "${found:-0}" -lt "$acknowledged" ]; then
  echo "powerloss: FAILED: $((acknowledged - ${found:-0})) of $acknowledged acknowledged webhooks not found after the cut ($took)"
else
  echo "powerloss: FAILED: only $acknowledged webhooks acknowledged, at least 200 needed ($took)"
fi
exit "$status"
