#include "proxy/upstream/dns_resolver.h"

#include <ares.h>
#include <ares_dns.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <event2/event.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

#include "proxy/common/duration.h"
#include "proxy/common/logging.h"

namespace switchyard::upstream {
namespace {

using common::formatDuration;
using common::SocketAddress;

// The shortest time c-ares is given for one try: below it a loopback resolver under load would
// be given up on before it can answer.
constexpr milliseconds MinTryTimeout{10};

void initLibrary() {
  // Thread-safe and once per process: ares_library_init() itself is neither.
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  if (status != ARES_SUCCESS) {
    throw std::runtime_error(std::string("c-ares: ") + ares_strerror(status));
  }
}

SocketAddress makeAddress(int family, const void* addr, uint16_t port) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr, text, sizeof(text));
  SocketAddress out;
  out.host = text;
  out.port = port;
  out.text = family == AF_INET6 ? "[" + out.host + "]:" + std::to_string(port)
                                : out.host + ":" + std::to_string(port);
  return out;
}

// Each server gets config.attempts tries, and c-ares doubles the time of a try on every round
// through the servers: n servers, a tries and a first try of t take n * t * (2^a - 1) in all.
// The first try's time is chosen so that this is the lookup's deadline.
milliseconds tryTimeout(milliseconds deadline, uint32_t attempts, size_t servers) {
  const int64_t rounds = (int64_t{1} << std::clamp<uint32_t>(attempts, 1, 16)) - 1;
  const int64_t share =
      deadline.count() / (static_cast<int64_t>(std::max<size_t>(servers, 1)) * rounds);
  return std::max(MinTryTimeout, milliseconds(share));
}

DnsStatus statusOf(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsStatus::Ok;
    case ARES_ENOTFOUND:
      return DnsStatus::NoSuchName;
    case ARES_ENODATA:
      return DnsStatus::NoData;
    case ARES_ETIMEOUT:
      return DnsStatus::Timeout;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED:
      return DnsStatus::ServerFailure;
    default:
      return DnsStatus::Error;
  }
}

// When neither family answered: the status worth telling an operator. A resolver that could
// not be asked says more than a negative answer, and a name that exists without addresses more
// than one that does not.
int severity(DnsStatus status) {
  switch (status) {
    case DnsStatus::Ok:
    case DnsStatus::NoSuchName:
      return 0;
    case DnsStatus::NoData:
      return 1;
    default:
      return 2;
  }
}

// The answer's count of resource records: an upper bound for the addresses it holds.
int answerCount(const unsigned char* answer, int length) {
  if (length < NS_HFIXEDSZ) return 0;
  return DNS_HEADER_ANCOUNT(answer);
}

}  // namespace

std::string_view dnsStatusName(DnsStatus status) {
  switch (status) {
    case DnsStatus::Ok:
      return "ok";
    case DnsStatus::NoSuchName:
      return "no_such_name";
    case DnsStatus::NoData:
      return "no_data";
    case DnsStatus::Timeout:
      return "timeout";
    case DnsStatus::ServerFailure:
      return "server_failure";
    case DnsStatus::Error:
      return "error";
  }
  return "error";
}

DnsQuery::DnsQuery(DnsLookup* owner, uint64_t id) : owner_(owner), id_(id) {
  owner_->bindQuery(id_, this);
}

DnsQuery::DnsQuery(DnsQuery&& other) noexcept : owner_(other.owner_), id_(other.id_) {
  other.owner_ = nullptr;
  if (owner_ != nullptr) owner_->bindQuery(id_, this);
}

DnsQuery& DnsQuery::operator=(DnsQuery&& other) noexcept {
  if (this == &other) return *this;
  cancel();
  owner_ = other.owner_;
  id_ = other.id_;
  other.owner_ = nullptr;
  if (owner_ != nullptr) owner_->bindQuery(id_, this);
  return *this;
}

void DnsQuery::cancel() {
  DnsLookup* owner = owner_;
  owner_ = nullptr;
  if (owner != nullptr) owner->cancelQuery(id_);
}

bool parseAddressLiteral(std::string_view name, uint16_t port, SocketAddress& out) {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.empty() || name.size() >= INET6_ADDRSTRLEN) return false;
  const std::string text(name);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    out = makeAddress(AF_INET, buf, port);
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    out = makeAddress(AF_INET6, buf, port);
    return true;
  }
  std::string_view host = name;
  if (host.back() == '.') host.remove_suffix(1);
  constexpr std::string_view Localhost = "localhost";
  if (host.size() != Localhost.size()) return false;
  for (size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != Localhost[i]) return false;
  }
  const in_addr loopback{htonl(INADDR_LOOPBACK)};
  out = makeAddress(AF_INET, &loopback, port);
  return true;
}

