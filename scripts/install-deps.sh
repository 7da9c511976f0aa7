#!/usr/bin/env bash
# Installs every Debian 12 package stackctl needs to build, test, benchmark and
# run its demo. Idempotent: does nothing (no apt-get update) when all are there.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl jq python3 procps iproute2 openssl
  libyaml-cpp-dev libyaml-dev libgit2-dev libcpp-httplib-dev libcurl4-openssl-dev nlohmann-json3-dev libssl-dev
  libspdlog-dev libcli11-dev googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  docker.io docker-registry notary lighttpd lighttpd-mod-openssl fcgiwrap age prometheus busybox-static
  python3-cryptography  # secrets tests: an independent SOPS document generator
  faketime  # notary integration tests: an expired timestamp seen through a later wall clock
  openssh-server  # gitsource integration tests: an ssh:// Git remote on loopback
  zlib1g-dev
  chromium chromium-driver  # dashboard integration test: headless Chromium driven over WebDriver
  apache2-utils  # registry auth integration test: htpasswd -B writes the bcrypt file of docker-registry's htpasswd auth
  time  # benchmark: GNU time measures a command's own peak RSS (bench/bench.py wait4_rss)
  socat  # demo: forwards the dashboard from the demo's network namespace to this machine's loopback
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
