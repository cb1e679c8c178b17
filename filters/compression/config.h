#pragma once

// The compression filter's settings, and the same keys under a route or version
// (`routes[].filters: {compression: {...}}`), which apply over the filter's own.
//
//   filters:
//     - compression:
//         algorithms: [br, gzip]       # the server's preference, first is best
//         min_bytes: 1024              # smaller bodies (of known length) go as they are
//         content_types: [application/json, text/*, application/javascript]
//         gzip_level: 6                # 1..9
//         brotli_quality: 4            # 0..11
//         enabled: true

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "filters/compression/accept_encoding.h"
#include "filters/compression/content_types.h"

namespace switchyard::filters::compression {

struct CompressionConfig {
  bool enabled = true;
  std::vector<Coding> algorithms = {Coding::Brotli, Coding::Gzip};
  uint64_t min_bytes = 1024;
  ContentTypes content_types{
      {"application/json", "application/javascript", "application/xml", "image/svg+xml", "text/*"}};
  int gzip_level = 6;
  int brotli_quality = 4;
};

// Parses `node` (the filter's block, or a route's) at `path` over `base`: keys it does not name
// keep base's values. Keys: enabled, algorithms (a non-empty list of br and gzip, no repeats),
// min_bytes (a size), content_types (a non-empty list of media types or type/* patterns),
// gzip_level (1-9), brotli_quality (0-11). Throws config::ConfigError at the offending node.
CompressionConfig parseCompressionConfig(const YAML::Node& node, const std::string& path,
                                         const CompressionConfig& base);

}  // namespace switchyard::filters::compression
