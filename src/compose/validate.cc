#include "compose/validate.h"

#include "common/duration.h"

#include <cmath>
#include <memory>

#include "compose/interpolation.h"

namespace stackctl::compose {
namespace {

enum Type : unsigned {
  kS = 1,   // string
  kN = 2,   // number (integer or float)
  kI = 4,   // integer
  kB = 8,   // boolean
  kZ = 16,  // null
  kO = 32,  // object
  kA = 64,  // array
};

enum class Format { kNone, kDuration };

struct Node;
struct Prop {
  std::string name;
  const Node* node;
  int since = 0;  // minor version that introduced the key
};

struct Node {
  unsigned types = 0;
  std::vector<Prop> props;        // fixed keys of an object
  const Node* values = nullptr;   // any-key objects: schema of each value
  const Node* items = nullptr;    // arrays: schema of each item
  bool ext = false;               // x-* keys allowed
  int ext_since = 0;
  int open_since = 0;             // any key allowed from this minor version on (0: never)
  Format format = Format::kNone;
  std::vector<std::string> enums;
  bool unique_items = false;
};

class Schema {
 public:
  Schema() { Build(); }
  const Node* root() const { return root_; }
  const Node* service() const { return service_; }  // a value of root's "services"

 private:
  Node* New(unsigned types) {
    nodes_.push_back(std::make_unique<Node>());
    nodes_.back()->types = types;
    return nodes_.back().get();
  }
  Node* Obj(std::vector<Prop> props, bool ext = false, int ext_since = 0) {
    Node* n = New(kO);
    n->props = std::move(props);
    n->ext = ext;
    n->ext_since = ext_since;
    return n;
  }
  Node* Map(const Node* values, unsigned extra = 0) {
    Node* n = New(kO | extra);
    n->values = values;
    return n;
  }
  Node* Arr(const Node* items, unsigned extra = 0) {
    Node* n = New(kA | extra);
    n->items = items;
    return n;
  }
  Node* Enum(std::vector<std::string> e) {
    Node* n = New(kS);
    n->enums = std::move(e);
    return n;
  }

