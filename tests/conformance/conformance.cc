// stackctl-conformance CORPUS_DIR — conformance against an external corpus of
// Compose files and what `docker stack deploy` made of them on a real swarm
// (CORPUS_DIR/cases/NN-name/ and CORPUS_DIR/golden/NN-name/, the layout of its
// README). For every case it renders the files as stackctl would and compares
// the result with the golden stored objects after the corpus' own
// normalize.py; a case docker rejects must be rejected by us too, with the
// message in corpus_rejections.inc. Where the golden has the CLI's request
// bodies, the services it sent must also normalize equal to what the engine
// stored (reconciler::NormalizeServiceSpec, which the diff relies on).
//
// Prints one line per case ("ok NN-name" or "FAIL NN-name: why") and
// "conformance: N passed, N failed"; exits 1 on any failure, 2 on bad usage.
// Run through scripts/conformance.sh; the project's test suite does not read
// any corpus.
//
// What the engine adds on store (defaults, IDs, allocated subnets) is
// simulated in EngineStore() below: the ONE place where our rendered request
// bodies and the stored specs are reconciled (docs/compose-parity.md).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <climits>
#include <cstdlib>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <iostream>

#include "common/file_source.h"
#include "compose/loader.h"
#include "model/from_compose.h"
#include "reconciler/normalize.h"

