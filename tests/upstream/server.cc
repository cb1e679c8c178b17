#include "tests/upstream/server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "tests/upstream/random_body.h"
#include "tests/upstream/request_parser.h"

namespace switchyard::test::upstream {
namespace {

using Json = nlohmann::ordered_json;
using BufferEventPtr = std::unique_ptr<bufferevent, LibeventDeleter<bufferevent_free>>;

// Streamed bodies are produced this much at a time, when the previous piece has been written,
// so a /bytes/10000000000 costs no memory.
constexpr size_t StreamPieceBytes = 256 * 1024;
constexpr uint64_t MaxChunkBytes = 64 * 1024;
constexpr int SlowBodyPieces = 10;
constexpr uint64_t MaxSlowBodyBytes = 64ull * 1024 * 1024;

std::string dumpJson(const Json& json) {
  // Header values are arbitrary bytes; never let invalid UTF-8 throw.
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Appends `len` bytes of the 'a'..'z' pattern starting at body offset `offset`.
void appendPattern(evbuffer* out, uint64_t offset, size_t len) {
  static const std::string pattern = [] {
    std::string s(MaxChunkBytes + 26, '\0');
    for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>('a' + i % 26);
    return s;
  }();
  while (len > 0) {
    size_t n = std::min<size_t>(len, MaxChunkBytes);
    evbuffer_add(out, pattern.data() + offset % 26, n);
    offset += n;
    len -= n;
  }
}

std::optional<int64_t> parseSigned(std::string_view s) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

}  // namespace

// One accepted connection: parses requests one at a time (pipelined ones wait in the input
// buffer) and answers each according to its Behaviour. Lives on its worker's thread only.
class Connection {
 public:
  Connection(Worker& worker, BufferEventPtr bev);
  bool start();

 private:
  enum class State {
    Reading,    // parsing the next request
    Delaying,   // waiting for the delay timer before answering
    Streaming,  // producing a large body as the output drains
    SlowBody,   // sending body pieces on a timer
    Hanging,    // never answering; input is discarded
    Draining,   // last response queued; close once it is written
    Closed,     // waiting for the worker to destroy us
  };
  enum class Framing { ContentLength, Chunked, CloseDelimited };

  static void onRead(bufferevent*, void* arg) noexcept;
  static void onWrite(bufferevent*, void* arg) noexcept;
  static void onEvent(bufferevent*, short what, void* arg) noexcept;
  static void onTimer(evutil_socket_t, short, void* arg) noexcept;

  void processInput();
  void handleRequest();
  void respond();
  static bool matchesTestETag(const Request& request);
  void handleControl();
  Json describeRequest() const;

  void writeHead(int status, const std::vector<std::pair<std::string, std::string>>& headers);
  void sendResponse(int status, std::string_view content_type, std::string_view body);
  void sendJson(int status, const Json& body) {
    sendResponse(status, "application/json", dumpJson(body));
  }
  void startStream(Framing framing, uint64_t bytes);
  void produce();
  void sendSlowPiece();
  void armTimer(uint64_t ms);
  void finishResponse();
  void closeAfterFlush();
  void close(bool reset);

  evbuffer* output() { return bufferevent_get_output(bev_.get()); }

