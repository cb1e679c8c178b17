#pragma once

// The operations console's files (console/ in the source tree), embedded in the binary at build
// time by cmake/embed_assets.cmake: the page works on a machine with no network and nothing
// installed beside the binary.

#include <string_view>
#include <vector>

namespace switchyard::admin {

struct EmbeddedAsset {
  std::string_view name;          // relative to console/, e.g. "index.html"
  std::string_view content_type;  // from the extension
  std::string_view bytes;
};

// Sorted by name; empty when the build has no console files.
const std::vector<EmbeddedAsset>& consoleAssets();

}  // namespace switchyard::admin
