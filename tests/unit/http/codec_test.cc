#include "proxy/http/codec.h"

#include <cctype>

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/buffer.h"
#include "proxy/http/headers.h"

namespace switchyard::http {
namespace {

// Records what the parser delivers, in order. It never resumes the parser itself: tests call
// resumeNextMessage() where the connection manager would.
template <class Base, class HeadersPtr>
class Recorder : public Base {
 public:
  void onBody(Buffer& data, bool end_stream) override {
    ASSERT_FALSE(ended) << "body delivered after end_stream";
    body += data.toString();
    ++body_calls;
    if (end_stream) ended = true;
  }
  void onCodecError(const CodecError& e) override {
    ++error_calls;
    error = e;
  }

  void recordHead(HeadersPtr h, bool end_stream) {
    heads.push_back(std::move(h));
    head_end_stream.push_back(end_stream);
    ended = end_stream;
  }

  int status() const { return error ? error->status : 0; }

  std::vector<HeadersPtr> heads;
  std::vector<bool> head_end_stream;
  std::string body;
  int body_calls = 0;
  bool ended = false;
  std::optional<CodecError> error;
  int error_calls = 0;
};

class RequestRecorder : public Recorder<RequestCallbacks, RequestHeadersPtr> {
 public:
  void onRequestHeaders(RequestHeadersPtr headers, bool end_stream) override {
    recordHead(std::move(headers), end_stream);
  }
};

class ResponseRecorder : public Recorder<ResponseCallbacks, ResponseHeadersPtr> {
 public:
  void onResponseHeaders(ResponseHeadersPtr headers, bool end_stream) override {
    recordHead(std::move(headers), end_stream);
  }
};

class CodecRequestTest : public testing::Test {
 protected:
  void makeParser(CodecLimits limits = {}) {
    parser_ = std::make_unique<Http1Parser>(Http1Parser::Kind::Request, limits);
    rec_ = RequestRecorder();
    parser_->setRequestCallbacks(&rec_);
  }
  void SetUp() override { makeParser(); }

  void feed(std::string_view bytes) {
    input_.add(bytes);
    parser_->dispatch(input_);
  }
  // Parses `bytes` as a whole request and returns the error status (0 when accepted).
  int statusOf(std::string_view bytes, CodecLimits limits = {}) {
    makeParser(limits);
    input_.drain(input_.length());
    feed(bytes);
    return rec_.status();
  }
  const RequestHeaders& head(size_t i = 0) { return *rec_.heads.at(i); }

  std::unique_ptr<Http1Parser> parser_;
  RequestRecorder rec_;
  Buffer input_;
};

class CodecResponseTest : public testing::Test {
 protected:
  void makeParser(CodecLimits limits = {}) {
    parser_ = std::make_unique<Http1Parser>(Http1Parser::Kind::Response, limits);
    rec_ = ResponseRecorder();
    parser_->setResponseCallbacks(&rec_);
  }
  void SetUp() override { makeParser(); }

  void feed(std::string_view bytes) {
    input_.add(bytes);
    parser_->dispatch(input_);
  }
  const ResponseHeaders& head(size_t i = 0) { return *rec_.heads.at(i); }

