#!/usr/bin/env python3
"""Independent SOPS document generator for stackctl's tests.

Written from the SOPS file format (getsops/sops: stores, aes/cipher.go,
sops.go), with no stackctl code involved: the data key is wrapped by the
real `age` CLI, values are encrypted with python3-cryptography's AES-GCM.

usage: sops_gen.py --age AGE --recipient age1... --format yaml|json|dotenv|binary
                   --input TREE.json|DATA --output OUT [--lastmodified TS]
                   [--unencrypted-suffix S | --encrypted-suffix S |
                    --unencrypted-regex R | --encrypted-regex R]
                   [--mac-only-encrypted] [--tamper-value KEY] [--bad-mac]
                   [--sops-yaml-style]

TREE.json is the plaintext document as JSON (key order kept). For the binary
format, --input is any file and its bytes become the "data" value.
--tamper-value flips one ciphertext byte of the top-level key KEY after the
MAC is computed; --bad-mac computes the MAC over one extra byte.
YAML strings are double-quoted unless --sops-yaml-style, which writes them as
sops does (go-yaml v3): plain where that reads back as the same string, and
multi-line strings (the armored age stanza) as literal blocks.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAC_ONLY_ENCRYPTED_INIT = bytes([
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69])


def to_bytes(v):
    """sops.ToBytes: the bytes a value contributes to the MAC."""
    if isinstance(v, bool):
        return b"True" if v else b"False"
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, float):
        return repr(v).encode()  # shortest round-trip; fine for the values we use
    if isinstance(v, bytes):
        return v
    return v.encode()


def type_name(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    return "str"


def enc_value(key, plaintext, aad, typ):
    iv = os.urandom(32)
    sealed = AESGCM(key).encrypt(iv, plaintext, aad.encode())
    ct, tag = sealed[:-16], sealed[-16:]
    b64 = lambda b: base64.b64encode(b).decode()
    return "ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:%s]" % (b64(ct), b64(iv), b64(tag), typ)


def should_encrypt(path, rules):
    enc = True
    if rules.get("unencrypted_suffix"):
        if any(p.endswith(rules["unencrypted_suffix"]) for p in path):
            enc = False
    if rules.get("encrypted_suffix"):
        enc = any(p.endswith(rules["encrypted_suffix"]) for p in path)
    if rules.get("unencrypted_regex"):
        if any(re.search(rules["unencrypted_regex"], p) for p in path):
            enc = False
    if rules.get("encrypted_regex"):
        enc = any(re.search(rules["encrypted_regex"], p) for p in path)
    return enc


def walk(v, path, key, rules, mac):
    if isinstance(v, dict):
        return {k: walk(x, path + [k], key, rules, mac) for k, x in v.items()}
    if isinstance(v, list):
        return [walk(x, path, key, rules, mac) for x in v]
    if v is None:
        return None
    enc = should_encrypt(path, rules)
    if not rules.get("mac_only_encrypted") or enc:
        mac.update(to_bytes(v))
    if not enc or v == "":
        return v
    return enc_value(key, to_bytes(v), ":".join(path) + ":", type_name(v))


def yaml_emit(v, style, indent=0):
    """Minimal block YAML; strings as yaml_string writes them in `style`."""
    pad = "  " * indent
    out = []
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                out.append("%s%s:" % (pad, k))
                out.extend(yaml_emit(x, style, indent + 1))
            else:
                out.append("%s%s: %s" % (pad, k, yaml_scalar(x, style, indent + 1)))
    else:
        for x in v:
            if isinstance(x, (dict, list)) and x:
                sub = yaml_emit(x, style, indent + 1)
                out.append("%s- %s" % (pad, sub[0].lstrip()))
                out.extend(sub[1:])
            else:
                out.append("%s- %s" % (pad, yaml_scalar(x, style, indent + 1)))
    return out


def yaml_scalar(x, style, indent):
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, (dict, list)):
        return "{}" if isinstance(x, dict) else "[]"
    return yaml_string(x, style, indent)


# Plain scalars that YAML 1.1 or 1.2 would read as null, a bool, a number
# (decimal, hex, octal, base 60, .inf, .nan) or a timestamp, so go-yaml quotes
# them when they are strings.
NOT_A_PLAIN_STRING = re.compile(
    r"~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
    r"|on|On|ON|off|Off|OFF"
    r"|[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)"
    r"|[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9_]+)([eE][-+]?[0-9]+)?"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?")


def yaml_string(s, style, indent):
    """A YAML string: double-quoted, or in sops' style (plain or literal block)."""
    if style != "sops":
        return json.dumps(s)
    if "\n" in s:
        # A literal block keeps every character but trailing line breaks: "|"
        # ends with one, "|-" with none; anything else stays double-quoted.
        body = s[:-1] if s.endswith("\n") else s
        lines = body.split("\n")
        if (not body.endswith("\n") and body.replace("\n", "").isprintable()
                and not lines[0].startswith(" ") and all(l == l.rstrip() for l in lines)):
            pad = "  " * indent
            return ("|" if s.endswith("\n") else "|-") + "".join(
                "\n" + (pad + l if l else "") for l in lines)
        return json.dumps(s)
    plain = (s and s == s.strip() and s.isprintable() and s[0] not in "-?:,[]{}#&*!|>'\"%@`"
             and ": " not in s and " #" not in s and not s.endswith(":")
             and not NOT_A_PLAIN_STRING.fullmatch(s))
    return s if plain else json.dumps(s)


