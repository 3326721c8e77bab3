#!/usr/bin/env bash
# The systemd unit, run for real: systemd as init in a podman container (privileged, so systemd
# can build the unit's sandbox), deploy/systemd/okra-bridge.service and its sysusers file
# installed as docs/deploy.md says, against the dev broker:
#   - the unit starts under all of its hardening and /readyz answers;
#   - a webhook is accepted and lands on its topic;
#   - a token added to /etc/okra-bridge/tokens is taken without a restart (same main pid);
#   - a broken routes file stops a restart at ExecStartPre (routes check), and the fixed one starts;
#   - `systemctl stop` ends it with status 0.
# .ci/run runs it after scripts/test-container.sh. Exits 1 naming the failed check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

ensure_apt curl
./scripts/build-image.sh localhost/okra-bridge:test >/dev/null   # the base image and the static binary
BINARY="$OKRA_ROOT/.build/static/release/okra-bridge"
TAG="localhost/okra-bridge-systemd:test"
NAME="okra-bridge-systemd-$$"
deploy_test_workspace okra-systemd-test "$NAME"
fail() {
  say "test-systemd: FAILED: $*"
  podman_here exec "$NAME" journalctl -u okra-bridge --no-pager -n 30 2>&1 | grep -v '"payload' >&2 || true
  exit 1
}
in_vm() { podman_here exec "$NAME" bash -c "$1"; }

say "test-systemd: building $TAG (the base image with systemd, the binary, the unit)"
mkdir -p "$WORK/image"
cp "$BINARY" "$WORK/image/okra-bridge"
strip --strip-debug "$WORK/image/okra-bridge"
cp deploy/systemd/okra-bridge.service deploy/systemd/okra-bridge.sysusers routes.json "$WORK/image/"
cat >"$WORK/image/Containerfile" <<'IMAGE'
FROM localhost/okra-bridge-base:bookworm
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \
    && apt-get install -y --no-install-recommends systemd systemd-sysv librdkafka1 libsqlite3-0 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY okra-bridge /usr/local/bin/okra-bridge
COPY okra-bridge.sysusers /usr/lib/sysusers.d/okra-bridge.conf
COPY okra-bridge.service /etc/systemd/system/okra-bridge.service
COPY routes.json /etc/okra-bridge/routes.json
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
IMAGE
podman_here build --network host --pull=never --ulimit nofile=4096:4096 --ulimit nproc=1024:1024 -t "$TAG" "$WORK/image" >&2

BROKERS="$(./scripts/kafka-dev.sh start)"
read -r PORT ADMIN_PORT < <(free_ports 2)
TOKEN="$(random_secret sandbox-token-)"
ROTATED="$(random_secret sandbox-rotated-)"
ADMIN_TOKEN="$(random_secret admin-token-)"

podman_run -d --name "$NAME" --network host --privileged --systemd=always "$TAG" >/dev/null
for _ in $(seq 1 50); do
  state="$(in_vm 'systemctl is-system-running' 2>/dev/null || true)"
  case "$state" in running|degraded) break ;; esac
  sleep 0.2
done

say "test-systemd: installing as docs/deploy.md says, then systemctl enable --now"
in_vm "systemd-sysusers
  printf 'OKRA_BRIDGE_BROKERS=$BROKERS\nOKRA_BRIDGE_LISTEN=127.0.0.1:$PORT\nOKRA_BRIDGE_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT\n' >/etc/okra-bridge/env
  printf 'sandbox=$TOKEN\n' >/etc/okra-bridge/tokens
  printf 'ops:operate=$ADMIN_TOKEN\n' >/etc/okra-bridge/admin-token
  printf 'k1=%s\n' \"\$(head -c 32 /dev/urandom | base64 -w0)\" >/etc/okra-bridge/log-key
  : >/etc/okra-bridge/kafka.properties
  chown root:okra-bridge /etc/okra-bridge /etc/okra-bridge/tokens /etc/okra-bridge/admin-token /etc/okra-bridge/log-key /etc/okra-bridge/kafka.properties
  chmod 0750 /etc/okra-bridge && chmod 0640 /etc/okra-bridge/tokens /etc/okra-bridge/admin-token /etc/okra-bridge/log-key /etc/okra-bridge/kafka.properties
  systemctl daemon-reload && systemctl enable --now okra-bridge" >/dev/null 2>&1 || fail "systemctl enable --now okra-bridge"

ready() {
  local i
  for i in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz")" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}
ready || fail "/readyz did not answer 200 within 20 s"
post() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "Okra-Auth: $1" --data-binary @Tests/OkraEnvelopeTests/Fixtures/payloads/v2-balance-success.json "http://127.0.0.1:$PORT/webhooks/okra"; }
[ "$(post "$TOKEN")" = 200 ] || fail "a webhook was not accepted"
record="$(timeout 60 "$BINARY" tail --brokers "$BROKERS" --topic okra.sandbox.balance.success --from-beginning --count 1)" \
  && grep -q '"okrarecord":"616800e94600fc2d7e6f10a9"' <<<"$record" \
  || fail "the webhook is not on okra.sandbox.balance.success"
say "test-systemd: the unit runs hardened; a webhook is on its topic"

pid="$(in_vm 'systemctl show -p MainPID --value okra-bridge')"
[ "$(post "$ROTATED")" = 401 ] || fail "an unknown token was not refused"
in_vm "printf 'sandbox=$TOKEN\nsandbox=$ROTATED\n' >/etc/okra-bridge/tokens"
taken=""
for _ in $(seq 1 50); do [ "$(post "$ROTATED")" = 200 ] && { taken=1; break; }; sleep 0.2; done
[ -n "$taken" ] || fail "the token added to /etc/okra-bridge/tokens was not taken"
[ "$(in_vm 'systemctl show -p MainPID --value okra-bridge')" = "$pid" ] || fail "the rotation restarted the service"
say "test-systemd: a token added to the file is taken without a restart"

in_vm "cp /etc/okra-bridge/routes.json /root/routes.json && echo '{\"version\":9}' >/etc/okra-bridge/routes.json"
if in_vm "systemctl restart okra-bridge" >/dev/null 2>&1; then fail "a restart with a broken routes file succeeded"; fi
journal="$(in_vm "journalctl -u okra-bridge --no-pager -n 20")" || fail "journalctl did not run in the machine"
grep -q "okra-bridge.service: Control process exited" <<<"$journal" || fail "the broken routes file was not stopped by ExecStartPre"
in_vm "cp /root/routes.json /etc/okra-bridge/routes.json && systemctl reset-failed okra-bridge; systemctl start okra-bridge" || fail "the fixed routes file did not start"
ready || fail "/readyz did not answer 200 after the fixed start"
say "test-systemd: a broken routes file stops the start at ExecStartPre"

in_vm "systemctl stop okra-bridge"
result="$(in_vm 'systemctl show -p Result --value okra-bridge') $(in_vm 'systemctl show -p ExecMainStatus --value okra-bridge')"
[ "$result" = "success 0" ] || fail "systemctl stop ended it with $result, not success 0"
say "test-systemd: passed"
