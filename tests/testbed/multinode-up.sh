#!/usr/bin/env bash
# multinode-up.sh DIR — start a private three-node swarm in DIR (new or empty):
#   * a "hub" network namespace holding a bridge, and one network namespace
#     per node joined to it by a veth pair (10.77.0.11-13/24, addresses that
#     exist only inside these namespaces),
#   * one dockerd per node (Debian docker.io), each in its own UTS namespace
#     with hostname node1/node2/node3, own data/exec dirs and unix socket
#     DIR/nK/docker.sock; node1 is the manager (swarm init), node2 and node3
#     join as workers; each node carries the label stackctl.node=nodeK,
#   * on every node a docker-registry on its own 127.0.0.1:5000 serving one
#     shared storage dir, and the busybox image (127.0.0.1:5000/busybox:1,
#     pushed from node1 and pulled on the others, so the digest is the same
#     everywhere and a digest-pinned service can start on any node).
# Writes DIR/env like up.sh (STACKCTL_TEST_DOCKER_HOST is the manager) plus
# STACKCTL_TEST_NODE<K>_{DOCKER_HOST,NETNS,HOSTNAME,ADDR} and
# STACKCTL_TEST_NODES=3. Stop with down.sh DIR (pid files are in DIR/pids/,
# every namespace is listed in DIR/netns).
set -euo pipefail
DIR=$(realpath -m "${1:?usage: multinode-up.sh DIR}")
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
DOCKER=${STACKCTL_TEST_DOCKER_CLI:-/usr/bin/docker}
REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}
NODES=3
T0=$(date +%s%N)
log() { printf '[multinode %5dms] %s\n' $((($(date +%s%N) - T0) / 1000000)) "$*" >&2; }
fail() { echo "multinode: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || fail "must run as root (dockerd, namespaces)"
for c in "$DOCKERD" "$DOCKER" "$REGISTRY_BIN" ip nsenter unshare busybox; do
  command -v "$c" >/dev/null || fail "missing $c (run scripts/install-deps.sh)"
done
# containerd's socket lives below DIR/nK/exec; unix socket paths are limited.
((${#DIR} < 34)) || fail "DIR path too long for unix sockets: $DIR"
mkdir -p "$DIR"/{pids,logs,registry,rootfs/bin}
BASE=$(basename "$DIR" | tr -c 'a-zA-Z0-9\n' '-')
HUB="stackctl-$BASE-hub"
ns_of() { echo "stackctl-$BASE-n$1"; }
: >"$DIR/netns"

log "namespaces and bridge"
ip netns add "$HUB"
echo "$HUB" >>"$DIR/netns"
ip -n "$HUB" link set lo up
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
for k in $(seq 1 $NODES); do
  ns=$(ns_of "$k")
  ip netns add "$ns"
  echo "$ns" >>"$DIR/netns"
  ip -n "$ns" link set lo up
  ip link add "v$k" netns "$HUB" type veth peer name eth0 netns "$ns"
  ip -n "$HUB" link set "v$k" master br0 up
  ip -n "$ns" addr add "10.77.0.1$k/24" dev eth0
  ip -n "$ns" link set eth0 up
done

log "busybox rootfs"
cp "$(command -v busybox)" "$DIR/rootfs/bin/busybox"
for applet in $(busybox --list); do
  [[ $applet == busybox ]] || ln -sf busybox "$DIR/rootfs/bin/$applet"
done
mkdir -p "$DIR/rootfs"/{etc,tmp,run,proc,sys,dev}

cat >"$DIR/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $DIR/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5000}
YML

D() { local k=$1; shift; "$DOCKER" -H "unix://$DIR/n$k/docker.sock" "$@"; }
for k in $(seq 1 $NODES); do
  ns=$(ns_of "$k")
  mkdir -p "$DIR/n$k"/{data,exec}
  log "node$k: dockerd in $ns"
  nsenter --net="/var/run/netns/$ns" unshare --uts bash -c \
    'hostname "$0"; exec setsid "$@"' "node$k" \
    "$DOCKERD" --iptables=false --ip-forward=false --bridge=none --storage-driver=vfs \
    -H "unix://$DIR/n$k/docker.sock" --label "stackctl.node=node$k" \
    --data-root "$DIR/n$k/data" --exec-root "$DIR/n$k/exec" \
    --pidfile "$DIR/pids/dockerd-n$k.pid" >"$DIR/logs/dockerd-n$k.log" 2>&1 </dev/null &
  nsenter --net="/var/run/netns/$ns" setsid "$REGISTRY_BIN" serve "$DIR/registry.yml" \
    >"$DIR/logs/registry-n$k.log" 2>&1 </dev/null &
  echo $! >"$DIR/pids/registry-n$k.pid"
done
for k in $(seq 1 $NODES); do
  for _ in $(seq 1 300); do D "$k" version >/dev/null 2>&1 && break; sleep 0.1; done
  D "$k" version >/dev/null 2>&1 || { tail -20 "$DIR/logs/dockerd-n$k.log" >&2; fail "node$k: dockerd did not start"; }
  for _ in $(seq 1 100); do
    nsenter --net="/var/run/netns/$(ns_of "$k")" bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' 2>/dev/null && break
    sleep 0.1
  done
done

log "swarm: node1 manager, node2..$NODES workers"
D 1 swarm init --advertise-addr 10.77.0.11 --listen-addr 10.77.0.11:2377 >/dev/null
TOKEN=$(D 1 swarm join-token -q worker)
for k in $(seq 2 $NODES); do
  D "$k" swarm join --token "$TOKEN" --advertise-addr "10.77.0.1$k" 10.77.0.11:2377 >/dev/null
done
for _ in $(seq 1 100); do
  ready=$(D 1 node ls --format '{{.Status}}' | grep -c Ready || true)
  ((ready == NODES)) && break
  sleep 0.2
done
((ready == NODES)) || { D 1 node ls >&2; fail "only $ready of $NODES nodes ready"; }
# Swarm node labels too, for placement constraints (node.labels.stackctl.node).
for id in $(D 1 node ls -q); do
  host=$(D 1 node inspect --format '{{.Description.Hostname}}' "$id")
  D 1 node update --label-add "stackctl.node=$host" "$id" >/dev/null
done

log "busybox image on every node"
tar -C "$DIR/rootfs" -c . | D 1 import -c 'CMD ["sh"]' - 127.0.0.1:5000/busybox:1 >/dev/null
D 1 push 127.0.0.1:5000/busybox:1 >/dev/null
DIGEST=$(D 1 image inspect --format '{{index .RepoDigests 0}}' 127.0.0.1:5000/busybox:1)
D 1 tag 127.0.0.1:5000/busybox:1 local/busybox:1
for k in $(seq 2 $NODES); do
  D "$k" pull 127.0.0.1:5000/busybox:1 >/dev/null
  D "$k" tag 127.0.0.1:5000/busybox:1 local/busybox:1
done

{
  echo "STACKCTL_TESTBED=$DIR"
  echo "STACKCTL_TEST_NETNS=$(ns_of 1)"
  echo "STACKCTL_TEST_DOCKER_HOST=unix://$DIR/n1/docker.sock"
  echo "STACKCTL_TEST_DOCKER_CLI=$DOCKER"
  echo "STACKCTL_TEST_REGISTRY=127.0.0.1:5000"
  echo "STACKCTL_TEST_IMAGE=127.0.0.1:5000/busybox:1"
  echo "STACKCTL_TEST_IMAGE_DIGEST=${DIGEST#*@}"
  echo "STACKCTL_TEST_LOCAL_IMAGE=local/busybox:1"
  echo "STACKCTL_TEST_NODES=$NODES"
  for k in $(seq 1 $NODES); do
    echo "STACKCTL_TEST_NODE${k}_DOCKER_HOST=unix://$DIR/n$k/docker.sock"
    echo "STACKCTL_TEST_NODE${k}_NETNS=$(ns_of "$k")"
    echo "STACKCTL_TEST_NODE${k}_HOSTNAME=node$k"
    echo "STACKCTL_TEST_NODE${k}_ADDR=10.77.0.1$k"
    echo "STACKCTL_TEST_NODE${k}_PIDFILE=$DIR/pids/dockerd-n$k.pid"
  done
} >"$DIR/env"
log "ready: $DIR ($NODES nodes: $(D 1 node ls --format '{{.Hostname}}/{{.ManagerStatus}}' | tr '\n' ' '))"
