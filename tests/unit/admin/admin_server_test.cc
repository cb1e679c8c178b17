#include "proxy/admin/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <atomic>
#include <cctype>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::admin {
namespace {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int connectTo(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // A safety net so a broken server fails the test instead of hanging it; nothing waits on it.
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool canConnect(uint16_t port) {
  const int fd = connectTo(port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// Sends `raw` as is and returns all the server sent until it closed the connection.
std::string sendRawText(uint16_t port, const std::string& raw) {
  const int fd = connectTo(port);
  if (fd < 0) {
    ADD_FAILURE() << "cannot connect to 127.0.0.1:" << port;
    return "";
  }
  for (size_t sent = 0; sent < raw.size();) {
    const ssize_t n = send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string in;
  char buf[16384];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return in;
}

HttpReply sendRaw(uint16_t port, const std::string& raw) {
  HttpReply reply;
  const std::string in = sendRawText(port, raw);
  const size_t head_end = in.find("\r\n\r\n");
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) {
    ADD_FAILURE() << "malformed response: " << in;
    return reply;
  }
  reply.status = std::stoi(in.substr(9, 3));
  size_t line = in.find("\r\n") + 2;
  while (line < head_end) {
    const size_t end = in.find("\r\n", line);
    const std::string header = in.substr(line, end - line);
    const size_t colon = header.find(':');
    const size_t value = header.find_first_not_of(' ', colon + 1);
    reply.headers[lower(header.substr(0, colon))] =
        value == std::string::npos ? "" : header.substr(value);
    line = end + 2;
  }
  reply.body = in.substr(head_end + 4);
  return reply;
}

HttpReply request(uint16_t port, const std::string& method, const std::string& target,
                  const std::vector<std::pair<std::string, std::string>>& headers = {},
                  const std::string& body = "") {
  std::string raw = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers)
    raw.append(name).append(": ").append(value).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  raw += "\r\n" + body;
  return sendRaw(port, raw);
}

config::AdminConfig loopbackConfig(std::string token = "", uint16_t port = 0) {
  config::AdminConfig config;
  config.address = {"127.0.0.1", port, "127.0.0.1:" + std::to_string(port)};
  config.token = std::move(token);
  return config;
}

nlohmann::json parseProblem(const HttpReply& reply) {
  EXPECT_EQ(reply.headers.count("content-type"), 1u);
  if (reply.headers.count("content-type") != 0) {
    EXPECT_EQ(reply.headers.at("content-type"), "application/problem+json");
  }
  nlohmann::json problem = nlohmann::json::parse(reply.body, nullptr, false);
  EXPECT_FALSE(problem.is_discarded()) << reply.body;
  if (problem.is_discarded()) return nlohmann::json::object();
  EXPECT_EQ(problem.value("type", ""), "about:blank");
  EXPECT_EQ(problem.value("status", 0), reply.status);
  EXPECT_TRUE(problem.contains("title"));
  EXPECT_TRUE(problem.contains("detail"));
  return problem;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void startServer(std::string token = "") {
    server_ = std::make_unique<AdminServer>(loopbackConfig(std::move(token)), time_);
    server_->addHandler("GET", "/healthz", healthzHandler());
    server_->addHandler("GET", "/ready", readyHandler([this] { return ready_.load(); }));
    server_->addHandler(
        "POST", "/rollback",
        [this](const AdminRequest&) {
          ++mutations_;
          AdminResponse response;
          response.body = R"({"rolled_back":true})";
          return response;
        },
        /*mutating=*/true);
    for (auto& [method, path, handler, mutating] : extra_) {
      server_->addHandler(method, path, handler, mutating);
    }
    if (max_body_ != 0) server_->setMaxBodyBytes(max_body_);
    if (max_headers_ != 0) server_->setMaxHeadersBytes(max_headers_);
    server_->start();
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  common::RealTimeSource time_;
  std::unique_ptr<AdminServer> server_;
  uint16_t port_ = 0;
  std::atomic<bool> ready_{true};
  std::atomic<int> mutations_{0};
  std::vector<std::tuple<std::string, std::string, AdminHandler, bool>> extra_;
  size_t max_body_ = 0;
  size_t max_headers_ = 0;
};

TEST_F(AdminServerTest, HealthzAnswersOk) {
  startServer();
  const HttpReply reply = request(port_, "GET", "/healthz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-type"), "application/json");
  EXPECT_EQ(reply.body, R"({"status":"ok"})");
}

TEST_F(AdminServerTest, ReadyFollowsTheCallback) {
  startServer();
  HttpReply reply = request(port_, "GET", "/ready");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, R"({"ready":true})");

  ready_ = false;
  reply = request(port_, "GET", "/ready");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, R"({"ready":false})");
}

TEST_F(AdminServerTest, MetricsServesRegistryAndExtrasInTextFormat) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("switchyard_test_requests_total")
      .Help("Requests seen by the test.")
      .Register(*registry)
      .Add({{"route", "api"}})
      .Increment(3);
  auto extra = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("switchyard_test_extra")
      .Help("An extra.")
      .Register(*extra)
      .Add({})
      .Set(7);
  extra_.emplace_back("GET", "/metrics", metricsHandler(registry, {extra}), false);
  startServer();

