#pragma once

#include <yaml-cpp/yaml.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace switchyard::config {

// One problem in a configuration file, located by line and column (1-based) and key path
// (e.g. "clusters[1].connect_timeout"). Thrown only while loading configuration.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string path, std::string message, int line = 0, int column = 0)
      : std::runtime_error(message), path_(std::move(path)), line_(line), column_(column) {}
  ConfigError(const YAML::Node& node, std::string path, std::string message)
      : ConfigError(std::move(path), std::move(message), node.Mark().line + 1,
                    node.Mark().column + 1) {}

  const std::string& path() const { return path_; }
  int line() const { return line_; }
  int column() const { return column_; }
  // "file:line:col: path: message"
  std::string format(const std::string& file) const;

 private:
  std::string path_;
  int line_;
  int column_;
};

// All the errors found in one file; thrown by the loader once it has checked everything.
class ConfigErrors : public std::runtime_error {
 public:
  ConfigErrors(std::string file, std::vector<ConfigError> errors);
  const std::vector<ConfigError>& errors() const { return errors_; }
  const std::string& file() const { return file_; }
  // One formatted error per line.
  std::string format() const;

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace switchyard::config
