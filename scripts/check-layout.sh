#!/usr/bin/env bash
# Checks the module layout of docs/architecture.md: the C calls in one folder, each module's
# imports, a /// summary on every public declaration. Exits 1 listing each breach.
set -euo pipefail
exec python3 "$(dirname "${BASH_SOURCE[0]}")/check_layout.py"
