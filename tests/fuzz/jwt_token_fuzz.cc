// libFuzzer target for the jwt_authn filter's token parser and JWKS parser: whatever the bytes,
// they parse or are refused, without crashing, leaking or reading out of bounds. The first byte
// picks the parser; a parsed token's base64url parts are re-encoded and must decode the same.
// Built and run by scripts/fuzz.sh.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "filters/jwt_authn/jwks.h"
#include "filters/jwt_authn/token.h"

using namespace switchyard::filters::jwt_authn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      Token token;
      ParseError error;
      if (parseToken(input, 8192, token, error)) {
        std::string again;
        if (!decodeBase64Url(encodeBase64Url(token.signature), again) || again != token.signature) {
          std::abort();
        }
      }
      break;
    }
    case 1: {
      std::string out;
      if (decodeBase64Url(input, out) && encodeBase64Url(out) != input) std::abort();
      break;
    }
    default: {
      KeySet keys;
      std::string error;
      parseJwks(input, keys, error);
      break;
    }
  }
  return 0;
}