  std::unique_ptr<Http1Parser> parser_;
  ResponseRecorder rec_;
  Buffer input_;
};

TEST_F(CodecRequestTest, SimpleGetEndsStreamOnHeaders) {
  feed("GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_TRUE(rec_.head_end_stream[0]);
  EXPECT_EQ(rec_.body_calls, 0);
  EXPECT_EQ(rec_.error_calls, 0);
  EXPECT_EQ(head().method, "GET");
  EXPECT_EQ(head().path, "/path?q=1");
  EXPECT_EQ(head().pathWithoutQuery(), "/path");
  EXPECT_EQ(head().http_minor, 1);
  EXPECT_EQ(head().content_length, -1);
  EXPECT_FALSE(head().chunked);
  EXPECT_TRUE(head().keep_alive);
  EXPECT_FALSE(head().expect_continue);
  ASSERT_NE(head().headers.get("host"), nullptr);
  EXPECT_EQ(*head().headers.get("host"), "example.com");
  EXPECT_TRUE(parser_->messageComplete());
  EXPECT_FALSE(parser_->messageInProgress());
  EXPECT_TRUE(input_.empty());
}

// Every byte at every position of a name long enough to take the eight-bytes-at-a-time path:
// tchars are folded to lower case, anything else is a 400.
TEST_F(CodecRequestTest, EveryNameByteAtEveryPositionIsFoldedOrRefused) {
  const std::string tchars =
      "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (c == ':' || c == '\r' || c == '\n') continue;  // end the name or the line themselves
    for (size_t pos = 0; pos < 17; ++pos) {
      std::string name = "X-Abcdefgh-Ijklmn";
      name[pos] = c;
      const int status = statusOf("GET / HTTP/1.1\r\nHost: a\r\n" + name + ": v\r\n\r\n");
      if (tchars.find(c) == std::string::npos) {
        EXPECT_EQ(status, 400) << "byte " << b << " at " << pos;
        continue;
      }
      ASSERT_EQ(status, 0) << "byte " << b << " at " << pos;
      std::string folded = name;
      for (char& ch : folded) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      ASSERT_EQ(head().headers.size(), 2u);
      EXPECT_EQ(head().headers.entries()[1].name, folded) << "byte " << b << " at " << pos;
    }
  }
}

// Values shorter and longer than a word, with a control byte at each position.
TEST_F(CodecRequestTest, ControlBytesInShortAndLongValuesAreRefused) {
  for (size_t len : {1u, 5u, 7u, 8u, 9u, 15u, 16u, 17u}) {
    EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-V: " + std::string(len, 'v') + "\r\n\r\n"),
              0)
        << len;
    for (size_t pos = 0; pos < len; ++pos) {
      for (char bad : {'\x01', '\x7f', '\x1f'}) {
        std::string value(len, 'v');
        value[pos] = bad;
        EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-V: " + value + "\r\n\r\n"), 400)
            << len << " " << pos << " " << static_cast<int>(bad);
      }
    }
  }
}

TEST_F(CodecRequestTest, HeaderNamesAreLowerCasedAndValuesTrimmed) {
  feed(
      "GET / HTTP/1.1\r\n"
      "HOST: a\r\n"
      "X-Mixed-Case:   padded value \t \r\n"
      "X-Tab:\tv\t\r\n"
      "X-Empty:\r\n"
      "X-Dup: 1\r\n"
      "x-dup: 2\r\n"
      "\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  const auto& entries = head().headers.entries();
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[0].name, "host");
  EXPECT_EQ(entries[0].value, "a");
  EXPECT_EQ(entries[1].name, "x-mixed-case");
  EXPECT_EQ(entries[1].value, "padded value");
  EXPECT_EQ(entries[2].name, "x-tab");
  EXPECT_EQ(entries[2].value, "v");
  EXPECT_EQ(entries[3].name, "x-empty");
  EXPECT_EQ(entries[3].value, "");
  EXPECT_EQ(entries[4].name, "x-dup");
  EXPECT_EQ(entries[4].value, "1");
  EXPECT_EQ(entries[5].name, "x-dup");
  EXPECT_EQ(entries[5].value, "2");
}

TEST_F(CodecRequestTest, ObsTextInValueIsAllowed) {
  feed("GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xc3\xa9\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(*head().headers.get("x-latin"), "caf\xc3\xa9");
}

TEST_F(CodecRequestTest, ContentLengthBodyInOneRead) {
  feed("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(rec_.head_end_stream[0]);
  EXPECT_EQ(head().method, "POST");
  EXPECT_EQ(head().content_length, 5);
  EXPECT_EQ(rec_.body, "hello");
  EXPECT_TRUE(rec_.ended);
  EXPECT_TRUE(parser_->messageComplete());
}

TEST_F(CodecRequestTest, ZeroContentLengthEndsOnHeaders) {
  feed("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_TRUE(rec_.head_end_stream[0]);
  EXPECT_EQ(head().content_length, 0);
  EXPECT_EQ(rec_.body_calls, 0);
}

TEST_F(CodecRequestTest, ContentLengthBodyArrivingByteByByte) {
  const std::string body = "the quick brown fox";
  feed("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(rec_.head_end_stream[0]);
  EXPECT_FALSE(parser_->messageComplete());
  EXPECT_TRUE(parser_->messageInProgress());
  for (size_t i = 0; i < body.size(); ++i) {
    SCOPED_TRACE(i);
    feed(body.substr(i, 1));
    EXPECT_EQ(rec_.body, body.substr(0, i + 1));
    EXPECT_EQ(rec_.ended, i + 1 == body.size());
  }
  EXPECT_EQ(rec_.body_calls, static_cast<int>(body.size()));
  EXPECT_TRUE(parser_->messageComplete());
  EXPECT_EQ(rec_.error_calls, 0);
}

TEST_F(CodecRequestTest, HeadSplitAtEveryBytePosition) {
  const std::string msg =
      "POST /some/path?x=y HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "X-Long-Header: a value with spaces\r\n"
      "Content-Length: 5\r\n"
      "\r\n"
      "hello";
  for (size_t split = 1; split < msg.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    makeParser();
    Buffer in;
    in.add(std::string_view(msg).substr(0, split));
    parser_->dispatch(in);
    in.add(std::string_view(msg).substr(split));
    parser_->dispatch(in);
    ASSERT_EQ(rec_.error_calls, 0) << rec_.error->detail;
    ASSERT_EQ(rec_.heads.size(), 1u);
    EXPECT_EQ(head().method, "POST");
    EXPECT_EQ(head().path, "/some/path?x=y");
    EXPECT_EQ(*head().headers.get("host"), "example.com");
    EXPECT_EQ(*head().headers.get("x-long-header"), "a value with spaces");
    EXPECT_EQ(head().content_length, 5);
    EXPECT_EQ(rec_.body, "hello");
    EXPECT_TRUE(rec_.ended);
    EXPECT_TRUE(in.empty());
  }
}

TEST_F(CodecRequestTest, WholeRequestFedOneByteAtATime) {
  const std::string msg =
      "PUT /x HTTP/1.1\r\nHost: h\r\nX-Value: several words here\r\nContent-Length: 3\r\n\r\nabc";
  for (char c : msg) feed(std::string_view(&c, 1));
  ASSERT_EQ(rec_.error_calls, 0) << rec_.error->detail;
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(*head().headers.get("x-value"), "several words here");
  EXPECT_EQ(rec_.body, "abc");
  EXPECT_TRUE(rec_.ended);
}

TEST_F(CodecRequestTest, ChunkedBody) {
  feed(
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n"
      "7;ext=1\r\n, world\r\n"
      "0\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(rec_.head_end_stream[0]);
  EXPECT_TRUE(head().chunked);
  EXPECT_EQ(head().content_length, -1);
  EXPECT_EQ(rec_.body, "hello, world");
  EXPECT_TRUE(rec_.ended);
  EXPECT_TRUE(parser_->messageComplete());
}

TEST_F(CodecRequestTest, ChunkedBodyAcrossReads) {
  feed("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(rec_.head_end_stream[0]);
  feed("3\r\nab");
  EXPECT_EQ(rec_.body, "ab");
  EXPECT_FALSE(rec_.ended);
  feed("c\r\n");
  feed("0\r\n");
  EXPECT_EQ(rec_.body, "abc");
  EXPECT_FALSE(rec_.ended);
  feed("\r\n");
  EXPECT_TRUE(rec_.ended);
  EXPECT_EQ(rec_.body, "abc");
  EXPECT_EQ(rec_.error_calls, 0);
}

TEST_F(CodecRequestTest, ChunkedRequestSplitAtEveryBytePosition) {
  const std::string msg =
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nwxyz\r\n2\r\n!!\r\n0\r\n\r\n";
  for (size_t split = 1; split < msg.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    makeParser();
    Buffer in;
    in.add(std::string_view(msg).substr(0, split));
    parser_->dispatch(in);
    in.add(std::string_view(msg).substr(split));
    parser_->dispatch(in);
    ASSERT_EQ(rec_.error_calls, 0) << rec_.error->detail;
    ASSERT_EQ(rec_.heads.size(), 1u);
    EXPECT_EQ(rec_.body, "wxyz!!");
    EXPECT_TRUE(rec_.ended);
  }
}

TEST_F(CodecRequestTest, PipelinedRequestsParseOneAtATime) {
  feed(
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
      "GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(head(0).path, "/a");
  EXPECT_TRUE(parser_->messageComplete());
  EXPECT_FALSE(input_.empty());

  // Paused: dispatching again without resuming parses nothing more.
  parser_->dispatch(input_);
  EXPECT_EQ(rec_.heads.size(), 1u);

  parser_->resumeNextMessage();
  EXPECT_TRUE(parser_->idle());
  parser_->dispatch(input_);
  ASSERT_EQ(rec_.heads.size(), 2u);
  EXPECT_EQ(head(1).path, "/b");
  EXPECT_FALSE(rec_.head_end_stream[1]);
  EXPECT_EQ(rec_.body, "hi");
  EXPECT_TRUE(parser_->messageComplete());

  parser_->resumeNextMessage();
  parser_->dispatch(input_);
  ASSERT_EQ(rec_.heads.size(), 3u);
  EXPECT_EQ(head(2).path, "/c");
  EXPECT_TRUE(rec_.head_end_stream[2]);
  EXPECT_TRUE(input_.empty());
  EXPECT_EQ(rec_.error_calls, 0);
}

TEST_F(CodecRequestTest, KeepAliveDetection) {
  struct Case {
    std::string request;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.request);
    EXPECT_EQ(statusOf(c.request), 0);
    ASSERT_EQ(rec_.heads.size(), 1u);
    EXPECT_EQ(head().keep_alive, c.keep_alive);
  }
}

TEST_F(CodecRequestTest, Http10WithoutHostIsAccepted) {
  EXPECT_EQ(statusOf("GET / HTTP/1.0\r\n\r\n"), 0);
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(head().http_minor, 0);
}

TEST_F(CodecRequestTest, MissingHostInHttp11Is400) {
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, DuplicateHostIs400) {
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
}

TEST_F(CodecRequestTest, ContentLengthWithTransferEncodingIs400) {
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            400);
  EXPECT_TRUE(rec_.heads.empty());
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            400);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, TwoContentLengthsAre400) {
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     "Content-Length: 5\r\n\r\nhello"),
            400);
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     "Content-Length: 6\r\n\r\nhello!"),
            400);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, TransferEncodingNotEndingInChunkedIs400) {
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            400);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, TransferEncodingOtherThanChunkedIs501) {
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                     "0\r\n\r\n"),
            501);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, TransferEncodingChunkedIsCaseInsensitive) {
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                     "1\r\nx\r\n0\r\n\r\n"),
            0);
  EXPECT_EQ(rec_.body, "x");
}

