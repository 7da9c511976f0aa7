// Stack commands that talk to a swarm manager directly (no controller
// needed): deploy, diff, rollback, history, status, rm, resume. With --server
// (cli/server_client.h), status and history ask a running stackctld instead;
// both sources are printed by cli/stack_view.h.
// Wiring only: deploy and diff turn their flags into a stacksync::StackTarget
// and run the controller's reconcile (stacksync/stack_reconcile.h) over the
// files on disk; src/reconciler does the rest.
#include <unistd.h>

#include <future>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/cli.h"
#include "cli/engine_options.h"
#include "cli/server_client.h"
#include "cli/stack_source.h"
#include "cli/stack_view.h"
#include "cli/trust_options.h"
#include "model/from_compose.h"
#include "common/duration.h"
#include "common/clock.h"
#include "common/file_source.h"
#include "notary/image_verifier.h"
#include "notary/swarm_root_store.h"
#include "notary/trust_store.h"
#include "reconciler/deployer.h"
#include "reconciler/diff.h"
#include "reconciler/live.h"
#include "stacksync/stack_reconcile.h"
#include "apiclient/client.h"

namespace stackctl::cli {
namespace {

bool Tty() { return isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr; }

struct Colors {
  bool on;
  std::string Wrap(const char* code, const std::string& s) const {
    return on ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
  }
  std::string Green(const std::string& s) const { return Wrap("32", s); }
  std::string Yellow(const std::string& s) const { return Wrap("33", s); }
  std::string Red(const std::string& s) const { return Wrap("31", s); }
};

// Prints rollout progress to stderr, one line per step or state change.
class ConsoleProgress : public reconciler::ProgressSink {
 public:
  explicit ConsoleProgress(bool quiet) : quiet_(quiet) {}
  void Info(const std::string& line) override {
    if (!quiet_) std::cerr << line << "\n";
  }
  void Service(const std::string& name, const reconciler::ServiceHealth& h) override {
    if (quiet_) return;
    std::cerr << "  " << name << ": " << reconciler::HealthStateName(h.state) << " " << h.running << "/"
              << h.desired << (h.update_state.empty() ? "" : " (update " + h.update_state + ")")
              << (h.message.empty() ? "" : ": " + h.message) << "\n";
  }