  void Build() {
    const Node* str = New(kS);
    const Node* integer = New(kI);
    const Node* number = New(kN);
    const Node* boolean = New(kB);
    Node* duration = New(kS);
    duration->format = Format::kDuration;
    const Node* str_or_num = New(kS | kN);
    const Node* str_num_null = New(kS | kN | kB | kZ);
    const Node* list_of_strings = Arr(str);
    Node* unique_strings = Arr(str);
    unique_strings->unique_items = true;
    const Node* string_or_list = Arr(str, kS);
    const Node* list_or_dict = Arr(str, 0);
    Node* lod = const_cast<Node*>(list_or_dict);
    lod->types |= kO;
    lod->values = str_num_null;
    const Node* driver_opts = Map(str_or_num);

    const Node* blob_ref = Obj({{"source", str}, {"target", str}, {"uid", str},
                                {"gid", str}, {"mode", number}});
    Node* blob_refs = Arr(blob_ref);
    const_cast<Node*>(blob_ref)->types |= kS;

    const Node* resource = Obj({{"cpus", str_or_num},
                                {"memory", str},
                                {"pids", integer, 8}});
    const Node* generic = Obj({{"discrete_resource_spec",
                                Obj({{"kind", str}, {"value", number}})}});
    const Node* reservation = Obj({{"cpus", str_or_num},
                                   {"memory", str},
                                   {"generic_resources", Arr(generic), 5}});
    const Node* update = Obj({{"parallelism", integer},
                              {"delay", duration},
                              {"failure_action", str},
                              {"monitor", duration},
                              {"max_failure_ratio", number},
                              {"order", Enum({"start-first", "stop-first"}), 4}});
    const Node* deploy = Obj(
        {{"mode", str},
         {"endpoint_mode", str, 2},
         {"replicas", integer},
         {"labels", list_or_dict},
         {"rollback_config", update, 7},
         {"update_config", update},
         {"resources", Obj({{"limits", resource}, {"reservations", reservation}})},
         {"restart_policy", Obj({{"condition", str},
                                 {"delay", duration},
                                 {"max_attempts", integer},
                                 {"window", duration}})},
         {"placement", Obj({{"constraints", list_of_strings},
                            {"preferences", Arr(Obj({{"spread", str}})), 3},
                            {"max_replicas_per_node", integer, 8}})}},
        true, 7);
    Node* deploy_n = const_cast<Node*>(deploy);
    deploy_n->types |= kZ;

    const Node* healthcheck = Obj({{"disable", boolean},
                                   {"interval", duration},
                                   {"retries", number},
                                   {"test", Arr(str, kS)},
                                   {"timeout", duration},
                                   {"start_period", duration, 4},
                                   {"start_interval", duration, 12}},
                                  true, 7);
    const Node* port = Obj({{"mode", str},
                            {"host_ip", str, 8},
                            {"target", integer},
                            {"published", New(kI | kS)},
                            {"protocol", str}},
                           true, 7);
    const_cast<Node*>(port)->types |= kS | kN;
    const Node* volume = Obj(
        {{"type", str},
         {"source", str},
         {"target", str},
         {"read_only", boolean},
         {"consistency", str},
         {"bind", Obj({{"propagation", str}})},
         {"volume", Obj({{"nocopy", boolean}})},
         {"tmpfs", Obj({{"size", New(kI | kS)}}), 6}},
        true, 7);
    const_cast<Node*>(volume)->types |= kS;
    const Node* svc_net = Obj({{"aliases", list_of_strings},
                               {"ipv4_address", str},
                               {"ipv6_address", str},
                               {"driver_opts", driver_opts, 13}},
                              true, 7);
    const_cast<Node*>(svc_net)->types |= kZ;
    Node* svc_networks = Map(svc_net);
    svc_networks->types |= kA;
    svc_networks->items = str;
    const Node* ulimit = Obj({{"hard", integer}, {"soft", integer}});
    const_cast<Node*>(ulimit)->types |= kI;
    const Node* logging = Obj({{"driver", str}, {"options", Map(New(kS | kN | kZ))}});
    const Node* build = Obj({{"context", str},
                             {"dockerfile", str},
                             {"args", list_or_dict},
                             {"labels", list_or_dict, 3},
                             {"cache_from", list_of_strings, 2},
                             {"network", str, 4},
                             {"target", str, 4},
                             {"shm_size", New(kI | kS), 4},
                             {"extra_hosts", list_or_dict, 9}},
                            true, 7);
    const_cast<Node*>(build)->types |= kS;
    const_cast<Node*>(build)->open_since = 11;  // docker/cli schema 3.11: additionalProperties

    service_ = Obj(
        {{"build", build},
         {"cap_add", unique_strings},
         {"cap_drop", unique_strings},
         {"cgroup_parent", str},
         {"cgroupns_mode", str, 9},
         {"command", Arr(str, kS)},
         {"configs", blob_refs, 3},
         {"container_name", str},
         {"credential_spec", Obj({{"config", str, 8}, {"file", str}, {"registry", str}}), 3},
         {"depends_on", unique_strings},
         {"deploy", deploy},
         {"devices", list_of_strings},
         {"dns", string_or_list},
         {"dns_search", string_or_list},
         {"domainname", str},
         {"entrypoint", Arr(str, kS)},
         {"env_file", string_or_list},
         {"environment", list_or_dict},
         {"expose", Arr(New(kS | kN))},
         {"external_links", list_of_strings},
         {"extra_hosts", list_or_dict},
         {"healthcheck", healthcheck},
         {"hostname", str},
         {"image", str},
         {"init", boolean, 7},
         {"ipc", str},
         {"isolation", str, 5},
         {"labels", list_or_dict},
         {"links", list_of_strings},
         {"logging", logging},
         {"mac_address", str},
         {"network_mode", str},
         {"networks", svc_networks},
         {"oom_score_adj", integer, 13},
         {"pid", New(kS | kZ)},
         {"ports", Arr(port)},
         {"privileged", boolean},
         {"read_only", boolean},
         {"restart", str},
         {"secrets", blob_refs, 1},
         {"security_opt", list_of_strings},
         {"shm_size", New(kN | kS)},
         {"stdin_open", boolean},
         {"stop_grace_period", duration},
         {"stop_signal", str},
         {"sysctls", list_or_dict},
         {"tmpfs", string_or_list},
         {"tty", boolean},
         {"ulimits", Map(ulimit)},
         {"user", str},
         {"userns_mode", str},
         {"volumes", Arr(volume)},
         {"working_dir", str}},
        true, 7);

    const Node* labels = list_or_dict;
    const Node* ext_name = Obj({{"name", str}});
    const_cast<Node*>(ext_name)->types |= kB;
    const Node* ipam = Obj({{"driver", str}, {"config", Arr(Obj({{"subnet", str}}))}, {"options", Map(str), 9}});
    const Node* network = Obj({{"name", str, 5},
                               {"driver", str},
                               {"driver_opts", driver_opts},
                               {"ipam", ipam},
                               {"external", ext_name},
                               {"internal", boolean},
                               {"attachable", boolean, 2},
                               {"labels", labels, 3}},
                              true, 7);
    const_cast<Node*>(network)->types |= kZ;
    const Node* vol = Obj({{"name", str, 4},
                           {"driver", str},
                           {"driver_opts", driver_opts},
                           {"external", ext_name},
                           {"labels", labels, 3}},
                          true, 7);
    const_cast<Node*>(vol)->types |= kZ;
    const Node* secret = Obj({{"name", str, 5},
                              {"file", str},
                              {"external", ext_name},
                              {"labels", labels},
                              {"driver", str, 8},
                              {"driver_opts", driver_opts, 8},
                              {"template_driver", str, 8}},
                             true, 7);
    const Node* config = Obj({{"name", str, 5},
                              {"file", str},
                              {"external", ext_name},
                              {"labels", labels},
                              {"template_driver", str, 8}},
                             true, 7);

    root_ = Obj({{"version", str},
                 {"services", Map(service_)},
                 {"networks", Map(network)},
                 {"volumes", Map(vol)},
                 {"secrets", Map(secret), 1},
                 {"configs", Map(config), 3}},
                true, 4);
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  const Node* root_ = nullptr;
  const Node* service_ = nullptr;
};

std::string TypeName(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "list";
  return "mapping";
}

std::string Expected(unsigned t) {
  std::vector<std::string> names;
  if (t & kS) names.push_back("a string");
  if (t & kN) {
    names.push_back("a number");
  } else if (t & kI) {
    names.push_back("an integer");
  }
  if (t & kB) names.push_back("a boolean");
  if (t & kA) names.push_back("a list");
  if (t & kO) names.push_back("a mapping");
  if (t & kZ) names.push_back("null");
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += (i + 1 == names.size()) ? " or " : ", ";
    out += names[i];
  }
  return out;
}

bool TypeOk(unsigned t, const Json& v) {
  if (v.is_null()) return t & kZ;
  if (v.is_boolean()) return t & kB;
  if (v.is_number_integer() || v.is_number_unsigned()) return t & (kI | kN);
  if (v.is_number_float()) {
    if (t & kN) return true;
    double d = v.get<double>();
    return (t & kI) && std::floor(d) == d;
  }
  if (v.is_string()) return t & kS;
  if (v.is_array()) return t & kA;
  return t & kO;
}

class Validator {
 public:
  Validator(int minor, const std::string& filename, const Marks& marks,
            std::vector<std::string>* errors)
      : minor_(minor), filename_(filename), marks_(marks), errors_(errors) {}

