#include "dab/bundle.h"

#include "common/json.h"

namespace stackctl::dab {
namespace {

class Reader {
 public:
  explicit Reader(std::vector<std::string>* errors) : errors_(errors) {}
  void Error(const std::string& path, const std::string& msg) { errors_->push_back(path + ": " + msg); }

  void Strings(const Json& v, const std::string& path, std::vector<std::string>* out) {
    if (v.is_null()) return;
    if (!v.is_array()) return Error(path, "must be a list of strings");
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) {
        Error(path + "[" + std::to_string(i) + "]", "must be a string");
        continue;
      }
      out->push_back(v[i].get<std::string>());
    }
  }

  void Str(const Json& v, const std::string& path, std::string* out) {
    if (!v.is_string()) return Error(path, "must be a string");
    *out = v.get<std::string>();
  }

 private:
  std::vector<std::string>* errors_;
};

}  // namespace

Result<Bundle> LoadBundle(const std::string& content, const std::string& what) {
  Json root;
  try {
    root = Json::parse(content);
  } catch (const Json::exception& e) {
    return InvalidArgument(what + ": invalid JSON: " +
                           e.what());
  }
  std::vector<std::string> errors;
  Reader r(&errors);
  Bundle b;
  if (!root.is_object()) return InvalidArgument(what + ": top-level value must be an object");
  for (const auto& [k, v] : root.items()) {
    if (k != "Version" && k != "Services") r.Error(k, "unknown key (allowed: Services, Version)");
  }
  if (!root.contains("Version")) {
    r.Error("Version", "is required");
  } else {
    r.Str(root["Version"], "Version", &b.version);
    if (root["Version"].is_string() && b.version != "0.1") {
      r.Error("Version", "unsupported bundle version \"" + b.version + "\" (supported: 0.1)");
    }
  }
  if (!root.contains("Services") || !root["Services"].is_object()) {
    r.Error("Services", "must be an object of services");
  } else {
    for (const auto& [name, sv] : root["Services"].items()) {
      std::string p = "Services." + name;
      if (!sv.is_object()) {
        r.Error(p, "must be an object");
        continue;
      }
      Service s;
      for (const auto& [k, v] : sv.items()) {
        std::string kp = p + "." + k;
        if (k == "Image") {
          r.Str(v, kp, &s.image);
        } else if (k == "Command") {
          r.Strings(v, kp, &s.command);
        } else if (k == "Args") {
          r.Strings(v, kp, &s.args);
        } else if (k == "Env") {
          r.Strings(v, kp, &s.env);
        } else if (k == "Networks") {
          r.Strings(v, kp, &s.networks);
        } else if (k == "WorkingDir") {
          if (!v.is_null()) {
            std::string d;
            r.Str(v, kp, &d);
            s.working_dir = d;
          }
        } else if (k == "User") {
          if (!v.is_null()) {
            std::string u;
            r.Str(v, kp, &u);
            s.user = u;
          }
        } else if (k == "Labels") {
          if (v.is_null()) continue;
          if (!v.is_object()) {
            r.Error(kp, "must be an object of strings");
            continue;
          }
          for (const auto& [lk, lv] : v.items()) {
            if (!lv.is_string()) r.Error(kp + "." + lk, "must be a string");
            else s.labels[lk] = lv.get<std::string>();
          }
        } else if (k == "Ports") {
          if (v.is_null()) continue;
          if (!v.is_array()) {
            r.Error(kp, "must be a list of ports");
            continue;
          }
          for (size_t i = 0; i < v.size(); ++i) {
            std::string pp = kp + "[" + std::to_string(i) + "]";
            const Json& pv = v[i];
            if (!pv.is_object()) {
              r.Error(pp, "must be an object with Protocol and Port");
              continue;
            }
            Port port;
            bool ok = true;
            for (const auto& [pk, pval] : pv.items()) {
              if (pk != "Protocol" && pk != "Port") {
                r.Error(pp + "." + pk, "unknown key (allowed: Port, Protocol)");
                ok = false;
              }
            }
            if (!pv.contains("Protocol") || !pv["Protocol"].is_string()) {
              r.Error(pp + ".Protocol", "must be a string");
              ok = false;
            } else {
              port.protocol = pv["Protocol"].get<std::string>();
              if (port.protocol != "tcp" && port.protocol != "udp" && port.protocol != "sctp") {
                r.Error(pp + ".Protocol", "must be tcp, udp or sctp, not \"" + port.protocol + "\"");
                ok = false;
              }
            }
            if (!pv.contains("Port") || !pv["Port"].is_number_integer() || pv["Port"].get<int64_t>() < 1 ||
                pv["Port"].get<int64_t>() > 65535) {
              r.Error(pp + ".Port", "must be an integer between 1 and 65535");
              ok = false;
            } else {
              port.port = static_cast<uint32_t>(pv["Port"].get<int64_t>());
            }
            if (ok) s.ports.push_back(port);
          }
        } else {
          r.Error(kp, "unknown key (allowed: Args, Command, Env, Image, Labels, Networks, Ports, User, WorkingDir)");
        }
      }
      if (s.image.empty() && !sv.contains("Image")) r.Error(p + ".Image", "is required");
      b.services[name] = std::move(s);
    }
  }
  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + what + ": " + e;
    return InvalidArgument(msg);
  }
  return b;
}

}  // namespace stackctl::dab
