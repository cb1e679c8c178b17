#pragma once

// Asynchronous DNS lookups on a worker's (or the main thread's) event loop, through c-ares.
//
// A lookup asks for the A and the AAAA records of a name at once and answers once both have
// answered (or the lookup's deadline passes): every address of either family, and the smallest
// TTL of the records that gave them. One family failing while the other answers is a success.
// IP literals ("10.0.0.1", "::1", "[::1]") and "localhost" (127.0.0.1, as parseSocketAddress()
// reads it) are answered without a query.
//
// Threading: everything, construction and destruction included, happens on the thread of the
// dispatcher the resolver was made with. Nothing blocks: c-ares's sockets are watched by the
// dispatcher's event_base and its retransmissions are driven by a dispatcher timer. (Creating a
// resolver reads the system's resolver configuration files, /etc/resolv.conf and the like.)
//
// Callbacks: each lookup's callback runs at most once, on that thread, never from inside
// resolve(), and not after its DnsQuery handle was cancelled or destroyed. Destroying the resolver
// drops every lookup in flight without calling its callback; their handles may outlive it. A
// callback may start and cancel lookups; it must not destroy the resolver.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/dns.h"
#include "proxy/common/socket_address.h"
#include "proxy/event/dispatcher.h"
#include "proxy/event/libevent.h"

struct ares_channeldata;

namespace switchyard::upstream {

enum class DnsStatus {
  Ok,
  NoSuchName,     // NXDOMAIN
  NoData,         // the name exists and has neither A nor AAAA records
  Timeout,        // no answer within the configured timeout
  ServerFailure,  // SERVFAIL, REFUSED, or no resolver reachable
  Error,          // anything else: a malformed name or answer, out of memory
};
std::string_view dnsStatusName(DnsStatus status);

struct DnsResult {
  DnsStatus status = DnsStatus::Error;
  // Ok: empty, or what went wrong with one family while the other answered ("AAAA: timeout").
  // Otherwise what went wrong, per family when they differ.
  std::string message;
  // Ok: at least one; the A records' addresses first, then the AAAA records', in the order of the
  // answers, without duplicates, each with the port that was asked for.
  std::vector<common::SocketAddress> addresses;
  // Ok: the smallest TTL of the records that gave the addresses (0 for a literal).
  std::chrono::seconds ttl{0};
  // An IP literal or localhost, answered without a query: it never changes.
  bool literal = false;

  bool ok() const { return status == DnsStatus::Ok; }
};

using DnsCallback = std::function<void(DnsResult result)>;

class DnsLookup;

// A lookup in flight, as its caller holds it. Destroying or cancelling it means its callback will
// not run. Once the lookup has finished (its callback is running or has run) or its resolver is
// gone, the handle is empty and cancel() does nothing. Movable; on the resolver's thread only.
class DnsQuery {
 public:
  DnsQuery() = default;
  ~DnsQuery() { cancel(); }
  DnsQuery(DnsQuery&& other) noexcept;
  DnsQuery& operator=(DnsQuery&& other) noexcept;
  DnsQuery(const DnsQuery&) = delete;
  DnsQuery& operator=(const DnsQuery&) = delete;

  void cancel();
  // True while the lookup is in flight.
  bool pending() const { return owner_ != nullptr; }

 private:
  friend class DnsLookup;
  DnsQuery(DnsLookup* owner, uint64_t id);
  DnsLookup* owner_ = nullptr;
  uint64_t id_ = 0;
};

// What the users of lookups depend on (DnsNameWatcher), so that they can be tested without a
// network. An implementation hands out handles with makeQuery() and keeps track of where each
// one lives (bindQuery(), called on creation and on every move); when a lookup finishes, or the
// implementation goes away, it calls releaseQuery() on the handle before anything else.
class DnsLookup {
 public:
  virtual ~DnsLookup() = default;
  // Looks `name` up; the addresses in the result carry `port`.
  [[nodiscard]] virtual DnsQuery resolve(std::string name, uint16_t port, DnsCallback cb) = 0;

 protected:
  DnsQuery makeQuery(uint64_t id) { return DnsQuery(this, id); }
  static void releaseQuery(DnsQuery& query) { query.owner_ = nullptr; }
  // `handle` now holds lookup `id`.
  virtual void bindQuery(uint64_t id, DnsQuery* handle) = 0;
  // Lookup `id` was cancelled: forget it, do not call its callback.
  virtual void cancelQuery(uint64_t id) = 0;

 private:
  friend class DnsQuery;
};

// "10.0.0.1", "::1", "[::1]" or "localhost" (any case, with or without a final dot) as an address
// with `port`; false for anything else.
bool parseAddressLiteral(std::string_view name, uint16_t port, common::SocketAddress& out);

// The c-ares resolver: one channel (its sockets, its servers) on one dispatcher.
class DnsResolver final : public DnsLookup {
 public:
  // Uses config.resolvers (looked up as written) or else /etc/resolv.conf (its servers, search
  // domains and ndots), config.timeout as each lookup's deadline and config.attempts as the
  // tries per server within it. Throws std::runtime_error if c-ares cannot be set up.
  DnsResolver(event::LibeventDispatcher& dispatcher, const DnsConfig& config);
  ~DnsResolver() override;
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  [[nodiscard]] DnsQuery resolve(std::string name, uint16_t port, DnsCallback cb) override;

  // Lookups whose callback has not run yet.
  size_t pendingLookups() const { return pending_.size(); }
  // The servers in use, as "ip:port" ("[ip]:port" for IPv6).
  const std::vector<std::string>& servers() const { return servers_; }

 private:
  struct Pending;
  struct FamilyQuery;
  struct SocketWatch;

  void bindQuery(uint64_t id, DnsQuery* handle) override;
  void cancelQuery(uint64_t id) override;

  // A lookup answered with `result` from the next turn of the loop (literals, names refused up
  // front).
  DnsQuery answerLater(std::string name, DnsCallback cb, DnsResult result);
  void deliverReady();
  void onFamilyAnswer(uint64_t id, int family, int status, const unsigned char* answer, int length);
  void onDeadline(uint64_t id);
  // Both families have answered, or the deadline passed: builds the result and runs the callback.
  void complete(uint64_t id);
  void finish(uint64_t id, DnsResult result);

  void onSocketState(int fd, bool readable, bool writable);
  void onSocketEvent(int fd, short what);
  void onTimer();
  // Re-arms timer_ from ares_timeout(): c-ares's next retransmission or give-up.
  void rearmTimer();

  static void socketStateTrampoline(void* data, int fd, int readable, int writable) noexcept;
  static void socketEventTrampoline(int fd, short what, void* arg) noexcept;
  static void answerTrampoline(void* arg, int status, int timeouts, unsigned char* answer,
                               int length) noexcept;

  event::LibeventDispatcher& dispatcher_;
  const milliseconds timeout_;
  ares_channeldata* channel_ = nullptr;
  std::vector<std::string> servers_;
  // The sockets c-ares has asked us to watch, by descriptor.
  std::unordered_map<int, std::unique_ptr<SocketWatch>> sockets_;
  event::TimerPtr timer_;
  event::TimerPtr deliver_timer_;
  std::unordered_map<uint64_t, std::unique_ptr<Pending>> pending_;
  std::vector<uint64_t> ready_;  // answered by deliver_timer_
  uint64_t next_id_ = 1;
  // Inside resolve(): a c-ares callback that runs there (a name it refuses at once) must not
  // run the caller's callback.
  bool in_resolve_ = false;
  bool destroying_ = false;
};

}  // namespace switchyard::upstream
