#include "common/duration.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace stackctl {

bool ParseGoDuration(const std::string& text, int64_t* nanos) {
  std::string s = text;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s = s.substr(1);
  }
  if (s == "0") {
    *nanos = 0;
    return true;
  }
  if (s.empty()) return false;
  long double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == start) return false;
    std::string num = s.substr(start, i - start);
    if (std::count(num.begin(), num.end(), '.') > 1 || num == ".") return false;
    size_t ustart = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string unit = s.substr(ustart, i - ustart);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return false;
    total += std::strtold(num.c_str(), nullptr) * mult;
    if (total > 9.2e18L) return false;
  }
  *nanos = static_cast<int64_t>(std::llround(static_cast<double>(neg ? -total : total)));
  return true;
}

Result<std::chrono::milliseconds> ParseDurationMs(const std::string& text) {
  int64_t nanos = 0;
  if (!ParseGoDuration(text, &nanos) || nanos < 0) {
    return InvalidArgument("invalid duration \"" + text + "\"");
  }
  return std::chrono::milliseconds(nanos / 1000000);
}

}  // namespace stackctl
