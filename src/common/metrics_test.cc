#include "common/metrics.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace stackctl::metrics {
namespace {

TEST(MetricsTest, RendersPrometheusText) {
  Registry r;
  Family& c = r.Add("x_total", "Things.\nSecond \\ line.", Type::kCounter, {"stack", "result"});
  Family& g = r.Add("x_gauge", "A gauge.", Type::kGauge, {});
  Family& h = r.Add("x_seconds", "Durations.", Type::kHistogram, {"stack"}, {0.5, 1, 2.5});
  c.With({"web", "success"}).Inc();
  c.With({"web", "success"}).Inc(2);
  c.With({"a\"b\\c\nd", "error"}).Inc(-5);  // negative increments ignored
  c.With({"db", "error"}).Inc();
  g.With({}).Set(1700000000.25);
  h.With({"web"}).Observe(0.5);
  h.With({"web"}).Observe(2);
  h.With({"web"}).Observe(10);
  EXPECT_EQ(c.With({"web", "success"}).Value(), 3);
  EXPECT_EQ(h.With({"web"}).Value(), 3);
  EXPECT_EQ(r.Render(),
            "# HELP x_total Things.\\nSecond \\\\ line.\n"
            "# TYPE x_total counter\n"
            "x_total{stack=\"a\\\"b\\\\c\\nd\",result=\"error\"} 0\n"
            "x_total{stack=\"db\",result=\"error\"} 1\n"
            "x_total{stack=\"web\",result=\"success\"} 3\n"
            "# HELP x_gauge A gauge.\n"
            "# TYPE x_gauge gauge\n"
            "x_gauge 1700000000.25\n"
            "# HELP x_seconds Durations.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{stack=\"web\",le=\"0.5\"} 1\n"
            "x_seconds_bucket{stack=\"web\",le=\"1\"} 1\n"
            "x_seconds_bucket{stack=\"web\",le=\"2.5\"} 2\n"
            "x_seconds_bucket{stack=\"web\",le=\"+Inf\"} 3\n"
            "x_seconds_sum{stack=\"web\"} 12.5\n"
            "x_seconds_count{stack=\"web\"} 3\n");
  c.Remove({"db", "error"});
  EXPECT_EQ(r.Render().find("db"), std::string::npos);
}

// Renders every controller metric with sample values.
std::string ControllerSample() {
  Registry r;
  ControllerMetrics m(r);
  m.reconcile_total.With({"web", "success"}).Inc();
  m.reconcile_errors_total.With({"web"}).Inc();
  m.reconcile_time_seconds.With({"web"}).Observe(1.5);
  m.drift_detected_total.With({"web"}).Inc();
  m.last_success_timestamp_seconds.With({"web"}).Set(1763800000);
  m.managed_objects.With({"web", "service"}).Set(3);
  m.webhook_requests_total.With({"github", "accepted"}).Inc();
  m.git_fetch_total.With({"infra", "success"}).Inc();
  m.git_cache_rebuilds_total.With({"infra"}).Inc();
  EXPECT_EQ(&m.registry, &r);
  return r.Render();
}

TEST(MetricsTest, ControllerMetricsAreDeclared) {
  std::string text = ControllerSample();
  for (const char* line :
       {"stackctl_reconcile_total{stack=\"web\",result=\"success\"} 1\n",
        "stackctl_reconcile_errors_total{stack=\"web\"} 1\n",
        "stackctl_reconcile_time_seconds_bucket{stack=\"web\",le=\"2.5\"} 1\n",
        "stackctl_reconcile_time_seconds_count{stack=\"web\"} 1\n",
        "stackctl_drift_detected_total{stack=\"web\"} 1\n",
        "stackctl_last_success_timestamp_seconds{stack=\"web\"} 1763800000\n",
        "stackctl_managed_objects{stack=\"web\",kind=\"service\"} 3\n",
        "stackctl_webhook_requests_total{provider=\"github\",result=\"accepted\"} 1\n",
        "stackctl_git_fetch_total{repo=\"infra\",result=\"success\"} 1\n",
        "stackctl_git_cache_rebuilds_total{repo=\"infra\"} 1\n",
        "# TYPE stackctl_git_cache_rebuilds_total counter\n",
        "# TYPE stackctl_reconcile_time_seconds histogram\n",
        "# TYPE stackctl_last_success_timestamp_seconds gauge\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

// `promtool check metrics` (Prometheus's own linter) accepts the output.
// Skipped when promtool is missing on a developer machine; fails under CI=true.
TEST(MetricsTest, PromtoolAcceptsOutput) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    const char* why = "promtool not installed (Debian package prometheus, scripts/install-deps.sh)";
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << why;
    GTEST_SKIP() << why;
  }
  std::string path = ::testing::TempDir() + "/stackctl_metrics.txt";
  std::ofstream(path) << ControllerSample();
  std::string out;
  FILE* p = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = pclose(p);
  std::filesystem::remove(path);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace stackctl::metrics
