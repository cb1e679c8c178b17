#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

#include "config/config_error.h"
#include "filters/correlation_id/config.h"
#include "filters/correlation_id/correlation_id_filter.h"
#include "filters/registry.h"
#include "proxy/common/random.h"
#include "proxy/common/uuid.h"
#include "tests/support/config_errors.h"
#include "tests/support/fake_filter_callbacks.h"

namespace switchyard::filters::correlation_id {
namespace {

using http::FilterHeadersStatus;

bool isUuidV4(const std::string& id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return id[14] == '4' && std::string("89ab").find(id[19]) != std::string::npos;
}

class CorrelationIdFilterTest : public testing::Test {
 protected:
  void build(CorrelationIdConfig config = {}) {
    factory_ = std::make_unique<CorrelationIdFilterFactory>(std::move(config));
    filter_ = factory_->create(callbacks_.workerContext(), nullptr);
    callbacks_.attach(*filter_);
  }

  http::RequestHeaders& request() { return callbacks_.requestHeaders(); }
  const std::string& streamId() { return callbacks_.streamInfo().correlation_id; }

  FilterHeadersStatus decode() { return filter_->decodeHeaders(request(), true); }

  // What the first generated id of this stream will be: the fake's seed replayed.
  static std::string expectedGeneratedId() {
    common::SeededRandom replay(42);
    return common::uuidV4(replay);
  }

