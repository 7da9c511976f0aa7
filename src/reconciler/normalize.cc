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

// Drops the empty values of `j` in place, depth first (an object left empty
// by it is empty in turn); array elements stay, emptied or not.
void DropEmpty(Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      DropEmpty(it.value());
      it = IsEmpty(it.value()) ? j.erase(it) : std::next(it);
    }
  } else if (j.is_array()) {
    for (auto& e : j) DropEmpty(e);
  }
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
    // Both key sets are sorted (nlohmann's object is a std::map): one merge
    // walk, no copies of the values.
    static const Json kAbsent;
    auto ia = a.begin(), ib = b.begin();
    while (ia != a.end() || ib != b.end()) {
      const Json* va = &kAbsent;
      const Json* vb = &kAbsent;
      std::string key;
      if (ib == b.end() || (ia != a.end() && ia.key() < ib.key())) {
        key = ia.key();
        va = &ia.value();
        ++ia;
      } else if (ia == a.end() || ib.key() < ia.key()) {
        key = ib.key();
        vb = &ib.value();
        ++ib;
      } else {
        key = ia.key();
        va = &ia.value();
        vb = &ib.value();
        ++ia;
        ++ib;
      }
      if (*va != *vb) Collect(*va, *vb, prefix.empty() ? key : prefix + "." + key, out);
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

Json NormalizeTaskTemplate(Json t, const NormalizeContext& ctx) {
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
  DropEmpty(t);
  return t;
}

Json NormalizeServiceSpec(Json s, const NormalizeContext& ctx) {
  s.erase("Name");  // compared by the caller, which pairs by name
  EraseLabels(Find(s, {"Labels"}), ctx.ignored_labels);
  if (auto t = s.find("TaskTemplate"); t != s.end()) *t = NormalizeTaskTemplate(std::move(*t), ctx);
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
  DropEmpty(s);
  return s;
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
  DropEmpty(out);
  return out;
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
