#pragma once

// Verifies one token for the jwt_authn filter: a pure function of the token, the providers'
// settings and keys, and the time (seconds since the epoch), so it is tested with plain numbers.
//
// Order of the checks (the cheap ones first, so a client sending junk costs no signature check):
//   1. parse (malformed: size, segments, base64url, JSON, claim types; a token without exp);
//   2. the provider whose issuer is the token's iss (bad_issuer);
//   3. exp and nbf, each with the provider's clock skew (expired, not_yet_valid);
//   4. aud against the provider's audiences, when it has any (bad_audience);
//   5. the algorithm: none, HMAC and unknown ones are refused (bad_signature) whatever the keys;
//   6. the key: by kid (unknown_kid when the set has no such key, or none that fits the
//      algorithm: an asymmetric key is never used as an HMAC secret), or without a kid each key
//      that fits the algorithm;
//   7. the signature (bad_signature).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "filters/jwt_authn/config.h"
#include "filters/jwt_authn/jwks.h"
#include "filters/jwt_authn/token.h"
#include "proxy/http/verified_identity.h"

namespace switchyard::filters::jwt_authn {

enum class Result : uint8_t {
  Ok,
  Missing,
  Expired,
  NotYetValid,
  BadSignature,
  BadIssuer,
  BadAudience,
  UnknownKid,
  Malformed,
};
constexpr size_t ResultCount = 9;
std::string_view resultName(Result result);

// Where a provider's keys come from: fixed (a file) or refreshed (a URL, see key_source.h). Any
// thread.
class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  // The keys in effect (null before a URL's first successful fetch).
  virtual std::shared_ptr<const KeySet> keys() const = 0;
  // Changes whenever the keys change, so cached verifications of older keys can be told apart.
  virtual uint64_t generation() const = 0;
  // A token named a key the set does not have: fetch the set again soon, if allowed.
  virtual void onUnknownKid() const {}
};

struct Verification {
  Result result = Result::Malformed;
  std::string detail;       // for the 401's body; never the token
  size_t provider = 0;      // index in JwtAuthnConfig::providers (when known)
  int64_t exp = 0;          // Ok: the token's exp (seconds)
  uint64_t generation = 0;  // Ok: of the keys that verified it
  std::shared_ptr<const http::IdentityClaims> claims;  // Ok
};

// `keys[i]` serves config.providers[i].
Verification verifyToken(std::string_view text, const JwtAuthnConfig& config,
                         const std::vector<const KeyProvider*>& keys, int64_t now);

}  // namespace switchyard::filters::jwt_authn
