#include "filters/compression/encoder.h"

#include <brotli/encode.h>
#include <event2/buffer.h>
#include <zlib.h>

#include <array>

namespace switchyard::filters::compression {
namespace {

// Output is written straight into `out`'s chains, this much room at a time.
constexpr size_t OutputStep = 16 * 1024;

// Room at the end of `out` for the coder to write into; commit() keeps what it wrote.
class OutputSpace {
 public:
  explicit OutputSpace(http::Buffer& out) : out_(out) {}
  OutputSpace(const OutputSpace&) = delete;
  OutputSpace& operator=(const OutputSpace&) = delete;
  ~OutputSpace() { commit(0); }

  // Reserves room; false if libevent could not allocate it.
  bool reserve(uint8_t*& next, size_t& avail) {
    if (evbuffer_reserve_space(out_.raw(), OutputStep, &vec_, 1) < 1) return false;
    reserved_ = true;
    next = static_cast<uint8_t*>(vec_.iov_base);
    avail = vec_.iov_len;
    return true;
  }
  // Keeps the first `used` bytes of the reserved room.
  void commit(size_t used) {
    if (!reserved_) return;
    reserved_ = false;
    vec_.iov_len = used;
    evbuffer_commit_space(out_.raw(), &vec_, 1);
  }

 private:
  http::Buffer& out_;
  evbuffer_iovec vec_{};
  bool reserved_ = false;
};

// Calls fn(data, size) for each contiguous piece of `in`, in order, without copying; stops at
// the first false.
template <class Fn>
bool forEachPiece(http::Buffer& in, Fn&& fn) {
  if (in.empty()) return true;
  std::array<evbuffer_iovec, 16> vec;
  evbuffer_ptr pos;
  evbuffer_ptr_set(in.raw(), &pos, 0, EVBUFFER_PTR_SET);
  size_t done = 0;
  const size_t total = in.length();
  while (done < total) {
    const int n = evbuffer_peek(in.raw(), -1, &pos, vec.data(), static_cast<int>(vec.size()));
    const int usable = std::min<int>(n, static_cast<int>(vec.size()));
    if (usable <= 0) return false;
    size_t advanced = 0;
    for (int i = 0; i < usable; ++i) {
      if (!fn(static_cast<const uint8_t*>(vec[i].iov_base), vec[i].iov_len)) return false;
      advanced += vec[i].iov_len;
    }
    done += advanced;
    if (done < total && evbuffer_ptr_set(in.raw(), &pos, advanced, EVBUFFER_PTR_ADD) != 0) {
      return false;
    }
  }
  return true;
}

class GzipEncoder final : public Encoder {
 public:
  explicit GzipEncoder(int level) {
    // 15 + 16: a 32 KiB window with the gzip wrapper; memLevel 8 (zlib's default): about
    // 256 KiB of state for the stream.
    ok_ = deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipEncoder() override {
    if (ok_) deflateEnd(&zs_);
  }
  bool ok() const { return ok_; }

  bool encode(http::Buffer& in, http::Buffer& out, bool finish) override {
    if (!ok_ || done_) {
      in.drain(in.length());
      return false;
    }
    const bool had_input = !in.empty();
    const bool fed = forEachPiece(in, [&](const uint8_t* data, size_t size) {
      zs_.next_in = const_cast<Bytef*>(data);
      zs_.avail_in = static_cast<uInt>(size);
      while (zs_.avail_in > 0) {
        if (!run(out, Z_NO_FLUSH)) return false;
      }
      return true;
    });
    in.drain(in.length());
    if (!fed) return fail();
    if (!finish && !had_input) return true;
    zs_.next_in = nullptr;
    zs_.avail_in = 0;
    const int flush = finish ? Z_FINISH : Z_SYNC_FLUSH;
    while (true) {
      int status = Z_OK;
      if (!run(out, flush, &status)) return fail();
      if (finish ? status == Z_STREAM_END : (zs_.avail_out != 0 || status == Z_BUF_ERROR)) break;
    }
    if (finish) done_ = true;
    return true;
  }

 private:
  // One deflate() call into fresh output room.
  bool run(http::Buffer& out, int flush, int* status_out = nullptr) {
    OutputSpace space(out);
    uint8_t* next = nullptr;
    size_t avail = 0;
    if (!space.reserve(next, avail)) return false;
    zs_.next_out = next;
    zs_.avail_out = static_cast<uInt>(avail);
    const int status = deflate(&zs_, flush);
    space.commit(avail - zs_.avail_out);
    if (status_out != nullptr) *status_out = status;
    return status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR;
  }
  bool fail() {
    done_ = true;
    return false;
  }

  z_stream zs_{};
  bool ok_ = false;
  bool done_ = false;
};

class BrotliEncoder final : public Encoder {
 public:
  explicit BrotliEncoder(int quality)
      : state_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (state_ == nullptr) return;
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY, static_cast<uint32_t>(quality));
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN, BrotliWindowBits);
  }
  ~BrotliEncoder() override {
    if (state_ != nullptr) BrotliEncoderDestroyInstance(state_);
  }
  bool ok() const { return state_ != nullptr; }

  bool encode(http::Buffer& in, http::Buffer& out, bool finish) override {
    if (state_ == nullptr || done_) {
      in.drain(in.length());
      return false;
    }
    const bool had_input = !in.empty();
    const bool fed = forEachPiece(in, [&](const uint8_t* data, size_t size) {
      size_t avail_in = size;
      const uint8_t* next_in = data;
      while (avail_in > 0) {
        if (!run(out, BROTLI_OPERATION_PROCESS, avail_in, next_in)) return false;
      }
      return true;
    });
    in.drain(in.length());
    if (!fed) return fail();
    if (!finish && !had_input) return true;
    const BrotliEncoderOperation op = finish ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
    size_t avail_in = 0;
    const uint8_t* next_in = nullptr;
    do {
      if (!run(out, op, avail_in, next_in)) return fail();
    } while (finish ? !BrotliEncoderIsFinished(state_) : BrotliEncoderHasMoreOutput(state_));
    if (finish) done_ = true;
    return true;
  }

 private:
  bool run(http::Buffer& out, BrotliEncoderOperation op, size_t& avail_in,
           const uint8_t*& next_in) {
    OutputSpace space(out);
    uint8_t* next = nullptr;
    size_t avail = 0;
    if (!space.reserve(next, avail)) return false;
    size_t avail_out = avail;
    const bool ok = BrotliEncoderCompressStream(state_, op, &avail_in, &next_in, &avail_out, &next,
                                                nullptr) == BROTLI_TRUE;
    space.commit(avail - avail_out);
    return ok;
  }
  bool fail() {
    done_ = true;
    return false;
  }

  BrotliEncoderState* state_;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<Encoder> makeEncoder(Coding coding, const EncoderLevels& levels) {
  switch (coding) {
    case Coding::Gzip: {
      auto e = std::make_unique<GzipEncoder>(levels.gzip_level);
      if (!e->ok()) return nullptr;
      return e;
    }
    case Coding::Brotli: {
      auto e = std::make_unique<BrotliEncoder>(levels.brotli_quality);
      if (!e->ok()) return nullptr;
      return e;
    }
  }
  return nullptr;
}

}  // namespace switchyard::filters::compression
