#include "proxy/admin/admin_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <stdexcept>
#include <system_error>

#include "proxy/common/logging.h"
#include "proxy/common/rfc3339.h"
#include "proxy/event/dispatcher.h"
#include "proxy/event/libevent.h"

namespace switchyard::admin {
namespace {

constexpr const char* MetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

const char* methodName(evhttp_cmd_type type) {
  switch (type) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_HEAD:
      return "HEAD";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    case EVHTTP_REQ_OPTIONS:
      return "OPTIONS";
    case EVHTTP_REQ_TRACE:
      return "TRACE";
    case EVHTTP_REQ_CONNECT:
      return "CONNECT";
    case EVHTTP_REQ_PATCH:
      return "PATCH";
  }
  return "";
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string displayAddress(const config::SocketAddress& address) {
  const bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

bool isLoopback(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    return (ntohl(in.sin_addr.s_addr) >> 24) == 127;
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
  return IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr);
}

// Bound and listening, non-blocking, close-on-exec. The caller owns the descriptor.
int bindListener(const config::SocketAddress& address, uint16_t& bound_port, bool& loopback) {
  const std::string name = displayAddress(address);
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(address.port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    len = sizeof(sockaddr_in6);
  } else {
    throw std::runtime_error("admin listener: address " + name + " is not a numeric IP address");
  }
  loopback = isLoopback(ss);

  const auto fail = [&name](const char* what, int fd) {
    const int err = errno;
    if (fd >= 0) close(fd);
    throw std::runtime_error("admin listener: cannot " + std::string(what) + " " + name + ": " +
                             std::generic_category().message(err));
  };
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("create a socket for", fd);
  const int one = 1;
  // Lets a restarted sidecar rebind while old admin connections sit in TIME_WAIT; Linux still
  // refuses a second live listener on the port.
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) fail("configure", fd);
  if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
    fail("configure", fd);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail("bind", fd);
  if (listen(fd, 128) != 0) fail("listen on", fd);
  sockaddr_storage actual{};
  socklen_t actual_len = sizeof(actual);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&actual), &actual_len) != 0)
    fail("read the bound port of", fd);
  bound_port =
      ntohs(actual.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(actual).sin_port
                                        : reinterpret_cast<const sockaddr_in6&>(actual).sin6_port);
  return fd;
}

std::string uriDecode(std::string_view s) {
  const std::string in(s);
  size_t size = 0;
  event::EventMemoryPtr decoded(evhttp_uridecode(in.c_str(), 1, &size));
  if (decoded == nullptr) throw std::bad_alloc();
  return std::string(decoded.get(), size);
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
  std::map<std::string, std::string> params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string key = uriDecode(pair.substr(0, eq));
    std::string value =
        eq == std::string_view::npos ? std::string() : uriDecode(pair.substr(eq + 1));
    params.emplace(std::move(key), std::move(value));
  }
  return params;
}

AdminRequest buildRequest(evhttp_request* req) {
  AdminRequest request;
  request.method = methodName(evhttp_request_get_command(req));
  if (const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req); uri != nullptr) {
    if (const char* path = evhttp_uri_get_path(uri); path != nullptr) request.path = path;
    if (const char* query = evhttp_uri_get_query(uri); query != nullptr) request.query = query;
  }
  if (request.path.empty()) request.path = "/";
  request.query_params = parseQuery(request.query);

  const evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (const evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    auto [it, inserted] = request.headers.emplace(lowerAscii(h->key), h->value);
    if (!inserted) it->second.append(", ").append(h->value);
  }

  evbuffer* body = evhttp_request_get_input_buffer(req);
  const size_t size = evbuffer_get_length(body);
  if (size > 0) {
    request.body.resize(size);
    evbuffer_copyout(body, request.body.data(), size);
  }
  return request;
}

