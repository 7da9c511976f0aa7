#!/usr/bin/env bash
# End-to-end test of `stackctl secrets check`: files encrypted by the real age
# CLI; checks the exact report lines and exit codes, and that the plaintext
# never appears in the output.
# usage: cli_check_test.sh STACKCTL AGE AGE_KEYGEN
set -euo pipefail
STACKCTL=$1 AGE=$2 KEYGEN=$3
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d"
"$KEYGEN" -o key.txt 2>/dev/null
"$KEYGEN" -o other.txt 2>/dev/null
pub=$(grep -o 'age1[a-z0-9]*' key.txt)
printf 'hello' >plain.txt
"$AGE" -r "$pub" -o db.age plain.txt
"$AGE" -a -r "$pub" -o db.asc plain.txt
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$(env -u SOPS_AGE_KEY_FILE -u SOPS_AGE_KEY HOME="$d" "$STACKCTL" secrets check \
  --age-identity other.txt --age-identity key.txt db.age db.asc plain.txt) || fail "exit $?"
want="OK   db.age: age, 5 bytes, sha256:2cf24dba5fb0
OK   db.asc: age, 5 bytes, sha256:2cf24dba5fb0
OK   plain.txt: plain, 5 bytes, sha256:2cf24dba5fb0"
[[ $out == "$want" ]] || fail "got: $out"

set +e
out=$(env -u SOPS_AGE_KEY -u SOPS_AGE_KEY_FILE HOME="$d" "$STACKCTL" secrets check \
  --age-identity other.txt db.age 2>&1)
rc=$?
set -e
[[ $rc == 1 ]] || fail "exit $rc, want 1"
[[ $out == "FAIL db.age: no identity matched any of the file's recipients" ]] || fail "got: $out"

# SOPS_AGE_KEY_FILE is honoured; a bad identity file is exit 2.
out=$(SOPS_AGE_KEY_FILE=key.txt HOME="$d" "$STACKCTL" secrets check db.age) || fail "exit $?"
[[ $out == "OK   db.age: age, 5 bytes, sha256:2cf24dba5fb0" ]] || fail "got: $out"
set +e
HOME="$d" "$STACKCTL" secrets check --age-identity plain.txt db.age >/dev/null 2>&1
rc=$?
set -e
[[ $rc == 2 ]] || fail "exit $rc, want 2"
echo PASS
