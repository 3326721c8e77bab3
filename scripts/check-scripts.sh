#!/usr/bin/env bash
# Checks the project's shell scripts for one flake that has failed CI: a pipeline into a reader
# that stops reading early (`grep -q`, `grep -m N`, an awk program that exits) under
# `set -o pipefail`. The reader quits at its first match; a writer still writing (curl, kubectl,
# journalctl) then gets EPIPE or SIGPIPE, and pipefail turns a found match into a failure, only
# on the runs where the reader wins the race. Capture the output first (`out="$(cmd)"`, then
# `grep -q PATTERN <<<"$out"`). A pipeline continued on the next line is read as one line.
# Exits 1 listing each breach.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts=(.ci/run)
while IFS= read -r f; do scripts+=("$f"); done < <(git ls-files 'scripts/*.sh' 2>/dev/null || ls scripts/*.sh)

exec python3 - "${scripts[@]}" <<'PY'
import re
import sys

# A single `|` (not `||`), then a reader that can stop before its input ends.
EARLY = re.compile(r"(?:^|[^|])\|\s*(?:grep\s+(?:[^|;&]*\s)?(?:-[a-zA-Z]*[qm][a-zA-Z0-9]*|--quiet|--silent|--max-count)\b"
                   r"|awk\s[^|;&]*\bexit\b)")
breaches = []
for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8").read().split("\n")
    index = 0
    while index < len(lines):
        start, joined = index, lines[index]
        # A pipeline or command continued on the next line.
        while (joined.rstrip().endswith("|") or joined.rstrip().endswith("\\")) and index + 1 < len(lines):
            index += 1
            joined = joined.rstrip().rstrip("\\") + " " + lines[index].strip()
        if not joined.lstrip().startswith("#") and EARLY.search(joined):
            breaches.append(f"{path}:{start + 1}: {joined.strip()[:160]}")
        index += 1
if breaches:
    print("\n".join(breaches), file=sys.stderr)
    print("check-scripts: a pipeline into grep -q, grep -m or an exiting awk fails at random under pipefail "
          "(the writer gets EPIPE); capture the output first, then read it", file=sys.stderr)
    sys.exit(1)
print(f"check-scripts: {len(sys.argv) - 1} scripts, no pipeline into a reader that stops early", file=sys.stderr)
PY
