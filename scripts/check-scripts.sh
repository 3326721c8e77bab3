#!/usr/bin/env bash
# Checks the project's shell scripts for one flake that has failed CI: a pipeline into
# `grep -q` (or `grep -m N`) under `set -o pipefail`. grep stops reading at its first match; a
# writer still writing (curl, kubectl, journalctl) then gets EPIPE or SIGPIPE, and pipefail
# turns a found match into a failure, only on the runs where grep wins the race. Capture the
# output first (`out="$(cmd)"`, then `grep -q PATTERN <<<"$out"`). Exits 1 listing each breach.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts=(.ci/run)
while IFS= read -r f; do scripts+=("$f"); done < <(git ls-files 'scripts/*.sh' 2>/dev/null || ls scripts/*.sh)

breaches="$(grep -n -E '\|[[:space:]]*grep[[:space:]]+([^|;&]*[[:space:]])?(-[a-zA-Z]*[qm][a-zA-Z0-9]*|--quiet|--silent|--max-count)\b' "${scripts[@]}" || true)"
if [ -n "$breaches" ]; then
  printf '%s\n' "$breaches" >&2
  printf 'check-scripts: a pipeline into grep -q or grep -m fails at random under pipefail (the writer gets EPIPE); capture the output first, then grep it\n' >&2
  exit 1
fi
printf 'check-scripts: %d scripts, no pipeline into an early-quitting grep\n' "${#scripts[@]}" >&2
