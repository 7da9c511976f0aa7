// The dashboard's files (src/server/ui/), compiled into the binary by
// cmake/embed_files.cmake, so stackctld serves them with no files at run
// time. Server (server.h) serves each at its `url` when http.ui.enabled.
//
// Thread safety: the list is built once and never changes.
#pragma once

#include <string_view>
#include <vector>

namespace stackctl::server {

struct UiAsset {
  std::string_view url;           // "/", "/ui/app.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
};

// Every asset, in the order src/server/CMakeLists.txt lists them.
const std::vector<UiAsset>& UiAssets();

}  // namespace stackctl::server