TEST_F(CodecRequestTest, TransferEncodingInHttp10Is400) {
  EXPECT_EQ(statusOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
}

TEST_F(CodecRequestTest, InvalidHeaderNameByteIs400) {
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Bad(name): v\r\n\r\n"), 400);
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Bad\x01name: v\r\n\r\n"), 400);
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Bad\"name: v\r\n\r\n"), 400);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, ControlByteInValueIs400) {
  EXPECT_EQ(statusOf(std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01z\r\n\r\n")), 400);
  EXPECT_EQ(statusOf(std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fz\r\n\r\n")), 400);
  static constexpr char kNul[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0z\r\n\r\n";
  EXPECT_EQ(statusOf(std::string_view(kNul, sizeof(kNul) - 1)), 400);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, SpaceBeforeColonIs400) {
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n"), 400);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, ObsFoldIs400) {
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: first\r\n second\r\n\r\n"), 400);
  EXPECT_TRUE(rec_.heads.empty());
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: first\r\n\tsecond\r\n\r\n"), 400);
  EXPECT_TRUE(rec_.heads.empty());
}

// RFC 9112 section 5.2: obs-fold = OWS CRLF RWS, so a fold that follows an empty first line is
// still a fold.
TEST_F(CodecRequestTest, ObsFoldAfterEmptyFirstLineIs400) {
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Fold:\r\n second\r\n\r\n"), 400);
  EXPECT_TRUE(rec_.heads.empty());
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: \r\n second\r\n\r\n"), 400);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, ObsFoldSplitAcrossTwoReadsAtEveryPositionIs400) {
  const std::string msg = "GET / HTTP/1.1\r\nHost: a\r\nX-Fold: first\r\n second\r\nX-B: c\r\n\r\n";
  for (size_t split = 1; split < msg.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    makeParser();
    Buffer in;
    in.add(std::string_view(msg).substr(0, split));
    parser_->dispatch(in);
    if (rec_.error_calls == 0) {
      in.add(std::string_view(msg).substr(split));
      parser_->dispatch(in);
    }
    EXPECT_EQ(rec_.error_calls, 1);
    EXPECT_EQ(rec_.status(), 400);
    EXPECT_TRUE(rec_.heads.empty());
  }
}

TEST_F(CodecRequestTest, ObsFoldSplitAcrossThreeReadsAtEveryPositionIs400) {
  const std::string msg = "GET / HTTP/1.1\r\nHost: a\r\nX-Fold: first\r\n second\r\n\r\n";
  const size_t fold_start = msg.find("first");
  for (size_t i = fold_start; i < msg.size(); ++i) {
    for (size_t j = i + 1; j < msg.size(); ++j) {
      SCOPED_TRACE("splits at " + std::to_string(i) + ", " + std::to_string(j));
      makeParser();
      Buffer in;
      for (auto piece : {std::string_view(msg).substr(0, i), std::string_view(msg).substr(i, j - i),
                         std::string_view(msg).substr(j)}) {
        if (rec_.error_calls > 0) break;
        in.add(piece);
        parser_->dispatch(in);
      }
      EXPECT_EQ(rec_.status(), 400);
      EXPECT_TRUE(rec_.heads.empty());
    }
  }
}

TEST_F(CodecRequestTest, ObsFoldFedOneByteAtATimeIs400) {
  const std::string msg = "GET / HTTP/1.1\r\nHost: a\r\nX-Fold: first\r\n second\r\n\r\n";
  for (char c : msg) {
    feed(std::string_view(&c, 1));
    if (rec_.error_calls > 0) break;
  }
  EXPECT_EQ(rec_.status(), 400);
  EXPECT_TRUE(rec_.heads.empty());
}

// The control for the fold tests: the same value without a fold, split anywhere, is accepted.
TEST_F(CodecRequestTest, ValueSplitAcrossTwoReadsAtEveryPositionIsAccepted) {
  const std::string msg = "GET / HTTP/1.1\r\nHost: a\r\nX-Fold: first second\r\nX-B: c\r\n\r\n";
  for (size_t split = 1; split < msg.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    makeParser();
    Buffer in;
    in.add(std::string_view(msg).substr(0, split));
    parser_->dispatch(in);
    in.add(std::string_view(msg).substr(split));
    parser_->dispatch(in);
    ASSERT_EQ(rec_.error_calls, 0) << rec_.error->detail;
    ASSERT_EQ(rec_.heads.size(), 1u);
    EXPECT_EQ(*head().headers.get("x-fold"), "first second");
    EXPECT_EQ(*head().headers.get("x-b"), "c");
  }
}

TEST_F(CodecRequestTest, HeadOverTheLimitIs431) {
  CodecLimits limits;
  limits.max_headers_bytes = 128;
  EXPECT_EQ(
      statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(200, 'v') + "\r\n\r\n", limits),
      431);
  EXPECT_TRUE(rec_.heads.empty());
  EXPECT_EQ(statusOf("GET /" + std::string(200, 'p') + " HTTP/1.1\r\nHost: a\r\n\r\n", limits),
            431);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 20; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(statusOf(many + "\r\n", limits), 431);
  // Just under the limit is fine.
  EXPECT_EQ(statusOf("GET / HTTP/1.1\r\nHost: a\r\nX-Small: " + std::string(50, 'v') + "\r\n\r\n",
                     limits),
            0);
}

TEST_F(CodecRequestTest, HeadOverTheLimitArrivingInPiecesIs431) {
  CodecLimits limits;
  limits.max_headers_bytes = 128;
  makeParser(limits);
  feed("GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
  EXPECT_EQ(rec_.error_calls, 0);
  for (int i = 0; i < 20 && rec_.error_calls == 0; ++i) feed(std::string(10, 'v'));
  EXPECT_EQ(rec_.status(), 431);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, DeclaredBodyOverTheLimitIs413) {
  CodecLimits limits;
  limits.max_body_bytes = 10;
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits), 413);
  EXPECT_TRUE(rec_.heads.empty());
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits),
            0);
  EXPECT_EQ(rec_.body, "0123456789");
}

TEST_F(CodecRequestTest, ChunkedBodyGrowingPastTheLimitIs413) {
  CodecLimits limits;
  limits.max_body_bytes = 10;
  makeParser(limits);
  feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  feed("5\r\nhello\r\n");
  EXPECT_EQ(rec_.error_calls, 0);
  EXPECT_EQ(rec_.body, "hello");
  feed("6\r\nworld!\r\n");
  EXPECT_EQ(rec_.status(), 413);
  EXPECT_FALSE(rec_.ended);

  // Exactly at the limit is fine.
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
                     limits),
            0);
  EXPECT_EQ(rec_.body, "helloworld");
}

