#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <vector>

namespace switchyard::filters::correlation_id {

// The filter's configuration, built once at load and shared read-only by every worker. Header
// names are lower-case (HeaderMap stores names lower-case).
struct CorrelationIdConfig {
  // Where the id is read from first, and the name it is forwarded upstream and echoed under.
  std::string header = "x-correlation-id";
  // Further request headers an id is taken from, in order, when `header` has no usable value.
  // The parser drops duplicates and `header` itself.
  std::vector<std::string> accept = {"x-request-id"};
  // Make a UUIDv4 when the request carries no well-formed id.
  bool generate = true;
  // Add `header` to responses (upstream and local replies).
  bool echo = true;
  // The longest incoming id accepted; a generated id is always 36 characters.
  size_t max_length = 128;
};

// Parses the filter's YAML node (`correlation_id: {...}`); a null or empty node gives the
// defaults. Keys: header, accept (sequence of header names), generate, echo, max_length
// (1..1024). Throws config::ConfigError located at the offending node, with `path` extended by
// the key (e.g. "filters[0].correlation_id.accept[1]").
CorrelationIdConfig parseCorrelationIdConfig(const YAML::Node& node, const std::string& path);

}  // namespace switchyard::filters::correlation_id
