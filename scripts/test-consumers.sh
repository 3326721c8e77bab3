#!/usr/bin/env bash
# The consumers' side, against a live bridge on a dev broker of its own:
#   1. `okra-bridge topics asyncapi` is a valid AsyncAPI 3.0 document (asyncapi3 + jsonref), and
#      the same document with a broken message reference is rejected;
#   2. every seed is posted; every record on the bridge's topics validates against the message
#      its channel names (and a broken envelope does not);
#   3. the reference consumer (examples/consumer-python) processes every event once: it dies
#      mid-stream before committing an offset (that record comes again), restarts, and reads an
#      operator's replay; then a second group re-reads everything with the same state.
# Usage: scripts/test-consumers.sh BINARY. Prints what it checked; exits 1 on the first failure.
# OKRA_KEEP_WORK=1 keeps its folder (logs, the consumer's SQLite file) for a look afterwards.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BINARY="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
ensure_consumers_venv
PY="$CONFLUENT_VENV/bin/python"
HERE="$OKRA_ROOT/scripts/consumers"
CONSUMER="$OKRA_ROOT/examples/consumer-python/consumer.py"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/okra-consumers.XXXXXX")"
export KAFKA_DEV_DIR="$WORK/broker"
BRIDGE_PID=""
cleanup() {
  [ -z "$BRIDGE_PID" ] || kill -TERM "$BRIDGE_PID" 2>/dev/null || true
  [ -z "$BRIDGE_PID" ] || wait "$BRIDGE_PID" 2>/dev/null || true
  "$OKRA_ROOT/scripts/kafka-dev.sh" stop >/dev/null 2>&1 || true
  if [ -n "${OKRA_KEEP_WORK:-}" ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
fail() { say "FAILED: $*"; exit 1; }

BOOTSTRAP="$("$OKRA_ROOT/scripts/kafka-dev.sh" start)"
PRODUCTION="consumers-production-token-0123456789"
SANDBOX="consumers-sandbox-token-0123456789"
printf 'production=%s\nsandbox=%s\n' "$PRODUCTION" "$SANDBOX" >"$WORK/tokens"
random_secret admin- >"$WORK/admin-token"
write_log_key "$WORK/log-key"
printf 'Authorization: Bearer %s\n' "$(cat "$WORK/admin-token")" >"$WORK/admin-header"
read -r PORT ADMIN_PORT < <(free_ports 2)

# The repository's routes, and a first one that copies balance events in binary mode, so both
# formats reach the consumer.
python3 - "$OKRA_ROOT/routes.json" "$WORK/routes.json" <<'PY'
import json, sys
routes = json.load(open(sys.argv[1]))
routes["routes"].insert(0, {"name": "balance-binary", "match": {"product": "balance"}, "topic": "okra.{env}.balance.binary",
                            "format": "binary", "continue": True})
json.dump(routes, open(sys.argv[2], "w"), indent=2)
PY

# 1. The document, and a broken copy.
"$BINARY" topics asyncapi --routes "$WORK/routes.json" --token-file "$WORK/tokens" >"$WORK/asyncapi.json"
"$PY" "$HERE/check_asyncapi.py" "$WORK/asyncapi.json" || fail "the AsyncAPI document is not valid"
sed '0,/"#\/components\/messages\/structured"/s//"#\/components\/messages\/missing"/' "$WORK/asyncapi.json" >"$WORK/broken.json"
cmp -s "$WORK/asyncapi.json" "$WORK/broken.json" && fail "no message reference was broken"
if "$PY" "$HERE/check_asyncapi.py" "$WORK/broken.json"; then fail "a document with a broken message reference passed"; fi

# 2. A live bridge, every seed posted, every record validated.
"$BINARY" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --brokers "$BOOTSTRAP" \
  --routes "$WORK/routes.json" --data-dir "$WORK/data" --token-file "$WORK/tokens" \
  --admin-token-file "$WORK/admin-token" --log-key-file "$WORK/log-key" 2>"$WORK/serve.log" &
BRIDGE_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
posted=0
for file in "$OKRA_ROOT"/Tests/OkraEnvelopeTests/Fixtures/payloads/*.json; do
  case "$file" in *.invalid.json) continue ;; esac
  env="$("$BINARY" normalize "$file" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["okraenv"])')"
  token="$PRODUCTION"; [ "$env" = sandbox ] && token="$SANDBOX"
  status="$(curl -sS -o /dev/null -w '%{http_code}' -H "Okra-Auth: $token" -H 'Content-Type: application/json' \
    --data-binary "@$file" "http://127.0.0.1:$PORT/webhooks/okra")"
  [ "$status" = 200 ] || fail "$(basename "$file") answered $status"
  posted=$((posted + 1))
done
printf '{not json' | curl -sS -o /dev/null -H "Okra-Auth: $PRODUCTION" --data-binary @- "http://127.0.0.1:$PORT/webhooks/okra"
drained() {
  local metrics
  metrics="$(curl -fsS -H @"$WORK/admin-header" "http://127.0.0.1:$ADMIN_PORT/metrics")" || return 1
  awk '$1 == "okra_bridge_outbox_depth" { exit ($2 == 0 ? 0 : 1) } END { }' <<<"$metrics"
}
for _ in $(seq 1 150); do drained && break; sleep 0.2; done
drained || fail "the outbox did not drain"
"$PY" "$HERE/validate_records.py" --bootstrap "$BOOTSTRAP" --asyncapi "$WORK/asyncapi.json" --ids "$WORK/records.jsonl" ||
  fail "records do not match the AsyncAPI document"
say "posted $posted seeds and a malformed body; every record matches its channel's message"

# A probe record of `okra-bridge check` on a topic the consumer reads: skipped, never a stop.
"$BINARY" check --brokers "$BOOTSTRAP" --routes "$WORK/routes.json" --token-file "$WORK/tokens" --delivery direct \
  --probe-topic okra.check-probe --json >"$WORK/check.out" || true
grep -q '"check":"probe record","status":"ok"' "$WORK/check.out" || fail "the probe record was not delivered: $(cat "$WORK/check.out")"

# 3. The reference consumer: a crash mid-stream, a restart, a replay, a second group.
run_consumer() {
  "$PY" "$CONSUMER" --bootstrap "$BOOTSTRAP" --state "$WORK/consumer.sqlite" --topics-regex '^okra\.' \
    --property session.timeout.ms=6000 --property heartbeat.interval.ms=500 "$@" >>"$WORK/consumer.log" 2>&1
}
set +e
run_consumer --group reference --crash-after 10
crashed=$?
set -e
[ "$crashed" = 75 ] || fail "the consumer did not die on purpose (status $crashed): $(tail -n 5 "$WORK/consumer.log")"
run_consumer --group reference --idle-exit 10 || fail "the restarted consumer failed: $(tail -n 5 "$WORK/consumer.log")"
OKRA_BRIDGE_ADMIN_TOKEN_FILE="$WORK/admin-token" "$BINARY" events replay --admin "http://127.0.0.1:$ADMIN_PORT" \
  --product payment --execute >"$WORK/replay.out" || fail "the replay failed: $(cat "$WORK/replay.out")"
for _ in $(seq 1 150); do drained && break; sleep 0.2; done
run_consumer --group reference --idle-exit 10 || fail "the consumer failed after the replay"
run_consumer --group second-look --idle-exit 10 || fail "the second group failed"

"$PY" - "$WORK/records.jsonl" "$WORK/consumer.sqlite" "$WORK/consumer.log" <<'PY' || fail "the reference consumer did not process every event exactly once"
import json, sqlite3, sys
records = [json.loads(line) for line in open(sys.argv[1])]
expected = {r["id"] for r in records if r["kind"] != "deadLetter"}
db = sqlite3.connect(sys.argv[2])
processed = [row[0] for row in db.execute("SELECT id FROM processed")]
log = open(sys.argv[3]).read()
problems = []
if sorted(processed) != sorted(expected):
    problems.append(f"processed {len(processed)} ({len(set(processed))} distinct), expected {len(expected)}; "
                    f"missing {sorted(expected - set(processed))[:3]}, twice {sorted({i for i in processed if processed.count(i) > 1})[:3]}")
if db.execute("SELECT count(*) FROM processed WHERE replay = 1").fetchone()[0] != 0:
    problems.append("a replayed copy was processed although its first copy had been")
if "probe record of okra-bridge check" not in log:
    problems.append("the probe record of okra-bridge check was not skipped")
if "(a replay)" not in log:
    problems.append("no replayed record was recognised")
if log.count("duplicate ") < 2:
    problems.append("no redelivered record was recognised")
if not any(r["kind"] == "binary" for r in records):
    problems.append("no binary record was read")
if db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] < 1:
    problems.append("the malformed body's dead letter was not logged")
for p in problems:
    print(p)
print(f"{len(set(processed))} events processed once each; {log.count('duplicate ')} copies recognised and skipped")
sys.exit(1 if problems else 0)
PY
say "the reference consumer processed every event once through a crash, a replay and a second group"