struct DnsResolver::Pending {
  struct Family {
    bool done = false;
    int status = ARES_ETIMEOUT;
    std::vector<SocketAddress> addresses;
    int ttl = INT_MAX;
  };

  std::string name;
  uint16_t port = 0;
  DnsCallback cb;
  DnsQuery* handle = nullptr;
  Family v4;
  Family v6;
  event::TimerPtr deadline;  // null for a lookup answered without a query
  // Set when the result is known but waits for deliver_timer_.
  bool ready = false;
  DnsResult result;
};

// The privdata of one ares_search(): c-ares calls its callback exactly once, with
// ARES_EDESTRUCTION when the channel is destroyed first, and that call frees it.
struct DnsResolver::FamilyQuery {
  DnsResolver* resolver;
  uint64_t id;
  int family;
};

struct DnsResolver::SocketWatch {
  event::EventPtr ev;
  short events = 0;
};

DnsResolver::DnsResolver(event::LibeventDispatcher& dispatcher, const DnsConfig& config)
    : dispatcher_(dispatcher), timeout_(config.timeout) {
  initLibrary();
  timer_ = dispatcher_.createTimer([this] { onTimer(); });
  deliver_timer_ = dispatcher_.createTimer([this] { deliverReady(); });
  std::string csv;
  for (const SocketAddress& r : config.resolvers) {
    if (!csv.empty()) csv += ',';
    const bool v6 = r.host.find(':') != std::string::npos;
    csv += (v6 ? "[" + r.host + "]" : r.host) + ":" + std::to_string(r.port);
  }
  // The servers of /etc/resolv.conf are known only once a channel has read it: a channel made
  // for one server is made again when the file lists more.
  size_t servers = config.resolvers.empty() ? 1 : config.resolvers.size();
  for (int pass = 0; pass < 2; ++pass) {
    ares_options options{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS | ARES_OPT_TRIES | ARES_OPT_TIMEOUTMS;
    options.sock_state_cb = &DnsResolver::socketStateTrampoline;
    options.sock_state_cb_data = this;
    // HOSTALIASES would be a file read on the loop; configured resolvers get the names as
    // written, not the search domains of a resolv.conf meant for other servers.
    options.flags = ARES_FLAG_NOALIASES | (config.resolvers.empty() ? 0 : ARES_FLAG_NOSEARCH);
    options.tries = static_cast<int>(std::max<uint32_t>(config.attempts, 1));
    options.timeout = static_cast<int>(tryTimeout(timeout_, config.attempts, servers).count());
    ares_channel channel = nullptr;
    const int status = ares_init_options(&channel, &options, mask);
    if (status != ARES_SUCCESS) {
      if (channel != nullptr) ares_destroy(channel);
      throw std::runtime_error(std::string("c-ares: cannot create a channel: ") +
                               ares_strerror(status));
    }
    channel_ = channel;
    if (!csv.empty()) {
      const int set = ares_set_servers_ports_csv(channel_, csv.c_str());
      if (set != ARES_SUCCESS) {
        ares_destroy(channel_);
        channel_ = nullptr;
        throw std::runtime_error("c-ares: cannot use the resolvers " + csv + ": " +
                                 ares_strerror(set));
      }
    }
    servers_.clear();
    ares_addr_port_node* nodes = nullptr;
    if (ares_get_servers_ports(channel_, &nodes) == ARES_SUCCESS) {
      for (ares_addr_port_node* n = nodes; n != nullptr; n = n->next) {
        const uint16_t port = static_cast<uint16_t>(n->udp_port != 0 ? n->udp_port : 53);
        servers_.push_back(makeAddress(n->family, &n->addr, port).text);
      }
      ares_free_data(nodes);
    }
    if (!config.resolvers.empty() || servers_.size() <= servers) break;
    servers = servers_.size();
    ares_destroy(channel_);
    channel_ = nullptr;
  }
}

DnsResolver::~DnsResolver() {
  destroying_ = true;
  for (auto& [id, p] : pending_) {
    if (p->handle != nullptr) releaseQuery(*p->handle);
  }
  pending_.clear();
  ready_.clear();
  deliver_timer_.reset();
  timer_.reset();
  // Calls every outstanding search's callback with ARES_EDESTRUCTION, and the socket-state
  // callback for every socket it closes.
  if (channel_ != nullptr) ares_destroy(channel_);
  sockets_.clear();
}

DnsQuery DnsResolver::resolve(std::string name, uint16_t port, DnsCallback cb) {
  DnsResult result;
  SocketAddress literal;
  if (parseAddressLiteral(name, port, literal)) {
    result.status = DnsStatus::Ok;
    result.literal = true;
    result.addresses.push_back(std::move(literal));
    return answerLater(std::move(name), std::move(cb), std::move(result));
  }
  // 253 characters, plus the final dot of a fully qualified name; c-ares checks the labels.
  if (name.empty() || name.size() > 254 || name.find('\0') != std::string::npos) {
    result.status = DnsStatus::Error;
    result.message = "not a valid DNS name";
    return answerLater(std::move(name), std::move(cb), std::move(result));
  }
  const uint64_t id = next_id_++;
  auto p = std::make_unique<Pending>();
  p->name = std::move(name);
  p->port = port;
  p->cb = std::move(cb);
  p->deadline = dispatcher_.createTimer([this, id] { onDeadline(id); });
  p->deadline->enable(timeout_);
  const std::string& query_name = p->name;
  pending_.emplace(id, std::move(p));
  DnsQuery handle = makeQuery(id);
  // A search c-ares refuses at once (a malformed name) calls back from inside ares_search():
  // complete() sees in_resolve_ and leaves the answer to deliver_timer_.
  in_resolve_ = true;
  ares_search(channel_, query_name.c_str(), ns_c_in, ns_t_a, &DnsResolver::answerTrampoline,
              new FamilyQuery{this, id, AF_INET});
  ares_search(channel_, query_name.c_str(), ns_c_in, ns_t_aaaa, &DnsResolver::answerTrampoline,
              new FamilyQuery{this, id, AF_INET6});
  in_resolve_ = false;
  rearmTimer();
  return handle;
}

DnsQuery DnsResolver::answerLater(std::string name, DnsCallback cb, DnsResult result) {
  const uint64_t id = next_id_++;
  auto p = std::make_unique<Pending>();
  p->name = std::move(name);
  p->cb = std::move(cb);
  p->ready = true;
  p->result = std::move(result);
  pending_.emplace(id, std::move(p));
  ready_.push_back(id);
  deliver_timer_->enable(milliseconds(0));
  return makeQuery(id);
}

void DnsResolver::deliverReady() {
  // Lookups answered by these callbacks wait for the next turn.
  std::vector<uint64_t> ids;
  ids.swap(ready_);
  for (uint64_t id : ids) {
    const auto it = pending_.find(id);
    if (it == pending_.end()) continue;  // cancelled
    finish(id, std::move(it->second->result));
  }
}

void DnsResolver::bindQuery(uint64_t id, DnsQuery* handle) {
  const auto it = pending_.find(id);
  if (it != pending_.end()) it->second->handle = handle;
}

void DnsResolver::cancelQuery(uint64_t id) {
  // Its searches go on; their answers find nothing and are dropped.
  pending_.erase(id);
}

void DnsResolver::onFamilyAnswer(uint64_t id, int family, int status, const unsigned char* answer,
                                 int length) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) return;  // cancelled, or given up at its deadline
  Pending& p = *it->second;
  Pending::Family& f = family == AF_INET ? p.v4 : p.v6;
  if (p.ready || f.done) return;
  f.done = true;
  f.status = status;
  if (status == ARES_SUCCESS) {
    const int capacity = std::max(answerCount(answer, length), 1);
    int count = capacity;
    if (family == AF_INET) {
      std::vector<ares_addrttl> records(static_cast<size_t>(capacity));
      f.status = ares_parse_a_reply(answer, length, nullptr, records.data(), &count);
      for (int i = 0; f.status == ARES_SUCCESS && i < count; ++i) {
        f.addresses.push_back(makeAddress(AF_INET, &records[i].ipaddr, p.port));
        f.ttl = std::min(f.ttl, std::max(records[i].ttl, 0));
      }
    } else {
      std::vector<ares_addr6ttl> records(static_cast<size_t>(capacity));
      f.status = ares_parse_aaaa_reply(answer, length, nullptr, records.data(), &count);
      for (int i = 0; f.status == ARES_SUCCESS && i < count; ++i) {
        f.addresses.push_back(makeAddress(AF_INET6, &records[i].ip6addr, p.port));
        f.ttl = std::min(f.ttl, std::max(records[i].ttl, 0));
      }
    }
    // Records of other types only (a CNAME whose target has none of this family).
    if (f.status == ARES_SUCCESS && f.addresses.empty()) f.status = ARES_ENODATA;
  }
  if (p.v4.done && p.v6.done) complete(id);
}