  Worker& worker_;
  SharedState& shared_;
  BufferEventPtr bev_;
  EventPtr timer_;
  State state_ = State::Reading;
  RequestParser parser_;
  Behaviour behaviour_;
  bool keep_alive_ = true;
  bool head_ = false;
  bool peer_eof_ = false;
  bool processing_ = false;  // guards processInput() against re-entry from a response
  Framing framing_ = Framing::ContentLength;
  bool random_body_ = false;  // /random-bytes/N: randomBody() instead of the alphabet
  uint64_t body_total_ = 0;
  uint64_t body_sent_ = 0;
  int slow_pieces_sent_ = 0;
};

Connection::Connection(Worker& worker, BufferEventPtr bev)
    : worker_(worker),
      shared_(worker.shared()),
      bev_(std::move(bev)),
      timer_(evtimer_new(worker.base(), &Connection::onTimer, this)) {}

bool Connection::start() {
  if (!timer_) return false;
  int one = 1;
  setsockopt(bufferevent_getfd(bev_.get()), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  bufferevent_setcb(bev_.get(), &Connection::onRead, &Connection::onWrite, &Connection::onEvent,
                    this);
  return bufferevent_enable(bev_.get(), EV_READ | EV_WRITE) == 0;
}

void Connection::onRead(bufferevent*, void* arg) noexcept {
  auto* self = static_cast<Connection*>(arg);
  evbuffer* input = bufferevent_get_input(self->bev_.get());
  switch (self->state_) {
    case State::Reading:
      self->processInput();
      break;
    case State::Hanging:
    case State::Draining:
      evbuffer_drain(input, evbuffer_get_length(input));
      break;
    default:
      break;  // pipelined requests wait until the current response is done
  }
}

void Connection::onWrite(bufferevent*, void* arg) noexcept {
  auto* self = static_cast<Connection*>(arg);
  if (self->state_ == State::Streaming) {
    self->produce();
  } else if (self->state_ == State::Draining && evbuffer_get_length(self->output()) == 0) {
    self->close(false);
  }
}

void Connection::onEvent(bufferevent*, short what, void* arg) noexcept {
  auto* self = static_cast<Connection*>(arg);
  if (what & BEV_EVENT_ERROR) {
    self->close(false);
    return;
  }
  if (!(what & BEV_EVENT_EOF)) return;
  // A half-closed peer may still be waiting for answers, so only give up when nothing is owed.
  self->peer_eof_ = true;
  switch (self->state_) {
    case State::Reading:
      self->processInput();
      break;
    case State::Hanging:
      self->close(false);
      break;
    case State::Draining:
      if (evbuffer_get_length(self->output()) == 0) self->close(false);
      break;
    default:
      break;
  }
}

void Connection::onTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Connection*>(arg);
  if (self->state_ == State::Delaying) {
    self->respond();
  } else if (self->state_ == State::SlowBody) {
    self->sendSlowPiece();
  }
}

void Connection::processInput() {
  if (processing_) return;
  processing_ = true;
  evbuffer* input = bufferevent_get_input(bev_.get());
  // Every iteration consumes input, answers a request or leaves the Reading state.
  while (state_ == State::Reading) {
    RequestParser::Result result = parser_.parse(input);
    if (result == RequestParser::Result::NeedMore) break;
    if (result == RequestParser::Result::HeadComplete) {
      const Request& request = parser_.request();
      behaviour_ = selectBehaviour(request);
      parser_.keepBody(behaviour_.kind == Behaviour::Kind::Echo);
      if (request.expectsContinue() && request.hasBody()) {
        evbuffer_add_printf(output(), "HTTP/1.1 100 Continue\r\n\r\n");
      }
      continue;
    }
    if (result == RequestParser::Result::Error) {
      keep_alive_ = false;
      head_ = false;
      sendJson(parser_.errorStatus(),
               Json{{"service", shared_.name}, {"error", parser_.errorMessage()}});
      break;
    }
    handleRequest();
  }
  processing_ = false;
  if (state_ == State::Reading && peer_eof_) closeAfterFlush();
}

void Connection::handleRequest() {
  const Request& request = parser_.request();
  keep_alive_ = request.keepAlive();
  head_ = request.method == "HEAD";
  if (behaviour_.kind == Behaviour::Kind::Control) {
    handleControl();
    return;
  }
  shared_.requests.fetch_add(1);
  if (shared_.reset.consume()) {
    close(true);
    return;
  }
  if (shared_.failApplies(request.path()) && shared_.fail.consume()) {
    int status = shared_.fail_status.load();
    sendJson(status,
             Json{{"service", shared_.name}, {"error", "forced failure"}, {"status", status}});
    return;
  }
  if (behaviour_.delay_ms > 0) {
    state_ = State::Delaying;
    armTimer(behaviour_.delay_ms);
    return;
  }
  respond();
}

// A conditional request is answered 304 when its If-None-Match names the ETag the test asked for
// (X-Test-Response-Header: "ETag: ..."), as an origin with validators would.
bool Connection::matchesTestETag(const Request& request) {
  const std::optional<std::string_view> inm = request.header("if-none-match");
  if (!inm) return false;
  for (const auto& [name, value] : request.headers) {
    if (name != "x-test-response-header") continue;
    const std::string_view v = value;
    if (v.size() > 6 && (v.starts_with("ETag: ") || v.starts_with("etag: ")) &&
        inm->find(v.substr(6)) != std::string::npos) {
      return true;
    }
  }
  return false;
}

void Connection::respond() {
  using Kind = Behaviour::Kind;
  const Request& request = parser_.request();
  random_body_ = false;
  switch (behaviour_.kind) {
    case Kind::Default:
    case Kind::Control:
      if (matchesTestETag(request)) {
        sendResponse(304, "", "");
        break;
      }
      sendJson(200, describeRequest());
      break;
    case Kind::Status:
      sendJson(behaviour_.status, Json{{"service", shared_.name}, {"status", behaviour_.status}});
      break;
    case Kind::BadRequest:
      sendJson(400, Json{{"service", shared_.name}, {"error", behaviour_.error}});
      break;
    case Kind::Bytes:
      startStream(Framing::ContentLength, behaviour_.bytes);
      break;
    case Kind::RandomBytes:
      random_body_ = true;
      startStream(Framing::ContentLength, behaviour_.bytes);
      break;
    case Kind::Chunked:
      startStream(Framing::Chunked, behaviour_.bytes);
      break;
    case Kind::CloseDelimited:
      keep_alive_ = false;
      startStream(Framing::CloseDelimited, behaviour_.bytes);
      break;
    case Kind::SlowBody:
      if (behaviour_.bytes > MaxSlowBodyBytes) {
        sendJson(400, Json{{"service", shared_.name}, {"error", "slow body too large"}});
        break;
      }
      writeHead(200, {{"Content-Type", "text/plain"},
                      {"Content-Length", std::to_string(behaviour_.bytes)}});
      if (head_) {
        finishResponse();
        break;
      }
      state_ = State::SlowBody;
      body_total_ = behaviour_.bytes;
      body_sent_ = 0;
      slow_pieces_sent_ = 0;
      sendSlowPiece();
      break;
    case Kind::Garbage:
      keep_alive_ = false;
      evbuffer_add_printf(output(), "THIS IS NOT HTTP\r\n\r\n");
      closeAfterFlush();
      break;
    case Kind::BadHeader:
      keep_alive_ = false;
      evbuffer_add_printf(output(),
                          "HTTP/1.1 200 OK\r\nX-Upstream-Name: %s\r\nThis Is Not A Header\r\n"
                          "Content-Length: 2\r\nConnection: close\r\n\r\nok",
                          shared_.name.c_str());
      closeAfterFlush();
      break;
    case Kind::Reset:
      close(true);
      break;
    case Kind::Hang:
      state_ = State::Hanging;
      break;
    case Kind::Echo: {
      auto content_type = request.header("content-type");
      sendResponse(200, content_type.value_or("application/octet-stream"), request.body);
      break;
    }
  }
}

void Connection::handleControl() {
  const std::string& action = behaviour_.control_action;
  std::string_view query = behaviour_.query;
  auto count = [&]() -> std::optional<int64_t> {
    auto text = queryParam(query, "count");
    if (!text || text->empty()) return -1;
    return parseSigned(*text);
  };
  Json reply{{"service", shared_.name}, {"action", action}};
  if (action == "fail") {
    auto status_text = queryParam(query, "status");
    auto status = status_text ? parseSigned(*status_text) : std::optional<int64_t>(503);
    auto n = count();
    if (!status || *status < 100 || *status > 599 || !n) {
      sendJson(400, Json{{"service", shared_.name}, {"error", "expected status=NNN&count=N"}});
      return;
    }
    const std::string_view prefix = queryParam(query, "path").value_or(std::string_view());
    shared_.fail_status.store(static_cast<int>(*status));
    shared_.setFailPath(prefix);
    shared_.fail.arm(*n);
    reply["status"] = *status;
    reply["count"] = *n;
    reply["path"] = std::string(prefix);
  } else if (action == "reset") {
    auto n = count();
    if (!n) {
      sendJson(400, Json{{"service", shared_.name}, {"error", "expected count=N"}});
      return;
    }
    shared_.reset.arm(*n);
    reply["count"] = *n;
  } else if (action == "recover") {
    shared_.fail.clear();
    shared_.setFailPath({});
    shared_.reset.clear();
  } else if (action == "stats") {
    reply["requests"] = shared_.requests.load();
    reply["connections"] = shared_.connections.load();
    reply["fail_remaining"] = shared_.fail.remaining();
    reply["reset_remaining"] = shared_.reset.remaining();
  } else if (action == "reset-stats") {
    shared_.requests.store(0);
    shared_.connections.store(0);
  } else {
    sendJson(404, Json{{"service", shared_.name}, {"error", "unknown control action"}});
    return;
  }
  reply["ok"] = true;
  sendJson(200, reply);
}

Json Connection::describeRequest() const {
  const Request& request = parser_.request();
  Json headers = Json::object();
  for (const auto& [name, value] : request.headers) {
    if (!headers.contains(name)) headers[name] = request.joinedHeader(name);
  }
  return Json{{"service", shared_.name},       {"version", shared_.name},
              {"method", request.method},      {"path", request.target},
              {"headers", std::move(headers)}, {"body_bytes", request.body_bytes}};
}

void Connection::writeHead(int status,
                           const std::vector<std::pair<std::string, std::string>>& headers) {
  evbuffer* out = output();
  evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nX-Upstream-Name: %s\r\n", status,
                      reasonPhrase(status), shared_.name.c_str());
  for (const auto& [name, value] : headers) {
    evbuffer_add_printf(out, "%s: %s\r\n", name.c_str(), value.c_str());
  }
  // X-Test-Response-Header: "Name: value" lines the test wants back (Cache-Control, ETag, ...).
  for (const auto& [name, value] : parser_.request().headers) {
    if (name == "x-test-response-header") evbuffer_add_printf(out, "%s\r\n", value.c_str());
  }
  if (!keep_alive_) {
    evbuffer_add_printf(out, "Connection: close\r\n");
  } else if (parser_.request().minor_version == 0) {
    evbuffer_add_printf(out, "Connection: keep-alive\r\n");
  }
  evbuffer_add(out, "\r\n", 2);
}

void Connection::sendResponse(int status, std::string_view content_type, std::string_view body) {
  if (statusAllowsBody(status)) {
    writeHead(status, {{"Content-Type", std::string(content_type)},
                       {"Content-Length", std::to_string(body.size())}});
    if (!head_) evbuffer_add(output(), body.data(), body.size());
  } else {
    writeHead(status, {});
  }
  finishResponse();
}

void Connection::startStream(Framing framing, uint64_t bytes) {
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "text/plain"}};
  if (framing == Framing::ContentLength) {
    headers.emplace_back("Content-Length", std::to_string(bytes));
  } else if (framing == Framing::Chunked) {
    headers.emplace_back("Transfer-Encoding", "chunked");
  }
  writeHead(200, headers);
  if (head_) {
    finishResponse();
    return;
  }
  state_ = State::Streaming;
  framing_ = framing;
  body_total_ = bytes;
  body_sent_ = 0;
  produce();
}

