// model::StackSpec: the pivot type of stackctl.
//
// Compose files (src/compose) and DAB bundles (src/dab) are both converted
// into a StackSpec; everything after that (secret materialization, image
// pinning, diff, plan, apply) works on it alone.
//
// Specs are kept as the exact JSON bodies the Docker Engine API takes
// (ServiceSpec, NetworkCreate, SecretSpec, ConfigSpec), with keys named as the
// engine names them. That keeps conversion parity with `docker stack deploy`
// checkable byte for byte against the request bodies docker itself sent (the
// golden of tests/data/compose/full-example; scripts/conformance.sh over an
// external corpus), and lets
// the diff report engine paths ("TaskTemplate.ContainerSpec.Image").
//
// Secret and config *content* never lives inside a spec: it is held in
// `data`, kept out of every printout, and wiped by its owner after use.
//
// Thread safety: plain values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/json.h"

namespace stackctl::model {

// Labels docker stack deploy writes, and ours.
inline constexpr char kStackNamespaceLabel[] = "com.docker.stack.namespace";
inline constexpr char kStackImageLabel[] = "com.docker.stack.image";
// Ownership: set on every object stackctl creates; prune only touches these.
inline constexpr char kManagedByLabel[] = "io.stackctl.managed-by";
inline constexpr char kManagedByValue[] = "stackctl";
// Hash of the desired spec at apply time ("last applied").
inline constexpr char kSpecHashLabel[] = "io.stackctl.spec-hash";
// Git revision (or "manual") the object was last applied from.
inline constexpr char kRevisionLabel[] = "io.stackctl.revision";
// Secrets/configs: the name before content hashing ("mystack_db_pass") and
// "sha256:<hex>" of the content (secrets::Materialize sets both), so the
// content-hashed versions of one logical secret are recognized as such.
inline constexpr char kLogicalNameLabel[] = "io.stackctl.logical-name";
inline constexpr char kContentHashLabel[] = "io.stackctl.content-hash";

struct Network {
  std::string key;   // compose key ("default", "backend")
  std::string name;  // engine name ("mystack_backend" or the external name)
  bool external = false;
  Json spec;  // NetworkCreate body (Name, Driver, Labels, IPAM, ...); null when external
  bool operator==(const Network&) const = default;
};

// A Swarm secret or config: same shape, different engine endpoint.
struct Blob {
  std::string key;   // compose key ("db_password")
  std::string name;  // engine name
  bool external = false;
  Json spec;         // SecretSpec/ConfigSpec without Data; null when external
  std::string data;  // raw content; empty when external. Never printed.
  bool operator==(const Blob&) const = default;
};

struct Service {
  std::string key;   // compose key ("web")
  std::string name;  // engine name ("mystack_web")
  PackedJson spec;   // ServiceSpec as sent on create/update
  std::vector<std::string> depends_on;  // compose keys of services to roll out first
  bool operator==(const Service&) const = default;
};

struct StackSpec {
  std::string name;
  // Each vector sorted by name: conversion is deterministic.
  std::vector<Network> networks;
  std::vector<Blob> secrets;
  std::vector<Blob> configs;
  std::vector<Service> services;
  // Non-fatal findings of the loader ("services.web: build is not supported
  // by swarm, ignored"), shown to the user like docker does.
  std::vector<std::string> warnings;
  // Set by a caller that ran reconciler::PrepareDesired on these specs ahead
  // of the deploy (stackctl deploy does it while the live state is being
  // read), so the Deployer does not stamp and hash them again when pinning
  // cannot change them. The Deployer clears it; nothing else sets it.
  bool prepared = false;
  bool operator==(const StackSpec&) const = default;
};

}  // namespace stackctl::model
