#!/usr/bin/env bash
# notary-up.sh DIR — adds Docker Content Trust to a running test bed (up.sh DIR):
# inside the bed's network namespace, on loopback only, it starts
#   * notary-signer         127.0.0.1:7899  (gRPC + mutual TLS, memory storage; holds the
#                                            server's ECDSA timestamp/snapshot keys, as on Docker Hub)
#   * notary-server         127.0.0.1:4443  (HTTPS, memory storage, keys in notary-signer)
#   * a second notary-server 127.0.0.1:4445 (HTTPS, memory storage, its own local
#                                            trust service: Ed25519 timestamp/snapshot keys)
#   * a static HTTPS server 127.0.0.1:4444 serving copies of real metadata with
#     one file tampered and one replaced by garbage (negative tests)
# with TLS certificates made here (DIR/notary/tls), then pushes test images to
# the bed's registry and signs the same test repositories on both notary servers
# with the notary CLI and the docker CLI (DCT push, delegations, root rotation, a
# CA-issued root certificate). The table of docker-expected resolutions is
# DIR/notary/expected.tsv. The raw TUF metadata of every test repository, as
# each server serves it, is saved (save-tuf.py) under DIR/notary/samples/:
# remote-signer/ (the first server) and local-ed25519/ (the second), each with
# ca.crt, rootkey-ca.crt and expected.tsv; the TufClient/NotaryVerifier tests
# (tests/integration/notary_samples_test.cc) read them. Appends
# STACKCTL_TEST_NOTARY_* lines to DIR/env. Pid files go to DIR/pids/ so
# down.sh stops everything. run.sh calls it unless STACKCTL_TESTBED_NOTARY=0.
# Cost: 17-21 s on the shared 2-core machine at load 5-9 (11 s at load 4), 1-5 s
# more than with one server and no saved metadata: TLS keys 1.5-2 s, images and
# pushes 5-9 s, signing on both servers at once 6-7.5 s (the notary CLI and the
# docker CLI), saving the metadata 0.8 s, static server 0.7 s.
set -euo pipefail
DIR=$(realpath -m "${1:?usage: notary-up.sh DIR}")
HERE=$(cd "$(dirname "$0")" && pwd)
[[ -f $DIR/env ]] || { echo "notary-up: no test bed in $DIR (run up.sh first)" >&2; exit 1; }
set -a; source "$DIR/env"; set +a
# Everything below talks to loopback services of the bed: run inside its namespace.
if [[ -z ${NOTARY_UP_IN_NS:-} ]]; then
  exec nsenter --net="/var/run/netns/$STACKCTL_TEST_NETNS" env NOTARY_UP_IN_NS=1 "$0" "$@"
fi
T0=$(date +%s%N)
log() { printf '[notary %5dms] %s\n' $((($(date +%s%N) - T0) / 1000000)) "$*" >&2; }
fail() { echo "notary-up: $*" >&2; exit 1; }
for c in notary notary-server notary-signer openssl curl jq /usr/bin/python3; do
  command -v "$c" >/dev/null || fail "missing $c (run scripts/install-deps.sh)"
done

N=$DIR/notary
REG=$STACKCTL_TEST_REGISTRY             # 127.0.0.1:5000, plain HTTP inside the namespace
SERVER_ADDR=127.0.0.1:4443 SIGNER_ADDR=127.0.0.1:7899 STATIC_ADDR=127.0.0.1:4444
LOCAL_ADDR=127.0.0.1:4445                # the notary-server with the local Ed25519 trust service
URL=https://$SERVER_ADDR LOCAL_URL=https://$LOCAL_ADDR
S=$N/samples                             # saved TUF metadata, one folder per server
DOCKER="$STACKCTL_TEST_DOCKER_CLI -H $STACKCTL_TEST_DOCKER_HOST"
export NOTARY_ROOT_PASSPHRASE=bed-root-pass NOTARY_TARGETS_PASSPHRASE=bed-repo-pass \
  NOTARY_SNAPSHOT_PASSPHRASE=bed-repo-pass NOTARY_DELEGATION_PASSPHRASE=bed-repo-pass
mkdir -p "$N"/{tls,conf,logs,clients,manifests,static,samples} "$DIR/pids"

