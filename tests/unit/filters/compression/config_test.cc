#include "filters/compression/config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "tests/support/config_errors.h"

namespace switchyard::filters::compression {
namespace {

CompressionConfig parse(const std::string& yaml, const CompressionConfig& base = {}) {
  return parseCompressionConfig(YAML::Load(yaml)["compression"], "filters[0].compression", base);
}

void expectError(const std::string& yaml, const std::string& path, int line,
                 const std::string& message) {
  const config::ConfigError e = test::configErrorOf([&] { parse(yaml); }, yaml);
  test::expectConfigError(e, path, line, message, yaml);
}

TEST(CompressionConfigTest, Defaults) {
  const CompressionConfig c = parse("compression: {}");
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.algorithms, (std::vector<Coding>{Coding::Brotli, Coding::Gzip}));
  EXPECT_EQ(c.min_bytes, 1024u);
  EXPECT_EQ(c.gzip_level, 6);
  EXPECT_EQ(c.brotli_quality, 4);
  EXPECT_TRUE(c.content_types.matches("application/json"));
  EXPECT_TRUE(c.content_types.matches("text/html; charset=utf-8"));
  EXPECT_FALSE(c.content_types.matches("image/png"));
  EXPECT_EQ(parse("compression:").min_bytes, 1024u);
}

TEST(CompressionConfigTest, TheIssuesExample) {
  const CompressionConfig c = parse(
      "compression: {algorithms: [br, gzip], min_bytes: 1024,\n"
      "              content_types: [application/json, text/*, application/javascript]}");
  EXPECT_EQ(c.content_types.patterns(),
            (std::vector<std::string>{"application/json", "text/*", "application/javascript"}));
  EXPECT_FALSE(c.content_types.matches("application/xml"));
}

TEST(CompressionConfigTest, AllKeys) {
  const CompressionConfig c = parse(
      "compression:\n"
      "  enabled: false\n"
      "  algorithms: [gzip]\n"
      "  min_bytes: 4KiB\n"
      "  content_types: [Application/JSON]\n"
      "  gzip_level: 9\n"
      "  brotli_quality: 11\n");
  EXPECT_FALSE(c.enabled);
  EXPECT_EQ(c.algorithms, std::vector<Coding>{Coding::Gzip});
  EXPECT_EQ(c.min_bytes, 4096u);
  EXPECT_EQ(c.content_types.patterns(), std::vector<std::string>{"application/json"});
  EXPECT_EQ(c.gzip_level, 9);
  EXPECT_EQ(c.brotli_quality, 11);
}

TEST(CompressionConfigTest, ARouteBlockAppliesOverItsBase) {
  CompressionConfig base = parse("compression: {algorithms: [gzip], min_bytes: 10}");
  const CompressionConfig route = parse("compression: {min_bytes: 20}", base);
  EXPECT_EQ(route.algorithms, std::vector<Coding>{Coding::Gzip});
  EXPECT_EQ(route.min_bytes, 20u);
  EXPECT_FALSE(parse("compression: {enabled: false}", base).enabled);
}

TEST(CompressionConfigTest, ContentTypeMatching) {
  const ContentTypes types({"application/json", "text/*"});
  EXPECT_TRUE(types.matches("application/json"));
  EXPECT_TRUE(types.matches("APPLICATION/JSON;charset=utf-8"));
  EXPECT_TRUE(types.matches("  application/json  ; x=y"));
  EXPECT_TRUE(types.matches("text/plain"));
  EXPECT_TRUE(types.matches("Text/CSV"));
  EXPECT_FALSE(types.matches("application/jsonx"));
  EXPECT_FALSE(types.matches("application/problem+json"));
  EXPECT_FALSE(types.matches("text"));
  EXPECT_FALSE(types.matches("text/"));
  EXPECT_FALSE(types.matches("texts/plain"));
  EXPECT_FALSE(types.matches(""));
  EXPECT_TRUE(ContentTypes({"*/*"}).matches("image/png"));
  EXPECT_FALSE(ContentTypes({"*/*"}).matches("garbage"));
}

TEST(CompressionConfigTest, BadValuesNameTheirPath) {
  expectError("compression: {level: 3}", "filters[0].compression.level", 1, "unknown key");
  expectError("compression: [br]", "filters[0].compression", 1, "map");
  expectError("compression:\n  algorithms: [br, zstd]", "filters[0].compression.algorithms[1]", 2,
              "unknown algorithm 'zstd'");
  expectError("compression:\n  algorithms: [gzip, gzip]", "filters[0].compression.algorithms[1]", 2,
              "listed twice");
  expectError("compression:\n  algorithms: []", "filters[0].compression.algorithms", 2,
              "at least one");
  expectError("compression:\n  algorithms: br", "filters[0].compression.algorithms", 2, "");
  expectError("compression:\n  min_bytes: lots", "filters[0].compression.min_bytes", 2, "");
  expectError("compression:\n  content_types: []", "filters[0].compression.content_types", 2,
              "at least one");
  expectError("compression:\n  content_types: [json]", "filters[0].compression.content_types[0]", 2,
              "not a media type");
  expectError("compression:\n  content_types: [\"text/html; charset=utf-8\"]",
              "filters[0].compression.content_types[0]", 2, "not a media type");
  expectError("compression:\n  content_types: [\"*/json\"]",
              "filters[0].compression.content_types[0]", 2, "not a media type");
  expectError("compression:\n  content_types: [\"text/h*\"]",
              "filters[0].compression.content_types[0]", 2, "not a media type");
  expectError("compression:\n  gzip_level: 0", "filters[0].compression.gzip_level", 2, "");
  expectError("compression:\n  gzip_level: 10", "filters[0].compression.gzip_level", 2, "");
  expectError("compression:\n  brotli_quality: 12", "filters[0].compression.brotli_quality", 2, "");
  expectError("compression:\n  enabled: maybe", "filters[0].compression.enabled", 2, "");
}

}  // namespace
}  // namespace switchyard::filters::compression
