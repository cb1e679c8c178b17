// TLS on both sides against the real binary: curl through a TLS listener to a TLS upstream, and
// each way a handshake can go wrong (wrong CA, expired certificate, wrong SNI, missing client
// certificate, plaintext, a handshake that never finishes), each answered as it should be while
// other connections go on. Certificates are made by the openssl command in the test's directory.

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

bool run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Runs `command` and returns what it printed on stdout.
std::string capture(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// A CA and certificates signed by it, as PEM files in `dir`.
class Pki {
 public:
  explicit Pki(std::string dir) : dir_(std::move(dir)) {}

  std::string path(const std::string& file) const { return dir_ + "/" + file; }

  bool makeCa(const std::string& name) {
    return run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
               path(name + ".key") + " -out " + path(name + ".crt") +
               " -days 30 -subj /CN=" + name);
  }

  // `name`.crt / `name`.key for `cn`, valid for `days` (-1: expired yesterday).
  bool makeLeaf(const std::string& name, const std::string& ca, const std::string& cn,
                const std::string& san, int days = 30) {
    {
      std::FILE* f = std::fopen(path(name + ".ext").c_str(), "w");
      if (f == nullptr) return false;
      std::fprintf(f, "subjectAltName=%s\n", san.c_str());
      std::fclose(f);
    }
    return run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
               path(name + ".key") + " -out " + path(name + ".csr") + " -subj /CN=" + cn) &&
           run("openssl x509 -req -in " + path(name + ".csr") + " -CA " + path(ca + ".crt") +
               " -CAkey " + path(ca + ".key") + " -CAcreateserial -days " + std::to_string(days) +
               " -extfile " + path(name + ".ext") + " -out " + path(name + ".crt"));
  }

 private:
  std::string dir_;
};

