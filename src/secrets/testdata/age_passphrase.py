#!/usr/bin/env python3
"""Drives the real `age` CLI through a pseudo-terminal to answer its
passphrase prompts (age reads passphrases only from a TTY).

usage: age_passphrase.py PASSPHRASE age -p [-a] -o OUT IN
"""
import os
import pty
import sys


def main():
    passphrase = sys.argv[1].encode()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    seen = b""
    answered = 0
    while True:
        try:
            data = os.read(fd, 1024)
        except OSError:
            break
        if not data:
            break
        seen += data
        # age asks for the passphrase, then for its confirmation.
        while seen.count(b"passphrase") > answered and answered < 2:
            os.write(fd, passphrase + b"\n")
            answered += 1
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
