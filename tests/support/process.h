#pragma once

// Child processes for integration tests: the proxy under test and test upstreams. Everything
// here acts on the PIDs it spawned and nothing else.

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::test {

// A spawned binary whose stdout and stderr go to one temporary file. The destructor SIGKILLs the
// child if it is still running, reaps it and removes the file.
class Process {
 public:
  using Env = std::vector<std::pair<std::string, std::string>>;

  // Spawns `binary` (a path) with `args` (argv[1..]) and the current environment plus `env`
  // (which overrides variables of the same name). Signal mask and dispositions are reset to
  // defaults in the child. Throws std::runtime_error if it cannot be spawned.
  Process(const std::string& binary, const std::vector<std::string>& args, const Env& env = {});
  ~Process();
  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Everything the child wrote to stdout and stderr so far.
  std::string output() const;
  const std::string& outputPath() const { return output_path_; }

  // True until the child has exited (reaps it if it just did).
  bool running();
  // Sends `signal` to the child; false if it has already been reaped.
  bool terminate(int signal = SIGTERM);
  // Waits up to `timeout` for the child to exit. Returns its exit code, or 128 + signal number
  // if a signal killed it; nullopt if it is still running.
  std::optional<int> waitExit(std::chrono::milliseconds timeout);
  // terminate() then waitExit(); SIGKILL if it did not exit in time.
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  bool reap(bool block);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string output_path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
int freePort();

// Tries to connect to 127.0.0.1:`port` every 10 ms until it succeeds or `timeout` passes.
bool waitForPort(uint16_t port, std::chrono::milliseconds timeout);

// Waits until the output of `process` has a line containing `needle` and returns that line
// (without the newline). Returns "" on timeout or if the process exits without printing it.
std::string waitForLine(Process& process, std::string_view needle,
                        std::chrono::milliseconds timeout);

// A running switchyard-test-upstream on a free port of 127.0.0.1.
class TestUpstream {
 public:
  struct Stats {
    int64_t requests = -1;     // non-control requests served; -1 if the upstream did not answer
    int64_t connections = -1;  // accepted, including the one that asked for the stats
  };

  // Starts `binary` with --listen `host`:`port` --name `name` plus `extra_args` and waits (up to
  // 10 s) until it reports its port (port 0: a free one). Throws std::runtime_error, with its
  // output, on failure. Another loopback address as `host` (127.0.0.2, ...) lets two upstreams
  // share a port, as the addresses of one DNS name do.
  TestUpstream(const std::string& binary, const std::string& name,
               const std::vector<std::string>& extra_args = {},
               const std::string& host = "127.0.0.1", uint16_t port = 0);
  // Stops it with SIGTERM (SIGKILL if it takes more than 5 s).
  ~TestUpstream();
  TestUpstream(const TestUpstream&) = delete;
  TestUpstream& operator=(const TestUpstream&) = delete;

  uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  const std::string& name() const { return name_; }
  Process& process() { return process_; }

  // GETs /control/`path` (e.g. "fail?status=503&count=2"; a leading "/control/" or "/" is
  // accepted) and returns the response body, or "" if the request failed. The test HTTP client
  // reaches 127.0.0.1 only: on another host these return "" (and stats() -1).
  std::string control(std::string_view path) const;
  Stats stats() const;
  // Clears failure modes and zeroes the counters.
  void recover() const;

 private:
  std::string name_;
  std::string host_;
  Process process_;
  uint16_t port_ = 0;
};

}  // namespace switchyard::test
