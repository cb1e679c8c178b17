#pragma once

// TLS contexts (OpenSSL 3) for the proxy's two sides, built once from files and shared read-only
// by the workers; each connection gets its own SSL object from one (see Connection::startTls()).
//
// A context is immutable once built: SSL_CTX is safe to share across threads for making SSL
// objects. Certificates are re-read by building a new context (a configuration reload); the
// connections made from the old one keep it alive through their SSL object's reference.

#include <openssl/ssl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::event {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};
struct SslSessionDeleter {
  void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, SslSessionDeleter>;

// Why a handshake did not finish. The names are metric label values (bounded).
enum class TlsFailure : uint8_t {
  None,
  Plaintext,            // the peer spoke plain HTTP (or anything but TLS) to a TLS port
  Timeout,              // the handshake did not finish in time (the owner's timer)
  NoClientCertificate,  // a listener requiring one got none
  BadCertificate,       // a certificate did not verify (either side), or the peer rejected ours
  Protocol,             // no common version or cipher, malformed messages, unexpected EOF
  Other,
};
const char* tlsFailureName(TlsFailure f);
// A server-side handshake that failed with SSL_get_error() `ssl_error` and `err` the first error
// on OpenSSL's queue.
TlsFailure classifyServerFailure(int ssl_error, unsigned long err);

// Checks of the files a context is built from, one at a time so that a configuration error can
// point at the key naming the file. Each returns an empty string when the file is fine, else what
// is wrong with it.
std::string checkCertificateFile(const std::string& path);
std::string checkPrivateKeyFile(const std::string& path);
// The private key belongs to the certificate's public key.
std::string checkKeyMatchesCertificate(const std::string& certificate,
                                       const std::string& private_key);
std::string checkCaFile(const std::string& path);

// notAfter of the first certificate in `path`, in seconds since the epoch; false when unreadable.
bool certificateNotAfter(const std::string& path, int64_t& out);

// "1.2" -> TLS1_2_VERSION, "1.3" -> TLS1_3_VERSION; 0 for anything else.
int parseTlsVersion(std::string_view text);

struct TlsCertificateFiles {
  std::string certificate;  // PEM: the leaf first, then its intermediates
  std::string private_key;  // PEM
};

struct ServerTlsSettings {
  // The first is the default; the others are chosen by SNI (the name the client asks for
  // matched against each certificate's names, wildcards included).
  std::vector<TlsCertificateFiles> certificates;
  int min_version = TLS1_2_VERSION;
  std::vector<std::string> alpn = {"http/1.1"};
  std::string client_ca;  // PEM bundle; empty: no client certificates asked for
  bool require_client_certificate = false;
};

// A listener's TLS: an SSL_CTX per certificate, the first answering the handshake and switching
// to another one when the client's SNI names it.
class ServerTlsContext {
 public:
  // Null (and why in `error`) when a file cannot be used.
  static std::shared_ptr<const ServerTlsContext> create(const ServerTlsSettings& settings,
                                                        std::string& error);
  ~ServerTlsContext();

  // A server-side SSL object for a new connection (never null; aborts when out of memory).
  SslPtr newSsl() const;

 private:
  ServerTlsContext() = default;
  static int onServerName(SSL* ssl, int* alert, void* arg) noexcept;
  static int onAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                    const unsigned char* in, unsigned int inlen, void* arg) noexcept;

  struct Entry {
    SslCtxPtr ctx;
    X509* leaf;  // owned by ctx
  };
  std::vector<Entry> entries_;
  std::string alpn_wire_;  // the listener's protocols, length-prefixed
};

struct ClientTlsSettings {
  std::string sni;          // server name sent, and checked against the certificate; empty: none
  std::string ca_file;      // PEM bundle; empty: the system's trust store
  bool verify = true;       // check the upstream's certificate (chain and name)
  std::string certificate;  // client certificate for mTLS; empty: none
  std::string private_key;
  int min_version = TLS1_2_VERSION;
};

// Sessions to resume, by endpoint ("host:port"), for one worker's pool of one cluster: only the
// owning thread touches it.
class TlsSessionCache {
 public:
  // The slot for `endpoint`; stable for the cache's life.
  SslSessionPtr& slot(const std::string& endpoint) { return sessions_[endpoint]; }

 private:
  std::map<std::string, SslSessionPtr> sessions_;
};

// A cluster's TLS: one SSL_CTX for every connection to its endpoints.
class ClientTlsContext {
 public:
  static std::shared_ptr<const ClientTlsContext> create(const ClientTlsSettings& settings,
                                                        std::string& error);
  // A client-side SSL object; resumes the session in `session` if there is one and stores the
  // next one the server hands out there (`session` must outlive the SSL object). `sni` is the
  // configured name, else `host` when it is not an IP address literal.
  SslPtr newSsl(const std::string& host, SslSessionPtr* session) const;
  const ClientTlsSettings& settings() const { return settings_; }

 private:
  ClientTlsContext() = default;
  static int onNewSession(SSL* ssl, SSL_SESSION* session) noexcept;

  ClientTlsSettings settings_;
  SslCtxPtr ctx_;
};

// The peer's certificate failed verification (client side): a short label for metrics
// (certificate_expired, hostname_mismatch, unknown_ca, certificate_invalid) and OpenSSL's text.
struct TlsVerifyError {
  const char* reason;
  std::string detail;
};
// For a failed client handshake on `ssl`: the verification error, or reason "handshake" with the
// OpenSSL error string.
TlsVerifyError describeClientFailure(SSL* ssl, unsigned long err);

// "TLSv1.2", "TLSv1.3" (bounded: what SSL_get_version() says).
const char* tlsVersionName(const SSL* ssl);

}  // namespace switchyard::event
