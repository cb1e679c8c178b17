#pragma once

// One worker's verified tokens, so a client's repeated token costs a lookup instead of a
// signature check. Used by one thread only.
//
// An entry is the token's full text (compared byte for byte, so no other token can pass for it),
// found through a hash of the token's last bytes, which lie in the signature. It is good until
// `expires` (the token's exp plus the clock skew, turned into monotonic time when stored) and only
// while its provider's keys are still of the generation that verified it: keys that change make
// their tokens be verified again. At `capacity` entries, expired ones are dropped (at most once a
// second), then an arbitrary one: memory stays bounded by capacity x max_token_bytes.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/http/verified_identity.h"

namespace switchyard::filters::jwt_authn {

class TokenCache {
 public:
  struct Entry {
    uint32_t provider = 0;
    uint64_t generation = 0;
    common::MonotonicTime expires{};
    std::shared_ptr<const http::IdentityClaims> claims;
    // The value of each of the provider's forward_claims (in its order) in `claims`, or null.
    std::vector<const std::string*> forward;
  };

  explicit TokenCache(size_t capacity) : capacity_(capacity) {}

  // The entry of `token` if it is still good at `now`; an expired one is dropped.
  const Entry* find(std::string_view token, common::MonotonicTime now);
  void insert(std::string_view token, Entry entry, common::MonotonicTime now);
  // Drops the entry of `token` (its keys changed).
  void erase(std::string_view token);
  size_t size() const { return map_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  struct TailHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept;
  };

  const size_t capacity_;
  common::MonotonicTime last_sweep_{};
  std::unordered_map<std::string, Entry, TailHash, std::equal_to<>> map_;
};

}  // namespace switchyard::filters::jwt_authn