// Only C calls on strings that already exist: nothing here allocates or throws.
void sendResponse(evhttp_request* req, const AdminResponse& response) noexcept {
  evkeyvalq* out = evhttp_request_get_output_headers(req);
  const char* type =
      response.content_type.empty() ? "application/octet-stream" : response.content_type.c_str();
  evhttp_add_header(out, "Content-Type", type);
  for (const auto& [name, value] : response.headers) {
    if (strcasecmp(name.c_str(), "content-type") == 0 ||
        strcasecmp(name.c_str(), "content-length") == 0) {
      continue;
    }
    // evhttp refuses names and values carrying CR/LF, so a handler cannot split the response.
    if (evhttp_add_header(out, name.c_str(), value.c_str()) != 0) {
      SY_LOG(Warn, "admin: dropped invalid response header '%s'", name.c_str());
    }
  }
  const int status = response.status >= 100 && response.status <= 599 ? response.status : 500;
  // evhttp 2.1 writes whatever is in the output buffer, even where HTTP forbids a body, and adds
  // no Content-Length to a HEAD reply: keep such replies bodiless so keep-alive stays in sync.
  const bool head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
  const bool bodiless = status < 200 || status == 204 || status == 304;
  if (head && !bodiless) {
    char length[24];
    snprintf(length, sizeof(length), "%zu", response.body.size());
    evhttp_add_header(out, "Content-Length", length);
  } else if (!bodiless && !response.body.empty()) {
    evbuffer_add(evhttp_request_get_output_buffer(req), response.body.data(), response.body.size());
  }
  evhttp_send_reply(req, status, nullptr, nullptr);
}

// The token after "Bearer " (scheme case-insensitive), or empty.
std::string_view bearerToken(const AdminRequest& request) {
  auto it = request.headers.find("authorization");
  if (it == request.headers.end()) return {};
  std::string_view value = it->second;
  constexpr std::string_view Scheme = "bearer";
  if (value.size() <= Scheme.size() ||
      strncasecmp(value.data(), Scheme.data(), Scheme.size()) != 0 ||
      (value[Scheme.size()] != ' ' && value[Scheme.size()] != '\t')) {
    return {};
  }
  value.remove_prefix(Scheme.size());
  const size_t begin = value.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  value.remove_prefix(begin);
  return value.substr(0, value.find_last_not_of(" \t") + 1);
}

}  // namespace

bool constantTimeEquals(std::string_view a, std::string_view b) noexcept {
  const size_t n = std::max(a.size(), b.size());
  // volatile keeps the compiler from turning the loop into an early-exit comparison.
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0 && a.size() == b.size();
}

AdminServer::AdminServer(config::AdminConfig config, const common::TimeSource& time)
    : config_(std::move(config)),
      time_(time),
      token_(std::make_shared<const std::string>(std::move(config_.token))) {
  config_.token.clear();
  addHandler("GET", "/actions", [this](const AdminRequest&) {
    nlohmann::json list = nlohmann::json::array();
    for (const AdminAction& a : actions()) {
      list.push_back({{"time", common::formatRfc3339Millis(a.time)},
                      {"method", a.method},
                      {"path", a.path},
                      {"status", a.status},
                      {"client", a.client},
                      {"remote", a.remote},
                      {"summary", a.summary}});
    }
    return jsonResponse(200, {{"actions", std::move(list)}});
  });
}

AdminServer::~AdminServer() {
  try {
    stop();
  } catch (const std::exception& e) {
    // Only a broken contract gets here (destroyed from its own handler): the thread cannot be
    // joined and must not outlive the server.
    SY_LOG(Error, "admin: cannot stop: %s", e.what());
    std::abort();
  }
}

void AdminServer::addHandler(std::string method, std::string path, AdminHandler handler,
                             bool mutating) {
  if (thread_.joinable()) throw std::logic_error("AdminServer::addHandler called after start()");
  routes_[std::move(path)][std::move(method)] = Route{std::move(handler), mutating};
}

void AdminServer::setToken(std::string token) {
  auto next = std::make_shared<const std::string>(std::move(token));
  std::lock_guard<std::mutex> lock(token_mutex_);
  token_.swap(next);
}

