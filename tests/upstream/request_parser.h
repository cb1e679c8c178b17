#pragma once

// Incremental HTTP/1.1 request parser for the test upstream. It reads straight from a libevent
// input buffer and consumes exactly the bytes of one request, so pipelined requests stay in the
// buffer for the next call. Deliberately strict enough to reject what a real server rejects
// (bad request line, obs-fold, bad Content-Length, bad chunk sizes) and nothing more.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct evbuffer;

namespace switchyard::test::upstream {

struct Request {
  std::string method;
  std::string target;  // as sent, query included
  int minor_version = 1;
  // Names lower-cased, values trimmed; order and duplicates preserved.
  std::vector<std::pair<std::string, std::string>> headers;
  bool chunked = false;
  uint64_t content_length = 0;
  uint64_t body_bytes = 0;  // bytes of body received (decoded when chunked)
  std::string body;         // only filled when the caller asked to keep the body

  // First value of `name` (lower-case), if present.
  std::optional<std::string_view> header(std::string_view name) const;
  // All values of `name` joined with ", ".
  std::string joinedHeader(std::string_view name) const;
  // Path without the query string (absolute-form targets are reduced to their path).
  std::string_view path() const;
  std::string_view query() const;
  bool keepAlive() const;
  bool expectsContinue() const;
  bool hasBody() const { return chunked || content_length > 0; }
};

class RequestParser {
 public:
  enum class Result {
    NeedMore,         // everything available was consumed; call again when more arrives
    HeadComplete,     // request line and headers are in request(); call again for the body
    MessageComplete,  // the whole request is in request(); call reset() before the next one
    Error,            // malformed; errorStatus() is the status to answer with, then close
  };

  static constexpr size_t MaxHeadBytes = 64 * 1024;
  static constexpr size_t MaxHeaders = 200;
  static constexpr uint64_t MaxKeptBody = 64ull * 1024 * 1024;

  Result parse(evbuffer* input);
  void reset();

  // Must be called between HeadComplete and the next parse() to keep the body bytes.
  void keepBody(bool keep) { keep_body_ = keep; }
  const Request& request() const { return request_; }
  Request& request() { return request_; }
  int errorStatus() const { return error_status_; }
  const std::string& errorMessage() const { return error_message_; }
  // True when some bytes of a request have been consumed but it is not complete.
  bool inProgress() const { return state_ != State::RequestLine || head_bytes_ > 0; }

 private:
  enum class State { RequestLine, Headers, Body, ChunkSize, ChunkData, ChunkEnd, Trailers, Done };

  // Reads one line (CRLF or bare LF); nullopt when no full line is buffered yet. Sets an error
  // when the line would make the head too large.
  std::optional<std::string> readLine(evbuffer* input, bool& error);
  bool parseRequestLine(const std::string& line);
  bool parseHeaderLine(const std::string& line);
  bool finishHead();
  void consumeBody(evbuffer* input, uint64_t max);
  Result fail(int status, std::string message);

  State state_ = State::RequestLine;
  Request request_;
  bool keep_body_ = false;
  size_t head_bytes_ = 0;
  uint64_t remaining_ = 0;  // of Content-Length body or of the current chunk
  int error_status_ = 400;
  std::string error_message_;
};

}  // namespace switchyard::test::upstream
