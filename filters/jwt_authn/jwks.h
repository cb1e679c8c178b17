#pragma once

// JSON Web Key Sets (RFC 7517) of public keys, and the signature check of a token with one of
// them (RFC 7518 algorithms, through OpenSSL's libcrypto).
//
// Accepted keys: "RSA" (n, e; at least 2048 bits), "EC" on P-256 or P-384 (x, y) and "OKP"
// Ed25519 (x), each with an optional "kid", "alg" and "use". Keys of other types (symmetric "oct"
// keys in particular: HMAC is never accepted), curves, or with "use" other than "sig" are skipped
// and named in `skipped`; a set that keeps no key at all is refused.
//
// A KeySet is immutable once parsed and shared by every worker (OpenSSL's public-key objects are
// safe to verify with from many threads at once).

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "filters/jwt_authn/token.h"

namespace switchyard::filters::jwt_authn {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

enum class KeyType : uint8_t { Rsa, EcP256, EcP384, Ed25519 };

struct Jwk {
  std::string kid;  // empty: none
  KeyType type = KeyType::Rsa;
  std::string alg;  // empty: any algorithm of its type
  PkeyPtr key;
};

class KeySet {
 public:
  KeySet() = default;
  explicit KeySet(std::vector<Jwk> keys) : keys_(std::move(keys)) {}
  const std::vector<Jwk>& keys() const { return keys_; }
  // The key named `kid`, or null.
  const Jwk* find(std::string_view kid) const;

 private:
  std::vector<Jwk> keys_;
};

// Parses a JWKS document ({"keys": [...]}) or a single JWK object. False with `error` set when it
// is not JSON, has no usable key, or a key of an accepted type is broken (a bad base64url
// member, an RSA key under 2048 bits, a point off its curve).
bool parseJwks(std::string_view json, KeySet& out, std::string& error,
               std::vector<std::string>* skipped = nullptr);

// Whether `key` may verify a token signed with `alg`: the algorithm's family matches the key
// type (RS*/PS* with RSA, ES256 with P-256, ES384 with P-384, EdDSA with Ed25519) and the key's
// own "alg", when it has one, is `alg`. Never for none, HMAC or unknown algorithms.
bool keyFits(const Jwk& key, Alg alg);

// Checks the token's signature over its signing input with `key` (which must fit the token's
// algorithm). ES signatures are JOSE's fixed-size r || s.
bool verifySignature(const Token& token, const Jwk& key);

}  // namespace switchyard::filters::jwt_authn
