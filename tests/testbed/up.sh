#!/usr/bin/env bash
# up.sh DIR — start a private test bed in DIR (which must be new or empty):
#   * a network namespace of its own (so nothing here touches the host's
#     loopback ports or a dockerd the user runs),
#   * dockerd (Debian docker.io) in swarm mode, listening on a unix socket
#     DIR/docker.sock and, with mutual TLS, on 127.0.0.1:2376 inside the
#     namespace (certificates made here, in DIR/tls),
#   * a busybox image (local/busybox:1) built from busybox-static,
#   * docker-registry on 127.0.0.1:5000 inside the namespace with that image
#     pushed as 127.0.0.1:5000/busybox:1 (so digests exist).
# Writes DIR/env (KEY=VALUE lines) for the tests. Stop with down.sh DIR.
# Everything lives under DIR and in the namespace; down.sh removes both.
set -euo pipefail
DIR=$(realpath -m "${1:?usage: up.sh DIR}")
HERE=$(cd "$(dirname "$0")" && pwd)
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
DOCKER=${STACKCTL_TEST_DOCKER_CLI:-/usr/bin/docker}
REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}
T0=$(date +%s%N)
log() { printf '[testbed %5dms] %s\n' $((($(date +%s%N) - T0) / 1000000)) "$*" >&2; }
fail() { echo "testbed: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || fail "must run as root (dockerd, network namespaces)"
for c in "$DOCKERD" "$DOCKER" "$REGISTRY_BIN" ip nsenter openssl busybox; do
  command -v "$c" >/dev/null || fail "missing $c (run scripts/install-deps.sh)"
done
# unix socket paths are limited to 108 bytes; containerd's lives deeper inside.
((${#DIR} < 40)) || fail "DIR path too long for unix sockets: $DIR"
mkdir -p "$DIR"/{data,exec,tls,logs,registry,rootfs/bin}
NS="stackctl-$(basename "$DIR" | tr -c 'a-zA-Z0-9\n' '-')"
echo "$NS" >"$DIR/netns"

log "network namespace $NS"
ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { nsenter --net="/var/run/netns/$NS" "$@"; }

log "TLS material"
(
  cd "$DIR/tls"
  ca() { # name
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 2 -sha256 \
      -subj "/CN=stackctl test $1" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
  }
  leaf() { # name ca ext
    openssl req -newkey rsa:2048 -nodes -keyout "$1-key.pem" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 -sha256 \
      -extfile "$1.ext" -out "$1-cert.pem" 2>/dev/null
  }
  ca ca
  ca wrong-ca
  leaf server ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
  leaf client ca "extendedKeyUsage=clientAuth"
  leaf rogue-client wrong-ca "extendedKeyUsage=clientAuth"
  # docker CLI layout for DOCKER_CERT_PATH
  mkdir -p client-certs
  cp ca.pem client-certs/ca.pem
  cp client-cert.pem client-certs/cert.pem
  cp client-key.pem client-certs/key.pem
)

log "dockerd"
in_ns setsid "$DOCKERD" --iptables=false --ip-forward=false --bridge=none --storage-driver=vfs \
  -H "unix://$DIR/docker.sock" -H tcp://127.0.0.1:2376 \
  --tlsverify --tlscacert "$DIR/tls/ca.pem" --tlscert "$DIR/tls/server-cert.pem" \
  --tlskey "$DIR/tls/server-key.pem" \
  --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$DIR/docker.pid" \
  >"$DIR/logs/dockerd.log" 2>&1 </dev/null &
D() { "$DOCKER" -H "unix://$DIR/docker.sock" "$@"; }
for _ in $(seq 1 300); do D version >/dev/null 2>&1 && break; sleep 0.1; done
D version >/dev/null 2>&1 || { tail -20 "$DIR/logs/dockerd.log" >&2; fail "dockerd did not start"; }
D swarm init --advertise-addr 127.0.0.1 >/dev/null

log "busybox image"
cp "$(command -v busybox)" "$DIR/rootfs/bin/busybox"
for applet in $(busybox --list); do
  [[ $applet == busybox ]] || ln -sf busybox "$DIR/rootfs/bin/$applet"
done
mkdir -p "$DIR/rootfs"/{etc,tmp,run,proc,sys,dev}
tar -C "$DIR/rootfs" -c . | D import -c 'CMD ["sh"]' - local/busybox:1 >/dev/null

log "registry"
cat >"$DIR/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $DIR/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5000}
YML
in_ns setsid "$REGISTRY_BIN" serve "$DIR/registry.yml" >"$DIR/logs/registry.log" 2>&1 </dev/null &
echo $! >"$DIR/registry.pid"
for _ in $(seq 1 100); do in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' 2>/dev/null && break; sleep 0.1; done
D tag local/busybox:1 127.0.0.1:5000/busybox:1
D push 127.0.0.1:5000/busybox:1 >/dev/null
DIGEST=$(D image inspect --format '{{index .RepoDigests 0}}' 127.0.0.1:5000/busybox:1)

cat >"$DIR/env" <<ENV
STACKCTL_TESTBED=$DIR
STACKCTL_TEST_NETNS=$NS
STACKCTL_TEST_DOCKER_HOST=unix://$DIR/docker.sock
STACKCTL_TEST_DOCKER_CLI=$DOCKER
STACKCTL_TEST_TLS_HOST=tcp://127.0.0.1:2376
STACKCTL_TEST_TLS_DIR=$DIR/tls
STACKCTL_TEST_REGISTRY=127.0.0.1:5000
STACKCTL_TEST_IMAGE=127.0.0.1:5000/busybox:1
STACKCTL_TEST_IMAGE_DIGEST=${DIGEST#*@}
STACKCTL_TEST_LOCAL_IMAGE=local/busybox:1
ENV
log "ready: $DIR (netns $NS)"
