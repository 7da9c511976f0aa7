#include "compose/loader.h"

#include <gtest/gtest.h>

namespace stackctl::compose {
namespace {

Result<Project> Load(std::map<std::string, std::string> files, std::vector<std::string> order = {},
                     std::map<std::string, std::string> env = {}) {
  MemoryFileSource fs(std::move(files));
  LoadOptions o;
  o.files = order.empty() ? std::vector<std::string>{"docker-compose.yml"} : order;
  o.env = std::move(env);
  o.working_dir = "/srv/app";
  return LoadProject(o, fs);
}

std::string Error(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  auto p = Load({{"docker-compose.yml", yaml}}, {}, env);
  return p.ok() ? "OK" : p.status().message();
}

TEST(LoaderTest, NormalizesShortSyntaxes) {
  auto p = Load({{"docker-compose.yml", R"(
version: "3.9"
services:
  web:
    image: nginx
    command: sh -c 'echo "a b"'
    environment: [A=1, B]
    labels: [x=y, z]
    ports: ["8080:80", "9000-9001:9000-9001/udp", 53]
    volumes: ["data:/data:ro", "./conf:/etc/conf", "~/x:/x"]
    secrets: [s]
    networks: [n]
    ulimits: {nofile: 100}
    healthcheck: {test: curl x}
volumes: {data: }
secrets: {s: {file: ./s.txt}}
networks: {n: }
)"}}, {}, {{"B", "from-env"}, {"HOME", "/home/u"}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  const Json s = p->services.at("web").Unpack();
  EXPECT_EQ(s["command"], Json::parse(R"(["sh","-c","echo \"a b\""])"));
  EXPECT_EQ(s["environment"], Json::parse(R"({"A":"1","B":"from-env"})"));
  EXPECT_EQ(s["labels"], Json::parse(R"({"x":"y","z":""})"));
  EXPECT_EQ(s["ports"], Json::parse(R"([
    {"target":80,"published":8080,"protocol":"tcp","mode":"ingress"},
    {"target":9000,"published":9000,"protocol":"udp","mode":"ingress"},
    {"target":9001,"published":9001,"protocol":"udp","mode":"ingress"},
    {"target":53,"protocol":"tcp","mode":"ingress"}])"));
  EXPECT_EQ(s["volumes"], Json::parse(R"([
    {"type":"volume","source":"data","target":"/data","read_only":true},
    {"type":"bind","source":"/srv/app/conf","target":"/etc/conf"},
    {"type":"bind","source":"/home/u/x","target":"/x"}])"));
  EXPECT_EQ(s["secrets"], Json::parse(R"([{"source":"s"}])"));
  EXPECT_EQ(s["networks"], Json::parse(R"({"n":null})"));
  EXPECT_EQ(s["ulimits"], Json::parse(R"({"nofile":{"soft":100,"hard":100}})"));
  EXPECT_EQ(s["healthcheck"]["test"], Json::parse(R"(["CMD-SHELL","curl x"])"));
  EXPECT_EQ(p->secrets["s"]["file"], "s.txt");
}

struct MergeRow {
  std::string name, base, over, path;
  Json want;
};

TEST(LoaderTest, MergeTable) {
  const MergeRow rows[] = {
      {"command replaced", "command: [a, b]", "command: [c]", "command", Json::parse(R"(["c"])")},
      {"environment merged", "environment: {A: 1, B: 1}", "environment: [B=2, C=3]", "environment",
       Json::parse(R"({"A":"1","B":"2","C":"3"})")},
      {"ports keyed by published", "ports: ['8080:80', '8443:443']", "ports: ['8080:8080']", "ports",
       Json::parse(R"([{"target":8080,"published":8080,"protocol":"tcp","mode":"ingress"},
                       {"target":443,"published":8443,"protocol":"tcp","mode":"ingress"}])")},
      {"volumes keyed by target", "volumes: ['/b:/b', '/a:/a']", "volumes: ['/c:/b:ro']", "volumes",
       Json::parse(R"([{"type":"bind","source":"/a","target":"/a"},
                       {"type":"bind","source":"/c","target":"/b","read_only":true}])")},
      {"dns appended", "dns: 1.1.1.1", "dns: [8.8.8.8]", "dns", Json::parse(R"(["1.1.1.1","8.8.8.8"])")},
      {"deploy merged", "deploy: {replicas: 1, labels: {a: b}}", "deploy: {replicas: 3, labels: {c: d}}",
       "deploy", Json::parse(R"({"replicas":3,"labels":{"a":"b","c":"d"}})")},
      {"logging options merged", "logging: {driver: json-file, options: {a: 1}}",
       "logging: {options: {b: 2}}", "logging",
       Json::parse(R"({"driver":"json-file","options":{"a":"1","b":"2"}})")},
      {"logging driver change replaces", "logging: {driver: json-file, options: {a: 1}}",
       "logging: {driver: syslog}", "logging", Json::parse(R"({"driver":"syslog"})")},
      {"image overridden", "", "image: y", "image", "y"},
  };
  for (const auto& r : rows) {
    auto p = Load({{"a.yml", "version: '3.9'\nservices:\n  s:\n    image: x\n    " + r.base + "\n"},
                   {"b.yml", "version: '3.9'\nservices:\n  s:\n    " + r.over + "\n"}},
                  {"a.yml", "b.yml"});
    ASSERT_TRUE(p.ok()) << r.name << ": " << p.status().message();
    EXPECT_EQ(p->services.at("s").Unpack()[r.path], r.want) << r.name;
  }
}

TEST(LoaderTest, BadInputClasses) {
  EXPECT_EQ(Error("version: '2.4'\nservices: {}\n"),
            "docker-compose.yml:1:1: version: unsupported Compose file version: 2.4 (supported: 3.0 to 3.13)");
  EXPECT_EQ(Error("version: '3.14'\nservices: {}\n"),
            "docker-compose.yml:1:1: version: unsupported Compose file version: 3.14 (supported: 3.0 to 3.13)");
  EXPECT_EQ(Error("version: '3.09'\nservices: {}\n"),
            "docker-compose.yml:1:1: version: unsupported Compose file version: 3.09 (supported: 3.0 to 3.13)");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    imag: y\n"),
            "docker-compose.yml:3:3: services.a: additional property imag is not allowed (allowed: "
            "build, cap_add, cap_drop, cgroup_parent, cgroupns_mode, command, configs, container_name, "
            "credential_spec, "
            "depends_on, deploy, devices, dns, dns_search, domainname, entrypoint, env_file, environment, "
            "expose, external_links, extra_hosts, healthcheck, hostname, image, init, ipc, isolation, "
            "labels, links, logging, mac_address, network_mode, networks, pid, ports, privileged, "
            "read_only, restart, secrets, security_opt, shm_size, stdin_open, stop_grace_period, "
            "stop_signal, sysctls, tmpfs, tty, ulimits, user, userns_mode, volumes, working_dir)");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    deploy: {replicas: two}\n"),
            "docker-compose.yml:5:14: services.a.deploy.replicas: failed to cast to expected type: "
            "invalid syntax for an integer: \"two\"");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: [x]\n"),
            "docker-compose.yml:4:5: services.a.image: must be a string, not list");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    stop_grace_period: 10x\n"),
            "docker-compose.yml:5:5: services.a.stop_grace_period: invalid duration \"10x\" (use a number "
            "with a unit, like \"10s\" or \"1m30s\")");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    deploy:\n      resources:\n"
                  "        limits: {memory: 12 apples}\n"),
            "docker-compose.yml:7:18: services.a.deploy.resources.limits.memory: invalid size \"12 apples\" "
            "(use a number with an optional unit b, k, m or g)");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    secrets: [nope]\n"),
            "docker-compose.yml:5:15: services.a.secrets.0: undefined secret \"nope\"");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    configs: [nope]\n"),
            "docker-compose.yml:5:15: services.a.configs.0: undefined config \"nope\"");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    ports: ['80:80', '80:81']\n"),
            "docker-compose.yml:5:22: services.a.ports.1: duplicate published port 80/tcp");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: ${IMG:?set IMG}\n"),
            "docker-compose.yml:4:5: services.a.image: required variable IMG is missing a value: set IMG");
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    deploy: {mode: global, replicas: 2}\n"),
            "docker-compose.yml:5:28: services.a.deploy.replicas: replicas can only be used with replicated mode");
  // Every error is reported, not only the first.
  EXPECT_EQ(Error("version: '3.9'\nservices:\n  a:\n    image: x\n    tty: 3\n  b:\n    imag: x\n"),
            "docker-compose.yml:5:5: services.a.tty: must be a boolean, not integer 3\n"
            "docker-compose.yml:6:3: services.b: additional property imag is not allowed (allowed: "
            "build, cap_add, cap_drop, cgroup_parent, cgroupns_mode, command, configs, container_name, "
            "credential_spec, "
            "depends_on, deploy, devices, dns, dns_search, domainname, entrypoint, env_file, environment, "
            "expose, external_links, extra_hosts, healthcheck, hostname, image, init, ipc, isolation, "
            "labels, links, logging, mac_address, network_mode, networks, pid, ports, privileged, "
            "read_only, restart, secrets, security_opt, shm_size, stdin_open, stop_grace_period, "
            "stop_signal, sysctls, tmpfs, tty, ulimits, user, userns_mode, volumes, working_dir)");
}

