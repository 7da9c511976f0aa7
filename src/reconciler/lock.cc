#include "reconciler/lock.h"

#include <unistd.h>

#include <filesystem>
#include <random>

#include "common/crypto.h"
#include "model/stack.h"
#include "reconciler/live.h"

namespace stackctl::reconciler {
namespace {

constexpr char kHolderLabel[] = "io.stackctl.lock-holder";
constexpr char kExpiresLabel[] = "io.stackctl.lock-expires";

std::string Hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string MakeHolder() {
  std::random_device rd;
  return Hostname() + ":" + std::to_string(getpid()) + ":" + std::to_string(rd());
}

// True when the holder was a process on this host that has exited.
bool HolderIsDeadHere(const std::string& holder) {
  auto first = holder.find(':');
  auto second = holder.find(':', first + 1);
  if (first == std::string::npos || second == std::string::npos) return false;
  if (holder.substr(0, first) != Hostname()) return false;
  std::string pid = holder.substr(first + 1, second - first - 1);
  return !std::filesystem::exists("/proc/" + pid);
}

}  // namespace

Result<std::unique_ptr<StackLock>> StackLock::Acquire(engine::Engine& engine, Clock& clock,
                                                      const std::string& stack,
                                                      std::chrono::milliseconds wait,
                                                      std::chrono::milliseconds ttl) {
  const std::string name = "stackctl-lock-" + stack;
  const std::string holder = MakeHolder();
  auto deadline = clock.Steady() + wait;
  std::string last_holder;
  for (;;) {
    auto expires = std::chrono::duration_cast<std::chrono::seconds>(
                       (clock.Now() + ttl).time_since_epoch())
                       .count();
    Json spec = {{"Name", name},
                 {"Labels",
                  {{kHolderLabel, holder},
                   {kExpiresLabel, std::to_string(expires)},
                   {kKindLabel, "lock"},
                   {model::kManagedByLabel, model::kManagedByValue}}},
                 {"Data", Base64Encode("stackctl deploy lock\n")}};
    auto created = engine.CreateObject(engine::Kind::kConfig, spec);
    if (created.ok()) return std::unique_ptr<StackLock>(new StackLock(engine, *created));
    if (created.status().code() != Code::kAlreadyExists) {
      return created.status().WithPrefix("lock of stack " + stack);
    }
    auto cur = engine.InspectObject(engine::Kind::kConfig, name);
    if (cur.ok()) {
      last_holder = cur->labels[kHolderLabel];
      long long exp = std::atoll(cur->labels[kExpiresLabel].c_str());
      long long now = std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
      if (exp < now || HolderIsDeadHere(last_holder)) {
        Status st = engine.RemoveObject(engine::Kind::kConfig, cur->id);
        if (!st.ok() && st.code() != Code::kNotFound) return st.WithPrefix("breaking stale lock of stack " + stack);
        continue;
      }
    } else if (cur.status().code() != Code::kNotFound) {
      return cur.status().WithPrefix("lock of stack " + stack);
    }
    if (clock.Steady() >= deadline) {
      return Aborted("stack " + stack + " is locked by another deploy (" + last_holder + ")");
    }
    clock.SleepFor(std::chrono::milliseconds(500));
  }
}

StackLock::~StackLock() { (void)engine_.RemoveObject(engine::Kind::kConfig, id_); }

}  // namespace stackctl::reconciler
