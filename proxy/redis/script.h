#pragma once

#include <string>

namespace switchyard::redis {

// A Lua script for Client::eval(): its text and the SHA1 Redis knows it by (computed here, so
// EVALSHA can go out before any SCRIPT LOAD has answered). Immutable; cheap to keep for the
// lifetime of whoever evaluates it.
class Script {
 public:
  explicit Script(std::string lua);

  const std::string& lua() const { return lua_; }
  const std::string& sha1() const { return sha1_; }  // 40 lower-case hex digits

 private:
  std::string lua_;
  std::string sha1_;
};

// The SHA1 of `data` in lower-case hex, as Redis's SCRIPT LOAD returns it.
std::string sha1Hex(const std::string& data);

}  // namespace switchyard::redis
