#include "filters/compression/accept_encoding.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace switchyard::filters::compression {
namespace {

constexpr std::array<Coding, 2> BrFirst = {Coding::Brotli, Coding::Gzip};
constexpr std::array<Coding, 2> GzipFirst = {Coding::Gzip, Coding::Brotli};
constexpr std::array<Coding, 1> GzipOnly = {Coding::Gzip};

// "br", "gzip" or "identity" for the request whose Accept-Encoding lines are `values`.
std::string choice(std::vector<std::string> values, std::span<const Coding> offered = BrFirst) {
  http::HeaderMap headers;
  for (const std::string& v : values) headers.add("accept-encoding", v);
  const std::optional<Coding> c = chooseCoding(parseAcceptEncoding(headers), offered);
  return c ? std::string(codingName(*c)) : "identity";
}

TEST(AcceptEncodingTest, NoFieldMeansNoCoding) {
  http::HeaderMap headers;
  headers.add("accept", "*/*");
  EXPECT_FALSE(parseAcceptEncoding(headers).present);
  EXPECT_EQ(chooseCoding(parseAcceptEncoding(headers), BrFirst), std::nullopt);
  EXPECT_EQ(choice({""}), "identity");
  EXPECT_EQ(choice({"identity"}), "identity");
}

TEST(AcceptEncodingTest, TheServersOrderBreaksTies) {
  EXPECT_EQ(choice({"gzip, deflate, br"}), "br");
  EXPECT_EQ(choice({"gzip, deflate, br"}, GzipFirst), "gzip");
  EXPECT_EQ(choice({"br"}, GzipFirst), "br");
  EXPECT_EQ(choice({"br"}, GzipOnly), "identity");
  EXPECT_EQ(choice({"deflate, zstd"}), "identity");
}

TEST(AcceptEncodingTest, QValuesDecide) {
  EXPECT_EQ(choice({"br;q=0.5, gzip;q=0.8"}), "gzip");
  EXPECT_EQ(choice({"br;q=0.8, gzip;q=0.5"}, GzipFirst), "br");
  EXPECT_EQ(choice({"br;q=0, gzip"}), "gzip");
  EXPECT_EQ(choice({"br;q=0, gzip;q=0"}), "identity");
  EXPECT_EQ(choice({"gzip;q=0.001"}), "gzip");
  EXPECT_EQ(choice({"BR;Q=1.000"}), "br");
  EXPECT_EQ(choice({"gzip ; q = 0.5 , br ; q=0.4"}), "gzip");
  EXPECT_EQ(choice({"gzip;level=9;q=0.7, br;q=0.6"}), "gzip");
}

TEST(AcceptEncodingTest, IdentityWinsOnlyWhenHeavier) {
  EXPECT_EQ(choice({"gzip;q=0.5, identity"}), "identity");
  EXPECT_EQ(choice({"gzip, identity"}), "gzip");
  EXPECT_EQ(choice({"gzip;q=0.5, identity;q=0.5"}), "gzip");
  EXPECT_EQ(choice({"gzip;q=0.5, *;q=0.8"}), "br");  // "*" weighs br and identity alike
  EXPECT_EQ(choice({"gzip;q=0.5, *;q=0.4"}), "gzip");
  EXPECT_EQ(choice({"gzip;q=0.5, *;q=0.4, identity;q=0.9"}), "identity");
}

TEST(AcceptEncodingTest, StarCoversWhatIsNotNamed) {
  EXPECT_EQ(choice({"*"}), "br");
  EXPECT_EQ(choice({"*"}, GzipFirst), "gzip");
  EXPECT_EQ(choice({"br;q=0, *"}), "gzip");
  EXPECT_EQ(choice({"*;q=0"}), "identity");
  EXPECT_EQ(choice({"identity;q=0, *;q=0"}), "identity");  // nothing acceptable: sent as is
  EXPECT_EQ(choice({"identity;q=0"}), "identity");
  EXPECT_EQ(choice({"identity;q=0, gzip"}), "gzip");
}

TEST(AcceptEncodingTest, XGzipIsGzip) {
  EXPECT_EQ(choice({"x-gzip"}), "gzip");
  EXPECT_EQ(choice({"X-GZIP;q=0.3, br;q=0.2"}), "gzip");
}

TEST(AcceptEncodingTest, SeveralLinesAreOneList) {
  EXPECT_EQ(choice({"gzip", "br"}), "br");
  EXPECT_EQ(choice({"br;q=0", "gzip"}), "gzip");
  // The first mention of a coding counts.
  EXPECT_EQ(choice({"br;q=0", "br"}), "identity");
}

TEST(AcceptEncodingTest, BadElementsAreSkipped) {
  EXPECT_EQ(choice({"br;q=2, gzip"}), "gzip");
  EXPECT_EQ(choice({"br;q=1.5, gzip;q=0.1"}), "gzip");
  EXPECT_EQ(choice({"br;q=0.5555, gzip;q=0.1"}), "gzip");
  EXPECT_EQ(choice({"br;q=, gzip;q=0.1"}), "gzip");
  EXPECT_EQ(choice({"br;q=-1, gzip;q=0.1"}), "gzip");
  EXPECT_EQ(choice({"br;q=0.5x, gzip;q=0.1"}), "gzip");
  EXPECT_EQ(choice({"b r, gzip;q=0.1"}), "gzip");
  EXPECT_EQ(choice({"\"br\", gzip;q=0.1"}), "gzip");
  EXPECT_EQ(choice({",,, ;q=1, br"}), "br");
  EXPECT_EQ(choice({"br;;q=0.5;, gzip;q=0.4"}), "br");
  EXPECT_EQ(choice({std::string("br\0", 3) + ", gzip"}), "gzip");
}

TEST(AcceptEncodingTest, QValueGrammar) {
  AcceptedCodings a;
  parseAcceptEncodingValue("br;q=0.125, gzip;q=1., identity;q=0.", a);
  EXPECT_EQ(a.brotli, 125);
  EXPECT_EQ(a.gzip, 1000);
  EXPECT_EQ(a.identity, 0);
  AcceptedCodings b;
  parseAcceptEncodingValue("br;q=1.001, gzip;q=0.10, *;q=00", b);
  EXPECT_EQ(b.brotli, -1);
  EXPECT_EQ(b.gzip, 100);
  EXPECT_EQ(b.star, -1);
}

TEST(AcceptEncodingTest, LongAndHostileValuesEndQuickly) {
  std::string value;
  for (int i = 0; i < 20000; ++i) value += "zz;q=0.1;a=b,";
  value += "gzip";
  EXPECT_EQ(choice({value}), "gzip");
  EXPECT_EQ(choice({std::string(100000, ';')}), "identity");
  EXPECT_EQ(choice({std::string(100000, ',')}), "identity");
}

}  // namespace
}  // namespace switchyard::filters::compression
