// EngineWrapper: an Engine that forwards every call to another Engine.
//
// The leveldb EnvWrapper pattern: subclass it and override only the calls you
// want to change (fail the third UpdateService, delay ListTasks, count calls),
// everything else reaches the wrapped engine untouched.
//
// Ownership: does not own `target`, which must outlive the wrapper.
// Thread safety: as safe as the wrapped engine (this class has no state).
#pragma once

#include <string>
#include <vector>

#include "engineapi/engine.h"

namespace stackctl::engine {

class EngineWrapper : public Engine {
 public:
  explicit EngineWrapper(Engine& target) : target_(target) {}
  Engine& target() const { return target_; }

  Status Ping() override { return target_.Ping(); }
  Result<VersionInfo> Version() override { return target_.Version(); }
  Result<SwarmInfo> Info() override { return target_.Info(); }

  Status VisitServices(const Filters& filters, bool with_status,
                       const std::function<void(Service&&)>& visit) override {
    return target_.VisitServices(filters, with_status, visit);
  }
  Result<Service> InspectService(const std::string& id_or_name) override {
    return target_.InspectService(id_or_name);
  }
  Result<std::string> CreateService(const Json& spec, const std::string& registry_auth) override {
    return target_.CreateService(spec, registry_auth);
  }
  Result<std::vector<std::string>> UpdateService(const std::string& id, uint64_t version,
                                                 const Json& spec,
                                                 const std::string& registry_auth) override {
    return target_.UpdateService(id, version, spec, registry_auth);
  }
  Status RollbackService(const std::string& id, uint64_t version) override {
    return target_.RollbackService(id, version);
  }
  Status RemoveService(const std::string& id) override { return target_.RemoveService(id); }

  Result<std::vector<Task>> ListTasks(const Filters& filters) override {
    return target_.ListTasks(filters);
  }
  Result<std::vector<Node>> ListNodes(const Filters& filters) override {
    return target_.ListNodes(filters);
  }

  Result<std::vector<Object>> ListObjects(Kind kind, const Filters& filters) override {
    return target_.ListObjects(kind, filters);
  }
  Result<Object> InspectObject(Kind kind, const std::string& id_or_name) override {
    return target_.InspectObject(kind, id_or_name);
  }
  Result<std::string> CreateObject(Kind kind, const Json& spec) override {
    return target_.CreateObject(kind, spec);
  }
  Status UpdateObject(Kind kind, const std::string& id, uint64_t version,
                      const Json& spec) override {
    return target_.UpdateObject(kind, id, version, spec);
  }
  Status RemoveObject(Kind kind, const std::string& id) override {
    return target_.RemoveObject(kind, id);
  }

  Result<std::string> DistributionDigest(const std::string& image,
                                         const std::string& registry_auth) override {
    return target_.DistributionDigest(image, registry_auth);
  }
  Status StreamEvents(const Filters& filters, int64_t since_nano,
                      const std::function<bool(const Json&)>& on_event, int64_t timeout_ms,
                      const std::atomic<bool>* cancel = nullptr) override {
    return target_.StreamEvents(filters, since_nano, on_event, timeout_ms, cancel);
  }

 private:
  Engine& target_;
};

}  // namespace stackctl::engine
