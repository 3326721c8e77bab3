#!/usr/bin/env bash
# The image, tried as a deployment would run it, against the dev broker:
#   - built by scripts/build-image.sh from deploy/Containerfile; every library the binary links is
#     in the image (ldd inside it);
#   - run as Kubernetes runs it: its own user, a read-only root with a tmpfs /tmp, no
#     capabilities, no new privileges, routes and secrets as mounted folders, /data a volume;
#   - /readyz answers on the admin port, and /console (the page is in the binary, not beside it);
#     a webhook POSTed to the container lands on its topic;
#   - `podman stop` during a stream of webhooks ends it with exit 0, and after a second start on
#     the same volume every webhook that got a 200 is on Kafka.
# .ci/run runs it after scripts/test.sh. Exits 1 naming the failed check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

ensure_apt curl python3
TAG="$(./scripts/build-image.sh localhost/okra-bridge:test)"
BINARY="$OKRA_ROOT/.build/static/release/okra-bridge"
NAME="okra-bridge-test-$$"
deploy_test_workspace okra-container-test "$NAME" "$NAME-again"
fail() { say "test-container: FAILED: $*"; podman_here logs --tail 30 "$NAME" 2>&1 | grep -v '"payload' >&2 || true; exit 1; }

say "test-container: the libraries the binary links are in the image"
libraries="$(podman_run --rm --entrypoint /usr/bin/ldd "$TAG" /usr/local/bin/okra-bridge)" || fail "ldd did not run in the image"
grep -q "librdkafka.so.1 => /" <<<"$libraries" || fail "ldd in the image does not list librdkafka: $libraries"
missing="$(grep "not found" <<<"$libraries" || true)"
[ -z "$missing" ] || fail "the image lacks: $missing"
grep -q libswiftCore <<<"$libraries" && fail "the binary links the Swift runtime dynamically (not --static-swift-stdlib)"
podman_run --rm "$TAG" --help >/dev/null || fail "okra-bridge serve --help does not run in the image"
# The version names the commit the binary was built from, and the image's own librdkafka.
version="$(podman_run --rm --entrypoint /usr/local/bin/okra-bridge "$TAG" version)" || fail "okra-bridge version does not run in the image"
grep -q "(commit $(git -C "$OKRA_ROOT" rev-parse --short=12 HEAD)" <<<"$version" || fail "the image's version names another commit: $version"
grep -q "^librdkafka 2\." <<<"$version" || fail "the image's version names no librdkafka: $version"

BROKERS="$(./scripts/kafka-dev.sh start)"
read -r PORT ADMIN_PORT < <(free_ports 2)
TOKEN="$(random_secret sandbox-token-)"
ADMIN_TOKEN="$(random_secret admin-token-)"

# What Kubernetes would mount: the routes ConfigMap, the Secret, the volume (owned by the
# image's user, 10001, as fsGroup makes it there).
mkdir -p "$WORK/routes" "$WORK/secrets" "$WORK/data"
cp routes.json "$WORK/routes/routes.json"
printf 'sandbox=%s\n' "$TOKEN" >"$WORK/secrets/tokens"
printf 'ops:operate=%s\n' "$ADMIN_TOKEN" >"$WORK/secrets/admin-token"
write_log_key "$WORK/secrets/log-key"
: >"$WORK/secrets/kafka.properties"
chmod 755 "$WORK" "$WORK/routes" "$WORK/secrets"
chmod 644 "$WORK/routes/routes.json" "$WORK/secrets/"*
as_root chown 10001:10001 "$WORK/data"

start_container() {
  podman_run -d --name "$1" --network host \
    --read-only --cap-drop ALL --security-opt no-new-privileges \
    -v "$WORK/routes:/etc/okra-bridge/routes:ro" -v "$WORK/secrets:/etc/okra-bridge/secrets:ro" -v "$WORK/data:/data" \
    -e OKRA_BRIDGE_BROKERS="$BROKERS" \
    -e OKRA_BRIDGE_LISTEN="127.0.0.1:$PORT" -e OKRA_BRIDGE_ADMIN_LISTEN="127.0.0.1:$ADMIN_PORT" \
    -e OKRA_BRIDGE_ROUTES=/etc/okra-bridge/routes/routes.json \
    -e OKRA_BRIDGE_TOKEN_FILE=/etc/okra-bridge/secrets/tokens \
    -e OKRA_BRIDGE_ADMIN_TOKEN_FILE=/etc/okra-bridge/secrets/admin-token \
    -e OKRA_BRIDGE_LOG_KEY_FILE=/etc/okra-bridge/secrets/log-key \
    -e OKRA_BRIDGE_KAFKA_CONFIG=/etc/okra-bridge/secrets/kafka.properties \
    "$TAG" >/dev/null
  local i
  for i in $(seq 1 100); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz")" = 200 ]; then return 0; fi
    sleep 0.2
  done
  fail "/readyz on the admin port did not answer 200 within 20 s"
}

say "test-container: starting the image (read-only root, no capabilities, user 10001)"
start_container "$NAME"
[ "$(podman_here inspect --format '{{.Config.User}}' "$NAME")" = "10001:10001" ] || fail "the container does not run as 10001:10001"
page="$(curl -fs "http://127.0.0.1:$ADMIN_PORT/console")" || fail "the image does not serve /console"
grep -q '<script src="/console/console.js"' <<<"$page" || fail "the image's /console does not load its script"
script="$(curl -fs "http://127.0.0.1:$ADMIN_PORT/console/console.js")" || fail "the image does not serve the console's script"
grep -q 'sessionStorage' <<<"$script" || fail "the image's console script is not the console's"

