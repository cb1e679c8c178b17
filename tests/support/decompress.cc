#include "tests/support/decompress.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <memory>

namespace switchyard::test {
namespace {

std::optional<std::string> inflateGzip(std::string_view encoded, bool whole) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return std::nullopt;
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(encoded.data()));
  zs.avail_in = static_cast<uInt>(encoded.size());
  int status = Z_OK;
  char buf[64 * 1024];
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    status = inflate(&zs, Z_SYNC_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (status == Z_STREAM_END) break;
    if (status == Z_BUF_ERROR && zs.avail_in == 0) break;  // needs more input
    if (status != Z_OK) break;
  }
  const bool ended = status == Z_STREAM_END;
  const bool rest = zs.avail_in != 0;
  inflateEnd(&zs);
  if (whole ? (!ended || rest)
            : (status != Z_STREAM_END && status != Z_OK && status != Z_BUF_ERROR))
    return std::nullopt;
  return out;
}

std::optional<std::string> decodeBrotli(std::string_view encoded, bool whole) {
  std::unique_ptr<BrotliDecoderState, decltype(&BrotliDecoderDestroyInstance)> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), &BrotliDecoderDestroyInstance);
  if (!state) return std::nullopt;
  std::string out;
  size_t avail_in = encoded.size();
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(encoded.data());
  uint8_t buf[64 * 1024];
  BrotliDecoderResult result;
  do {
    size_t avail_out = sizeof(buf);
    uint8_t* next_out = buf;
    result = BrotliDecoderDecompressStream(state.get(), &avail_in, &next_in, &avail_out, &next_out,
                                           nullptr);
    out.append(reinterpret_cast<char*>(buf), sizeof(buf) - avail_out);
  } while (result == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
  if (result == BROTLI_DECODER_RESULT_ERROR) return std::nullopt;
  if (whole && (result != BROTLI_DECODER_RESULT_SUCCESS || avail_in != 0)) return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::string> gunzip(std::string_view encoded) { return inflateGzip(encoded, true); }
std::optional<std::string> unbrotli(std::string_view encoded) {
  return decodeBrotli(encoded, true);
}
std::optional<std::string> gunzipPrefix(std::string_view encoded) {
  return inflateGzip(encoded, false);
}
std::optional<std::string> unbrotliPrefix(std::string_view encoded) {
  return decodeBrotli(encoded, false);
}

std::optional<std::string> decodeBody(std::string_view coding, std::string_view encoded) {
  if (coding == "gzip") return gunzip(encoded);
  if (coding == "br") return unbrotli(encoded);
  if (coding.empty() || coding == "identity") return std::string(encoded);
  return std::nullopt;
}

}  // namespace switchyard::test
