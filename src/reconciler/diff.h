// Diff: pairs the desired objects of a stack with the live ones and says, per
// object, what must happen (gitops-engine's reconcile + diff).
//
// PrepareDesired stamps stackctl's labels on a rendered stack: ownership and,
// for services, a hash of the desired spec ("last applied"). Compare then
// normalizes both sides (normalize.h) and reports the changed paths. A live
// service whose hash label equals the desired hash but whose spec differs was
// changed by someone else: that is drift.
//
// Adoption: objects of the stack's namespace that stackctl did not make
// (`docker stack deploy`, Portainer...) are taken over, not recreated. A
// network equal to the desired one but for stackctl's labels is adopted
// (recorded on the control record: networks cannot be relabelled); a secret
// or config named like the logical name of a desired one is relabelled as an
// older version of it; a service is updated, by its labels alone when nothing
// else differs, so its tasks keep running.
//
// Thread safety: pure functions over values.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/stack.h"
#include "reconciler/live.h"
#include "reconciler/normalize.h"

namespace stackctl::reconciler {

enum class ResourceKind { kNetwork, kSecret, kConfig, kService };
enum class Action { kNone, kCreate, kUpdate, kRecreate, kDelete, kAdopt };
std::string_view ResourceKindName(ResourceKind k);
std::string_view ActionName(Action a);

// Every member has an initializer, so a brace list may stop after the action
// (GCC warns of a member without one left out).
struct Change {
  ResourceKind kind{};
  std::string name{};
  Action action = Action::kNone;
  std::vector<std::string> paths{};  // for updates: normalized paths that differ
  bool drift = false;                // live changed outside stackctl
  std::string note{};                // e.g. why a network must be recreated
  // Services (update, adopt): the change replaces the service's tasks (its
  // task template or endpoint differs); false for a change of labels,
  // replicas or placement alone, which Swarm applies without restarting the
  // tasks that still fit.
  bool restarts = false;
};

// Whether a service change at these normalized paths replaces its tasks.
bool ReplacesTasks(const std::vector<std::string>& paths);

struct StackDiff {
  std::string stack;
  std::vector<Change> changes;  // every desired object, then deletions
  // Objects stackctl owns in this stack that the desired state no longer has
  // and that are kept because prune is off.
  std::vector<std::string> orphans;
  bool InSync() const;
  size_t Count(Action a) const;
};

struct DiffOptions {
  bool prune = false;
};

// Adds ownership, namespace and hash labels to every object of `desired`.
void PrepareDesired(model::StackSpec* desired);
// Hash of a service spec as stored in kSpecHashLabel (our labels excluded).
std::string ServiceSpecHash(const Json& spec);

// `desired` must have been through PrepareDesired. Fails (FailedPrecondition)
// when an external network/secret the stack needs does not exist, or when a
// network of the desired name exists outside the stack's namespace.
Result<StackDiff> Compare(const model::StackSpec& desired, const LiveState& live,
                          const DiffOptions& options);

NormalizeContext MakeNormalizeContext(const LiveState& live);

// Unpacks and normalizes the live service specs ahead, as Compare would (it
// then uses them instead), one at a time until `stop` is set (between two
// services; the rest are left to Compare): for a caller whose reading thread
// would otherwise wait for the files to render (stackctl deploy and diff),
// so that the work after both is smaller, but never longer than the render.
// Costs a DOM per service for as long as `live` holds them: not for
// stackctld, which keeps its specs packed.
void NormalizeLiveServices(LiveState* live, const std::atomic<bool>& stop);

}  // namespace stackctl::reconciler