# A stream of sandbox BALANCE callbacks, each with its own record id, from 4 clients; every id
# answered 200 is written down. It ends when the bridge stops answering.
python3 - "$PORT" "$TOKEN" "$WORK/acknowledged" "$WORK/stream-started" <<'PY' &
import http.client, json, os, sys, threading, time
port, token, out, started = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
template = json.load(open("Tests/OkraEnvelopeTests/Fixtures/payloads/v2-balance-success.json"))
lock, acknowledged = threading.Lock(), []
def client(n):
    seq, failures = 0, 0
    while failures < 20:
        seq += 1
        record = f"{n:04x}{seq:020x}"
        body = json.dumps(dict(template, record=record, recordId=record)).encode()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("POST", "/webhooks/okra", body, {"Okra-Auth": token, "Content-Type": "application/json"})
            status = connection.getresponse().status
            connection.close()
        except OSError:
            failures += 1
            time.sleep(0.1)
            continue
        if status == 200:
            failures = 0
            with lock:
                acknowledged.append(record)
                if len(acknowledged) == 200: open(started, "w").close()
        elif status != 503:
            failures += 1
threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
open(out, "w").write("\n".join(acknowledged) + "\n")
PY
STREAM=$!
for _ in $(seq 1 150); do [ -f "$WORK/stream-started" ] && break; sleep 0.2; done
[ -f "$WORK/stream-started" ] || fail "the stream of webhooks got no 200s"

say "test-container: podman stop during the stream"
podman_here stop -t 45 "$NAME" >/dev/null
wait "$STREAM"
code="$(podman_here inspect --format '{{.State.ExitCode}}' "$NAME")"
[ "$code" = 0 ] || fail "podman stop ended the container with exit $code, not 0"
acked="$(grep -c . "$WORK/acknowledged")"
say "test-container: stopped with exit 0 after $acked acknowledged webhooks"

# A second start on the same volume publishes whatever the drain left in the store.
start_container "$NAME-again"
say "test-container: every acknowledged webhook is on okra.sandbox.balance.success"
# Tansu serves a partition only up to its last batch's first record (dev-broker notes: its end
# offset is that batch's base offset + 1), so the last records of a batch become readable once
# another batch follows. While any acknowledged id is unseen, a single webhook (a batch of one)
# is posted every second through the running bridge, until every partition has a later batch.
python3 - "$BINARY" "$BROKERS" "$WORK/acknowledged" "$ADMIN_PORT" "$ADMIN_TOKEN" "$PORT" "$TOKEN" <<'PY' || fail "acknowledged webhooks are missing from Kafka"
import http.client, json, selectors, subprocess, sys, time, urllib.request
binary, brokers, path, admin_port, admin_token, port, token = sys.argv[1:8]
wanted = set(open(path).read().split())
template = json.load(open("Tests/OkraEnvelopeTests/Fixtures/payloads/v2-balance-success.json"))
tail = subprocess.Popen([binary, "tail", "--brokers", brokers, "--topic", "okra.sandbox.balance.success", "--from-beginning"],
                        stdout=subprocess.PIPE, text=True)
seen, offsets, sentinels = set(), {}, 0
deadline, next_sentinel = time.time() + 90, time.time() + 5
selector = selectors.DefaultSelector()
selector.register(tail.stdout, selectors.EVENT_READ)
while wanted - seen and time.time() < deadline:
    if selector.select(timeout=0.5):
        line = tail.stdout.readline()
        if not line: break
        message = json.loads(line)
        value = message.get("value", {})
        record = value.get("okrarecord") if isinstance(value, dict) else None
        if record: seen.add(record)
        offsets.setdefault(message.get("partition"), []).append(message.get("offset"))
    elif time.time() >= next_sentinel:
        sentinels += 1
        record = f"ffff{sentinels:020x}"
        connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        connection.request("POST", "/webhooks/okra", json.dumps(dict(template, record=record, recordId=record)).encode(), {"Okra-Auth": token})
        connection.getresponse().read()
        connection.close()
        next_sentinel = time.time() + 1
tail.kill()
missing = wanted - seen
for record in sorted(missing)[:10]:
    # What the bridge's event log says of it (the second container still runs).
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/admin/events?record={record}", headers={"Authorization": f"Bearer {admin_token}"})
    try:
        entries = json.load(urllib.request.urlopen(request, timeout=10)).get("events", [])
        states = [[(r.get("topic"), r.get("state")) for r in e.get("records", [])] for e in entries]
    except Exception as error:
        states = f"(the admin API did not answer: {error})"
    print(f"missing from Kafka: record {record}; the event log has {states}", file=sys.stderr)
if missing:
    for partition, numbers in sorted(offsets.items(), key=lambda item: str(item[0])):
        numbers.sort()
        gaps = [(a, b) for a, b in zip(numbers, numbers[1:]) if b != a + 1]
        print(f"partition {partition}: offsets {numbers[0]}..{numbers[-1]}, {len(numbers)} read, gaps {gaps[:5]}", file=sys.stderr)
print(f"{len(wanted)} acknowledged, {len(wanted & seen)} found on Kafka ({sentinels} single webhooks posted after them)", file=sys.stderr)
sys.exit(1 if missing else 0)
PY
podman_here stop -t 45 "$NAME-again" >/dev/null
say "test-container: passed"
