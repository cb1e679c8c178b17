#include "tests/support/fake_pool.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace switchyard::test {

FakeUpstreamConnection::FakeUpstreamConnection(FakePool& pool, size_t id, size_t endpoint,
                                               bool reused, bool fail_send)
    : pool_(pool), id_(id), endpoint_(endpoint), reused_(reused), fail_next_send_(fail_send) {}

bool FakeUpstreamConnection::checkDrivable(const char* what) const {
  if (state_ != State::Busy) {
    ADD_FAILURE() << what << " on upstream connection " << id_ << ", which is no longer lent out";
    return false;
  }
  if (callbacks_ == nullptr) {
    ADD_FAILURE() << what << " on upstream connection " << id_ << " before attach()";
    return false;
  }
  return true;
}

void FakeUpstreamConnection::respond(
    int status, bool end_stream,
    std::initializer_list<std::pair<std::string_view, std::string_view>> headers, bool keep_alive) {
  http::ResponseHeadersPtr h = http::makeResponseHeaders();
  h->status = status;
  h->keep_alive = keep_alive;
  for (const auto& [name, value] : headers) h->headers.add(name, value);
  respondHeaders(std::move(h), end_stream);
}

void FakeUpstreamConnection::respondHeaders(http::ResponseHeadersPtr headers, bool end_stream) {
  if (!checkDrivable("a response head")) return;
  response_started_ = true;
  callbacks_->onResponseHeaders(std::move(headers), end_stream);
}

void FakeUpstreamConnection::respondBody(std::string_view data, bool end_stream) {
  if (!checkDrivable("a response body")) return;
  http::Buffer buffer(data);
  callbacks_->onBody(buffer, end_stream);
}

void FakeUpstreamConnection::codecError(std::string detail) {
  if (!checkDrivable("a codec error")) return;
  callbacks_->onCodecError({502, std::move(detail)});
}

void FakeUpstreamConnection::reset(event::CloseReason reason) {
  if (state_ != State::Busy) {
    ADD_FAILURE() << "reset of upstream connection " << id_ << ", which is no longer lent out";
    return;
  }
  state_ = State::Reset;
  upstream::UpstreamStreamCallbacks* cb = callbacks_;
  callbacks_ = nullptr;
  if (cb != nullptr) cb->onUpstreamReset(reason);
}

void FakeUpstreamConnection::aboveHighWatermark() {
  if (checkDrivable("a high watermark")) callbacks_->onUpstreamAboveWriteBufferHighWatermark();
}

void FakeUpstreamConnection::belowLowWatermark() {
  if (checkDrivable("a low watermark")) callbacks_->onUpstreamBelowWriteBufferLowWatermark();
}

std::string FakeUpstreamConnection::headHeader(std::string_view name) const {
  if (head_ == nullptr) return "";
  const std::string_view* value = head_->headers.get(name);
  return value == nullptr ? "" : std::string(*value);
}

void FakeUpstreamConnection::attach(upstream::UpstreamStreamCallbacks& cb) {
  if (state_ != State::Busy) {
    ADD_FAILURE() << "attach() to upstream connection " << id_ << ", which is no longer lent out";
    return;
  }
  callbacks_ = &cb;
}

bool FakeUpstreamConnection::failSend() {
  if (!fail_next_send_) return false;
  fail_next_send_ = false;
  reset(event::CloseReason::Reset);
  return true;
}

void FakeUpstreamConnection::sendHead(const http::RequestHeaders& headers) {
  if (!checkDrivable("sendHead()")) return;
  if (failSend()) return;
  head_ = std::make_unique<http::RequestHeaders>(headers);
  ++heads_sent_;
}

void FakeUpstreamConnection::sendData(http::Buffer& data) {
  if (!checkDrivable("sendData()")) return;
  if (failSend()) {
    data.drain(data.length());
    return;
  }
  if (head_ == nullptr) ADD_FAILURE() << "body bytes before the head on connection " << id_;
  body_ += data.toString();
  data.drain(data.length());
}

void FakeUpstreamConnection::readDisable(bool disable) {
  if (state_ != State::Busy) {
    ADD_FAILURE() << "readDisable() on upstream connection " << id_
                  << ", which is no longer lent out";
    return;
  }
  if (disable) {
    ++read_disable_depth_;
  } else if (read_disable_depth_ == 0) {
    ADD_FAILURE() << "readDisable(false) without a readDisable(true) on connection " << id_;
  } else {
    --read_disable_depth_;
  }
}

const config::SocketAddress& FakeUpstreamConnection::endpoint() const {
  return pool_.config().endpoints.at(endpoint_);
}

class FakePool::Handle final : public upstream::PoolHandle {
 public:
  Handle(FakePool& pool, size_t index) : pool_(pool), index_(index) {}
  void cancel() override { pool_.cancel(index_); }

 private:
  FakePool& pool_;
  const size_t index_;
};

FakePool::FakePool(config::ClusterConfig config, event::Dispatcher& dispatcher)
    : config_(std::move(config)), dispatcher_(dispatcher), stats_(proxy_stats_, config_.name) {
  if (config_.endpoints.empty()) ADD_FAILURE() << "FakePool needs a cluster with an endpoint";
}

FakePool::~FakePool() = default;

void FakePool::answerNextWithConnection(ConnectionOptions options) {
  script_.push_back({true, options, upstream::PoolFailure::ConnectFailed, "", NoEndpoint});
}

void FakePool::answerNextWithFailure(upstream::PoolFailure reason, std::string detail,
                                     size_t endpoint) {
  script_.push_back({false, {}, reason, std::move(detail), endpoint});
}

