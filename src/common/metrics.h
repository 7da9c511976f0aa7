// Metrics: counters, gauges and histograms with labels, exported in the
// Prometheus text format (version 0.0.4) at the controller's /metrics.
//
// A Registry owns metric families; each family has a fixed list of label
// names and one series per distinct list of label values. The controller's
// metrics are declared once, as a list (envoy's stats macros style), in
// STACKCTL_CONTROLLER_METRICS below; ControllerMetrics turns that list into
// named members registered in a Registry that main() owns and hands out by
// reference (no global registry):
//
//   metrics::Registry registry;
//   metrics::ControllerMetrics m(registry);
//   m.reconcile_total.With({"web", "success"}).Inc();
//   m.reconcile_time_seconds.With({"web"}).Observe(1.7);
//   std::string text = registry.Render();
//
// Thread safety: all operations are safe from any thread. Families and the
// series handles returned by With() stay valid for the Registry's lifetime
// (Remove() invalidates the handles of the removed series).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace stackctl::metrics {

enum class Type { kCounter, kGauge, kHistogram };

class Family;

// One series (a family plus label values). Cheap to copy.
class Series {
 public:
  // Counters: v >= 0 (negative increments are ignored).
  void Inc(double v = 1) const;
  // Gauges.
  void Set(double v) const;
  void Add(double v) const;
  // Histograms.
  void Observe(double v) const;
  // Current value (counter, gauge) or observation count (histogram).
  double Value() const;

 private:
  friend class Family;
  struct Data {
    double value = 0;
    std::vector<uint64_t> buckets;  // per upper bound, not cumulative
    double sum = 0;
    uint64_t count = 0;
  };
  Series(Family* f, Data* d) : family_(f), data_(d) {}
  Family* family_;
  Data* data_;
};

class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
         std::vector<double> buckets);
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // REQUIRES: values.size() == label count.
  Series With(const std::vector<std::string>& values);
  // Drops one series (e.g. the gauges of a stack that is no longer managed).
  void Remove(const std::vector<std::string>& values);
  const std::string& name() const { return name_; }
  // Appends this family in Prometheus text format.
  void Render(std::string* out) const;

 private:
  friend class Series;
  const std::string name_, help_;
  const Type type_;
  const std::vector<std::string> labels_;
  const std::vector<double> buckets_;  // histogram upper bounds, ascending
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, Series::Data> series_;  // guarded by mu_
};

class Registry {
 public:
  // Names must be unique; label names valid Prometheus names.
  Family& Add(std::string name, std::string help, Type type, std::vector<std::string> labels,
              std::vector<double> buckets = {});
  // All families in registration order, series sorted by label values.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// Default buckets for durations in seconds (as controller-runtime's
// reconcile_time_seconds).
std::vector<double> DurationBuckets();

// The controller's metrics: COUNTER/GAUGE(member, help, label names...),
// HISTOGRAM(member, help, buckets, label names...). The exported name is
// "stackctl_" + member.
#define STACKCTL_CONTROLLER_METRICS(COUNTER, GAUGE, HISTOGRAM)                                  \
  COUNTER(reconcile_total, "Reconciles of a stack by result (success, error, noop).", "stack",  \
          "result")                                                                             \
  COUNTER(reconcile_errors_total, "Reconciles of a stack that failed.", "stack")                \
  HISTOGRAM(reconcile_time_seconds, "Duration of one reconcile of a stack.",                    \
            ::stackctl::metrics::DurationBuckets(), "stack")                                    \
  COUNTER(drift_detected_total, "Live state found different from the desired state.", "stack")  \
  GAUGE(last_success_timestamp_seconds, "Unix time of the last successful reconcile.", "stack") \
  GAUGE(managed_objects, "Swarm objects managed for a stack, by kind.", "stack", "kind")        \
  COUNTER(webhook_requests_total, "Webhook requests by provider and result.", "provider",       \
          "result")                                                                             \
  COUNTER(git_fetch_total, "Git remote operations (ls-remote, fetch) by result.", "repo",       \
          "result")                                                                             \
  COUNTER(git_cache_rebuilds_total,                                                             \
          "Damaged Git caches of a repository moved aside and cloned again.", "repo")           \
  COUNTER(notifications_sent_total,                                                             \
          "Notifications and commit statuses delivered, by kind (github, gitlab, gitea, "       \
          "webhook, slack).", "kind")                                                           \
  COUNTER(notifications_failed_total,                                                           \
          "Attempts to deliver a notification or commit status that failed, by kind.", "kind")  \
  COUNTER(notifications_dropped_total,                                                          \
          "Notifications and commit statuses given up on after their last attempt, by kind.",   \
          "kind")

struct ControllerMetrics {
  explicit ControllerMetrics(Registry& registry);

  Registry& registry;

#define STACKCTL_METRIC_MEMBER(member, ...) Family& member;
  STACKCTL_CONTROLLER_METRICS(STACKCTL_METRIC_MEMBER, STACKCTL_METRIC_MEMBER,
                              STACKCTL_METRIC_MEMBER)
#undef STACKCTL_METRIC_MEMBER
};

}  // namespace stackctl::metrics
