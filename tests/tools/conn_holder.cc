// switchyard-conn-holder: opens many client connections to one loopback address and holds them,
// for the overload and idle-memory measurements (scripts/idle-memory.sh, scripts/soak.sh) and
// the overload integration tests.
//
//   switchyard-conn-holder --target 127.0.0.1:8080 --connections 10000 --mode idle --hold 60
//
// Modes:
//   idle       each connection sends one GET, reads the whole response (Content-Length framed),
//              then stays open and silent (an idle keep-alive connection);
//   slowloris  each connection sends the start of a request head, then one more header line
//              every --interval-ms, and never finishes the head.
// Prints one line "ready <open> <failed>" once every connection has connected (and, in idle mode,
// read its response), then holds until --hold seconds have passed or stdin reaches EOF, and
// prints "done <open> <closed-by-peer>" before it exits. Bounded in count and time: it opens
// --connections sockets at most and never runs longer than --hold + --setup seconds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int connections = 100;
  std::string mode = "idle";
  std::string path = "/";
  double hold_seconds = 30;
  double setup_seconds = 60;
  int interval_ms = 1000;
  int concurrency = 256;  // connections being set up at once
};

enum class State { Connecting, Reading, Held, Closed };

struct Conn {
  int fd = -1;
  State state = State::Connecting;
  std::string in;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "switchyard-conn-holder: %s\n"
               "usage: switchyard-conn-holder --target HOST:PORT [--connections N] "
               "[--mode idle|slowloris] [--path /p] [--hold SECONDS] [--setup SECONDS] "
               "[--interval-ms MS] [--concurrency N]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--target") {
      const size_t colon = v.rfind(':');
      if (colon == std::string::npos) usage("--target needs HOST:PORT");
      o.host = v.substr(0, colon);
      o.port = static_cast<uint16_t>(std::atoi(v.c_str() + colon + 1));
    } else if (a == "--connections") {
      o.connections = std::atoi(v.c_str());
    } else if (a == "--mode") {
      o.mode = v;
    } else if (a == "--path") {
      o.path = v;
    } else if (a == "--hold") {
      o.hold_seconds = std::atof(v.c_str());
    } else if (a == "--setup") {
      o.setup_seconds = std::atof(v.c_str());
    } else if (a == "--concurrency") {
      o.concurrency = std::atoi(v.c_str());
    } else if (a == "--interval-ms") {
      o.interval_ms = std::atoi(v.c_str());
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.port == 0) usage("--target is required");
  if (o.connections < 1 || o.connections > 200000) usage("--connections must be 1-200000");
  if (o.mode != "idle" && o.mode != "slowloris") usage("--mode must be idle or slowloris");
  if (o.interval_ms < 1) usage("--interval-ms must be positive");
  if (o.concurrency < 1) usage("--concurrency must be positive");
  return o;
}

// True once `in` holds a whole response: a head and a Content-Length body (0 without one).
bool responseComplete(const std::string& in) {
  const size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  size_t length = 0;
  for (size_t pos = in.find("\r\n"); pos < end; pos = in.find("\r\n", pos + 2)) {
    static constexpr char kName[] = "content-length:";
    if (strncasecmp(in.c_str() + pos + 2, kName, sizeof(kName) - 1) == 0) {
      length = std::strtoul(in.c_str() + pos + 2 + sizeof(kName) - 1, nullptr, 10);
      break;
    }
  }
  return in.size() >= end + 4 + length;
}

void sendAll(int fd, const std::string& data) {
  // Requests are small and the socket is fresh: one send fits the kernel's buffer.
  if (::send(fd, data.data(), data.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
    std::perror("send");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(opt.port);
  if (inet_pton(AF_INET, opt.host.c_str(), &addr.sin_addr) != 1) usage("HOST must be IPv4");

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<size_t>(opt.connections));
  const std::string request = "GET " + opt.path + " HTTP/1.1\r\nHost: " + opt.host + "\r\n" +
                              (opt.mode == "idle" ? "\r\n" : "");
  const auto setup_deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<long>(opt.setup_seconds * 1000));

  int failed = 0;
  int pending = 0;  // connections not yet Held
  // Connects in batches so the listener's accept queue never overflows.
  size_t next = 0;
  auto openSome = [&](size_t n) {
    for (; n > 0 && next < conns.size(); --n, ++next) {
      Conn& c = conns[next];
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        c.state = State::Closed;
        ++failed;
        continue;
      }
      if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 &&
          errno != EINPROGRESS) {
        ::close(c.fd);
        c.fd = -1;
        c.state = State::Closed;
        ++failed;
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = next;
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      ++pending;
    }
  };
  auto closeConn = [&](Conn& c) {
    if (c.fd >= 0) {
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
    c.state = State::Closed;
  };

  std::vector<epoll_event> events(1024);
  char buf[16384];
  int closed_by_peer = 0;
  auto pump = [&](int timeout_ms) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[events[i].data.u64];
      if (c.fd < 0) continue;
      if (c.state == State::Connecting && (events[i].events & EPOLLOUT)) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          closeConn(c);
          ++failed;
          --pending;
          continue;
        }
        sendAll(c.fd, request);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = events[i].data.u64;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        if (opt.mode == "idle") {
          c.state = State::Reading;
        } else {
          c.state = State::Held;
          --pending;
        }
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        const ssize_t r = ::recv(c.fd, buf, sizeof(buf), 0);
        if (r > 0 && c.state == State::Reading) {
          c.in.append(buf, static_cast<size_t>(r));
          if (responseComplete(c.in)) {
            c.state = State::Held;
            c.in = std::string();
            --pending;
          }
        } else if (r == 0 || (r < 0 && errno != EAGAIN)) {
          if (c.state == State::Held) {
            ++closed_by_peer;
          } else {
            ++failed;
            --pending;
          }
          closeConn(c);
        }
      }
    }
  };

  while ((next < conns.size() || pending > 0) && Clock::now() < setup_deadline) {
    if (pending < opt.concurrency) openSome(static_cast<size_t>(opt.concurrency - pending));
    pump(10);
  }
  int open = 0;
  for (const Conn& c : conns) open += c.state == State::Held ? 1 : 0;
  std::printf("ready %d %d\n", open, failed + static_cast<int>(conns.size() - next) + pending);
  std::fflush(stdout);

  const auto end =
      Clock::now() + std::chrono::milliseconds(static_cast<long>(opt.hold_seconds * 1000));
  auto next_trickle = Clock::now() + std::chrono::milliseconds(opt.interval_ms);
  size_t trickles = 0;
  while (Clock::now() < end) {
    pollfd in{0, POLLIN, 0};
    if (::poll(&in, 1, 0) > 0) {
      const ssize_t r = ::read(0, buf, sizeof(buf));
      if (r <= 0) break;  // stdin closed: the caller is done
    }
    pump(50);
    if (opt.mode == "slowloris" && Clock::now() >= next_trickle) {
      const std::string line = "X-Trickle-" + std::to_string(trickles++ % 1000) + ": 1\r\n";
      for (Conn& c : conns) {
        if (c.fd >= 0 && c.state == State::Held) sendAll(c.fd, line);
      }
      next_trickle += std::chrono::milliseconds(opt.interval_ms);
    }
  }
  open = 0;
  for (const Conn& c : conns) open += c.fd >= 0 ? 1 : 0;
  std::printf("done %d %d\n", open, closed_by_peer);
  std::fflush(stdout);
  for (Conn& c : conns) closeConn(c);
  ::close(ep);
  return 0;
}