void Connection::produce() {
  evbuffer* out = output();
  if (framing_ == Framing::Chunked) {
    // "Several chunks": about four of them, each at most MaxChunkBytes.
    uint64_t chunk = std::clamp<uint64_t>((body_total_ + 3) / 4, 1, MaxChunkBytes);
    size_t queued = 0;
    while (body_sent_ < body_total_ && queued < StreamPieceBytes) {
      size_t n = static_cast<size_t>(std::min(chunk, body_total_ - body_sent_));
      evbuffer_add_printf(out, "%zx\r\n", n);
      appendPattern(out, body_sent_, n);
      evbuffer_add(out, "\r\n", 2);
      body_sent_ += n;
      queued += n;
    }
    if (body_sent_ < body_total_) return;
    evbuffer_add(out, "0\r\n\r\n", 5);
  } else {
    size_t n = static_cast<size_t>(std::min<uint64_t>(StreamPieceBytes, body_total_ - body_sent_));
    if (random_body_) {
      evbuffer_iovec vec;
      if (evbuffer_reserve_space(out, n, &vec, 1) < 1) abort();
      fillRandomBody(static_cast<char*>(vec.iov_base), body_sent_, n);
      vec.iov_len = n;
      evbuffer_commit_space(out, &vec, 1);
    } else {
      appendPattern(out, body_sent_, n);
    }
    body_sent_ += n;
    if (body_sent_ < body_total_) return;  // onWrite calls back when this piece is written
  }
  finishResponse();
}