  const HttpReply reply = request(port_, "GET", "/metrics");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(reply.body.find("# TYPE switchyard_test_requests_total counter"), std::string::npos)
      << reply.body;
  EXPECT_NE(reply.body.find("switchyard_test_requests_total{route=\"api\"} 3"), std::string::npos)
      << reply.body;
  EXPECT_NE(reply.body.find("switchyard_test_extra 7"), std::string::npos) << reply.body;
}

TEST_F(AdminServerTest, JsonHandlerPrettyPrints) {
  extra_.emplace_back("GET", "/config", jsonHandler([] {
                        return nlohmann::json{{"workers", 2}};
                      }),
                      false);
  startServer();
  const HttpReply reply = request(port_, "GET", "/config");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-type"), "application/json");
  EXPECT_EQ(reply.body, "{\n  \"workers\": 2\n}");
}

TEST_F(AdminServerTest, UnknownPathIs404ProblemThatListsNothing) {
  startServer("secret-token");
  const HttpReply reply = request(port_, "GET", "/nope");
  EXPECT_EQ(reply.status, 404);
  const nlohmann::json problem = parseProblem(reply);
  EXPECT_EQ(problem.value("title", ""), "Not Found");
  EXPECT_EQ(reply.body.find("/healthz"), std::string::npos);
  EXPECT_EQ(reply.body.find("/rollback"), std::string::npos);
  EXPECT_EQ(reply.body.find("secret-token"), std::string::npos);
}

TEST_F(AdminServerTest, WrongMethodIs405WithAllow) {
  startServer();
  HttpReply reply = request(port_, "POST", "/healthz");
  EXPECT_EQ(reply.status, 405);
  EXPECT_EQ(reply.header("allow"), "GET, HEAD");
  parseProblem(reply);

  reply = request(port_, "GET", "/rollback");
  EXPECT_EQ(reply.status, 405);
  EXPECT_EQ(reply.header("allow"), "POST");
  EXPECT_EQ(mutations_, 0);
}

TEST_F(AdminServerTest, HeadIsAnsweredByTheGetHandlerWithoutBody) {
  startServer();
  const HttpReply reply = request(port_, "HEAD", "/healthz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-length"), "15");
  EXPECT_EQ(reply.body, "");

  // On a kept-alive connection the next response must start right after the HEAD reply's head.
  const std::string both =
      sendRawText(port_,
                  "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
                  "Connection: close\r\n\r\n");
  const size_t second = both.find("\r\n\r\n") + 4;
  EXPECT_EQ(both.compare(second, 15, "HTTP/1.1 200 OK"), 0) << both;
  EXPECT_EQ(both.substr(both.size() - 15), R"({"status":"ok"})") << both;
}

TEST_F(AdminServerTest, NoContentRepliesCarryNoBody) {
  extra_.emplace_back(
      "DELETE", "/cache",
      [](const AdminRequest&) {
        AdminResponse response;
        response.status = 204;
        response.body = "dropped";
        return response;
      },
      false);
  startServer();
  const HttpReply reply = request(port_, "DELETE", "/cache");
  EXPECT_EQ(reply.status, 204);
  EXPECT_EQ(reply.body, "");
}

