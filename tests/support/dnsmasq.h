#pragma once

// A real dnsmasq (Debian's dnsmasq-base) for the tests of the DNS resolver: on a free UDP and TCP
// port of 127.0.0.1, answering from a hosts file of its own and nothing else (no
// /etc/resolv.conf, no /etc/hosts, no upstream servers). Names under ".test" that are not in the
// file get NXDOMAIN; names outside ".test" are refused. A name with only IPv4 (or only IPv6)
// addresses answers the other family with no records.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace switchyard::test {

class Dnsmasq {
 public:
  struct Record {
    std::string name;     // e.g. "api.test"
    std::string address;  // "10.0.0.1" or "fd00::1"
  };

  // Starts it with `records`, answered with `ttl`, and waits (up to 10 s) until it answers.
  // Throws std::runtime_error, with its output, if it does not.
  explicit Dnsmasq(std::vector<Record> records,
                   std::chrono::seconds ttl = std::chrono::seconds(60));
  // Kills it if it is still running and removes its files.
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Replaces the records: rewrites the file, sends SIGHUP and waits (up to 10 s) until a query
  // sees the new file. Throws std::runtime_error if it does not. Not while paused.
  void setRecords(std::vector<Record> records);
  // SIGSTOP / SIGCONT: queries reach its socket and nothing answers.
  void pause();
  void resume();
  // Stops it (SIGTERM, SIGKILL after 5 s) and reaps it: queries are refused by the kernel.
  void stop();

  // One query over UDP, blocking for up to `timeout`: the addresses of `name`'s records of
  // `type` (ns_t_a or ns_t_aaaa), empty for an answer without any; nullopt when no answer came.
  std::optional<std::vector<std::string>> query(
      const std::string& name, int type,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(200)) const;

 private:
  void writeRecords();
  // Until a query sees the marker record of the current generation of the file.
  bool waitForGeneration(std::chrono::milliseconds timeout);

  std::vector<Record> records_;
  std::chrono::seconds ttl_;
  uint16_t port_ = 0;
  std::string dir_;
  std::string hosts_path_;
  uint64_t generation_ = 0;
  mutable uint16_t query_id_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace switchyard::test