void DnsResolver::onDeadline(uint64_t id) { complete(id); }

void DnsResolver::complete(uint64_t id) {
  const auto it = pending_.find(id);
  if (it == pending_.end() || it->second->ready) return;
  Pending& p = *it->second;
  DnsResult result;
  const auto describe = [this](const Pending::Family& f) -> std::string {
    if (!f.done) return "no answer within " + formatDuration(timeout_);
    return ares_strerror(f.status);
  };
  const bool v4_ok = p.v4.done && p.v4.status == ARES_SUCCESS;
  const bool v6_ok = p.v6.done && p.v6.status == ARES_SUCCESS;
  if (v4_ok || v6_ok) {
    result.status = DnsStatus::Ok;
    int ttl = INT_MAX;
    for (const Pending::Family* f : {&p.v4, &p.v6}) {
      if (!f->done || f->status != ARES_SUCCESS) continue;
      ttl = std::min(ttl, f->ttl);
      for (const SocketAddress& a : f->addresses) {
        if (std::find(result.addresses.begin(), result.addresses.end(), a) ==
            result.addresses.end()) {
          result.addresses.push_back(a);
        }
      }
    }
    result.ttl = std::chrono::seconds(ttl);
    // A family without records is the common case (a name with IPv4 addresses only); any other
    // failure of the other family is worth showing.
    const Pending::Family& other = v4_ok ? p.v6 : p.v4;
    if (!(v4_ok && v6_ok) && (!other.done || other.status != ARES_ENODATA)) {
      result.message = std::string(v4_ok ? "AAAA: " : "A: ") + describe(other);
    }
  } else {
    const DnsStatus s4 = p.v4.done ? statusOf(p.v4.status) : DnsStatus::Timeout;
    const DnsStatus s6 = p.v6.done ? statusOf(p.v6.status) : DnsStatus::Timeout;
    result.status = severity(s6) > severity(s4) ? s6 : s4;
    const std::string m4 = describe(p.v4);
    const std::string m6 = describe(p.v6);
    result.message = m4 == m6 ? m4 : "A: " + m4 + "; AAAA: " + m6;
  }
  if (in_resolve_) {
    p.ready = true;
    p.result = std::move(result);
    ready_.push_back(id);
    deliver_timer_->enable(milliseconds(0));
    return;
  }
  finish(id, std::move(result));
}

