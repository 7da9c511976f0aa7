#!/usr/bin/env bash
# demo.sh — the local demo, on embedded defaults:
#   1. installs what it needs and builds stackctl,
#   2. starts a private single-node swarm (tests/testbed: its own network
#      namespace, a registry with a busybox image),
#   3. puts examples/stacks/ into a local Git repository,
#   4. runs stackctld on it (polling every 5 s, self-heal on) and waits until
#      every stack is deployed,
#   5. commits a change to one service and shows the swarm following,
#   6. prints the dashboard's URL and tears everything down (DEMO_KEEP=1 keeps
#      it running, forwards the dashboard to 127.0.0.1:${DEMO_UI_PORT:-9090} of
#      this machine and prints how to reach it).
# Must run as root (dockerd, network namespaces).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) != 0 ]]; then exec sudo -E bash "$0" "$@"; fi
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" "$ROOT/build" >/dev/null
BIN=$ROOT/build/src/cli
DIR=$(mktemp -d /tmp/stk.XXXXXX)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  if [[ ${DEMO_KEEP:-0} == 1 ]]; then
    echo "kept: $DIR (stop with: tests/testbed/down.sh $DIR)"
  else
    "$ROOT/tests/testbed/down.sh" "$DIR"
  fi
}
trap cleanup EXIT

say "starting a local swarm"
"$ROOT/tests/testbed/up.sh" "$DIR" 2>&1 | tail -1
set -a; source "$DIR/env"; set +a
IN_NS=(nsenter --net="/var/run/netns/$STACKCTL_TEST_NETNS")
export DOCKER_HOST=$STACKCTL_TEST_DOCKER_HOST

say "a Git repository of example stacks"
REPO=$DIR/stacks-repo
mkdir -p "$REPO" && cp -r "$ROOT/examples/stacks/." "$REPO/"
git -C "$REPO" init -q -b main
git -C "$REPO" -c user.name=demo -c user.email=demo@localhost add -A
git -C "$REPO" -c user.name=demo -c user.email=demo@localhost commit -qm "example stacks"
git -C "$REPO" log --oneline

mkdir -p "$DIR/pids" "$DIR/ctl"
head -c 24 /dev/urandom | base64 >"$DIR/ctl/api-token"
cat >"$DIR/ctl/stackctld.yml" <<YML
engine: {host: "unix://$DIR/docker.sock"}
state_dir: $DIR/ctl/state
log: {level: info, format: text}
http: {listen: "127.0.0.1:9090", api_token_file: $DIR/ctl/api-token}
repositories:
  - {name: examples, url: "file://$REPO", branch: main, poll_interval: 5s}
defaults: {auto_sync: true, prune: true, self_heal: true, timeout: 3m, rollout: {parallelism: 0}}
stacks:
  - {name: wordpress, repository: examples, path: wordpress}
  - {name: spark, repository: examples, path: spark}
  - {name: voting, repository: examples, path: voting}
  - {name: monitoring, repository: examples, path: monitoring}
YML
say "stackctld (config: $DIR/ctl/stackctld.yml, log: $DIR/logs/stackctld.log)"
"${IN_NS[@]}" "$BIN/stackctld" -c "$DIR/ctl/stackctld.yml" >"$DIR/logs/stackctld.log" 2>&1 &
echo $! >"$DIR/pids/stackctld.pid"

api() { "${IN_NS[@]}" curl -sf -H "Authorization: Bearer $(cat "$DIR/ctl/api-token")" "http://127.0.0.1:9090$1"; }
wait_synced() { # revision-prefix
  for _ in $(seq 1 180); do
    if api /api/v1/stacks 2>/dev/null | jq -e --arg r "$1" \
        '[.stacks[] | select(.sync == "Synced" and (.revision | startswith($r)))] | length == 4' >/dev/null; then
      return 0
    fi
    sleep 1
  done
  echo "stacks did not sync; controller log:" >&2; tail -30 "$DIR/logs/stackctld.log" >&2; return 1
}
REV=$(git -C "$REPO" rev-parse HEAD)
wait_synced "${REV:0:12}"
api /api/v1/stacks | jq -r '.stacks[] | "\(.name): \(.sync) at \(.revision[0:12])"'
"$BIN/stackctl" status spark

say "a commit changes one service: spark workers get 2G"
sed -i 's/SPARK_WORKER_MEMORY: 1G/SPARK_WORKER_MEMORY: 2G/' "$REPO/spark/docker-compose.yml"
git -C "$REPO" -c user.name=demo -c user.email=demo@localhost commit -qam "spark: workers get 2G"
REV=$(git -C "$REPO" rev-parse HEAD)
wait_synced "${REV:0:12}"
"$BIN/stackctl" history spark
/usr/bin/docker service inspect spark_worker --format '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' | grep MEMORY
"$BIN/stackctl" status spark

say "metrics"
api /metrics | grep -E '^stackctl_reconcile_total' | head -8
say "dashboard"
if [[ ${DEMO_KEEP:-0} == 1 ]]; then
  # stackctld listens inside the bed's namespace; socat carries each connection there.
  UI_PORT=${DEMO_UI_PORT:-9090}
  socat "TCP-LISTEN:$UI_PORT,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:nsenter --net=/var/run/netns/$STACKCTL_TEST_NETNS socat STDIO TCP\:127.0.0.1\:9090" &
  echo $! >"$DIR/pids/dashboard-forward.pid"
  echo "dashboard: http://127.0.0.1:$UI_PORT/ (API token: $(cat "$DIR/ctl/api-token"))"
else
  echo "dashboard: http://127.0.0.1:9090/ in the demo's network namespace (DEMO_KEEP=1 forwards it to this machine)"
fi
if [[ ${DEMO_KEEP:-0} == 1 ]]; then
  echo "DOCKER_HOST=$DOCKER_HOST; API: nsenter --net=/var/run/netns/$STACKCTL_TEST_NETNS curl http://127.0.0.1:9090/api/v1/stacks (token in $DIR/ctl/api-token)"
fi