void Connection::sendSlowPiece() {
  uint64_t piece = body_total_ / SlowBodyPieces +
                   (static_cast<uint64_t>(slow_pieces_sent_) < body_total_ % SlowBodyPieces);
  appendPattern(output(), body_sent_, static_cast<size_t>(piece));
  body_sent_ += piece;
  if (++slow_pieces_sent_ == SlowBodyPieces) {
    finishResponse();
    return;
  }
  armTimer(behaviour_.interval_ms);
}

void Connection::armTimer(uint64_t ms) {
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  evtimer_add(timer_.get(), &tv);
}

void Connection::finishResponse() {
  if (!keep_alive_) {
    closeAfterFlush();
    return;
  }
  state_ = State::Reading;
  parser_.reset();
  // When called from a timer or a write callback, pipelined requests may already be waiting.
  processInput();
}

void Connection::closeAfterFlush() {
  state_ = State::Draining;
  if (evbuffer_get_length(output()) == 0) close(false);
}

void Connection::close(bool reset) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  evutil_socket_t fd = bufferevent_getfd(bev_.get());
  if (reset) {
    linger lin{1, 0};  // close() now sends RST instead of FIN
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
    bev_.reset();  // closes the socket right away; nothing is owed to a reset peer
  } else {
    bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    shutdown(fd, SHUT_WR);
  }
  evtimer_del(timer_.get());
  worker_.release(this);
}

