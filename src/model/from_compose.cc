#include "model/from_compose.h"

#include "common/duration.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <tuple>
#include <set>

#include "compose/validate.h"

namespace stackctl::model {
namespace {

std::string Scope(const std::string& stack, const std::string& key) { return stack + "_" + key; }

Json AddStackLabel(const std::string& stack, const Json& labels) {
  Json out = labels.is_object() ? labels : Json::object();
  out[kStackNamespaceLabel] = stack;
  return out;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Result<int64_t> Duration(const Json& v, const std::string& where) {
  int64_t ns = 0;
  if (!v.is_string() || !ParseGoDuration(v.get<std::string>(), &ns)) {
    return InvalidArgument(where + ": invalid duration " + v.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return ns;
}

Result<int64_t> NanoCpus(const Json& v, const std::string& where) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, Json::error_handler_t::replace);
  // Decimal with at most 9 fractional digits, computed exactly like big.Rat.
  static const std::regex kNum("([0-9]*)(\\.([0-9]*))?");
  std::smatch m;
  if (!std::regex_match(s, m, kNum) || s.empty() || s == ".") {
    return InvalidArgument(where + ": failed to parse " + Json(s).dump(-1, ' ', false, Json::error_handler_t::replace) + " as a rational number");
  }
  std::string ip = m[1].str(), fp = m[3].str();
  while (!fp.empty() && fp.back() == '0') fp.pop_back();
  if (fp.size() > 9) {
    return InvalidArgument(where + ": value is too precise");
  }
  fp.resize(9, '0');
  int64_t whole = ip.empty() ? 0 : std::stoll(ip);
  return whole * 1000000000LL + std::stoll(fp);
}

Result<int64_t> Bytes(const Json& v, const std::string& where) {
  if (v.is_number_integer()) return v.get<int64_t>();
  int64_t b = 0;
  if (!v.is_string() || !compose::ParseRamBytes(v.get<std::string>(), &b)) {
    return InvalidArgument(where + ": invalid size " + v.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return b;
}

Result<Json> UpdateConfig(const Json& u, const std::string& where) {
  Json out = Json::object();
  out["Parallelism"] = u.value("parallelism", int64_t{1});
  if (u.contains("delay")) {
    ASSIGN_OR_RETURN(int64_t d, Duration(u["delay"], where + ".delay"));
    if (d) out["Delay"] = d;
  }
  if (u.contains("failure_action") && !u["failure_action"].get<std::string>().empty()) {
    out["FailureAction"] = u["failure_action"];
  }
  if (u.contains("monitor")) {
    ASSIGN_OR_RETURN(int64_t d, Duration(u["monitor"], where + ".monitor"));
    if (d) out["Monitor"] = d;
  }
  out["MaxFailureRatio"] = u.contains("max_failure_ratio") ? u["max_failure_ratio"] : Json(0);
  out["Order"] = u.value("order", "");
  return out;
}

struct Objects {
  const compose::Project& p;
  const std::string& stack;
  std::string NetworkName(const std::string& key) const {
    if (p.networks.contains(key) && p.networks[key].contains("name")) {
      return p.networks[key]["name"].get<std::string>();
    }
    return Scope(stack, key);
  }
  std::string BlobName(const Json& defs, const std::string& key) const {
    if (defs.contains(key) && defs[key].contains("name")) return defs[key]["name"].get<std::string>();
    return Scope(stack, key);
  }
};

Result<Json> Mounts(const Json& vols, const Objects& o, const std::string& where) {
  Json out = Json::array();
  for (const auto& v : vols) {
    std::string type = v["type"].get<std::string>();
    Json m = {{"Type", type}};
    std::string source = v.value("source", "");
    if (!source.empty()) m["Source"] = source;
    m["Target"] = v["target"];
    if (v.value("read_only", false)) m["ReadOnly"] = true;
    if (v.contains("consistency") && !v["consistency"].get<std::string>().empty()) {
      m["Consistency"] = v["consistency"];
    }
    if (type == "volume") {
      if (v.contains("tmpfs")) return InvalidArgument(where + ": tmpfs options are incompatible with type volume");
      if (v.contains("bind")) return InvalidArgument(where + ": bind options are incompatible with type volume");
      if (!source.empty()) {
        const Json& def = o.p.volumes[source];
        Json vo = Json::object();
        if (v.contains("volume") && v["volume"].value("nocopy", false)) vo["NoCopy"] = true;
        m["Source"] = def.contains("name") ? def["name"] : Json(Scope(o.stack, source));
        if (!def.value("external", false)) {
          vo["Labels"] = AddStackLabel(o.stack, def.value("labels", Json::object()));
          if (def.contains("driver") || def.contains("driver_opts")) {
            Json drv = Json::object();
            if (!def.value("driver", "").empty()) drv["Name"] = def["driver"];
            if (def.contains("driver_opts") && !def["driver_opts"].empty()) drv["Options"] = def["driver_opts"];
            vo["DriverConfig"] = drv;
          }
        }
        m["VolumeOptions"] = vo;
      }
    } else if (type == "bind") {
      if (v.contains("volume")) return InvalidArgument(where + ": volume options are incompatible with type bind");
      if (v.contains("tmpfs")) return InvalidArgument(where + ": tmpfs options are incompatible with type bind");
      if (v.contains("bind") && !v["bind"].value("propagation", "").empty()) {
        m["BindOptions"] = {{"Propagation", v["bind"]["propagation"]}};
      }
    } else if (type == "tmpfs") {
      if (v.contains("volume")) return InvalidArgument(where + ": volume options are incompatible with type tmpfs");
      if (v.contains("bind")) return InvalidArgument(where + ": bind options are incompatible with type tmpfs");
      if (v.contains("tmpfs") && v["tmpfs"].contains("size")) {
        m["TmpfsOptions"] = {{"SizeBytes", v["tmpfs"]["size"]}};
      }
    }
    out.push_back(m);
  }
  return out;
}

Result<Json> FileRefs(const Json& refs, const Json& defs, const Objects& o, const char* name_key) {
  Json out = Json::array();
  for (const auto& r : refs) {
    std::string src = r["source"].get<std::string>();
    std::string target = r.value("target", "");
    if (target.empty()) target = src;
    Json file = {{"Name", target},
                 {"UID", r.contains("uid") ? r["uid"] : Json("0")},
                 {"GID", r.contains("gid") ? r["gid"] : Json("0")},
                 {"Mode", r.contains("mode") ? r["mode"] : Json(0444)}};
    out.push_back({{"File", file}, {name_key, o.BlobName(defs, src)}});
  }
  std::stable_sort(out.begin(), out.end(), [&](const Json& a, const Json& b) {
    return a[name_key].get<std::string>() < b[name_key].get<std::string>();
  });
  return out;
}

std::vector<std::string> NormalizeCaps(const Json& caps) {
  std::vector<std::string> out;
  for (const auto& c : caps) {
    std::string s = c.get<std::string>();
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (s != "ALL" && s.rfind("CAP_", 0) != 0) s = "CAP_" + s;
    out.push_back(s);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<Json> RestartPolicy(const Json& s, const std::string& where) {
  if (s.contains("deploy") && s["deploy"].contains("restart_policy")) {
    const Json& r = s["deploy"]["restart_policy"];
    Json out = Json::object();
    if (!r.value("condition", "").empty()) out["Condition"] = r["condition"];
    if (r.contains("delay")) {
      ASSIGN_OR_RETURN(int64_t d, Duration(r["delay"], where + ".deploy.restart_policy.delay"));
      out["Delay"] = d;
    }
    if (r.contains("max_attempts")) out["MaxAttempts"] = r["max_attempts"];
    if (r.contains("window")) {
      ASSIGN_OR_RETURN(int64_t d, Duration(r["window"], where + ".deploy.restart_policy.window"));
      out["Window"] = d;
    }
    return out;
  }
  std::string restart = s.value("restart", "");
  if (restart.empty() || restart == "no") return Json();
  if (restart == "always" || restart == "unless-stopped") return Json{{"Condition", "any"}};
  if (restart == "on-failure") return Json{{"Condition", "on-failure"}, {"MaxAttempts", 0}};
  if (restart.rfind("on-failure:", 0) == 0) {
    return Json{{"Condition", "on-failure"}, {"MaxAttempts", std::stoll(restart.substr(11))}};
  }
  return InvalidArgument(where + ".restart: unknown restart policy: " + restart);
}

Result<Json> ConvertService(const std::string& key, const Json& s, const Objects& o) {
  const std::string where = "services." + key;
  const std::string name = Scope(o.stack, key);
  const Json deploy = s.value("deploy", Json::object());
  std::string image = s.value("image", "");

  Json cs = Json::object();
  cs["Image"] = ImageWithTag(image);
  cs["Labels"] = AddStackLabel(o.stack, s.value("labels", Json::object()));
  if (s.contains("entrypoint") && !s["entrypoint"].empty()) cs["Command"] = s["entrypoint"];
  if (s.contains("command") && !s["command"].empty()) cs["Args"] = s["command"];
  if (!s.value("hostname", "").empty()) cs["Hostname"] = s["hostname"];
  if (s.contains("environment") && !s["environment"].empty()) {
    std::vector<std::string> env;
    for (const auto& [k, v] : s["environment"].items()) {
      env.push_back(v.is_null() ? k : k + "=" + v.get<std::string>());
    }
    std::sort(env.begin(), env.end());
    cs["Env"] = env;
  }
  if (!s.value("working_dir", "").empty()) cs["Dir"] = s["working_dir"];
  if (!s.value("user", "").empty()) cs["User"] = s["user"];
  Json priv = {{"CredentialSpec", nullptr}, {"SELinuxContext", nullptr}};
  if (s.contains("credential_spec")) {
    const Json& c = s["credential_spec"];
    Json spec = Json::object();
    int n = 0;
    if (!c.value("config", "").empty()) {
      std::string ck = c["config"].get<std::string>();
      if (!o.p.configs.contains(ck)) {
        return InvalidArgument(where + ".credential_spec.config: undefined config \"" + ck + "\"");
      }
      spec["Config"] = o.BlobName(o.p.configs, ck);
      ++n;
    }
    if (!c.value("file", "").empty()) {
      spec["File"] = c["file"];
      ++n;
    }
    if (!c.value("registry", "").empty()) {
      spec["Registry"] = c["registry"];
      ++n;
    }
    if (n > 1) {
      return InvalidArgument(where + ".credential_spec: invalid credential spec: must not contain more than one of config, file, registry");
    }
    if (n == 1) priv["CredentialSpec"] = spec;
  }
  cs["Privileges"] = priv;
  if (s.contains("init")) cs["Init"] = s["init"];
  if (!s.value("stop_signal", "").empty()) cs["StopSignal"] = s["stop_signal"];
  if (s.value("tty", false)) cs["TTY"] = true;
  if (s.value("stdin_open", false)) cs["OpenStdin"] = true;
  if (s.value("read_only", false)) cs["ReadOnly"] = true;
  if (s.contains("volumes") && !s["volumes"].empty()) {
    ASSIGN_OR_RETURN(Json mounts, Mounts(s["volumes"], o, where + ".volumes"));
    cs["Mounts"] = mounts;
  }
  if (s.contains("stop_grace_period")) {
    ASSIGN_OR_RETURN(int64_t d, Duration(s["stop_grace_period"], where + ".stop_grace_period"));
    cs["StopGracePeriod"] = d;
  }
  if (s.contains("healthcheck")) {
    const Json& h = s["healthcheck"];
    Json hc = Json::object();
    if (h.value("disable", false)) {
      hc["Test"] = Json::array({"NONE"});
    } else {
      if (h.contains("test") && !h["test"].empty()) hc["Test"] = h["test"];
      for (auto [from, to] : {std::pair{"interval", "Interval"}, std::pair{"timeout", "Timeout"},
                              std::pair{"start_period", "StartPeriod"}}) {
        if (!h.contains(from)) continue;
        ASSIGN_OR_RETURN(int64_t d, Duration(h[from], where + ".healthcheck." + from));
        if (d) hc[to] = d;
      }
      if (h.contains("retries") && h["retries"].get<double>() != 0) {
        hc["Retries"] = static_cast<int64_t>(h["retries"].get<double>());
      }
    }
    cs["Healthcheck"] = hc;
  }
  if (s.contains("extra_hosts") && !s["extra_hosts"].empty()) {
    Json hosts = Json::array();
    for (const auto& h : s["extra_hosts"]) {
      std::string e = h.get<std::string>();
      size_t c = e.find(':');
      hosts.push_back(c == std::string::npos ? e : e.substr(c + 1) + " " + e.substr(0, c));
    }
    cs["Hosts"] = hosts;
  }
  Json dns = Json::object();
  if (s.contains("dns") && !s["dns"].empty()) dns["Nameservers"] = s["dns"];
  if (s.contains("dns_search") && !s["dns_search"].empty()) dns["Search"] = s["dns_search"];
  if (!dns.empty()) cs["DNSConfig"] = dns;
  if (s.contains("secrets") && !s["secrets"].empty()) {
    ASSIGN_OR_RETURN(cs["Secrets"], FileRefs(s["secrets"], o.p.secrets, o, "SecretName"));
  }
  if (s.contains("configs") && !s["configs"].empty()) {
    ASSIGN_OR_RETURN(cs["Configs"], FileRefs(s["configs"], o.p.configs, o, "ConfigName"));
  }
  if (!s.value("isolation", "").empty()) cs["Isolation"] = s["isolation"];
  if (s.contains("sysctls") && !s["sysctls"].empty()) cs["Sysctls"] = s["sysctls"];
  {
    std::vector<std::string> add = NormalizeCaps(s.value("cap_add", Json::array()));
    std::vector<std::string> drop = NormalizeCaps(s.value("cap_drop", Json::array()));
    if (std::find(add.begin(), add.end(), "ALL") != add.end()) add = {"ALL"};
    if (std::find(drop.begin(), drop.end(), "ALL") != drop.end()) drop = {"ALL"};
    std::vector<std::string> kept;
    for (const auto& c : drop) {
      if (std::find(add.begin(), add.end(), c) == add.end()) kept.push_back(c);
    }
    if (!add.empty()) cs["CapabilityAdd"] = add;
    if (!kept.empty()) cs["CapabilityDrop"] = kept;
  }
  if (s.contains("ulimits") && !s["ulimits"].empty()) {
    Json ul = Json::array();
    for (const auto& [n, v] : s["ulimits"].items()) {
      ul.push_back({{"Name", n}, {"Hard", v.value("hard", int64_t{0})}, {"Soft", v.value("soft", int64_t{0})}});
    }
    cs["Ulimits"] = ul;
  }

  Json tt = Json::object();
  tt["ContainerSpec"] = cs;
  // Resources
  Json res = Json::object();
  if (deploy.contains("resources")) {
    const Json& r = deploy["resources"];
    if (r.contains("limits")) {
      const Json& l = r["limits"];
      Json lim = Json::object();
      if (l.contains("cpus")) {
        ASSIGN_OR_RETURN(int64_t n, NanoCpus(l["cpus"], where + ".deploy.resources.limits.cpus"));
        if (n) lim["NanoCPUs"] = n;
      }
      if (l.contains("memory")) {
        ASSIGN_OR_RETURN(int64_t b, Bytes(l["memory"], where + ".deploy.resources.limits.memory"));
        if (b) lim["MemoryBytes"] = b;
      }
      if (l.contains("pids") && l["pids"].get<int64_t>() != 0) lim["Pids"] = l["pids"];
      res["Limits"] = lim;
    }
    if (r.contains("reservations")) {
      const Json& l = r["reservations"];
      Json rsv = Json::object();
      if (l.contains("cpus")) {
        ASSIGN_OR_RETURN(int64_t n, NanoCpus(l["cpus"], where + ".deploy.resources.reservations.cpus"));
        if (n) rsv["NanoCPUs"] = n;
      }
      if (l.contains("memory")) {
        ASSIGN_OR_RETURN(int64_t b, Bytes(l["memory"], where + ".deploy.resources.reservations.memory"));
        if (b) rsv["MemoryBytes"] = b;
      }
      if (l.contains("generic_resources") && !l["generic_resources"].empty()) {
        Json gen = Json::array();
        for (const auto& g : l["generic_resources"]) {
          Json e = Json::object();
          if (g.contains("discrete_resource_spec")) {
            const Json& d = g["discrete_resource_spec"];
            Json spec = Json::object();
            if (!d.value("kind", "").empty()) spec["Kind"] = d["kind"];
            if (d.contains("value") && d["value"].get<double>() != 0) {
              spec["Value"] = static_cast<int64_t>(d["value"].get<double>());
            }
            e["DiscreteResourceSpec"] = spec;
          }
          gen.push_back(e);
        }
        rsv["GenericResources"] = gen;
      }
      res["Reservations"] = rsv;
    }
  }
  tt["Resources"] = res;
  ASSIGN_OR_RETURN(Json restart, RestartPolicy(s, where));
  if (!restart.is_null()) tt["RestartPolicy"] = restart;
  Json placement = Json::object();
  if (deploy.contains("placement")) {
    const Json& p = deploy["placement"];
    if (p.contains("constraints") && !p["constraints"].empty()) placement["Constraints"] = p["constraints"];
    if (p.contains("preferences") && !p["preferences"].empty()) {
      Json prefs = Json::array();
      for (const auto& pr : p["preferences"]) {
        prefs.push_back({{"Spread", {{"SpreadDescriptor", pr.value("spread", "")}}}});
      }
      placement["Preferences"] = prefs;
    }
    if (p.contains("max_replicas_per_node") && p["max_replicas_per_node"].get<int64_t>() != 0) {
      placement["MaxReplicas"] = p["max_replicas_per_node"];
    }
  }
  tt["Placement"] = placement;
  // Networks
  Json nets = Json::array();
  Json svc_nets = s.value("networks", Json::object());
  if (svc_nets.empty()) svc_nets = Json{{"default", nullptr}};
  for (const auto& [net, cfg] : svc_nets.items()) {
    Json aliases = Json::array();
    if (cfg.is_object() && cfg.contains("aliases")) aliases = cfg["aliases"];
    aliases.push_back(key);
    std::string target = o.NetworkName(net);
    // Predefined networks (host, bridge, ...) take no aliases.
    bool predefined = target == "host" || target == "bridge" || target == "none";
    Json attachment = predefined ? Json{{"Target", target}} : Json{{"Target", target}, {"Aliases", aliases}};
    // Compose 3.13: per-attachment driver options (strings; numbers as docker's
    // loader turns them into strings).
    if (cfg.is_object() && cfg.contains("driver_opts") && !cfg["driver_opts"].empty()) {
      Json opts = Json::object();
      for (const auto& [k, v] : cfg["driver_opts"].items()) opts[k] = v.is_string() ? v.get<std::string>() : v.dump();
      attachment["DriverOpts"] = opts;
    }
    nets.push_back(std::move(attachment));
  }
  std::stable_sort(nets.begin(), nets.end(), [](const Json& a, const Json& b) {
    return a["Target"].get<std::string>() < b["Target"].get<std::string>();
  });
  tt["Networks"] = nets;
  if (s.contains("logging")) {
    Json drv = Json::object();
    if (!s["logging"].value("driver", "").empty()) drv["Name"] = s["logging"]["driver"];
    if (s["logging"].contains("options") && !s["logging"]["options"].empty()) {
      drv["Options"] = s["logging"]["options"];
    }
    tt["LogDriver"] = drv;
  }
  tt["ForceUpdate"] = 0;

  Json spec = Json::object();
  spec["Name"] = name;
  Json labels = AddStackLabel(o.stack, deploy.value("labels", Json::object()));
  labels[kStackImageLabel] = image;
  spec["Labels"] = labels;
  spec["TaskTemplate"] = tt;
  std::string mode = deploy.value("mode", "replicated");
  if (mode == "global") {
    spec["Mode"] = {{"Global", Json::object()}};
  } else {
    Json rep = Json::object();
    if (deploy.contains("replicas")) rep["Replicas"] = deploy["replicas"];
    spec["Mode"] = {{"Replicated", rep}};
  }
  if (deploy.contains("update_config")) {
    ASSIGN_OR_RETURN(spec["UpdateConfig"], UpdateConfig(deploy["update_config"], where + ".deploy.update_config"));
  }
  if (deploy.contains("rollback_config")) {
    ASSIGN_OR_RETURN(spec["RollbackConfig"], UpdateConfig(deploy["rollback_config"], where + ".deploy.rollback_config"));
  }
  Json ep = Json::object();
  if (!deploy.value("endpoint_mode", "").empty()) ep["Mode"] = Lower(deploy["endpoint_mode"].get<std::string>());
  if (s.contains("ports") && !s["ports"].empty()) {
    Json ports = Json::array();
    for (const auto& p : s["ports"]) {
      Json pc = Json::object();
      if (!p.value("protocol", "").empty()) pc["Protocol"] = p["protocol"];
      pc["TargetPort"] = p["target"];
      if (p.value("published", int64_t{0}) != 0) pc["PublishedPort"] = p["published"];
      if (!p.value("mode", "").empty()) pc["PublishMode"] = p["mode"];
      ports.push_back(pc);
    }
    // docker sorts by published port only (sort.Slice); ties keep file order here.
    std::stable_sort(ports.begin(), ports.end(), [](const Json& a, const Json& b) {
      return a.value("PublishedPort", int64_t{0}) < b.value("PublishedPort", int64_t{0});
    });
    ep["Ports"] = ports;
  }
  spec["EndpointSpec"] = ep;
  return spec;
}

Json NetworkCreate(const std::string& name, const Json& def, const std::string& stack) {
  Json n = {{"CheckDuplicate", false},
            {"Driver", def.value("driver", "").empty() ? Json("overlay") : def["driver"]},
            {"Scope", ""},
            {"EnableIPv6", false},
            {"IPAM", nullptr},
            {"Internal", def.value("internal", false)},
            {"Attachable", def.value("attachable", false)},
            {"Ingress", false},
            {"ConfigOnly", false},
            {"ConfigFrom", nullptr},
            {"Options", def.contains("driver_opts") ? def["driver_opts"] : Json(nullptr)},
            {"Labels", AddStackLabel(stack, def.value("labels", Json::object()))},
            {"Name", name}};
  if (def.contains("ipam")) {
    const Json& ipam = def["ipam"];
    bool has_cfg = ipam.contains("config") && !ipam["config"].empty();
    if (!ipam.value("driver", "").empty() || has_cfg) {
      Json ij = {{"Driver", ipam.value("driver", "")}, {"Options", nullptr}, {"Config", nullptr}};
      if (has_cfg) {
        ij["Config"] = Json::array();
        for (const auto& c : ipam["config"]) {
          Json e = Json::object();
          if (!c.value("subnet", "").empty()) e["Subnet"] = c["subnet"];
          ij["Config"].push_back(e);
        }
      }
      n["IPAM"] = ij;
    }
  }
  return n;
}

Result<std::vector<Blob>> Blobs(const Json& defs, const std::string& stack, FileSource& files,
                                const char* kind, bool secret) {
  std::vector<Blob> out;
  for (const auto& [key, def] : defs.items()) {
    Blob b;
    b.key = key;
    b.name = def.contains("name") ? def["name"].get<std::string>() : Scope(stack, key);
    if (def.value("external", false)) {
      b.external = true;
      b.spec = nullptr;
      out.push_back(std::move(b));
      continue;
    }
    Json spec = {{"Name", b.name}, {"Labels", AddStackLabel(stack, def.value("labels", Json::object()))}};
    if (secret && !def.value("driver", "").empty()) {
      Json drv = {{"Name", def["driver"]}};
      if (def.contains("driver_opts") && !def["driver_opts"].empty()) drv["Options"] = def["driver_opts"];
      spec["Driver"] = drv;
    } else {
      if (!def.contains("file")) {
        return InvalidArgument(std::string(kind) + "." + key + ": file is required (or external: true)");
      }
      auto data = files.Read(def["file"].get<std::string>());
      if (!data.ok()) return InvalidArgument(std::string(kind) + "." + key + ".file: " + data.status().message());
      b.data = std::move(*data);
    }
    if (!def.value("template_driver", "").empty()) spec["Templating"] = {{"Name", def["template_driver"]}};
    b.spec = spec;
    out.push_back(std::move(b));
  }
  std::sort(out.begin(), out.end(), [](const Blob& a, const Blob& b) { return a.name < b.name; });
  return out;
}

}  // namespace

std::vector<std::string> MissingExternals(
    const StackSpec& spec, const std::function<bool(const std::string&, const std::string&)>& exists) {
  std::vector<std::string> out;
  for (const auto& n : spec.networks) {
    // Predefined networks exist on every node and are not looked up (docker).
    bool predefined = n.name == "host" || n.name == "bridge" || n.name == "none" ||
                      n.name == "default" || n.name.rfind("container:", 0) == 0;
    if (n.external && !predefined && !exists("network", n.name)) {
      out.push_back("network \"" + n.name +
                    "\" is declared as external, but could not be found. You need to create a "
                    "swarm-scoped network before the stack is deployed");
    }
  }
  for (const auto& svc : spec.services) {
    const Json service_spec = svc.spec.Unpack();
    const Json& cs = service_spec["TaskTemplate"]["ContainerSpec"];
    for (auto [field, name_key, kind, blobs] :
         {std::tuple{"Secrets", "SecretName", "secret", &spec.secrets},
          std::tuple{"Configs", "ConfigName", "config", &spec.configs}}) {
      if (!cs.contains(field)) continue;
      for (const auto& ref : cs[field]) {
        std::string name = ref[name_key].get<std::string>();
        bool external = false;
        for (const auto& b : *blobs) {
          if (b.name == name && b.external) external = true;
        }
        if (external && !exists(kind, name)) {
          out.push_back("service " + svc.key + ": " + kind + " not found: " + name);
        }
      }
    }
  }
  return out;
}


namespace {

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool ValidPathComponent(const std::string& c) {
  if (c.empty()) return false;
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (!alnum(c.front()) || !alnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (alnum(ch)) continue;
    if (ch == '.') {
      if (!alnum(c[i + 1])) return false;
    } else if (ch == '_') {
      if (c[i + 1] == '_') {
        ++i;
        if (!alnum(c[i + 1])) return false;
      } else if (!alnum(c[i + 1])) {
        return false;
      }
    } else if (ch == '-') {
      while (c[i + 1] == '-') ++i;
      if (!alnum(c[i + 1])) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool ValidTag(const std::string& t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
  if (!word(t[0])) return false;
  for (char ch : t) {
    if (!word(ch) && ch != '.' && ch != '-') return false;
  }
  return true;
}

bool ValidDigest(const std::string& d) {
  size_t colon = d.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string hex = d.substr(colon + 1);
  if (hex.size() < 32) return false;
  return std::all_of(hex.begin(), hex.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)); });
}

}  // namespace

std::string ImageWithTag(const std::string& image) {
  std::string rest = image, digest, tag;
  size_t at = rest.find('@');
  if (at != std::string::npos) {
    digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!ValidDigest(digest)) return image;
  }
  size_t colon = rest.rfind(':');
  size_t slash = rest.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!ValidTag(tag)) return image;
  }
  std::string domain, path = rest;
  size_t first = rest.find('/');
  if (first != std::string::npos) {
    std::string head = rest.substr(0, first);
    if (head.find('.') != std::string::npos || head.find(':') != std::string::npos ||
        head == "localhost" || head != Lower(head)) {
      domain = head;
      path = rest.substr(first + 1);
    }
  }
  size_t pos = 0;
  while (true) {
    size_t next = path.find('/', pos);
    if (!ValidPathComponent(path.substr(pos, next == std::string::npos ? std::string::npos : next - pos))) {
      return image;
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  if (domain == "index.docker.io") domain = "docker.io";
  std::string name;
  if (domain.empty() || domain == "docker.io") {
    if (path.rfind("library/", 0) == 0 && path.find('/', 8) == std::string::npos) path = path.substr(8);
    name = path;
  } else {
    name = domain + "/" + path;
  }
  if (tag.empty() && digest.empty()) tag = "latest";
  std::string out = name;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Result<StackSpec> FromComposeObjects(const compose::Project& project, const std::string& stack,
                                     FileSource& files) {
  StackSpec out;
  out.name = stack;
  out.warnings = project.warnings;
  ASSIGN_OR_RETURN(out.secrets, Blobs(project.secrets, stack, files, "secrets", true));
  ASSIGN_OR_RETURN(out.configs, Blobs(project.configs, stack, files, "configs", false));
  return out;
}

Status AddComposeServices(const compose::Project& project, StackSpec* stack, const SpecEdit& edit) {
  Objects o{project, stack->name};
  std::set<std::string> used;  // networks the services join ("default" when one names none)
  for (const auto& [key, packed] : project.services) {
    const Json s = packed.Unpack();
    if (!s.contains("networks") || s["networks"].empty()) {
      used.insert("default");
    } else {
      for (const auto& [net, cfg] : s["networks"].items()) used.insert(net);
    }
    Service svc;
    svc.key = key;
    svc.name = Scope(stack->name, key);
    ASSIGN_OR_RETURN(Json spec, ConvertService(key, s, o));
    if (edit) edit(spec);
    svc.spec = PackedJson(spec);
    if (s.contains("depends_on")) {
      for (const auto& d : s["depends_on"]) svc.depends_on.push_back(d.get<std::string>());
      std::sort(svc.depends_on.begin(), svc.depends_on.end());
    }
    stack->services.push_back(std::move(svc));
  }
  std::sort(stack->services.begin(), stack->services.end(),
            [](const Service& a, const Service& b) { return a.name < b.name; });
  for (const auto& key : used) {
    Network n;
    n.key = key;
    Json def = project.networks.contains(key) ? project.networks[key] : Json::object();
    n.name = o.NetworkName(key);
    if (def.value("external", false)) {
      n.external = true;
      n.spec = nullptr;
    } else {
      n.spec = NetworkCreate(n.name, def, stack->name);
    }
    stack->networks.push_back(std::move(n));
  }
  std::sort(stack->networks.begin(), stack->networks.end(),
            [](const Network& a, const Network& b) { return a.name < b.name; });
  return OkStatus();
}

Result<StackSpec> FromCompose(const compose::Project& project, const std::string& stack,
                              FileSource& files) {
  ASSIGN_OR_RETURN(StackSpec out, FromComposeObjects(project, stack, files));
  RETURN_IF_ERROR(AddComposeServices(project, &out, nullptr));
  return out;
}

}  // namespace stackctl::model
