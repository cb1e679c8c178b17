#include "config/tls.h"

#include <fstream>
#include <functional>
#include <sstream>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/common/duration.h"
#include "proxy/common/strings.h"

namespace switchyard::config {
namespace {

using common::quote;

constexpr milliseconds MaxHandshakeTimeout = std::chrono::minutes(5);

std::string getPath(const YAML::Node& node, const std::string& path, const std::string& base) {
  std::string value = getString(node, path);
  if (value.empty()) throw ConfigError(node, path, "must name a file");
  if (value.front() == '/' || base.empty()) return value;
  return base + "/" + value;
}

int getVersion(const YAML::Node& node, const std::string& path, std::string& out) {
  out = getString(node, path);
  const int version = event::parseTlsVersion(out);
  if (version == 0) {
    throw ConfigError(node, path,
                      "invalid TLS version " + quote(out) + " (expected \"1.2\" or \"1.3\")");
  }
  return version;
}

void check(const YAML::Node& node, const std::string& path, const std::string& error) {
  if (!error.empty()) throw ConfigError(node, path, error);
}

// A certificate and its key, each checked where it is written.
event::TlsCertificateFiles getCertificatePair(const YAML::Node& node, const std::string& path,
                                              const YAML::Node& cert_node,
                                              const YAML::Node& key_node, const std::string& base) {
  const std::string cert_path = child(path, "certificate");
  const std::string key_path = child(path, "private_key");
  if (!cert_node) throw ConfigError(node, path, "missing required key \"certificate\"");
  if (!key_node) throw ConfigError(node, path, "missing required key \"private_key\"");
  event::TlsCertificateFiles files{getPath(cert_node, cert_path, base),
                                   getPath(key_node, key_path, base)};
  check(cert_node, cert_path, event::checkCertificateFile(files.certificate));
  check(key_node, key_path, event::checkPrivateKeyFile(files.private_key));
  check(key_node, key_path,
        event::checkKeyMatchesCertificate(files.certificate, files.private_key));
  return files;
}

std::string readWhole(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

ListenerTlsConfig parseListenerTlsConfig(const YAML::Node& node, const std::string& path,
                                         const std::string& base) {
  expectMap(node, path,
            {"certificate", "private_key", "certificates", "min_version", "alpn", "client_ca",
             "require_client_certificate", "handshake_timeout"});
  ListenerTlsConfig out;
  if (node["certificate"] || node["private_key"]) {
    out.certificates.push_back(
        getCertificatePair(node, path, node["certificate"], node["private_key"], base));
  }
  if (const YAML::Node list = node["certificates"]) {
    const std::string list_path = child(path, "certificates");
    expectSequence(list, list_path);
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node e = list[i];
      const std::string p = child(list_path, i);
      expectMap(e, p, {"certificate", "private_key"});
      out.certificates.push_back(
          getCertificatePair(e, p, e["certificate"], e["private_key"], base));
    }
  }
  if (out.certificates.empty()) {
    throw ConfigError(node, path,
                      "a certificate is required (certificate and private_key, or certificates)");
  }
  event::ServerTlsSettings settings;
  settings.certificates = out.certificates;
  if (const YAML::Node n = node["min_version"]) {
    settings.min_version = getVersion(n, child(path, "min_version"), out.min_version);
  }
  if (const YAML::Node n = node["alpn"]) {
    const std::string p = child(path, "alpn");
    expectSequence(n, p);
    out.alpn.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      std::string proto = getString(n[i], child(p, i));
      if (proto != "http/1.1" && proto != "http/1.0") {
        throw ConfigError(n[i], child(p, i),
                          "unsupported protocol " + quote(proto) +
                              " (the proxy speaks \"http/1.1\" and \"http/1.0\")");
      }
      out.alpn.push_back(std::move(proto));
    }
  }
  settings.alpn = out.alpn;
  if (const YAML::Node n = node["client_ca"]) {
    const std::string p = child(path, "client_ca");
    out.client_ca = getPath(n, p, base);
    check(n, p, event::checkCaFile(out.client_ca));
  }
  settings.client_ca = out.client_ca;
  if (const YAML::Node n = node["require_client_certificate"]) {
    const std::string p = child(path, "require_client_certificate");
    out.require_client_certificate = getBool(n, p);
    if (out.require_client_certificate && out.client_ca.empty()) {
      throw ConfigError(n, p,
                        "needs client_ca, the CA certificates client certificates are "
                        "checked against");
    }
  }
  settings.require_client_certificate = out.require_client_certificate;
  if (const YAML::Node n = node["handshake_timeout"]) {
    out.handshake_timeout =
        getPositiveDuration(n, child(path, "handshake_timeout"), MaxHandshakeTimeout);
  }
  std::string error;
  out.context = event::ServerTlsContext::create(settings, error);
  if (!out.context) throw ConfigError(node, path, error);
  return out;
}

ClusterTlsConfig parseClusterTlsConfig(const YAML::Node& node, const std::string& path,
                                       const std::string& base) {
  expectMap(node, path, {"sni", "ca_file", "verify", "certificate", "private_key", "min_version"});
  ClusterTlsConfig out;
  event::ClientTlsSettings settings;
  if (const YAML::Node n = node["sni"]) {
    const std::string p = child(path, "sni");
    out.sni = getString(n, p);
    if (out.sni.empty() || out.sni.find_first_of(" \t\r\n/:") != std::string::npos) {
      throw ConfigError(n, p, "invalid server name " + quote(out.sni));
    }
  }
  if (const YAML::Node n = node["verify"]) out.verify = getBool(n, child(path, "verify"));
  if (const YAML::Node n = node["ca_file"]) {
    const std::string p = child(path, "ca_file");
    out.ca_file = getPath(n, p, base);
    check(n, p, event::checkCaFile(out.ca_file));
  }
  if (node["certificate"] || node["private_key"]) {
    const event::TlsCertificateFiles files =
        getCertificatePair(node, path, node["certificate"], node["private_key"], base);
    out.certificate = files.certificate;
    out.private_key = files.private_key;
  }
  if (const YAML::Node n = node["min_version"]) {
    settings.min_version = getVersion(n, child(path, "min_version"), out.min_version);
  }
  settings.sni = out.sni;
  settings.ca_file = out.ca_file;
  settings.verify = out.verify;
  settings.certificate = out.certificate;
  settings.private_key = out.private_key;
  for (const std::string& file : {out.ca_file, out.certificate, out.private_key}) {
    if (file.empty()) continue;
    out.files_digest += std::to_string(std::hash<std::string>{}(readWhole(file)));
    out.files_digest += ';';
  }
  std::string error;
  out.context = event::ClientTlsContext::create(settings, error);
  if (!out.context) throw ConfigError(node, path, error);
  return out;
}

nlohmann::json listenerTlsToJson(const ListenerTlsConfig& tls) {
  nlohmann::json certificates = nlohmann::json::array();
  for (const event::TlsCertificateFiles& c : tls.certificates) {
    certificates.push_back({{"certificate", c.certificate}, {"private_key", c.private_key}});
  }
  return {{"certificates", std::move(certificates)},
          {"min_version", tls.min_version},
          {"alpn", tls.alpn},
          {"client_ca", tls.client_ca},
          {"require_client_certificate", tls.require_client_certificate},
          {"handshake_timeout", common::formatDuration(tls.handshake_timeout)}};
}

nlohmann::json clusterTlsToJson(const ClusterTlsConfig& tls) {
  return {{"sni", tls.sni},
          {"ca_file", tls.ca_file},
          {"verify", tls.verify},
          {"certificate", tls.certificate},
          {"private_key", tls.private_key},
          {"min_version", tls.min_version}};
}

}  // namespace switchyard::config
