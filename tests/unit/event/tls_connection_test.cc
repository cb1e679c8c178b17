// event::Connection with its TLS layer, both ends in this thread on one event loop over a
// socketpair: the loop is turned (without blocking) until what a test waits for has happened, so
// nothing sleeps and nothing depends on timing.

#include <event2/event.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "proxy/event/connection.h"
#include "proxy/event/tls.h"
#include "tests/support/test_certificates.h"

namespace switchyard::event {
namespace {

using test::makeTestCa;
using test::makeTestLeaf;
using test::TestCertificate;

struct Recorder final : public ConnectionCallbacks {
  void onReadReady(Buffer& input) override {
    received += input.toString();
    input.drain(input.length());
    if (on_read) on_read();
  }
  void onClosed(CloseReason r) override {
    closed = true;
    reason = r;
  }
  void onConnected() override { connected = true; }
  void onAboveWriteBufferHighWatermark() override { ++above; }
  void onBelowWriteBufferLowWatermark() override { ++below; }

  std::string received;
  bool connected = false;
  bool closed = false;
  CloseReason reason = CloseReason::LocalClose;
  int above = 0;
  int below = 0;
  std::function<void()> on_read;
};

class TlsConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "tls-conn-" + std::to_string(::getpid()) + "-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ca_ = makeTestCa("Test CA");
    const TestCertificate server = makeTestLeaf("server", {"server.test"}, &ca_);
    write("ca.crt", ca_.certificate);
    write("server.crt", server.certificate);
    write("server.key", server.key);
    write("other-ca.crt", makeTestCa("Other CA").certificate);
    base_.reset(event_base_new());
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    return path;
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::shared_ptr<const ServerTlsContext> serverContext(ServerTlsSettings settings = {}) {
    settings.certificates = {{path("server.crt"), path("server.key")}};
    std::string error;
    auto ctx = ServerTlsContext::create(settings, error);
    EXPECT_NE(ctx, nullptr) << error;
    return ctx;
  }
  std::shared_ptr<const ClientTlsContext> clientContext(const std::string& ca = "ca.crt",
                                                        const std::string& sni = "server.test") {
    ClientTlsSettings settings;
    settings.ca_file = path(ca);
    settings.sni = sni;
    std::string error;
    auto ctx = ClientTlsContext::create(settings, error);
    EXPECT_NE(ctx, nullptr) << error;
    return ctx;
  }

  // A connected pair: [0] for the server's Connection, [1] for the client's (or raw).
  void socketPair(int fds[2]) {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  }

  // Turns the loop until `done` (at most a bounded number of turns).
  bool turnUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 20000; ++i) {
      if (done()) return true;
      event_base_loop(base_.get(), EVLOOP_NONBLOCK);
    }
    return done();
  }

  std::string dir_;
  TestCertificate ca_;
  EventBasePtr base_;
};

