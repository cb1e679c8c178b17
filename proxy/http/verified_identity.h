#pragma once

// A verified identity: the claims of a credential that a filter has checked (the jwt_authn
// filter's token), left in the request's filter state for what keys on a user without trusting
// what the client says about itself: the router's splits sticky by a claim
// (`sticky: {claim: sub}`) and rate-limit policies keyed by one (`key: {claim: sub}`). Declared
// here so that the router and the filters read it without knowing which filter set it.
//
// Only a filter that has verified the credential sets it; a request without one has none, and
// whoever keys on a claim then falls back to the client address, as a header key does when its
// header is absent. The object shows nothing in the access log (claims are personal data): the
// filter that set it logs its own decision.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/pooled.h"
#include "proxy/http/filter_state.h"

namespace switchyard::http {

// The claims of one verified credential whose values are strings, numbers or booleans, as text
// (a number as JSON writes it). Immutable once made; shared by every request that presents the
// same credential (a filter's cache of verified tokens), from any worker.
class IdentityClaims {
 public:
  IdentityClaims() = default;
  explicit IdentityClaims(std::vector<std::pair<std::string, std::string>> values)
      : values_(std::move(values)) {}
  // The value of claim `name`, or null.
  const std::string* get(std::string_view name) const {
    for (const auto& [n, v] : values_) {
      if (n == name) return &v;
    }
    return nullptr;
  }
  const std::vector<std::pair<std::string, std::string>>& values() const { return values_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

class VerifiedIdentity final : public FilterState::Object, public common::ThreadPooled {
 public:
  explicit VerifiedIdentity(std::shared_ptr<const IdentityClaims> claims)
      : claims_(std::move(claims)) {}
  const IdentityClaims& claims() const { return *claims_; }

 private:
  std::shared_ptr<const IdentityClaims> claims_;
};

inline constexpr FilterState::Key<VerifiedIdentity> VerifiedIdentityKey{"identity"};

// The value of claim `name` of the request's verified identity; empty without one (no identity,
// no such claim, or an empty value).
inline std::string_view verifiedClaim(const FilterState& state, std::string_view name) {
  const VerifiedIdentity* identity = state.get(VerifiedIdentityKey);
  if (identity == nullptr) return {};
  const std::string* value = identity->claims().get(name);
  return value != nullptr ? std::string_view(*value) : std::string_view();
}

}  // namespace switchyard::http
