#include "filters/jwt_authn/token.h"

#include <array>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace switchyard::filters::jwt_authn {
namespace {

constexpr std::string_view Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> decodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (size_t i = 0; i < Alphabet.size(); ++i) t[static_cast<unsigned char>(Alphabet[i])] = i;
  return t;
}
constexpr std::array<int8_t, 256> DecodeTable = decodeTable();

// A JSON number as whole seconds: fractions are cut (RFC 7519 NumericDate may have them).
bool numericDate(const nlohmann::json& v, int64_t& out) {
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    out = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? std::numeric_limits<int64_t>::max()
              : static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return false;
    if (d >= 9.2e18) {
      out = std::numeric_limits<int64_t>::max();
    } else if (d <= -9.2e18) {
      out = std::numeric_limits<int64_t>::min();
    } else {
      out = static_cast<int64_t>(d);
    }
    return true;
  }
  return false;
}

bool printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool fail(ParseError& error, std::string reason) {
  error.reason = std::move(reason);
  return false;
}

}  // namespace

Alg algFromName(std::string_view name) {
  if (name == "RS256") return Alg::RS256;
  if (name == "RS384") return Alg::RS384;
  if (name == "RS512") return Alg::RS512;
  if (name == "PS256") return Alg::PS256;
  if (name == "PS384") return Alg::PS384;
  if (name == "PS512") return Alg::PS512;
  if (name == "ES256") return Alg::ES256;
  if (name == "ES384") return Alg::ES384;
  if (name == "EdDSA") return Alg::EdDSA;
  if (name == "none") return Alg::None;
  if (name == "HS256" || name == "HS384" || name == "HS512") return Alg::Hmac;
  return Alg::Unknown;
}

std::string_view algName(Alg alg) {
  switch (alg) {
    case Alg::RS256:
      return "RS256";
    case Alg::RS384:
      return "RS384";
    case Alg::RS512:
      return "RS512";
    case Alg::PS256:
      return "PS256";
    case Alg::PS384:
      return "PS384";
    case Alg::PS512:
      return "PS512";
    case Alg::ES256:
      return "ES256";
    case Alg::ES384:
      return "ES384";
    case Alg::EdDSA:
      return "EdDSA";
    case Alg::None:
      return "none";
    case Alg::Hmac:
      return "HMAC";
    case Alg::Unknown:
      break;
  }
  return "unknown";
}

bool decodeBase64Url(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 == 1) return false;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    const int8_t v = DecodeTable[c];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // The bits left over must be zero: one encoding per byte string.
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string encodeBase64Url(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(Alphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(Alphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

bool parseToken(std::string_view text, size_t max_bytes, Token& out, ParseError& error) {
  if (text.size() > max_bytes) {
    return fail(error, "the token is longer than " + std::to_string(max_bytes) + " bytes");
  }
  const size_t dot1 = text.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : text.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || text.find('.', dot2 + 1) != std::string_view::npos) {
    return fail(error, "a token has three dot-separated parts");
  }
  std::string header_text;
  std::string payload_text;
  if (!decodeBase64Url(text.substr(0, dot1), header_text) ||
      !decodeBase64Url(text.substr(dot1 + 1, dot2 - dot1 - 1), payload_text) ||
      !decodeBase64Url(text.substr(dot2 + 1), out.signature)) {
    return fail(error, "a token part is not base64url");
  }
  out.signing_input = text.substr(0, dot2);

  const nlohmann::json header = nlohmann::json::parse(header_text, nullptr, false);
  if (!header.is_object()) return fail(error, "the token header is not a JSON object");
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) {
    return fail(error, "the token header has no \"alg\"");
  }
  out.alg_name = alg->get<std::string>();
  out.alg = algFromName(out.alg_name);
  if (header.contains("crit")) {
    return fail(error, "the token header names critical extensions (\"crit\")");
  }
  if (const auto kid = header.find("kid"); kid != header.end()) {
    if (!kid->is_string()) return fail(error, "the token's \"kid\" is not a string");
    out.kid = kid->get<std::string>();
  }

  const nlohmann::json payload = nlohmann::json::parse(payload_text, nullptr, false);
  if (!payload.is_object()) return fail(error, "the token payload is not a JSON object");
  for (const auto& [name, value] : payload.items()) {
    if (name == "iss") {
      if (!value.is_string()) return fail(error, "the token's \"iss\" is not a string");
      out.iss = value.get<std::string>();
      out.has_iss = true;
    } else if (name == "aud") {
      out.has_aud = true;
      if (value.is_string()) {
        out.aud.push_back(value.get<std::string>());
      } else if (value.is_array()) {
        for (const auto& a : value) {
          if (!a.is_string()) return fail(error, "the token's \"aud\" holds a non-string");
          out.aud.push_back(a.get<std::string>());
        }
      } else {
        return fail(error, "the token's \"aud\" is neither a string nor an array");
      }
    } else if (name == "exp" || name == "nbf") {
      int64_t seconds = 0;
      if (!numericDate(value, seconds)) {
        return fail(error, "the token's \"" + name + "\" is not a number");
      }
      (name == "exp" ? out.exp : out.nbf) = seconds;
    }
    std::string text_value;
    if (value.is_string()) {
      text_value = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      text_value = value.dump();
    } else {
      continue;
    }
    if (printable(text_value)) out.claims.emplace_back(name, std::move(text_value));
  }
  return true;
}

}  // namespace switchyard::filters::jwt_authn
