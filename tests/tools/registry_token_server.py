#!/usr/bin/env python3
"""A small token server for docker-registry's `auth: token` (the Docker
Registry v2 token authentication flow), for integration tests on loopback.

GET <realm>?service=S&scope=repository:NAME:ACTIONS[&scope=...] with Basic
credentials answers {"token": JWT, ...}. The JWT is ES256; its header carries
`x5c` with the signing certificate, which docker-registry checks against its
`rootcertbundle` (the same certificate), then checks `iss` against its
`issuer`, `aud` against its `service`, exp/nbf, and finally that the token's
`access` grants the action the request needs.

Grants: `pull` on repositories matching a --grant USER=GLOB of the
authenticated user, also `push` and `*` (what a Notary publisher needs) on a
--push-grant USER=GLOB, and `pull` without credentials on an --anonymous-pull
GLOB; other scopes are left out of the token (as real token servers do: the
registry then answers 401 insufficient_scope). Wrong credentials, or none where
no anonymous grant exists: 401 with a Basic challenge. Another service: 400.

Every request is logged to --log as one JSON line (user, service, scopes,
granted access, status), so tests can check what the client asked for.

usage: registry_token_server.py --listen 127.0.0.1:PORT --tls-cert C --tls-key K
         --signing-key EC.pem --signing-cert EC.crt --issuer I --service S
         --users FILE (lines USER:PASSWORD) --grant USER=GLOB ... [--push-grant USER=GLOB ...]
         [--anonymous-pull GLOB ...] --log FILE
"""
import argparse
import base64
import fnmatch
import hmac
import http.server
import json
import os
import ssl
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

TOKEN_LIFETIME = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    def __init__(self, args):
        with open(args.signing_key, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(self.key, ec.EllipticCurvePrivateKey) or self.key.curve.name != "secp256r1":
            sys.exit("--signing-key: ES256 needs an EC P-256 key")
        with open(args.signing_cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        self.issuer, self.service = args.issuer, args.service
        self.users = {}
        with open(args.users) as f:
            for line in f:
                user, sep, password = line.rstrip("\n").partition(":")
                if sep:
                    self.users[user] = password
        self.grants = [g.split("=", 1) for g in args.grant]
        self.push_grants = [g.split("=", 1) for g in args.push_grant]
        self.anonymous_pull = args.anonymous_pull

    def authenticate(self, header):
        """The user whose Basic credentials `header` carries, else None."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        want = self.users.get(user)
        if want is None or not hmac.compare_digest(want.encode(), password.encode()):
            return None
        return user

    def grant(self, user, scopes):
        """The `access` claim: of the actions asked on each repository, those
        the user (None: anonymous) holds."""
        def holds(grants, name):
            return any(u == user and fnmatch.fnmatchcase(name, glob) for u, glob in grants)
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, asked = ":".join(parts[1:-1]), parts[-1].split(",")
            if user is None:
                held = {"pull"} if any(fnmatch.fnmatchcase(name, g) for g in self.anonymous_pull) else set()
            elif holds(self.push_grants, name):
                held = {"pull", "push", "*"}
            else:
                held = {"pull"} if holds(self.grants, name) else set()
            actions = [a for a in asked if a in held]
            if actions:
                access.append({"type": "repository", "name": name, "actions": actions})
        return access

    def token(self, user, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": self.x5c}
        claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + TOKEN_LIFETIME,
                  "nbf": now - 1, "iat": now, "jti": b64url(os.urandom(12)), "access": access}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JWS wants r || s, 32 bytes each
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def main():
    p = argparse.ArgumentParser()
    for name in ("listen", "tls-cert", "tls-key", "signing-key", "signing-cert", "issuer", "service",
                 "users", "log"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--grant", action="append", default=[])
    p.add_argument("--push-grant", action="append", default=[])
    p.add_argument("--anonymous-pull", action="append", default=[])
    args = p.parse_args()
    issuer = Issuer(args)
    log = open(args.log, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, status, body, extra=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            service = query.get("service", [""])[0]
            scopes = [s for scope in query.get("scope", []) for s in scope.split(" ")]
            credentials = self.headers.get("Authorization")
            user = issuer.authenticate(credentials)
            anonymous = credentials is None and bool(issuer.anonymous_pull)
            entry = {"path": url.path, "user": user, "service": service, "scopes": scopes}
            if url.path != "/token":
                status, body, extra = 404, {"errors": [{"code": "NOT_FOUND"}]}, ()
            elif user is None and not anonymous:
                status = 401
                body = {"errors": [{"code": "UNAUTHORIZED", "message": "bad or no credentials"}]}
                extra = [("WWW-Authenticate", 'Basic realm="registry token server"')]
            elif service != issuer.service:
                status, body, extra = 400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]}, ()
            else:
                access = issuer.grant(user, scopes)
                entry["access"] = access
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                token = issuer.token(user or "", access)
                status = 200
                body = {"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME, "issued_at": now}
                extra = ()
            entry["status"] = status
            log.write(json.dumps(entry) + "\n")
            self.reply(status, body, extra)

        def log_message(self, *a):
            pass

    host, port = args.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