log "TLS material"
(
  cd "$N/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 60 -sha256 \
    -subj "/CN=stackctl bed notary CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=notary-server" 2>/dev/null
  # Go ignores the CN: the SAN must name 127.0.0.1. One cert serves HTTPS, gRPC and the
  # server's client certificate towards the signer.
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:notary-server,DNS:notary-signer" \
    "extendedKeyUsage=serverAuth,clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -sha256 \
    -extfile server.ext -out server.crt 2>/dev/null
  # A CA unrelated to the server, to show stackctl verifies the server certificate.
  openssl req -x509 -newkey rsa:2048 -nodes -keyout wrong-ca.key -out wrong-ca.crt -days 60 \
    -sha256 -subj "/CN=stackctl bed wrong CA" 2>/dev/null
  # A CA issuing the TUF root certificate of .../busybox-pinned (trust pinning by CA).
  # The leaf has no EKU: pinning follows Go's x509.Verify, whose default EKU is serverAuth.
  openssl ecparam -name prime256v1 -genkey -noout -out rootkey-ca.key
  openssl req -x509 -new -key rootkey-ca.key -out rootkey-ca.crt -days 3650 -sha256 \
    -subj "/CN=stackctl bed root-key CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
  gun="$REG/library/busybox-pinned"
  openssl ecparam -name prime256v1 -genkey -noout -out pinned-root.key
  openssl req -new -key pinned-root.key -subj "/CN=${gun//\//\\/}" -out pinned-root.csr
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" >pinned-root.ext
  openssl x509 -req -in pinned-root.csr -CA rootkey-ca.crt -CAkey rootkey-ca.key -CAcreateserial \
    -days 3650 -sha256 -extfile pinned-root.ext -out pinned-root.crt 2>/dev/null
  # notary imports only encrypted PKCS#8 with PBKDF2-HMAC-SHA1.
  openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA1 -passout "pass:$NOTARY_ROOT_PASSPHRASE" \
    -in pinned-root.key -out pinned-root.p8
)
CA=$N/tls/ca.crt

log "notary-signer and the two notary-servers"
cat >"$N/conf/signer.json" <<JSON
{"server": {"grpc_addr": "$SIGNER_ADDR", "tls_cert_file": "$N/tls/server.crt",
            "tls_key_file": "$N/tls/server.key", "client_ca_file": "$CA"},
 "storage": {"backend": "memory"}, "logging": {"level": "warn"}}
JSON
cat >"$N/conf/server.json" <<JSON
{"server": {"http_addr": "$SERVER_ADDR", "tls_cert_file": "$N/tls/server.crt", "tls_key_file": "$N/tls/server.key"},
 "trust_service": {"type": "remote", "hostname": "127.0.0.1", "port": "${SIGNER_ADDR##*:}",
                   "key_algorithm": "ecdsa", "tls_ca_file": "$CA",
                   "tls_client_cert": "$N/tls/server.crt", "tls_client_key": "$N/tls/server.key"},
 "storage": {"backend": "memory"}, "logging": {"level": "warn"}}
JSON
cat >"$N/conf/server-local.json" <<JSON
{"server": {"http_addr": "$LOCAL_ADDR", "tls_cert_file": "$N/tls/server.crt", "tls_key_file": "$N/tls/server.key"},
 "trust_service": {"type": "local"},
 "storage": {"backend": "memory"}, "logging": {"level": "warn"}}
