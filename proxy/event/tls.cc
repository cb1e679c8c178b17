#include "proxy/event/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace switchyard::event {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// Encrypted keys are refused rather than prompted for on the terminal.
int noPassword(char*, int, int, void*) { return -1; }

std::string opensslError() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  // "error:0A000086:SSL routines::certificate verify failed" -> the text after the last ':'.
  const char* text = std::strrchr(buf, ':');
  return text != nullptr && text[1] != '\0' ? std::string(text + 1) : std::string(buf);
}

BioPtr openFile(const std::string& path, std::string& error) {
  ERR_clear_error();
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    const int err = errno;
    ERR_clear_error();
    error = "cannot read " + path + ": " + (err != 0 ? std::strerror(err) : "cannot open");
  }
  return bio;
}

X509Ptr readCertificate(const std::string& path, std::string& error) {
  BioPtr bio = openFile(path, error);
  if (!bio) return nullptr;
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, noPassword, nullptr));
  if (!cert) {
    ERR_clear_error();
    error = path + " holds no PEM certificate";
  }
  return cert;
}

PkeyPtr readPrivateKey(const std::string& path, std::string& error) {
  BioPtr bio = openFile(path, error);
  if (!bio) return nullptr;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr));
  if (!key) {
    ERR_clear_error();
    error = path + " holds no PEM private key (an encrypted key is not supported)";
  }
  return key;
}

bool isIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// What every context of both sides shares: the floor version, no renegotiation (a peer cannot
// make us handshake again mid-stream), partial writes from a buffer that may move between retries
// (the output buffer's first bytes, pulled up anew each time), and a peer closing without
// close_notify seen as an ordinary end of stream (HTTP's own framing tells a truncated message).
SslCtxPtr newContext(const SSL_METHOD* method, int min_version) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) abort();
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                     SSL_OP_IGNORE_UNEXPECTED_EOF |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_passwd_cb(ctx.get(), noPassword);
  return ctx;
}

bool useCertificateAndKey(SSL_CTX* ctx, const std::string& certificate,
                          const std::string& private_key, std::string& error) {
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate.c_str()) != 1) {
    error = certificate + ": " + opensslError();
    return false;
  }
  PkeyPtr key = readPrivateKey(private_key, error);
  if (!key) return false;
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    error = private_key + " does not match the certificate in " + certificate;
    ERR_clear_error();
    return false;
  }
  return true;
}

}  // namespace

const char* tlsFailureName(TlsFailure f) {
  switch (f) {
    case TlsFailure::None:
      return "none";
    case TlsFailure::Plaintext:
      return "plaintext";
    case TlsFailure::Timeout:
      return "timeout";
    case TlsFailure::NoClientCertificate:
      return "no_client_certificate";
    case TlsFailure::BadCertificate:
      return "bad_certificate";
    case TlsFailure::Protocol:
      return "protocol";
    case TlsFailure::Other:
      break;
  }
  return "other";
}

TlsFailure classifyServerFailure(int ssl_error, unsigned long err) {
  if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
    return TlsFailure::Protocol;
  }
  if (ssl_error != SSL_ERROR_SSL || ERR_GET_LIB(err) != ERR_LIB_SSL) return TlsFailure::Other;
  const int reason = ERR_GET_REASON(err);
  switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return TlsFailure::NoClientCertificate;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return TlsFailure::BadCertificate;
    default:
      break;
  }
  // The client refused our certificate: its alert arrives as SSL_AD_REASON_OFFSET + alert.
  switch (reason - SSL_AD_REASON_OFFSET) {
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
      return TlsFailure::BadCertificate;
    default:
      break;
  }
  return TlsFailure::Protocol;
}

std::string checkCertificateFile(const std::string& path) {
  std::string error;
  readCertificate(path, error);
  return error;
}

std::string checkPrivateKeyFile(const std::string& path) {
  std::string error;
  readPrivateKey(path, error);
  return error;
}

std::string checkKeyMatchesCertificate(const std::string& certificate,
                                       const std::string& private_key) {
  std::string error;
  X509Ptr cert = readCertificate(certificate, error);
  if (!cert) return error;
  PkeyPtr key = readPrivateKey(private_key, error);
  if (!key) return error;
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return "the private key in " + private_key + " does not belong to the certificate in " +
           certificate;
  }
  return {};
}

std::string checkCaFile(const std::string& path) {
  std::string error;
  BioPtr bio = openFile(path, error);
  if (!bio) return error;
  int count = 0;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, noPassword, nullptr)}) ++count;
  ERR_clear_error();
  if (count == 0) return path + " holds no PEM certificate";
  return {};
}

bool certificateNotAfter(const std::string& path, int64_t& out) {
  std::string error;
  X509Ptr cert = readCertificate(path, error);
  if (!cert) return false;
  tm t{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &t) != 1) return false;
  out = static_cast<int64_t>(timegm(&t));
  return true;
}

int parseTlsVersion(std::string_view text) {
  if (text == "1.2") return TLS1_2_VERSION;
  if (text == "1.3") return TLS1_3_VERSION;
  return 0;
}