namespace stackctl::conformance {
namespace {

using model::StackSpec;

std::string Real(const std::string& p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) ? std::string(buf) : p;
}
// The corpus folder given on the command line (realpath).
std::string kCorpus;

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string ReadAll(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

std::vector<std::string> Entries() {
  std::vector<std::string> out;
  DIR* d = opendir((kCorpus + "/cases").c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 3 && std::isdigit(static_cast<unsigned char>(n[0]))) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += std::string{k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += std::string{k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

// First host address of an IPv4 subnet ("172.16.238.0/24" -> "172.16.238.1").
std::string Gateway(const std::string& subnet) {
  std::smatch m;
  static const std::regex kV4("(\\d+)\\.(\\d+)\\.(\\d+)\\.(\\d+)/(\\d+)");
  if (!std::regex_match(subnet, m, kV4)) return "";
  uint32_t ip = (std::stoul(m[1]) << 24) | (std::stoul(m[2]) << 16) | (std::stoul(m[3]) << 8) | std::stoul(m[4]);
  int bits = std::stoi(m[5]);
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  uint32_t gw = (ip & mask) + 1;
  return std::to_string(gw >> 24) + "." + std::to_string((gw >> 16) & 255) + "." +
         std::to_string((gw >> 8) & 255) + "." + std::to_string(gw & 255);
}

// The engine-side view of what we would send: the defaults dockerd fills in
// when it stores a spec (verified against the golden stored specs).
void EngineStoreService(Json& s) {
  Json& tt = s["TaskTemplate"];
  Json& cs = tt["ContainerSpec"];
  if (!cs.contains("Isolation")) cs["Isolation"] = "default";
  tt["Runtime"] = "container";
  if (cs.contains("Mounts")) {
    for (auto& m : cs["Mounts"]) m.erase("Consistency");
  }
  if (s["Mode"].contains("Replicated") && !s["Mode"]["Replicated"].contains("Replicas")) {
    s["Mode"]["Replicated"]["Replicas"] = 1;
  }
  if (!s["EndpointSpec"].contains("Mode")) s["EndpointSpec"]["Mode"] = "vip";
  if (s["EndpointSpec"].contains("Ports")) {
    for (auto& p : s["EndpointSpec"]["Ports"]) {
      if (!p.contains("Protocol")) p["Protocol"] = "tcp";
      if (!p.contains("PublishMode")) p["PublishMode"] = "ingress";
    }
  }
  if (tt.contains("RestartPolicy")) {
    Json& r = tt["RestartPolicy"];
    if (!r.contains("Condition")) r["Condition"] = "any";
    if (!r.contains("MaxAttempts")) r["MaxAttempts"] = 0;
  }
  for (const char* u : {"UpdateConfig", "RollbackConfig"}) {
    if (!s.contains(u)) continue;
    Json& c = s[u];
    if (!c.contains("FailureAction")) c["FailureAction"] = "pause";
    if (c.value("Order", "").empty()) c["Order"] = "stop-first";
  }
}

Json EngineStoreNetwork(const Json& req) {
  Json n = Json::object();
  for (const char* k : {"Name", "Driver", "EnableIPv6", "Internal", "Attachable", "Ingress", "ConfigOnly", "Labels"}) {
    n[k] = req[k];
  }
  bool overlay = req["Driver"] == "overlay";
  n["Scope"] = overlay ? "swarm" : "local";
  Json opts = req["Options"].is_null() ? Json::object() : req["Options"];
  if (overlay) opts["com.docker.network.driver.overlay.vxlanid_list"] = "<auto>";
  n["Options"] = opts.empty() && overlay ? Json(nullptr) : opts;
  Json ipam = {{"Driver", "default"}, {"Options", nullptr}, {"Config", Json::array()}};
  if (!req["IPAM"].is_null()) {
    if (!req["IPAM"].value("Driver", "").empty()) ipam["Driver"] = req["IPAM"]["Driver"];
    if (req["IPAM"]["Config"].is_array()) {
      for (const auto& c : req["IPAM"]["Config"]) {
        Json e = c;
        if (!e.contains("Gateway") && e.contains("Subnet")) {
          std::string gw = Gateway(e["Subnet"].get<std::string>());
          if (!gw.empty()) e["Gateway"] = gw;
        }
        ipam["Config"].push_back(e);
      }
    }
  }
  if (ipam["Config"].empty()) {
    ipam["Config"].push_back({{"Subnet", "<auto>"}, {"Gateway", "<auto>"}});
  }
  n["IPAM"] = ipam;
  return n;
}

struct Case {
  std::string entry, dir, golden;
  Json result;
};

Result<StackSpec> Render(const Case& c, const std::string& stack) {
  compose::LoadOptions opts;
  std::string files = ReadAll(c.dir + "/files");
  for (const auto& f : Lines(files)) opts.files.push_back(c.dir + "/" + f);
  if (opts.files.empty()) opts.files.push_back(c.dir + "/docker-compose.yml");
  opts.env = {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}, {"HOME", "/root"}};
  for (const auto& l : Lines(ReadAll(c.dir + "/env"))) {
    size_t eq = l.find('=');
    if (eq != std::string::npos) opts.env[l.substr(0, eq)] = l.substr(eq + 1);
  }
  opts.working_dir = c.dir;
  DiskFileSource fs("/");
  ASSIGN_OR_RETURN(compose::Project p, compose::LoadProject(opts, fs));
  ASSIGN_OR_RETURN(StackSpec spec, model::FromCompose(p, stack, fs));
  // `pre` creates the external objects; anything else external is missing.
  std::set<std::string> pre;
  // Lines like "D network create -d overlay --attachable NAME; echo x | D secret create NAME -".
  static const std::set<std::string> kWithValue = {"-d", "--driver", "-l", "--label", "-o", "--opt",
                                                   "--subnet", "--gateway", "--ip-range", "--scope"};
  std::string pre_text = ReadAll(c.dir + "/pre");
  // "for s in a b; do CMD $s; done" -> CMD a; CMD b
  static const std::regex kFor("for (\\w+) in ([^;]+); do (.*); done");
  std::smatch fm;
  if (std::regex_search(pre_text, fm, kFor)) {
    std::istringstream items(fm[2].str());
    std::string item, expanded;
    while (items >> item) {
      expanded += std::regex_replace(fm[3].str(), std::regex("\\$" + fm[1].str()), item) + ";";
    }
    pre_text = fm.prefix().str() + expanded + fm.suffix().str();
  }
  for (char& ch : pre_text) {
    if (ch == ';' || ch == '|') ch = '\n';
  }
  for (const auto& l : Lines(pre_text)) {
    std::istringstream in(l);
    std::vector<std::string> w;
    std::string t;
    while (in >> t) w.push_back(t);
    if (w.size() < 4 || w[0] != "D" || w[2] != "create") continue;
    for (size_t i = 3; i < w.size(); ++i) {
      if (kWithValue.count(w[i])) {
        ++i;
      } else if (w[i][0] != '-') {
        pre.insert(w[1] + "/" + w[i]);
        break;
      }
    }
  }
  auto missing = model::MissingExternals(spec, [&](const std::string& kind, const std::string& name) {
    return pre.count(kind + "/" + name) > 0;
  });
  if (!missing.empty()) {
    std::string msg;
    for (const auto& m : missing) msg += (msg.empty() ? "" : "\n") + m;
    return FailedPrecondition(msg);
  }
  return spec;
}

// Runs normalize.py over many entry dirs in one python process.
// jobs: (dir, entry_dir or "") -> normalized documents in order.
std::vector<Json> NormalizeAll(const std::vector<std::pair<std::string, std::string>>& jobs,
                               const std::string& tmp) {
  Json in = Json::array();
  for (const auto& [dir, entry_dir] : jobs) in.push_back({dir, entry_dir});
  std::ofstream(tmp + "/jobs.json") << in.dump();
  std::string script =
      "import json,sys; sys.path.insert(0, sys.argv[1]); from normalize import normalize_dir; "
      "print(json.dumps([normalize_dir(d, entry_dir=(e or None), stored=True) for d, e in "
      "json.load(open(sys.argv[2]))]))";
  std::string cmd = "CORPUS=" + kCorpus + "/cases python3 -c '" + script + "' " + kCorpus + " " +
                    tmp + "/jobs.json";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  Json docs = Json::parse(out);
  return docs.get<std::vector<Json>>();
}

// Writes our spec in golden layout (engine view) for normalize.py.
void WriteOurs(const StackSpec& spec, const Case& c, const std::string& tmp) {
  Json services = Json::object();
  for (const auto& s : spec.services) {
    Json j = s.spec.Unpack();
    EngineStoreService(j);
    services[s.name] = j;
  }
  Json networks = Json::array();
  for (const auto& n : spec.networks) {
    if (!n.external) networks.push_back(EngineStoreNetwork(n.spec));
  }
  Json secrets = Json::array(), configs = Json::array();
  for (const auto& b : spec.secrets) {
    if (!b.external) secrets.push_back({{"Spec", b.spec}});
  }
  for (const auto& b : spec.configs) {
    if (b.external) continue;
    Json s = b.spec;
    s["Data"] = Base64(b.data);
    configs.push_back({{"Spec", s}});
  }
  std::ofstream(tmp + "/services.stored.json") << services.dump();
  std::ofstream(tmp + "/networks.raw.json") << networks.dump();
  std::ofstream(tmp + "/secrets.raw.json") << secrets.dump();
  std::ofstream(tmp + "/configs.raw.json") << configs.dump();
  std::ofstream(tmp + "/idmap.json") << "{}";
  {
    std::ofstream req(tmp + "/api-requests.jsonl");
    for (const auto& n : spec.networks) {
      if (!n.external) req << Json{{"req", "POST /v1.41/networks/create HTTP/1.1"}, {"body", n.spec}}.dump() << "\n";
    }
  }
  std::ofstream(tmp + "/result.json") << Json{{"stack", spec.name}, {"entry", c.entry}, {"rc", 0}}.dump();
}

// Sorting ports fully: docker orders them with Go's unstable sort.Slice on
// PublishedPort only, so equal published ports (0 for unpublished) come in
// an order we do not reproduce (docs/compose-parity.md).
void SortPorts(Json& doc) {
  for (auto& [name, s] : doc["services"].items()) {
    if (s.contains("EndpointSpec") && s["EndpointSpec"].contains("Ports")) {
      auto& ports = s["EndpointSpec"]["Ports"];
      std::sort(ports.begin(), ports.end(), [](const Json& a, const Json& b) { return a.dump() < b.dump(); });
    }
  }
}

// Our message for every case docker rejects (prefix match after the file path).
const std::map<std::string, std::string>& ExpectedRejections() {
  static const auto* k = new std::map<std::string, std::string>{
#include "corpus_rejections.inc"
  };
  return *k;
}

// Cases docker rejects only on the engine side for reasons a render cannot
// know (plugins not installed on that swarm, local-scope networks).
const std::set<std::string> kEngineOnlyRejections = {"21-ac-elk"};

// Local-scope networks get an address range from the daemon's local pools,
// which a render cannot know.
void MaskLocalIpam(Json& doc) {
  for (auto& [name, n] : doc["networks"].items()) {
    if (n["Scope"] == "local") n["IPAM"]["Config"] = "<auto>";
  }
}

// The CLI's request bodies against the stored specs (golden api-requests.jsonl
// and services.stored.json, where both were captured): "" or the first difference.
std::string RequestsMatchStored(const std::string& golden) {
  std::ifstream requests(golden + "/api-requests.jsonl");
  std::ifstream stored_in(golden + "/services.stored.json");
  if (!requests || !stored_in) return "";
  Json stored = Json::parse(stored_in);
  reconciler::NormalizeContext ctx;
  Json idmap = Json::parse(ReadAll(golden + "/idmap.json"));
  for (auto it = idmap["networks"].begin(); it != idmap["networks"].end(); ++it) {
    ctx.network_ids[it.value().get<std::string>()] = it.key();
  }
  std::string line;
  while (std::getline(requests, line)) {
    Json r = Json::parse(line);
    if (r["req"].get<std::string>().find("/services/create") == std::string::npos) continue;
    if (r.value("status", "").find(" 201 ") == std::string::npos) continue;
    std::string name = r["body"]["Name"];
    if (!stored.contains(name)) return "service " + name + " was sent but not stored";
    auto changed = reconciler::ChangedPaths(reconciler::NormalizeServiceSpec(r["body"], ctx),
                                            reconciler::NormalizeServiceSpec(stored[name], ctx));
    if (!changed.empty()) {
      std::string paths;
      for (const auto& c : changed) paths += (paths.empty() ? "" : ", ") + c;
      return "service " + name + ": sent and stored specs normalize differently at " + paths;
    }
  }
  return "";
}

int Run() {
  char tmpl[] = "/tmp/stackctl-conformance.XXXXXX";
  std::string tmp = mkdtemp(tmpl);
  std::map<std::string, std::vector<std::string>> failures;  // entry -> reasons
  std::vector<std::string> entries = Entries();
  std::vector<Case> compare;
  for (const auto& entry : entries) {
    Case c{entry, kCorpus + "/cases/" + entry, kCorpus + "/golden/" + entry, {}};
    auto& why = failures[entry];
    try {
      c.result = Json::parse(ReadAll(c.golden + "/result.json"));
    } catch (const Json::exception& e) {
      why.push_back(c.golden + "/result.json: " + e.what());
      continue;
    }
    std::string mismatch = RequestsMatchStored(c.golden);
    if (!mismatch.empty()) why.push_back(mismatch);
    std::string stack = c.result["stack"].get<std::string>();
    auto spec = Render(c, stack);
    int rc = c.result["rc"].get<int>();
    if (rc != 0 && !kEngineOnlyRejections.count(entry)) {
      if (spec.ok()) {
        why.push_back("docker rejects it, we accepted it");
        continue;
      }
      std::string msg = spec.status().message();
      for (size_t pos; (pos = msg.find(c.dir + "/")) != std::string::npos;) msg.replace(pos, c.dir.size() + 1, "");
      auto it = ExpectedRejections().find(entry);
      if (it == ExpectedRejections().end() || msg != it->second) why.push_back("unexpected message: " + msg);
      continue;
    }
    if (!spec.ok()) {
      why.push_back("we reject it: " + spec.status().message());
      continue;
    }
    std::string mine = tmp + "/" + entry;
    mkdir(mine.c_str(), 0700);
    WriteOurs(*spec, c, mine);
    compare.push_back(c);
  }
  std::vector<std::pair<std::string, std::string>> jobs;
  for (const auto& c : compare) {
    jobs.emplace_back(tmp + "/" + c.entry, c.dir);
    jobs.emplace_back(c.golden, "");
  }
  std::vector<Json> docs = NormalizeAll(jobs, tmp);
  std::string cleanup = "rm -rf " + tmp;
  (void)system(cleanup.c_str());
  if (docs.size() != jobs.size()) {
    std::cout << "conformance: normalize.py returned " << docs.size() << " documents for " << jobs.size()
              << " inputs\n";
    return 1;
  }
  for (size_t i = 0; i < compare.size(); ++i) {
    const std::string& entry = compare[i].entry;
    Json ours = docs[2 * i];
    Json gold = docs[2 * i + 1];
    SortPorts(ours);
    SortPorts(gold);
    MaskLocalIpam(ours);
    MaskLocalIpam(gold);
    for (const char* kind : {"services", "networks", "secrets", "configs"}) {
      Json a = ours[kind], b = gold[kind];
      if (kEngineOnlyRejections.count(entry)) {
        // The engine stopped part-way: compare only what it created.
        Json filtered = Json::object();
        for (const auto& [k, v] : b.items()) {
          if (a.contains(k)) filtered[k] = a[k];
        }
        a = filtered;
      }
      if (a != b) failures[entry].push_back(std::string(kind) + ": " + Json::diff(b, a).dump().substr(0, 3000));
    }
  }
  int passed = 0, failed = 0;
  for (const auto& entry : entries) {
    const auto& why = failures[entry];
    if (why.empty()) {
      ++passed;
      std::cout << "ok   " << entry << "\n";
      continue;
    }
    ++failed;
    std::cout << "FAIL " << entry << ": " << why[0] << "\n";
    for (size_t k = 1; k < why.size(); ++k) std::cout << "     " << entry << ": " << why[k] << "\n";
  }
  std::cout << "conformance: " << passed << " passed, " << failed << " failed" << std::endl;
  return failed == 0 && passed > 0 ? 0 : 1;
}

}  // namespace
}  // namespace stackctl::conformance

int main(int argc, char** argv) {
  using namespace stackctl::conformance;
  if (argc != 2) {
    std::cerr << "usage: stackctl-conformance CORPUS_DIR (a folder with cases/ and golden/)\n";
    return 2;
  }
  kCorpus = Real(argv[1]);
  if (!IsDir(kCorpus + "/cases") || !IsDir(kCorpus + "/golden")) {
    std::cerr << "stackctl-conformance: " << argv[1] << ": no cases/ and golden/ folders\n";
    return 2;
  }
  return Run();
}
