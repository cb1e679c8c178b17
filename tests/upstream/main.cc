// switchyard-test-upstream: the demo backend of the quickstart and the misbehaving upstream of
// the integration tests.
//
//   switchyard-test-upstream --listen 127.0.0.1:9001 --name v1 [--threads N]
//   switchyard-test-upstream --port 9001 --name v1
//
// Prints "listening on 127.0.0.1:PORT" once it accepts connections (port 0 picks a free one) and
// exits 0 on SIGTERM or SIGINT. Behaviours by path or header are documented in usage() below.

#include <arpa/inet.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/upstream/behaviour.h"
#include "tests/upstream/server.h"

namespace switchyard::test::upstream {
namespace {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  bool have_address = false;
  std::string name = "upstream";
  int threads = 1;
};

void usage(std::FILE* out) {
  std::fputs(
      "usage: switchyard-test-upstream (--listen HOST:PORT | --port PORT) [--name NAME]\n"
      "                                [--threads N]\n"
      "\n"
      "Any path: 200 JSON {service, version, method, path, headers, body_bytes}\n"
      "  and header X-Upstream-Name: NAME.\n"
      "  /status/NNN            answer NNN\n"
      "  /delay/MS              answer after MS milliseconds\n"
      "  /bytes/N               N bytes, Content-Length\n"
      "  /chunked/N             N bytes, chunked\n"
      "  /random-bytes/N        N pseudo-random bytes (tests/upstream/random_body.h), "
      "Content-Length\n"
      "  /close-delimited/N     N bytes, ended by closing the connection\n"
      "  /slow-body/N/MS        N bytes in 10 pieces MS apart\n"
      "  /garbage /bad-header   broken responses, then close\n"
      "  /reset                 RST without answering\n"
      "  /hang                  never answer\n"
      "  /echo                  request body back, Content-Type copied\n"
      "  /headers               same as the default body\n"
      "  /control/fail?status=503&count=N   fail the next N requests (N=-1: until recover)\n"
      "  /control/fail?...&path=/health     ... only those whose path starts with /health\n"
      "  /control/reset?count=N             reset the next N requests\n"
      "  /control/recover /control/stats /control/reset-stats\n"
      "Headers: X-Test-Status: NNN, X-Test-Delay-Ms: MS, X-Test-Behavior: /any/path/above,\n"
      "  X-Test-Response-Header: \"Name: value\" (added to the response, once per line)\n",
      out);
}

bool parsePort(std::string_view text, uint16_t& port) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

// Returns false (after printing why) on bad arguments.
bool parseArgs(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "switchyard-test-upstream: %s needs a value\n", argv[i]);
      return false;
    }
    std::string_view value = argv[++i];
    if (arg == "--listen") {
      size_t colon = value.rfind(':');
      if (colon == std::string_view::npos || !parsePort(value.substr(colon + 1), options.port)) {
        std::fprintf(stderr, "switchyard-test-upstream: --listen wants HOST:PORT\n");
        return false;
      }
      options.host = value.substr(0, colon);
      if (options.host == "localhost") options.host = "127.0.0.1";
      options.have_address = true;
    } else if (arg == "--port") {
      if (!parsePort(value, options.port)) {
        std::fprintf(stderr, "switchyard-test-upstream: bad --port\n");
        return false;
      }
      options.have_address = true;
    } else if (arg == "--name") {
      options.name = value;
    } else if (arg == "--threads") {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), options.threads);
      if (ec != std::errc() || ptr != value.data() + value.size() || options.threads < 1 ||
          options.threads > 256) {
        std::fprintf(stderr, "switchyard-test-upstream: bad --threads\n");
        return false;
      }
    } else {
      std::fprintf(stderr, "switchyard-test-upstream: unknown argument %s\n", argv[i - 1]);
      return false;
    }
  }
  if (!options.have_address) {
    std::fprintf(stderr, "switchyard-test-upstream: --listen or --port is required\n");
    return false;
  }
  return true;
}

// A few thousand concurrent connections need more than the usual 1024 descriptors.
void raiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Returns the listening socket (non-blocking) and the bound port, or -1.
int openListener(const Options& options, uint16_t& bound_port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options.port);
  if (inet_pton(AF_INET, options.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "switchyard-test-upstream: not an IPv4 address: %s\n",
                 options.host.c_str());
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("switchyard-test-upstream: socket");
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 4096) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::fprintf(stderr, "switchyard-test-upstream: cannot listen on %s:%u: %s\n",
                 options.host.c_str(), options.port, std::strerror(errno));
    close(fd);
    return -1;
  }
  bound_port = ntohs(addr.sin_port);
  return fd;
}

int run(int argc, char** argv) {
  Options options;
  if (!parseArgs(argc, argv, options)) {
    usage(stderr);
    return 2;
  }

  // Signals are taken synchronously by sigwait() below; every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  raiseFileLimit();
  if (evthread_use_pthreads() != 0) {
    std::fprintf(stderr, "switchyard-test-upstream: evthread_use_pthreads failed\n");
    return 1;
  }

  uint16_t port = 0;
  int listen_fd = openListener(options, port);
  if (listen_fd < 0) return 1;

  SharedState shared(options.name);
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  try {
    for (int i = 0; i < options.threads; ++i) {
      workers.push_back(std::make_unique<Worker>(shared, listen_fd));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "switchyard-test-upstream: %s\n", e.what());
    return 1;
  }
  for (auto& worker : workers) threads.emplace_back([w = worker.get()] { w->run(); });

  std::printf("listening on %s:%u\n", options.host.c_str(), port);
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);

  for (auto& worker : workers) worker->stop();
  for (auto& thread : threads) thread.join();
  workers.clear();
  close(listen_fd);
  return 0;
}

}  // namespace
}  // namespace switchyard::test::upstream

int main(int argc, char** argv) { return switchyard::test::upstream::run(argc, argv); }