upstream::PoolHandle* FakePool::newStream(upstream::PoolCallbacks& cb, size_t avoid) {
  const size_t index = requests_.size();
  StreamRequest request;
  request.avoid = avoid;
  requests_.push_back(request);
  entries_.push_back({&cb, nullptr});
  if (!script_.empty()) {
    Answer next = std::move(script_.front());
    script_.pop_front();
    answer(index, std::move(next));
    return nullptr;
  }
  entries_[index].handle = std::make_unique<Handle>(*this, index);
  return entries_[index].handle.get();
}

FakeUpstreamConnection& FakePool::ready(ConnectionOptions options) {
  for (size_t i = 0; i < requests_.size(); ++i) {
    if (requests_[i].state != StreamRequest::State::Pending) continue;
    answer(i, {true, options, upstream::PoolFailure::ConnectFailed, "", NoEndpoint});
    return *requests_[i].conn;
  }
  throw std::logic_error("FakePool::ready(): no request is waiting for a connection");
}

void FakePool::fail(upstream::PoolFailure reason, std::string detail, size_t endpoint) {
  for (size_t i = 0; i < requests_.size(); ++i) {
    if (requests_[i].state != StreamRequest::State::Pending) continue;
    answer(i, {false, {}, reason, std::move(detail), endpoint});
    return;
  }
  throw std::logic_error("FakePool::fail(): no request is waiting for a connection");
}

void FakePool::answer(size_t index, Answer a) {
  StreamRequest& request = requests_[index];
  upstream::PoolCallbacks& cb = *entries_[index].callbacks;
  if (!a.connect) {
    request.state = StreamRequest::State::Failed;
    request.failure = a.failure;
    if (a.failure == upstream::PoolFailure::Overflow) {
      stats_.overflow.Increment();
    } else {
      stats_.connect_failures.Increment();
    }
    cb.onPoolFailure(a.failure, a.detail.empty() ? defaultDetail(a.failure) : a.detail,
                     a.failed_endpoint);
    return;
  }
  size_t endpoint = a.options.endpoint;
  if (endpoint == NoEndpoint) {
    endpoint = 0;
    while (endpoint == request.avoid && endpoint + 1 < config_.endpoints.size()) ++endpoint;
  }
  if (endpoint >= config_.endpoints.size()) {
    ADD_FAILURE() << "FakePool: no endpoint " << endpoint << " in cluster " << config_.name;
    endpoint = 0;
  }
  connections_.push_back(std::make_unique<FakeUpstreamConnection>(
      *this, connections_.size(), endpoint, a.options.reused, a.options.fail_send));
  request.state = StreamRequest::State::Ready;
  request.conn = connections_.back().get();
  cb.onPoolReady(*request.conn);
}

void FakePool::cancel(size_t index) {
  StreamRequest& request = requests_[index];
  if (request.state != StreamRequest::State::Pending) {
    ADD_FAILURE() << "cancel() of pool request " << index << ", which was already answered";
    return;
  }
  request.state = StreamRequest::State::Cancelled;
}

void FakePool::release(upstream::UpstreamConnection& conn, bool reusable) {
  auto* c = dynamic_cast<FakeUpstreamConnection*>(&conn);
  if (c == nullptr || &c->pool_ != this) {
    ADD_FAILURE() << "release() of a connection this pool did not lend";
    return;
  }
  if (c->state_ != FakeUpstreamConnection::State::Busy) {
    ADD_FAILURE() << "release() of upstream connection " << c->id_
                  << (c->state_ == FakeUpstreamConnection::State::Reset ? ", which was reset"
                                                                        : ", released twice");
    return;
  }
  c->state_ = FakeUpstreamConnection::State::Released;
  c->released_reusable_ = reusable;
  c->callbacks_ = nullptr;
  releases_.push_back({c->id_, reusable});
}

size_t FakePool::cancelled() const {
  size_t n = 0;
  for (const StreamRequest& r : requests_) n += r.state == StreamRequest::State::Cancelled;
  return n;
}

size_t FakePool::openConnections() const {
  size_t n = 0;
  for (const auto& c : connections_) n += c->busy() || c->releasedReusable();
  return n;
}

size_t FakePool::pendingRequests() const {
  size_t n = 0;
  for (const StreamRequest& r : requests_) n += r.state == StreamRequest::State::Pending;
  return n;
}

bool FakePool::expectQuiescent() const {
  bool clear = true;
  for (size_t i = 0; i < requests_.size(); ++i) {
    if (requests_[i].state != StreamRequest::State::Pending) continue;
    ADD_FAILURE() << "pool request " << i << " is still waiting for a connection";
    clear = false;
  }
  for (const auto& c : connections_) {
    if (!c->busy()) continue;
    ADD_FAILURE() << "upstream connection " << c->id() << " is still lent out";
    clear = false;
  }
  return clear;
}

std::string FakePool::defaultDetail(upstream::PoolFailure reason) const {
  const std::string& endpoint = config_.endpoints.empty() ? "" : config_.endpoints.front().text;
  switch (reason) {
    case upstream::PoolFailure::Overflow:
      return "too many requests are waiting for a connection to " + config_.name;
    case upstream::PoolFailure::ConnectTimeout:
      return "timed out connecting to " + endpoint;
    case upstream::PoolFailure::NoEndpoint:
      return "the endpoints of cluster " + config_.name + " have not resolved yet";
    case upstream::PoolFailure::ConnectFailed:
      break;
  }
  return "cannot connect to " + endpoint + ": Connection refused";
}

}  // namespace switchyard::test
