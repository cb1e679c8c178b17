#pragma once

#include <http_parser.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http/buffer.h"
#include "proxy/http/headers.h"

namespace switchyard::http {

// Why the codec refused a message, and the status a server answers with.
struct CodecError {
  int status;  // 400, 413, 431, 501 for requests; 502 for responses
  std::string detail;
};

struct CodecLimits {
  uint64_t max_headers_bytes = 60 * 1024;
  uint64_t max_body_bytes = UINT64_MAX;
};

// Receives one parsed message at a time. Called from dispatch() outside http-parser's own
// callbacks, so a callee may reset the codec or close the connection: after such a call it sets
// the codec's stop flag (stop()) and dispatch() returns at once.
class MessageCallbacks {
 public:
  virtual ~MessageCallbacks() = default;
  virtual void onBody(Buffer& data, bool end_stream) = 0;
  virtual void onCodecError(const CodecError& error) = 0;
};

class RequestCallbacks : public MessageCallbacks {
 public:
  virtual void onRequestHeaders(RequestHeadersPtr headers, bool end_stream) = 0;
};

class ResponseCallbacks : public MessageCallbacks {
 public:
  virtual void onResponseHeaders(ResponseHeadersPtr headers, bool end_stream) = 0;
};

// Strict HTTP/1.1 message parser over http-parser, shared by both directions. After a complete
// message it pauses, so pipelined requests are handled one at a time: the owner calls
// resumeNextMessage() once the current exchange is done, then dispatch() again.
//
// Strictness beyond http-parser's own: header names must be tokens (no space before the colon),
// values must not contain control bytes, obs-fold is rejected, Transfer-Encoding must be exactly
// "chunked", the head is limited in size and the body in length.
class Http1Parser {
 public:
  enum class Kind { Request, Response };
  Http1Parser(Kind kind, CodecLimits limits);
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  void setRequestCallbacks(RequestCallbacks* cb) { request_cb_ = cb; }
  void setResponseCallbacks(ResponseCallbacks* cb) { response_cb_ = cb; }

  // Consumes bytes from `input` until it is empty, a message completes, or an error occurs.
  void dispatch(Buffer& input);
  // The peer closed its side: completes a close-delimited body, or reports a truncated message.
  void onEof();
  // Allows the next pipelined/keep-alive message to be parsed.
  void resumeNextMessage();
  // Stops the current dispatch() (the owner reset or closed the connection).
  void stop() { stopped_ = true; }

  // For responses: the request was HEAD, so the response has no body whatever it declares.
  void setExpectNoBody(bool no_body) { expect_no_body_ = no_body; }

  bool messageInProgress() const { return started_ && !complete_; }
  bool messageComplete() const { return complete_; }
  bool idle() const { return !started_; }

 private:
  static const http_parser_settings& settings();
  static int onMessageBegin(http_parser* p) noexcept;
  static int onUrl(http_parser* p, const char* at, size_t len) noexcept;
  static int onStatus(http_parser* p, const char* at, size_t len) noexcept;
  static int onHeaderField(http_parser* p, const char* at, size_t len) noexcept;
  static int onHeaderValue(http_parser* p, const char* at, size_t len) noexcept;
  static int onHeadersComplete(http_parser* p) noexcept;
  static int onBodyCb(http_parser* p, const char* at, size_t len) noexcept;
  static int onMessageComplete(http_parser* p) noexcept;

  int fail(int status, std::string detail);
  bool commitHeader();
  void noteHeader(std::string_view name);
  int headersComplete();
  void deliverHead();
  void deliverBody(bool end_stream);
  void deliverBody(Buffer& data, bool end_stream);
  void reset();

  Kind kind_;
  CodecLimits limits_;
  http_parser parser_;
  RequestCallbacks* request_cb_ = nullptr;
  ResponseCallbacks* response_cb_ = nullptr;

  // Per message.
  std::string_view field_name_;  // the current header's name, in the head's arena
  bool in_field_ = false;        // a name is being received
  bool name_invalid_ = false;    // a byte of the current name is not a tchar
  bool in_value_ = false;
  RequestHeadersPtr request_;
  ResponseHeadersPtr response_;
  HeaderMap* headers_ = nullptr;
  bool* hop_by_hop_ = nullptr;  // the head's hop_by_hop flag
  int hosts_ = 0;               // Host headers seen (counted up to 2)
  bool seen_expect_ = false;
  bool seen_transfer_encoding_ = false;
  uint64_t head_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  int64_t remaining_ = -1;  // Content-Length body bytes still to come, handled outside the parser
  bool started_ = false;
  bool head_ready_ = false;
  bool head_delivered_ = false;
  bool complete_ = false;
  bool expect_no_body_ = false;
  bool close_delimited_ = false;
  bool pending_error_ = false;
  bool stopped_ = false;
  CodecError error_{0, {}};
  Buffer body_;
  bool end_delivered_ = false;
  bool skip_lf_ = false;
  // Where header values start and end, to tell obs-fold from a value split across reads.
  const char* chunk_start_ = nullptr;
  const char* prev_chunk_end_ = nullptr;
  char prev_chunk_last_nonws_ = 0;
  const char* last_value_end_ = nullptr;
  uint64_t chunk_seq_ = 0;
  uint64_t last_value_chunk_ = 0;
};

// Serialisation of heads and bodies onto a connection's output buffer.
// Appends the head to `out`.
void encodeRequestHead(const RequestHeaders& headers, Buffer& out);
void encodeResponseHead(const ResponseHeaders& headers, Buffer& out);
void encodeChunk(Buffer& data, Buffer& out);
void encodeLastChunk(Buffer& out);

// Removes the hop-by-hop headers of RFC 9110 section 7.6.1 and any header named in Connection.
// A header named in Connection is hop-by-hop only with a Connection header, which is fixed
// hop-by-hop itself: a parsed head whose hop_by_hop flag is false has nothing to remove.
void stripHopByHop(HeaderMap& headers);

}  // namespace switchyard::http
