#!/usr/bin/env python3
"""bench.py OUT_DIR [--quick] [--sizes 10,100,300] [--reps N] [--replicas R]
                 [--tools docker,docker-local,stackctl] [--parts stacks,render,stackctld,noop,scale]

The benchmark driver; bench/run.sh runs it inside a fresh test bed (it reads
the STACKCTL_TEST_* variables of tests/testbed/up.sh and STACKCTL_BIN_DIR).

1. Stacks of 10, 100 and 300 services (--quick: 10 and 100) with networks,
   secrets, environment, labels and update_config, deployed alternately with
   `docker stack deploy --resolve-image never` (Debian's /usr/bin/docker,
   "docker"; also /usr/local/bin/docker, "docker-local", when the machine has
   one) and `stackctl deploy --detach --resolve-image never`: first deploy, no-op
   redeploy, one-service change, removal (`docker stack rm` / `stackctl rm`).
   Neither waits for tasks (docker cannot). Every Engine API call goes through
   tests/tools/engine_proxy.py, which counts them.
2. `stackctl render` of a 1,000-service file: wall time and peak RSS.
3. `stackctld` managing a 1,000-service stack from a file:// Git repository:
   peak RSS (VmHWM) and RSS once synced; then a commit changing one service and
   a generic HMAC webhook: time from the POST to the first engine write the
   proxy sees.
4. noop: the no-op of 300 services against its floor, all straight on the
   engine's socket (no proxy): `stackctl deploy --resolve-image never`, the
   render alone (`stackctl render`), the four list calls a no-op needs sent at
   once by curl, `docker stack deploy --resolve-image never` (each peer); and the no-op
   with the default resolution (`changed`) of a stack whose image no registry
   knows (local/busybox:1, imported into the engine).
5. scale: `stackctld` with one repository of 50 stacks of 20 services: time
   to sync them all, the Engine API calls of the periodic full check
   (controller.full_check_interval set to 30 s; this part waits for one), CPU
   while idle, RSS, and a
   webhook to the first write for one stack while the other 49 are idle.

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
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOCKER = os.environ.get("STACKCTL_TEST_DOCKER_CLI", "/usr/bin/docker")
# The peers stackctl is compared with: Debian's CLI (or STACKCTL_TEST_DOCKER_CLI)
# always, as "docker"; the newer CLI some machines also have in
# /usr/local/bin (28.2 on the project's machines, the peer issue 19 names) as
# "docker-local" when it exists and is another program. A fresh machine has
# only the first; nothing is claimed against a peer that did not run.
LOCAL_DOCKER = "/usr/local/bin/docker"
PEERS = {"docker": DOCKER}
if (os.path.isfile(LOCAL_DOCKER) and os.access(LOCAL_DOCKER, os.X_OK)
        and os.path.realpath(LOCAL_DOCKER) != os.path.realpath(DOCKER)):
    PEERS["docker-local"] = LOCAL_DOCKER
STACK_CODE = {"docker": "d", "docker-local": "e", "stackctl": "s"}  # in stack names
# The periodic full check of the scale part: the default is 3 minutes; the
# setting (controller.full_check_interval, at least 10 s) makes the wait short.
SCALE_FULL_CHECK_SECONDS = 30
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


def generate_stack(path, n, replicas, gen_of_first=1, image=IMAGE):
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
            "    image: %s" % image,
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
        if self.name in PEERS:
            return [PEERS[self.name], "stack", "deploy", "--resolve-image", "never", "-c", compose, stack]
        return [STACKCTL, "deploy", "--detach", "--resolve-image", "never", "-c", compose, stack]

    def rm(self, stack):
        if self.name in PEERS:
            return [PEERS[self.name], "stack", "rm", stack]
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
            stack = "b%d%s" % (n, STACK_CODE[name])
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


def measure_command(cmd, env=None, timeout=300):
    """Runs cmd; returns (seconds, peak RSS in MiB, returncode, output, CPU seconds).

    The peak RSS is measured by GNU time, which forks cmd from its own small
    process: a child this Python process starts shares (vfork) or copies its
    memory until the exec, and the kernel counts that in the child's
    ru_maxrss, so wait4 here would report at least Python's own RSS (about 30
    MiB, which the render figures up to 2026-12-03 were)."""
    out_path = os.path.join(TESTBED, "bench-cmd.out")
    usage_path = os.path.join(TESTBED, "bench-cmd.usage")
    with open(out_path, "w") as out:
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-o", usage_path, "-f", "%M %U %S", *cmd],
                           stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout)
        dt = time.monotonic() - t0
    with open(out_path) as f:
        text = f.read()
    with open(usage_path) as f:
        # GNU time writes "Command exited with non-zero status N" first when it did.
        kib, user, system = f.read().splitlines()[-1].split()
    return dt, int(kib) / 1024.0, p.returncode, text, float(user) + float(system)


def bench_render(work, reps):
    compose = generate_stack(os.path.join(work, "render1000"), 1000, 1)
    times, rss, cpu = [], [], []
    for _ in range(reps):
        dt, mib, rc, text, cpu_s = measure_command([STACKCTL, "render", "-c", compose, "big"])
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


class Stackctld:
    """A stackctld following one file:// Git repository (branch main, polled
    hourly: webhooks drive it), its engine reached through the proxy, with an
    API token and a generic HMAC webhook secret. `stacks` maps stack name ->
    path in the repository."""

    def __init__(self, work, repo, stacks, proxy, port, full_check_seconds=None):
        self.repo, self.port = repo, port
        ctl = os.path.join(work, "ctl-%d" % port)
        os.makedirs(ctl, exist_ok=True)
        self.token = hashlib.sha256(os.urandom(16)).hexdigest()
        self.secret = hashlib.sha256(os.urandom(16)).hexdigest()
        for name, value in (("api-token", self.token), ("hook-secret", self.secret)):
            with open(os.path.join(ctl, name), "w") as f:
                f.write(value + "\n")
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
%sdefaults: {auto_sync: true, prune: true, self_heal: false, timeout: 10m, rollout: {parallelism: 0}}
stacks:
""" % (proxy.host(), ctl, port, ctl, ctl, repo,
       "controller: {full_check_interval: %ds}\n" % full_check_seconds if full_check_seconds else ""))
            for name, path in sorted(stacks.items()):
                f.write("  - {name: %s, repository: bench, path: %s}\n" % (name, path))
        self.logf = open(os.path.join(TESTBED, "logs", "bench-stackctld-%d.log" % port), "w")
        self.proc = subprocess.Popen([STACKCTLD, "-c", cfg], stdout=self.logf, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        with open(os.path.join(TESTBED, "pids", "bench-stackctld-%d.pid" % port), "w") as f:
            f.write(str(self.pid))

    def api(self, path, data=None, headers=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     headers=headers or {"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()

    def synced(self, names, rev):
        """True when every stack of `names` is Synced at commit `rev`."""
        try:
            _, body = self.api("/api/v1/stacks")
        except OSError:
            return False
        done = {s.get("name") for s in json.loads(body).get("stacks", [])
                if s.get("sync") == "Synced" and s.get("revision", "").startswith(rev[:12])}
        return set(names) <= done

    def wait_synced(self, names, rev, timeout, what):
        deadline = time.monotonic() + timeout
        while not self.synced(names, rev):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("stackctld did not sync %s (see %s)" % (what, self.logf.name))
            time.sleep(0.2)

    def webhook(self, rev):
        body = json.dumps({"repository": "file://" + self.repo, "ref": "refs/heads/main",
                           "commit": rev}).encode()
        sig = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        status, _ = self.api("/hooks/generic", data=body, headers={
            "Content-Type": "application/json", "X-Signature": sig, "X-Event": "push"})
        if status not in (200, 202, 204):
            raise RuntimeError("webhook answered %d" % status)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.logf.close()


def head(repo):
    return subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()


def new_repo(repo, what):
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", what)


def webhook_latencies(d, proxy, repo, stack, regenerate, rounds=(2, 3, 4)):
    """Per round: `regenerate(gen)` changes one service of `stack` in Git, a
    commit, a webhook; once the stack is synced at that commit: the time from
    the POST to the first engine write the proxy saw, to the first service
    write, and the writes made."""
    latencies, update_latencies, writes_made = [], [], []
    for gen in rounds:
        regenerate(gen)
        git(repo, "commit", "-qam", "gen %d" % gen)
        rev = head(repo)
        m = proxy.mark()
        t_post = time.monotonic()
        d.webhook(rev)
        d.wait_synced([stack], rev, 120, stack + " after the webhook")
        lines = proxy.lines_since(m)
        svc_writes = [l for l in lines if l[1] in WRITE_METHODS and "/services/" in l[2]]
        writes = [l for l in lines if l[1] in WRITE_METHODS]
        if not writes:
            raise RuntimeError("no engine write after the webhook")
        latencies.append(writes[0][0] - t_post)
        update_latencies.append(svc_writes[0][0] - t_post if svc_writes else float("nan"))
        writes_made.append(writes)
        log("webhook gen %d: first write %.3fs (%s %s), service write %.3fs, %d writes" %
            (gen, latencies[-1], writes[0][1], writes[0][2], update_latencies[-1], len(writes)))
    return latencies, update_latencies, writes_made


def bench_stackctld(work, proxy, n, replicas):
    repo = os.path.join(work, "repo")
    generate_stack(os.path.join(repo, "big"), n, replicas, 1)
    new_repo(repo, "big stack")
    d = Stackctld(work, repo, {"big": "big"}, proxy, 9190)
    try:
        t0 = time.monotonic()
        d.wait_synced(["big"], head(repo), 600, "%d services" % n)
        first_sync = time.monotonic() - t0
        hwm_sync = proc_status(d.pid, "VmHWM")
        time.sleep(5)
        rss_idle = proc_status(d.pid, "VmRSS")
        log("stackctld %d services: synced in %.1fs, peak %.1f MiB, idle %.1f MiB" %
            (n, first_sync, hwm_sync, rss_idle))
        # One service changes in Git; a generic webhook announces it.
        latencies, update_latencies, _ = webhook_latencies(
            d, proxy, repo, "big", lambda gen: generate_stack(os.path.join(repo, "big"), n, replicas, gen))
        hwm = proc_status(d.pid, "VmHWM")
        rss = proc_status(d.pid, "VmRSS")
        return {"services": n, "first_sync_seconds": first_sync,
                "peak_rss_mib": hwm, "peak_rss_mib_at_first_sync": hwm_sync,
                "rss_mib_idle_after_sync": rss_idle, "rss_mib_end": rss,
                "webhook_to_first_write_seconds": statistics.median(latencies),
                "webhook_to_first_write_all": [round(x, 4) for x in latencies],
                "webhook_to_service_update_seconds": statistics.median(update_latencies)}
    finally:
        d.stop()


def proc_cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_floor(stack):
    """The four list calls a no-op needs (services and configs filtered by the
    stack's label, networks, secrets), sent at once by curl on the engine's
    socket: seconds until the last one has answered."""
    flt = urllib.parse.quote(json.dumps({"label": ["com.docker.stack.namespace=" + stack]}))
    base = "http://localhost/v1.41"
    urls = [base + "/services?filters=" + flt, base + "/networks", base + "/secrets",
            base + "/configs?filters=" + flt]
    t0 = time.monotonic()
    procs = [subprocess.Popen(["curl", "-sSf", "-o", "/dev/null", "--unix-socket", ENGINE_SOCK, u])
             for u in urls]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("curl on the engine socket failed")
    return time.monotonic() - t0


def bench_noop(work, proxy, n, reps, replicas):
    """The no-op of n services against render + engine floor and docker, and
    the default-resolution no-op of an image no registry knows."""
    compose = generate_stack(os.path.join(work, "noop%d" % n), n, replicas)
    local = generate_stack(os.path.join(work, "noop%d-local" % n), n, replicas, image="local/busybox:1")
    direct = dict(os.environ, DOCKER_HOST="unix://" + ENGINE_SOCK)
    direct.pop("DOCKER_TLS_VERIFY", None)
    never, unknown = "n%ds" % n, "n%du" % n
    peer_stack = {peer: "n%d%s" % (n, STACK_CODE[peer]) for peer in PEERS}
    sdeploy = lambda f, st, *extra: [STACKCTL, "deploy", "--detach", *extra, "-c", f, st]
    ddeploy = lambda peer: [PEERS[peer], "stack", "deploy", "--resolve-image", "never", "-c",
                            compose, peer_stack[peer]]
    first = {}
    for peer in PEERS:
        first[peer], _ = run(ddeploy(peer), env=direct)
    first["stackctl"], _ = run(sdeploy(compose, never, "--resolve-image", "never"), env=direct)
    first["stackctl, default resolution, unknown image"], p = run(sdeploy(local, unknown), env=direct)
    unknown_warnings = [l for l in p.stdout.splitlines() if "could not be pinned" in l]
    times = {k: [] for k in [peer + " no-op" for peer in PEERS] + [
        "stackctl no-op", "render", "engine floor",
        "stackctl no-op, default resolution, unknown image"]}
    for rep in range(reps):
        steps = [(peer + " no-op", lambda peer=peer: run(ddeploy(peer), env=direct)[0])
                 for peer in PEERS] + [
            ("stackctl no-op", lambda: run(sdeploy(compose, never, "--resolve-image", "never"),
                                           env=direct)[0]),
            ("render", lambda: render_seconds(compose, never)),
            ("engine floor", lambda: engine_floor(never)),
            ("stackctl no-op, default resolution, unknown image",
             lambda: run(sdeploy(local, unknown), env=direct)[0]),
        ]
        for name, step in (steps if rep % 2 == 0 else list(reversed(steps))):
            times[name].append(step())
        log("no-op %d, rep %d: %s" % (n, rep + 1, ", ".join(
            "%s %.3fs" % (k, v[-1]) for k, v in times.items())))
    # The calls of the default-resolution no-op, once, through the proxy.
    viaproxy = dict(os.environ, DOCKER_HOST=proxy.host())
    viaproxy.pop("DOCKER_TLS_VERIFY", None)
    m = proxy.mark()
    run(sdeploy(local, unknown), env=viaproxy)
    unknown_calls = [l[1] + " " + l[2] for l in proxy.lines_since(m)]
    for st in (never, unknown):
        run([STACKCTL, "rm", st], env=direct)
    for peer in PEERS:
        run([PEERS[peer], "stack", "rm", peer_stack[peer]], env=direct)
    for st in [never, unknown] + list(peer_stack.values()):
        wait_gone(st)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "services": n, "reps": reps,
        "first_deploy_seconds": first,
        "first_deploy_unknown_image_warnings": unknown_warnings,
        "median_seconds": med,
        "seconds": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "render_plus_floor_seconds": med["render"] + med["engine floor"],
        "stretch_limit_seconds": max(med["render"], med["engine floor"]) + 0.015,
        "noop_vs_peer": {peer: med[peer + " no-op"] / med["stackctl no-op"] for peer in PEERS},
        "first_deploy_vs_peer": {peer: first[peer] / first["stackctl"] for peer in PEERS},
        "unknown_image_noop_vs_never_noop":
            med["stackctl no-op, default resolution, unknown image"] / med["stackctl no-op"],
        "unknown_image_noop_calls": unknown_calls,
    }


def render_seconds(compose, stack):
    t0 = time.monotonic()
    p = subprocess.run([STACKCTL, "render", "-c", compose, stack], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("stackctl render failed:\n" + p.stderr[-2000:])
    return time.monotonic() - t0


def bench_scale(work, proxy, n_stacks, n_services, replicas):
    """stackctld with n_stacks stacks of n_services services in one repository."""
    repo = os.path.join(work, "scale-repo")
    names = {"st%02d" % i: "st%02d" % i for i in range(n_stacks)}
    for path in names.values():
        generate_stack(os.path.join(repo, path), n_services, replicas, 1)
    new_repo(repo, "%d stacks" % n_stacks)
    m_start = proxy.mark()
    d = Stackctld(work, repo, names, proxy, 9191, full_check_seconds=SCALE_FULL_CHECK_SECONDS)
    try:
        t0 = time.monotonic()
        d.wait_synced(names, head(repo), 900, "%d stacks" % n_stacks)
        first_sync = time.monotonic() - t0
        sync_calls = len(proxy.lines_since(m_start))
        hwm_sync = proc_status(d.pid, "VmHWM")
        log("stackctld %d x %d: synced in %.1fs (%d engine calls), peak %.1f MiB" %
            (n_stacks, n_services, first_sync, sync_calls, hwm_sync))
        # Idle until the periodic full check (SCALE_FULL_CHECK_SECONDS after
        # the start) has run and everything is quiet again; CPU and proxy
        # lines sampled.
        time.sleep(5)
        m_idle = proxy.mark()
        t_idle, cpu_idle = time.monotonic(), proc_cpu_seconds(d.pid)
        rss_idle = proc_status(d.pid, "VmRSS")
        samples = []  # (time, cpu, lines so far)
        deadline = t_idle + SCALE_FULL_CHECK_SECONDS + 120
        check_seen_at = None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            lines = proxy.lines_since(m_idle)
            samples.append((time.monotonic(), proc_cpu_seconds(d.pid), len(lines)))
            if lines and check_seen_at is None:
                check_seen_at = time.monotonic()
            if check_seen_at is not None and time.monotonic() - check_seen_at > 10:
                break
        if check_seen_at is None:
            raise RuntimeError("no periodic full check within %d s of the first sync" %
                               (SCALE_FULL_CHECK_SECONDS + 120))
        check_lines = proxy.lines_since(m_idle)
        # CPU before the check started (the last sample without a line) and of the check.
        before = [sm for sm in samples if sm[2] == 0]
        t_before, cpu_before = before[-1][:2] if before else (t_idle, cpu_idle)
        t_end, cpu_end = samples[-1][:2]
        idle_cpu_per_min = (cpu_before - cpu_idle) / (t_before - t_idle) * 60
        check_cpu = cpu_end - cpu_before
        rss_after_check = proc_status(d.pid, "VmRSS")
        log("idle %.0fs: %.3f CPU s/min; full check: %d calls (%s), %.3f CPU s; RSS %.1f MiB" %
            (t_before - t_idle, idle_cpu_per_min, len(check_lines),
             ", ".join(l[1] + " " + l[2].split("?")[0] for l in check_lines), check_cpu,
             rss_after_check))

        # One stack changes in Git while the others are idle.
        changed = "st07"
        latencies, update_latencies, writes = webhook_latencies(
            d, proxy, repo, changed,
            lambda gen: generate_stack(os.path.join(repo, changed), n_services, replicas, gen))
        others = sorted({w[2] for ws in writes for w in ws if changed not in w[2]})
        hwm = proc_status(d.pid, "VmHWM")
        return {
            "stacks": n_stacks, "services_per_stack": n_services, "replicas": replicas,
            "full_check_interval_seconds": SCALE_FULL_CHECK_SECONDS,
            "first_sync_seconds": first_sync, "first_sync_engine_calls": sync_calls,
            "full_check_engine_calls": len(check_lines),
            "full_check_requests": [l[1] + " " + l[2] for l in check_lines],
            "full_check_cpu_seconds": check_cpu,
            "idle_seconds_measured": t_before - t_idle,
            "idle_cpu_seconds_per_minute": idle_cpu_per_min,
            "peak_rss_mib": hwm, "peak_rss_mib_at_first_sync": hwm_sync,
            "rss_mib_idle": rss_idle, "rss_mib_after_full_check": rss_after_check,
            "webhook_to_first_write_seconds": statistics.median(latencies),
            "webhook_to_first_write_all": [round(x, 4) for x in latencies],
            "webhook_to_service_update_seconds": statistics.median(update_latencies),
            "webhook_writes_not_naming_the_stack": others,
        }
    finally:
        d.stop()


def fmt_s(x):
    return "%.3f" % x if x < 10 else "%.1f" % x


def table(results):
    peers = results["peers"]
    rows = ["Peers: " + "; ".join("%s = `%s` (%s)" % (p, v["cli"], v["version"])
                                  for p, v in peers.items()) + "\n",
            "| services | operation | peer | peer s | stackctl s | speed-up | peer calls (writes) "
            "| stackctl calls (writes) |", "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for n, s in results["stacks"].items():
        for op, peer in [(op, peer) for op in OPS for peer in peers if peer in s]:
            d, c = s.get(peer, {}).get(op), s.get("stackctl", {}).get(op)
            cell = lambda r: fmt_s(r["median_seconds"]) if r else "–"
            calls = lambda r: "%g (%g)" % (r["median_calls"], r["median_writes"]) if r else "–"
            ratio = ("%.1f×" % (d["median_seconds"] / c["median_seconds"])
                     if d and c and c["median_seconds"] else "–")
            rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                n, op, peer, cell(d), cell(c), ratio, calls(d), calls(c)))
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
    if "noop" in results:
        r = results["noop"]
        m = r["median_seconds"]
        n = r["services"]
        extra.append("| no-op, %d services, `never` (median of %d) | %.3f s |" %
                     (n, r["reps"], m["stackctl no-op"]))
        extra.append("| render (`stackctl render`) + engine floor (4 list calls at once, curl) "
                     "| %.3f + %.3f = %.3f s (stretch: %.3f s) |" %
                     (m["render"], m["engine floor"], r["render_plus_floor_seconds"],
                      r["stretch_limit_seconds"]))
        for peer in r["noop_vs_peer"]:
            extra.append("| `%s stack deploy` no-op, %d services | %.3f s (stackctl %.1f× faster) |" %
                         (peer, n, m[peer + " no-op"], r["noop_vs_peer"][peer]))
        extra.append("| no-op, default resolution, image no registry knows | %.3f s (%.2f× the "
                     "`never` no-op; %d engine calls) |" %
                     (m["stackctl no-op, default resolution, unknown image"],
                      r["unknown_image_noop_vs_never_noop"], len(r["unknown_image_noop_calls"])))
        f = r["first_deploy_seconds"]
        for peer in r["first_deploy_vs_peer"]:
            extra.append("| first deploy, %d services (one each): `%s` / stackctl `never` "
                         "| %.3f / %.3f s (%.1f×) |" %
                         (n, peer, f[peer], f["stackctl"], r["first_deploy_vs_peer"][peer]))
        extra.append("| first deploy, %d services: stackctl default resolution, unknown image "
                     "| %.3f s |" % (n, f["stackctl, default resolution, unknown image"]))
    if "scale" in results:
        r = results["scale"]
        what = "`stackctld`, %d stacks × %d services" % (r["stacks"], r["services_per_stack"])
        extra.append("| %s: first sync | %.1f s (%d engine calls) |" %
                     (what, r["first_sync_seconds"], r["first_sync_engine_calls"]))
        extra.append("| %s: engine calls of the periodic full check (every %d s) | %d (%.3f CPU s) |" %
                     (what, r["full_check_interval_seconds"], r["full_check_engine_calls"],
                      r["full_check_cpu_seconds"]))
        extra.append("| %s: CPU while idle | %.4f s per minute (over %.0f s) |" %
                     (what, r["idle_cpu_seconds_per_minute"], r["idle_seconds_measured"]))
        extra.append("| %s: peak RSS (VmHWM) / RSS idle / after the full check | "
                     "%.1f / %.1f / %.1f MiB |" %
                     (what, r["peak_rss_mib"], r["rss_mib_idle"], r["rss_mib_after_full_check"]))
        extra.append("| %s: webhook → first write, one stack, 49 idle (median of 3) | %.3f s "
                     "(first service update %.3f s) |" %
                     (what, r["webhook_to_first_write_seconds"],
                      r["webhook_to_service_update_seconds"]))
    if extra:
        out += "\n| measurement | value |\n| --- | ---: |\n" + "\n".join(extra) + "\n"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=0)
    ap.add_argument("--tools", default=",".join(list(PEERS) + ["stackctl"]),
                    help="peers (docker, docker-local when /usr/local/bin/docker exists) and "
                         "stackctl, alternating; default: all of them")
    ap.add_argument("--parts", default="stacks,render,stackctld,noop,scale",
                    help="comma-separated subset of stacks,render,stackctld,noop,scale")
    ap.add_argument("--sizes", default=None, help="stack sizes of the stacks part (10,100,300)")
    a = ap.parse_args()
    unknown_tools = set(a.tools.split(",")) - set(PEERS) - {"stackctl"}
    if unknown_tools:
        ap.error("--tools: unknown %s (known here: %s)" % (
            ", ".join(sorted(unknown_tools)), ", ".join(list(PEERS) + ["stackctl"])))
    sizes = [10, 100] if a.quick else [10, 100, 300]
    if a.sizes:
        sizes = [int(x) for x in a.sizes.split(",")]
    work = os.path.join(TESTBED, "bench")
    os.makedirs(work, exist_ok=True)
    os.makedirs(os.path.join(TESTBED, "pids"), exist_ok=True)
    proxy = Proxy(work)
    results = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0]},  # shared machine
        "peers": {p: {"cli": cli, "version": subprocess.run(
            [cli, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()}
            for p, cli in PEERS.items()},
        "replicas": a.replicas, "reps": a.reps, "quick": a.quick, "parts": a.parts,
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
        if "noop" in parts:
            results["noop"] = bench_noop(work, proxy, 300, max(a.reps, 5), a.replicas)
        if "scale" in parts:
            results["scale"] = bench_scale(work, proxy, 50, 20, a.replicas)
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