void AdminServer::start() {
  if (thread_.joinable()) throw std::logic_error("AdminServer::start called while running");

  auto dispatcher = std::make_unique<event::LibeventDispatcher>(time_);
  event::EvhttpPtr http(evhttp_new(dispatcher->base()));
  if (http == nullptr) throw std::runtime_error("admin listener: evhttp_new failed");
  evhttp_set_max_body_size(http.get(), static_cast<ev_ssize_t>(max_body_bytes_));
  evhttp_set_max_headers_size(http.get(), static_cast<ev_ssize_t>(max_headers_bytes_));
  const timeval tv{static_cast<time_t>(connection_timeout_.count() / 1000),
                   static_cast<suseconds_t>((connection_timeout_.count() % 1000) * 1000)};
  evhttp_set_timeout_tv(http.get(), &tv);
  evhttp_set_allowed_methods(http.get(), EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                             EVHTTP_REQ_OPTIONS);
  evhttp_set_gencb(http.get(), &AdminServer::onRequest, this);

  uint16_t bound_port = 0;
  bool loopback = true;
  const int fd = bindListener(config_.address, bound_port, loopback);
  // On success evhttp owns the descriptor (closed when the evhttp is freed).
  if (evhttp_accept_socket_with_handle(http.get(), fd) == nullptr) {
    close(fd);
    throw std::runtime_error("admin listener: cannot accept on " + displayAddress(config_.address));
  }

  event::LibeventDispatcher* loop = dispatcher.get();
  thread_ = std::thread([loop] { loop->run(); });
  pthread_setname_np(thread_.native_handle(), "sy-admin");
  dispatcher_ = std::move(dispatcher);
  http_ = std::move(http);
  port_.store(bound_port, std::memory_order_release);

  config::SocketAddress shown = config_.address;
  shown.port = bound_port;
  SY_LOG(Info, "admin listener on %s", displayAddress(shown).c_str());
  if (!loopback) {
    SY_LOG(Warn, "admin listener %s is not on loopback; restrict who can reach it",
           displayAddress(shown).c_str());
  }
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  if (std::this_thread::get_id() == thread_.get_id()) {
    throw std::logic_error("AdminServer::stop called from an admin handler");
  }
  event::LibeventDispatcher* loop = dispatcher_.get();
  loop->post([loop] { loop->exit(); });
  thread_.join();
  port_.store(0, std::memory_order_release);
  http_.reset();
  dispatcher_.reset();
}

void AdminServer::onRequest(evhttp_request* req, void* arg) noexcept {
  auto* self = static_cast<AdminServer*>(arg);
  try {
    AdminResponse response;
    AdminRequest request;
    bool mutating = false;
    try {
      request = buildRequest(req);
      response = self->route(request, mutating);
    } catch (const std::exception& e) {
      SY_LOG(Error, "admin: %s %s failed: %s", methodName(evhttp_request_get_command(req)),
             evhttp_request_get_uri(req), e.what());
      response = problemResponse(500, "Internal Server Error", "the admin handler failed");
    }
    if (mutating) self->recordAction(req, request, response.status);
    sendResponse(req, response);
  } catch (...) {
    evhttp_send_error(req, 500, nullptr);
  }
}

AdminResponse AdminServer::route(const AdminRequest& request, bool& mutating) const {
  auto path = routes_.find(request.path);
  if (path == routes_.end()) {
    return problemResponse(404, "Not Found", "no admin endpoint at this path");
  }
  const auto& methods = path->second;
  auto method = methods.find(request.method);
  if (method == methods.end() && request.method == "HEAD") method = methods.find("GET");
  if (method == methods.end()) {
    std::string allow;
    for (const auto& [name, unused] : methods) {
      allow += (allow.empty() ? "" : ", ") + name;
      if (name == "GET" && methods.count("HEAD") == 0) allow += ", HEAD";
    }
    AdminResponse response =
        problemResponse(405, "Method Not Allowed", "this endpoint accepts: " + allow);
    response.headers.emplace_back("Allow", allow);
    return response;
  }
  mutating = method->second.mutating;
  if (mutating) {
    if (auto denied = checkToken(request)) return std::move(*denied);
  }
  return method->second.handler(request);
}

