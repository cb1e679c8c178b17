// The filter chain as the loader builds it with the filters that ship: per-route and per-version
// blocks (`routes[].filters`), one filter per upstream policy, and the filters' validation of
// the names they refer to.

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

#include "config/loader.h"
#include "filters/retry/retry_filter.h"
#include "proxy/common/time.h"

namespace switchyard::config {
namespace {

class FilterChainTest : public ::testing::Test {
 protected:
  FilterChainTest() { filters::registerBuiltinFilters(filters_); }

  ConfigConstSharedPtr load(const std::string& body) {
    return loadConfigString(head() + body, "test.yaml", {filters_, metrics_, time_});
  }

  // Every formatted error for `body`; empty if it loads.
  std::vector<std::string> errorsOf(const std::string& body) {
    try {
      load(body);
    } catch (const ConfigErrors& e) {
      std::vector<std::string> out;
      for (const ConfigError& error : e.errors()) out.push_back(error.format(e.file()));
      return out;
    }
    return {};
  }

  // Lines 1-5.
  static std::string head() {
    return "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
           "clusters:\n"
           "  - {name: legacy, endpoints: [127.0.0.1:19001]}\n"
           "  - {name: modern, endpoints: [127.0.0.1:19002]}\n"
           "routes:\n";
  }

  const filters::retry::RetryConfig& retryOf(const RouteFilterConfigs& blocks, size_t i) {
    EXPECT_LT(i, blocks.size());
    EXPECT_NE(blocks[i], nullptr);
    return static_cast<const filters::retry::RetryRouteConfig&>(*blocks[i]).config();
  }

  filters::FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
};

TEST_F(FilterChainTest, RouteAndVersionBlocksRefineTheFiltersOwnConfiguration) {
  ConfigConstSharedPtr c = load(
      "  - name: api\n"
      "    match: {prefix: /api/}\n"
      "    filters: {retry: {max_retries: 1, per_try_timeout: 2s}}\n"
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2:\n"
      "        cluster: modern\n"
      "        filters: {retry: {max_retries: 4}}\n"
      "  - name: other\n"
      "    match: {prefix: /}\n"
      "    cluster: legacy\n"
      "filters:\n"
      "  - correlation_id: {}\n"
      "  - retry: {max_retries: 2, timeout: 10s}\n");
  ASSERT_EQ(c->filters.size(), 2u);
  EXPECT_TRUE(c->filters[0].stream_filter);
  EXPECT_FALSE(c->filters[1].stream_filter);
  const RouteConfig& api = c->routes[0];
  ASSERT_EQ(api.filters.size(), 2u);
  EXPECT_EQ(api.filters[0], nullptr);
  EXPECT_EQ(retryOf(api.filters, 1).max_retries, 1u);
  EXPECT_EQ(retryOf(api.filters, 1).timeout, std::chrono::seconds(10));  // the filter's own
  // v1 has no block: the route's applies; v2's applies over the route's.
  EXPECT_EQ(api.versions[0].filters[1], api.filters[1]);
  EXPECT_EQ(retryOf(api.versions[1].filters, 1).max_retries, 4u);
  EXPECT_EQ(retryOf(api.versions[1].filters, 1).per_try_timeout, std::chrono::seconds(2));
  EXPECT_EQ(c->routes[1].filters[1], nullptr);

  // The dump shows each block where it was written.
  const nlohmann::json dump = configToJson(*c);
  EXPECT_EQ(dump["routes"][0]["filters"]["retry"]["max_retries"], 1);
  EXPECT_FALSE(dump["routes"][0]["versions"]["v1"].contains("filters"));
  EXPECT_EQ(dump["routes"][0]["versions"]["v2"]["filters"]["retry"]["max_retries"], 4);
  EXPECT_FALSE(dump["routes"][1].contains("filters"));
}

TEST_F(FilterChainTest, BadRouteBlocksAreErrorsAtTheirPosition) {
  EXPECT_EQ(errorsOf("  - name: api\n"
                     "    match: {prefix: /}\n"
                     "    cluster: legacy\n"
                     "    filters:\n"
                     "      retry: {max_retries: 1}\n"
                     "      correlation_id: {header: x-id}\n"
                     "      nosuch: {}\n"
                     "filters:\n"
                     "  - correlation_id: {}\n"),
            (std::vector<std::string>{
                "test.yaml:10:7: routes[0].filters.retry: filter \"retry\" is not in the chain "
                "(add it under the top-level filters:)",
                "test.yaml:11:23: routes[0].filters.correlation_id: this filter takes no "
                "per-route configuration",
                "test.yaml:12:7: routes[0].filters.nosuch: filter \"nosuch\" is not in the chain "
                "(add it under the top-level filters:)"}));
  EXPECT_EQ(errorsOf("  - name: api\n"
                     "    match: {prefix: /}\n"
                     "    cluster: legacy\n"
                     "    filters: {retry: {max_retries: many}}\n"
                     "filters: [{retry: {}}]\n"),
            (std::vector<std::string>{"test.yaml:9:36: routes[0].filters.retry.max_retries: "
                                      "expected an integer between 0 and 100, got \"many\""}));
  EXPECT_EQ(errorsOf("  - name: api\n"
                     "    match: {prefix: /}\n"
                     "    cluster: legacy\n"
                     "    filters: [retry]\n"
                     "filters: [{retry: {}}]\n"),
            (std::vector<std::string>{
                "test.yaml:9:14: routes[0].filters: expected a map of filter name: block"}));
  // A filter that appears twice cannot be told apart by name.
  EXPECT_EQ(errorsOf("  - name: api\n"
                     "    match: {prefix: /}\n"
                     "    cluster: legacy\n"
                     "    filters: {correlation_id: {}}\n"
                     "filters: [{correlation_id: {}}, {correlation_id: {header: x-b}}]\n"),
            (std::vector<std::string>{"test.yaml:9:15: routes[0].filters.correlation_id: filter "
                                      "\"correlation_id\" appears 2 times in the chain; a route "
                                      "block needs it once"}));
}

TEST_F(FilterChainTest, ASecondFilterOfOnePolicyIsAnError) {
  EXPECT_EQ(errorsOf("  - {name: api, match: {prefix: /}, cluster: legacy}\n"
                     "filters:\n"
                     "  - retry: {}\n"
                     "  - circuit_breaker: {}\n"
                     "  - retry: {max_retries: 1}\n"
                     "  - circuit_breaker: {}\n"),
            (std::vector<std::string>{
                "test.yaml:10:5: filters[2].retry: the chain already has a filter providing the "
                "retry policy (filters[0].retry, line 8); remove one",
                "test.yaml:11:5: filters[3].circuit_breaker: the chain already has a filter "
                "providing the admission (circuit breaker) policy (filters[1].circuit_breaker, "
                "line 9); remove one"}));
}

TEST_F(FilterChainTest, CircuitBreakerSettingsForAnUnknownClusterAreRefused) {
  EXPECT_EQ(errorsOf("  - {name: api, match: {prefix: /}, cluster: legacy}\n"
                     "filters:\n"
                     "  - circuit_breaker:\n"
                     "      clusters:\n"
                     "        legacy: {cooldown: 5s}\n"
                     "        legacyy: {cooldown: 5s}\n"),
            (std::vector<std::string>{
                "test.yaml:11:9: filters[0].circuit_breaker.clusters.legacyy: unknown cluster "
                "\"legacyy\" (defined clusters: legacy, modern)"}));
}

}  // namespace
}  // namespace switchyard::config
