#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace switchyard::event {

// An owned libevent evbuffer. Moving data between buffers moves chains, not bytes, so bodies pass
// through the proxy without copies. The HTTP layer knows it as http::Buffer.
class Buffer {
 public:
  // The evbuffer is allocated on first write: most buffers of a request (filter manager
  // holding areas, the router's early-body buffer) are never used.
  Buffer() = default;
  explicit Buffer(std::string_view data) { add(data); }
  ~Buffer() {
    if (buf_ != nullptr) evbuffer_free(buf_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : buf_(o.buf_) { o.buf_ = nullptr; }

  size_t length() const { return buf_ == nullptr ? 0 : evbuffer_get_length(buf_); }
  bool empty() const { return length() == 0; }
  void add(std::string_view data) { evbuffer_add(raw(), data.data(), data.size()); }
  // Moves every byte of `other` to the end of this buffer.
  void move(Buffer& other) {
    if (!other.empty()) evbuffer_add_buffer(raw(), other.buf_);
  }
  // Moves at most `n` bytes of `other` to the end of this buffer.
  void move(Buffer& other, size_t n) {
    if (!other.empty()) evbuffer_remove_buffer(other.buf_, raw(), n);
  }
  // Appends a copy of `other`, leaving it intact. Shares `other`'s bytes where libevent can;
  // bytes that are themselves shared already (a copy of a copy: a body replayed twice) are
  // copied, since libevent refuses to share them again.
  void copyFrom(const Buffer& other) {
    if (other.empty()) return;
    if (evbuffer_add_buffer_reference(raw(), other.buf_) == 0) return;
    copyBytesFrom(other);
  }
  void copyBytesFrom(const Buffer& other);
  // Appends `data` without copying it: `release(data, n, arg)` is called once the buffer (or
  // any buffer the bytes moved to) no longer needs them, so `arg` may keep their owner alive.
  void addReference(const void* data, size_t n, void (*release)(const void*, size_t, void*),
                    void* arg) {
    evbuffer_add_reference(raw(), data, n, release, arg);
  }
  void drain(size_t n) {
    if (buf_ != nullptr) evbuffer_drain(buf_, n);
  }
  std::string toString() const;
  evbuffer* raw() {
    if (buf_ == nullptr) buf_ = evbuffer_new();
    return buf_;
  }

 private:
  evbuffer* buf_ = nullptr;
};

inline std::string Buffer::toString() const {
  std::string out(length(), '\0');
  if (!out.empty()) evbuffer_copyout(buf_, out.data(), out.size());
  return out;
}

inline void Buffer::copyBytesFrom(const Buffer& other) {
  const std::string bytes = other.toString();
  add(bytes);
}

}  // namespace switchyard::event
