#!/usr/bin/env bash
# exec.sh DIR CMD [ARGS...] — run CMD inside a running test bed (started with
# up.sh DIR), with its variables exported. For development and debugging.
set -euo pipefail
DIR=$(realpath -m "${1:?usage: exec.sh DIR CMD...}"); shift
set -a; source "$DIR/env"; set +a
exec nsenter --net="/var/run/netns/$STACKCTL_TEST_NETNS" "$@"
