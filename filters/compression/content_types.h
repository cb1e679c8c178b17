#pragma once

// The media types the compression filter compresses, matched against a response's
// Content-Type. No configuration parsing here, so the fuzz target can take it alone.

#include <string>
#include <string_view>
#include <vector>

namespace switchyard::filters::compression {

// Media types a response must have to be compressed: "type/subtype" or "type/*" (lower-case).
class ContentTypes {
 public:
  ContentTypes() = default;
  // `patterns` must be valid (isValidPattern()).
  explicit ContentTypes(std::vector<std::string> patterns);
  // True if the media type of `content_type` (a Content-Type field value: parameters and case
  // do not matter) matches a pattern.
  bool matches(std::string_view content_type) const;
  const std::vector<std::string>& patterns() const { return patterns_; }
  // Whether `pattern` is a valid "type/subtype", "type/*" or "*/*" (tokens, lower-case).
  static bool isValidPattern(std::string_view pattern);

 private:
  std::vector<std::string> patterns_;
  // The same, sorted for matching.
  std::vector<std::string> exact_;
  std::vector<std::string> prefixes_;  // "type/" of each "type/*"
  bool any_ = false;                   // "*/*"
};

}  // namespace switchyard::filters::compression
