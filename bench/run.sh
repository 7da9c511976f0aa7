#!/usr/bin/env bash
# bench/run.sh [--quick] [--sizes 10,100,300] [--reps N] [--replicas R]
#              [--tools docker,docker-local,stackctl] [--parts stacks,render,stackctld,noop,scale]
#
# Benchmarks stackctl against `docker stack deploy` on a private test bed:
#   1. builds stackctl optimized if needed (build/ when it is a Release or
#      RelWithDebInfo tree -- an empty CMAKE_BUILD_TYPE is the project's
#      default, RelWithDebInfo -- else build-release/),
#   2. starts a fresh test bed (tests/testbed/run.sh: its own network
#      namespace, swarm-mode dockerd, registry with 127.0.0.1:5000/busybox:1),
#   3. runs bench/bench.py there (stacks of 10, 100, 300 services; --quick:
#      10 and 100), render of 1,000 services, stackctld with 1,000 services
#      and webhook latency, the 300-service no-op against render + engine
#      floor (noop), stackctld with 50 stacks of 20 services (scale; waits
#      for its full check, set to every 30 s), counting Engine API calls with
#      tests/tools/engine_proxy.py),
#   4. writes bench/results.json and bench/results.md and prints the table.
# The test bed is torn down afterwards. Must run as root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) != 0 ]]; then exec sudo -E bash "$0" "$@"; fi
"$ROOT/scripts/install-deps.sh"
B=${BENCH_BUILD_DIR:-$ROOT/build}
type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$B/CMakeCache.txt" 2>/dev/null || true)
if [[ ! -f $B/CMakeCache.txt || ( -n $type && $type != Release && $type != RelWithDebInfo ) ]]; then
  B=$ROOT/build-release
  "$ROOT/scripts/build.sh" "$B" -DCMAKE_BUILD_TYPE=Release
else
  ninja -C "$B" ${NINJA_JOBS:+-j "$NINJA_JOBS"} stackctl stackctld
fi
export STACKCTL_BIN_DIR=$B/src/cli
"$ROOT/tests/testbed/run.sh" python3 "$ROOT/bench/bench.py" "$ROOT/bench" "$@"