TEST_F(TlsConnectionTest, HandshakeThenDataBothWays) {
  int fds[2];
  socketPair(fds);
  Recorder server_cb, client_cb;
  auto sctx = serverContext();
  auto cctx = clientContext();
  Connection server(base_.get(), fds[0], false, server_cb);
  server.startTls(sctx->newSsl(), sctx);
  SslSessionPtr session;
  Connection client(base_.get(), fds[1], true, client_cb);
  client.startTls(cctx->newSsl("127.0.0.1", &session), cctx);
  // Written before the handshake: held until it is done.
  client.write(std::string_view("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(turnUntil([&] { return server_cb.received.size() == 18; }));
  EXPECT_TRUE(server_cb.connected);
  EXPECT_TRUE(client_cb.connected);
  EXPECT_EQ(server_cb.received, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_STREQ(client.tlsVersion(), "TLSv1.3");
  EXPECT_STREQ(server.tlsVersion(), "TLSv1.3");
  EXPECT_EQ(server.tlsFailure(), TlsFailure::None);

  // A large answer: many records, the socket's buffer fills, watermarks go up and come down.
  server.setWatermarks(16 * 1024, 64 * 1024);
  std::string big(1024 * 1024, 'x');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  server.write(std::string_view(big));
  ASSERT_TRUE(turnUntil([&] { return client_cb.received.size() == big.size(); }));
  EXPECT_EQ(client_cb.received, big);
  EXPECT_EQ(server_cb.above, 1);
  EXPECT_EQ(server_cb.below, 1);
  EXPECT_EQ(server.outputLength(), 0u);
  // The server keeps no socket a parked connection could take.
  EXPECT_EQ(server.releaseFd(), -1);

  // A close after the output drains: the client sees the end of the stream.
  server.close(Transport::CloseType::FlushWrite);
  ASSERT_TRUE(turnUntil([&] { return client_cb.closed; }));
  EXPECT_EQ(client_cb.reason, CloseReason::RemoteClose);
  // A session to resume arrived with the data.
  EXPECT_NE(session, nullptr);
}

TEST_F(TlsConnectionTest, ReadDisableHoldsDecryptedInputBack) {
  int fds[2];
  socketPair(fds);
  Recorder server_cb, client_cb;
  auto sctx = serverContext();
  auto cctx = clientContext();
  Connection server(base_.get(), fds[0], false, server_cb);
  server.startTls(sctx->newSsl(), sctx);
  Connection client(base_.get(), fds[1], true, client_cb);
  client.startTls(cctx->newSsl("127.0.0.1", nullptr), cctx);
  ASSERT_TRUE(turnUntil([&] { return server_cb.connected && client_cb.connected; }));
  server.readDisable(true);
  client.write(std::string_view("first"));
  EXPECT_FALSE(turnUntil([&] { return !server_cb.received.empty(); }));
  server.readDisable(false);
  ASSERT_TRUE(turnUntil([&] { return server_cb.received == "first"; }));
}

TEST_F(TlsConnectionTest, SessionIsResumed) {
  auto sctx = serverContext();
  auto cctx = clientContext();
  SslSessionPtr session;
  for (int round = 0; round < 2; ++round) {
    int fds[2];
    socketPair(fds);
    Recorder server_cb, client_cb;
    Connection server(base_.get(), fds[0], false, server_cb);
    server.startTls(sctx->newSsl(), sctx);
    Connection client(base_.get(), fds[1], true, client_cb);
    client.startTls(cctx->newSsl("127.0.0.1", &session), cctx);
    client.write(std::string_view("ping"));
    ASSERT_TRUE(turnUntil([&] { return server_cb.received == "ping"; }));
    server.write(std::string_view("pong"));
    ASSERT_TRUE(turnUntil([&] { return client_cb.received == "pong"; }));
    EXPECT_EQ(client.tlsSessionReused(), round == 1);
    client.close(Transport::CloseType::FlushWrite);
  }
}

TEST_F(TlsConnectionTest, ClientRefusesUnknownCa) {
  int fds[2];
  socketPair(fds);
  Recorder server_cb, client_cb;
  auto sctx = serverContext();
  auto cctx = clientContext("other-ca.crt");
  Connection server(base_.get(), fds[0], false, server_cb);
  server.startTls(sctx->newSsl(), sctx);
  Connection client(base_.get(), fds[1], true, client_cb);
  client.startTls(cctx->newSsl("127.0.0.1", nullptr), cctx);
  client.write(std::string_view("never sent"));
  ASSERT_TRUE(turnUntil([&] { return client_cb.closed && server_cb.closed; }));
  EXPECT_EQ(client_cb.reason, CloseReason::ConnectFailed);
  EXPECT_FALSE(client_cb.connected);
  EXPECT_STREQ(client.tlsFailureReason(), "unknown_ca");
  EXPECT_NE(client.tlsError().find("certificate verify failed"), std::string_view::npos)
      << client.tlsError();
  // The server hears the client's alert.
  EXPECT_EQ(server.tlsFailure(), TlsFailure::BadCertificate);
  EXPECT_TRUE(server_cb.received.empty());
}

TEST_F(TlsConnectionTest, ClientRefusesWrongName) {
  int fds[2];
  socketPair(fds);
  Recorder server_cb, client_cb;
  auto sctx = serverContext();
  auto cctx = clientContext("ca.crt", "elsewhere.test");
  Connection server(base_.get(), fds[0], false, server_cb);
  server.startTls(sctx->newSsl(), sctx);
  Connection client(base_.get(), fds[1], true, client_cb);
  client.startTls(cctx->newSsl("127.0.0.1", nullptr), cctx);
  ASSERT_TRUE(turnUntil([&] { return client_cb.closed; }));
  EXPECT_STREQ(client.tlsFailureReason(), "hostname_mismatch");
}

TEST_F(TlsConnectionTest, MissingClientCertificate) {
  int fds[2];
  socketPair(fds);
  Recorder server_cb, client_cb;
  ServerTlsSettings settings;
  settings.client_ca = path("ca.crt");
  settings.require_client_certificate = true;
  auto sctx = serverContext(settings);
  auto cctx = clientContext();
  Connection server(base_.get(), fds[0], false, server_cb);
  server.startTls(sctx->newSsl(), sctx);
  Connection client(base_.get(), fds[1], true, client_cb);
  client.startTls(cctx->newSsl("127.0.0.1", nullptr), cctx);
  client.write(std::string_view("hello"));
  ASSERT_TRUE(turnUntil([&] { return server_cb.closed; }));
  EXPECT_EQ(server.tlsFailure(), TlsFailure::NoClientCertificate);
  EXPECT_FALSE(server_cb.connected);
  EXPECT_TRUE(server_cb.received.empty());
}

TEST_F(TlsConnectionTest, PlaintextIsAnsweredInPlaintext) {
  int fds[2];
  socketPair(fds);
  Recorder server_cb;
  auto sctx = serverContext();
  Connection server(base_.get(), fds[0], false, server_cb);
  server.startTls(sctx->newSsl(), sctx);
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fds[1], request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(turnUntil([&] { return server.tlsFailure() == TlsFailure::Plaintext; }));
  EXPECT_TRUE(server.closing());
  std::string answer;
  ASSERT_TRUE(turnUntil([&] {
    char buf[512];
    const ssize_t n = ::recv(fds[1], buf, sizeof(buf), 0);
    if (n > 0) answer.append(buf, static_cast<size_t>(n));
    return n == 0;  // the server shut its side down after the answer
  }));
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << answer;
  const size_t body = answer.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_NE(answer.find("Content-Length: " + std::to_string(answer.size() - body - 4)),
            std::string::npos)
      << answer;
  // The client closes too: the lingering close ends.
  ::close(fds[1]);
  ASSERT_TRUE(turnUntil([&] { return server_cb.closed; }));
  EXPECT_EQ(server_cb.reason, CloseReason::LocalClose);
  EXPECT_FALSE(server_cb.connected);
}

TEST_F(TlsConnectionTest, PortProbeIsNotAHandshake) {
  int fds[2];
  socketPair(fds);
  Recorder server_cb;
  auto sctx = serverContext();
  Connection server(base_.get(), fds[0], false, server_cb);
  server.startTls(sctx->newSsl(), sctx);
  ::close(fds[1]);
  ASSERT_TRUE(turnUntil([&] { return server_cb.closed; }));
  EXPECT_EQ(server_cb.reason, CloseReason::RemoteClose);
  EXPECT_EQ(server.tlsFailure(), TlsFailure::None);
}

TEST_F(TlsConnectionTest, ServerChoosesCertificateBySni) {
  const TestCertificate other = makeTestLeaf("other", {"*.other.test"}, &ca_);
  write("other.crt", other.certificate);
  write("other.key", other.key);
  ServerTlsSettings settings;
  settings.certificates = {{path("server.crt"), path("server.key")},
                           {path("other.crt"), path("other.key")}};
  std::string error;
  auto sctx = ServerTlsContext::create(settings, error);
  ASSERT_NE(sctx, nullptr) << error;
  for (const char* name : {"server.test", "api.other.test"}) {
    int fds[2];
    socketPair(fds);
    Recorder server_cb, client_cb;
    auto cctx = clientContext("ca.crt", name);
    Connection server(base_.get(), fds[0], false, server_cb);
    server.startTls(sctx->newSsl(), sctx);
    Connection client(base_.get(), fds[1], true, client_cb);
    client.startTls(cctx->newSsl("127.0.0.1", nullptr), cctx);
    ASSERT_TRUE(turnUntil([&] { return client_cb.connected || client_cb.closed; }));
    EXPECT_TRUE(client_cb.connected) << name << ": " << client.tlsError();
  }
}

TEST(TlsFilesTest, Checks) {
  EXPECT_EQ(parseTlsVersion("1.2"), TLS1_2_VERSION);
  EXPECT_EQ(parseTlsVersion("1.3"), TLS1_3_VERSION);
  EXPECT_EQ(parseTlsVersion("1.1"), 0);
  EXPECT_NE(checkCertificateFile("/nonexistent/x.crt").find("No such file"), std::string::npos);
  EXPECT_STREQ(tlsFailureName(TlsFailure::NoClientCertificate), "no_client_certificate");
}

}  // namespace
}  // namespace switchyard::event
