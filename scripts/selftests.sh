#!/usr/bin/env bash
# `make test`'s selftests in two pytest processes at once: the lab's (the proofs mostly wait on the lab: polls,
# scrapes, health) and the rest (CPU, no lab; about 4 minutes on 2 cores), which would otherwise run after them.
# The lab's output streams; the rest's is kept in a file and printed once both have ended. Exit: the first
# failing status, else 0. docs/performance.md has the measurement.
set -uo pipefail
cd "$(dirname "$0")/.."
pytest=${PYTEST:-.venv/bin/pytest}
log=$(mktemp -t selftests-unit.XXXXXX)
trap 'rm -f "$log"' EXIT

started=$(date +%s)
"$pytest" selftests -m "not lab" -p no:cacheprovider --durations=10 >"$log" 2>&1 &
unit=$!
"$pytest" selftests -m lab --durations=30  # the slowest 30 in the log: where make test spends its time
lab_rc=$?
wait "$unit"
unit_rc=$?

echo
echo "== the selftests that need no lab (they ran beside the lab's):"
cat "$log"
echo "== selftests: $(( $(date +%s) - started )) s (lab: exit $lab_rc, the rest: exit $unit_rc)"
(( lab_rc != 0 )) && exit "$lab_rc"
exit "$unit_rc"
