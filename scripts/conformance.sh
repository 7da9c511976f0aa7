#!/usr/bin/env bash
# conformance.sh CORPUS_DIR — checks stackctl's Compose conversion against an
# external corpus: public Compose files and what `docker stack deploy` made of
# them on a real swarm (CORPUS_DIR/cases/NN-name/ with the files, and
# CORPUS_DIR/golden/NN-name/ with docker's result, plus the corpus' own
# normalize.py; see docs/compose-parity.md). Prints one line per case and
# "conformance: N passed, N failed"; exits non-zero on any difference.
# Not part of scripts/test.sh: the test suite needs nothing outside the
# repository. CI runs it with the corpus it has beside the clone:
#   bash scripts/conformance.sh ../shared/corpus
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${1:?usage: scripts/conformance.sh CORPUS_DIR   (a folder with cases/ and golden/)}
[[ -d $CORPUS/cases && -d $CORPUS/golden ]] || { echo "conformance: $CORPUS has no cases/ and golden/" >&2; exit 2; }
if [[ $(id -u) != 0 ]]; then exec sudo -E bash "$0" "$@"; fi
"$ROOT/scripts/install-deps.sh"
BUILD_TARGETS=stackctl-conformance "$ROOT/scripts/build.sh" "$ROOT/build"
"$ROOT/build/tests/stackctl-conformance" "$CORPUS"