std::shared_ptr<const ServerTlsContext> ServerTlsContext::create(const ServerTlsSettings& settings,
                                                                 std::string& error) {
  if (settings.certificates.empty()) {
    error = "no certificate";
    return nullptr;
  }
  std::shared_ptr<ServerTlsContext> out(new ServerTlsContext());
  for (const std::string& proto : settings.alpn) {
    out->alpn_wire_.push_back(static_cast<char>(proto.size()));
    out->alpn_wire_ += proto;
  }
  for (const TlsCertificateFiles& files : settings.certificates) {
    SslCtxPtr ctx = newContext(TLS_server_method(), settings.min_version);
    if (!useCertificateAndKey(ctx.get(), files.certificate, files.private_key, error)) {
      return nullptr;
    }
    if (!settings.client_ca.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), settings.client_ca.c_str(), nullptr) != 1) {
        error = settings.client_ca + ": " + opensslError();
        return nullptr;
      }
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca.c_str());
      if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);
      ERR_clear_error();
      SSL_CTX_set_verify(
          ctx.get(),
          SSL_VERIFY_PEER |
              (settings.require_client_certificate ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
          nullptr);
    }
    static const unsigned char kSessionContext[] = "switchyard";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof(kSessionContext) - 1);
    if (!out->alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(ctx.get(), &onAlpn, out.get());
    X509* leaf = SSL_CTX_get0_certificate(ctx.get());
    out->entries_.push_back({std::move(ctx), leaf});
  }
  if (out->entries_.size() > 1) {
    SSL_CTX* first = out->entries_.front().ctx.get();
    SSL_CTX_set_tlsext_servername_callback(first, &onServerName);
    SSL_CTX_set_tlsext_servername_arg(first, out.get());
  }
  return out;
}

ServerTlsContext::~ServerTlsContext() = default;

SslPtr ServerTlsContext::newSsl() const {
  SslPtr ssl(SSL_new(entries_.front().ctx.get()));
  if (!ssl) abort();
  SSL_set_accept_state(ssl.get());
  return ssl;
}

int ServerTlsContext::onServerName(SSL* ssl, int*, void* arg) noexcept {
  const auto* self = static_cast<const ServerTlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  const size_t length = std::strlen(name);
  for (const Entry& e : self->entries_) {
    if (X509_check_host(e.leaf, name, length, 0, nullptr) == 1) {
      if (e.ctx.get() != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, e.ctx.get());
      return SSL_TLSEXT_ERR_OK;
    }
  }
  // No certificate names it: the default one answers, and the client decides.
  return SSL_TLSEXT_ERR_OK;
}

int ServerTlsContext::onAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
                             const unsigned char* in, unsigned int inlen, void* arg) noexcept {
  const auto* self = static_cast<const ServerTlsContext*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen,
                            reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                            static_cast<unsigned int>(self->alpn_wire_.size()), in,
                            inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  // No protocol in common (a client offering only h2): go on without ALPN rather than fail.
  return SSL_TLSEXT_ERR_NOACK;
}

std::shared_ptr<const ClientTlsContext> ClientTlsContext::create(const ClientTlsSettings& settings,
                                                                 std::string& error) {
  std::shared_ptr<ClientTlsContext> out(new ClientTlsContext());
  out->settings_ = settings;
  out->ctx_ = newContext(TLS_client_method(), settings.min_version);
  SSL_CTX* ctx = out->ctx_.get();
  if (settings.verify) {
    ERR_clear_error();
    const int loaded = settings.ca_file.empty()
                           ? SSL_CTX_set_default_verify_paths(ctx)
                           : SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr);
    if (loaded != 1) {
      error = (settings.ca_file.empty() ? std::string("the system's CA certificates")
                                        : settings.ca_file) +
              ": " + opensslError();
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!settings.certificate.empty() &&
      !useCertificateAndKey(ctx, settings.certificate, settings.private_key, error)) {
    return nullptr;
  }
  // Sessions are kept by the pools, per endpoint (TlsSessionCache), not in the context.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &onNewSession);
  return out;
}

SslPtr ClientTlsContext::newSsl(const std::string& host, SslSessionPtr* session) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) abort();
  SSL_set_connect_state(ssl.get());
  const bool ip = isIpLiteral(host);
  const std::string& name = !settings_.sni.empty() ? settings_.sni : host;
  const bool send_name = !settings_.sni.empty() || !ip;
  if (send_name) SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  if (settings_.verify) {
    if (send_name) {
      SSL_set1_host(ssl.get(), name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str());
    }
  }
  SSL_set_app_data(ssl.get(), session);
  if (session != nullptr && *session) SSL_set_session(ssl.get(), session->get());
  return ssl;
}

int ClientTlsContext::onNewSession(SSL* ssl, SSL_SESSION* session) noexcept {
  auto* slot = static_cast<SslSessionPtr*>(SSL_get_app_data(ssl));
  if (slot == nullptr) return 0;
  slot->reset(session);  // the reference OpenSSL hands over
  return 1;
}

TlsVerifyError describeClientFailure(SSL* ssl, unsigned long err) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    const char* reason = "certificate_invalid";
    switch (verify) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID:
        reason = "certificate_expired";
        break;
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        reason = "hostname_mismatch";
        break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        reason = "unknown_ca";
        break;
      default:
        break;
    }
    return {reason,
            std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify)};
  }
  if (err == 0) return {"handshake", "the server closed the connection during the handshake"};
  char buf[256];
  ERR_error_string_n(err, buf, sizeof(buf));
  const char* text = std::strrchr(buf, ':');
  return {"handshake", text != nullptr && text[1] != '\0' ? text + 1 : buf};
}

const char* tlsVersionName(const SSL* ssl) { return SSL_get_version(ssl); }

}  // namespace switchyard::event
