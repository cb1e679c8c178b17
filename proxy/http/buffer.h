#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace switchyard::http {

// An owned libevent evbuffer. Moving data between buffers moves chains, not bytes, so bodies pass
// through the proxy without copies.
class Buffer {
 public:
  Buffer() : buf_(evbuffer_new()) {}
  explicit Buffer(std::string_view data) : Buffer() { add(data); }
  ~Buffer() {
    if (buf_ != nullptr) evbuffer_free(buf_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : buf_(o.buf_) { o.buf_ = nullptr; }

  size_t length() const { return evbuffer_get_length(buf_); }
  bool empty() const { return length() == 0; }
  void add(std::string_view data) { evbuffer_add(buf_, data.data(), data.size()); }
  // Moves every byte of `other` to the end of this buffer.
  void move(Buffer& other) { evbuffer_add_buffer(buf_, other.buf_); }
  // Moves at most `n` bytes of `other` to the end of this buffer.
  void move(Buffer& other, size_t n) { evbuffer_remove_buffer(other.buf_, buf_, n); }
  // Appends a copy of `other`, leaving it intact.
  void copyFrom(const Buffer& other) { evbuffer_add_buffer_reference(buf_, other.buf_); }
  void drain(size_t n) { evbuffer_drain(buf_, n); }
  std::string toString() const;
  evbuffer* raw() const { return buf_; }

 private:
  evbuffer* buf_;
};

inline std::string Buffer::toString() const {
  std::string out(length(), '\0');
  evbuffer_copyout(buf_, out.data(), out.size());
  return out;
}

}  // namespace switchyard::http
