#include "config/config_error.h"

namespace switchyard::config {
namespace {

std::string joinErrors(const std::string& file, const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& error : errors) {
    if (!out.empty()) out += '\n';
    out += error.format(file);
  }
  return out;
}

}  // namespace

std::string ConfigError::format(const std::string& file) const {
  std::string out = file;
  if (line_ > 0) {
    out += ':' + std::to_string(line_);
    if (column_ > 0) out += ':' + std::to_string(column_);
  }
  if (!out.empty()) out += ": ";
  if (!path_.empty()) out += path_ + ": ";
  out += what();
  return out;
}

ConfigErrors::ConfigErrors(std::string file, std::vector<ConfigError> errors)
    : std::runtime_error(joinErrors(file, errors)),
      file_(std::move(file)),
      errors_(std::move(errors)) {}

std::string ConfigErrors::format() const { return what(); }

}  // namespace switchyard::config
