#!/usr/bin/env bash
# fuzz.sh [SECONDS] [FUZZER...] — builds the libFuzzer targets with clang-14,
# ASan and UBSan (build-fuzz/), then runs each for SECONDS (default 20) on its
# seed corpus (fuzz/corpus/NAME if present; fuzz_compose is seeded at run time
# with the compose files of examples/stacks and tests/data/compose). Exits
# non-zero on any crash.
# CI runs a short smoke period; run longer locally, e.g. `scripts/fuzz.sh 600`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-20}; shift || true
B=$ROOT/build-fuzz
# Only the fuzz targets (and the libraries they use) are built here, not the unit tests.
CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$B" -G Ninja -DSTACKCTL_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
ninja -C "$B" ${NINJA_JOBS:+-j "$NINJA_JOBS"} fuzzers
mapfile -t fuzzers < <(find "$B" -maxdepth 4 -type f -perm -u+x -name 'fuzz_*' | sort)
((${#fuzzers[@]})) || { echo "no fuzzers built" >&2; exit 1; }
failed=0
for f in "${fuzzers[@]}"; do
  name=$(basename "$f")
  if (($#)) && [[ " $* " != *" $name "* ]]; then continue; fi
  work=$(mktemp -d)
  seeds=()
  [[ -d $ROOT/fuzz/corpus/$name ]] && seeds=("$ROOT/fuzz/corpus/$name")
  if [[ $name == fuzz_compose ]]; then
    compose_seeds=$(mktemp -d)
    i=0
    for y in "$ROOT"/examples/stacks/*/docker-compose.yml "$ROOT"/tests/data/compose/*/*.yml; do
      [[ -f $y ]] && cp "$y" "$compose_seeds/$((i++)).yml"
    done
    seeds+=("$compose_seeds")
  fi
  echo "== $name ($SECS s)"
  if ! (cd "$work" && "$f" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 "$work" "${seeds[@]}" >"$work/log" 2>&1); then
    tail -40 "$work/log"; failed=1
  else
    grep -E 'stat::number_of_executed_units' "$work/log" || true
  fi
  rm -rf "$work" ${compose_seeds:+"$compose_seeds"}
  compose_seeds=
done
exit $failed