 private:
  bool quiet_;
};

// Image resolution for deploy/diff: Notary and/or cosign signatures per
// policy, else the engine's digest.
struct ImageTrustFlags {
  TrustOptions trust;
  std::string policy = "off";
  std::string resolve = "changed";
};

void AddImageTrustFlags(CLI::App* cmd, ImageTrustFlags* f) {
  AddTrustOptions(cmd, &f->trust);
  cmd->add_option("--trust-policy", f->policy,
                  "Image trust: require (only signed images), warn, off (default: off); "
                  "what is signed: --signatures, --cosign-key");
  cmd->add_option("--resolve-image", f->resolve,
                  "Pin images to digests: always, changed (default: unchanged tags keep their live digest), never");
}

// The trust rule, Notary and registry options and image pinning the flags
// describe, into the target (files named by flags are read now).
Status ApplyImageTrustFlags(const ImageTrustFlags& f, stacksync::StackTarget* t) {
  ASSIGN_OR_RETURN(notary::TrustPolicy policy, notary::ParseTrustPolicy(f.policy));
  ASSIGN_OR_RETURN(t->deploy.images.mode, reconciler::ParseResolveMode(f.resolve));
  ASSIGN_OR_RETURN(ImageTrustFromFlags trust, BuildImageTrust(f.trust, policy));
  t->trust = std::move(trust.policy);
  t->deploy.images.required = t->trust.AnyRequired();
  t->notary = std::move(trust.notary);
  t->registries = std::move(trust.registries);
  return OkStatus();
}

// A stack on disk as deploy and diff reconcile it.
struct CliTarget {
  stacksync::StackTarget target;
  secrets::Keyring keys;
};

Result<CliTarget> TargetFromFlags(const StackSourceOptions& source, const ImageTrustFlags& images,
                                  const std::string& stack) {
  CliTarget out;
  ASSIGN_OR_RETURN(StackOnDisk on_disk, StackOnDiskFor(source, stack));
  out.target.stack = stack;
  out.target.render = std::move(on_disk.input);
  out.keys = std::move(on_disk.keys);
  RETURN_IF_ERROR(ApplyImageTrustFlags(images, &out.target));
  return out;
}

// What deploy and diff share once the stack rendered and the engine
// answered: trusted roots in the swarm (so every manager and CLI trust the
// same root), the progress printer and the reconcile itself.
stacksync::ReconcileReport ReconcileOnDisk(const CliTarget& t, const std::string& revision, reconciler::Trigger trigger,
                                           stacksync::RenderedStack rendered, engine::Engine& engine,
                                           Result<reconciler::LiveState> live, reconciler::ProgressSink& progress) {
  notary::SwarmRootStore roots(engine);
  notary::MemoryMetadataCache cache;
  SystemClock clock;
  stacksync::ReconcileEnv env{
      .engine = engine, .clock = clock, .keys = t.keys, .trust_roots = roots, .trust_cache = cache};
  env.progress = &progress;
  env.live = std::move(live);
  const reconciler::ReconcilePlan plan = reconciler::DecideReconcile(trigger, t.target.sync, /*commit_failed=*/false);
  return stacksync::ApplyRendered(t.target, revision, plan, trigger, std::move(rendered), env);
}

// Stamps and hashes the rendered specs (reconciler::PrepareDesired) while the
// live state is still being read, when the image pinning that needs the live
// state cannot change them (--resolve-image never): after the reads only the
// comparison is left.
void PrepareAhead(const CliTarget& t, stacksync::RenderedStack* rendered) {
  if (!reconciler::PinLeavesSpecsAlone(t.target.deploy.images)) return;
  reconciler::PrepareDesired(&*rendered->spec);
  rendered->spec->prepared = true;
}

// The engine connection and the stack's live state, fetched on a thread of
// their own while deploy or diff renders the stack's files: a no-op then
// costs the slower of the render and the engine's answers, not their sum.
// The callers report a render error first, whatever the engine did, then the
// engine's errors in the order they always had (connect, then read). The
// future's destructor waits for the thread, so an unreachable tcp:// engine
// delays the exit after a render error by up to its connect timeout.
struct EngineRead {
  Result<std::unique_ptr<engine::Engine>> engine = Unavailable("engine: not connected");
  Result<reconciler::LiveState> live = Unavailable("engine: live state not read");
};

// The reading thread. Once it has read, and until the render is over, it
// normalizes live services for the comparison (NormalizeLiveServices): time
// it would spend waiting otherwise. Join says the render is over and waits.
struct EngineReading {
  std::shared_ptr<std::atomic<bool>> rendered;
  std::future<EngineRead> read;
  EngineRead Join() {
    rendered->store(true);
    return read.get();
  }
  ~EngineReading() { rendered->store(true); }  // before the future waits
};

EngineReading ConnectAndReadLive(const GlobalOptions& global, const std::string& stack) {
  auto rendered = std::make_shared<std::atomic<bool>>(false);
  return EngineReading{rendered, std::async(std::launch::async, [global, stack, rendered] {
                         EngineRead r;
                         r.engine = ConnectEngine(global);
                         if (r.engine.ok()) r.live = reconciler::ReadLive(**r.engine, stack);
                         if (r.live.ok()) reconciler::NormalizeLiveServices(&*r.live, *rendered);
                         return r;
                       })};
}

// A duration flag's value in the one duration grammar (common/duration.h:
// "90s", "1m30s", "500ms"); the error names the flag.
Result<std::chrono::milliseconds> ParseDurationFlag(const std::string& flag, const std::string& value) {
  Result<std::chrono::milliseconds> d = ParseDurationMs(value);
  if (!d.ok()) return d.status().WithPrefix(flag);
  return d;
}

// 0 when the stack ends where it was asked to be, 1 otherwise (rolled back, failed).
int ExitCode(reconciler::Outcome o) {
  return o == reconciler::Outcome::kInSync || o == reconciler::Outcome::kSucceeded ? 0 : 1;
}

int FailMessage(const std::string& cmd, const std::string& message) {
  std::cerr << "stackctl " << cmd << ": " << message << "\n";
  return 1;
}

int Fail(const std::string& cmd, const Status& st) { return FailMessage(cmd, st.message()); }

void PrintDiffText(const reconciler::StackDiff& d, const Colors& c) {
  using reconciler::Action;
  for (const auto& ch : d.changes) {
    if (ch.action == Action::kNone) continue;
    std::string sign = ch.action == Action::kCreate ? c.Green("+")
                       : ch.action == Action::kDelete ? c.Red("-")
                                                      : c.Yellow("~");
    std::cout << sign << " " << reconciler::ResourceKindName(ch.kind) << " " << ch.name << " ("
              << reconciler::ActionName(ch.action) << (ch.drift ? ", drift" : "") << ")";
    if (!ch.note.empty()) std::cout << ": " << ch.note;
    std::cout << "\n";
    for (const auto& p : ch.paths) std::cout << "    " << p << "\n";
  }
  for (const auto& o : d.orphans) std::cout << "  " << o << " is no longer defined (kept: prune is off)\n";
  if (d.InSync()) std::cout << "stack " << d.stack << ": in sync\n";
}

Json DiffJson(const reconciler::StackDiff& d) {
  Json j = {{"stack", d.stack}, {"in_sync", d.InSync()}, {"changes", Json::array()}, {"orphans", d.orphans}};
  for (const auto& ch : d.changes) {
    j["changes"].push_back({{"kind", reconciler::ResourceKindName(ch.kind)},
                            {"name", ch.name},
                            {"action", reconciler::ActionName(ch.action)},
                            {"paths", ch.paths},
                            {"drift", ch.drift},
                            {"restarts", ch.restarts},
                            {"note", ch.note}});
  }
  return j;
}

// What a removal left the engine still tearing down (it gave up waiting).
void PrintStillRemoving(const std::string& stack, const std::vector<std::string>& still) {
  if (still.empty()) return;
  std::string list;
  for (const auto& w : still) list += (list.empty() ? "" : ", ") + w;
  std::cerr << "stack " << stack << ": still being removed by the engine: " << list << "\n";
}

}  // namespace

void RegisterStackCommands(CLI::App& app, Context& ctx) {
  // ---- deploy
  {
    auto* cmd = app.add_subcommand("deploy", "Deploy or update a stack and wait for it to converge");
    struct Args {
      StackSourceOptions stack;
      ImageTrustFlags images;
      std::string name, delay = "0s", timeout = "5m", revision = "manual";
      bool prune = false, detach = false, quiet = false;
      int parallelism = 0, secret_retention = 1;
    };
    auto a = std::make_shared<Args>();
    AddStackSourceFlags(cmd, &a->stack);
    AddImageTrustFlags(cmd, &a->images);
    cmd->add_flag("--prune", a->prune, "Remove services, networks, secrets and configs no longer defined");
    cmd->add_flag("-d,--detach", a->detach, "Submit the changes and exit without waiting");
    cmd->add_option("--parallelism", a->parallelism, "Services updated per wave (0: a whole dependency level)");
    cmd->add_option("--delay", a->delay, "Delay between waves");
    cmd->add_option("--timeout", a->timeout, "How long each wave may take to converge");
    cmd->add_option("--revision", a->revision, "Revision recorded in labels and history");
    cmd->add_option("--secret-retention", a->secret_retention,
                    "Superseded secret/config versions kept for rollback");
    cmd->add_flag("-q,--quiet", a->quiet, "Print only the result");
    cmd->add_option("stack", a->name, "Stack name")->required();
    cmd->callback([&ctx, a] {
      auto reading = ConnectAndReadLive(ctx.global, a->name);
      auto t = TargetFromFlags(a->stack, a->images, a->name);
      if (!t.ok()) return void(ctx.exit_code = Fail("deploy", t.status()));
      reconciler::DeployOptions& o = t->target.deploy;
      o.prune = a->prune;
      o.wait = !a->detach;
      o.parallelism = a->parallelism;
      o.secret_retention = a->secret_retention;
      o.pin = true;  // a manual deploy pins the stack against the controller
      o.image_verdicts = false;  // not printed
      auto delay = ParseDurationFlag("--delay", a->delay);
      auto timeout = ParseDurationFlag("--timeout", a->timeout);
      if (!delay.ok()) return void(ctx.exit_code = Fail("deploy", delay.status()));
      if (!timeout.ok()) return void(ctx.exit_code = Fail("deploy", timeout.status()));
      o.delay = *delay;
      o.timeout = *timeout;
      DiskFileSource disk("");
      stacksync::RenderedStack rendered = stacksync::RenderTarget(t->target, {disk, a->revision, ""}, t->keys);
      if (!rendered.spec.ok()) return void(ctx.exit_code = Fail("deploy", rendered.spec.status()));
      for (const auto& w : rendered.spec->warnings) std::cerr << "Warning: " << w << "\n";
      PrepareAhead(*t, &rendered);
      EngineRead read = reading.Join();
      if (!read.engine.ok()) return void(ctx.exit_code = Fail("deploy", read.engine.status()));
      ConsoleProgress progress(a->quiet);
      stacksync::ReconcileReport rep = ReconcileOnDisk(*t, a->revision, reconciler::Trigger::kCli, std::move(rendered),
                                                       **read.engine, std::move(read.live), progress);
      if (rep.error) return void(ctx.exit_code = Fail("deploy", *rep.error));
      const reconciler::DeployResult& r = rep.result;
      for (const auto& w : r.warnings) std::cerr << "Warning: " << w << "\n";
      PrintStillRemoving(a->name, r.still_removing);
      Colors c{Tty()};
      switch (r.outcome) {
        case reconciler::Outcome::kInSync:
          std::cout << "stack " << a->name << ": in sync, nothing to do\n";
          break;
        case reconciler::Outcome::kSucceeded:
          std::cout << c.Green("stack " + a->name + ": " + r.message) << " (history record "
                    << r.history_seq << ")\n";
          break;
        default:
          std::cout << c.Red("stack " + a->name + ": " + std::string(reconciler::OutcomeName(r.outcome)) +
                             ": " + r.message)
                    << " (history record " << r.history_seq << ")\n";
      }
      ctx.exit_code = ExitCode(r.outcome);
    });
  }
  // ---- diff
  {
    auto* cmd = app.add_subcommand("diff", "Show what deploy would change (nothing is written)");
    struct Args {
      StackSourceOptions stack;
      ImageTrustFlags images;
      std::string name, output = "text";
      bool exit_code = false, prune = false;
    };
    auto a = std::make_shared<Args>();
    AddStackSourceFlags(cmd, &a->stack);
    AddImageTrustFlags(cmd, &a->images);
    cmd->add_option("-o,--output", a->output, "text or json")->check(CLI::IsMember({"text", "json"}));
    cmd->add_flag("--exit-code", a->exit_code, "Exit 3 when changes are pending, 0 when in sync");
    cmd->add_flag("--prune", a->prune, "Show removals deploy --prune would make");
    cmd->add_option("stack", a->name, "Stack name")->required();
    cmd->callback([&ctx, a] {
      auto reading = ConnectAndReadLive(ctx.global, a->name);
      auto t = TargetFromFlags(a->stack, a->images, a->name);
      if (!t.ok()) return void(ctx.exit_code = Fail("diff", t.status()));
      t->target.deploy.prune = a->prune;
      DiskFileSource disk("");
      stacksync::RenderedStack rendered = stacksync::RenderTarget(t->target, {disk, "manual", ""}, t->keys);
      if (!rendered.spec.ok()) return void(ctx.exit_code = Fail("diff", rendered.spec.status()));
      PrepareAhead(*t, &rendered);
      EngineRead read = reading.Join();
      if (!read.engine.ok()) return void(ctx.exit_code = Fail("diff", read.engine.status()));
      ConsoleProgress progress(a->output == "json");
      stacksync::ReconcileReport rep = ReconcileOnDisk(*t, "manual", reconciler::Trigger::kDiff, std::move(rendered),
                                                       **read.engine, std::move(read.live), progress);
      if (rep.error) return void(ctx.exit_code = Fail("diff", *rep.error));
      const reconciler::StackDiff& diff = rep.result.diff;
      if (a->output == "json") {
        std::cout << DiffJson(diff).dump(2) << "\n";
      } else {
        PrintDiffText(diff, Colors{Tty()});
      }
      ctx.exit_code = a->exit_code && !diff.InSync() ? 3 : 0;
    });
  }
  // ---- rollback
  {
    auto* cmd = app.add_subcommand("rollback", "Roll a stack back to its previous successful deploy");
    struct Args {
      std::string name, timeout = "5m";
      int64_t to = 0;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("--to", a->to, "History record to roll back to (see stackctl history)");
    cmd->add_option("--timeout", a->timeout, "How long each wave may take to converge");
    cmd->add_option("stack", a->name, "Stack name")->required();
    cmd->callback([&ctx, a] {
      auto timeout = ParseDurationFlag("--timeout", a->timeout);
      if (!timeout.ok()) return void(ctx.exit_code = Fail("rollback", timeout.status()));
      auto engine = ConnectEngine(ctx.global);
      if (!engine.ok()) return void(ctx.exit_code = Fail("rollback", engine.status()));
      SystemClock clock;
      ConsoleProgress progress(false);
      reconciler::Deployer d(**engine, clock, &progress);
      reconciler::DeployOptions o;
      o.timeout = *timeout;
      auto r = d.Rollback(a->name, a->to > 0 ? std::optional<int64_t>(a->to) : std::nullopt, o);
      if (!r.ok()) return void(ctx.exit_code = Fail("rollback", r.status()));
      PrintStillRemoving(a->name, r->still_removing);
      std::cout << "stack " << a->name << ": " << reconciler::OutcomeName(r->outcome) << ": " << r->message
                << "\n";
      ctx.exit_code = ExitCode(r->outcome);
    });
  }
  // ---- history
  {
    auto* cmd = app.add_subcommand("history", "List a stack's deploys (kept in the swarm)");
    struct Args {
      std::string name, output = "text";
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("-o,--output", a->output, "text or json")->check(CLI::IsMember({"text", "json"}));
    cmd->add_option("stack", a->name, "Stack name")->required();
    cmd->callback([&ctx, a] {
      std::vector<reconciler::HistoryRecord> records;
      if (UseServer(ctx.global)) {
        auto opts = ServerClientOptions(ctx.global);
        if (!opts.ok()) return void(ctx.exit_code = Fail("history", opts.status()));
        apiclient::Client client(std::move(*opts));
        auto doc = client.GetHistory(a->name);
        if (!doc.ok()) return void(ctx.exit_code = FailMessage("history", ServerErrorMessage(ctx.global, a->name, doc.status())));
        auto h = HistoryFromController(*doc);
        if (!h.ok()) return void(ctx.exit_code = Fail("history", h.status()));
        records = std::move(*h);
      } else {
        auto engine = ConnectEngine(ctx.global);
        if (!engine.ok()) return void(ctx.exit_code = Fail("history", engine.status()));
        SystemClock clock;
        reconciler::Deployer d(**engine, clock);
        auto h = d.History(a->name);
        if (!h.ok()) return void(ctx.exit_code = Fail("history", h.status()));
        records = std::move(*h);
      }
      if (a->output == "json") {
        std::cout << HistoryJson(records).dump(2) << "\n";
      } else {
        PrintHistoryText(records, std::cout);
      }
      ctx.exit_code = 0;
    });
  }
  // ---- status
  {
    auto* cmd = app.add_subcommand(
        "status", "Show a stack's revision, pin state and per-service health (with --server: all stacks without STACK)");
    struct Args {
      std::string name, output = "text";
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("-o,--output", a->output, "text or json")->check(CLI::IsMember({"text", "json"}));
    cmd->add_option("stack", a->name, "Stack name (optional with --server)");
    cmd->callback([&ctx, a] {
      Json j;
      if (UseServer(ctx.global)) {
        auto opts = ServerClientOptions(ctx.global);
        if (!opts.ok()) return void(ctx.exit_code = Fail("status", opts.status()));
        apiclient::Client client(std::move(*opts));
        if (a->name.empty()) {
          auto list = client.ListStacks();
          if (!list.ok()) return void(ctx.exit_code = FailMessage("status", ServerErrorMessage(ctx.global, "", list.status())));
          if (a->output == "json") {
            std::cout << list->dump(2) << "\n";
          } else {
            PrintStackListText(*list, std::cout);
          }
          return void(ctx.exit_code = 0);
        }
        auto stack = client.GetStack(a->name);
        if (!stack.ok()) return void(ctx.exit_code = FailMessage("status", ServerErrorMessage(ctx.global, a->name, stack.status())));
        j = StatusJsonFromController(*stack);
      } else {
        if (a->name.empty()) {
          return void(ctx.exit_code = FailMessage("status", "a stack name is required (listing all stacks needs --server)"));
        }
        auto engine = ConnectEngine(ctx.global);
        if (!engine.ok()) return void(ctx.exit_code = Fail("status", engine.status()));
        SystemClock clock;
        reconciler::Deployer d(**engine, clock);
        auto st = d.GetStatus(a->name);
        if (!st.ok()) return void(ctx.exit_code = Fail("status", st.status()));
        if (!st->exists) return void(ctx.exit_code = FailMessage("status", "stack " + a->name + " not found"));
        j = StatusJson(*st);
      }
      if (a->output == "json") {
        std::cout << j.dump(2) << "\n";
      } else {
        PrintStatusText(j, std::cout);
      }
      ctx.exit_code = 0;
    });
  }
  // ---- sync (controller only)
  {
    auto* cmd = app.add_subcommand("sync", "Ask stackctld (--server) to sync a stack from Git now");
    struct Args {
      std::string name, revision, timeout, output = "text";
      bool wait = false;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("--revision", a->revision, "Commit, branch or tag to deploy (default: the configured ref)");
    cmd->add_flag("--wait", a->wait, "Wait for the rollout and exit non-zero when it failed or rolled back");
    cmd->add_option("--timeout", a->timeout, "How long --wait waits (default: 10m)");
    cmd->add_option("-o,--output", a->output, "text or json")->check(CLI::IsMember({"text", "json"}));
    cmd->add_option("stack", a->name, "Stack name")->required();
    cmd->callback([&ctx, a] {
      if (!UseServer(ctx.global)) {
        return void(ctx.exit_code = FailMessage(
                        "sync", "needs a controller: give the URL of a running stackctld with --server URL "
                                "(or $STACKCTL_SERVER) and its API token with --token-file; without one, "
                                "use stackctl deploy"));
      }
      if (!a->timeout.empty() && !a->wait) {
        return void(ctx.exit_code = FailMessage("sync", "--timeout is the limit of --wait: add --wait"));
      }
      std::chrono::milliseconds wait_timeout = std::chrono::minutes(10);
      if (!a->timeout.empty()) {
        auto t = ParseDurationFlag("--timeout", a->timeout);
        if (!t.ok()) return void(ctx.exit_code = Fail("sync", t.status()));
        wait_timeout = *t;
      }
      auto opts = ServerClientOptions(ctx.global);
      if (!opts.ok()) return void(ctx.exit_code = Fail("sync", opts.status()));
      apiclient::Client client(std::move(*opts));
      // Asked first so that "not found" means the stack, not the revision.
      auto stack = client.GetStack(a->name);
      if (!stack.ok()) {
        return void(ctx.exit_code = FailMessage("sync", ServerErrorMessage(ctx.global, a->name, stack.status())));
      }
      std::optional<std::string> revision;
      if (!a->revision.empty()) revision = a->revision;
      auto op = client.Sync(a->name, revision, a->wait, wait_timeout);
      if (!op.ok()) {
        return void(ctx.exit_code = FailMessage(
                        "sync", "stack " + a->name + ": " + ServerErrorMessage(ctx.global, "", op.status())));
      }
      if (a->output == "json") {
        std::cout << op->dump(2) << "\n";
      } else if (!a->wait) {
        std::cout << "stack " << a->name << ": sync requested (operation " << op->value("operation", "")
                  << ")\n";
      } else {
        Colors c{Tty()};
        std::string rev = op->value("revision", "").substr(0, 12);
        if (op->value("result", "") == reconciler::OutcomeName(reconciler::Outcome::kInSync)) {
          std::cout << "stack " << a->name << ": in sync at " << rev << ", nothing to do\n";
        } else {
          std::cout << c.Green("stack " + a->name + ": " + op->value("message", "") + " at " + rev)
                    << " (history record " << op->value("history_seq", int64_t{0}) << ")\n";
        }
        PrintStillRemoving(a->name, op->value("still_removing", std::vector<std::string>{}));
      }
      ctx.exit_code = 0;
    });
  }
  // ---- rm
  {
    auto* cmd = app.add_subcommand("rm", "Remove a stack: its services, networks, secrets, configs and history");
    auto name = std::make_shared<std::string>();
    cmd->add_option("stack", *name, "Stack name")->required();
    cmd->callback([&ctx, name] {
      auto engine = ConnectEngine(ctx.global);
      if (!engine.ok()) return void(ctx.exit_code = Fail("rm", engine.status()));
      SystemClock clock;
      ConsoleProgress progress(false);
      reconciler::Deployer d(**engine, clock, &progress);
      auto removed = d.Remove(*name);
      if (!removed.ok()) return void(ctx.exit_code = Fail("rm", removed.status()));
      if (removed->removed.empty()) std::cerr << "Nothing found in stack: " << *name << "\n";
      PrintStillRemoving(*name, removed->still_removing);
      ctx.exit_code = 0;
    });
  }
  // ---- resume
  {
    auto* cmd = app.add_subcommand("resume", "Hand a pinned stack back to the controller (auto-sync)");
    auto name = std::make_shared<std::string>();
    cmd->add_option("stack", *name, "Stack name")->required();
    cmd->callback([&ctx, name] {
      auto engine = ConnectEngine(ctx.global);
      if (!engine.ok()) return void(ctx.exit_code = Fail("resume", engine.status()));
      SystemClock clock;
      reconciler::Deployer d(**engine, clock);
      Status st = d.SetPinned(*name, false, "", "");
      if (!st.ok()) return void(ctx.exit_code = Fail("resume", st));
      std::cout << "stack " << *name << ": resumed\n";
      ctx.exit_code = 0;
    });
  }
}

}  // namespace stackctl::cli
