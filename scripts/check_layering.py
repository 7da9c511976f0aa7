#!/usr/bin/env python3
"""check_layering.py SRC_DIR: fail when a module includes a header it may not.

Each directory under SRC_DIR is one module (docs/architecture.md, "Layers").
LAYERS below says which other modules each one may include; a module absent
from a list may not be included at all. Some edges are narrower than a whole
module (ONLY_HEADERS): the controller implements the HTTP server's
ControllerApi and sees nothing else of the server. Tests (*_test.cc) and
fuzzers (fuzz_*.cc) may also include what TEST_EXTRA lists.

Prints one line per forbidden include, "path:line: module X may not include
Y (...)", and exits 1; exits 0 when none is found. Run by ctest (label unit).
"""
import os
import re
import sys

# module -> modules it may include (besides itself). Order = layer order.
LAYERS = {
    "common": set(),
    "compose": {"common"},
    "dab": {"common"},
    "model": {"common", "compose", "dab"},
    "engineapi": {"common"},
    "secrets": {"common", "model"},
    "notary": {"common", "engineapi"},
    "render": {"common", "compose", "dab", "model", "secrets"},
    "gitsource": {"common"},
    # Commit statuses and notifications; told by the controller what happened.
    "notify": {"common", "gitsource"},
    "reconciler": {"common", "model", "engineapi", "notary"},
    # One stack's reconcile, shared by stackctld and `stackctl deploy`/`diff`.
    "stacksync": {"common", "model", "compose", "dab", "engineapi", "secrets", "notary", "render", "reconciler"},
    "config": {"common", "gitsource", "notary", "notify", "reconciler"},
    # The HTTP server: knows neither the configuration file nor Git.
    "server": {"common", "reconciler"},
    "apiclient": {"common"},
    "controller": {"common", "config", "engineapi", "gitsource", "notary", "notify", "reconciler",
                   "render", "secrets", "server", "stacksync"},
    "cli": {"common", "model", "compose", "dab", "engineapi", "secrets", "notary", "render",
            "gitsource", "notify", "reconciler", "stacksync", "config", "server", "apiclient", "controller"},
}

# (module, included module) -> the only headers of it that may be included.
ONLY_HEADERS = {
    ("controller", "server"): {"server/controller_api.h"},
}

# Extra edges for tests and fuzzers only.
TEST_EXTRA = {
    "apiclient": {"server"},  # the client is tested against the real server
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/([^"]+)"')


def is_test(name):
    return name.endswith("_test.cc") or name.startswith("fuzz_")


def check(src):
    errors = []
    modules = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    for module in modules:
        if module not in LAYERS:
            errors.append(f"{os.path.join(src, module)}: module {module} is not in the layer table "
                          f"of {os.path.basename(__file__)}")
            continue
        for root, _, files in os.walk(os.path.join(src, module)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(root, name)
                allowed = LAYERS[module] | (TEST_EXTRA.get(module, set()) if is_test(name) else set())
                with open(path, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target, header = m.group(1), m.group(1) + "/" + m.group(2)
                        if target == module or target not in LAYERS:
                            continue  # own headers; not a module (e.g. a system path)
                        if target not in allowed:
                            errors.append(f"{path}:{lineno}: module {module} may not include {header} "
                                          f"({module} may include: {', '.join(sorted(allowed)) or 'nothing'})")
                        elif (module, target) in ONLY_HEADERS and header not in ONLY_HEADERS[(module, target)]:
                            only = ", ".join(sorted(ONLY_HEADERS[(module, target)]))
                            errors.append(f"{path}:{lineno}: module {module} may not include {header} "
                                          f"(of {target} only {only})")
    return errors


def main():
    if len(sys.argv) != 2:
        print("usage: check_layering.py SRC_DIR", file=sys.stderr)
        return 2
    errors = check(sys.argv[1])
    for e in errors:
        print(e)
    if errors:
        print(f"layering: {len(errors)} forbidden include(s)")
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