TEST(LoaderTest, WarnsAboutUnsupportedKeysAndKeepsDependsOn) {
  auto p = Load({{"docker-compose.yml",
                  "version: '3.9'\nservices:\n  a:\n    image: x\n    build: .\n    restart: always\n"
                  "    depends_on: [b]\n  b:\n    image: y\n"}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->warnings, std::vector<std::string>{"Ignoring unsupported options: build, restart"});
  EXPECT_EQ(p->services.at("a").Unpack()["depends_on"], Json::parse(R"(["b"])"));
}

// The keys docker/cli added after 3.9 (schemas 3.10-3.13 of docker 28.x), each
// from its version on; no version (and "3") means the newest, as in docker 28.
TEST(LoaderTest, KeysOfNewerFormatVersionsFromTheirVersionOn) {
  const std::string svc = "services:\n  a:\n    image: x\n";
  EXPECT_EQ(Error("version: '3.12'\n" + svc + "    oom_score_adj: 1\n"),
            "docker-compose.yml:3:3: services.a: additional property oom_score_adj is not allowed in version 3.12 "
            "(needs 3.13 or later)");
  EXPECT_EQ(Error("version: '3.11'\n" + svc + "    healthcheck: {start_interval: 1s}\n"),
            "docker-compose.yml:5:5: services.a.healthcheck: additional property start_interval is not allowed "
            "in version 3.11 (needs 3.12 or later)");
  EXPECT_EQ(Error("version: '3.10'\n" + svc + "    build: {context: ., no_cache: true}\n"),
            "docker-compose.yml:5:5: services.a.build: additional property no_cache is not allowed (allowed: "
            "context, dockerfile, args, labels, cache_from, network, target, shm_size, extra_hosts)");
  EXPECT_EQ(Error("version: '3.13'\n" + svc + "    healthcheck: {start_interval: soon}\n"),
            "docker-compose.yml:5:19: services.a.healthcheck.start_interval: invalid duration \"soon\" (use a "
            "number with a unit, like \"10s\" or \"1m30s\")");
  for (const std::string version : {"version: '3.13'\n", "version: '3'\n", ""}) {
    auto p = Load({{"docker-compose.yml",
                    version + svc + "    cgroupns_mode: host\n    oom_score_adj: -10\n"
                    "    build: {context: ., no_cache: true}\n"
                    "    healthcheck: {test: [CMD, 'true'], start_interval: 1s}\n"
                    "    networks: {n: {driver_opts: {mtu: 1400}}}\nnetworks: {n: {}}\n"}});
    ASSERT_TRUE(p.ok()) << version << p.status().message();
    EXPECT_EQ(p->warnings,
              (std::vector<std::string>{
                  "Ignoring unsupported options: build, cgroupns_mode",
                  "services.a.oom_score_adj: ignored (ContainerSpec.OomScoreAdj needs Engine API 1.46; stackctl "
                  "speaks 1.41)",
                  "services.a.healthcheck.start_interval: ignored (HealthConfig.StartInterval needs Engine API "
                  "1.44; stackctl speaks 1.41)"}))
        << version;
  }
}

// Services are checked one at a time and the rest of the file as a tree: the
// findings of each stage still come in the order of the file's keys, and a
// stage counts only when the stages before it found nothing.
TEST(LoaderTest, ReportsEachStageInTheOrderOfTheFilesKeys) {
  EXPECT_EQ(Error(R"(
version: "3.9"
configs: {c: {file: "${BAD"}}
services:
  a: {image: "${A:?needs A}", bogus: 1}
  b: {image: busybox, deploy: {replicas: "x"}}
volumes: {v: {driver: "${OOPS"}}
)"),
            "docker-compose.yml:3:15: configs.c.file: invalid interpolation format \"${BAD\"\n"
            "docker-compose.yml:5:7: services.a.image: required variable A is missing a value: needs A\n"
            "docker-compose.yml:6:32: services.b.deploy.replicas: failed to cast to expected type: "
            "invalid syntax for an integer: \"x\"\n"
            "docker-compose.yml:7:15: volumes.v.driver: invalid interpolation format \"${OOPS\"");
  EXPECT_EQ(Error(R"(
version: "3.6"
networks: {n: {driver: 1}}
services:
  a: {image: busybox, init: true}
  b: {image: busybox, env_file: missing.env}
x-ok: 1
volumes: {v: []}
)"),
            "docker-compose.yml:3:16: networks.n.driver: must be a string, not integer 1\n"
            "docker-compose.yml:5:3: services.a: additional property init is not allowed in version 3.6 "
            "(needs 3.7 or later)\n"
            "docker-compose.yml:8:11: volumes.v: must be a mapping or null, not list");
  EXPECT_EQ(Error(R"(
services:
  a: {image: busybox, env_file: missing.env}
)"),
            "docker-compose.yml:3:23: services.a.env_file.0: open missing.env: no such file or directory");
}

}  // namespace
}  // namespace stackctl::compose
