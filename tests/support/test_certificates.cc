#include "tests/support/test_certificates.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>

namespace switchyard::test {
namespace {

std::string toPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string toPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

X509* readCertificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

EVP_PKEY* readKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) abort();
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

TestCertificate make(const std::string& cn, const std::vector<std::string>& dns_names,
                     const TestCertificate* ca, long valid_seconds, bool is_ca) {
  static long serial = 1;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  if (valid_seconds >= 0) {
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), valid_seconds);
  } else {
    X509_gmtime_adj(X509_getm_notBefore(cert), 2 * valid_seconds);
    X509_gmtime_adj(X509_getm_notAfter(cert), valid_seconds);
  }
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer = ca != nullptr ? readCertificate(ca->certificate) : nullptr;
  EVP_PKEY* signer = ca != nullptr ? readKey(ca->key) : nullptr;
  X509_set_issuer_name(
      cert, issuer != nullptr ? X509_get_subject_name(issuer) : X509_get_subject_name(cert));
  if (is_ca) {
    addExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
    addExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else if (!dns_names.empty()) {
    std::string san;
    for (const std::string& name : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + name;
    addExtension(cert, issuer != nullptr ? issuer : cert, NID_subject_alt_name, san);
  }
  X509_sign(cert, signer != nullptr ? signer : key, EVP_sha256());
  TestCertificate out{toPem(cert), toPem(key)};
  X509_free(cert);
  X509_free(issuer);
  EVP_PKEY_free(signer);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace

TestCertificate makeTestCa(const std::string& cn) { return make(cn, {}, nullptr, 86400, true); }

TestCertificate makeTestLeaf(const std::string& cn, const std::vector<std::string>& dns_names,
                             const TestCertificate* ca, long valid_seconds) {
  return make(cn, dns_names, ca, valid_seconds, false);
}

}  // namespace switchyard::test
