#!/usr/bin/env bash
# down.sh DIR — stop everything up.sh DIR started and remove DIR and its
# network namespace(s) (DIR/netns lists one per line: up.sh writes one,
# multinode-up.sh several). Safe to run twice, or on a half-started test bed.
set -uo pipefail
DIR=$(realpath -m "${1:?usage: down.sh DIR}")
[[ -d $DIR ]] || exit 0
mapfile -t NSS < <(cat "$DIR/netns" 2>/dev/null || true)

stop_pidfile() { # file timeout-seconds
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 $(($2 * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
# Extra services other scripts started in this bed record their pid files in DIR/pids/.
for f in "$DIR"/pids/*.pid; do
  [[ -e $f ]] || continue
  case $f in */dockerd-*) stop_pidfile "$f" 30 ;; *) stop_pidfile "$f" 5 ;; esac
done
stop_pidfile "$DIR/registry.pid" 5
# A clean dockerd shutdown stops its containers and its containerd.
stop_pidfile "$DIR/docker.pid" 30
# Anything left that belongs to this bed: shims, containerd, other daemons.
# (Not this script or its callers, whose command lines name DIR too.)
for pid in $(pgrep -f -- "$DIR" || true); do
  [[ $pid == "$$" || $pid == "$PPID" ]] && continue
  grep -qE '(^|/)(containerd|containerd-shim|dockerd|docker-registry|notary-server|notary-signer|git|lighttpd|stackctld)' \
    "/proc/$pid/comm" 2>/dev/null || continue
  kill -KILL "$pid" 2>/dev/null
done
for NS in "${NSS[@]}"; do
  [[ -n $NS ]] || continue
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
done
sleep 0.2
# Mounts dockerd or containerd left below DIR, deepest first.
grep -F " $DIR/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null
done
for NS in "${NSS[@]}"; do [[ -n $NS ]] && ip netns del "$NS" 2>/dev/null; done
rm -rf "$DIR"
exit 0
