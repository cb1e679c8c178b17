#include "tests/support/redis_server.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

namespace switchyard::test {
namespace {

constexpr const char* Binary = "/usr/bin/redis-server";

}  // namespace

RedisServer::RedisServer(Options options) : options_(std::move(options)) {
  if (::access(Binary, X_OK) != 0) {
    throw std::runtime_error(std::string(Binary) +
                             " is missing (scripts/install-deps.sh --e2e installs redis-server)");
  }
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
                        "/switchyard-redis-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  }
  dir_ = pattern;
  port_ = static_cast<uint16_t>(freePort());
  start();
}

RedisServer::~RedisServer() {
  process_.reset();  // SIGKILLs and reaps it
  ::rmdir(dir_.c_str());
}

void RedisServer::kill() {
  if (!process_) return;
  process_->terminate(SIGKILL);
  process_->waitExit(std::chrono::seconds(5));
  process_.reset();
}

void RedisServer::pause() {
  if (process_) process_->terminate(SIGSTOP);
}

void RedisServer::resume() {
  if (process_) process_->terminate(SIGCONT);
}

std::string RedisServer::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"-h", "127.0.0.1", "-p", std::to_string(port_)};
  if (!options_.password.empty()) {
    argv.push_back("--no-auth-warning");
    argv.push_back("-a");
    argv.push_back(options_.password);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  Process cli("/usr/bin/redis-cli", argv);
  const std::optional<int> code = cli.waitExit(std::chrono::seconds(5));
  if (code != 0) throw std::runtime_error("redis-cli failed:\n" + cli.output());
  return cli.output();
}

void RedisServer::start() {
  std::vector<std::string> args = {"--port",       std::to_string(port_),
                                   "--bind",       "127.0.0.1",
                                   "--save",       "",
                                   "--appendonly", "no",
                                   "--dir",        dir_,
                                   "--daemonize",  "no"};
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  process_ = std::make_unique<Process>(Binary, args);
  if (!waitForPort(port_, std::chrono::seconds(10))) {
    const std::string output = process_->output();
    process_.reset();
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + ":\n" +
                             output);
  }
}

}  // namespace switchyard::test
