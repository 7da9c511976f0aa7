#!/usr/bin/env python3
"""engine_proxy.py LISTEN_SOCK TARGET_SOCK LOG_FILE

A counting proxy for the Docker Engine API on unix sockets: every HTTP request
a client sends through LISTEN_SOCK is forwarded to TARGET_SOCK unchanged and
its request line ("POST /v1.41/services/create") is appended to LOG_FILE, one
per line, so tests and benchmarks can count exactly which Engine API calls a
command made. Responses (including streams) are piped back untouched.
With ENGINE_PROXY_TIMES=1 each line starts with the CLOCK_MONOTONIC time the
request line arrived ("12345.678901 POST /v1.41/services/create"), so a
benchmark can time "event -> first engine write" against its own clock.
With ENGINE_PROXY_FAULTS=FILE, FILE (re-read on every request, so a test can
switch faults on and off while a command runs) holds lines
"METHOD REGEX STATUS": a request whose method matches and whose target
matches REGEX (re.search) is not forwarded; the proxy answers STATUS with a
JSON error body itself, and logs the line with " -> STATUS injected".
With ENGINE_PROXY_BODIES=1 each line is instead a JSON object
{"req": "METHOD TARGET", "body": <the request's JSON body, or null>}, written
once the whole body has arrived (tests/tools/make-compose-golden.sh records
what the docker CLI sends this way).
SIGUSR1 cuts every connection open at that moment (both sides shut down, as
a dropped network link or a dockerd restart would end them, the events
stream included) and logs "CUT N connections"; new connections are served
as before. Stops on SIGTERM.
"""
import json
import os
import re
import signal
import socket
import sys
import threading
import time

listen_path, target_path, log_path = sys.argv[1:4]
log_lock = threading.Lock()
open_lock = threading.Lock()
open_socks = set()  # client and engine sockets of the connections being served
with_times = os.environ.get("ENGINE_PROXY_TIMES") == "1"
with_bodies = os.environ.get("ENGINE_PROXY_BODIES") == "1"


def log_body(method, target, body):
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    log(json.dumps({"req": method + " " + target, "body": parsed}))


def log(line):
    if with_times:
        line = "%.6f %s" % (time.monotonic(), line)
    with log_lock, open(log_path, "a") as f:
        f.write(line + "\n")


faults_path = os.environ.get("ENGINE_PROXY_FAULTS")


def injected_status(method, target):
    """The status to answer instead of forwarding, or None."""
    if not faults_path:
        return None
    try:
        with open(faults_path) as f:
            rules = [l.split() for l in f if l.strip() and not l.startswith("#")]
    except OSError:
        return None
    for rule in rules:
        if len(rule) == 3 and rule[0] == method and re.search(rule[1], target):
            return int(rule[2])
    return None


def fault_response(status):
    body = b'{"message":"engine_proxy: injected fault"}'
    return (b"HTTP/1.1 %d Injected\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (status, len(body))) + body


class Discard:
    def sendall(self, data):
        pass


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def read_until(sock, buf, marker):
    while marker not in buf:
        data = sock.recv(65536)
        if not data:
            return None, buf
        buf += data
    i = buf.index(marker) + len(marker)
    return buf[:i], buf[i:]


def client_to_engine(client, engine):
    """Parses requests (headers + Content-Length or chunked body) to log them."""
    buf = b""
    try:
        while True:
            head, buf = read_until(client, buf, b"\r\n\r\n")
            if head is None:
                break
            lines = head.split(b"\r\n")
            request_line = lines[0].decode("latin-1")
            method, target = request_line.split(" ")[:2]
            status = injected_status(method, target)
            body = bytearray()
            if status is None:
                if not with_bodies:
                    log(method + " " + target)
                out = engine
            else:
                log("%s %s -> %d injected" % (method, target, status))
                out = Discard()
            out.sendall(head)
            headers = {}
            for l in lines[1:]:
                if b":" in l:
                    k, v = l.split(b":", 1)
                    headers[k.strip().lower()] = v.strip()
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                while True:
                    size_line, buf = read_until(client, buf, b"\r\n")
                    if size_line is None:
                        return
                    out.sendall(size_line)
                    size = int(size_line.strip().split(b";")[0], 16)
                    need = size + 2
                    while len(buf) < need:
                        data = client.recv(65536)
                        if not data:
                            return
                        buf += data
                    out.sendall(buf[:need])
                    body += buf[:size]
                    buf = buf[need:]
                    if size == 0:
                        break
            else:
                length = int(headers.get(b"content-length", b"0"))
                while len(buf) < length:
                    data = client.recv(65536)
                    if not data:
                        return
                    buf += data
                out.sendall(buf[:length])
                body += buf[:length]
                buf = buf[length:]
            if status is None and with_bodies:
                log_body(method, target, bytes(body))
            if status is not None:
                client.sendall(fault_response(status))
    except (OSError, ValueError):
        pass
    finally:
        try:
            engine.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def handle(client):
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        engine.connect(target_path)
    except OSError:
        client.close()
        return
    with open_lock:
        open_socks.update((client, engine))
    t = threading.Thread(target=pipe, args=(engine, client), daemon=True)
    t.start()
    client_to_engine(client, engine)
    t.join()
    with open_lock:
        open_socks.difference_update((client, engine))
    client.close()
    engine.close()


def cut_all(*_):
    with open_lock:
        socks = list(open_socks)
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    log("CUT %d connections" % (len(socks) // 2))


def main():
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen_path)
    srv.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGUSR1, cut_all)
    open(log_path, "a").close()
    while True:
        client, _ = srv.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()


main()