// An HTTPS upstream in the test process: each connection on a thread of its own, answering every
// request with what it saw (path, X-Forwarded-Proto). Blocking sockets with short timeouts, so
// it stops within a fraction of a second.
class TlsUpstream {
 public:
  TlsUpstream(const std::string& certificate, const std::string& key) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(ctx_, certificate.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len);
    ::listen(fd_, 64);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~TlsUpstream() {
    stop_ = true;
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (std::thread& t : connections_) t.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int handshakes() const { return handshakes_.load(); }
  int resumed() const { return resumed_.load(); }

 private:
  void acceptLoop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, c] { serve(c); });
    }
  }

  void serve(int fd) {
    timeval tv{0, 100 * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    int r;
    int waits = 0;
    while ((r = SSL_accept(ssl)) != 1 && !stop_ && ++waits < 50 &&
           SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ) {
    }
    if (r == 1) {
      ++handshakes_;
      if (SSL_session_reused(ssl)) ++resumed_;
      std::string in;
      char buf[4096];
      while (!stop_) {
        const int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) {
          if (SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ) continue;
          break;
        }
        in.append(buf, static_cast<size_t>(n));
        size_t end;
        while ((end = in.find("\r\n\r\n")) != std::string::npos) {
          const std::string head = in.substr(0, end);
          in.erase(0, end + 4);
          const size_t sp = head.find(' ');
          const std::string path = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
          std::smatch m;
          std::string proto;
          static const std::regex xfp("\r\nx-forwarded-proto: *([^\r]*)", std::regex::icase);
          if (std::regex_search(head, m, xfp)) proto = m[1];
          const std::string body = "path=" + path + "\nproto=" + proto + "\n";
          const std::string response =
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
              "Content-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body;
          SSL_write(ssl, response.data(), static_cast<int>(response.size()));
        }
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ::close(fd);
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  std::atomic<int> resumed_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;
};

// A blocking TLS client that keeps its connection (keep-alive across a reload).
class TlsClient {
 public:
  ~TlsClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool connect(uint16_t port, const std::string& ca) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    RawConnection raw;
    if (!raw.connect(port)) return false;
    fd_ = ::dup(raw.fd());
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set1_host(ssl_, "localhost");
    return SSL_connect(ssl_) == 1;
  }
  // The subject of the certificate the server presented.
  std::string peerSubject() const {
    X509* cert = SSL_get0_peer_certificate(ssl_);
    if (cert == nullptr) return "";
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
    return buf;
  }
  // One GET; the status line and body ("" when the connection failed).
  std::string get(const std::string& path) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return "";
    std::string in;
    char buf[4096];
    while (true) {
      const size_t end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::smatch m;
        static const std::regex length("\r\ncontent-length: *(\\d+)", std::regex::icase);
        const std::string head = in.substr(0, end);
        if (std::regex_search(head, m, length) && in.size() >= end + 4 + std::stoul(m[1].str())) {
          return in.substr(0, end + 4 + std::stoul(m[1].str()));
        }
      }
      const int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) return "";
      in.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

class TlsTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    pki_ = std::make_unique<Pki>(tempDir());
    ASSERT_TRUE(pki_->makeCa("ca"));
    ASSERT_TRUE(pki_->makeCa("other-ca"));
    ASSERT_TRUE(pki_->makeLeaf("server", "ca", "localhost", "DNS:localhost,IP:127.0.0.1"));
    ASSERT_TRUE(pki_->makeLeaf("backend", "ca", "backend", "DNS:backend.test,IP:127.0.0.1"));
  }

  std::string file(const std::string& name) const { return pki_->path(name); }

  // A TLS listener in front of `cluster` (extra lines indented by 4 spaces).
  ProxyConfig tlsConfig(const std::string& upstream, const std::string& cluster_extra,
                        const std::string& listener_tls = "") {
    ProxyConfig config;
    config.workers = 2;
    config.listener_extra = "    tls:\n      certificate: " + file("server.crt") +
                            "\n      private_key: " + file("server.key") + "\n" + listener_tls;
    config.clusters.push_back({"backend", {upstream}, cluster_extra});
    config.routes.push_back({"default", "/", "backend", ""});
    return config;
  }

  std::string backendTls(const std::string& ca = "ca.crt", const std::string& sni = "") {
    std::string out = "    tls:\n      ca_file: " + file(ca) + "\n";
    if (!sni.empty()) out += "      sni: " + sni + "\n";
    return out;
  }

  // curl through the listener; returns "<http code>\n<body>" (code 000 when curl failed).
  std::string curl(const std::string& path, const std::string& extra = "") {
    return capture("curl -sS --max-time 5 --cacert " + file("ca.crt") + " " + extra +
                   " -w '\\n%{http_code}' https://localhost:" + std::to_string(port()) + path +
                   " 2>&1");
  }

  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }

  // The value of the first series of `metric` whose labels contain every `labels` text.
  double metricValue(const std::string& metric, const std::vector<std::string>& labels) {
    const std::string text = metrics();
    std::istringstream in(text);
    std::string line;
    double total = 0;
    while (std::getline(in, line)) {
      if (line.rfind(metric + "{", 0) != 0) continue;
      bool all = true;
      for (const std::string& l : labels) all = all && line.find(l) != std::string::npos;
      if (all) total += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return total;
  }

  // Waits (at most 5 s) for `metric` with `labels` to reach `at_least`.
  bool waitForMetric(const std::string& metric, const std::vector<std::string>& labels,
                     double at_least) {
    for (int i = 0; i < 100; ++i) {
      if (metricValue(metric, labels) >= at_least) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::unique_ptr<Pki> pki_;
};

TEST_F(TlsTest, CurlThroughTlsListenerToTlsUpstream) {
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(backend.address(), backendTls("ca.crt", "backend.test")));
  for (int i = 0; i < 3; ++i) {
    const std::string out = curl("/hello/" + std::to_string(i));
    EXPECT_NE(out.find("path=/hello/" + std::to_string(i)), std::string::npos) << out;
    // Set from the connection: the listener says nothing of forwarded_proto.
    EXPECT_NE(out.find("proto=https"), std::string::npos) << out;
    EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
  }
  EXPECT_GE(metricValue("switchyard_tls_handshakes_total",
                        {"listener=\"public\"", "TLSv1.3", "cipher=\"TLS_AES_256_GCM_SHA384\""}),
            3);
  EXPECT_GE(
      metricValue("switchyard_tls_handshakes_total", {"cluster=\"backend\"", "cipher=\"TLS_AES_"}),
      1);
  // The listener's and the certificate's expiry, as a Unix timestamp some 30 days ahead.
  const double expiry =
      metricValue("switchyard_tls_certificate_expiry_seconds", {"listener=\"public\""});
  const double now = static_cast<double>(::time(nullptr));
  EXPECT_GT(expiry, now + 29 * 86400.0);
  EXPECT_LT(expiry, now + 31 * 86400.0);
}

TEST_F(TlsTest, UpstreamSessionsAreResumed) {
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  ProxyConfig config = tlsConfig(backend.address(), backendTls("ca.crt", "backend.test") +
                                                        "    max_requests_per_connection: 1\n");
  config.workers = 1;
  startProxy(config);
  for (int i = 0; i < 4; ++i) {
    const std::string out = curl("/again");
    EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
  }
  EXPECT_GE(backend.handshakes(), 4);
  EXPECT_GE(backend.resumed(), 2);
  EXPECT_GE(metricValue("switchyard_upstream_tls_sessions_resumed_total", {"backend"}), 2);
}

TEST_F(TlsTest, UpstreamWithUnknownCaIs502) {
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(backend.address(), backendTls("other-ca.crt", "backend.test")));
  const std::string out = curl("/x");
  EXPECT_EQ(out.substr(out.size() - 3), "502") << out;
  EXPECT_NE(out.find("certificate verify failed"), std::string::npos) << out;
  EXPECT_TRUE(waitForMetric("switchyard_upstream_tls_errors_total",
                            {"cluster=\"backend\"", "reason=\"unknown_ca\""}, 1));
  EXPECT_NE(waitForLine(proxy(), "certificate verify failed", 5s), "");
}

