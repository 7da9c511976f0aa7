// engine_calls: Engine API calls per second through DockerEngine, the figure
// behind "connection reuse" in docs/benchmarks.md.
//
// Usage: engine_calls HOST [TLS_DIR] [SECONDS]
//   HOST     tcp://127.0.0.1:2376 (with TLS_DIR: ca.pem, client-cert.pem,
//            client-key.pem, as the test bed writes them) or unix:///x.sock
//   SECONDS  how long each measurement runs (default 5)
// Prints, for GET /_ping (the smallest call) and GET /services (the read a
// no-op deploy starts with; the bed's swarm holds few services), calls/s from one thread and from 8 threads at
// once (what a wave of service writes does), one line each:
//   ping     threads=1  calls=1234  failures=0  seconds=5.00  calls_per_s=246.8
// Run it inside the test bed (tests/testbed/exec.sh DIR build/bench/engine_calls ...).
//
// Thread safety: n/a (a program).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engineapi/docker_engine.h"

namespace {

using stackctl::engine::DockerEngine;

// Runs `call` from `threads` threads for `seconds`; prints and returns calls/s.
void Measure(const char* name, int threads, double seconds, const std::function<bool()>& call) {
  std::atomic<long> calls{0}, failures{0};
  std::atomic<bool> stop{false};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      while (!stop) (call() ? calls : failures)++;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%-8s threads=%d  calls=%ld  failures=%ld  seconds=%.2f  calls_per_s=%.1f\n", name, threads,
              calls.load(), failures.load(), elapsed, calls / elapsed);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: engine_calls HOST [TLS_DIR] [SECONDS]\n");
    return 2;
  }
  stackctl::engine::ClientConfig config;
  config.host = argv[1];
  if (argc > 2 && argv[2][0] != '\0') {
    std::string dir = argv[2];
    config.tls = true;
    config.ca_file = dir + "/ca.pem";
    config.cert_file = dir + "/client-cert.pem";
    config.key_file = dir + "/client-key.pem";
  }
  double seconds = argc > 3 ? std::atof(argv[3]) : 5.0;
  auto engine = DockerEngine::Create(config);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().ToString().c_str());
    return 1;
  }
  DockerEngine& e = **engine;
  if (auto st = e.Ping(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  auto ping = [&] { return e.Ping().ok(); };
  auto services = [&] { return e.ListServices({}, false).ok(); };
  for (int threads : {1, 8}) {
    Measure("ping", threads, seconds, ping);
    Measure("services", threads, seconds, services);
  }
  return 0;
}
