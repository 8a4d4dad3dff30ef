#!/usr/bin/env bash
# The differential table (tests/gnu_diff/cases.txt) with every case's result: SAME or DIFF,
# GNU parallel's and fanout's stdout and exit code for each DIFF, and the pass rate last.
# Needs GNU parallel (apt-get install parallel); scripts/test.sh runs the same test, asserting.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v parallel >/dev/null || { echo "scripts/gnu-diff.sh: GNU parallel is not installed (apt-get install parallel)" >&2; exit 1; }
GNU_DIFF_REPORT=1 cargo test --quiet --test cli gnu_diff::gnu_parallel_command_lines_give_the_same_output -- --nocapture --exact 2>&1 |
  grep -E '^(SAME|DIFF|    |gnu_diff:)'