def flatten(prefix, v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            flatten(prefix + "__map_" + k, x, out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            flatten(prefix + "__list_%d" % i, x, out)
    else:
        out[prefix] = v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--age", required=True)
    ap.add_argument("--recipient", required=True)
    ap.add_argument("--format", required=True, choices=["yaml", "json", "dotenv", "binary"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--lastmodified", default="2026-11-22T12:00:00Z")
    for r in ["unencrypted-suffix", "encrypted-suffix", "unencrypted-regex", "encrypted-regex"]:
        ap.add_argument("--" + r)
    ap.add_argument("--mac-only-encrypted", action="store_true")
    ap.add_argument("--tamper-value")
    ap.add_argument("--bad-mac", action="store_true")
    ap.add_argument("--sops-yaml-style", action="store_true")
    a = ap.parse_args()

    if a.format == "binary":
        with open(a.input, "rb") as f:
            tree = {"data": f.read()}
    else:
        with open(a.input) as f:
            tree = json.load(f)
    rules = {k: getattr(a, k) for k in
             ["unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex"]
             if getattr(a, k)}
    if not rules:
        rules["unencrypted_suffix"] = "_unencrypted"  # sops' default
    if a.mac_only_encrypted:
        rules["mac_only_encrypted"] = True

    key = os.urandom(32)
    wrapped = subprocess.run([a.age, "-a", "-r", a.recipient], input=key,
                             capture_output=True, check=True).stdout.decode()
    mac = hashlib.sha512()
    if a.mac_only_encrypted:
        mac.update(MAC_ONLY_ENCRYPTED_INIT)
    enc_tree = walk(tree, [], key, rules, mac)
    if a.format == "binary":
        enc_tree["data"] = enc_tree["data"]  # already an ENC[...] string (type str)
    if a.bad_mac:
        mac.update(b"x")
    mac_hex = mac.hexdigest().upper()
    if a.tamper_value:
        v = enc_tree[a.tamper_value]
        m = re.match(r"ENC\[AES256_GCM,data:([^,]*),(.*)$", v)
        data = bytearray(base64.b64decode(m.group(1)))
        data[0] ^= 1
        enc_tree[a.tamper_value] = "ENC[AES256_GCM,data:%s,%s" % (
            base64.b64encode(bytes(data)).decode(), m.group(2))

    meta = {"age": [{"recipient": a.recipient, "enc": wrapped}],
            "lastmodified": a.lastmodified,
            "mac": enc_value(key, mac_hex.encode(), a.lastmodified, "str")}
    for k, v in rules.items():
        meta[k] = "true" if v is True else v
    meta["version"] = "3.10.2"

    with open(a.output, "w") as f:
        if a.format == "yaml":
            doc = dict(enc_tree)
            doc["sops"] = meta
            style = "sops" if a.sops_yaml_style else "quoted"
            f.write("\n".join(yaml_emit(doc, style)) + "\n")
        elif a.format in ("json", "binary"):
            doc = dict(enc_tree)
            doc["sops"] = meta
            f.write(json.dumps(doc, indent=4) + "\n")
        else:
            lines = ["%s=%s" % (k, str(v).replace("\n", "\\n")) for k, v in enc_tree.items()]
            flat = {}
            flatten("sops", {k: v for k, v in meta.items()}, flat)
            flat = {k.replace("sops__map_", "sops_", 1): v for k, v in flat.items()}
            for k in sorted(flat):
                lines.append("%s=%s" % (k, str(flat[k]).replace("\n", "\\n")))
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
