#!/usr/bin/env bash
# git-server.sh — serve Git repositories on loopback for tests.
#
#   git-server.sh daemon NAME ROOT          git daemon (git://), every repository under ROOT
#   git-server.sh http NAME ROOT [USER PASS] git http-backend behind lighttpd + fcgiwrap,
#                                            with basic auth when USER and PASS are given
#   git-server.sh https NAME ROOT PEM        the same over TLS; PEM holds the server's
#                                            certificate and key
#   git-server.sh ssh NAME ROOT PUBKEY       sshd that lets the holder of PUBKEY's private
#                                            key run git-upload-pack/receive-pack (through
#                                            git-shell) as the current user; writes the
#                                            server's known_hosts line to STATE/known_hosts
#   git-server.sh stop NAME                  stop the server(s) started under NAME
#
# Prints the base URL on stdout: "git://127.0.0.1:PORT/",
# "http(s)://127.0.0.1:PORT/git/" or "ssh://USER@127.0.0.1:PORT/ROOT/"; append
# the repository's path below ROOT ("repo.git"). Listens on 127.0.0.1 of the current network namespace (run it
# inside a test bed with tests/testbed/exec.sh, or from a test the bed runs).
# PORT is a free port unless GIT_SERVER_PORT is set.
# Pid files go to $STACKCTL_TESTBED/pids/git-NAME.pid (or $GIT_SERVER_PID_DIR),
# so tests/testbed/down.sh stops whatever a test forgot; state (config, logs)
# to $GIT_SERVER_STATE_DIR (default: a directory beside the pid files).
set -euo pipefail
usage() { sed -n '2,24p' "$0" >&2; exit 2; }
(($# >= 2)) || usage
CMD=$1 NAME=$2
PIDS=${GIT_SERVER_PID_DIR:-${STACKCTL_TESTBED:?set STACKCTL_TESTBED or GIT_SERVER_PID_DIR}/pids}
mkdir -p "$PIDS"
PIDFILE=$PIDS/git-$NAME.pid
STATE=${GIT_SERVER_STATE_DIR:-$PIDS/../git-server-$NAME}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "git-server.sh: nothing listens on 127.0.0.1:$1; see $STATE/*.log" >&2
  return 1
}

case $CMD in
  daemon)
    (($# == 3)) || usage
    ROOT=$(realpath "$3")
    PORT=${GIT_SERVER_PORT:-$(free_port)}
    mkdir -p "$STATE"
    git daemon --reuseaddr --export-all --base-path="$ROOT" --listen=127.0.0.1 --port="$PORT" \
      "$ROOT" >"$STATE/daemon.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    wait_port "$PORT"
    echo "git://127.0.0.1:$PORT/"
    ;;
  http | https)
    if [[ $CMD == https ]]; then (($# == 4)) || usage; else (($# == 3 || $# == 5)) || usage; fi
    ROOT=$(realpath "$3")
    PORT=${GIT_SERVER_PORT:-$(free_port)}
    mkdir -p "$STATE/www"
    STATE=$(realpath "$STATE")
    ln -sf /usr/lib/git-core/git-http-backend "$STATE/www/git"
    AUTH=""
    TLS="" SCHEME=http
    if [[ $CMD == https ]]; then
      SCHEME=https
      TLS="server.modules += ( \"mod_openssl\" )
ssl.engine = \"enable\"
ssl.pemfile = \"$(realpath "$4")\""
    fi
    if (($# == 5)); then
      printf '%s:%s\n' "$4" "$5" >"$STATE/users"
      AUTH="auth.backend = \"plain\"
auth.backend.plain.userfile = \"$STATE/users\"
auth.require = ( \"/git\" => ( \"method\" => \"basic\", \"realm\" => \"git\", \"require\" => \"valid-user\" ) )"
    fi
    cat >"$STATE/lighttpd.conf" <<CONF
server.modules = ( "mod_auth", "mod_authn_file", "mod_setenv", "mod_fastcgi" )
server.document-root = "$STATE/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$STATE/lighttpd.log"
setenv.add-environment = ( "GIT_PROJECT_ROOT" => "$ROOT", "GIT_HTTP_EXPORT_ALL" => "1" )
fastcgi.server = ( "/git" => ((
  "socket" => "$STATE/fcgiwrap.sock",
  "bin-path" => "/usr/sbin/fcgiwrap",
  "check-local" => "disable",
  "max-procs" => 1
)) )
$AUTH
$TLS
CONF
    /usr/sbin/lighttpd -D -f "$STATE/lighttpd.conf" >"$STATE/lighttpd.out" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    wait_port "$PORT"
    echo "$SCHEME://127.0.0.1:$PORT/git/"
    ;;
  ssh)
    (($# == 4)) || usage
    ROOT=$(realpath "$3")
    PORT=${GIT_SERVER_PORT:-$(free_port)}
    mkdir -p "$STATE"
    STATE=$(realpath "$STATE")
    [[ -f $STATE/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C git-server -f "$STATE/host_ed25519"
    # git-shell runs only the Git commands a client asks for, nothing else.
    printf 'restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" %s\n' "$(cat "$4")" \
      >"$STATE/authorized_keys"
    printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$STATE/host_ed25519.pub")" \
      >"$STATE/known_hosts"
    cat >"$STATE/sshd_config" <<CONF
ListenAddress 127.0.0.1:$PORT
HostKey $STATE/host_ed25519
AuthorizedKeysFile $STATE/authorized_keys
AllowUsers $(id -un)
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
CONF
    mkdir -p /run/sshd  # privilege separation directory, normally made by the init system
    /usr/sbin/sshd -D -e -f "$STATE/sshd_config" >"$STATE/sshd.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    wait_port "$PORT"
    echo "ssh://$(id -un)@127.0.0.1:$PORT$ROOT/"
    ;;
  stop)
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    ;;
  *) usage ;;
esac
