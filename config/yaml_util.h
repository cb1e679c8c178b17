#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"

namespace switchyard::config {

// Helpers every config parser (the top-level loader and each filter's parse function) uses, so
// that all errors read alike. Each throws ConfigError carrying the node's line:col and `path`.
// Scalars are read after ${VAR} / ${VAR:-default} expansion from the environment.

// Throws unless `node` is a map whose keys are all in `allowed` (an empty value, as in
// `correlation_id:`, counts as an empty map). Reports the first problem mapKeyErrors() finds.
void expectMap(const YAML::Node& node, const std::string& path,
               std::initializer_list<std::string_view> allowed);
// Every problem expectMap() would throw for: not a map (alone), then each unknown or duplicated
// key, at that key's position. For callers that report everything at once (the loader).
std::vector<ConfigError> mapKeyErrors(const YAML::Node& node, const std::string& path,
                                      std::initializer_list<std::string_view> allowed);
// Throws unless `node` is a sequence (an empty value counts as an empty sequence).
void expectSequence(const YAML::Node& node, const std::string& path);

std::string getString(const YAML::Node& node, const std::string& path);
// An HTTP field name (RFC 9110 token), returned in lower case; throws "invalid header name".
std::string getHeaderName(const YAML::Node& node, const std::string& path);
bool getBool(const YAML::Node& node, const std::string& path);
int64_t getInt(const YAML::Node& node, const std::string& path, int64_t min, int64_t max);
double getDouble(const YAML::Node& node, const std::string& path, double min, double max);
// "250ms", "30s", "1m", "2h", "1m30s"; a bare number is rejected (the unit matters).
std::chrono::milliseconds getDuration(const YAML::Node& node, const std::string& path);
// A duration above 0 and at most `max` ("must be above 0", "must be at most 1m").
std::chrono::milliseconds getPositiveDuration(const YAML::Node& node, const std::string& path,
                                              std::chrono::milliseconds max);
// "512", "64KiB", "10MiB", "1GiB" (also KB/MB/GB as powers of 1024 and k/m/g).
uint64_t getBytes(const YAML::Node& node, const std::string& path);

// Expands ${VAR} and ${VAR:-default}; "$$" is a literal "$". ${context.NAME} is left as it is
// (the rollback steps fill it in when they run). Throws ConfigError for an unset variable without
// a default or an unterminated "${".
std::string expandEnv(const std::string& value, const YAML::Node& node, const std::string& path);

// Pure parsers (no YAML), also used by the admin API and tests; return false on bad input.
bool parseDuration(std::string_view text, std::chrono::milliseconds& out);
bool parseBytes(std::string_view text, uint64_t& out);

// Child path helpers: child("clusters", 2) == "clusters[2]", child("a", "b") == "a.b".
std::string child(const std::string& path, std::string_view key);
std::string child(const std::string& path, size_t index);

}  // namespace switchyard::config
