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
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
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