  void Check(const Node* n, const Json& v, const std::string& path) {
    if (!TypeOk(n->types, v)) {
      Error(path, "must be " + Expected(n->types) + ", not " + TypeName(v) +
                      (v.is_primitive() && !v.is_null() ? " " + v.dump(-1, ' ', false, Json::error_handler_t::replace) : ""));
      return;
    }
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (!n->enums.empty() && std::find(n->enums.begin(), n->enums.end(), s) == n->enums.end()) {
        std::string allowed;
        for (const auto& e : n->enums) allowed += (allowed.empty() ? "" : ", ") + e;
        Error(path, "must be one of " + allowed + ", not " + Json(s).dump(-1, ' ', false, Json::error_handler_t::replace));
      }
      int64_t ns;
      if (n->format == Format::kDuration && !ParseGoDuration(s, &ns)) {
        Error(path, "invalid duration " + Json(s).dump(-1, ' ', false, Json::error_handler_t::replace) + " (use a number with a unit, like \"10s\" or \"1m30s\")");
      }
      return;
    }
    if (v.is_array()) {
      if (!n->items) return;
      std::vector<std::string> seen;
      for (size_t i = 0; i < v.size(); ++i) {
        Check(n->items, v[i], JoinKey(path, std::to_string(i)));
        if (n->unique_items && v[i].is_string()) {
          const std::string& s = v[i].get_ref<const std::string&>();
          if (std::find(seen.begin(), seen.end(), s) != seen.end()) {
            Error(JoinKey(path, std::to_string(i)), "duplicate item " + Json(s).dump(-1, ' ', false, Json::error_handler_t::replace));
          }
          seen.push_back(s);
        }
      }
      return;
    }
    if (v.is_object()) {
      for (const auto& [k, child] : v.items()) {
        std::string cp = JoinKey(path, k);
        if (n->values) {
          Check(n->values, child, cp);
          continue;
        }
        if (n->ext && k.rfind("x-", 0) == 0) {
          if (minor_ < n->ext_since) {
            Error(path, "extension field " + k + " requires version 3." +
                            std::to_string(n->ext_since) + " or later");
          }
          continue;
        }
        const Prop* p = nullptr;
        for (const auto& pr : n->props) {
          if (pr.name == k) p = &pr;
        }
        if (!p && n->open_since && minor_ >= n->open_since) continue;
        if (!p) {
          std::string allowed;
          for (const auto& pr : n->props) {
            if (pr.since <= minor_) allowed += (allowed.empty() ? "" : ", ") + pr.name;
          }
          Error(path.empty() ? k : path, (path.empty() ? std::string("") : "") +
                                             "additional property " + k +
                                             " is not allowed (allowed: " + allowed + ")");
          continue;
        }
        if (p->since > minor_) {
          Error(path.empty() ? k : path, "additional property " + k +
                                             " is not allowed in version 3." +
                                             std::to_string(minor_) + " (needs 3." +
                                             std::to_string(p->since) + " or later)");
          continue;
        }
        Check(p->node, child, cp);
      }
    }
  }

 private:
  void Error(const std::string& path, const std::string& msg) {
    errors_->push_back(Located(filename_, marks_, path, msg));
  }

  int minor_;
  const std::string& filename_;
  const Marks& marks_;
  std::vector<std::string>* errors_;
};

}  // namespace

const Schema& TheSchema() {
  static const Schema* schema = new Schema();  // immutable after construction
  return *schema;
}

void ValidateFile(const Json& root, int minor, const std::string& filename,
                  const Marks& marks, std::vector<std::string>* errors) {
  Validator v(minor, filename, marks, errors);
  v.Check(TheSchema().root(), root, "");
}

void ValidateService(const Json& service, const std::string& name, int minor,
                     const std::string& filename, const Marks& marks,
                     std::vector<std::string>* errors) {
  Validator v(minor, filename, marks, errors);
  v.Check(TheSchema().service(), service, JoinKey(JoinKey("", "services"), name));
}

}  // namespace stackctl::compose
