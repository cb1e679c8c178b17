#pragma once

// The fields of draft-ietf-httpapi-ratelimit-headers-10 as the rate_limit filter writes them:
// Structured Field Lists (RFC 9651) whose items are the policy names as Strings.
//
//   RateLimit-Policy: "per-user";q=100;w=60,"per-ip";q=1000;w=60
//   RateLimit: "per-user";r=41;t=1,"per-ip";r=998;t=1
//
// `q` is the policy's limit, `w` its window in seconds; `r` what is left right now and `t` the
// seconds until more is made available (on a 429: the Retry-After time).

#include <cstdint>
#include <string>
#include <string_view>

namespace switchyard::filters::rate_limit {

struct PolicyConfig;

// One RateLimit-Policy item: "<name>";q=<limit>;w=<window seconds, rounded up, at least 1>.
std::string policyItem(const PolicyConfig& policy);

// Appends one RateLimit item, "<name>";r=<remaining>;t=<seconds>, to `out` (with the list
// separator when `out` is not empty).
void appendStateItem(std::string& out, std::string_view name, int64_t remaining, int64_t seconds);
// Appends an already formatted item (a policyItem()) to a list in `out`.
void appendItem(std::string& out, std::string_view item);

}  // namespace switchyard::filters::rate_limit
