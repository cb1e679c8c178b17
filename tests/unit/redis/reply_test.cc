#include "proxy/redis/reply.h"

#include <gtest/gtest.h>
#include <hiredis.h>

#include <string>
#include <vector>

#include "proxy/redis/script.h"

namespace switchyard::redis {
namespace {

// hiredis's reply struct, filled by hand (the client never hands one out).
redisReply reply(int type) {
  redisReply r{};
  r.type = type;
  return r;
}

redisReply text(int type, std::string& storage) {
  redisReply r = reply(type);
  r.str = storage.data();
  r.len = storage.size();
  return r;
}

TEST(RedisReplyTest, Scalars) {
  redisReply i = reply(REDIS_REPLY_INTEGER);
  i.integer = -42;
  Result r = convertReply(i);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.type, Value::Type::Integer);
  EXPECT_EQ(r.value.integer, -42);

  r = convertReply(reply(REDIS_REPLY_NIL));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value.isNil());

  std::string ok = "OK";
  r = convertReply(text(REDIS_REPLY_STATUS, ok));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.type, Value::Type::Status);
  EXPECT_EQ(r.value.string, "OK");
}

TEST(RedisReplyTest, BulkStringsAreBinarySafe) {
  std::string bytes("a\0b\r\n", 5);
  const Result r = convertReply(text(REDIS_REPLY_STRING, bytes));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.type, Value::Type::String);
  EXPECT_EQ(r.value.string, bytes);
}

TEST(RedisReplyTest, AnErrorReplyIsAServerError) {
  std::string error = "WRONGTYPE Operation against a key holding the wrong kind of value";
  const Result r = convertReply(text(REDIS_REPLY_ERROR, error));
  EXPECT_EQ(r.error, ErrorKind::ServerError);
  EXPECT_EQ(r.message, error);
}

TEST(RedisReplyTest, NestedArraysKeepTheirErrors) {
  std::string one = "one";
  std::string err = "ERR inner";
  redisReply s = text(REDIS_REPLY_STRING, one);
  redisReply e = text(REDIS_REPLY_ERROR, err);
  redisReply n = reply(REDIS_REPLY_NIL);
  redisReply i = reply(REDIS_REPLY_INTEGER);
  i.integer = 7;
  std::vector<redisReply*> inner_elements{&i, &n};
  redisReply inner = reply(REDIS_REPLY_ARRAY);
  inner.elements = inner_elements.size();
  inner.element = inner_elements.data();
  std::vector<redisReply*> elements{&s, &e, &inner};
  redisReply outer = reply(REDIS_REPLY_ARRAY);
  outer.elements = elements.size();
  outer.element = elements.data();

  const Result r = convertReply(outer);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.value.type, Value::Type::Array);
  ASSERT_EQ(r.value.array.size(), 3u);
  EXPECT_EQ(r.value.array[0].string, "one");
  EXPECT_EQ(r.value.array[1].type, Value::Type::Error);
  EXPECT_EQ(r.value.array[1].string, "ERR inner");
  ASSERT_EQ(r.value.array[2].array.size(), 2u);
  EXPECT_EQ(r.value.array[2].array[0].integer, 7);
  EXPECT_TRUE(r.value.array[2].array[1].isNil());

  const Result empty = convertReply(reply(REDIS_REPLY_ARRAY));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty.value.type, Value::Type::Array);
  EXPECT_TRUE(empty.value.array.empty());
}

TEST(RedisReplyTest, AnUnknownTypeIsAProtocolError) {
  EXPECT_EQ(convertReply(reply(99)).error, ErrorKind::Protocol);
  redisReply odd = reply(99);
  std::vector<redisReply*> elements{&odd};
  redisReply array = reply(REDIS_REPLY_ARRAY);
  array.elements = 1;
  array.element = elements.data();
  const Result r = convertReply(array);
  EXPECT_EQ(r.error, ErrorKind::Protocol);
  EXPECT_EQ(r.value.type, Value::Type::Nil);
}

TEST(RedisReplyTest, KindNames) {
  EXPECT_EQ(errorKindName(ErrorKind::None), "ok");
  EXPECT_EQ(errorKindName(ErrorKind::Timeout), "timeout");
  EXPECT_EQ(errorKindName(ErrorKind::Disconnected), "disconnected");
  EXPECT_EQ(errorKindName(ErrorKind::Unavailable), "unavailable");
  EXPECT_EQ(errorKindName(ErrorKind::ServerError), "server_error");
  EXPECT_EQ(errorKindName(ErrorKind::Protocol), "protocol");
}

TEST(RedisScriptTest, Sha1AsRedisWritesIt) {
  EXPECT_EQ(sha1Hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  const Script script("return 1");
  EXPECT_EQ(script.lua(), "return 1");
  EXPECT_EQ(script.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

}  // namespace
}  // namespace switchyard::redis
