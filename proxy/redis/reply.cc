#include "proxy/redis/reply.h"

#include <hiredis.h>

namespace switchyard::redis {
namespace {

bool convert(const redisReply& reply, Value& out) {
  switch (reply.type) {
    case REDIS_REPLY_NIL:
      out.type = Value::Type::Nil;
      return true;
    case REDIS_REPLY_INTEGER:
      out.type = Value::Type::Integer;
      out.integer = reply.integer;
      return true;
    case REDIS_REPLY_STRING:
      out.type = Value::Type::String;
      out.string.assign(reply.str, reply.len);
      return true;
    case REDIS_REPLY_STATUS:
      out.type = Value::Type::Status;
      out.string.assign(reply.str, reply.len);
      return true;
    case REDIS_REPLY_ERROR:
      out.type = Value::Type::Error;
      out.string.assign(reply.str, reply.len);
      return true;
    case REDIS_REPLY_ARRAY:
      out.type = Value::Type::Array;
      out.array.resize(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) {
        if (reply.element[i] == nullptr || !convert(*reply.element[i], out.array[i])) return false;
      }
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view errorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::None:
      return "ok";
    case ErrorKind::Timeout:
      return "timeout";
    case ErrorKind::Disconnected:
      return "disconnected";
    case ErrorKind::Unavailable:
      return "unavailable";
    case ErrorKind::ServerError:
      return "server_error";
    case ErrorKind::Protocol:
      return "protocol";
  }
  return "unknown";
}

Result convertReply(const redisReply& reply) {
  Result out;
  if (reply.type == REDIS_REPLY_ERROR) {
    out.error = ErrorKind::ServerError;
    out.message.assign(reply.str, reply.len);
    return out;
  }
  if (!convert(reply, out.value)) {
    out = Result{};
    out.error = ErrorKind::Protocol;
    out.message = "unexpected reply type " + std::to_string(reply.type);
  }
  return out;
}

}  // namespace switchyard::redis
