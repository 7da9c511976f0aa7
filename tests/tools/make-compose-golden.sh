#!/usr/bin/env bash
# make-compose-golden.sh CASE_DIR [STACK] — records what `docker stack deploy`
# does with one of the project's compose cases (tests/data/compose/NAME), as
# the facts the unit tests compare stackctl's render with. Run it inside a
# test bed, with the docker CLI whose behaviour is the reference:
#
#   tests/testbed/run.sh tests/tools/make-compose-golden.sh tests/data/compose/full-example
#
# It runs CASE_DIR/pre first (shell lines; `D` is docker against the bed) to
# create the external objects the file expects, deploys the case through
# tests/tools/engine_proxy.py with `--resolve-image never` and an empty
# environment, then writes CASE_DIR/golden/:
#   api-requests.jsonl    the create calls the CLI sent, one JSON line each
#                         ({"req": "POST /v1.41/services/create", "body": …}),
#                         the case's absolute path replaced by ${CASE_DIR};
#   services.stored.json  {service name: Spec as the engine stored it} (read
#                         without the defaults `docker service inspect` adds);
#   idmap.json            {"networks": {ID: name}} for the network IDs in it;
#   cli.txt               the CLI and engine versions that made them.
# The stack and the external objects are removed afterwards.
set -euo pipefail
CASE=$(realpath "${1:?usage: make-compose-golden.sh CASE_DIR [STACK]}")
STACK=${2:-gold}
HERE=$(cd "$(dirname "$0")" && pwd)
: "${STACKCTL_TEST_DOCKER_HOST:?run inside a test bed: tests/testbed/run.sh $0 CASE_DIR}"
CLI=${STACKCTL_TEST_DOCKER_CLI:-/usr/bin/docker}
SOCK=${STACKCTL_TEST_DOCKER_HOST#unix://}
D() { "$CLI" -H "$STACKCTL_TEST_DOCKER_HOST" "$@"; }
api() { curl -sf --unix-socket "$SOCK" "http://engine/v1.41$1"; }
T=$(mktemp -d /tmp/stackctl-golden.XXXXXX)
proxy=""
cleanup() {
  D stack rm "$STACK" >/dev/null 2>&1 || true
  [[ -z $proxy ]] || kill "$proxy" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

[[ ! -f $CASE/pre ]] || (source "$CASE/pre")
ENGINE_PROXY_BODIES=1 python3 "$HERE/engine_proxy.py" "$T/proxy.sock" "$SOCK" "$T/requests.jsonl" &
proxy=$!
for _ in $(seq 1 50); do [[ -S $T/proxy.sock ]] && break; sleep 0.1; done
(cd "$CASE" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  "$CLI" -H "unix://$T/proxy.sock" stack deploy --resolve-image never -c docker-compose.yml "$STACK")

mkdir -p "$CASE/golden"
jq -c --arg dir "$CASE" 'select(.req | test("^POST /v[0-9.]+/(networks|secrets|configs|services)/create"))
  | walk(if type == "string" then gsub($dir; "${CASE_DIR}") else . end)' \
  "$T/requests.jsonl" >"$CASE/golden/api-requests.jsonl"
filter=$(jq -rn --arg s "$STACK" '{label: {("com.docker.stack.namespace=" + $s): true}} | @uri')
api "/services?filters=$filter" |
  jq --arg dir "$CASE" 'map({key: .Spec.Name, value: .Spec}) | from_entries
    | walk(if type == "string" then gsub($dir; "${CASE_DIR}") else . end)' >"$CASE/golden/services.stored.json"
api "/networks" | jq '{networks: (map({key: .Id, value: .Name}) | from_entries)}' >"$CASE/golden/idmap.json"
printf 'docker CLI %s, engine %s, recorded %s by tests/tools/make-compose-golden.sh\n' \
  "$(D version --format '{{.Client.Version}}')" "$(D version --format '{{.Server.Version}}')" \
  "$(date -u +%Y-%m-%d)" >"$CASE/golden/cli.txt"
echo "golden: $CASE/golden ($(wc -l <"$CASE/golden/api-requests.jsonl") create calls)"
