#include <prometheus/registry.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "config/config_error.h"
#include "config/loader.h"
#include "filters/registry.h"
#include "proxy/common/logging.h"
#include "proxy/common/time.h"
#include "proxy/event/memory.h"
#include "proxy/server/server.h"

namespace {

void usage(FILE* out) {
  fprintf(out,
          "usage: switchyard --config FILE [--validate] [--log-level debug|info|warn|error]\n"
          "       switchyard --version\n"
          "\n"
          "  --config FILE   the YAML configuration (see config/README.md)\n"
          "  --validate      check the configuration, print every error, and exit\n"
          "                  (0 when valid, 1 when not)\n"
          "  --log-level L   overrides the configuration's log_level\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace switchyard;
  event::installEventAllocator();
  std::string config_path;
  std::string log_level;
  bool validate = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--validate") {
      validate = true;
    } else if (arg == "--log-level" && i + 1 < argc) {
      log_level = argv[++i];
    } else if (arg == "--version") {
      printf("switchyard %s\n", SWITCHYARD_VERSION);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "switchyard: unknown argument: %s\n", arg.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    fprintf(stderr, "switchyard: --config FILE is required\n");
    usage(stderr);
    return 2;
  }

  common::RealTimeSource time;
  filters::FilterRegistry filters;
  filters::registerBuiltinFilters(filters);
  auto registry = std::make_shared<prometheus::Registry>();

  config::ConfigConstSharedPtr cfg;
  try {
    cfg = config::loadConfigFile(config_path, {filters, *registry, time});
  } catch (const config::ConfigErrors& e) {
    fprintf(stderr, "%s\n", e.format().c_str());
    return 1;
  }
  if (validate) {
    printf("%s: configuration is valid\n", config_path.c_str());
    return 0;
  }
  common::LogLevel level;
  const std::string& name = log_level.empty() ? cfg->log_level : log_level;
  if (!common::parseLogLevel(name.c_str(), level)) {
    fprintf(stderr, "switchyard: unknown log level: %s\n", name.c_str());
    return 2;
  }
  common::setLogLevel(level);

  server::ConfigSource source{[&](const std::string& path) {
                                return config::loadConfigFile(path, {filters, *registry, time});
                              },
                              [](const config::Config& c) { return config::configToJson(c); }};
  server::Server server(cfg, registry, time, filters, std::move(source));
  return server.run();
}
