#pragma once

// JSON Web Tokens in the compact serialization (RFC 7519 over RFC 7515): the parsing half of the
// jwt_authn filter. Pure functions of their input; no key, no clock.
//
// parseToken() splits "header.payload.signature", decodes each part as unpadded base64url and the
// first two as JSON objects, and lifts out what verification needs. It checks shapes only (a
// string `iss`, numeric `exp`, ...); whether the token is any good is verifier.h's business.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::filters::jwt_authn {

// The JWS algorithms the filter knows. Only the asymmetric ones are ever verified; `none` and
// the HMAC ones are recognized so that they can be refused by name.
enum class Alg : uint8_t {
  RS256,
  RS384,
  RS512,
  PS256,
  PS384,
  PS512,
  ES256,
  ES384,
  EdDSA,
  None,     // "none": an unsecured token
  Hmac,     // HS256, HS384, HS512: a shared secret, never accepted
  Unknown,  // anything else
};

Alg algFromName(std::string_view name);
std::string_view algName(Alg alg);

// Unpadded base64url (RFC 4648 section 5) as JWS uses it. False on any character outside the
// alphabet (padding included) or an impossible length.
bool decodeBase64Url(std::string_view in, std::string& out);
std::string encodeBase64Url(std::string_view in);

struct Token {
  std::string_view signing_input;  // "header.payload", a view into the parsed text
  std::string signature;           // decoded
  Alg alg = Alg::Unknown;
  std::string alg_name;
  std::string kid;  // empty: none
  std::string iss;
  bool has_iss = false;
  std::vector<std::string> aud;  // a string `aud` becomes one entry
  bool has_aud = false;
  std::optional<int64_t> exp;  // seconds since the epoch
  std::optional<int64_t> nbf;
  // The payload's claims whose values are strings, numbers or booleans, as text; values with a
  // control character are left out (they could not be forwarded as a header).
  std::vector<std::pair<std::string, std::string>> claims;
};

// What is wrong with a token that does not parse, for the reply's detail.
struct ParseError {
  std::string reason;
};

// Parses `text` (at most max_bytes long, else an error). On success `out.signing_input` points
// into `text`. Errors: size, segment count, base64url, JSON (not an object), a header without a
// string "alg", a "crit" header (no extension is understood), and claims of the wrong type
// (`iss` not a string, `aud` not a string or an array of strings, `exp`/`nbf` not numbers).
bool parseToken(std::string_view text, size_t max_bytes, Token& out, ParseError& error);

}  // namespace switchyard::filters::jwt_authn
