#pragma once

// Keys and tokens made at test time with OpenSSL, for the jwt_authn tests: RSA, EC P-256/P-384
// and Ed25519 key pairs, their public JWKs, and compact JWS tokens signed with them (or with
// HMAC, to show it is refused).

#include <openssl/evp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::test {

class JwtKey {
 public:
  static JwtKey rsa(std::string kid, int bits = 2048);
  static JwtKey ec(std::string kid, int bits);  // 256 (P-256) or 384 (P-384)
  static JwtKey ed25519(std::string kid);

  const std::string& kid() const { return kid_; }
  // RS256, ES256, ES384 or EdDSA.
  const std::string& alg() const { return alg_; }
  // The public key as a JWK object, with "kid" when it has one.
  nlohmann::json jwk() const;
  // The public key in PEM (SubjectPublicKeyInfo), e.g. as an HMAC secret for a confusion attack.
  std::string publicPem() const;
  // A token over `payload`, header {"alg": alg (or `alg` given), "typ": "JWT", "kid": kid()}
  // merged with `extra_header` (a null member removes the member).
  std::string sign(const nlohmann::json& payload, const std::string& alg = "",
                   const nlohmann::json& extra_header = nlohmann::json::object()) const;

 private:
  std::string kid_;
  std::string alg_;
  std::shared_ptr<EVP_PKEY> key_;
};

// {"keys": [...]} of the given keys' public JWKs.
std::string jwksJson(const std::vector<const JwtKey*>& keys);

std::string base64Url(std::string_view bytes);
// header.payload.signature with an HMAC-SHA256 signature keyed by `secret`.
std::string signHs256(const nlohmann::json& header, const nlohmann::json& payload,
                      std::string_view secret);
// header.payload. (alg none, empty signature).
std::string unsignedToken(const nlohmann::json& payload);

}  // namespace switchyard::test
