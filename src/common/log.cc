#include "common/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace stackctl::log {
namespace {
std::mutex g_mu;
spdlog::sink_ptr g_sink;  // shared by every module logger
spdlog::level::level_enum g_level = spdlog::level::warn;
Format g_format = Format::kText;

spdlog::sink_ptr Sink() {
  if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  return g_sink;
}

void ApplyPattern(spdlog::logger& l) {
  if (g_format == Format::kJson) {
    l.set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%v"})",
        spdlog::pattern_time_type::utc);
  } else {
    l.set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v", spdlog::pattern_time_type::utc);
  }
}
}  // namespace

void Setup(const std::string& level, Format format) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_level = spdlog::level::from_str(level);
  g_format = format;
  spdlog::apply_all([](std::shared_ptr<spdlog::logger> l) {
    l->set_level(g_level);
    ApplyPattern(*l);
  });
}

std::shared_ptr<spdlog::logger> Get(const std::string& module) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (auto l = spdlog::get(module)) return l;
  auto l = std::make_shared<spdlog::logger>(module, Sink());
  l->set_level(g_level);
  ApplyPattern(*l);
  spdlog::register_logger(l);
  return l;
}

}  // namespace stackctl::log