TEST_F(CodecRequestTest, ExpectOtherThan100ContinueIs417) {
  EXPECT_EQ(statusOf("POST / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n"
                     "Content-Length: 1\r\n\r\nx"),
            417);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, Expect100ContinueSetsFlagAndRemovesHeader) {
  feed("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_TRUE(head().expect_continue);
  EXPECT_EQ(head().headers.get("expect"), nullptr);
  EXPECT_FALSE(rec_.head_end_stream[0]);
  feed("abc");
  EXPECT_EQ(rec_.body, "abc");
  EXPECT_TRUE(rec_.ended);
}

TEST_F(CodecRequestTest, Expect100ContinueIsIgnoredForHttp10) {
  EXPECT_EQ(statusOf("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"), 0);
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(head().expect_continue);
  EXPECT_EQ(head().headers.get("expect"), nullptr);
}

TEST_F(CodecRequestTest, ConnectIs501) {
  EXPECT_EQ(statusOf("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), 501);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecRequestTest, UpgradeIsHandledAsPlainRequest) {
  feed(
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(rec_.error_calls, 0);
  parser_->resumeNextMessage();
  parser_->dispatch(input_);
  ASSERT_EQ(rec_.heads.size(), 2u);
  EXPECT_EQ(head(1).path, "/next");
}

TEST_F(CodecRequestTest, GarbageRequestIs400) {
  EXPECT_EQ(statusOf("\x01\x02garbage\r\n\r\n"), 400);
  EXPECT_EQ(statusOf("GET / HTTP/9.9\r\nHost: a\r\n\r\n"), 400);
}

TEST_F(CodecRequestTest, EofMidRequestIs400) {
  feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_EQ(rec_.heads.size(), 1u);
  parser_->onEof();
  EXPECT_EQ(rec_.status(), 400);
  EXPECT_FALSE(rec_.ended);
}

TEST_F(CodecRequestTest, EofWhenIdleIsQuiet) {
  parser_->onEof();
  EXPECT_EQ(rec_.error_calls, 0);
  feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  parser_->onEof();
  EXPECT_EQ(rec_.error_calls, 0);
}

TEST_F(CodecResponseTest, ContentLengthResponse) {
  feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(rec_.head_end_stream[0]);
  EXPECT_EQ(head().status, 200);
  EXPECT_EQ(head().reason, "OK");
  EXPECT_EQ(head().http_minor, 1);
  EXPECT_EQ(head().content_length, 5);
  EXPECT_TRUE(head().keep_alive);
  EXPECT_EQ(*head().headers.get("content-type"), "text/plain");
  EXPECT_EQ(rec_.body, "hello");
  EXPECT_TRUE(rec_.ended);
  EXPECT_TRUE(parser_->messageComplete());
}

TEST_F(CodecResponseTest, ChunkedResponse) {
  feed("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(head().status, 201);
  EXPECT_TRUE(head().chunked);
  EXPECT_EQ(rec_.body, "abc");
  EXPECT_TRUE(rec_.ended);
}

TEST_F(CodecResponseTest, ResponseSplitAtEveryBytePosition) {
  const std::string msg = "HTTP/1.1 200 Fine\r\nX-A: b c\r\nContent-Length: 4\r\n\r\nbody";
  for (size_t split = 1; split < msg.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    makeParser();
    Buffer in;
    in.add(std::string_view(msg).substr(0, split));
    parser_->dispatch(in);
    in.add(std::string_view(msg).substr(split));
    parser_->dispatch(in);
    ASSERT_EQ(rec_.error_calls, 0) << rec_.error->detail;
    ASSERT_EQ(rec_.heads.size(), 1u);
    EXPECT_EQ(head().status, 200);
    EXPECT_EQ(head().reason, "Fine");
    EXPECT_EQ(*head().headers.get("x-a"), "b c");
    EXPECT_EQ(rec_.body, "body");
    EXPECT_TRUE(rec_.ended);
  }
}

TEST_F(CodecResponseTest, HeadResponseHasNoBodyDespiteContentLength) {
  parser_->setExpectNoBody(true);
  feed("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_TRUE(rec_.head_end_stream[0]);
  EXPECT_EQ(head().content_length, 42);
  EXPECT_TRUE(head().keep_alive);
  EXPECT_EQ(rec_.body_calls, 0);
  EXPECT_TRUE(parser_->messageComplete());

  // The next response on the connection is parsed normally, and expect-no-body is reset.
  parser_->resumeNextMessage();
  parser_->dispatch(input_);
  ASSERT_EQ(rec_.heads.size(), 2u);
  EXPECT_EQ(head(1).status, 204);
  EXPECT_TRUE(input_.empty());
}

TEST_F(CodecResponseTest, NoBodyStatusesIgnoreDeclaredLength) {
  for (int status : {204, 304}) {
    SCOPED_TRACE(status);
    makeParser();
    Buffer in;
    in.add("HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 3\r\n\r\n");
    parser_->dispatch(in);
    ASSERT_EQ(rec_.heads.size(), 1u);
    EXPECT_TRUE(rec_.head_end_stream[0]);
    EXPECT_EQ(head().status, status);
    EXPECT_EQ(rec_.body_calls, 0);
    EXPECT_TRUE(head().keep_alive);
    EXPECT_TRUE(parser_->messageComplete());
  }
}

TEST_F(CodecResponseTest, NoBodyStatusesWithoutLengthAreNotCloseDelimited) {
  feed("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_TRUE(rec_.head_end_stream[0]);
  EXPECT_TRUE(head().keep_alive);
}

TEST_F(CodecResponseTest, InterimContinueIsSkipped) {
  feed(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(head().status, 200);
  EXPECT_EQ(rec_.body, "ok");
  EXPECT_TRUE(rec_.ended);
  EXPECT_EQ(rec_.error_calls, 0);
}

TEST_F(CodecResponseTest, InterimResponsesInSeparateReadsAreSkipped) {
  feed("HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_TRUE(rec_.heads.empty());
  EXPECT_TRUE(parser_->idle());
  feed("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
  EXPECT_TRUE(rec_.heads.empty());
  feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(head().status, 200);
  EXPECT_TRUE(rec_.head_end_stream[0]);
  EXPECT_EQ(head().headers.get("link"), nullptr);
}

TEST_F(CodecResponseTest, InterimResponseKeepsExpectNoBody) {
  parser_->setExpectNoBody(true);
  feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_TRUE(rec_.head_end_stream[0]);
}

TEST_F(CodecResponseTest, CloseDelimitedResponseCompletesOnEof) {
  feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(rec_.head_end_stream[0]);
  EXPECT_FALSE(head().keep_alive);
  EXPECT_EQ(head().content_length, -1);
  EXPECT_EQ(rec_.body, "first ");
  EXPECT_FALSE(rec_.ended);
  feed("second");
  EXPECT_EQ(rec_.body, "first second");
  EXPECT_FALSE(rec_.ended);
  parser_->onEof();
  EXPECT_TRUE(rec_.ended);
  EXPECT_EQ(rec_.body, "first second");
  EXPECT_EQ(rec_.error_calls, 0);
  EXPECT_TRUE(parser_->messageComplete());
}

TEST_F(CodecResponseTest, Http10ResponseKeepAlive) {
  feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(head().keep_alive);
  makeParser();
  input_.drain(input_.length());
  feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(head().keep_alive);
}

TEST_F(CodecResponseTest, TruncatedBodyIs502OnEof) {
  feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_EQ(rec_.body, "hello");
  parser_->onEof();
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_FALSE(rec_.ended);
}

TEST_F(CodecResponseTest, TruncatedChunkedBodyIs502OnEof) {
  feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
  ASSERT_EQ(rec_.heads.size(), 1u);
  parser_->onEof();
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_FALSE(rec_.ended);
}

TEST_F(CodecResponseTest, TruncatedHeadIs502OnEof) {
  feed("HTTP/1.1 200 OK\r\nContent-Le");
  EXPECT_TRUE(rec_.heads.empty());
  parser_->onEof();
  EXPECT_EQ(rec_.status(), 502);
}

TEST_F(CodecResponseTest, GarbageIs502) {
  feed("this is not http\r\n\r\n");
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecResponseTest, SwitchingProtocolsIs502) {
  feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecResponseTest, UnsupportedTransferCodingIs502) {
  feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecResponseTest, ControlByteInResponseHeaderIs502) {
  feed("HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_TRUE(rec_.heads.empty());
}

// The codec's contract (codec.h, CodecError) is 502 for every response it refuses: the status is
// what the proxy answers its client, and a broken upstream is a 502, never a 400 or 431.
// Currently fail: the codec's own checks (commitHeader() and the obs-fold check in
// onHeaderField/onHeaderValue/onHeadersComplete, and the head-size check) call fail(400) and
// fail(431) whatever the kind; only http-parser's own errors are mapped to 502 for responses.
TEST_F(CodecResponseTest, SpaceBeforeColonInResponseIs502) {
  feed("HTTP/1.1 200 OK\r\nX-Bad : v\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecResponseTest, ObsFoldInResponseIs502) {
  feed("HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_TRUE(rec_.heads.empty());
}

TEST_F(CodecResponseTest, ResponseHeadOverTheLimitIs502) {
  CodecLimits limits;
  limits.max_headers_bytes = 128;
  makeParser(limits);
  feed("HTTP/1.1 200 OK\r\nX-Big: " + std::string(200, 'v') + "\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(rec_.status(), 502);
  EXPECT_TRUE(rec_.heads.empty());
}

std::string encoded(const RequestHeaders& h) {
  Buffer out;
  encodeRequestHead(h, out);
  return out.toString();
}

std::string encoded(const ResponseHeaders& h) {
  Buffer out;
  encodeResponseHead(h, out);
  return out.toString();
}

TEST(CodecEncodeTest, HeadsAreAppendedAfterWhatTheBufferHolds) {
  ResponseHeaders h;
  h.status = 204;
  h.headers.add("x-long", std::string(5000, 'v'));
  Buffer out("earlier bytes|");
  encodeResponseHead(h, out);
  EXPECT_EQ(out.toString(), "earlier bytes|HTTP/1.1 204 No Content\r\nx-long: " +
                                std::string(5000, 'v') + "\r\n\r\n");
}

TEST(CodecEncodeTest, RequestHeadExactBytes) {
  RequestHeaders h;
  h.method = "POST";
  h.path = "/a/b?c=d";
  h.http_minor = 0;  // always sent upstream as HTTP/1.1
  h.headers.add("host", "example.com");
  h.headers.add("content-length", "3");
  h.headers.add("x-dup", "1");
  h.headers.add("x-dup", "2");
  EXPECT_EQ(encoded(h),
            "POST /a/b?c=d HTTP/1.1\r\n"
            "host: example.com\r\n"
            "content-length: 3\r\n"
            "x-dup: 1\r\n"
            "x-dup: 2\r\n"
            "\r\n");
}

TEST(CodecEncodeTest, RequestHeadWithoutHeaders) {
  RequestHeaders h;
  h.method = "GET";
  h.path = "/";
  EXPECT_EQ(encoded(h), "GET / HTTP/1.1\r\n\r\n");
}

TEST(CodecEncodeTest, ResponseHeadExactBytes) {
  ResponseHeaders h;
  h.status = 404;
  h.headers.add("content-type", "application/json");
  h.headers.add("content-length", "2");
  EXPECT_EQ(encoded(h),
            "HTTP/1.1 404 Not Found\r\n"
            "content-type: application/json\r\n"
            "content-length: 2\r\n"
            "\r\n");
}

TEST(CodecEncodeTest, ResponseHeadKeepsUpstreamReason) {
  ResponseHeaders h;
  h.status = 200;
  h.reason = "Alright";
  EXPECT_EQ(encoded(h), "HTTP/1.1 200 Alright\r\n\r\n");
}

TEST(CodecEncodeTest, ResponseHeadUnknownStatus) {
  ResponseHeaders h;
  h.status = 299;
  EXPECT_EQ(encoded(h), "HTTP/1.1 299 Unknown\r\n\r\n");
}

TEST(CodecEncodeTest, EncodedResponseParsesBack) {
  ResponseHeaders h;
  h.status = 503;
  h.headers.add("retry-after", "5");
  h.headers.add("content-length", "0");
  Buffer wire;
  encodeResponseHead(h, wire);
  ResponseRecorder rec;
  Http1Parser parser(Http1Parser::Kind::Response, {});
  parser.setResponseCallbacks(&rec);
  parser.dispatch(wire);
  ASSERT_EQ(rec.heads.size(), 1u);
  EXPECT_EQ(rec.heads[0]->status, 503);
  EXPECT_EQ(rec.heads[0]->reason, "Service Unavailable");
  EXPECT_EQ(*rec.heads[0]->headers.get("retry-after"), "5");
}

TEST(CodecEncodeTest, ChunksAndLastChunk) {
  Buffer out;
  Buffer data("hello");
  encodeChunk(data, out);
  EXPECT_TRUE(data.empty());
  Buffer big(std::string(26, 'z'));
  encodeChunk(big, out);
  Buffer empty;
  encodeChunk(empty, out);  // an empty chunk would end the body: nothing is written
  encodeLastChunk(out);
  EXPECT_EQ(out.toString(), "5\r\nhello\r\n1a\r\n" + std::string(26, 'z') + "\r\n0\r\n\r\n");
}

TEST(CodecEncodeTest, EncodedChunksParseBack) {
  Buffer wire("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  Buffer a("abc");
  Buffer b(std::string(300, 'q'));
  encodeChunk(a, wire);
  encodeChunk(b, wire);
  encodeLastChunk(wire);
  RequestRecorder rec;
  Http1Parser parser(Http1Parser::Kind::Request, {});
  parser.setRequestCallbacks(&rec);
  parser.dispatch(wire);
  EXPECT_EQ(rec.error_calls, 0);
  EXPECT_EQ(rec.body, "abc" + std::string(300, 'q'));
  EXPECT_TRUE(rec.ended);
}

TEST(CodecHopByHopTest, RemovesFixedListAndConnectionNamedHeaders) {
  HeaderMap h;
  h.add("host", "a");
  h.add("connection", "keep-alive, X-Private , x-other");
  h.add("keep-alive", "timeout=5");
  h.add("proxy-connection", "keep-alive");
  h.add("te", "trailers");
  h.add("trailer", "x-checksum");
  h.add("transfer-encoding", "chunked");
  h.add("upgrade", "websocket");
  h.add("x-private", "secret");
  h.add("x-other", "1");
  h.add("x-other", "2");
  h.add("x-kept", "yes");
  h.add("connection", "x-second-line");
  h.add("x-second-line", "gone");
  h.add("content-type", "text/plain");
  stripHopByHop(h);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.entries()[0].name, "host");
  EXPECT_EQ(h.entries()[1].name, "x-kept");
  EXPECT_EQ(h.entries()[2].name, "content-type");
}

TEST_F(CodecRequestTest, FlagsHopByHopHeadersForTheStrip) {
  feed("GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(head().hop_by_hop);
  for (const char* name :
       {"Connection", "TE", "Keep-Alive", "Upgrade", "Trailer", "Proxy-Connection"}) {
    makeParser();
    input_.drain(input_.length());
    feed("GET / HTTP/1.1\r\nHost: a\r\n" + std::string(name) + ": x\r\n\r\n");
    ASSERT_EQ(rec_.heads.size(), 1u) << name;
    EXPECT_TRUE(head().hop_by_hop) << name;
  }
}

TEST_F(CodecResponseTest, FlagsHopByHopHeadersOnResponsesToo) {
  feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 1u);
  EXPECT_FALSE(head().hop_by_hop);
  parser_->resumeNextMessage();
  feed("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec_.heads.size(), 2u);
  EXPECT_TRUE(head(1).hop_by_hop);
}

TEST(CodecHopByHopTest, NothingToStrip) {
  HeaderMap h;
  h.add("host", "a");
  h.add("accept", "*/*");
  stripHopByHop(h);
  EXPECT_EQ(h.size(), 2u);
}

}  // namespace
}  // namespace switchyard::http
