#include "tests/support/dnsmasq.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace switchyard::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* Binary = "/usr/sbin/dnsmasq";

bool bindable(int type, uint16_t port) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// A port of 127.0.0.1 free for both TCP and UDP a moment ago, below the kernel's range of
// ephemeral ports: once dnsmasq has stopped, no process's outgoing socket can be given it, so a
// query to it is refused rather than swallowed.
uint16_t freeDnsPort() {
  int first_ephemeral = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> first_ephemeral;
  const int low = 10000;
  const int span = std::max(first_ephemeral - low, 1);
  // Tests running in parallel start at different points and walk up.
  const int start = static_cast<int>(static_cast<unsigned>(::getpid()) * 7919u % span);
  for (int i = 0; i < std::min(span, 2000); ++i) {
    const auto port = static_cast<uint16_t>(low + (start + i) % span);
    if (bindable(SOCK_STREAM, port) && bindable(SOCK_DGRAM, port)) return port;
  }
  throw std::runtime_error("no port of 127.0.0.1 is free for both TCP and UDP");
}

std::string markerName(uint64_t generation) {
  return "fixture-generation-" + std::to_string(generation) + ".test";
}

std::string userName() {
  const passwd* pw = ::getpwuid(::geteuid());
  return pw != nullptr ? pw->pw_name : "root";
}

}  // namespace

Dnsmasq::Dnsmasq(std::vector<Record> records, std::chrono::seconds ttl)
    : records_(std::move(records)), ttl_(ttl) {
  if (::access(Binary, X_OK) != 0) {
    throw std::runtime_error(std::string(Binary) +
                             " is missing (scripts/install-deps.sh --e2e installs dnsmasq-base)");
  }
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
                        "/switchyard-dnsmasq-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  }
  dir_ = pattern;
  hosts_path_ = dir_ + "/hosts";
  writeRecords();
  port_ = freeDnsPort();
  // --user: dnsmasq started as root would otherwise switch to a user of its own, and the file
  // lives in a directory only we can read.
  process_ = std::make_unique<Process>(
      Binary,
      std::vector<std::string>{
          "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
          "--port=" + std::to_string(port_), "--listen-address=127.0.0.1", "--bind-interfaces",
          "--addn-hosts=" + hosts_path_, "--local-ttl=" + std::to_string(ttl_.count()),
          "--local=/test/", "--pid-file=", "--user=" + userName(), "--log-facility=-"});
  if (!waitForGeneration(std::chrono::seconds(10))) {
    const std::string output = process_->output();
    process_.reset();
    ::unlink(hosts_path_.c_str());
    ::rmdir(dir_.c_str());
    throw std::runtime_error("dnsmasq did not answer on port " + std::to_string(port_) + ":\n" +
                             output);
  }
}

Dnsmasq::~Dnsmasq() {
  process_.reset();  // SIGKILLs and reaps it
  ::unlink(hosts_path_.c_str());
  ::rmdir(dir_.c_str());
}

void Dnsmasq::writeRecords() {
  const std::string temp = hosts_path_ + ".new";
  {
    std::ofstream out(temp, std::ios::trunc);
    for (const Record& r : records_) out << r.address << ' ' << r.name << '\n';
    out << "127.0.0.1 " << markerName(generation_) << '\n';
    if (!out) throw std::runtime_error("cannot write " + temp);
  }
  // Whole files only: dnsmasq may read it at any time.
  if (::rename(temp.c_str(), hosts_path_.c_str()) != 0) {
    throw std::runtime_error("rename " + temp + ": " + std::strerror(errno));
  }
}

void Dnsmasq::setRecords(std::vector<Record> records) {
  records_ = std::move(records);
  ++generation_;
  writeRecords();
  if (!process_ || !process_->terminate(SIGHUP) || !waitForGeneration(std::chrono::seconds(10))) {
    throw std::runtime_error("dnsmasq did not load the new records:\n" +
                             (process_ ? process_->output() : std::string()));
  }
}

bool Dnsmasq::waitForGeneration(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::string marker = markerName(generation_);
  // One query per 5 ms until the deadline: refused while dnsmasq is not listening yet, NXDOMAIN
  // until it has read the file.
  while (process_->running()) {
    const auto answer = query(marker, ns_t_a);
    if (answer && !answer->empty()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void Dnsmasq::pause() {
  if (process_) process_->terminate(SIGSTOP);
}

void Dnsmasq::resume() {
  if (process_) process_->terminate(SIGCONT);
}

void Dnsmasq::stop() {
  if (!process_) return;
  process_->stop(std::chrono::seconds(5));
  process_.reset();
}

std::optional<std::vector<std::string>> Dnsmasq::query(const std::string& name, int type,
                                                       std::chrono::milliseconds timeout) const {
  const uint16_t id = ++query_id_;
  unsigned char* packet = nullptr;
  int length = 0;
  if (ares_create_query(name.c_str(), ns_c_in, type, id, 1, &packet, &length, 0) != ARES_SUCCESS) {
    return std::nullopt;
  }
  const std::string request(reinterpret_cast<const char*>(packet), static_cast<size_t>(length));
  ares_free_string(packet);

  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port_);
  std::optional<std::vector<std::string>> out;
  const Clock::time_point deadline = Clock::now() + timeout;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    unsigned char buf[4096];
    // Reads until our answer comes (a stale one for an earlier id is skipped) or the deadline.
    while (!out) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < NS_HFIXEDSZ) break;  // refused (nothing listens) or garbage
      if (((buf[0] << 8) | buf[1]) != id) continue;
      std::vector<std::string> addresses;
      char text[INET6_ADDRSTRLEN];
      if (type == ns_t_a) {
        ares_addrttl records[32];
        int count = 32;
        if (ares_parse_a_reply(buf, static_cast<int>(n), nullptr, records, &count) ==
            ARES_SUCCESS) {
          for (int i = 0; i < count; ++i) {
            addresses.emplace_back(inet_ntop(AF_INET, &records[i].ipaddr, text, sizeof(text)));
          }
        }
      } else {
        ares_addr6ttl records[32];
        int count = 32;
        if (ares_parse_aaaa_reply(buf, static_cast<int>(n), nullptr, records, &count) ==
            ARES_SUCCESS) {
          for (int i = 0; i < count; ++i) {
            addresses.emplace_back(inet_ntop(AF_INET6, &records[i].ip6addr, text, sizeof(text)));
          }
        }
      }
      out = std::move(addresses);
    }
  }
  ::close(fd);
  return out;
}

}  // namespace switchyard::test
