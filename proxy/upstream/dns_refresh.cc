#include "proxy/upstream/dns_refresh.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <tuple>

#include "proxy/common/duration.h"
#include "proxy/common/logging.h"

namespace switchyard::upstream {
namespace {

using common::SocketAddress;

// Orders numerically: 10.0.0.9 before 10.0.0.10. A host that is not an address literal (none
// comes out of a resolver) sorts last, by its text.
struct AddressKey {
  int rank = 2;  // 0 IPv4, 1 IPv6, 2 neither
  std::array<unsigned char, 16> bytes{};
  std::string host;
  uint16_t port = 0;

  explicit AddressKey(const SocketAddress& a) : port(a.port) {
    if (inet_pton(AF_INET, a.host.c_str(), bytes.data()) == 1) {
      rank = 0;
    } else if (inet_pton(AF_INET6, a.host.c_str(), bytes.data()) == 1) {
      rank = 1;
    } else {
      host = a.host;
    }
  }
  auto tie() const { return std::tie(rank, bytes, host, port); }
  bool operator<(const AddressKey& o) const { return tie() < o.tie(); }
  bool operator==(const AddressKey& o) const { return tie() == o.tie(); }
};

bool keyLess(const SocketAddress& a, const SocketAddress& b) {
  return AddressKey(a) < AddressKey(b);
}

std::string formatMs(milliseconds d) { return common::formatDuration(d); }

}  // namespace

std::vector<SocketAddress> normalizedAddresses(std::vector<SocketAddress> addresses) {
  std::vector<std::pair<AddressKey, SocketAddress>> keyed;
  keyed.reserve(addresses.size());
  for (SocketAddress& a : addresses) keyed.emplace_back(AddressKey(a), std::move(a));
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<SocketAddress> out;
  out.reserve(keyed.size());
  for (size_t i = 0; i < keyed.size(); ++i) {
    if (i > 0 && keyed[i].first == keyed[i - 1].first) continue;
    out.push_back(std::move(keyed[i].second));
  }
  return out;
}

AddressDiff diffAddresses(const std::vector<SocketAddress>& before,
                          const std::vector<SocketAddress>& after) {
  const std::vector<SocketAddress> old_set = normalizedAddresses(before);
  const std::vector<SocketAddress> new_set = normalizedAddresses(after);
  AddressDiff diff;
  std::set_difference(new_set.begin(), new_set.end(), old_set.begin(), old_set.end(),
                      std::back_inserter(diff.added), keyLess);
  std::set_difference(old_set.begin(), old_set.end(), new_set.begin(), new_set.end(),
                      std::back_inserter(diff.removed), keyLess);
  // The new set's entries: the text of an address is the resolver's latest.
  std::set_intersection(new_set.begin(), new_set.end(), old_set.begin(), old_set.end(),
                        std::back_inserter(diff.kept), keyLess);
  return diff;
}

milliseconds answerLifetime(std::chrono::seconds ttl, const DnsConfig& config) {
  const milliseconds lifetime = std::chrono::duration_cast<milliseconds>(ttl);
  return std::clamp(lifetime, config.min_refresh, std::max(config.min_refresh, config.refresh));
}

milliseconds retryDelay(uint32_t failures, const DnsConfig& config) {
  milliseconds delay = config.retry_base;
  for (uint32_t i = 1; i < failures && delay < config.retry_max; ++i) delay *= 2;
  return std::min(delay, std::max(config.retry_base, config.retry_max));
}

std::string_view dnsNameStateName(DnsNameState state) {
  switch (state) {
    case DnsNameState::Unresolved:
      return "unresolved";
    case DnsNameState::Resolved:
      return "resolved";
    case DnsNameState::Stale:
      return "stale";
  }
  return "unresolved";
}

DnsRefreshDecision DnsNameRefresh::onResult(common::MonotonicTime now, const DnsResult& result) {
  DnsRefreshDecision decision;
  last_result_at_ = now;
  last_status_ = result.status;
  last_message_ = result.message;
  if (result.ok() && !result.addresses.empty()) {
    if (failures_ > 0) decision.log = DnsLogEvent::Recovered;
    failures_ = 0;
    decision.diff = diffAddresses(addresses_, result.addresses);
    if (decision.diff.changed()) {
      ++counts_.success;
      addresses_ = normalizedAddresses(result.addresses);
    } else {
      ++counts_.no_change;
    }
    state_ = DnsNameState::Resolved;
    last_ttl_ = result.ttl;
    last_success_at_ = now;
    if (!result.literal) decision.next_lookup = answerLifetime(result.ttl, config_);
  } else {
    ++counts_.failure;
    if (failures_ == 0) decision.log = DnsLogEvent::FirstFailure;
    if (failures_ < UINT32_MAX) ++failures_;
    if (state_ == DnsNameState::Resolved) state_ = DnsNameState::Stale;
    decision.next_lookup = retryDelay(failures_, config_);
  }
  next_lookup_at_.reset();
  if (decision.next_lookup) next_lookup_at_ = now + *decision.next_lookup;
  return decision;
}

DnsNameWatcher::DnsNameWatcher(event::Dispatcher& dispatcher, DnsLookup& lookup, std::string name,
                               uint16_t port, const DnsConfig& config,
                               AddressesCallback on_addresses)
    : dispatcher_(dispatcher),
      lookup_(lookup),
      name_(std::move(name)),
      port_(port),
      label_(name_ + ":" + std::to_string(port_)),
      on_addresses_(std::move(on_addresses)),
      refresh_(config),
      timer_(dispatcher_.createTimer([this] { lookupNow(); })) {}

void DnsNameWatcher::start() { lookupNow(); }

void DnsNameWatcher::lookupNow() {
  if (query_.pending()) return;
  timer_->disable();
  query_ = lookup_.resolve(name_, port_, [this](DnsResult result) { onResult(std::move(result)); });
}

void DnsNameWatcher::onResult(DnsResult result) {
  const DnsRefreshDecision decision =
      refresh_.onResult(dispatcher_.timeSource().monotonicNow(), result);
  if (decision.next_lookup) timer_->enable(*decision.next_lookup);
  const std::string next =
      decision.next_lookup ? formatMs(*decision.next_lookup) : std::string("never");
  switch (decision.log) {
    case DnsLogEvent::FirstFailure:
      if (refresh_.state() == DnsNameState::Unresolved) {
        SY_LOG(Warn, "dns %s: lookup failed (%s: %s); no addresses yet, trying again in %s",
               label_.c_str(), std::string(dnsStatusName(result.status)).c_str(),
               result.message.c_str(), next.c_str());
      } else {
        SY_LOG(Warn, "dns %s: lookup failed (%s: %s); keeping %zu addresses, trying again in %s",
               label_.c_str(), std::string(dnsStatusName(result.status)).c_str(),
               result.message.c_str(), refresh_.addresses().size(), next.c_str());
      }
      break;
    case DnsLogEvent::Recovered:
      SY_LOG(Info, "dns %s: resolved again, %zu addresses", label_.c_str(),
             refresh_.addresses().size());
      break;
    case DnsLogEvent::None:
      if (!result.ok()) {
        SY_LOG(Debug, "dns %s: lookup failed again (%s: %s), %u in a row", label_.c_str(),
               std::string(dnsStatusName(result.status)).c_str(), result.message.c_str(),
               refresh_.consecutiveFailures());
      }
      break;
  }
  if (!decision.diff.changed()) return;
  SY_LOG(Debug, "dns %s: %zu addresses (%zu added, %zu removed), next lookup in %s", label_.c_str(),
         refresh_.addresses().size(), decision.diff.added.size(), decision.diff.removed.size(),
         next.c_str());
  // Last, and through a copy: the owner may destroy the watcher, and its callback, from here.
  const AddressesCallback on_addresses = on_addresses_;
  on_addresses(refresh_.addresses(), decision.diff);
}

nlohmann::json DnsNameWatcher::toJson() const {
  const common::MonotonicTime now = dispatcher_.timeSource().monotonicNow();
  const auto ago = [now](common::MonotonicTime t) {
    return formatMs(std::chrono::floor<milliseconds>(now - t));
  };
  nlohmann::json addresses = nlohmann::json::array();
  for (const SocketAddress& a : refresh_.addresses()) addresses.push_back(a.text);
  const DnsResultCounts& counts = refresh_.counts();
  nlohmann::json out = {
      {"name", name_},
      {"port", port_},
      {"state", dnsNameStateName(refresh_.state())},
      {"addresses", addresses},
      {"consecutive_failures", refresh_.consecutiveFailures()},
      {"results",
       {{"success", counts.success}, {"no_change", counts.no_change}, {"failure", counts.failure}}},
      {"lookup_in_flight", lookupInFlight()},
  };
  if (const auto at = refresh_.lastResultAt()) {
    out["last_result"] = {{"status", dnsStatusName(refresh_.lastStatus())},
                          {"message", refresh_.lastMessage()},
                          {"ago", ago(*at)}};
  }
  if (const auto at = refresh_.lastSuccessAt()) {
    out["last_success"] = {{"ttl", formatMs(refresh_.lastTtl())}, {"ago", ago(*at)}};
  }
  if (const auto at = refresh_.nextLookupAt(); at && !lookupInFlight()) {
    out["next_lookup_in"] =
        formatMs(std::max(milliseconds(0), std::chrono::ceil<milliseconds>(*at - now)));
  }
  return out;
}

}  // namespace switchyard::upstream
