#pragma once

// A real redis-server (Debian's) for the tests of the Redis client: on a free port of 127.0.0.1,
// in a temporary directory, persisting nothing. It can be killed and started again on the same
// port, as a crashed and restarted Redis would be.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace switchyard::test {

class RedisServer {
 public:
  struct Options {
    std::string password;  // --requirepass when not empty
  };

  // Starts it and waits (up to 10 s) until it accepts connections; throws std::runtime_error,
  // with its output, if it does not.
  explicit RedisServer(Options options);
  RedisServer() : RedisServer(Options{}) {}
  // Kills it if it is still running and removes its directory.
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // SIGKILL, as a crash: connections are reset, nothing is flushed.
  void kill();
  // Starts it again on the same port (after kill()).
  void start();
  // SIGSTOP / SIGCONT: connections stay open and nothing answers, as a Redis stuck in a long
  // command or behind a saturated network would be.
  void pause();
  void resume();
  // Runs redis-cli with `args` against it and returns what it printed (e.g. {"SCRIPT",
  // "FLUSH"}). Throws std::runtime_error if it does not exit with 0 within 5 s.
  std::string cli(const std::vector<std::string>& args) const;

 private:
  Options options_;
  uint16_t port_ = 0;
  std::string dir_;
  std::unique_ptr<Process> process_;
};

}  // namespace switchyard::test
