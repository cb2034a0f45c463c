#!/usr/bin/env bash
# `make test` on a starved CPU: BUSY processes (default 2, one per core here) spin at the
# same priority as the tests for the whole run; RUNS runs in a row (default 1), stopping at
# the first failure. Proves the suite does not depend on an idle machine.
#   scripts/stress.sh            RUNS=5 scripts/stress.sh            BUSY=4 scripts/stress.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUSY=${BUSY:-2}
RUNS=${RUNS:-1}
pids=()
stop_busy() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_busy EXIT
make install-dev >/dev/null
for _ in $(seq "$BUSY"); do
  python3 -c 'while True: pass' &
  pids+=("$!")
done
echo "stress: $BUSY busy processes (${pids[*]}), $RUNS run(s) of make test"
for run in $(seq "$RUNS"); do
  start=$(date +%s)
  if ! make test; then
    echo "stress: run $run of $RUNS FAILED after $(( $(date +%s) - start )) s"
    exit 1
  fi
  echo "stress: run $run of $RUNS passed in $(( $(date +%s) - start )) s"
done
