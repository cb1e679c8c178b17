#include "filters/compression/encoder.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/support/decompress.h"

namespace switchyard::filters::compression {
namespace {

// JSON-like text: compressible, but not trivially.
std::string jsonish(size_t n, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::string out;
  out.reserve(n + 64);
  while (out.size() < n) {
    out += "{\"id\":" + std::to_string(rng() % 100000) + ",\"name\":\"item-" +
           std::to_string(rng() % 977) +
           "\",\"tags\":[\"a\",\"b\"],\"price\":" + std::to_string(rng() % 10000) + "},";
  }
  out.resize(n);
  return out;
}

std::string randomBytes(size_t n, uint32_t seed = 11) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::optional<std::string> decode(Coding coding, const std::string& encoded) {
  return coding == Coding::Brotli ? test::unbrotli(encoded) : test::gunzip(encoded);
}

// Feeds `body` in pieces of `piece` bytes (each piece made of several evbuffer chains), finishing
// with the last; returns everything the encoder wrote.
std::string encodeInPieces(Coding coding, const std::string& body, size_t piece,
                           bool finish_with_empty = false) {
  auto encoder = makeEncoder(coding, {});
  EXPECT_NE(encoder, nullptr);
  std::string out;
  size_t offset = 0;
  do {
    const size_t n = std::min(piece, body.size() - offset);
    http::Buffer in;
    // Three chains per piece, so the encoder walks more than one extent.
    const size_t third = n / 3;
    in.add(std::string_view(body).substr(offset, third));
    http::Buffer more(std::string_view(body).substr(offset + third, third));
    in.move(more);
    in.add(std::string_view(body).substr(offset + 2 * third, n - 2 * third));
    offset += n;
    const bool last = offset == body.size() && !finish_with_empty;
    http::Buffer encoded;
    EXPECT_TRUE(encoder->encode(in, encoded, last));
    EXPECT_TRUE(in.empty());
    out += encoded.toString();
  } while (offset < body.size());
  if (finish_with_empty) {
    http::Buffer in;
    http::Buffer encoded;
    EXPECT_TRUE(encoder->encode(in, encoded, true));
    out += encoded.toString();
  }
  return out;
}

class EncoderTest : public ::testing::TestWithParam<Coding> {};

TEST_P(EncoderTest, RoundTripsBodiesOfEverySize) {
  const Coding coding = GetParam();
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{100}, size_t{1023}, size_t{65536},
                   size_t{1} << 20, size_t{10} << 20}) {
    const std::string body = jsonish(n);
    const std::string encoded = encodeInPieces(coding, body, 64 * 1024);
    const std::optional<std::string> decoded = decode(coding, encoded);
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded == body, true) << n;
    if (n >= 65536) {
      EXPECT_LT(encoded.size(), n / 3) << n;
    }
  }
}

TEST_P(EncoderTest, IncompressibleBytesRoundTrip) {
  const std::string body = randomBytes(300 * 1024);
  const std::optional<std::string> decoded =
      decode(GetParam(), encodeInPieces(GetParam(), body, 7000));
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(*decoded == body);
}

TEST_P(EncoderTest, AnEmptyLastPieceEndsTheStream) {
  const std::string body = jsonish(5000);
  const std::optional<std::string> decoded =
      decode(GetParam(), encodeInPieces(GetParam(), body, 1000, true));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, body);
}

TEST_P(EncoderTest, EachPieceIsDecodableWhenItHasPassed) {
  const Coding coding = GetParam();
  auto encoder = makeEncoder(coding, {});
  ASSERT_NE(encoder, nullptr);
  std::string sent;
  std::string encoded;
  for (int i = 0; i < 5; ++i) {
    const std::string piece = "data: {\"event\": " + std::to_string(i) + "}\n\n";
    sent += piece;
    http::Buffer in(piece);
    http::Buffer out;
    ASSERT_TRUE(encoder->encode(in, out, false));
    encoded += out.toString();
    const std::optional<std::string> so_far =
        coding == Coding::Brotli ? test::unbrotliPrefix(encoded) : test::gunzipPrefix(encoded);
    ASSERT_TRUE(so_far) << i;
    EXPECT_EQ(*so_far, sent) << i;
  }
  // An empty piece in the middle adds nothing and changes nothing.
  http::Buffer empty;
  http::Buffer out;
  ASSERT_TRUE(encoder->encode(empty, out, false));
  EXPECT_TRUE(out.empty());
}

TEST_P(EncoderTest, NothingIsTakenAfterTheEnd) {
  auto encoder = makeEncoder(GetParam(), {});
  http::Buffer in("abc");
  http::Buffer out;
  ASSERT_TRUE(encoder->encode(in, out, true));
  http::Buffer again("more");
  http::Buffer out2;
  EXPECT_FALSE(encoder->encode(again, out2, true));
  EXPECT_TRUE(again.empty());
  EXPECT_TRUE(out2.empty());
}

TEST_P(EncoderTest, EveryLevelWorks) {
  const std::string body = jsonish(20000);
  for (int level = 0; level <= 11; ++level) {
    EncoderLevels levels;
    levels.gzip_level = std::clamp(level, 1, 9);
    levels.brotli_quality = level;
    auto encoder = makeEncoder(GetParam(), levels);
    ASSERT_NE(encoder, nullptr);
    http::Buffer in(body);
    http::Buffer out;
    ASSERT_TRUE(encoder->encode(in, out, true));
    const std::optional<std::string> decoded = decode(GetParam(), out.toString());
    ASSERT_TRUE(decoded) << level;
    EXPECT_EQ(*decoded, body) << level;
  }
}

INSTANTIATE_TEST_SUITE_P(Codings, EncoderTest, ::testing::Values(Coding::Brotli, Coding::Gzip),
                         [](const auto& info) { return std::string(codingName(info.param)); });

}  // namespace
}  // namespace switchyard::filters::compression
