#include "common/metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>

namespace stackctl::metrics {
namespace {

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  return buf;
}

std::string EscapeLabel(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!out.empty()) out += ',';
    out += names[i] + "=\"" + EscapeLabel(values[i]) + "\"";
  }
  if (!extra.empty()) {
    if (!out.empty()) out += ',';
    out += extra;
  }
  return out.empty() ? "" : "{" + out + "}";
}

}  // namespace

void Series::Inc(double v) const {
  if (v < 0) return;
  std::lock_guard<std::mutex> lock(family_->mu_);
  data_->value += v;
}

void Series::Set(double v) const {
  std::lock_guard<std::mutex> lock(family_->mu_);
  data_->value = v;
}

void Series::Add(double v) const {
  std::lock_guard<std::mutex> lock(family_->mu_);
  data_->value += v;
}

void Series::Observe(double v) const {
  std::lock_guard<std::mutex> lock(family_->mu_);
  const std::vector<double>& b = family_->buckets_;
  for (size_t i = 0; i < b.size(); ++i) {
    if (v <= b[i]) {
      ++data_->buckets[i];
      break;
    }
  }
  data_->sum += v;
  ++data_->count;
}

double Series::Value() const {
  std::lock_guard<std::mutex> lock(family_->mu_);
  return family_->type_ == Type::kHistogram ? static_cast<double>(data_->count) : data_->value;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
               std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      labels_(std::move(labels)),
      buckets_(std::move(buckets)) {}

Series Family::With(const std::vector<std::string>& values) {
  assert(values.size() == labels_.size() && "metric label count mismatch");
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = series_.try_emplace(values);
  if (inserted) it->second.buckets.assign(buckets_.size(), 0);
  return Series(this, &it->second);
}

void Family::Remove(const std::vector<std::string>& values) {
  std::lock_guard<std::mutex> lock(mu_);
  series_.erase(values);
}

void Family::Render(std::string* out) const {
  static const char* kTypeNames[] = {"counter", "gauge", "histogram"};
  *out += "# HELP " + name_ + " " + EscapeHelp(help_) + "\n";
  *out += "# TYPE " + name_ + " " + kTypeNames[static_cast<int>(type_)] + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, d] : series_) {
    if (type_ != Type::kHistogram) {
      *out += name_ + LabelSet(labels_, values) + " " + FormatValue(d.value) + "\n";
      continue;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      cumulative += d.buckets[i];
      *out += name_ + "_bucket" +
              LabelSet(labels_, values, "le=\"" + FormatValue(buckets_[i]) + "\"") + " " +
              std::to_string(cumulative) + "\n";
    }
    *out += name_ + "_bucket" + LabelSet(labels_, values, "le=\"+Inf\"") + " " +
            std::to_string(d.count) + "\n";
    *out += name_ + "_sum" + LabelSet(labels_, values) + " " + FormatValue(d.sum) + "\n";
    *out += name_ + "_count" + LabelSet(labels_, values) + " " + std::to_string(d.count) + "\n";
  }
}

Family& Registry::Add(std::string name, std::string help, Type type,
                      std::vector<std::string> labels, std::vector<double> buckets) {
  std::lock_guard<std::mutex> lock(mu_);
  assert(std::none_of(families_.begin(), families_.end(),
                      [&name](const auto& f) { return f->name() == name; }) &&
         "duplicate metric name");
  families_.push_back(std::make_unique<Family>(std::move(name), std::move(help), type,
                                               std::move(labels), std::move(buckets)));
  return *families_.back();
}

std::string Registry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& f : families_) f->Render(&out);
  return out;
}

std::vector<double> DurationBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 25, 30, 40, 50, 60,
          120, 300, 600};
}

#define STACKCTL_COUNTER_INIT(member, help, ...) \
  , member(registry.Add("stackctl_" #member, help, Type::kCounter, {__VA_ARGS__}))
#define STACKCTL_GAUGE_INIT(member, help, ...) \
  , member(registry.Add("stackctl_" #member, help, Type::kGauge, {__VA_ARGS__}))
#define STACKCTL_HISTOGRAM_INIT(member, help, buckets, ...) \
  , member(registry.Add("stackctl_" #member, help, Type::kHistogram, {__VA_ARGS__}, buckets))

ControllerMetrics::ControllerMetrics(Registry& r)
    : registry(r) STACKCTL_CONTROLLER_METRICS(STACKCTL_COUNTER_INIT, STACKCTL_GAUGE_INIT,
                                              STACKCTL_HISTOGRAM_INIT) {}

}  // namespace stackctl::metrics
