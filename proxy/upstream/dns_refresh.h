#pragma once

// Keeping the addresses of one DNS name fresh.
//
// DnsNameRefresh is the decision logic, a pure function of the results and the `now` it is
// given: what changed, when to look again, what to log. DnsNameWatcher runs it on a dispatcher
// with a DnsLookup (a DnsResolver in production) and tells its owner about every change.
//
// The rules:
// - An answer is used for its TTL, but at least min_refresh and at most refresh.
// - A failed lookup (no answer, NXDOMAIN, no A or AAAA records, an error) keeps the last good
//   addresses: an endpoint is not dropped because DNS is down or was changed by mistake. The
//   name is looked up again after retry_base, then twice as long after each further failure,
//   up to retry_max.
// - A name that has never resolved has no addresses (state Unresolved), which is not the same as
//   having resolved (Resolved, or Stale after failures): a successful answer has at least one.
// - Every result counts once: success (the addresses changed, the first answer included),
//   no_change (the same addresses), or failure.
// - The first failure of a streak is logged, and so is the recovery; the failures in between
//   are not.

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/dns.h"
#include "proxy/common/socket_address.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/dns_resolver.h"

namespace switchyard::upstream {

// `addresses` in a canonical order (IPv4 before IPv6, then by address, then by port) without
// duplicates.
std::vector<common::SocketAddress> normalizedAddresses(
    std::vector<common::SocketAddress> addresses);

// What turns `before` into `after`, whatever their order and duplicates; each list is normalized.
struct AddressDiff {
  std::vector<common::SocketAddress> added;
  std::vector<common::SocketAddress> removed;
  std::vector<common::SocketAddress> kept;
  bool changed() const { return !added.empty() || !removed.empty(); }
};
AddressDiff diffAddresses(const std::vector<common::SocketAddress>& before,
                          const std::vector<common::SocketAddress>& after);

// How long an answer with `ttl` is used: the TTL bounded by [min_refresh, refresh].
milliseconds answerLifetime(std::chrono::seconds ttl, const DnsConfig& config);
// When to look again after the `failures`-th failed lookup in a row (1 for the first):
// retry_base * 2^(failures - 1), at most retry_max.
milliseconds retryDelay(uint32_t failures, const DnsConfig& config);

enum class DnsNameState {
  Unresolved,  // no lookup has succeeded yet: no addresses
  Resolved,    // the addresses are those of the latest lookup
  Stale,       // the latest lookup failed: the addresses are those of the last that succeeded
};
std::string_view dnsNameStateName(DnsNameState state);

struct DnsResultCounts {
  uint64_t success = 0;
  uint64_t no_change = 0;
  uint64_t failure = 0;
};

enum class DnsLogEvent {
  None,
  FirstFailure,  // the first failure after a success (or the first lookup failing)
  Recovered,     // a success after one or more failures
};

// What one result means.
struct DnsRefreshDecision {
  AddressDiff diff;  // changed() only when the addresses changed
  // When to look again; nullopt for a literal, which never changes.
  std::optional<milliseconds> next_lookup;
  DnsLogEvent log = DnsLogEvent::None;
};

// The state of one name. Not thread-safe; one owner.
class DnsNameRefresh {
 public:
  explicit DnsNameRefresh(const DnsConfig& config) : config_(config) {}

  DnsRefreshDecision onResult(common::MonotonicTime now, const DnsResult& result);

  DnsNameState state() const { return state_; }
  // Normalized; empty while Unresolved.
  const std::vector<common::SocketAddress>& addresses() const { return addresses_; }
  uint32_t consecutiveFailures() const { return failures_; }
  const DnsResultCounts& counts() const { return counts_; }
  // The latest result (DnsStatus::Error with an empty message before the first).
  DnsStatus lastStatus() const { return last_status_; }
  const std::string& lastMessage() const { return last_message_; }
  // The TTL of the latest success.
  std::chrono::seconds lastTtl() const { return last_ttl_; }
  std::optional<common::MonotonicTime> lastResultAt() const { return last_result_at_; }
  std::optional<common::MonotonicTime> lastSuccessAt() const { return last_success_at_; }
  // When the latest decision said to look again; nullopt before the first result or never.
  std::optional<common::MonotonicTime> nextLookupAt() const { return next_lookup_at_; }

 private:
  const DnsConfig config_;
  DnsNameState state_ = DnsNameState::Unresolved;
  std::vector<common::SocketAddress> addresses_;
  uint32_t failures_ = 0;
  DnsResultCounts counts_;
  DnsStatus last_status_ = DnsStatus::Error;
  std::string last_message_;
  std::chrono::seconds last_ttl_{0};
  std::optional<common::MonotonicTime> last_result_at_;
  std::optional<common::MonotonicTime> last_success_at_;
  std::optional<common::MonotonicTime> next_lookup_at_;
};

// Watches one name:port on a dispatcher's thread: looks it up when start() is called, then again
// whenever DnsNameRefresh says, and calls `on_addresses` with the whole new set and the diff
// whenever the set changes (never for a result that changes nothing). Everything happens on the
// dispatcher's thread; `lookup` must outlive the watcher. The watcher may be destroyed from
// inside `on_addresses`.
class DnsNameWatcher {
 public:
  using AddressesCallback = std::function<void(const std::vector<common::SocketAddress>& addresses,
                                               const AddressDiff& diff)>;

  DnsNameWatcher(event::Dispatcher& dispatcher, DnsLookup& lookup, std::string name, uint16_t port,
                 const DnsConfig& config, AddressesCallback on_addresses);
  ~DnsNameWatcher() = default;
  DnsNameWatcher(const DnsNameWatcher&) = delete;
  DnsNameWatcher& operator=(const DnsNameWatcher&) = delete;

  // Starts the first lookup (its answer comes from a later turn of the loop).
  void start();
  // Looks the name up now, ahead of schedule, unless a lookup is in flight.
  void lookupNow();

  const std::string& name() const { return name_; }
  uint16_t port() const { return port_; }
  const DnsNameRefresh& refresh() const { return refresh_; }
  bool lookupInFlight() const { return query_.pending(); }

  // For the admin API: state, addresses, latest result, counts, next lookup.
  nlohmann::json toJson() const;

 private:
  void onResult(DnsResult result);

  event::Dispatcher& dispatcher_;
  DnsLookup& lookup_;
  const std::string name_;
  const uint16_t port_;
  const std::string label_;  // name:port, for the logs
  AddressesCallback on_addresses_;
  DnsNameRefresh refresh_;
  event::TimerPtr timer_;
  DnsQuery query_;  // last: cancelled first when the watcher goes
};

}  // namespace switchyard::upstream
