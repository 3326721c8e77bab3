#!/usr/bin/env bash
# Checks the operations API against its document, docs/admin-api.yaml, with schemathesis
# (--checks all): a live `okra-bridge serve` in durable mode on a fresh store, seeded with every
# payload of the envelope fixtures (events and dead letters); every operation, with and without
# a token, once per scope (metrics, read, read-pii, operate): no 500, every answer as the
# document says, and each operation answering 200 exactly to the scopes that may use it. Then
# the same run against a copy of the document with one answer member renamed must fail: the
# conformance check bites.
#
#   scripts/test-admin-api.sh [BINARY]        (default .build/debug/okra-bridge)
# OKRA_SCHEMATHESIS_EXAMPLES sets the cases per operation for the operate token (default 60;
# a third of it for the other scopes).
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
# One token per scope, each in a file of its own for schemathesis's environment.
for scope in metrics read read-pii operate; do random_secret "$scope-" >"$WORK/token-$scope"; done
for scope in metrics read read-pii operate; do printf '%s:%s=%s\n' "api-$scope" "$scope" "$(cat "$WORK/token-$scope")"; done >"$WORK/admin-token"
write_log_key "$WORK/log-key"
read -r PORT ADMIN_PORT <<<"$(free_ports 2)"
# No broker (nothing listens on port 1): records wait in the outbox, which is all the API reads.
"$BINARY" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --admin-token-file "$WORK/admin-token" \
  --brokers 127.0.0.1:1 --allow-unauthenticated --routes "$WORK/routes.json" --data-dir "$WORK/data" --log-key-file "$WORK/log-key" >"$WORK/bridge.log" 2>&1 &
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
# run_schemathesis SCOPE DOCUMENT [ARGS...]: the document's operations with that scope's token.
run_schemathesis() {
  local scope="$1" document="$2" examples="$EXAMPLES"
  shift 2
  [ "$scope" = operate ] || examples=$(( (EXAMPLES + 2) / 3 ))
  (cd "$WORK" && OKRA_ADMIN_API_TOKEN="$(cat "$WORK/token-$scope")" "$SCHEMATHESIS_VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" \
    run "$document" "$@" --url "http://127.0.0.1:$ADMIN_PORT" --checks all --max-examples "$examples" --seed "${OKRA_SCHEMATHESIS_SEED:-20261203}" \
    --generation-database none --no-color --output-truncate true --workers 1 --request-timeout 30 \
    --report har --report-har-path "$WORK/$scope-$(basename "$document").har")
}

# The operate token last: its run replays, redrives, discards and erases.
for scope in metrics read read-pii operate; do
  say "schemathesis against docs/admin-api.yaml with the $scope token (bridge on 127.0.0.1:$ADMIN_PORT)"
  run_schemathesis "$scope" "$OKRA_ROOT/docs/admin-api.yaml" >"$WORK/run-$scope.log" 2>&1
  STATUS=$?
  tail -n 40 "$WORK/run-$scope.log" >&2
  if [ "$STATUS" -ne 0 ]; then
    say "FAIL: with the $scope token, the operations API does not do what docs/admin-api.yaml says (above)"
    grep -i "error\|panic\|fatal" "$WORK/bridge.log" | tail -n 20 >&2
    exit 1
  fi
  if grep -q '"level":"critical"\|Fatal error' "$WORK/bridge.log"; then say "FAIL: the bridge logged a crash"; exit 1; fi
  # A run whose token never applied would see only 401s (which the checks accept): every
  # operation the scope may use answered 200 at least once, and none it may not.
  python3 - "$scope" "$WORK/$scope-admin-api.yaml.har" <<'PY' || exit 1
import json, re, sys, urllib.parse
scope, har = sys.argv[1], sys.argv[2]
entries = json.load(open(har))["log"]["entries"]
ok = set()
for entry in entries:
    if entry["response"]["status"] == 200:
        path = re.sub(r"^/admin/events/(?!export$)[^/]+$", "/admin/events/{id}", urllib.parse.urlsplit(entry["request"]["url"]).path)
        ok.add((entry["request"]["method"], path))
reads = {("GET", "/admin/events"), ("GET", "/admin/events/export"), ("GET", "/admin/events/{id}"), ("GET", "/admin/parked"), ("GET", "/admin/status")}
operates = {("POST", "/admin/replay"), ("POST", "/admin/parked/redrive"), ("POST", "/admin/parked/discard"), ("POST", "/admin/erase"), ("GET", "/admin/audit")}
wanted = {("GET", "/admin/token")} | {"metrics": set(), "read": reads, "read-pii": reads, "operate": reads | operates}[scope]
missing, extra = sorted(wanted - ok), sorted(ok - wanted)
print(f"{scope}: {len(entries)} requests; 200 from exactly the operations the scope may use" if not missing and not extra
      else f"FAIL: {scope}: never a 200 from {missing}; a 200 it may not have from {extra}", file=sys.stderr)
sys.exit(1 if missing or extra else 0)
PY
done

# The same document with the listing's next_cursor renamed: the live answers no longer conform,
# so the run must fail (a check that cannot fail proves nothing).
sed 's/required: \[events, next_cursor\]/required: [events, next]/; s/^        next_cursor:$/        next:/' docs/admin-api.yaml >"$WORK/renamed.yaml"
cmp -s docs/admin-api.yaml "$WORK/renamed.yaml" && { say "FAIL: could not rename next_cursor in the copy"; exit 1; }
say "schemathesis against a copy with next_cursor renamed: it must fail"
if run_schemathesis operate "$WORK/renamed.yaml" --include-operation-id listEvents >"$WORK/renamed.log" 2>&1; then
  tail -n 30 "$WORK/renamed.log" >&2
  say "FAIL: schemathesis passed a document the answers do not match"
  exit 1
fi
grep -q "next_cursor\|Response violates schema" "$WORK/renamed.log" || { tail -n 30 "$WORK/renamed.log" >&2; say "FAIL: the renamed run failed for another reason"; exit 1; }
say "PASS: the operations API conforms to docs/admin-api.yaml with each scope's token, and a renamed member is caught"
