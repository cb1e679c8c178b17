#include "tests/support/jwt_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdexcept>

namespace switchyard::test {
namespace {

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* key) {
  if (key == nullptr) throw std::runtime_error("OpenSSL key generation failed");
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

std::string bnBytes(EVP_PKEY* key, const char* name, size_t pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error("no key parameter");
  std::string out(std::max<size_t>(pad, static_cast<size_t>(BN_num_bytes(bn))), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

const EVP_MD* digest(const std::string& alg) {
  if (alg.size() == 5 && alg.substr(2) == "384") return EVP_sha384();
  if (alg.size() == 5 && alg.substr(2) == "512") return EVP_sha512();
  if (alg == "EdDSA") return nullptr;
  return EVP_sha256();
}

}  // namespace

std::string base64Url(std::string_view in) {
  static const char* const alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

JwtKey JwtKey::rsa(std::string kid, int bits) {
  JwtKey k;
  k.kid_ = std::move(kid);
  k.alg_ = "RS256";
  k.key_ = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  return k;
}

JwtKey JwtKey::ec(std::string kid, int bits) {
  JwtKey k;
  k.kid_ = std::move(kid);
  k.alg_ = bits == 384 ? "ES384" : "ES256";
  k.key_ = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", bits == 384 ? "P-384" : "P-256"));
  return k;
}

JwtKey JwtKey::ed25519(std::string kid) {
  JwtKey k;
  k.kid_ = std::move(kid);
  k.alg_ = "EdDSA";
  k.key_ = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  return k;
}

nlohmann::json JwtKey::jwk() const {
  nlohmann::json out;
  if (alg_ == "RS256") {
    out = {{"kty", "RSA"},
           {"n", base64Url(bnBytes(key_.get(), OSSL_PKEY_PARAM_RSA_N))},
           {"e", base64Url(bnBytes(key_.get(), OSSL_PKEY_PARAM_RSA_E))}};
  } else if (alg_ == "EdDSA") {
    unsigned char raw[32];
    size_t len = sizeof(raw);
    EVP_PKEY_get_raw_public_key(key_.get(), raw, &len);
    out = {{"kty", "OKP"},
           {"crv", "Ed25519"},
           {"x", base64Url(std::string_view(reinterpret_cast<char*>(raw), len))}};
  } else {
    const size_t size = alg_ == "ES384" ? 48 : 32;
    out = {{"kty", "EC"},
           {"crv", alg_ == "ES384" ? "P-384" : "P-256"},
           {"x", base64Url(bnBytes(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, size))},
           {"y", base64Url(bnBytes(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size))}};
  }
  if (!kid_.empty()) out["kid"] = kid_;
  out["use"] = "sig";
  return out;
}

std::string JwtKey::publicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key_.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string JwtKey::sign(const nlohmann::json& payload, const std::string& alg_override,
                         const nlohmann::json& extra_header) const {
  const std::string alg = alg_override.empty() ? alg_ : alg_override;
  nlohmann::json header = {{"alg", alg}, {"typ", "JWT"}};
  if (!kid_.empty()) header["kid"] = kid_;
  for (const auto& [name, value] : extra_header.items()) {
    if (value.is_null()) {
      header.erase(name);
    } else {
      header[name] = value;
    }
  }
  const std::string input = base64Url(header.dump()) + "." + base64Url(payload.dump());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EVP_DigestSignInit(ctx, &pctx, digest(alg), nullptr, key_.get());
  if (alg.starts_with("PS")) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg.starts_with("ES")) {
    const size_t half = alg == "ES384" ? 48 : 32;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(2 * half, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(raw.data()),
                 static_cast<int>(half));
    BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(raw.data()) + half,
                 static_cast<int>(half));
    ECDSA_SIG_free(s);
    sig = raw;
  }
  return input + "." + base64Url(sig);
}

std::string jwksJson(const std::vector<const JwtKey*>& keys) {
  nlohmann::json list = nlohmann::json::array();
  for (const JwtKey* k : keys) list.push_back(k->jwk());
  return nlohmann::json({{"keys", list}}).dump();
}

std::string signHs256(const nlohmann::json& header, const nlohmann::json& payload,
                      std::string_view secret) {
  const std::string input = base64Url(header.dump()) + "." + base64Url(payload.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64Url(std::string_view(reinterpret_cast<char*>(mac), len));
}

std::string unsignedToken(const nlohmann::json& payload) {
  return base64Url(nlohmann::json({{"alg", "none"}, {"typ", "JWT"}}).dump()) + "." +
         base64Url(payload.dump()) + ".";
}

}  // namespace switchyard::test