  test::FakeFilterCallbacks callbacks_{42};
  std::unique_ptr<CorrelationIdFilterFactory> factory_;
  http::StreamFilterPtr filter_;
};

TEST_F(CorrelationIdFilterTest, WellFormedIncomingIdIsKeptAndForwarded) {
  build();
  request().headers.add("x-correlation-id", "abc-123_x.y:Z");
  EXPECT_EQ(decode(), FilterHeadersStatus::Continue);
  EXPECT_EQ(streamId(), "abc-123_x.y:Z");
  EXPECT_EQ(request().headers.count("x-correlation-id"), 1u);
  EXPECT_EQ(*request().headers.get("x-correlation-id"), "abc-123_x.y:Z");
}

TEST_F(CorrelationIdFilterTest, IdOfExactlyMaxLengthIsAccepted) {
  build();
  const std::string id(128, 'a');
  request().headers.add("x-correlation-id", id);
  decode();
  EXPECT_EQ(streamId(), id);
}

TEST_F(CorrelationIdFilterTest, SurroundingBlanksAreIgnored) {
  build();
  request().headers.add("x-correlation-id", " \tabc-1 ");
  decode();
  EXPECT_EQ(streamId(), "abc-1");
  EXPECT_EQ(*request().headers.get("x-correlation-id"), "abc-1");
}

class MalformedIdTest : public CorrelationIdFilterTest,
                        public testing::WithParamInterface<std::string> {};

TEST_P(MalformedIdTest, IsReplacedByAGeneratedUuid) {
  build();
  request().headers.add("x-correlation-id", GetParam());
  decode();
  EXPECT_TRUE(isUuidV4(streamId())) << streamId();
  EXPECT_EQ(streamId(), expectedGeneratedId());
  EXPECT_EQ(request().headers.count("x-correlation-id"), 1u);
  EXPECT_EQ(*request().headers.get("x-correlation-id"), streamId());
}

INSTANTIATE_TEST_SUITE_P(Values, MalformedIdTest,
                         testing::Values(std::string(129, 'a'), "", "   ", "abc def", "abc/def",
                                         "a,b", "id;drop", "caf\xc3\xa9", std::string("a\0b", 3),
                                         "line\r\nbreak", "<script>"));

TEST_F(CorrelationIdFilterTest, MissingIdIsGenerated) {
  build();
  decode();
  EXPECT_EQ(streamId(), expectedGeneratedId());
  EXPECT_EQ(*request().headers.get("x-correlation-id"), streamId());
}

TEST_F(CorrelationIdFilterTest, XRequestIdIsAccepted) {
  build();
  request().headers.add("x-request-id", "req-7");
  decode();
  EXPECT_EQ(streamId(), "req-7");
  EXPECT_EQ(*request().headers.get("x-correlation-id"), "req-7");
  EXPECT_EQ(*request().headers.get("x-request-id"), "req-7");
}

TEST_F(CorrelationIdFilterTest, ConfiguredHeaderWinsOverAcceptedOnes) {
  build();
  request().headers.add("x-request-id", "req-7");
  request().headers.add("x-correlation-id", "corr-1");
  decode();
  EXPECT_EQ(streamId(), "corr-1");
}

TEST_F(CorrelationIdFilterTest, MalformedConfiguredHeaderFallsBackToAcceptedOne) {
  build();
  request().headers.add("x-correlation-id", "bad value");
  request().headers.add("x-request-id", "req-7");
  decode();
  EXPECT_EQ(streamId(), "req-7");
  EXPECT_EQ(request().headers.count("x-correlation-id"), 1u);
  EXPECT_EQ(*request().headers.get("x-correlation-id"), "req-7");
}

TEST_F(CorrelationIdFilterTest, AcceptedHeadersAreTriedInOrder) {
  CorrelationIdConfig config;
  config.accept = {"x-request-id", "x-amzn-trace-id"};
  build(config);
  request().headers.add("x-amzn-trace-id", "amzn-1");
  request().headers.add("x-request-id", "req-7");
  decode();
  EXPECT_EQ(streamId(), "req-7");
}

TEST_F(CorrelationIdFilterTest, DuplicateValuesAreForwardedAsOne) {
  build();
  request().headers.add("x-correlation-id", "bad value");
  request().headers.add("x-correlation-id", "corr-2");
  decode();
  EXPECT_EQ(streamId(), "corr-2");
  EXPECT_EQ(request().headers.count("x-correlation-id"), 1u);
  EXPECT_EQ(*request().headers.get("x-correlation-id"), "corr-2");
}

TEST_F(CorrelationIdFilterTest, CustomHeader) {
  CorrelationIdConfig config;
  config.header = "x-trace-ref";
  config.accept = {};
  build(config);
  request().headers.add("x-request-id", "req-7");
  request().headers.add("x-trace-ref", "ref-1");
  decode();
  EXPECT_EQ(streamId(), "ref-1");
  EXPECT_EQ(request().headers.get("x-correlation-id"), nullptr);

  http::ResponseHeaders response;
  filter_->encodeHeaders(response, true);
  EXPECT_EQ(*response.headers.get("x-trace-ref"), "ref-1");
  EXPECT_EQ(response.headers.get("x-correlation-id"), nullptr);
}

TEST_F(CorrelationIdFilterTest, CustomHeaderWithoutAcceptIgnoresXRequestId) {
  CorrelationIdConfig config;
  config.header = "x-trace-ref";
  config.accept = {};
  build(config);
  request().headers.add("x-request-id", "req-7");
  decode();
  EXPECT_EQ(streamId(), expectedGeneratedId());
  EXPECT_EQ(*request().headers.get("x-trace-ref"), streamId());
}

TEST_F(CorrelationIdFilterTest, EchoOnSetsTheResponseHeader) {
  build();
  request().headers.add("x-correlation-id", "corr-1");
  decode();
  http::ResponseHeaders response;
  response.headers.add("x-correlation-id", "upstream-made-this-up");
  EXPECT_EQ(filter_->encodeHeaders(response, false), FilterHeadersStatus::Continue);
  EXPECT_EQ(response.headers.count("x-correlation-id"), 1u);
  EXPECT_EQ(*response.headers.get("x-correlation-id"), "corr-1");
}

TEST_F(CorrelationIdFilterTest, EchoOffLeavesTheResponseAlone) {
  CorrelationIdConfig config;
  config.echo = false;
  build(config);
  request().headers.add("x-correlation-id", "corr-1");
  decode();
  EXPECT_EQ(*request().headers.get("x-correlation-id"), "corr-1");
  http::ResponseHeaders response;
  EXPECT_EQ(filter_->encodeHeaders(response, true), FilterHeadersStatus::Continue);
  EXPECT_EQ(response.headers.size(), 0u);
}

TEST_F(CorrelationIdFilterTest, GenerateOffWithoutIncomingIdDoesNothing) {
  CorrelationIdConfig config;
  config.generate = false;
  build(config);
  request().headers.add("accept", "*/*");
  decode();
  EXPECT_EQ(streamId(), "");
  EXPECT_EQ(request().headers.size(), 1u);

  http::ResponseHeaders response;
  filter_->encodeHeaders(response, true);
  EXPECT_EQ(response.headers.get("x-correlation-id"), nullptr);
}

TEST_F(CorrelationIdFilterTest, GenerateOffRemovesAMalformedId) {
  CorrelationIdConfig config;
  config.generate = false;
  build(config);
  request().headers.add("x-correlation-id", "bad value");
  decode();
  EXPECT_EQ(streamId(), "");
  EXPECT_EQ(request().headers.get("x-correlation-id"), nullptr);
}

TEST_F(CorrelationIdFilterTest, GenerateOffStillForwardsAValidId) {
  CorrelationIdConfig config;
  config.generate = false;
  build(config);
  request().headers.add("x-request-id", "req-7");
  decode();
  EXPECT_EQ(streamId(), "req-7");
  EXPECT_EQ(*request().headers.get("x-correlation-id"), "req-7");
}

TEST_F(CorrelationIdFilterTest, LocalReplyAfterDecodeUsesTheSameId) {
  build();
  decode();
  const std::string id = streamId();
  callbacks_.sendLocalReply({429, "Too Many Requests", "slow down", {}});
  ASSERT_EQ(callbacks_.localReplies().size(), 1u);
  EXPECT_EQ(*callbacks_.lastLocalReply().headers.get("x-correlation-id"), id);
  EXPECT_EQ(streamId(), id);
}

TEST_F(CorrelationIdFilterTest, LocalReplyWithoutDecodeTakesTheRequestId) {
  build();
  request().headers.add("x-request-id", "req-7");
  callbacks_.sendLocalReply({400, "Bad Request", "invalid header", {}});
  ASSERT_EQ(callbacks_.localReplies().size(), 1u);
  EXPECT_EQ(streamId(), "req-7");
  EXPECT_EQ(*callbacks_.lastLocalReply().headers.get("x-correlation-id"), "req-7");
}

TEST_F(CorrelationIdFilterTest, LocalReplyWithoutDecodeOrRequestGenerates) {
  build();
  callbacks_.sendLocalReply({400, "Bad Request", "malformed request line", {}});
  ASSERT_EQ(callbacks_.localReplies().size(), 1u);
  EXPECT_EQ(streamId(), expectedGeneratedId());
  EXPECT_EQ(*callbacks_.lastLocalReply().headers.get("x-correlation-id"), streamId());
}

TEST_F(CorrelationIdFilterTest, LocalReplyKeepsOtherReplyHeaders) {
  build();
  http::LocalReply reply{429, "Too Many Requests", "slow down", {}};
  reply.headers.add("retry-after", "30");
  filter_->onLocalReply(reply);
  EXPECT_EQ(*reply.headers.get("retry-after"), "30");
  EXPECT_EQ(*reply.headers.get("x-correlation-id"), streamId());
}

TEST_F(CorrelationIdFilterTest, LocalReplyWithEchoOffRecordsTheIdOnly) {
  CorrelationIdConfig config;
  config.echo = false;
  build(config);
  http::LocalReply reply{503, "Service Unavailable", "breaker open", {}};
  filter_->onLocalReply(reply);
  EXPECT_EQ(streamId(), expectedGeneratedId());
  EXPECT_EQ(reply.headers.size(), 0u);
}

TEST_F(CorrelationIdFilterTest, LocalReplyWithGenerateOffAndNoIdAddsNothing) {
  CorrelationIdConfig config;
  config.generate = false;
  build(config);
  http::LocalReply reply{400, "Bad Request", "bad", {}};
  filter_->onLocalReply(reply);
  EXPECT_EQ(streamId(), "");
  EXPECT_EQ(reply.headers.size(), 0u);
}

TEST_F(CorrelationIdFilterTest, GeneratedIdsDependOnlyOnTheSeed) {
  build();
  decode();
  test::FakeFilterCallbacks other(42);
  CorrelationIdFilterFactory factory{CorrelationIdConfig{}};
  http::StreamFilterPtr filter = factory.create(other.workerContext(), nullptr);
  other.attach(*filter);
  filter->decodeHeaders(other.requestHeaders(), true);
  EXPECT_EQ(other.streamInfo().correlation_id, streamId());
}

TEST(CorrelationIdWellFormedTest, Charset) {
  EXPECT_TRUE(isWellFormedId("AZaz09._:-", 128));
  EXPECT_FALSE(isWellFormedId("", 128));
  EXPECT_FALSE(isWellFormedId("abcd", 3));
  EXPECT_TRUE(isWellFormedId("abc", 3));
  for (char c : std::string(" /+=,;\"'\\@!#$%&*()[]{}<>?~`|^\t")) {
    EXPECT_FALSE(isWellFormedId(std::string("a") + c, 128)) << c;
  }
}

TEST(CorrelationIdFactoryTest, ToJson) {
  CorrelationIdConfig config;
  config.header = "x-trace-ref";
  config.accept = {"x-request-id", "x-amzn-trace-id"};
  config.generate = false;
  config.echo = false;
  config.max_length = 64;
  CorrelationIdFilterFactory factory(config);
  EXPECT_EQ(factory.toJson(), nlohmann::json::parse(R"({
    "header": "x-trace-ref", "accept": ["x-request-id", "x-amzn-trace-id"],
    "generate": false, "echo": false, "max_length": 64})"));
}

TEST(CorrelationIdFactoryTest, RegisteredAsBuiltin) {
  FilterRegistry registry;
  registerBuiltinFilters(registry);
  const FilterRegistration* registration = registry.find("correlation_id");
  ASSERT_NE(registration, nullptr);
  const FilterBuildFn* build = &registration->build;

  prometheus::Registry metrics;
  common::SimulatedTimeSource time;
  BuildContext ctx{"filters[0].correlation_id", metrics, time};
  YAML::Node root = YAML::Load("correlation_id: {header: X-Trace-Ref}");
  FilterFactoryPtr factory = (*build)(root["correlation_id"], ctx);
  ASSERT_NE(factory, nullptr);
  EXPECT_EQ(factory->toJson()["header"], "x-trace-ref");

  test::FakeFilterCallbacks callbacks;
  http::StreamFilterPtr filter = factory->create(callbacks.workerContext(), nullptr);
  ASSERT_NE(filter, nullptr);
}

class CorrelationIdConfigTest : public testing::Test {
 protected:
  static constexpr const char* Path = "filters[0].correlation_id";

