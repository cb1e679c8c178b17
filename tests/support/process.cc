#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.h"

extern char** environ;

namespace switchyard::test {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> buildEnvironment(const Process::Env& additions) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [key, value] : additions) overridden |= key == name;
    if (!overridden) env.emplace_back(entry);
  }
  for (const auto& [key, value] : additions) env.push_back(key + "=" + value);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::optional<int64_t> jsonInteger(const std::string& json, std::string_view key) {
  std::string quoted = "\"" + std::string(key) + "\":";
  size_t pos = json.find(quoted);
  if (pos == std::string::npos) return std::nullopt;
  return std::strtoll(json.c_str() + pos + quoted.size(), nullptr, 10);
}

}  // namespace

Process::Process(const std::string& binary, const std::vector<std::string>& args, const Env& env) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path_template =
      std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/switchyard-process-XXXXXX";
  int out_fd = mkostemp(path_template.data(), O_CLOEXEC);
  if (out_fd < 0) {
    throw std::runtime_error("mkostemp " + path_template + ": " + std::strerror(errno));
  }
  output_path_ = path_template;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);

  // The test runner may block or ignore signals (SIGPIPE, SIGTERM); the child must not inherit
  // that, or terminate() would not work.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv_strings{binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = buildEnvironment(env);
  std::vector<char*> argv = pointers(argv_strings);
  std::vector<char*> envp = pointers(env_strings);

  int rc = posix_spawn(&pid_, binary.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_fd);
  if (rc != 0) {
    pid_ = -1;
    ::unlink(output_path_.c_str());
    throw std::runtime_error("cannot spawn " + binary + ": " + std::strerror(rc));
  }
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      exit_code_(std::exchange(other.exit_code_, std::nullopt)),
      output_path_(std::exchange(other.output_path_, std::string())) {}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  if (!output_path_.empty()) ::unlink(output_path_.c_str());
}

std::string Process::output() const {
  std::ifstream in(output_path_, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool Process::reap(bool block) {
  if (exit_code_) return true;
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  if (r < 0) {
    exit_code_ = -1;  // not our child any more (reaped elsewhere); nothing left to wait for
    return true;
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

bool Process::running() { return pid_ > 0 && !reap(false); }

bool Process::terminate(int signal) {
  if (pid_ <= 0 || exit_code_) return false;
  return ::kill(pid_, signal) == 0;
}

std::optional<int> Process::waitExit(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  // Bounded by the deadline; waitpid has no timeout of its own.
  while (!reap(false)) {
    if (pid_ <= 0 || Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

std::optional<int> Process::stop(std::chrono::milliseconds timeout) {
  terminate(SIGTERM);
  if (auto code = waitExit(timeout)) return code;
  terminate(SIGKILL);
  return waitExit(std::chrono::seconds(5));
}

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool waitForPort(uint16_t port, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  // One attempt per 10 ms until the deadline.
  while (true) {
    RawConnection probe;
    if (probe.connect(port, std::chrono::milliseconds(100))) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string waitForLine(Process& process, std::string_view needle,
                        std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  // One look at the output per 10 ms until the deadline or the process exits.
  while (true) {
    bool alive = process.running();
    std::string output = process.output();
    size_t at = output.find(needle);
    if (at != std::string::npos) {
      size_t begin = output.rfind('\n', at);
      begin = begin == std::string::npos ? 0 : begin + 1;
      size_t end = output.find('\n', at);
      // Wait for the end of the line unless nothing more will come.
      if (end != std::string::npos || !alive) {
        std::string line = output.substr(begin, end == std::string::npos ? end : end - begin);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
    }
    if (!alive || Clock::now() >= deadline) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TestUpstream::TestUpstream(const std::string& binary, const std::string& name,
                           const std::vector<std::string>& extra_args, const std::string& host,
                           uint16_t port)
    : name_(name), host_(host), process_(binary, [&] {
        std::vector<std::string> args{"--listen", host + ":" + std::to_string(port), "--name",
                                      name};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        return args;
      }()) {
  std::string line = waitForLine(process_, "listening on " + host + ":", std::chrono::seconds(10));
  size_t colon = line.rfind(':');
  int bound = colon == std::string::npos ? 0 : std::atoi(line.c_str() + colon + 1);
  if (bound <= 0 || bound > 65535) {
    process_.stop(std::chrono::seconds(1));
    throw std::runtime_error("test upstream " + name + " did not start; output:\n" +
                             process_.output());
  }
  port_ = static_cast<uint16_t>(bound);
}

TestUpstream::~TestUpstream() { process_.stop(std::chrono::seconds(5)); }

std::string TestUpstream::control(std::string_view path) const {
  // The same port on 127.0.0.1 may be someone else's.
  if (host_ != "127.0.0.1") return {};
  std::string target(path);
  if (target.rfind("/control/", 0) != 0) {
    target = (target.rfind('/', 0) == 0 ? "/control" : "/control/") + target;
  }
  Response response = httpGet(port_, target);
  return response.status == 0 ? std::string() : response.body;
}

TestUpstream::Stats TestUpstream::stats() const {
  std::string body = control("stats");
  Stats stats;
  stats.requests = jsonInteger(body, "requests").value_or(-1);
  stats.connections = jsonInteger(body, "connections").value_or(-1);
  return stats;
}

void TestUpstream::recover() const {
  control("recover");
  control("reset-stats");
}

}  // namespace switchyard::test
