#pragma once

#include <cstddef>
#include <string_view>

#include "proxy/event/buffer.h"

namespace switchyard::event {

enum class CloseReason {
  LocalClose,   // we closed it
  RemoteClose,  // the peer closed (EOF)
  Reset,        // read/write error, RST
  ConnectFailed,
};

// What a connection reports to its owner. All on the dispatcher's thread. The owner may close
// the connection (and schedule its own deferred deletion) from inside any of these.
class ConnectionCallbacks {
 public:
  virtual ~ConnectionCallbacks() = default;
  virtual void onReadReady(Buffer& input) = 0;
  // After onClosed(ConnectFailed), errno says why the connect failed (0 if unknown).
  virtual void onClosed(CloseReason reason) = 0;
  virtual void onConnected() {}
  virtual void onAboveWriteBufferHighWatermark() {}
  virtual void onBelowWriteBufferLowWatermark() {}
};

// A byte stream to a peer as its owner sees it: an input buffer filled by reads, an output buffer
// drained by writes, flow control through watermarks on the output, and a close. event::Connection
// (a socket on a libevent loop) is the production one; tests drive fakes.
//
// Used on the dispatcher's thread only. Whoever creates it owns it; the callbacks must outlive it.
// A write may call back before it returns (a watermark crossed, or onClosed(Reset) when sending
// fails); close(), readDisable() and setCallbacks() never do. Everything else (reads, the peer
// closing, a connect's outcome) arrives from the event loop.
class Transport {
 public:
  virtual ~Transport() = default;

  // Moves `data` to the output buffer and tries to send it now. Ignored once closed or closing.
  virtual void write(Buffer& data) = 0;
  virtual void write(std::string_view data) = 0;
  // Lets `fill` append to the output buffer in place (a head encoded straight into it), then
  // sends as write() does. `fill` is not called once closed or closing.
  template <class Fill>
  void writeWith(Fill&& fill) {
    Buffer* out = beginWrite();
    if (out == nullptr) return;
    fill(*out);
    endWrite();
  }

  // Stops/starts reading. Calls nest: reading resumes when every disable has been undone.
  virtual void readDisable(bool disable) = 0;
  virtual bool readEnabled() const = 0;

  // NoFlush drops what is buffered and closes now, without a callback. FlushWrite closes now if
  // nothing is buffered (no callback); otherwise it stops reading, sends what is buffered and
  // then calls onClosed(LocalClose) (or onClosed(Reset) if the peer goes away first). The
  // caller bounds that wait with its own timer. Reset closes with an RST. Idempotent.
  enum class CloseType { FlushWrite, NoFlush, Reset };
  virtual void close(CloseType type) = 0;
  virtual bool closed() const = 0;
  // A FlushWrite close is waiting for the output to drain.
  virtual bool closing() const = 0;

  // onAboveWriteBufferHighWatermark() once the output holds more than `high` bytes, then
  // onBelowWriteBufferLowWatermark() once it is back to `low` or less.
  virtual void setWatermarks(size_t low, size_t high) = 0;
  virtual size_t outputLength() const = 0;
  // What has been read and not yet consumed by the owner.
  virtual Buffer& input() = 0;
  virtual void setCallbacks(ConnectionCallbacks& callbacks) = 0;

  // TLS only (plain TCP answers empty and null): why the handshake failed, as a metric label
  // (`tlsFailureReason`) and as text for the log, valid once onClosed() has reported it; and the
  // protocol version and cipher suite once connected ("TLSv1.3", "TLS_AES_256_GCM_SHA384").
  virtual const char* tlsFailureReason() const { return nullptr; }
  virtual std::string_view tlsError() const { return {}; }
  virtual const char* tlsVersion() const { return nullptr; }
  virtual const char* tlsCipher() const { return nullptr; }
  virtual bool tlsSessionReused() const { return false; }

 protected:
  // writeWith() in two calls: the output buffer to append to (null when writes are ignored), then
  // "sent as write() does".
  virtual Buffer* beginWrite() = 0;
  virtual void endWrite() = 0;
};

}  // namespace switchyard::event
