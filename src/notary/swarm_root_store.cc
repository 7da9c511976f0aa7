#include "notary/swarm_root_store.h"

#include <algorithm>
#include <tuple>

#include "common/crypto.h"
#include "common/json.h"

namespace stackctl::notary {
namespace {

constexpr char kGunHash[] = "io.stackctl.notary.gun-hash";
constexpr char kRootVersion[] = "io.stackctl.notary.root-version";
constexpr char kWeight[] = "io.stackctl.notary.weight";

int64_t LabelInt(const engine::Object& o, const char* key) {
  auto it = o.labels.find(key);
  if (it == o.labels.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return 0;
  }
}

int64_t RootVersion(const std::string& root) {
  try {
    return Json::parse(root).at("signed").at("version").get<int64_t>();
  } catch (const Json::exception&) {
    return 0;
  }
}

Result<std::vector<engine::Object>> ListFor(engine::Engine& engine, const std::string& gun) {
  engine::Filters f{{"label", {std::string(kGunHash) + "=" + Sha256Hex(gun)}}};
  auto list = engine.ListObjects(engine::Kind::kConfig, f);
  if (!list.ok()) {
    return Status(list.status().code(),
                  gun + ": trust store: cannot list swarm configs: " + list.status().message());
  }
  return list;
}

}  // namespace

Result<std::optional<TrustState>> SwarmRootStore::Load(const std::string& gun) {
  ASSIGN_OR_RETURN(auto list, ListFor(engine_, gun));
  if (list.empty()) return std::optional<TrustState>();
  auto best = std::max_element(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(LabelInt(a, kRootVersion), LabelInt(a, kWeight), a.name) <
           std::make_tuple(LabelInt(b, kRootVersion), LabelInt(b, kWeight), b.name);
  });
  auto obj = engine_.InspectObject(engine::Kind::kConfig, best->id);
  if (!obj.ok()) {
    return Status(obj.status().code(), gun + ": trust store: cannot read swarm config " +
                                           best->name + ": " + obj.status().message());
  }
  std::string data;
  auto d = obj->spec.find("Data");
  if (d == obj->spec.end() || !d->is_string() || !Base64Decode(d->get<std::string>(), &data)) {
    return FailedPrecondition(gun + ": trust store: swarm config " + best->name + " has no data");
  }
  ASSIGN_OR_RETURN(TrustState s, DecodeTrustState(data, "swarm config " + best->name));
  return std::optional<TrustState>(std::move(s));
}

Status SwarmRootStore::Save(const std::string& gun, const TrustState& state) {
  std::string data = EncodeTrustState(state);
  std::string gun_hash = Sha256Hex(gun);
  std::string name =
      "stackctl-notary-" + gun_hash.substr(0, 16) + "-" + Sha256Hex(data).substr(0, 16);
  int64_t weight = 0;
  for (const auto& [role, v] : state.versions) weight += v;
  Json spec = {{"Name", name},
               {"Labels",
                {{"io.stackctl.owner", "stackctl"},
                 {"io.stackctl.kind", "notary-trust"},
                 {"io.stackctl.notary.gun", gun},
                 {kGunHash, gun_hash},
                 {kRootVersion, std::to_string(RootVersion(state.root))},
                 {kWeight, std::to_string(weight)}}},
               {"Data", Base64Encode(data)}};
  auto created = engine_.CreateObject(engine::Kind::kConfig, spec);
  if (!created.ok() && created.status().code() != Code::kAlreadyExists) {
    return Status(created.status().code(), gun + ": trust store: cannot create swarm config " +
                                               name + ": " + created.status().message());
  }
  // Older states of this GUN are superseded; failing to remove one is harmless.
  auto list = ListFor(engine_, gun);
  if (list.ok()) {
    for (const auto& o : *list) {
      if (o.name != name) (void)engine_.RemoveObject(engine::Kind::kConfig, o.id);
    }
  }
  return OkStatus();
}

}  // namespace stackctl::notary