namespace {

// What the action log keeps of a request body: JSON compacted, else its printable ASCII; cut at
// `max` bytes with "...".
std::string summarizeBody(const std::string& body, size_t max) {
  std::string out;
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (!body.empty() && !parsed.is_discarded()) {
    out = parsed.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  } else {
    for (char c : body) {
      if (c >= 0x20 && c < 0x7f) out.push_back(c);
    }
  }
  if (out.size() > max) {
    out.resize(max - 3);
    out += "...";
  }
  return out;
}

// The client's self-description: letters, digits, '.', '_' and '-', at most 32; else "api".
std::string actionClient(const AdminRequest& request) {
  auto it = request.headers.find("x-switchyard-client");
  if (it == request.headers.end() || it->second.empty() || it->second.size() > 32) return "api";
  for (char c : it->second) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return "api";
  }
  return it->second;
}

}  // namespace

void AdminServer::recordAction(evhttp_request* req, const AdminRequest& request, int status) {
  AdminAction action;
  action.time = time_.systemNow();
  action.method =
      request.method.empty() ? methodName(evhttp_request_get_command(req)) : request.method;
  action.path = request.path;
  action.status = status;
  action.client = actionClient(request);
  if (evhttp_connection* conn = evhttp_request_get_connection(req); conn != nullptr) {
    char* address = nullptr;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &address, &port);
    if (address != nullptr) action.remote = address;
  }
  action.summary = summarizeBody(request.body, MaxActionSummaryBytes);
  SY_LOG(Info, "admin: %s %s answered %d (client %s from %s)", action.method.c_str(),
         action.path.c_str(), status, action.client.c_str(),
         action.remote.empty() ? "?" : action.remote.c_str());
  std::lock_guard<std::mutex> lock(actions_mutex_);
  actions_.push_back(std::move(action));
  while (actions_.size() > MaxActions) actions_.pop_front();
}

std::vector<AdminAction> AdminServer::actions() const {
  std::lock_guard<std::mutex> lock(actions_mutex_);
  return {actions_.rbegin(), actions_.rend()};
}

std::optional<AdminResponse> AdminServer::checkToken(const AdminRequest& request) const {
  std::shared_ptr<const std::string> token;
  {
    std::lock_guard<std::mutex> lock(token_mutex_);
    token = token_;
  }
  if (token->empty()) {
    return problemResponse(403, "Forbidden",
                           "the admin token is not configured; mutating admin endpoints are "
                           "disabled (set admin.token)");
  }
  const std::string_view presented = bearerToken(request);
  if (presented.empty()) {
    AdminResponse response =
        problemResponse(401, "Unauthorized", "this endpoint requires a bearer token");
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"switchyard-admin\"");
    return response;
  }
  if (!constantTimeEquals(presented, *token)) {
    AdminResponse response = problemResponse(401, "Unauthorized", "the bearer token is not valid");
    response.headers.emplace_back("WWW-Authenticate",
                                  "Bearer realm=\"switchyard-admin\", error=\"invalid_token\"");
    return response;
  }
  return std::nullopt;
}

AdminHandler metricsHandler(std::shared_ptr<prometheus::Registry> registry,
                            std::vector<std::shared_ptr<prometheus::Collectable>> extra) {
  return [registry = std::move(registry), extra = std::move(extra)](const AdminRequest&) {
    std::vector<prometheus::MetricFamily> families;
    const auto append = [&families](std::vector<prometheus::MetricFamily> more) {
      std::move(more.begin(), more.end(), std::back_inserter(families));
    };
    if (registry != nullptr) append(registry->Collect());
    for (const auto& collectable : extra) {
      if (collectable != nullptr) append(collectable->Collect());
    }
    AdminResponse response;
    response.content_type = MetricsContentType;
    response.body = prometheus::TextSerializer().Serialize(families);
    return response;
  };
}

AdminHandler healthzHandler() {
  return [](const AdminRequest&) {
    AdminResponse response;
    response.body = R"({"status":"ok"})";
    return response;
  };
}

AdminHandler readyHandler(std::function<bool()> ready) {
  return [ready = std::move(ready)](const AdminRequest&) {
    AdminResponse response;
    const bool is_ready = ready();
    response.status = is_ready ? 200 : 503;
    response.body = is_ready ? R"({"ready":true})" : R"({"ready":false})";
    return response;
  };
}

AdminHandler jsonHandler(std::function<nlohmann::json()> fn) {
  return [fn = std::move(fn)](const AdminRequest&) {
    AdminResponse response;
    response.body = fn().dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    return response;
  };
}

}  // namespace switchyard::admin
