#include "config/tls.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.h"
#include "filters/registry.h"
#include "proxy/common/time.h"
#include "tests/support/config_errors.h"
#include "tests/support/test_certificates.h"

namespace switchyard::config {
namespace {

using test::configErrorOf;
using test::expectConfigError;
using test::makeTestLeaf;
using test::TestCertificate;

class TlsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        ::testing::TempDir() + "tls-config-" + std::to_string(::getpid()) + "-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const TestCertificate a = makeTestLeaf("a.test", {"a.test"}, nullptr);
    const TestCertificate b = makeTestLeaf("b.test", {"b.test"}, nullptr);
    write("a.crt", a.certificate);
    write("a.key", a.key);
    write("b.crt", b.certificate);
    write("b.key", b.key);
    write("junk.pem", "this is not PEM\n");
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

  ListenerTlsConfig listener(const std::string& yaml) {
    return parseListenerTlsConfig(YAML::Load(yaml), "listeners[0].tls", "");
  }
  ConfigError listenerError(const std::string& yaml) {
    return configErrorOf([&] { listener(yaml); }, yaml);
  }
  ConfigError clusterError(const std::string& yaml) {
    return configErrorOf([&] { parseClusterTlsConfig(YAML::Load(yaml), "clusters[0].tls", ""); },
                         yaml);
  }

  std::string dir_;
};

TEST_F(TlsConfigTest, Defaults) {
  const ListenerTlsConfig tls =
      listener("certificate: " + path("a.crt") + "\nprivate_key: " + path("a.key") + "\n");
  ASSERT_EQ(tls.certificates.size(), 1u);
  EXPECT_EQ(tls.certificates[0].certificate, path("a.crt"));
  EXPECT_EQ(tls.min_version, "1.2");
  EXPECT_EQ(tls.alpn, std::vector<std::string>{"http/1.1"});
  EXPECT_EQ(tls.handshake_timeout, std::chrono::seconds(10));
  EXPECT_FALSE(tls.require_client_certificate);
  ASSERT_NE(tls.context, nullptr);
  EXPECT_NE(tls.context->newSsl(), nullptr);
}

TEST_F(TlsConfigTest, EverySetting) {
  const ListenerTlsConfig tls = listener(
      "certificate: " + path("a.crt") + "\nprivate_key: " + path("a.key") +
      "\ncertificates:\n  - {certificate: " + path("b.crt") + ", private_key: " + path("b.key") +
      "}\nmin_version: \"1.3\"\nalpn: [http/1.1, http/1.0]\nclient_ca: " + path("a.crt") +
      "\nrequire_client_certificate: true\nhandshake_timeout: 2s\n");
  ASSERT_EQ(tls.certificates.size(), 2u);
  EXPECT_EQ(tls.certificates[1].private_key, path("b.key"));
  EXPECT_EQ(tls.min_version, "1.3");
  EXPECT_EQ(tls.alpn.size(), 2u);
  EXPECT_EQ(tls.client_ca, path("a.crt"));
  EXPECT_TRUE(tls.require_client_certificate);
  EXPECT_EQ(tls.handshake_timeout, std::chrono::seconds(2));
}

TEST_F(TlsConfigTest, RelativeFilesStartFromTheConfigurationsDirectory) {
  const ListenerTlsConfig tls = parseListenerTlsConfig(
      YAML::Load("certificate: a.crt\nprivate_key: a.key\n"), "listeners[0].tls", dir_);
  EXPECT_EQ(tls.certificates[0].certificate, path("a.crt"));
  EXPECT_EQ(tls.certificates[0].private_key, path("a.key"));
}

TEST_F(TlsConfigTest, MissingFile) {
  const std::string yaml =
      "certificate: " + path("none.crt") + "\nprivate_key: " + path("a.key") + "\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.certificate", 1,
                    "cannot read " + path("none.crt") + ": No such file or directory", yaml);
}

TEST_F(TlsConfigTest, NotPem) {
  std::string yaml = "certificate: " + path("junk.pem") + "\nprivate_key: " + path("a.key") + "\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.certificate", 1,
                    path("junk.pem") + " holds no PEM certificate", yaml);
  yaml = "certificate: " + path("a.crt") + "\nprivate_key: " + path("junk.pem") + "\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.private_key", 2,
                    path("junk.pem") + " holds no PEM private key", yaml);
}

TEST_F(TlsConfigTest, KeyOfAnotherCertificate) {
  const std::string yaml =
      "certificate: " + path("a.crt") + "\nprivate_key: " + path("b.key") + "\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.private_key", 2,
                    "the private key in " + path("b.key") +
                        " does not belong to the certificate in " + path("a.crt"),
                    yaml);
}

TEST_F(TlsConfigTest, BadMinVersion) {
  const std::string yaml = "certificate: " + path("a.crt") + "\nprivate_key: " + path("a.key") +
                           "\nmin_version: \"1.1\"\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.min_version", 3,
                    "invalid TLS version \"1.1\" (expected \"1.2\" or \"1.3\")", yaml);
}

