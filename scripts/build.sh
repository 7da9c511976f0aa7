#!/usr/bin/env bash
# build.sh [BUILD_DIR] [CMAKE_ARGS...] — configure and build (default: build/).
# BUILD_TARGETS="a b" builds only those ninja targets (default: everything).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}; shift || true
cmake -S "$ROOT" -B "$B" -G Ninja "$@" >/dev/null
ninja -C "$B" ${NINJA_JOBS:+-j "$NINJA_JOBS"} ${BUILD_TARGETS:-}
