#!/usr/bin/env bash
# Runs every test: installs what is missing, starts the dev broker, builds, tests against it,
# and stops the broker whatever happened. Exits with the tests' status.
#
# The processes the tests start are tracked in a folder of this run's own ($OKRA_TEST_RUN_DIR):
# a pid file per `okra-bridge serve` child, a state folder per private broker. Cleanup stops only
# those, so a bridge or broker that anything else started on this machine is never touched.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

ensure_apt librdkafka-dev pkg-config python3-venv

OKRA_TEST_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/okra-test-run.XXXXXX")"
export OKRA_TEST_RUN_DIR

cleanup() {
  # Children a failed test left running: only the pids this run recorded.
  local dir
  stop_recorded_processes "$OKRA_TEST_RUN_DIR/pids"
  ./scripts/kafka-dev.sh stop || true
  # Private brokers of tests that crashed before stopping their own.
  for dir in "$OKRA_TEST_RUN_DIR"/brokers/*; do
    [ -d "$dir" ] || continue
    KAFKA_DEV_DIR="$dir" ./scripts/kafka-dev.sh stop || true
  done
  rm -rf "$OKRA_TEST_RUN_DIR"
}
trap cleanup EXIT

say "building (swift build --build-tests)"
swift build --build-tests || exit $?

say "checking the module layout (scripts/check-layout.sh)"
./scripts/check-layout.sh || exit $?
say "checking the scripts for pipelines that fail at random (scripts/check-scripts.sh)"
./scripts/check-scripts.sh || exit $?
say "checking deploy/ offline (scripts/check-deploy.sh)"
./scripts/check-deploy.sh .build/debug/okra-bridge || exit $?
say "checking the cleanup of test processes (scripts/test-cleanup.sh)"
./scripts/test-cleanup.sh || exit $?

# librdkafka 2.16 from PyPI's confluent-kafka wheel, for the test that runs the bridge on it.
OKRA_NEWER_LIBRDKAFKA_PATH="$(newer_librdkafka_path)" || { say "could not install confluent-kafka's librdkafka"; exit 1; }
export OKRA_NEWER_LIBRDKAFKA_PATH

KAFKA_BOOTSTRAP="$(./scripts/kafka-dev.sh start)" || { say "the dev broker did not start"; exit 1; }
export KAFKA_BOOTSTRAP
say "dev broker at $KAFKA_BOOTSTRAP"

swift test --skip-build "$@"
status=$?
# The durable promise over the real process: a WAL sync between every webhook's frames and its
# 200 (strace), and nothing acknowledged lost to a power cut (a FUSE layer that drops unsynced
# writes). Run with the whole suite only, not with a filter.
if [ $# -eq 0 ]; then
  say "checking that every 200 follows a WAL sync (scripts/test-fsync.sh)"
  ./scripts/test-fsync.sh .build/debug/okra-bridge || status=1
  say "cutting the power under load: nothing acknowledged may be lost (scripts/test-powerloss.sh)"
  ./scripts/test-powerloss.sh .build/debug/okra-bridge || status=1
  say "checking the operations API against docs/admin-api.yaml (scripts/test-admin-api.sh)"
  ./scripts/test-admin-api.sh .build/debug/okra-bridge || status=1
  say "the consumers' side: the AsyncAPI document, the records against it, the reference consumer (scripts/test-consumers.sh)"
  ./scripts/test-consumers.sh .build/debug/okra-bridge || status=1
  say "the operator console in Debian's chromium with Playwright (scripts/test-console.sh)"
  ./scripts/test-console.sh .build/debug/okra-bridge || status=1
fi
exit $status
