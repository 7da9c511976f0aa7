#!/usr/bin/env python3
"""bench.py OUT_DIR [--quick] [--reps N] [--replicas R] [--tools docker,stackctl]
                 [--parts stacks,render,stackctld]

The benchmark driver; bench/run.sh runs it inside a fresh test bed (it reads
the STACKCTL_TEST_* variables of tests/testbed/up.sh and STACKCTL_BIN_DIR).

1. Stacks of 10, 100 and 300 services (--quick: 10 and 100) with networks,
   secrets, environment, labels and update_config, deployed alternately with
   `docker stack deploy --resolve-image never` (Debian's /usr/bin/docker) and
   `stackctl deploy --detach --resolve-image never`: first deploy, no-op
   redeploy, one-service change, removal (`docker stack rm` / `stackctl rm`).
   Neither waits for tasks (docker cannot). Every Engine API call goes through
   tests/tools/engine_proxy.py, which counts them.
2. `stackctl render` of a 1,000-service file: wall time and peak RSS.
3. `stackctld` managing a 1,000-service stack from a file:// Git repository:
   peak RSS (VmHWM) and RSS once synced; then a commit changing one service and
   a generic HMAC webhook: time from the POST to the first engine write the
   proxy sees.

Writes OUT_DIR/results.json and OUT_DIR/results.md (the table) and prints the
table. Every wait is bounded; a missed bound is reported as a failure.
"""
import argparse
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOCKER = os.environ.get("STACKCTL_TEST_DOCKER_CLI", "/usr/bin/docker")
BIN = os.environ["STACKCTL_BIN_DIR"]
STACKCTL = os.path.join(BIN, "stackctl")
STACKCTLD = os.path.join(BIN, "stackctld")
TESTBED = os.environ["STACKCTL_TESTBED"]
ENGINE_SOCK = os.path.join(TESTBED, "docker.sock")
IMAGE = os.environ.get("STACKCTL_TEST_IMAGE", "127.0.0.1:5000/busybox:1")
WRITE_METHODS = ("POST", "PUT", "DELETE")


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class Proxy:
    """engine_proxy.py between the tools and dockerd; counts request lines."""

    def __init__(self, work):
        self.sock = os.path.join(work, "proxy.sock")
        self.log = os.path.join(work, "proxy.log")
        env = dict(os.environ, ENGINE_PROXY_TIMES="1")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests/tools/engine_proxy.py"), self.sock,
             ENGINE_SOCK, self.log], env=env)
        with open(os.path.join(TESTBED, "pids", "bench-proxy.pid"), "w") as f:
            f.write(str(self.proc.pid))
        for _ in range(100):
            if os.path.exists(self.sock) and os.path.exists(self.log):
                return
            time.sleep(0.05)
        raise RuntimeError("engine proxy did not start")

    def host(self):
        return "unix://" + self.sock

    def mark(self):
        return os.path.getsize(self.log)

    def lines_since(self, mark):
        with open(self.log) as f:
            f.seek(mark)
            out = []
            for line in f.read().splitlines():
                t, method, path = line.split(" ", 2)
                out.append((float(t), method, path))
            return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run(cmd, env=None, check=True, timeout=600):
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    dt = time.monotonic() - t0
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stdout[-3000:]))
    return dt, p


def direct_docker(*args):
    return subprocess.run([DOCKER, "-H", "unix://" + ENGINE_SOCK] + list(args), check=True,
                          stdout=subprocess.PIPE, text=True, timeout=120).stdout