TEST_F(TlsTest, UpstreamWithExpiredCertificateIs502) {
  ASSERT_TRUE(pki_->makeLeaf("expired", "ca", "backend", "DNS:backend.test", -1));
  TlsUpstream backend(file("expired.crt"), file("expired.key"));
  startProxy(tlsConfig(backend.address(), backendTls("ca.crt", "backend.test")));
  const std::string out = curl("/x");
  EXPECT_EQ(out.substr(out.size() - 3), "502") << out;
  EXPECT_TRUE(waitForMetric("switchyard_upstream_tls_errors_total",
                            {"cluster=\"backend\"", "reason=\"certificate_expired\""}, 1));
}

TEST_F(TlsTest, UpstreamWithWrongSniIs502) {
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(backend.address(), backendTls("ca.crt", "wrong.test")));
  const std::string out = curl("/x");
  EXPECT_EQ(out.substr(out.size() - 3), "502") << out;
  EXPECT_TRUE(waitForMetric("switchyard_upstream_tls_errors_total",
                            {"cluster=\"backend\"", "reason=\"hostname_mismatch\""}, 1));
}

TEST_F(TlsTest, ListenerChoosesCertificateBySni) {
  ASSERT_TRUE(pki_->makeLeaf("other", "ca", "other.test", "DNS:other.test"));
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(backend.address(), backendTls("ca.crt", "backend.test"),
                       "      certificates:\n        - {certificate: " + file("other.crt") +
                           ", private_key: " + file("other.key") + "}\n"));
  const std::string p = std::to_string(port());
  std::string out =
      capture("curl -sS --max-time 5 --cacert " + file("ca.crt") + " --resolve other.test:" + p +
              ":127.0.0.1 -w '\\n%{http_code}' " + "https://other.test:" + p + "/sni 2>&1");
  EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
  // A name no certificate has gets the default one, which the client refuses.
  out = capture("curl -sS --max-time 5 --cacert " + file("ca.crt") + " --resolve nobody.test:" + p +
                ":127.0.0.1 -w '\\n%{http_code}' https://nobody.test:" + p + "/sni 2>&1");
  EXPECT_EQ(out.substr(out.size() - 3), "000") << out;
  EXPECT_NE(out.find("nobody.test"), std::string::npos) << out;
  out = curl("/still");
  EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
}

TEST_F(TlsTest, MutualTlsRequiresClientCertificate) {
  ASSERT_TRUE(pki_->makeLeaf("client", "ca", "client", "DNS:client.test"));
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(
      backend.address(), backendTls("ca.crt", "backend.test"),
      "      client_ca: " + file("ca.crt") + "\n      require_client_certificate: true\n"));
  std::string out = curl("/no-cert");
  EXPECT_EQ(out.substr(out.size() - 3), "000") << out;
  EXPECT_TRUE(waitForMetric("switchyard_tls_handshake_failures_total",
                            {"listener=\"public\"", "reason=\"no_client_certificate\""}, 1));
  out = curl("/with-cert", "--cert " + file("client.crt") + " --key " + file("client.key"));
  EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
}