  static CorrelationIdConfig parse(const std::string& yaml) {
    YAML::Node root = YAML::Load(yaml);
    return parseCorrelationIdConfig(root["correlation_id"], Path);
  }

  // Parses `yaml`, which must fail, and returns the error.
  static config::ConfigError parseError(const std::string& yaml) {
    return test::configErrorOf([&] { parse(yaml); }, yaml);
  }
};

void expectDefaults(const CorrelationIdConfig& c) {
  EXPECT_EQ(c.header, "x-correlation-id");
  EXPECT_EQ(c.accept, std::vector<std::string>{"x-request-id"});
  EXPECT_TRUE(c.generate);
  EXPECT_TRUE(c.echo);
  EXPECT_EQ(c.max_length, 128u);
}

TEST_F(CorrelationIdConfigTest, EmptyMapMeansDefaults) {
  expectDefaults(parse("correlation_id: {}"));
}

TEST_F(CorrelationIdConfigTest, NullMeansDefaults) { expectDefaults(parse("correlation_id:")); }

TEST_F(CorrelationIdConfigTest, EveryKey) {
  CorrelationIdConfig c = parse(R"(
correlation_id:
  header: X-Trace-Ref
  accept: [X-Request-ID, traceparent-id]
  generate: false
  echo: false
  max_length: 64
)");
  EXPECT_EQ(c.header, "x-trace-ref");
  EXPECT_EQ(c.accept, (std::vector<std::string>{"x-request-id", "traceparent-id"}));
  EXPECT_FALSE(c.generate);
  EXPECT_FALSE(c.echo);
  EXPECT_EQ(c.max_length, 64u);
}

TEST_F(CorrelationIdConfigTest, EachKeyAlone) {
  EXPECT_EQ(parse("correlation_id: {header: X-Req}").header, "x-req");
  EXPECT_EQ(parse("correlation_id: {header: X-Req}").accept,
            std::vector<std::string>{"x-request-id"});
  EXPECT_TRUE(parse("correlation_id: {accept: []}").accept.empty());
  EXPECT_FALSE(parse("correlation_id: {generate: false}").generate);
  EXPECT_FALSE(parse("correlation_id: {echo: false}").echo);
  EXPECT_EQ(parse("correlation_id: {max_length: 1}").max_length, 1u);
  EXPECT_EQ(parse("correlation_id: {max_length: 1024}").max_length, 1024u);
}

TEST_F(CorrelationIdConfigTest, AcceptDropsDuplicatesAndTheMainHeader) {
  EXPECT_EQ(parse("correlation_id: {accept: [x-a, X-A, x-correlation-id, x-b]}").accept,
            (std::vector<std::string>{"x-a", "x-b"}));
  EXPECT_TRUE(parse("correlation_id: {header: x-request-id}").accept.empty());
}

TEST_F(CorrelationIdConfigTest, UnknownKey) {
  config::ConfigError e = parseError(R"(
correlation_id:
  header: x-id
  genrate: false
)");
  EXPECT_EQ(e.path(), std::string(Path) + ".genrate");
  EXPECT_EQ(e.line(), 4);
}

TEST_F(CorrelationIdConfigTest, NotAMap) {
  config::ConfigError e = parseError("correlation_id: [header]");
  EXPECT_EQ(e.path(), Path);
  EXPECT_EQ(e.line(), 1);
}

TEST_F(CorrelationIdConfigTest, WrongTypes) {
  struct Case {
    const char* yaml;
    const char* key;
  };
  for (const Case& c : {
           Case{"generate: maybe", "generate"},
           Case{"echo: [true]", "echo"},
           Case{"max_length: many", "max_length"},
           Case{"max_length: 0", "max_length"},
           Case{"max_length: 1025", "max_length"},
           Case{"header: {name: x}", "header"},
           Case{"accept: x-request-id", "accept"},
       }) {
    // A valid key first, so the error is not at the start of the map.
    const std::string first = std::string(c.key) == "generate" ? "echo: true" : "generate: true";
    config::ConfigError e = parseError("correlation_id:\n  " + first + "\n  " + c.yaml);
    EXPECT_EQ(e.path(), std::string(Path) + "." + c.key) << c.yaml;
    EXPECT_EQ(e.line(), 3) << c.yaml;
    EXPECT_EQ(e.column(), 3 + static_cast<int>(std::string(c.key).size()) + 2) << c.yaml;
  }
}

TEST_F(CorrelationIdConfigTest, InvalidHeaderNames) {
  config::ConfigError e = parseError("correlation_id:\n  header: 'x id'");
  EXPECT_EQ(e.path(), std::string(Path) + ".header");
  EXPECT_EQ(e.line(), 2);

  e = parseError("correlation_id:\n  header: ''");
  EXPECT_EQ(e.path(), std::string(Path) + ".header");

  e = parseError("correlation_id:\n  header: Content-Length");
  EXPECT_EQ(e.path(), std::string(Path) + ".header");

  e = parseError("correlation_id:\n  accept:\n    - x-request-id\n    - 'x:id'\n");
  EXPECT_EQ(e.path(), std::string(Path) + ".accept[1]");
  EXPECT_EQ(e.line(), 4);
}

}  // namespace
}  // namespace switchyard::filters::correlation_id