def generate_stack(path, n, replicas, gen_of_first=1):
    """A compose file of n services; service 0's BENCH_GEN is gen_of_first."""
    nets = max(1, min(5, n // 50))
    os.makedirs(path, exist_ok=True)
    out = ['version: "3.8"', "networks:"]
    for k in range(nets):
        out.append("  net%d: {driver: overlay, labels: {com.example.bench: \"net%d\"}}" % (k, k))
    out.append("secrets:")
    for k in range(3):
        with open(os.path.join(path, "s%d.txt" % k), "w") as f:
            f.write("bench secret %d\n" % k)
        out.append("  s%d: {file: ./s%d.txt}" % (k, k))
    out.append("services:")
    for i in range(n):
        gen = gen_of_first if i == 0 else 1
        out += [
            "  svc%04d:" % i,
            "    image: %s" % IMAGE,
            "    command: [\"sleep\", \"86400\"]",
            "    environment:",
            "      BENCH_INDEX: \"%d\"" % i,
            "      BENCH_GEN: \"%d\"" % gen,
            "      LOG_LEVEL: info",
            "    labels: {com.example.tier: bench, com.example.index: \"%d\"}" % i,
            "    networks: [net%d]" % (i % nets),
            "    secrets: [s%d]" % (i % 3),
            "    deploy:",
            "      replicas: %d" % replicas,
            "      labels: {com.example.service: svc%04d}" % i,
            "      update_config: {parallelism: 1, delay: 1s, order: start-first, "
            "failure_action: rollback}",
            "      restart_policy: {condition: any, delay: 5s}",
        ]
    f = os.path.join(path, "docker-compose.yml")
    with open(f, "w") as fh:
        fh.write("\n".join(out) + "\n")
    return f


def wait_gone(stack, timeout=120):
    """Waits until no service, network, secret or config of the stack is left."""
    label = "label=com.docker.stack.namespace=" + stack
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = (direct_docker("service", "ls", "-q", "--filter", label).split() +
                direct_docker("network", "ls", "-q", "--filter", label).split() +
                direct_docker("secret", "ls", "-q", "--filter", label).split())
        if not left:
            return
        time.sleep(0.5)
    raise RuntimeError("stack %s not removed after %ds" % (stack, timeout))


class Tool:
    def __init__(self, name, proxy):
        self.name = name
        self.env = dict(os.environ, DOCKER_HOST=proxy.host())
        self.env.pop("DOCKER_TLS_VERIFY", None)

    def deploy(self, compose, stack):
        if self.name == "docker":
            return [DOCKER, "stack", "deploy", "--resolve-image", "never", "-c", compose, stack]
        return [STACKCTL, "deploy", "--detach", "--resolve-image", "never", "-c", compose, stack]

    def rm(self, stack):
        if self.name == "docker":
            return [DOCKER, "stack", "rm", stack]
        return [STACKCTL, "rm", stack]


def measure(proxy, tool, cmd):
    m = proxy.mark()
    dt, _ = run(cmd, env=tool.env)
    lines = proxy.lines_since(m)
    writes = [l for l in lines if l[1] in WRITE_METHODS]
    return {"seconds": dt, "calls": len(lines), "writes": len(writes)}


OPS = ["first deploy", "no-op redeploy", "one-service change", "removal"]


def bench_size(proxy, work, n, reps, replicas, tools):
    base = generate_stack(os.path.join(work, "stack%d-a" % n), n, replicas, 1)
    changed = generate_stack(os.path.join(work, "stack%d-b" % n), n, replicas, 2)
    results = {t: {op: [] for op in OPS} for t in tools}
    for rep in range(reps):
        order = tools if rep % 2 == 0 else list(reversed(tools))
        for name in order:
            tool = Tool(name, proxy)
            stack = "b%d%s" % (n, name[0])
            r = results[name]
            r["first deploy"].append(measure(proxy, tool, tool.deploy(base, stack)))
            r["no-op redeploy"].append(measure(proxy, tool, tool.deploy(base, stack)))
            r["one-service change"].append(measure(proxy, tool, tool.deploy(changed, stack)))
            got = direct_docker("service", "inspect", stack + "_svc0000", "--format",
                                "{{json .Spec.TaskTemplate.ContainerSpec.Env}}")
            if "BENCH_GEN=2" not in got:
                raise RuntimeError("%s: change not applied: %s" % (name, got))
            r["removal"].append(measure(proxy, tool, tool.rm(stack)))
            wait_gone(stack)
            log("%4d services, rep %d, %-8s: %s" % (n, rep + 1, name, ", ".join(
                "%s %.2fs/%d calls" % (op, r[op][-1]["seconds"], r[op][-1]["calls"]) for op in OPS)))
    summary = {}
    for name, ops in results.items():
        summary[name] = {}
        for op, runs in ops.items():
            summary[name][op] = {
                "median_seconds": statistics.median(x["seconds"] for x in runs),
                "seconds": [round(x["seconds"], 4) for x in runs],
                "median_calls": statistics.median(x["calls"] for x in runs),
                "median_writes": statistics.median(x["writes"] for x in runs),
            }
    return summary


def wait4_rss(cmd, env=None, timeout=300):
    """Runs cmd; returns (seconds, peak RSS in MiB, returncode, output, CPU seconds)."""
    out_path = os.path.join(TESTBED, "bench-cmd.out")
    with open(out_path, "w") as out:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path) as f:
        text = f.read()
    return dt, ru.ru_maxrss / 1024.0, p.returncode, text, ru.ru_utime + ru.ru_stime


def bench_render(work, reps):
    compose = generate_stack(os.path.join(work, "render1000"), 1000, 1)
    times, rss, cpu = [], [], []
    for _ in range(reps):
        dt, mib, rc, text, cpu_s = wait4_rss([STACKCTL, "render", "-c", compose, "big"])
        cpu.append(cpu_s)
        if rc != 0:
            raise RuntimeError("stackctl render failed:\n" + text[-2000:])
        times.append(dt)
        rss.append(mib)
        if "svc0999" not in text:
            raise RuntimeError("stackctl render output lacks svc0999")
    log("render 1000: %.3fs (CPU %.3fs), %.1f MiB" %
        (statistics.median(times), statistics.median(cpu), max(rss)))
    return {"services": 1000, "median_seconds": statistics.median(times),
            "median_cpu_seconds": statistics.median(cpu),
            "seconds": [round(t, 4) for t in times], "peak_rss_mib": max(rss)}


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def git(repo, *args):
    subprocess.run(["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
                   + list(args), check=True, stdout=subprocess.DEVNULL, timeout=60)


def bench_stackctld(work, proxy, n, replicas):
    repo = os.path.join(work, "repo")
    generate_stack(os.path.join(repo, "big"), n, replicas, 1)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "big stack")
    ctl = os.path.join(work, "ctl")
    os.makedirs(ctl, exist_ok=True)
    token = hashlib.sha256(os.urandom(16)).hexdigest()
    secret = hashlib.sha256(os.urandom(16)).hexdigest()
    for name, value in (("api-token", token), ("hook-secret", secret)):
        with open(os.path.join(ctl, name), "w") as f:
            f.write(value + "\n")
    port = 9190
    cfg = os.path.join(ctl, "stackctld.yml")
    with open(cfg, "w") as f:
        f.write("""engine: {host: "%s"}
state_dir: %s/state
log: {level: info, format: text}
http: {listen: "127.0.0.1:%d", api_token_file: %s/api-token}
webhooks:
  generic: {secret_file: %s/hook-secret}
repositories:
  - {name: bench, url: "file://%s", branch: main, poll_interval: 1h}
defaults: {auto_sync: true, prune: true, self_heal: false, timeout: 10m, rollout: {parallelism: 0}}
stacks:
  - {name: big, repository: bench, path: big}
""" % (proxy.host(), ctl, port, ctl, ctl, repo))
    logf = open(os.path.join(TESTBED, "logs", "bench-stackctld.log"), "w")
    d = subprocess.Popen([STACKCTLD, "-c", cfg], stdout=logf, stderr=subprocess.STDOUT)
    with open(os.path.join(TESTBED, "pids", "bench-stackctld.pid"), "w") as f:
        f.write(str(d.pid))

    def api(path, data=None, headers=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                     headers=headers or {"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()

    def synced(rev):
        try:
            _, body = api("/api/v1/stacks")
        except OSError:
            return False
        for s in json.loads(body).get("stacks", []):
            if s.get("name") == "big" and s.get("sync") == "Synced" and \
                    s.get("revision", "").startswith(rev[:12]):
                return True
        return False

    def head():
        return subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], check=True,
                              stdout=subprocess.PIPE, text=True).stdout.strip()

    try:
        rev = head()
        t0 = time.monotonic()
        deadline = t0 + 600
        while not synced(rev):
            if d.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("stackctld did not sync %d services (see %s)" % (n, logf.name))
            time.sleep(0.5)
        first_sync = time.monotonic() - t0
        hwm_sync = proc_status(d.pid, "VmHWM")
        time.sleep(5)
        rss_idle = proc_status(d.pid, "VmRSS")
        log("stackctld %d services: synced in %.1fs, peak %.1f MiB, idle %.1f MiB" %
            (n, first_sync, hwm_sync, rss_idle))

        # One service changes in Git; a generic webhook announces it.
        latencies, update_latencies = [], []
        for gen in (2, 3, 4):
            generate_stack(os.path.join(repo, "big"), n, replicas, gen)
            git(repo, "commit", "-qam", "svc0000 gen %d" % gen)
            rev = head()
            body = json.dumps({"repository": "file://" + repo, "ref": "refs/heads/main",
                               "commit": rev}).encode()
            sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            m = proxy.mark()
            t_post = time.monotonic()
            status, _ = api("/hooks/generic", data=body, headers={
                "Content-Type": "application/json", "X-Signature": sig, "X-Event": "push"})
            if status not in (200, 202, 204):
                raise RuntimeError("webhook answered %d" % status)
            deadline = time.monotonic() + 120
            while not synced(rev):
                if time.monotonic() > deadline:
                    raise RuntimeError("stackctld did not sync after the webhook")
                time.sleep(0.2)
            lines = proxy.lines_since(m)
            writes = [l for l in lines if l[1] in WRITE_METHODS]
            svc_writes = [l for l in writes if "/services/" in l[2]]
            if not writes:
                raise RuntimeError("no engine write after the webhook")
            latencies.append(writes[0][0] - t_post)
            update_latencies.append(svc_writes[0][0] - t_post if svc_writes else float("nan"))
            log("webhook gen %d: first write %.3fs (%s %s), service write %.3fs, %d writes" %
                (gen, latencies[-1], writes[0][1], writes[0][2], update_latencies[-1],
                 len(writes)))
        hwm = proc_status(d.pid, "VmHWM")
        rss = proc_status(d.pid, "VmRSS")
        return {"services": n, "first_sync_seconds": first_sync,
                "peak_rss_mib": hwm, "peak_rss_mib_at_first_sync": hwm_sync,
                "rss_mib_idle_after_sync": rss_idle, "rss_mib_end": rss,
                "webhook_to_first_write_seconds": statistics.median(latencies),
                "webhook_to_first_write_all": [round(x, 4) for x in latencies],
                "webhook_to_service_update_seconds": statistics.median(update_latencies)}
    finally:
        d.terminate()
        try:
            d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.kill()
        logf.close()


def fmt_s(x):
    return "%.3f" % x if x < 10 else "%.1f" % x


def table(results):
    rows = ["| services | operation | docker s | stackctl s | speed-up | docker calls (writes) "
            "| stackctl calls (writes) |", "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for n, s in results["stacks"].items():
        for op in OPS:
            d, c = s.get("docker", {}).get(op), s.get("stackctl", {}).get(op)
            cell = lambda r: fmt_s(r["median_seconds"]) if r else "–"
            calls = lambda r: "%g (%g)" % (r["median_calls"], r["median_writes"]) if r else "–"
            ratio = ("%.1f×" % (d["median_seconds"] / c["median_seconds"])
                     if d and c and c["median_seconds"] else "–")
            rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                n, op, cell(d), cell(c), ratio, calls(d), calls(c)))
    out = "\n".join(rows) + "\n"
    extra = []
    if "render" in results:
        r = results["render"]
        extra.append("| `stackctl render`, 1,000 services | %.3f s wall, %.3f s CPU, peak RSS %.1f MiB |" %
                     (r["median_seconds"], r["median_cpu_seconds"], r["peak_rss_mib"]))
    if "stackctld" in results:
        d = results["stackctld"]
        extra.append("| `stackctld`, %d services: first sync | %.1f s |" %
                     (d["services"], d["first_sync_seconds"]))
        extra.append("| `stackctld` peak RSS (VmHWM) / RSS idle after sync | %.1f MiB / %.1f MiB |" %
                     (d["peak_rss_mib"], d["rss_mib_idle_after_sync"]))
        extra.append("| webhook → first engine write (median of 3) | %.3f s |" %
                     d["webhook_to_first_write_seconds"])
        extra.append("| webhook → first service update (median of 3) | %.3f s |" %
                     d["webhook_to_service_update_seconds"])
    if extra:
        out += "\n| measurement | value |\n| --- | ---: |\n" + "\n".join(extra) + "\n"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=0)
    ap.add_argument("--tools", default="docker,stackctl",
                    help="docker,stackctl (both, alternating) or one of them")
    ap.add_argument("--parts", default="stacks,render,stackctld",
                    help="comma-separated subset of stacks,render,stackctld")
    a = ap.parse_args()
    sizes = [10, 100] if a.quick else [10, 100, 300]
    work = os.path.join(TESTBED, "bench")
    os.makedirs(work, exist_ok=True)
    os.makedirs(os.path.join(TESTBED, "pids"), exist_ok=True)
    proxy = Proxy(work)
    results = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0]},  # shared machine
        "docker_cli": subprocess.run([DOCKER, "--version"], stdout=subprocess.PIPE,
                                     text=True).stdout.strip(),
        "replicas": a.replicas, "reps": a.reps, "quick": a.quick,
        "stackctl_mode": "deploy --detach (no waiting, like docker)",
        "stacks": {},
    }
    try:
        parts = a.parts.split(",")
        for n in sizes if "stacks" in parts else []:
            log("%d services" % n)
            results["stacks"][str(n)] = bench_size(proxy, work, n, a.reps, a.replicas,
                                                   a.tools.split(","))
        if "render" in parts:
            results["render"] = bench_render(work, a.reps)
        if "stackctld" in parts:
            results["stackctld"] = bench_stackctld(work, proxy, 1000, a.replicas)
    finally:
        proxy.stop()
    results["machine"]["loadavg_end"] = os.getloadavg()[0]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    t = table(results)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(t)
    print(t)


if __name__ == "__main__":
    main()
