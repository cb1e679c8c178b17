#include "proxy/admin/console.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "proxy/admin/console_assets.h"

namespace switchyard::admin {
namespace {

std::map<std::string, std::string> headerMap() {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : consoleHeaders()) out[name] = value;
  return out;
}

TEST(ConsoleTest, RepliesForbidScriptsAndRequestsFromElsewhereAndFraming) {
  const auto headers = headerMap();
  const std::string csp = headers.at("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(csp.find("form-action 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos);
  EXPECT_EQ(headers.at("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(headers.at("X-Frame-Options"), "DENY");
  for (const auto& [name, value] : headers) {
    EXPECT_NE(name.rfind("Access-Control-", 0), 0u) << name;
  }
}

TEST(ConsoleTest, EmbeddedFilesHaveTheirTypesAndTheIndexIsThere) {
  const auto& assets = consoleAssets();
  if (assets.empty()) GTEST_SKIP() << "this build has no console files";
  bool index = false;
  for (const EmbeddedAsset& a : assets) {
    EXPECT_FALSE(a.bytes.empty()) << a.name;
    if (a.name == "index.html") {
      index = true;
      EXPECT_EQ(a.content_type, "text/html; charset=utf-8");
      // Nothing from another origin, no inline script.
      EXPECT_EQ(a.bytes.find("src=\"http"), std::string_view::npos);
      EXPECT_EQ(a.bytes.find("href=\"http"), std::string_view::npos);
      EXPECT_EQ(a.bytes.find("<script>"), std::string_view::npos);
    }
    if (a.name.ends_with(".js")) {
      EXPECT_EQ(a.content_type, "text/javascript; charset=utf-8");
    }
    if (a.name.ends_with(".css")) {
      EXPECT_EQ(a.content_type, "text/css; charset=utf-8");
    }
  }
  EXPECT_TRUE(index);
}

}  // namespace
}  // namespace switchyard::admin
