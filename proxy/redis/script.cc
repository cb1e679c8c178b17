#include "proxy/redis/script.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace switchyard::redis {

std::string sha1Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("SHA1 is not available from OpenSSL");
  }
  static constexpr char Hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += Hex[digest[i] >> 4];
    out += Hex[digest[i] & 0xf];
  }
  return out;
}

Script::Script(std::string lua) : lua_(std::move(lua)), sha1_(sha1Hex(lua_)) {}

}  // namespace switchyard::redis
