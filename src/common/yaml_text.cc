#include "common/yaml_text.h"

namespace stackctl {

bool HasSecondYamlDocument(std::string_view content) {
  bool seen_content = false;
  for (size_t pos = 0; pos < content.size();) {
    size_t nl = content.find('\n', pos);
    std::string_view line =
        content.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? content.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool marker =
        line.starts_with("---") && (line.size() == 3 || line[3] == ' ' || line[3] == '\t');
    if (marker && seen_content) return true;
    if (!marker && !line.empty() && line[0] != '#' && line[0] != '%' &&
        line.find_first_not_of(" \t") != std::string_view::npos)
      seen_content = true;
  }
  return false;
}

}  // namespace stackctl
