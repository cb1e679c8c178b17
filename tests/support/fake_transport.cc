#include "tests/support/fake_transport.h"

#include <algorithm>
#include <utility>

namespace switchyard::test {

FakeTransport::FakeTransport(FakeConnector* connector, std::string host, uint16_t port,
                             event::ConnectionCallbacks& callbacks)
    : connector_(connector), host_(std::move(host)), port_(port), callbacks_(&callbacks) {}

FakeTransport::~FakeTransport() {
  if (connector_ != nullptr) connector_->forget(this);
}

void FakeTransport::completeConnect() {
  if (closed_ || !connecting_) return;
  connecting_ = false;
  callbacks_->onConnected();
  if (closed_) return;
  // As a socket that has just connected: what was written meanwhile goes out now.
  if (!write_blocked_) flush();
}

void FakeTransport::failConnect(int error) {
  if (closed_ || !connecting_) return;
  markClosed();
  errno = error;
  callbacks_->onClosed(event::CloseReason::ConnectFailed);
}

void FakeTransport::receive(std::string_view bytes) {
  if (closed_) return;
  held_.append(bytes);
  deliverHeld();
}

void FakeTransport::deliverHeld() {
  if (closed_ || connecting_ || flush_then_close_ || !readEnabled() || held_.empty()) return;
  input_.add(held_);
  held_.clear();
  callbacks_->onReadReady(input_);
}

void FakeTransport::remoteClose(event::CloseReason reason) {
  if (closed_) return;
  markClosed();
  callbacks_->onClosed(reason);
}

void FakeTransport::setWriteBlocked(bool blocked) {
  write_blocked_ = blocked;
  if (!blocked && !closed_ && !connecting_ && !output_.empty()) flush();
}

std::string FakeTransport::takeWritten() {
  std::string out;
  out.swap(written_);
  return out;
}

void FakeTransport::write(http::Buffer& data) {
  if (closed_ || flush_then_close_) {
    data.drain(data.length());
    return;
  }
  output_.move(data);
  afterWrite();
}

void FakeTransport::write(std::string_view data) {
  if (closed_ || flush_then_close_) return;
  output_.add(data);
  afterWrite();
}

http::Buffer* FakeTransport::beginWrite() {
  return closed_ || flush_then_close_ ? nullptr : &output_;
}

void FakeTransport::endWrite() { afterWrite(); }

void FakeTransport::afterWrite() {
  if (connecting_ || write_blocked_) {
    updateWatermarks(output_.length());
    return;
  }
  flush();
}

void FakeTransport::flush() {
  if (fail_next_send_ && !output_.empty()) {
    fail_next_send_ = false;
    markClosed();
    callbacks_->onClosed(event::CloseReason::Reset);
    return;
  }
  written_ += output_.toString();
  output_.drain(output_.length());
  if (flush_then_close_) {
    markClosed();
    callbacks_->onClosed(event::CloseReason::LocalClose);
    return;
  }
  updateWatermarks(0);
}

void FakeTransport::updateWatermarks(size_t length) {
  if (!above_high_ && length > high_watermark_) {
    above_high_ = true;
    callbacks_->onAboveWriteBufferHighWatermark();
  } else if (above_high_ && length <= low_watermark_) {
    above_high_ = false;
    callbacks_->onBelowWriteBufferLowWatermark();
  }
}

void FakeTransport::readDisable(bool disable) {
  if (closed_) return;
  if (disable) {
    ++read_disable_count_;
  } else if (read_disable_count_ > 0) {
    --read_disable_count_;
  }
}

void FakeTransport::close(CloseType type) {
  if (closed_) return;
  if (!close_type_) close_type_ = type;
  if (type == CloseType::FlushWrite && !connecting_ && !output_.empty()) {
    if (write_blocked_) {
      // Waits for the peer to take the rest; onClosed(LocalClose) then.
      flush_then_close_ = true;
      return;
    }
    if (!fail_next_send_) written_ += output_.toString();
  }
  markClosed();
}

void FakeTransport::setWatermarks(size_t low, size_t high) {
  low_watermark_ = low;
  high_watermark_ = high;
}

void FakeTransport::markClosed() {
  closed_ = true;
  flush_then_close_ = false;
  output_.drain(output_.length());
  held_.clear();
}

FakeConnector::~FakeConnector() {
  for (FakeTransport* t : transports_) {
    if (t != nullptr) t->connector_ = nullptr;
  }
}

size_t FakeConnector::liveTransports() const {
  return std::count_if(transports_.begin(), transports_.end(),
                       [](const FakeTransport* t) { return t != nullptr; });
}

size_t FakeConnector::openTransports() const {
  return std::count_if(transports_.begin(), transports_.end(),
                       [](const FakeTransport* t) { return t != nullptr && !t->closed(); });
}

std::unique_ptr<event::Transport> FakeConnector::connect(const std::string& host, uint16_t port,
                                                         event::ConnectionCallbacks& callbacks,
                                                         std::string& error) {
  calls_.push_back(host + ":" + std::to_string(port));
  if (fail_next_) {
    error = std::move(*fail_next_);
    fail_next_.reset();
    return nullptr;
  }
  auto t = std::make_unique<FakeTransport>(this, host, port, callbacks);
  transports_.push_back(t.get());
  return t;
}

void FakeConnector::forget(FakeTransport* t) {
  std::replace(transports_.begin(), transports_.end(), t, static_cast<FakeTransport*>(nullptr));
}

}  // namespace switchyard::test
