#!/usr/bin/env bash
# Runs every test: installs what is missing, starts the dev broker, builds, tests against it,
# and stops the broker whatever happened. Exits with the tests' status.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

ensure_apt librdkafka-dev pkg-config python3-venv

cleanup() {
  # okra-bridge serve processes a failed test left running.
  pkill -KILL -f "okra-bridge serve --listen 127.0.0.1:" 2>/dev/null || true
  ./scripts/kafka-dev.sh stop || true
  # Private brokers of tests that crashed before stopping their own.
  local dir
  for dir in "${TMPDIR:-/tmp}"/okra-broker-*; do
    [ -d "$dir" ] || continue
    KAFKA_DEV_DIR="$dir" ./scripts/kafka-dev.sh stop || true
    rm -rf "$dir"
  done
}
trap cleanup EXIT

say "building (swift build --build-tests)"
swift build --build-tests || exit $?

KAFKA_BOOTSTRAP="$(./scripts/kafka-dev.sh start)" || { say "the dev broker did not start"; exit 1; }
export KAFKA_BOOTSTRAP
say "dev broker at $KAFKA_BOOTSTRAP"

swift test --skip-build "$@"
