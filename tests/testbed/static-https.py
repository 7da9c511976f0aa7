#!/usr/bin/python3
# static-https.py ROOT ADDR PORT CERT KEY — serves the files under ROOT over
# HTTPS (a stand-in "notary server" holding tampered or garbage metadata for
# the trust tests; see notary-up.sh). Loopback addresses only.
import http.server
import ssl
import sys

root, addr, port, cert, key = sys.argv[1:6]
if not addr.startswith("127."):
    sys.exit("refusing non-loopback address " + addr)


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer((addr, int(port)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