void DnsResolver::finish(uint64_t id, DnsResult result) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  if (p->handle != nullptr) releaseQuery(*p->handle);
  DnsCallback cb = std::move(p->cb);
  p.reset();  // its deadline timer may be the one running this
  cb(std::move(result));
}

void DnsResolver::onSocketState(int fd, bool readable, bool writable) {
  if (!readable && !writable) {
    // c-ares says so before it closes the socket, so the event is deleted while the descriptor
    // is still the one it was added for.
    sockets_.erase(fd);
    return;
  }
  std::unique_ptr<SocketWatch>& watch = sockets_[fd];
  if (!watch) watch = std::make_unique<SocketWatch>();
  const short events =
      static_cast<short>(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
  if (watch->ev && watch->events == events) return;
  // Freeing an event from inside its own callback (c-ares changes what it waits for while it
  // processes that socket) is allowed on a single-threaded event_base.
  watch->ev.reset(
      event_new(dispatcher_.base(), fd, events, &DnsResolver::socketEventTrampoline, this));
  watch->events = events;
  if (!watch->ev || event_add(watch->ev.get(), nullptr) != 0) {
    // Its lookups end at their deadlines.
    SY_LOG(Error, "dns: cannot watch a resolver socket");
    sockets_.erase(fd);
  }
}

void DnsResolver::onSocketEvent(int fd, short what) {
  ares_process_fd(channel_, (what & EV_READ) != 0 ? fd : ARES_SOCKET_BAD,
                  (what & EV_WRITE) != 0 ? fd : ARES_SOCKET_BAD);
  rearmTimer();
}

void DnsResolver::onTimer() {
  // Retransmits the tries that are due and gives up on the searches out of tries.
  ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  rearmTimer();
}

void DnsResolver::rearmTimer() {
  if (destroying_) return;
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    timer_->disable();
    return;
  }
  const int64_t us = int64_t{tv.tv_sec} * 1000000 + tv.tv_usec;
  timer_->enable(milliseconds((us + 999) / 1000));
}

void DnsResolver::socketStateTrampoline(void* data, int fd, int readable, int writable) noexcept {
  static_cast<DnsResolver*>(data)->onSocketState(fd, readable != 0, writable != 0);
}

void DnsResolver::socketEventTrampoline(int fd, short what, void* arg) noexcept {
  common::CachedClockScope clock;
  static_cast<DnsResolver*>(arg)->onSocketEvent(fd, what);
}

void DnsResolver::answerTrampoline(void* arg, int status, int /*timeouts*/, unsigned char* answer,
                                   int length) noexcept {
  const std::unique_ptr<FamilyQuery> query(static_cast<FamilyQuery*>(arg));
  if (status == ARES_EDESTRUCTION || query->resolver->destroying_) return;
  query->resolver->onFamilyAnswer(query->id, query->family, status, answer, length);
}

}  // namespace switchyard::upstream