TEST_F(TlsTest, PlaintextToTlsPortIsAnsweredAndCounted) {
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(backend.address(), backendTls("ca.crt", "backend.test")));
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  ASSERT_TRUE(conn.send("GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::optional<Response> r = conn.readResponse();
  ASSERT_TRUE(r.has_value()) << conn.error();
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("HTTPS"), std::string::npos) << r->body;
  EXPECT_TRUE(conn.closedByPeer());
  EXPECT_FALSE(conn.wasReset());
  // Counted when the connection ends: the proxy reads and drops what the client still sends
  // until it closes.
  conn.close();
  EXPECT_TRUE(waitForMetric("switchyard_tls_handshake_failures_total",
                            {"listener=\"public\"", "reason=\"plaintext\""}, 1));
  const std::string out = curl("/after-plaintext");
  EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
}

TEST_F(TlsTest, HandshakeThatNeverFinishesTimesOut) {
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(backend.address(), backendTls("ca.crt", "backend.test"),
                       "      handshake_timeout: 300ms\n"));
  RawConnection stalled;
  ASSERT_TRUE(stalled.connect(port()));
  // The start of a TLS record, and nothing more.
  ASSERT_TRUE(stalled.send(std::string("\x16\x03\x01", 3)));
  // Meanwhile others are served.
  std::string out = curl("/during");
  EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
  EXPECT_TRUE(stalled.closedByPeer(3s));
  EXPECT_TRUE(waitForMetric("switchyard_tls_handshake_failures_total",
                            {"listener=\"public\"", "reason=\"timeout\""}, 1));
  out = curl("/after");
  EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
}

TEST_F(TlsTest, ReloadServesNewCertificateAndKeepsConnections) {
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(backend.address(), backendTls("ca.crt", "backend.test")));
  TlsClient before;
  ASSERT_TRUE(before.connect(port(), file("ca.crt")));
  EXPECT_NE(before.get("/before").find("200 OK"), std::string::npos);
  EXPECT_NE(before.peerSubject().find("CN=localhost"), std::string::npos);

  // The same paths, a new certificate in them.
  ASSERT_TRUE(pki_->makeLeaf("renewed", "ca", "renewed", "DNS:localhost"));
  ASSERT_TRUE(run("cp " + file("renewed.crt") + " " + file("server.crt")));
  ASSERT_TRUE(run("cp " + file("renewed.key") + " " + file("server.key")));
  ASSERT_TRUE(proxy().terminate(SIGHUP));
  ASSERT_TRUE(waitForMetric("switchyard_config_reloads_total", {"success"}, 1));

  TlsClient after;
  ASSERT_TRUE(after.connect(port(), file("ca.crt")));
  EXPECT_NE(after.peerSubject().find("CN=renewed"), std::string::npos) << after.peerSubject();
  EXPECT_NE(after.get("/after").find("200 OK"), std::string::npos);
  // The connection made before the reload goes on.
  EXPECT_NE(before.get("/before-again").find("path=/before-again"), std::string::npos);
}

TEST_F(TlsTest, ReloadWithBrokenCertificateKeepsTheOldOne) {
  TlsUpstream backend(file("backend.crt"), file("backend.key"));
  startProxy(tlsConfig(backend.address(), backendTls("ca.crt", "backend.test")));
  ASSERT_TRUE(run("cp " + file("ca.key") + " " + file("server.key")));
  ASSERT_TRUE(proxy().terminate(SIGHUP));
  ASSERT_TRUE(waitForMetric("switchyard_config_reloads_total", {"failure"}, 1));
  EXPECT_NE(waitForLine(proxy(), "does not belong to the certificate", 5s), "");
  const std::string out = curl("/still-old");
  EXPECT_EQ(out.substr(out.size() - 3), "200") << out;
}

TEST_F(TlsTest, ValidateRejectsBadCertificateFiles) {
  ASSERT_TRUE(run("echo 'not a certificate' > " + file("bad.pem")));
  ProxyConfig config = tlsConfig("127.0.0.1:1", "");
  config.listener_extra = "    tls:\n      certificate: " + file("bad.pem") +
                          "\n      private_key: " + file("server.key") + "\n";
  const std::string path = writeFile("bad.yaml", config.render(18080, 18081));
  const std::string out =
      capture(std::string(SWITCHYARD_BIN) + " --validate --config " + path + " 2>&1; echo rc=$?");
  EXPECT_NE(
      out.find("listeners[0].tls.certificate: " + file("bad.pem") + " holds no PEM certificate"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("rc=1"), std::string::npos) << out;
}

}  // namespace
}  // namespace switchyard::test::integration
