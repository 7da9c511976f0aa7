#include "reconciler/normalize.h"

#include <algorithm>

namespace stackctl::reconciler {
namespace {

// Go's omitempty: null, false, 0, "", {} and [] are "absent".
bool IsEmpty(const Json& j) {
  if (j.is_null()) return true;
  if (j.is_boolean()) return !j.get<bool>();
  if (j.is_number_integer() || j.is_number_unsigned()) return j.get<int64_t>() == 0;
  if (j.is_number_float()) return j.get<double>() == 0;
  if (j.is_string()) return j.get_ref<const std::string&>().empty();
  if (j.is_object() || j.is_array()) return j.empty();
  return false;
}

Json DropEmpty(const Json& j) {
  if (j.is_object()) {
    Json out = Json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      Json v = DropEmpty(it.value());
      if (!IsEmpty(v)) out[it.key()] = std::move(v);
    }
    return out;
  }
  if (j.is_array()) {
    Json out = Json::array();
    for (const auto& e : j) out.push_back(DropEmpty(e));
    return out;
  }
  return j;
}

// Removes `key` from `obj` when it holds `dflt` (an engine default).
void DropDefault(Json& obj, const char* key, const Json& dflt) {
  if (obj.is_object() && obj.contains(key) && obj[key] == dflt) obj.erase(key);
}

Json* Find(Json& j, std::initializer_list<const char*> path) {
  Json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return nullptr;
    cur = &(*cur)[k];
  }
  return cur;
}

void SortArrayBy(Json* arr, const char* key) {
  if (!arr || !arr->is_array()) return;
  std::stable_sort(arr->begin(), arr->end(), [key](const Json& a, const Json& b) {
    return CanonicalJson(a.value(key, Json())) < CanonicalJson(b.value(key, Json()));
  });
}

void EraseLabels(Json* labels, const std::vector<std::string>& keys) {
  if (!labels || !labels->is_object()) return;
  for (const auto& k : keys) labels->erase(k);
}

void Collect(const Json& a, const Json& b, const std::string& prefix, std::vector<std::string>* out) {
  if (a.is_object() && b.is_object()) {
    std::vector<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key())) keys.push_back(it.key());
    }
    std::sort(keys.begin(), keys.end());
    for (const auto& k : keys) {
      std::string p = prefix.empty() ? k : prefix + "." + k;
      Json va = a.contains(k) ? a[k] : Json();
      Json vb = b.contains(k) ? b[k] : Json();
      if (va != vb) Collect(va, vb, p, out);
    }
    return;
  }
  if (a != b) out->push_back(prefix.empty() ? "." : prefix);
}

void CollectSubset(const Json& d, const Json& l, const std::string& prefix,
                   std::vector<std::string>* out) {
  if (d.is_object() && l.is_object()) {
    for (auto it = d.begin(); it != d.end(); ++it) {
      std::string p = prefix.empty() ? it.key() : prefix + "." + it.key();
      if (!l.contains(it.key())) {
        out->push_back(p);
      } else {
        CollectSubset(it.value(), l[it.key()], p, out);
      }
    }
    return;
  }
  if (d != l) out->push_back(prefix.empty() ? "." : prefix);
}

}  // namespace

Json NormalizeTaskTemplate(const Json& templ, const NormalizeContext& ctx) {
  Json t = templ;
  DropDefault(t, "Runtime", "container");
  if (Json* rp = Find(t, {"RestartPolicy"})) {
    DropDefault(*rp, "Condition", "any");
    DropDefault(*rp, "Delay", Json(5000000000LL));
  }
  if (Json* cs = Find(t, {"ContainerSpec"})) {
    DropDefault(*cs, "Isolation", "default");
    DropDefault(*cs, "StopGracePeriod", Json(10000000000LL));
    // Swarm does not store bind-mount consistency (a Docker Desktop hint).
    if (Json* mounts = Find(*cs, {"Mounts"})) {
      for (auto& m : *mounts) m.erase("Consistency");
    }
    // IDs are per-cluster; the name identifies the secret/config (content-hashed).
    for (const char* list : {"Secrets", "Configs"}) {
      if (Json* refs = Find(*cs, {list})) {
        for (auto& r : *refs) {
          r.erase("SecretID");
          r.erase("ConfigID");
        }
        std::stable_sort(refs->begin(), refs->end(), [](const Json& a, const Json& b) {
          return CanonicalJson(a) < CanonicalJson(b);
        });
      }
    }
  }
  if (Json* nets = Find(t, {"Networks"})) {
    for (auto& n : *nets) {
      if (!n.contains("Target") || !n["Target"].is_string()) continue;
      auto it = ctx.network_ids.find(n["Target"].get<std::string>());
      if (it != ctx.network_ids.end()) n["Target"] = it->second;
    }
    SortArrayBy(nets, "Target");
  }
  return DropEmpty(t);
}

Json NormalizeServiceSpec(const Json& spec, const NormalizeContext& ctx) {
  Json s = spec;
  s.erase("Name");  // compared by the caller, which pairs by name
  EraseLabels(Find(s, {"Labels"}), ctx.ignored_labels);
  if (s.contains("TaskTemplate")) s["TaskTemplate"] = NormalizeTaskTemplate(s["TaskTemplate"], ctx);
  // Mode: absent means one replica; Replicas 0 must survive DropEmpty, so the
  // mode is folded into one string before that.
  {
    Json mode = s.value("Mode", Json::object());
    std::string folded;
    if (mode.is_object() && mode.contains("Global")) {
      folded = "global";
    } else if (mode.is_object() && (mode.empty() || mode.contains("Replicated"))) {
      Json rep = mode.value("Replicated", Json::object());
      folded = "replicated/" + std::to_string(rep.is_object() ? rep.value("Replicas", 1) : 1);
    } else {
      folded = CanonicalJson(mode);  // jobs and future modes: compared as is
    }
    s["Mode"] = folded;
  }
  for (const char* cfg : {"UpdateConfig", "RollbackConfig"}) {
    if (Json* c = Find(s, {cfg})) {
      DropDefault(*c, "FailureAction", "pause");
      DropDefault(*c, "Order", "stop-first");
    }
  }
  if (Json* ep = Find(s, {"EndpointSpec"})) {
    DropDefault(*ep, "Mode", "vip");
    if (Json* ports = Find(*ep, {"Ports"})) {
      for (auto& p : *ports) {
        DropDefault(p, "PublishMode", "ingress");
        DropDefault(p, "Protocol", "tcp");
      }
    }
  }
  return DropEmpty(s);
}

Json NormalizeNetworkSpec(const Json& spec) {
  // Only what a user controls through compose; the engine adds the rest.
  Json out = Json::object();
  for (const char* k : {"Driver", "Internal", "Attachable", "Labels", "EnableIPv6", "Options"}) {
    if (spec.contains(k)) out[k] = spec[k];
  }
  if (spec.contains("IPAM") && spec["IPAM"].is_object()) {
    Json ipam = spec["IPAM"];
    DropDefault(ipam, "Driver", "default");
    out["IPAM"] = ipam;
  }
  return DropEmpty(out);
}

std::vector<std::string> SubsetChangedPaths(const Json& desired, const Json& live) {
  std::vector<std::string> out;
  CollectSubset(desired, live, "", &out);
  return out;
}

std::vector<std::string> ChangedPaths(const Json& a, const Json& b) {
  std::vector<std::string> out;
  Collect(a, b, "", &out);
  return out;
}

}  // namespace stackctl::reconciler
