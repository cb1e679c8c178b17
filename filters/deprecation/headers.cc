#include "filters/deprecation/headers.h"

#include <chrono>
#include <cstdio>

#include "proxy/common/http_date.h"
#include "proxy/common/rfc3339.h"

namespace switchyard::filters::deprecation {
namespace {

constexpr int64_t SecondsPerDay = 86'400;

int64_t unixSeconds(common::SystemTime t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Floor division, so times before 1970 still land on the right day.
int64_t dayOf(int64_t secs) {
  return secs >= 0 ? secs / SecondsPerDay : -((-secs - 1) / SecondsPerDay) - 1;
}

}  // namespace

// Appended rather than "@" + ...: GCC 12 at -O3 reports a false -Wrestrict overlap for the
// insert that operator+ makes of a prefix.
std::string formatSfDate(common::SystemTime t) {
  std::string out(1, '@');
  out += std::to_string(unixSeconds(t));
  return out;
}

std::string formatImfFixdate(common::SystemTime t) { return common::formatHttpDate(t); }

std::string formatDate(common::SystemTime t) {
  const common::CivilDate date = common::civilFromDays(dayOf(unixSeconds(t)));
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u",
                              static_cast<long long>(date.year), date.month, date.day);
  return std::string(buf, static_cast<size_t>(n));
}

std::string formatLink(std::string_view url, std::string_view rel) {
  std::string out;
  out.reserve(url.size() + rel.size() + 12);
  out += '<';
  out += url;
  out += ">; rel=\"";
  out += rel;
  out += '"';
  return out;
}

PolicyHeaders formatPolicyHeaders(const config::DeprecationPolicy& policy) {
  PolicyHeaders out;
  out.deprecation = formatSfDate(policy.since);
  if (policy.sunset) {
    out.sunset = formatImfFixdate(*policy.sunset);
    out.legacy_sunset = formatDate(*policy.sunset);
  }
  if (!policy.link.empty()) out.links.push_back(formatLink(policy.link, "deprecation"));
  if (!policy.sunset_link.empty()) out.links.push_back(formatLink(policy.sunset_link, "sunset"));
  return out;
}

void applyPolicyHeaders(const PolicyHeaders& policy, bool legacy, http::HeaderMap& headers) {
  headers.set("deprecation", policy.deprecation);
  if (!policy.sunset.empty()) headers.set("sunset", policy.sunset);
  for (const std::string& link : policy.links) headers.add("link", link);
  if (legacy) {
    headers.set("x-api-deprecation", "true");
    if (!policy.legacy_sunset.empty()) headers.set("x-api-sunset", policy.legacy_sunset);
  }
}

}  // namespace switchyard::filters::deprecation
