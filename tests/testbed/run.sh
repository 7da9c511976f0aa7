#!/usr/bin/env bash
# run.sh CMD [ARGS...] — start a fresh test bed, run CMD inside its network
# namespace with the bed's variables (DIR/env) exported, then tear the bed
# down whatever happens. Exits with CMD's status.
# TESTBED_KEEP=1 leaves the bed up (and prints its directory) for debugging.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d /tmp/stk.XXXXXX)
cleanup() {
  if [[ ${TESTBED_KEEP:-0} == 1 ]]; then echo "testbed kept: $DIR" >&2; else "$HERE/down.sh" "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$HERE/up.sh" "$DIR"
# Docker Content Trust part (notary-up.sh): on unless STACKCTL_TESTBED_NOTARY=0.
[[ ${STACKCTL_TESTBED_NOTARY:-1} == 0 ]] || "$HERE/notary-up.sh" "$DIR"
set -a; source "$DIR/env"; set +a
set +e
nsenter --net="/var/run/netns/$STACKCTL_TEST_NETNS" "$@"
rc=$?
exit $rc
