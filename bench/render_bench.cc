// render_bench: generates a compose file with N services (default 1000) and
// times load + convert, printing seconds and peak RSS.
//   render_bench [N]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/file_source.h"
#include "compose/loader.h"
#include "model/from_compose.h"

int main(int argc, char** argv) {
  using namespace stackctl;
  int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::string y = "version: \"3.9\"\nx-common: &common\n  logging: {driver: json-file, options: {max-size: 1m}}\n"
                  "  deploy:\n    replicas: 2\n    update_config: {parallelism: 1, delay: 10s}\n"
                  "    resources: {limits: {cpus: '0.5', memory: 64M}}\nservices:\n";
  for (int i = 0; i < n; ++i) {
    std::string s = "svc" + std::to_string(i);
    y += "  " + s + ":\n    <<: *common\n    image: registry.local/app/" + s + ":${TAG:-1.0}\n" +
         "    command: [\"serve\", \"--port\", \"8080\"]\n    environment: {SERVICE: " + s +
         ", LEVEL: info}\n    labels: [team=core]\n    networks: [front, back]\n" +
         "    ports: [\"" + std::to_string(20000 + i) + ":8080\"]\n    secrets: [db]\n" +
         "    volumes: [\"data:/data\"]\n    healthcheck: {test: [\"CMD\", \"true\"], interval: 5s}\n";
  }
  y += "networks: {front: {}, back: {driver: overlay}}\nvolumes: {data: }\nsecrets: {db: {file: ./db.txt}}\n";
  MemoryFileSource fs;
  fs.Put("docker-compose.yml", y);
  fs.Put("db.txt", "pw");
  auto start = std::chrono::steady_clock::now();
  compose::LoadOptions o;
  o.files = {"docker-compose.yml"};
  o.working_dir = "/srv";
  auto project = compose::LoadProject(o, fs);
  if (!project.ok()) {
    std::fprintf(stderr, "%s\n", project.status().message().c_str());
    return 1;
  }
  auto spec = model::FromCompose(*project, "bench", fs);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.status().message().c_str());
    return 1;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  std::printf("services=%zu yaml_bytes=%zu seconds=%.3f peak_rss_mb=%.1f\n", spec->services.size(), y.size(),
              secs, ru.ru_maxrss / 1024.0);
  return 0;
}
