#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct redisReply;

namespace switchyard::redis {

// A Redis reply (RESP2), owned: hiredis's reply objects never leave the client.
struct Value {
  enum class Type : uint8_t { Nil, Integer, String, Status, Error, Array };
  Type type = Type::Nil;
  int64_t integer = 0;       // Integer
  std::string string;        // String (bulk), Status ("OK"), Error (an element of an array)
  std::vector<Value> array;  // Array

  bool isNil() const { return type == Type::Nil; }
};

// Why a command has no reply. Timeouts, lost connections and failed connects count towards the
// client's cooldown; server errors (an error reply) do not: the server answered.
enum class ErrorKind : uint8_t {
  None,          // ok: the reply is in Result::value
  Timeout,       // no reply within `timeout`
  Disconnected,  // the connection was lost (or the client destroyed) before the reply
  Unavailable,   // not sent: cooling down, or no connection at the moment
  ServerError,   // an error reply, e.g. "WRONGTYPE ..." (Result::error holds it)
  Protocol,      // the reply could not be parsed; the connection was dropped
};
// "timeout", "disconnected", "unavailable", "server_error", "protocol" (the label values of
// switchyard_redis_errors_total); "ok" for None.
std::string_view errorKindName(ErrorKind kind);

struct Result {
  ErrorKind error = ErrorKind::None;
  std::string message;  // what went wrong, when not ok
  Value value;          // the reply, when ok

  bool ok() const { return error == ErrorKind::None; }
};

// The owned copy of a hiredis reply. A top-level error reply becomes ServerError with its text;
// an error nested in an array stays a Value of type Error. An unknown reply type is Protocol.
Result convertReply(const redisReply& reply);

}  // namespace switchyard::redis