TEST_F(AdminServerTest, HandlerSeesMethodPathQueryHeadersAndBody) {
  AdminRequest seen;
  extra_.emplace_back(
      "PUT", "/echo",
      [&seen](const AdminRequest& request) {
        seen = request;
        AdminResponse response = problemResponse(202, "Accepted", "queued");
        response.content_type = "text/plain";
        response.body = "ok";
        response.headers.emplace_back("X-Admin-Test", "yes");
        response.headers.emplace_back("Content-Type", "ignored/by-the-server");
        return response;
      },
      false);
  startServer();

  const HttpReply reply =
      request(port_, "PUT", "/echo?key=a%20b&plus=c+d&flag&key=second",
              {{"X-Custom-Header", "one"}, {"x-custom-header", "two"}}, "payload");
  EXPECT_EQ(reply.status, 202);
  EXPECT_EQ(reply.body, "ok");
  EXPECT_EQ(reply.header("content-type"), "text/plain");
  EXPECT_EQ(reply.header("x-admin-test"), "yes");

  EXPECT_EQ(seen.method, "PUT");
  EXPECT_EQ(seen.path, "/echo");
  EXPECT_EQ(seen.query, "key=a%20b&plus=c+d&flag&key=second");
  EXPECT_EQ(seen.query_params,
            (std::map<std::string, std::string>{{"key", "a b"}, {"plus", "c d"}, {"flag", ""}}));
  EXPECT_EQ(seen.headers["x-custom-header"], "one, two");
  EXPECT_EQ(seen.headers["host"], "127.0.0.1");
  EXPECT_EQ(seen.body, "payload");
}

TEST_F(AdminServerTest, HandlerExceptionIs500WithoutItsMessage) {
  extra_.emplace_back(
      "GET", "/boom",
      [](const AdminRequest&) -> AdminResponse {
        throw std::runtime_error("internal detail 12345");
      },
      false);
  startServer();
  const HttpReply reply = request(port_, "GET", "/boom");
  EXPECT_EQ(reply.status, 500);
  parseProblem(reply);
  EXPECT_EQ(reply.body.find("12345"), std::string::npos);
  // The admin thread survives.
  EXPECT_EQ(request(port_, "GET", "/healthz").status, 200);
}

TEST_F(AdminServerTest, MutatingHandlerWithoutTokenIs401) {
  startServer("s3cret");
  const HttpReply reply = request(port_, "POST", "/rollback");
  EXPECT_EQ(reply.status, 401);
  EXPECT_EQ(reply.header("www-authenticate").rfind("Bearer", 0), 0u);
  parseProblem(reply);
  EXPECT_EQ(mutations_, 0);
}

TEST_F(AdminServerTest, MutatingHandlerWithWrongTokenIs401) {
  startServer("s3cret");
  for (const char* auth : {"Bearer s3cre", "Bearer s3cret0", "Bearer S3CRET", "Basic s3cret",
                           "Bearers3cret", "Bearer "}) {
    const HttpReply reply = request(port_, "POST", "/rollback", {{"Authorization", auth}});
    EXPECT_EQ(reply.status, 401) << auth;
    EXPECT_EQ(reply.header("www-authenticate").rfind("Bearer", 0), 0u) << auth;
    EXPECT_EQ(reply.body.find("s3cret"), std::string::npos) << auth;
  }
  EXPECT_EQ(mutations_, 0);
}

