#!/usr/bin/env bash
# Checks the operations API against its document, docs/admin-api.yaml, with schemathesis
# (--checks all): a live `okra-bridge serve` in durable mode on a fresh store, seeded with every
# payload of the envelope fixtures (events and dead letters); every operation, with and without
# the admin token; no 500, every answer as the document says. Then the same run against a copy of
# the document with one answer member renamed must fail: the conformance check bites.
#
#   scripts/test-admin-api.sh [BINARY]        (default .build/debug/okra-bridge)
# OKRA_SCHEMATHESIS_EXAMPLES sets the cases per operation (default 60).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BINARY="${1:-$OKRA_ROOT/.build/debug/okra-bridge}"
case "$BINARY" in /*) ;; *) BINARY="$PWD/$BINARY" ;; esac
cd "$OKRA_ROOT"
[ -x "$BINARY" ] || { say "no executable at $BINARY (build it first, or pass its path)"; exit 2; }
ensure_schemathesis_venv || exit 2
EXAMPLES="${OKRA_SCHEMATHESIS_EXAMPLES:-60}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/okra-admin-api.XXXXXX")"
BRIDGE_PID=""
cleanup() {
  if [ -n "$BRIDGE_PID" ]; then
    kill -TERM "$BRIDGE_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$BRIDGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BRIDGE_PID" 2>/dev/null || true
    wait "$BRIDGE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/routes.json" <<'JSON'
{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}
JSON
random_secret admin- >"$WORK/admin-token"
read -r PORT ADMIN_PORT <<<"$(free_ports 2)"
# No broker (nothing listens on port 1): records wait in the outbox, which is all the API reads.
"$BINARY" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --admin-token-file "$WORK/admin-token" \
  --brokers 127.0.0.1:1 --allow-unauthenticated --routes "$WORK/routes.json" --data-dir "$WORK/data" >"$WORK/bridge.log" 2>&1 &
BRIDGE_PID=$!
for _ in $(seq 600); do
  python3 - "$PORT" <<'PY' 2>/dev/null && break
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=1); c.request("GET", "/healthz"); sys.exit(c.getresponse().status != 200)
PY
  kill -0 "$BRIDGE_PID" 2>/dev/null || { say "the bridge exited:"; tail -n 20 "$WORK/bridge.log" >&2; exit 1; }
  sleep 0.1
done
python3 scripts/adminapi/seed.py --port "$PORT" Tests/OkraEnvelopeTests/Fixtures/payloads || { tail -n 20 "$WORK/bridge.log" >&2; exit 1; }

# The token reaches schemathesis through its environment and config file, never its argv; it
# runs in $WORK, so its cache (requests and answers, personal data among them) goes with it.
cat >"$WORK/schemathesis.toml" <<'TOML'
headers = { Authorization = "Bearer ${OKRA_ADMIN_API_TOKEN}" }
TOML
run_schemathesis() {
  local document="$1"
  shift
  (cd "$WORK" && OKRA_ADMIN_API_TOKEN="$(cat "$WORK/admin-token")" "$SCHEMATHESIS_VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" \
    run "$document" "$@" --url "http://127.0.0.1:$ADMIN_PORT" --checks all --max-examples "$EXAMPLES" --seed "${OKRA_SCHEMATHESIS_SEED:-20261203}" \
    --generation-database none --no-color --output-truncate true --workers 1 --request-timeout 30 \
    --report har --report-har-path "$WORK/$(basename "$document").har")
}

say "schemathesis against docs/admin-api.yaml (bridge on 127.0.0.1:$ADMIN_PORT, $EXAMPLES cases an operation)"
run_schemathesis "$OKRA_ROOT/docs/admin-api.yaml" >"$WORK/run.log" 2>&1
STATUS=$?
tail -n 60 "$WORK/run.log" >&2
if [ "$STATUS" -ne 0 ]; then
  say "FAIL: the operations API does not do what docs/admin-api.yaml says (above)"
  grep -i "error\|panic\|fatal" "$WORK/bridge.log" | tail -n 20 >&2
  exit 1
fi
if grep -q '"level":"critical"\|Fatal error' "$WORK/bridge.log"; then say "FAIL: the bridge logged a crash"; exit 1; fi
# A run whose token never applied would see only 401s (which the checks accept): every operation
# must have answered 200 at least once.
python3 - "$WORK/admin-api.yaml.har" <<'PY' || exit 1
import json, re, sys, urllib.parse
entries = json.load(open(sys.argv[1]))["log"]["entries"]
ok = set()
for entry in entries:
    if entry["response"]["status"] == 200:
        path = re.sub(r"^/admin/events/(?!export$)[^/]+$", "/admin/events/{id}", urllib.parse.urlsplit(entry["request"]["url"]).path)
        ok.add((entry["request"]["method"], path))
wanted = {("GET", "/admin/events"), ("GET", "/admin/events/export"), ("GET", "/admin/events/{id}"), ("POST", "/admin/replay"),
          ("GET", "/admin/parked"), ("POST", "/admin/parked/redrive"), ("POST", "/admin/parked/discard")}
missing = sorted(wanted - ok)
print(f"{len(entries)} requests; every operation answered 200 at least once" if not missing else f"FAIL: never a 200 from {missing}", file=sys.stderr)
sys.exit(1 if missing else 0)
PY

# The same document with the listing's next_cursor renamed: the live answers no longer conform,
# so the run must fail (a check that cannot fail proves nothing).
sed 's/required: \[events, next_cursor\]/required: [events, next]/; s/^        next_cursor:$/        next:/' docs/admin-api.yaml >"$WORK/renamed.yaml"
cmp -s docs/admin-api.yaml "$WORK/renamed.yaml" && { say "FAIL: could not rename next_cursor in the copy"; exit 1; }
say "schemathesis against a copy with next_cursor renamed: it must fail"
if run_schemathesis "$WORK/renamed.yaml" --include-operation-id listEvents >"$WORK/renamed.log" 2>&1; then
  tail -n 30 "$WORK/renamed.log" >&2
  say "FAIL: schemathesis passed a document the answers do not match"
  exit 1
fi
grep -q "next_cursor\|Response violates schema" "$WORK/renamed.log" || { tail -n 30 "$WORK/renamed.log" >&2; say "FAIL: the renamed run failed for another reason"; exit 1; }
say "PASS: the operations API conforms to docs/admin-api.yaml, and a renamed member is caught"
