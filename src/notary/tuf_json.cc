#include "notary/tuf_json.h"

#include <cmath>
#include <ctime>

namespace stackctl::notary {
namespace {

Status Encode(const Json& j, std::string* out) {
  switch (j.type()) {
    case Json::value_t::null:
      out->append("null");
      return OkStatus();
    case Json::value_t::boolean:
      out->append(j.get<bool>() ? "true" : "false");
      return OkStatus();
    case Json::value_t::number_integer:
      out->append(std::to_string(j.get<int64_t>()));
      return OkStatus();
    case Json::value_t::number_unsigned:
      out->append(std::to_string(j.get<uint64_t>()));
      return OkStatus();
    case Json::value_t::number_float: {
      double d = j.get<double>();
      if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.2e18) {
        return InvalidArgument("canonical JSON: non-integer number");
      }
      out->append(std::to_string(static_cast<int64_t>(d)));
      return OkStatus();
    }
    case Json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      out->push_back('"');
      for (char c : s) {
        if (c == '"' || c == '\\') out->push_back('\\');
        out->push_back(c);
      }
      out->push_back('"');
      return OkStatus();
    }
    case Json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : j) {
        if (!first) out->push_back(',');
        first = false;
        RETURN_IF_ERROR(Encode(e, out));
      }
      out->push_back(']');
      return OkStatus();
    }
    case Json::value_t::object: {
      // nlohmann's default object is a std::map<std::string, ...>: byte-wise order.
      out->push_back('{');
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        RETURN_IF_ERROR(Encode(Json(it.key()), out));
        out->push_back(':');
        RETURN_IF_ERROR(Encode(it.value(), out));
      }
      out->push_back('}');
      return OkStatus();
    }
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  return InvalidArgument("canonical JSON: unsupported value");
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

Result<std::string> TufCanonical(const Json& j) {
  std::string out;
  RETURN_IF_ERROR(Encode(j, &out));
  return out;
}

Result<Envelope> ParseEnvelope(std::string raw, std::string_view what) {
  Envelope env;
  Json j;
  try {
    j = Json::parse(raw);
  } catch (const Json::parse_error& e) {
    return InvalidArgument(std::string(what) + ": invalid JSON at byte " + std::to_string(e.byte));
  } catch (const Json::exception&) {
    return InvalidArgument(std::string(what) + ": invalid JSON");
  }
  if (!j.is_object()) return InvalidArgument(std::string(what) + ": not a JSON object");
  auto s = j.find("signed");
  if (s == j.end() || !s->is_object()) {
    return InvalidArgument(std::string(what) + ": \"signed\" must be an object");
  }
  auto sigs = j.find("signatures");
  if (sigs == j.end() || !sigs->is_array()) {
    return InvalidArgument(std::string(what) + ": \"signatures\" must be an array");
  }
  env.signed_part = std::move(*s);
  env.signatures = std::move(*sigs);
  env.raw = std::move(raw);
  return env;
}

Result<Clock::TimePoint> ParseRfc3339(std::string_view s) {
  auto bad = [&] { return InvalidArgument("invalid RFC 3339 time \"" + std::string(s) + "\""); };
  int year, mon, day, hour, min, sec;
  if (!Digits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &mon) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &min) || s[16] != ':' ||
      !Digits(s, 17, 2, &sec)) {
    return bad();
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return bad();
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om)) {
      return bad();
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  t -= static_cast<time_t>(offset_min) * 60;
  return std::chrono::time_point_cast<Clock::TimePoint::duration>(
      std::chrono::system_clock::from_time_t(t) + std::chrono::nanoseconds(nanos));
}

std::string FormatRfc3339(Clock::TimePoint t) {
  time_t tt =
      std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace stackctl::notary