TEST_F(AdminServerTest, MutatingHandlerWithRightTokenRuns) {
  startServer("s3cret");
  HttpReply reply = request(port_, "POST", "/rollback", {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, R"({"rolled_back":true})");
  // The scheme is case-insensitive (RFC 7235); surrounding blanks are not part of the token.
  reply = request(port_, "POST", "/rollback", {{"Authorization", "bearer   s3cret  "}});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(mutations_, 2);
}

TEST_F(AdminServerTest, MutatingHandlerWithoutConfiguredTokenIs403) {
  startServer("");
  const HttpReply reply = request(port_, "POST", "/rollback", {{"Authorization", "Bearer "}});
  EXPECT_EQ(reply.status, 403);
  const nlohmann::json problem = parseProblem(reply);
  EXPECT_NE(problem.value("detail", "").find("admin token is not configured"), std::string::npos);
  EXPECT_EQ(request(port_, "POST", "/rollback", {{"Authorization", "Bearer anything"}}).status,
            403);
  EXPECT_EQ(mutations_, 0);
  // Read-only endpoints do not need a token.
  EXPECT_EQ(request(port_, "GET", "/healthz").status, 200);
}

TEST_F(AdminServerTest, SetTokenChangesTheAcceptedToken) {
  startServer("old");
  EXPECT_EQ(request(port_, "POST", "/rollback", {{"Authorization", "Bearer old"}}).status, 200);

  server_->setToken("new");
  EXPECT_EQ(request(port_, "POST", "/rollback", {{"Authorization", "Bearer old"}}).status, 401);
  EXPECT_EQ(request(port_, "POST", "/rollback", {{"Authorization", "Bearer new"}}).status, 200);

  server_->setToken("");
  EXPECT_EQ(request(port_, "POST", "/rollback", {{"Authorization", "Bearer new"}}).status, 403);
  EXPECT_EQ(mutations_, 2);
}

TEST_F(AdminServerTest, BodyOverTheLimitIsRejected) {
  int calls = 0;
  extra_.emplace_back(
      "POST", "/echo",
      [&calls](const AdminRequest& request) {
        ++calls;
        AdminResponse response;
        response.content_type = "text/plain";
        response.body = std::to_string(request.body.size());
        return response;
      },
      false);
  max_body_ = 1024;
  startServer();

  HttpReply reply = request(port_, "POST", "/echo", {}, std::string(512, 'x'));
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "512");
  // evhttp refuses on the announced length, before reading the body.
  reply = sendRaw(port_, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n");
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(calls, 1);
}

TEST_F(AdminServerTest, DefaultBodyLimitIsOneMebibyte) {
  int calls = 0;
  extra_.emplace_back(
      "POST", "/echo",
      [&calls](const AdminRequest&) {
        ++calls;
        return AdminResponse{};
      },
      false);
  startServer();
  const HttpReply reply =
      sendRaw(port_, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                         std::to_string(AdminServer::DefaultMaxBodyBytes + 1) + "\r\n\r\n");
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(calls, 0);
}

TEST_F(AdminServerTest, HeadersOverTheLimitAreRejected) {
  max_headers_ = 1024;
  startServer();
  const HttpReply reply = request(port_, "GET", "/healthz", {{"X-Big", std::string(3000, 'h')}});
  EXPECT_GE(reply.status, 400);
  EXPECT_LT(reply.status, 500);
  EXPECT_EQ(request(port_, "GET", "/healthz").status, 200);
}

TEST_F(AdminServerTest, StopIsIdempotentAndReleasesThePort) {
  startServer();
  const uint16_t port = port_;
  EXPECT_EQ(request(port, "GET", "/healthz").status, 200);

  server_->stop();
  server_->stop();
  EXPECT_EQ(server_->port(), 0);
  EXPECT_FALSE(canConnect(port));

  AdminServer again(loopbackConfig("", port), time_);
  again.addHandler("GET", "/healthz", healthzHandler());
  ASSERT_NO_THROW(again.start());
  EXPECT_EQ(again.port(), port);
  EXPECT_EQ(request(port, "GET", "/healthz").status, 200);
  again.stop();
}

TEST_F(AdminServerTest, RestartsAfterStop) {
  startServer();
  server_->stop();
  server_->start();
  EXPECT_NE(server_->port(), 0);
  EXPECT_EQ(request(server_->port(), "GET", "/healthz").status, 200);
}

TEST_F(AdminServerTest, BindFailureThrowsWithTheAddress) {
  startServer();
  AdminServer second(loopbackConfig("", port_), time_);
  try {
    second.start();
    FAIL() << "second listener on the same port started";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port_)), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(second.port(), 0);
  EXPECT_EQ(request(port_, "GET", "/healthz").status, 200);

  config::AdminConfig bad = loopbackConfig();
  bad.address.host = "localhost";
  AdminServer third(bad, time_);
  EXPECT_THROW(third.start(), std::runtime_error);
}

