#include "filters/compression/accept_encoding.h"

namespace switchyard::filters::compression {
namespace {

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 section 12.4.2: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")], in thousandths; -1 if bad.
int parseQValue(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s[0] != '0' && s[0] != '1')) return -1;
  const bool one = s[0] == '1';
  if (s.size() == 1) return one ? 1000 : 0;
  if (s[1] != '.') return -1;
  int value = one ? 1000 : 0;
  int scale = 100;
  for (size_t i = 2; i < s.size(); ++i, scale /= 10) {
    const char c = s[i];
    if (c < '0' || c > '9' || (one && c != '0')) return -1;
    value += (c - '0') * scale;
  }
  return value;
}

void parseElement(std::string_view element, AcceptedCodings& out) {
  element = trimOws(element);
  if (element.empty()) return;
  const size_t semi = element.find(';');
  const std::string_view coding = trimOws(element.substr(0, semi));
  if (coding.empty()) return;
  for (char c : coding) {
    if (!isTokenChar(c)) return;
  }
  int q = 1000;
  if (semi != std::string_view::npos) {
    std::string_view params = element.substr(semi + 1);
    while (true) {
      const size_t next = params.find(';');
      const std::string_view param = trimOws(params.substr(0, next));
      const size_t eq = param.find('=');
      if (eq != std::string_view::npos &&
          http::equalsIgnoreCase(trimOws(param.substr(0, eq)), "q")) {
        q = parseQValue(trimOws(param.substr(eq + 1)));
        if (q < 0) return;
      }
      if (next == std::string_view::npos) break;
      params.remove_prefix(next + 1);
    }
  }
  int16_t* slot = nullptr;
  if (http::equalsIgnoreCase(coding, "br")) {
    slot = &out.brotli;
  } else if (http::equalsIgnoreCase(coding, "gzip") || http::equalsIgnoreCase(coding, "x-gzip")) {
    slot = &out.gzip;
  } else if (http::equalsIgnoreCase(coding, "identity")) {
    slot = &out.identity;
  } else if (coding == "*") {
    slot = &out.star;
  }
  if (slot != nullptr && *slot < 0) *slot = static_cast<int16_t>(q);
}

}  // namespace

std::string_view codingName(Coding coding) {
  switch (coding) {
    case Coding::Brotli:
      return "br";
    case Coding::Gzip:
      return "gzip";
  }
  return "";
}

std::optional<Coding> codingFromName(std::string_view name) {
  if (name == "br") return Coding::Brotli;
  if (name == "gzip") return Coding::Gzip;
  return std::nullopt;
}

void parseAcceptEncodingValue(std::string_view value, AcceptedCodings& out) {
  out.present = true;
  while (true) {
    const size_t comma = value.find(',');
    parseElement(value.substr(0, comma), out);
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

AcceptedCodings parseAcceptEncoding(const http::HeaderMap& headers) {
  AcceptedCodings out;
  for (const http::HeaderMap::Entry& e : headers.entries()) {
    if (e.name == "accept-encoding") parseAcceptEncodingValue(e.value, out);
  }
  return out;
}

std::optional<Coding> chooseCoding(const AcceptedCodings& accepted,
                                   std::span<const Coding> offered) {
  if (!accepted.present) return std::nullopt;
  int best_q = 0;
  std::optional<Coding> best;
  for (Coding c : offered) {
    const int16_t named = c == Coding::Brotli ? accepted.brotli : accepted.gzip;
    const int q = named >= 0 ? named : (accepted.star >= 0 ? accepted.star : 0);
    if (q > best_q) {
      best_q = q;
      best = c;
    }
  }
  if (!best) return std::nullopt;
  const int identity = accepted.identity >= 0 ? accepted.identity : accepted.star;
  if (identity > best_q) return std::nullopt;
  return best;
}

}  // namespace switchyard::filters::compression
