// Distributed Application Bundle (DAB, format 0.1) loader: the JSON files
// `docker-compose bundle` wrote and `docker deploy --bundle-file` read.
//
//   {"Version": "0.1", "Services": {"web": {"Image": "...", "Command": [...],
//    "Args": [...], "Env": ["K=V"], "Labels": {...}, "Ports": [{"Protocol":
//    "tcp", "Port": 80}], "WorkingDir": "/", "User": "u", "Networks": [...]}}}
//
// Errors are path-qualified ("bundle.dab: Services.web.Ports[0].Port: must be
// an integer between 1 and 65535") and every error is reported, not only the
// first. Unknown keys are errors (the docker CLI decoded DABs strictly).
//
// Thread safety: pure function.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace stackctl::dab {

struct Port {
  std::string protocol;  // "tcp" | "udp" | "sctp"
  uint32_t port = 0;
  bool operator==(const Port&) const = default;
};

struct Service {
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::map<std::string, std::string> labels;
  std::vector<Port> ports;
  std::optional<std::string> working_dir;
  std::optional<std::string> user;
  std::vector<std::string> networks;
  bool operator==(const Service&) const = default;
};

struct Bundle {
  std::string version;
  std::map<std::string, Service> services;
  bool operator==(const Bundle&) const = default;
};

// `what` names the bundle in errors (usually its path).
Result<Bundle> LoadBundle(const std::string& content, const std::string& what);

}  // namespace stackctl::dab