TEST_F(AdminServerTest, HandlersAreRegisteredBeforeStartOnly) {
  startServer();
  EXPECT_THROW(server_->addHandler("GET", "/late", healthzHandler()), std::logic_error);
  EXPECT_THROW(server_->start(), std::logic_error);
}

TEST(AdminServerHelpersTest, ProblemResponseShape) {
  const AdminResponse response = problemResponse(429, "Too Many Requests", "slow down");
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(response.content_type, "application/problem+json");
  EXPECT_EQ(nlohmann::json::parse(response.body), (nlohmann::json{{"type", "about:blank"},
                                                                  {"title", "Too Many Requests"},
                                                                  {"status", 429},
                                                                  {"detail", "slow down"}}));
}

TEST(AdminServerHelpersTest, ConstantTimeEquals) {
  EXPECT_TRUE(constantTimeEquals("", ""));
  EXPECT_TRUE(constantTimeEquals("token", "token"));
  EXPECT_FALSE(constantTimeEquals("token", "tokeN"));
  EXPECT_FALSE(constantTimeEquals("token", std::string_view("token\0", 6)));
  EXPECT_FALSE(constantTimeEquals("", "x"));
  EXPECT_FALSE(constantTimeEquals("tok", "token"));
}

TEST_F(AdminServerTest, EveryMutatingRequestIsRecordedNewestFirstWhateverItsOutcome) {
  startServer("s3cret");
  // Read-only requests are not actions.
  EXPECT_EQ(request(port_, "GET", "/healthz").status, 200);
  EXPECT_EQ(request(port_, "POST", "/rollback", {}, R"({"route": "api",  "why": "test"})").status,
            401);
  EXPECT_EQ(request(port_, "POST", "/rollback",
                    {{"Authorization", "Bearer s3cret"}, {"X-Switchyard-Client", "console"}},
                    "not json\x01 at all")
                .status,
            200);
  const std::vector<AdminAction> actions = server_->actions();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].status, 200);
  EXPECT_EQ(actions[0].client, "console");
  EXPECT_EQ(actions[0].summary, "not json at all");  // control bytes dropped
  EXPECT_EQ(actions[0].remote, "127.0.0.1");
  EXPECT_EQ(actions[1].status, 401);
  EXPECT_EQ(actions[1].client, "api");
  EXPECT_EQ(actions[1].method, "POST");
  EXPECT_EQ(actions[1].path, "/rollback");
  EXPECT_EQ(actions[1].summary, R"({"route":"api","why":"test"})");  // compacted

  // The same, as JSON for the console; no token needed to read it, and the token never in it.
  const HttpReply reply = request(port_, "GET", "/actions");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body.find("s3cret"), std::string::npos);
  const nlohmann::json body = nlohmann::json::parse(reply.body);
  ASSERT_EQ(body["actions"].size(), 2u);
  EXPECT_EQ(body["actions"][0]["client"], "console");
  EXPECT_EQ(body["actions"][1]["status"], 401);
  EXPECT_FALSE(body["actions"][0]["time"].get<std::string>().empty());
}

TEST_F(AdminServerTest, TheActionLogIsBoundedAndItsFieldsAreCut) {
  startServer("s3cret");
  const std::string big(4000, 'x');
  for (size_t i = 0; i < AdminServer::MaxActions + 5; ++i) {
    // A client name that is not a plain token is recorded as "api".
    ASSERT_EQ(
        request(port_, "POST", "/rollback", {{"X-Switchyard-Client", "evil<script>"}}, big).status,
        401);
  }
  const std::vector<AdminAction> actions = server_->actions();
  EXPECT_EQ(actions.size(), AdminServer::MaxActions);
  EXPECT_EQ(actions[0].client, "api");
  EXPECT_EQ(actions[0].summary.size(), AdminServer::MaxActionSummaryBytes);
  EXPECT_EQ(actions[0].summary.substr(actions[0].summary.size() - 3), "...");
}

}  // namespace
}  // namespace switchyard::admin
