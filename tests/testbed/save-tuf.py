#!/usr/bin/python3
# save-tuf.py URL CA OUT GUN... — saves the raw TUF metadata of each GUN as the
# notary server at URL (HTTPS, certificate checked against CA) serves it, in
# the layout the Notary tests read (testing::SampleSource, src/notary/test_support.h):
#   OUT/<GUN with '/' and ':' as '_'>/
#     root.json, 1.root.json .. N.root.json (every root version), timestamp.json,
#     timestamp.key, and for snapshot, targets and every delegation named in
#     the snapshot: <role>.json and <role>.<sha256 hex>.json (the checksum
#     name the client asks for; delegations below <role>/ directories).
# A GUN without trust data (root.json: 404) gets an empty directory. Checks
# that every checksum-named file hashes to its name. One keep-alive
# connection for everything (notary-up.sh calls it once per server).
import base64
import hashlib
import http.client
import json
import os
import ssl
import sys
import urllib.parse


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: save-tuf.py URL CA OUT GUN...")
    url, ca, out, guns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    u = urllib.parse.urlsplit(url)
    if u.scheme != "https" or not (u.hostname or "").startswith("127."):
        sys.exit("save-tuf: " + url + " is not an https:// loopback URL")
    conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=30,
                                       context=ssl.create_default_context(cafile=ca))

    def get(gun, name):
        """The body of /v2/GUN/_trust/tuf/NAME, or None on 404."""
        conn.request("GET", "/v2/%s/_trust/tuf/%s" % (gun, name))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 404:
            return None
        if resp.status != 200:
            sys.exit("save-tuf: %s/%s: HTTP %d" % (gun, name, resp.status))
        return body

    for gun in guns:
        d = os.path.join(out, gun.replace("/", "_").replace(":", "_"))
        os.makedirs(d, exist_ok=True)

        def save(name, body):
            if body is None:
                sys.exit("save-tuf: %s: %s: HTTP 404" % (gun, name))
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
            return body

        def save_addressed(role, file_meta):
            """<role>.json and <role>.<hex>.json, the hex taken from `file_meta`."""
            hexsum = base64.b64decode(file_meta["hashes"]["sha256"]).hex()
            body = save("%s.%s.json" % (role, hexsum), get(gun, "%s.%s.json" % (role, hexsum)))
            if hashlib.sha256(body).hexdigest() != hexsum:
                sys.exit("save-tuf: %s: %s.%s.json does not hash to its name" % (gun, role, hexsum))
            save(role + ".json", get(gun, role + ".json"))
            return body

        root = get(gun, "root.json")
        if root is None:
            continue
        save("root.json", root)
        for v in range(1, json.loads(root)["signed"]["version"] + 1):
            save("%d.root.json" % v, get(gun, "%d.root.json" % v))
        timestamp = save("timestamp.json", get(gun, "timestamp.json"))
        save("timestamp.key", get(gun, "timestamp.key"))
        snapshot = save_addressed("snapshot", json.loads(timestamp)["signed"]["meta"]["snapshot"])
        for role, meta in sorted(json.loads(snapshot)["signed"]["meta"].items()):
            if role != "root":
                save_addressed(role, meta)


if __name__ == "__main__":
    main()
