#pragma once

// Streaming encoders for one response body each: gzip (zlib) and brotli. A body passes through
// piece by piece as the upstream sends it; each piece's output is flushed (the client can decode
// everything received so far), so nothing waits for the end of the body and the coder holds only
// its window, never the body.

#include <memory>

#include "filters/compression/accept_encoding.h"
#include "proxy/http/buffer.h"

namespace switchyard::filters::compression {

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Compresses all of `in` (which is drained) and appends the output to `out`. With `finish`
  // the stream ends (the gzip trailer, brotli's last block); without it the output so far is
  // flushed. After a finish, or a false return (the coder failed; `out` then holds what it made
  // so far), the encoder takes nothing more.
  virtual bool encode(http::Buffer& in, http::Buffer& out, bool finish) = 0;
};

struct EncoderLevels {
  int gzip_level = 6;      // 1..9
  int brotli_quality = 4;  // 0..11
};

// A new encoder for `coding`, or null when the coder could not be set up (out of memory).
std::unique_ptr<Encoder> makeEncoder(Coding coding, const EncoderLevels& levels);

// brotli's sliding window, as log2 of its size in bytes (256 KiB): what one stream may refer
// back to, and about what it holds in memory besides its hash table.
inline constexpr int BrotliWindowBits = 18;

}  // namespace switchyard::filters::compression
