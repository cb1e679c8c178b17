#include "filters/jwt_authn/verifier.h"

#include <algorithm>
#include <limits>

namespace switchyard::filters::jwt_authn {
namespace {

Verification fail(Result result, std::string detail, size_t provider = 0) {
  Verification v;
  v.result = result;
  v.detail = std::move(detail);
  v.provider = provider;
  return v;
}

int64_t addSat(int64_t a, int64_t b) {
  if (b > 0 && a > std::numeric_limits<int64_t>::max() - b) {
    return std::numeric_limits<int64_t>::max();
  }
  if (b < 0 && a < std::numeric_limits<int64_t>::min() - b) {
    return std::numeric_limits<int64_t>::min();
  }
  return a + b;
}

}  // namespace

std::string_view resultName(Result result) {
  switch (result) {
    case Result::Ok:
      return "ok";
    case Result::Missing:
      return "missing";
    case Result::Expired:
      return "expired";
    case Result::NotYetValid:
      return "not_yet_valid";
    case Result::BadSignature:
      return "bad_signature";
    case Result::BadIssuer:
      return "bad_issuer";
    case Result::BadAudience:
      return "bad_audience";
    case Result::UnknownKid:
      return "unknown_kid";
    case Result::Malformed:
      break;
  }
  return "malformed";
}

Verification verifyToken(std::string_view text, const JwtAuthnConfig& config,
                         const std::vector<const KeyProvider*>& keys, int64_t now) {
  Token token;
  ParseError error;
  if (!parseToken(text, config.max_token_bytes, token, error)) {
    return fail(Result::Malformed, error.reason);
  }
  if (!token.exp) return fail(Result::Malformed, "the token has no \"exp\"");
  size_t index = config.providers.size();
  for (size_t i = 0; i < config.providers.size(); ++i) {
    if (token.has_iss && config.providers[i].issuer == token.iss) index = i;
  }
  if (index == config.providers.size()) {
    return fail(Result::BadIssuer, token.has_iss ? "the token's issuer is not trusted"
                                                 : "the token has no issuer (\"iss\")");
  }
  const ProviderConfig& provider = config.providers[index];
  const int64_t skew = provider.clock_skew.count();
  if (now >= addSat(*token.exp, skew)) {
    return fail(Result::Expired, "the token has expired", index);
  }
  if (token.nbf && addSat(now, skew) < *token.nbf) {
    return fail(Result::NotYetValid, "the token is not valid yet", index);
  }
  if (!provider.audiences.empty()) {
    const bool match = std::any_of(token.aud.begin(), token.aud.end(), [&](const std::string& a) {
      return std::find(provider.audiences.begin(), provider.audiences.end(), a) !=
             provider.audiences.end();
    });
    if (!match) return fail(Result::BadAudience, "the token is not meant for this audience", index);
  }
  if (token.alg == Alg::None || token.alg == Alg::Hmac || token.alg == Alg::Unknown) {
    return fail(Result::BadSignature,
                "the token's algorithm \"" + token.alg_name + "\" is not accepted", index);
  }

  const KeyProvider* source = index < keys.size() ? keys[index] : nullptr;
  const uint64_t generation = source != nullptr ? source->generation() : 0;
  const std::shared_ptr<const KeySet> set = source != nullptr ? source->keys() : nullptr;
  bool verified = false;
  if (!token.kid.empty()) {
    const Jwk* key = set ? set->find(token.kid) : nullptr;
    if (key == nullptr || !keyFits(*key, token.alg)) {
      if (key == nullptr && source != nullptr) source->onUnknownKid();
      return fail(Result::UnknownKid, "the token's signing key is not known", index);
    }
    verified = verifySignature(token, *key);
  } else {
    bool any = false;
    if (set) {
      for (const Jwk& key : set->keys()) {
        if (!keyFits(key, token.alg)) continue;
        any = true;
        if (verifySignature(token, key)) {
          verified = true;
          break;
        }
      }
    }
    if (!any) return fail(Result::UnknownKid, "no key fits the token's algorithm", index);
  }
  if (!verified) return fail(Result::BadSignature, "the token's signature is not valid", index);

  Verification out;
  out.result = Result::Ok;
  out.provider = index;
  out.exp = *token.exp;
  out.generation = generation;
  out.claims = std::make_shared<const http::IdentityClaims>(std::move(token.claims));
  return out;
}

}  // namespace switchyard::filters::jwt_authn