TEST_F(TlsConfigTest, IncompleteOrInconsistentSettings) {
  std::string yaml = "certificate: " + path("a.crt") + "\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls", 1,
                    "missing required key \"private_key\"", yaml);
  yaml = "min_version: \"1.2\"\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls", 1, "a certificate is required", yaml);
  yaml = "certificate: " + path("a.crt") + "\nprivate_key: " + path("a.key") +
         "\nrequire_client_certificate: true\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.require_client_certificate", 3,
                    "needs client_ca", yaml);
  yaml = "certificate: " + path("a.crt") + "\nprivate_key: " + path("a.key") + "\nalpn: [h2]\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.alpn[0]", 3,
                    "unsupported protocol \"h2\"", yaml);
  yaml = "certificate: " + path("a.crt") + "\nprivate_key: " + path("a.key") +
         "\nhandshake_timeout: 0s\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.handshake_timeout", 3, "above 0", yaml);
  yaml = "certificate: " + path("a.crt") + "\nprivate_key: " + path("a.key") + "\nciphers: x\n";
  expectConfigError(listenerError(yaml), "listeners[0].tls.ciphers", 3, "unknown key", yaml);
}

TEST_F(TlsConfigTest, Cluster) {
  const ClusterTlsConfig tls = parseClusterTlsConfig(
      YAML::Load("sni: backend.test\nca_file: " + path("a.crt") +
                 "\ncertificate: " + path("b.crt") + "\nprivate_key: " + path("b.key") + "\n"),
      "clusters[0].tls", "");
  EXPECT_EQ(tls.sni, "backend.test");
  EXPECT_TRUE(tls.verify);
  EXPECT_EQ(tls.certificate, path("b.crt"));
  ASSERT_NE(tls.context, nullptr);
  // Equal settings and files: equal (the pools are kept over a reload).
  const ClusterTlsConfig again = parseClusterTlsConfig(
      YAML::Load("sni: backend.test\nca_file: " + path("a.crt") +
                 "\ncertificate: " + path("b.crt") + "\nprivate_key: " + path("b.key") + "\n"),
      "clusters[0].tls", "");
  EXPECT_TRUE(tls == again);
  // A renewed certificate in the same file: different.
  const TestCertificate renewed = makeTestLeaf("b.test", {"b.test"}, nullptr);
  write("b.crt", renewed.certificate);
  write("b.key", renewed.key);
  const ClusterTlsConfig renewed_tls = parseClusterTlsConfig(
      YAML::Load("sni: backend.test\nca_file: " + path("a.crt") +
                 "\ncertificate: " + path("b.crt") + "\nprivate_key: " + path("b.key") + "\n"),
      "clusters[0].tls", "");
  EXPECT_FALSE(tls == renewed_tls);
}

TEST_F(TlsConfigTest, ClusterErrors) {
  std::string yaml = "ca_file: " + path("junk.pem") + "\n";
  expectConfigError(clusterError(yaml), "clusters[0].tls.ca_file", 1,
                    path("junk.pem") + " holds no PEM certificate", yaml);
  yaml = "verify: maybe\n";
  expectConfigError(clusterError(yaml), "clusters[0].tls.verify", 1, "", yaml);
  yaml = "sni: \"a b\"\n";
  expectConfigError(clusterError(yaml), "clusters[0].tls.sni", 1, "invalid server name", yaml);
  yaml = "certificate: " + path("a.crt") + "\nprivate_key: " + path("b.key") + "\n";
  expectConfigError(clusterError(yaml), "clusters[0].tls.private_key", 2, "does not belong", yaml);
}

// Through the loader: the usual `file:line:col: key: message`.
TEST_F(TlsConfigTest, LoaderReportsFileLineAndKey) {
  filters::FilterRegistry filters;
  prometheus::Registry metrics;
  common::SimulatedTimeSource time;
  LoadContext ctx{filters, metrics, time};
  const std::string yaml =
      "listeners:\n  - name: public\n    address: 127.0.0.1:8443\n"
      "    tls:\n      certificate: " +
      path("a.crt") + "\n      private_key: " + path("b.key") +
      "\nclusters:\n  - name: backend\n    endpoints: [127.0.0.1:9001]\n"
      "    tls: {min_version: \"1.0\"}\n"
      "routes:\n  - {name: default, match: {prefix: /}, cluster: backend}\n";
  std::vector<std::string> errors;
  try {
    loadConfigString(yaml, "test.yaml", ctx);
  } catch (const ConfigErrors& e) {
    for (const ConfigError& error : e.errors()) errors.push_back(error.format(e.file()));
  }
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "test.yaml:6:20: listeners[0].tls.private_key: the private key in " +
                           path("b.key") + " does not belong to the certificate in " +
                           path("a.crt"));
  EXPECT_EQ(errors[1],
            "test.yaml:10:24: clusters[0].tls.min_version: invalid TLS version \"1.0\" "
            "(expected \"1.2\" or \"1.3\")");
}

}  // namespace
}  // namespace switchyard::config