JSON
start() { # name cmd...
  local name=$1; shift
  setsid "$@" >"$N/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/pids/$name.pid"
}
wait_tcp() { # port
  for _ in $(seq 1 100); do bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
start notary-signer notary-signer -config "$N/conf/signer.json"
wait_tcp "${SIGNER_ADDR##*:}" || fail "notary-signer did not start: $(tail -5 "$N/logs/notary-signer.log")"
start notary-server notary-server -config "$N/conf/server.json"
start notary-server-local notary-server -config "$N/conf/server-local.json"
for name in notary-server notary-server-local; do
  url=$URL; [[ $name == notary-server-local ]] && url=$LOCAL_URL
  wait_tcp "${url##*:}" || fail "$name did not start: $(tail -5 "$N/logs/$name.log")"
  for _ in $(seq 1 100); do curl -sf --cacert "$CA" "$url/_notary_server/health" >/dev/null && break; sleep 0.05; done
  curl -sf --cacert "$CA" "$url/_notary_server/health" >/dev/null || fail "$name unhealthy"
done

log "images"
variant() { # n -> image testbed/busybox:vN = the bed's busybox plus /etc/variant
  local w; w=$(mktemp -d "$N/variant.XXXX")
  cp -a "$DIR/rootfs/." "$w/"
  echo "variant $1" >"$w/etc/variant"
  tar -C "$w" -c . | $DOCKER import -c 'CMD ["sh"]' - "testbed/busybox:v$1" >/dev/null
  rm -rf "$w"
  echo "testbed/busybox:v$1"
}
V1=$STACKCTL_TEST_LOCAL_IMAGE; V2=testbed/busybox:v2; V3=testbed/busybox:v3
variant 2 >/dev/null & v2=$!; variant 3 >/dev/null & v3=$!
wait "$v2" && wait "$v3" || fail "docker import failed"
push() { # src=dst...: tag and push all at once (the registry dedups the shared layers)
  local pair pids=()
  for pair in "$@"; do
    $DOCKER tag "${pair%%=*}" "${pair#*=}"
    DOCKER_CONTENT_TRUST=0 $DOCKER push "${pair#*=}" >/dev/null & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "push failed"; done
}
# Each image once, then every other test repository (these mount the layers pushed first).
L=$REG/library
push "$V1=$L/busybox:1.0" "$V2=$L/busybox:2.0" "$V3=$L/busybox:unsigned"
push "$V1=$L/nosig:1.0" "$V1=$L/busybox-pinned:1.0" "$V1=$L/busybox-dct:1.0" "$V1=$L/busybox-deleg:1.0" \
  "$V2=$L/busybox-deleg:2.0" "$V2=$L/busybox-deleg:conflict" "$V2=$L/busybox-rotated:1.0" \
  "$V3=$L/busybox-deleg:only-alice"
manifest() { # repo tag out -> digest; the exact manifest bytes are the signed target
  curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -D "$3.hdr" -o "$3" \
    "http://$REG/v2/$1/manifests/$2"
  tr -d '\r' <"$3.hdr" | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}
M=$N/manifests
D1=$(manifest library/busybox 1.0 "$M/v1.json")
D2=$(manifest library/busybox 2.0 "$M/v2.json")
D3=$(manifest library/busybox unsigned "$M/v3.json")

# sign_repos URL CLIENT_DIR: signs every test repository on the notary server at URL,
# keeping the clients' keys and trust data in CLIENT_DIR (so each server gets its own
# root keys). The images are already in the registry (the DCT pushes only sign).
sign_repos() {
  local url=$1 c=$2 g
  mkdir -p "$c"/{notary-cli,docker-config,keys}
  local NOT=(notary -s "$url" --tlscacert "$CA" -d "$c/notary-cli")
  g=$REG/library/busybox
  "${NOT[@]}" init "$g" >/dev/null
  "${NOT[@]}" add "$g" 1.0 "$M/v1.json" >/dev/null
  "${NOT[@]}" add "$g" 2.0 "$M/v2.json" >/dev/null
  "${NOT[@]}" publish "$g" >/dev/null
  g=$REG/library/busybox-rotated
  "${NOT[@]}" init "$g" >/dev/null
  "${NOT[@]}" add "$g" 1.0 "$M/v2.json" >/dev/null
  "${NOT[@]}" publish "$g" >/dev/null
  # root v1 -> v2 -> v3; the CLI asks for confirmation
  echo yes | "${NOT[@]}" key rotate "$g" root >/dev/null 2>&1
  echo yes | "${NOT[@]}" key rotate "$g" root >/dev/null 2>&1
  g=$REG/library/busybox-pinned
  "${NOT[@]}" init "$g" --rootkey "$N/tls/pinned-root.p8" --rootcert "$N/tls/pinned-root.crt" >/dev/null
  "${NOT[@]}" add "$g" 1.0 "$M/v1.json" >/dev/null
  "${NOT[@]}" publish "$g" >/dev/null

  # The docker CLI: its trust data lives in DOCKER_CONFIG/trust.
  local server=${url#https://}
  export DOCKER_CONFIG=$c/docker-config DOCKER_CONTENT_TRUST_SERVER=$url \
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=bed-root-pass DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=bed-repo-pass
  mkdir -p "$DOCKER_CONFIG/tls/$server" && cp "$CA" "$DOCKER_CONFIG/tls/$server/ca.crt"
  DOCKER_CONTENT_TRUST=1 $DOCKER push "$REG/library/busybox-dct:1.0" >/dev/null
  g=$REG/library/busybox-deleg
  $STACKCTL_TEST_DOCKER_CLI trust key generate alice --dir "$c/keys" >/dev/null
  $DOCKER trust signer add --key "$c/keys/alice.pub" alice "$g" >/dev/null  # targets/releases + targets/alice
  DOCKER_CONTENT_TRUST=1 $DOCKER push "$g:1.0" >/dev/null
  DOCKER_CONTENT_TRUST=1 $DOCKER push "$g:2.0" >/dev/null
  local NOTD=(notary -s "$url" --tlscacert "$CA" -d "$DOCKER_CONFIG/trust")
  "${NOTD[@]}" add "$g" conflict "$M/v1.json" --roles targets >/dev/null
  "${NOTD[@]}" add "$g" conflict "$M/v2.json" --roles targets/releases >/dev/null
  "${NOTD[@]}" add "$g" only-alice "$M/v3.json" --roles targets/alice >/dev/null
  "${NOTD[@]}" publish "$g" >/dev/null
}
log "signing with the notary CLI and the docker CLI, on both servers at once"
# Each in a subshell (sign_repos exports DOCKER_CONFIG); output in logs/sign-*.log.
(sign_repos "$URL" "$N/clients/remote-signer") >"$N/logs/sign-remote-signer.log" 2>&1 & s1=$!
(sign_repos "$LOCAL_URL" "$N/clients/local-ed25519") >"$N/logs/sign-local-ed25519.log" 2>&1 & s2=$!
wait "$s1" || fail "signing on $URL failed: $(tail -5 "$N/logs/sign-remote-signer.log")"
wait "$s2" || fail "signing on $LOCAL_URL failed: $(tail -5 "$N/logs/sign-local-ed25519.log")"

R=$REG/library
cat >"$N/expected.tsv" <<TSV
# gun	tag	expected (digest | UNTRUSTED:reason)	role	notes
$R/busybox	1.0	$D1	targets	notary CLI, targets only, client-managed snapshot
$R/busybox	2.0	$D2	targets
$R/busybox	unsigned	UNTRUSTED:no-such-target	-	tag exists in registry ($D3) but not in trust data
$R/busybox	latest	UNTRUSTED:no-such-target	-	tag exists nowhere
$R/busybox-deleg	1.0	$D1	targets/releases	docker trust signer add + DCT push
$R/busybox-deleg	2.0	$D2	targets/releases
$R/busybox-deleg	conflict	$D2	targets/releases	targets says $D1; releases wins
$R/busybox-deleg	only-alice	UNTRUSTED:not-in-releases-or-targets	targets/alice	signed ($D3) only by a non-releases delegation
$R/busybox-dct	1.0	$D1	targets	plain DOCKER_CONTENT_TRUST=1 docker push
$R/nosig	1.0	UNTRUSTED:no-trust-data	-	404 on root.json
$R/busybox-rotated	1.0	$D2	targets	root rotated twice (root v3)
$R/busybox-pinned	1.0	$D1	targets	root cert issued by rootkey-ca.crt (CA pinning)
TSV

log "saving the TUF metadata of every test repository"
guns=()
for r in busybox busybox-deleg busybox-dct busybox-rotated busybox-pinned nosig; do guns+=("$R/$r"); done
save_samples() { # url flavour
  /usr/bin/python3 "$HERE/save-tuf.py" "$1" "$CA" "$S/$2" "${guns[@]}"
  cp "$N/expected.tsv" "$CA" "$N/tls/rootkey-ca.crt" "$S/$2/"
}
save_samples "$URL" remote-signer & s1=$!
save_samples "$LOCAL_URL" local-ed25519 & s2=$!
wait "$s1" && wait "$s2" || fail "saving the TUF metadata failed"

log "static server with tampered and garbage metadata"
copy_repo() { # gun -> copies root, timestamp and the checksum-addressed snapshot/targets
  local from="$S/remote-signer/$(tr '/:' '__' <<<"$1")" d="$N/static/v2/$1/_trust/tuf"
  mkdir -p "$d"
  cp "$from/root.json" "$from/timestamp.json" "$from"/snapshot.*.json "$from"/targets.*.json "$d/"
  echo "$d"/targets.*.json
}
# busybox: targets re-signed by nobody: one digit of "expires" changed, name kept.
t=$(copy_repo "$R/busybox")
sed -i 's/"expires":"2/"expires":"3/' "$t"
# busybox-dct: the server answers garbage for timestamp.json.
copy_repo "$R/busybox-dct" >/dev/null
echo '<html><body>502 Bad Gateway</body></html>' >"$N/static/v2/$R/busybox-dct/_trust/tuf/timestamp.json"
start static-https /usr/bin/python3 "$HERE/static-https.py" "$N/static" "${STATIC_ADDR%:*}" \
  "${STATIC_ADDR##*:}" "$N/tls/server.crt" "$N/tls/server.key"
wait_tcp "${STATIC_ADDR##*:}" || fail "static HTTPS server did not start: $(tail -5 "$N/logs/static-https.log")"

cat >>"$DIR/env" <<ENV
STACKCTL_TEST_NOTARY_URL=$URL
STACKCTL_TEST_NOTARY_CA=$CA
STACKCTL_TEST_NOTARY_WRONG_CA=$N/tls/wrong-ca.crt
STACKCTL_TEST_NOTARY_ROOTKEY_CA=$N/tls/rootkey-ca.crt
STACKCTL_TEST_NOTARY_EXPECTED=$N/expected.tsv
STACKCTL_TEST_NOTARY_SAMPLES=$S
STACKCTL_TEST_NOTARY_TAMPERED_URL=https://$STATIC_ADDR
STACKCTL_TEST_NOTARY_DOWN_URL=https://127.0.0.1:4999
ENV
log "ready: $URL"