Worker::Worker(SharedState& shared, evutil_socket_t listen_fd)
    : shared_(shared), base_(event_base_new()) {
  if (!base_) throw std::runtime_error("event_base_new failed");
  // Backlog 0: the socket is already listening.
  listener_.reset(evconnlistener_new(base_.get(), &Worker::onAccept, this, 0, 0, listen_fd));
  resume_accept_.reset(evtimer_new(base_.get(), &Worker::onResumeAccept, this));
  reaper_.reset(event_new(base_.get(), -1, 0, &Worker::onReap, this));
  if (!listener_ || !resume_accept_ || !reaper_) throw std::runtime_error("libevent setup failed");
  evconnlistener_set_error_cb(listener_.get(), &Worker::onAcceptError);
}

Worker::~Worker() {
  // Connections hold events of base_, so they go first.
  graveyard_.clear();
  connections_.clear();
}

void Worker::run() { event_base_dispatch(base_.get()); }

void Worker::stop() {
  // loopexit, not loopbreak: it is queued as an event, so it also works before run() starts.
  event_base_loopexit(base_.get(), nullptr);
}

void Worker::release(Connection* connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  graveyard_.push_back(std::move(it->second));
  connections_.erase(it);
  event_active(reaper_.get(), EV_TIMEOUT, 0);
}

void Worker::onAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) noexcept {
  auto* self = static_cast<Worker*>(arg);
  self->shared_.connections.fetch_add(1);
  BufferEventPtr bev(bufferevent_socket_new(self->base(), fd, BEV_OPT_CLOSE_ON_FREE));
  if (!bev) {
    evutil_closesocket(fd);
    return;
  }
  auto connection = std::make_unique<Connection>(*self, std::move(bev));
  Connection* raw = connection.get();
  self->connections_.emplace(raw, std::move(connection));
  if (!raw->start()) self->connections_.erase(raw);
}

void Worker::onAcceptError(evconnlistener* listener, void* arg) noexcept {
  // Typically EMFILE: stop accepting for a moment instead of spinning on a readable listener.
  auto* self = static_cast<Worker*>(arg);
  std::perror("switchyard-test-upstream: accept");
  evconnlistener_disable(listener);
  timeval tv{0, 100 * 1000};
  evtimer_add(self->resume_accept_.get(), &tv);
}

void Worker::onResumeAccept(evutil_socket_t, short, void* arg) noexcept {
  evconnlistener_enable(static_cast<Worker*>(arg)->listener_.get());
}

void Worker::onReap(evutil_socket_t, short, void* arg) noexcept {
  static_cast<Worker*>(arg)->graveyard_.clear();
}

}  // namespace switchyard::test::upstream
