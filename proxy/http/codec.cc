#include "proxy/http/codec.h"

#include <algorithm>
#include <cstring>

#include "proxy/common/http_token.h"

namespace switchyard::http {
namespace {

// field-vchar / SP / HTAB (obs-text allowed, as every deployed proxy does).
constexpr bool isValueByteSlow(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// Per byte: 0 = not allowed in a name; otherwise the lower-case byte. And the value bytes.
struct ByteTables {
  unsigned char name[256];
  // What foldName() notes per byte of a name: FoldInvalid (not a tchar), FoldUnderscore ('_').
  unsigned char name_flags[256];
  bool value[256];
  constexpr ByteTables() : name(), name_flags(), value() {
    for (int c = 0; c < 256; ++c) {
      const auto u = static_cast<unsigned char>(c);
      name[c] = common::isTchar(static_cast<char>(u))
                    ? static_cast<unsigned char>((u >= 'A' && u <= 'Z') ? u + 32 : u)
                    : 0;
      name_flags[c] = !common::isTchar(static_cast<char>(u)) ? 1 : u == '_' ? 2 : 0;
      value[c] = isValueByteSlow(u);
    }
  }
};
constexpr ByteTables kBytes;

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;

// Eight bytes at a time: a word with no byte below 0x20 and no 0x7f is valid as it is; only
// words with such a byte (a tab, or a real control byte) are checked byte by byte.
bool valueBytesValid(std::string_view v) {
  if (v.size() < 8) {
    // A short value is checked as one word, padded with a byte that is always valid.
    uint64_t w = kOnes * 'a';
    memcpy(&w, v.data(), v.size());
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
    const uint64_t x = w ^ (kOnes * 0x7f);
    if ((below_space | ((x - kOnes) & ~x & kHigh)) == 0) return true;
  }
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    uint64_t w;
    memcpy(&w, v.data() + i, 8);
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
    const uint64_t x = w ^ (kOnes * 0x7f);
    const uint64_t del = (x - kOnes) & ~x & kHigh;
    if ((below_space | del) != 0) {
      for (size_t k = i; k < i + 8; ++k) {
        if (!kBytes.value[static_cast<unsigned char>(v[k])]) return false;
      }
    }
  }
  for (; i < v.size(); ++i) {
    if (!kBytes.value[static_cast<unsigned char>(v[i])]) return false;
  }
  return true;
}

// Per byte of a word whose bytes are all below 0x80: the high bit set where lo <= byte <= hi.
// Each byte's sums stay below 0x100, so no carry crosses into the next byte.
constexpr uint64_t inRange(uint64_t w, unsigned char lo, unsigned char hi) {
  return (w + kOnes * (0x80 - lo)) & ~(w + kOnes * (0x7f - hi)) & kHigh;
}

// Copies a header name folded to lower case; false if a byte is not a tchar. Eight bytes at a
// time while they are letters, digits and '-' (nearly every real name), byte by byte otherwise.
constexpr int FoldInvalid = 1;
constexpr int FoldUnderscore = 2;

// Folds a header name to lower case into `out`; returns FoldInvalid when a byte is not a tchar,
// plus FoldUnderscore when one is '_'.
int foldName(const char* in, size_t len, char* out) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, in + i, 8);
    if ((w & kHigh) == 0) {
      const uint64_t upper = inRange(w, 'A', 'Z');
      const uint64_t x = w ^ (kOnes * '-');
      const uint64_t dash = ~(((x & ~kHigh) + ~kHigh) | x) & kHigh;
      if ((upper | inRange(w, 'a', 'z') | inRange(w, '0', '9') | dash) == kHigh) {
        w |= upper >> 2;  // 0x80 >> 2 is the case bit
        memcpy(out + i, &w, 8);
        continue;
      }
    }
    break;
  }
  // A '_' (and any other byte but letters, digits and '-') leaves the word loop above. One table
  // lookup per byte notes both an invalid byte and a '_'.
  unsigned char flags = 0;
  for (; i < len; ++i) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    out[i] = static_cast<char>(kBytes.name[c]);
    flags |= kBytes.name_flags[c];
  }
  return flags;
}

bool isFixedHopByHop(std::string_view n) {
  switch (n.size()) {
    case 2:
      return n == "te";
    case 7:
      return n == "upgrade" || n == "trailer";
    case 10:
      return n == "connection" || n == "keep-alive";
    case 16:
      return n == "proxy-connection";
    case 17:
      return n == "transfer-encoding";
    default:
      return false;
  }
}

struct ParserSettings {
  http_parser_settings settings;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

#define SY_PARSER(p) static_cast<Http1Parser*>((p)->data)

Http1Parser::Http1Parser(Kind kind, CodecLimits limits) : kind_(kind), limits_(limits) { reset(); }

void Http1Parser::reset() {
  http_parser_init(&parser_, kind_ == Kind::Request ? HTTP_REQUEST : HTTP_RESPONSE);
  parser_.data = this;
  field_name_ = {};
  in_field_ = false;
  name_invalid_ = false;
  in_value_ = false;
  request_.reset();
  response_.reset();
  headers_ = nullptr;
  hop_by_hop_ = nullptr;
  hosts_ = 0;
  seen_expect_ = false;
  seen_transfer_encoding_ = false;
  head_bytes_ = 0;
  body_bytes_ = 0;
  remaining_ = -1;
  started_ = false;
  head_ready_ = false;
  head_delivered_ = false;
  complete_ = false;
  close_delimited_ = false;
  pending_error_ = false;
  end_delivered_ = false;
  skip_lf_ = false;
  chunk_start_ = nullptr;
  prev_chunk_end_ = nullptr;
  prev_chunk_last_nonws_ = 0;
  last_value_end_ = nullptr;
}

void Http1Parser::resumeNextMessage() {
  expect_no_body_ = false;
  reset();
}

int Http1Parser::fail(int status, std::string detail) {
  if (!pending_error_) {
    pending_error_ = true;
    if (kind_ == Kind::Response && status != 502) {
      // Whatever is wrong with a response, the client hears that the upstream misbehaved.
      status = 502;
      detail = "invalid response from upstream (" + detail + ")";
    }
    error_ = {status, std::move(detail)};
  }
  return -1;
}

int Http1Parser::onMessageBegin(http_parser* p) noexcept {
  auto* self = SY_PARSER(p);
  self->started_ = true;
  if (self->kind_ == Kind::Request) {
    self->request_ = makeRequestHeaders();
    self->headers_ = &self->request_->headers;
    self->hop_by_hop_ = &self->request_->hop_by_hop;
  } else {
    self->response_ = makeResponseHeaders();
    self->headers_ = &self->response_->headers;
    self->hop_by_hop_ = &self->response_->hop_by_hop;
  }
  // Room for a typical head plus what the proxy adds, in one allocation.
  self->headers_->reserve(12);
  return 0;
}

int Http1Parser::onUrl(http_parser* p, const char* at, size_t len) noexcept {
  auto* self = SY_PARSER(p);
  self->head_bytes_ += len;
  if (self->head_bytes_ > self->limits_.max_headers_bytes) {
    return self->fail(431, "the message head is larger than the configured limit");
  }
  self->request_->path.append(at, len);
  return 0;
}

int Http1Parser::onStatus(http_parser* p, const char* at, size_t len) noexcept {
  auto* self = SY_PARSER(p);
  self->head_bytes_ += len;
  self->response_->reason.append(at, len);
  return 0;
}

bool Http1Parser::commitHeader() {
  if (in_field_) {  // a name with no value callback
    field_name_ = headers_->takeToken();
    in_field_ = false;
  }
  const std::string_view value = headers_->takeToken();
  if (field_name_.empty()) return true;
  if (name_invalid_ || !valueBytesValid(value)) return false;
  // Both views point into the head's own arena: nothing is copied again.
  // http-parser has already skipped the blanks before the value; only trailing ones remain.
  size_t end = value.size();
  while (end > 0 && (value[end - 1] == ' ' || value[end - 1] == '\t')) --end;
  headers_->addOwned(field_name_, value.substr(0, end));
  noteHeader(field_name_);
  field_name_ = {};
  return true;
}

// Notes the names headersComplete() and the hop-by-hop strip care about, so that neither has to
// search the head for them. The hop-by-hop names are isFixedHopByHop()'s, repeated in the same
// switch on purpose: one dispatch on the length per header (a shared classifier measured 70
// instructions more per request).
void Http1Parser::noteHeader(std::string_view name) {
  switch (name.size()) {
    case 2:
      if (name == "te") *hop_by_hop_ = true;
      break;
    case 4:
      if (name == "host" && hosts_ < 2) ++hosts_;
      break;
    case 6:
      if (name == "expect") seen_expect_ = true;
      break;
    case 7:
      if (name == "upgrade" || name == "trailer") *hop_by_hop_ = true;
      break;
    case 10:
      if (name == "connection" || name == "keep-alive") *hop_by_hop_ = true;
      break;
    case 16:
      if (name == "proxy-connection") *hop_by_hop_ = true;
      break;
    case 17:
      if (name == "transfer-encoding") {
        *hop_by_hop_ = true;
        seen_transfer_encoding_ = true;
      }
      break;
    default:
      break;
  }
}

int Http1Parser::onHeaderField(http_parser* p, const char* at, size_t len) noexcept {
  auto* self = SY_PARSER(p);
  if (self->in_value_) {
    if (!self->commitHeader()) return self->fail(400, "invalid byte in a header name or value");
    self->in_value_ = false;
  }
  self->head_bytes_ += len + 4;
  if (self->head_bytes_ > self->limits_.max_headers_bytes) {
    return self->fail(431, "the message head is larger than the configured limit");
  }
  // Folded to lower case on the way into the head's arena.
  const int folded = foldName(at, len, self->headers_->extendToken(len));
  if ((folded & FoldInvalid) != 0) self->name_invalid_ = true;
  if ((folded & FoldUnderscore) != 0 && self->request_) self->request_->underscore_names = true;
  self->in_field_ = true;
  return 0;
}

int Http1Parser::onHeaderValue(http_parser* p, const char* at, size_t len) noexcept {
  auto* self = SY_PARSER(p);
  if (self->in_value_) {
    // A second value callback for the same field is either the same value split across two
    // reads (it then starts exactly where the last one ended, or at the start of the next read
    // right after a read that ended inside the value), or an obs-fold continuation line
    // (RFC 9112 section 5.2), which we reject.
    const bool contiguous =
        self->last_value_chunk_ == self->chunk_seq_
            ? at == self->last_value_end_
            : (at == self->chunk_start_ && self->last_value_end_ == self->prev_chunk_end_);
    if (!contiguous) return self->fail(400, "obsolete line folding in a header is not allowed");
  }
  // A value that starts on a new line (only whitespace between a line break and it) is a
  // continuation line even when the field's first line was empty. (An empty value is reported
  // with len 0 at the start of the next line: that is not a fold.)
  if (len > 0) {
    const char* q = at;
    while (q > self->chunk_start_ && (q[-1] == ' ' || q[-1] == '\t')) --q;
    const char before = q > self->chunk_start_ ? q[-1] : self->prev_chunk_last_nonws_;
    if (before == '\n') return self->fail(400, "obsolete line folding in a header is not allowed");
  }
  if (self->in_field_) {
    self->field_name_ = self->headers_->takeToken();
    self->in_field_ = false;
  }
  self->in_value_ = true;
  self->last_value_end_ = at + len;
  self->last_value_chunk_ = self->chunk_seq_;
  self->head_bytes_ += len;
  if (self->head_bytes_ > self->limits_.max_headers_bytes) {
    return self->fail(431, "the message head is larger than the configured limit");
  }
  if (len > 0) copyShort(self->headers_->extendToken(len), at, len);
  return 0;
}

int Http1Parser::onHeadersComplete(http_parser* p) noexcept {
  auto* self = SY_PARSER(p);
  if (self->in_value_ || self->in_field_) {
    if (!self->commitHeader()) return self->fail(400, "invalid byte in a header name or value");
    self->in_value_ = false;
  }
  return self->headersComplete();
}

int Http1Parser::headersComplete() {
  HeaderMap& h = *headers_;
  const bool chunked = (parser_.flags & F_CHUNKED) != 0;
  if (seen_transfer_encoding_) {
    std::string joined;
    for (const auto& e : h.entries()) {
      if (e.name != "transfer-encoding") continue;
      if (!joined.empty()) joined += ',';
      joined += e.value;
    }
    if (!equalsIgnoreCase(trim(joined), "chunked")) {
      if (kind_ == Kind::Response) return fail(502, "unsupported transfer coding from upstream");
      const bool ends_chunked = chunked;
      return fail(ends_chunked ? 501 : 400,
                  ends_chunked ? "transfer codings other than chunked are not implemented"
                               : "Transfer-Encoding must end with chunked");
    }
    if (parser_.http_major == 1 && parser_.http_minor == 0 && kind_ == Kind::Request) {
      return fail(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    }
  }
  const bool has_length = (parser_.flags & F_CONTENTLENGTH) != 0;
  const int64_t content_length = has_length ? static_cast<int64_t>(parser_.content_length) : -1;

  if (kind_ == Kind::Request) {
    RequestHeaders& r = *request_;
    if (parser_.method == HTTP_CONNECT) return fail(501, "CONNECT is not supported");
    r.method = http_method_str(static_cast<http_method>(parser_.method));
    r.http_minor = parser_.http_minor;
    if (parser_.http_major != 1) return fail(400, "unsupported HTTP version");
    const int hosts = hosts_;
    if (hosts > 1 || (hosts == 0 && r.http_minor >= 1)) {
      return fail(400, hosts > 1 ? "more than one Host header" : "missing Host header");
    }
    r.content_length = content_length;
    r.chunked = chunked;
    r.keep_alive = http_should_keep_alive(&parser_) != 0;
    if (const std::string_view* expect = seen_expect_ ? h.get("expect") : nullptr) {
      if (!equalsIgnoreCase(*expect, "100-continue")) {
        return fail(417, "only Expect: 100-continue is supported");
      }
      r.expect_continue = r.http_minor >= 1;
      h.remove("expect");
    }
    if (content_length > 0 && static_cast<uint64_t>(content_length) > limits_.max_body_bytes) {
      return fail(413, "the request body is larger than the configured limit");
    }
    // Upgrades (WebSocket, h2c) are not proxied: the request is handled as a plain one.
    parser_.upgrade = 0;
  } else {
    ResponseHeaders& r = *response_;
    r.status = parser_.status_code;
    r.http_minor = parser_.http_minor;
    r.content_length = content_length;
    r.chunked = chunked;
    if (r.status == 101) return fail(502, "upstream switched protocols, which is not supported");
    if (r.status < 100 || r.status > 999) return fail(502, "invalid status code from upstream");
    const bool no_body = expect_no_body_ || r.status < 200 || r.status == 204 || r.status == 304;
    if (r.status >= 200 && !no_body && !chunked && !has_length) {
      close_delimited_ = true;
      r.keep_alive = false;
    } else {
      r.keep_alive = http_should_keep_alive(&parser_) != 0;
    }
    if (no_body) {
      r.content_length = r.status >= 200 ? content_length : -1;
      head_ready_ = true;
      return 1;  // tells http-parser there is no body, whatever the headers say
    }
  }
  head_ready_ = true;
  if (content_length > 0 && !chunked) {
    // Content-Length bodies are moved out of the input buffer directly, without the parser.
    remaining_ = content_length;
    // Pausing inside on_headers_complete leaves the head's final LF unconsumed.
    skip_lf_ = true;
    http_parser_pause(&parser_, 1);
  }
  return 0;
}

int Http1Parser::onBodyCb(http_parser* p, const char* at, size_t len) noexcept {
  auto* self = SY_PARSER(p);
  self->body_bytes_ += len;
  if (self->kind_ == Kind::Request && self->body_bytes_ > self->limits_.max_body_bytes) {
    return self->fail(413, "the request body is larger than the configured limit");
  }
  self->body_.add(std::string_view(at, len));
  return 0;
}

int Http1Parser::onMessageComplete(http_parser* p) noexcept {
  auto* self = SY_PARSER(p);
  self->complete_ = true;
  http_parser_pause(p, 1);
  return 0;
}

const http_parser_settings& Http1Parser::settings() {
  static const http_parser_settings settings = [] {
    http_parser_settings s;
    memset(&s, 0, sizeof(s));
    s.on_message_begin = &Http1Parser::onMessageBegin;
    s.on_url = &Http1Parser::onUrl;
    s.on_status = &Http1Parser::onStatus;
    s.on_header_field = &Http1Parser::onHeaderField;
    s.on_header_value = &Http1Parser::onHeaderValue;
    s.on_headers_complete = &Http1Parser::onHeadersComplete;
    s.on_body = &Http1Parser::onBodyCb;
    s.on_message_complete = &Http1Parser::onMessageComplete;
    return s;
  }();
  return settings;
}

void Http1Parser::dispatch(Buffer& input) {
  stopped_ = false;
  while (!stopped_ && !complete_) {
    if (skip_lf_) {
      if (input.empty()) return;
      char c;
      evbuffer_copyout(input.raw(), &c, 1);
      if (c == '\n') input.drain(1);
      skip_lf_ = false;
    }
    if (remaining_ > 0) {
      const size_t available = input.length();
      const size_t n = std::min<size_t>(remaining_, available);
      if (n == 0) return;
      remaining_ -= static_cast<int64_t>(n);
      body_bytes_ += n;
      if (remaining_ == 0) complete_ = true;
      if (n == available) {
        // Everything read is body: hand it over as it is, without moving it first.
        deliverBody(input, complete_);
      } else {
        body_.move(input, n);
        deliverBody(complete_);
      }
      continue;
    }
    if (input.empty()) return;

    evbuffer_iovec v;
    if (evbuffer_peek(input.raw(), -1, nullptr, &v, 1) < 1) return;
    const char* data = static_cast<const char*>(v.iov_base);
    chunk_start_ = data;
    ++chunk_seq_;
    size_t n = http_parser_execute(&parser_, &settings(), data, v.iov_len);
    if (skip_lf_ && n < v.iov_len) {
      // The head's final LF, left behind by the pause in on_headers_complete, is usually in
      // the same chunk: drained with the rest of the head.
      if (data[n] == '\n') ++n;
      skip_lf_ = false;
    }
    prev_chunk_end_ = data + n;
    for (size_t k = n; k > 0; --k) {
      if (data[k - 1] != ' ' && data[k - 1] != '\t') {
        prev_chunk_last_nonws_ = data[k - 1];
        break;
      }
    }
    input.drain(n);
    const auto err = HTTP_PARSER_ERRNO(&parser_);
    if (pending_error_ || (err != HPE_OK && err != HPE_PAUSED)) {
      if (!pending_error_) {
        int status = kind_ == Kind::Response ? 502 : 400;
        std::string detail = kind_ == Kind::Response ? "invalid HTTP response from upstream: "
                                                     : "malformed request: ";
        if (kind_ == Kind::Request && err == HPE_HEADER_OVERFLOW) {
          status = 431;
          detail = "the message head is larger than the configured limit";
        } else {
          detail += http_errno_description(err);
        }
        fail(status, std::move(detail));
      }
      stopped_ = true;
      CodecError e = error_;
      if (kind_ == Kind::Request) {
        request_cb_->onCodecError(e);
      } else {
        response_cb_->onCodecError(e);
      }
      return;
    }
    if (err == HPE_PAUSED) http_parser_pause(&parser_, 0);
    if (head_ready_ && !head_delivered_) {
      deliverHead();
      if (stopped_) return;
      if (!started_) continue;  // an interim response was dropped
    }
    if (head_delivered_ && !end_delivered_ && (!body_.empty() || complete_)) {
      deliverBody(complete_);
    }
  }
}

void Http1Parser::deliverHead() {
  if (kind_ == Kind::Response && response_->status < 200) {
    // An interim response (100 Continue, 103 Early Hints): nothing to forward, since the proxy
    // answers Expect itself; parse the final response that follows.
    const bool no_body = expect_no_body_;
    reset();
    expect_no_body_ = no_body;
    return;
  }
  head_delivered_ = true;
  // A message with no body at all completes together with its head.
  const bool end_stream = complete_ && body_.empty();
  end_delivered_ = end_stream;
  if (kind_ == Kind::Request) {
    request_cb_->onRequestHeaders(std::move(request_), end_stream);
  } else {
    response_cb_->onResponseHeaders(std::move(response_), end_stream);
  }
}

void Http1Parser::deliverBody(bool end_stream) { deliverBody(body_, end_stream); }

void Http1Parser::deliverBody(Buffer& data, bool end_stream) {
  if (end_delivered_) return;
  end_delivered_ = end_stream;
  if (kind_ == Kind::Request) {
    request_cb_->onBody(data, end_stream);
  } else {
    response_cb_->onBody(data, end_stream);
  }
  if (!data.empty()) data.drain(data.length());
}

void Http1Parser::onEof() {
  if (!started_ || complete_) return;
  if (close_delimited_ && head_delivered_) {
    stopped_ = false;
    // An empty read tells http-parser the body ended with the connection.
    http_parser_execute(&parser_, &settings(), nullptr, 0);
    complete_ = true;
    deliverBody(true);
    return;
  }
  CodecError e{kind_ == Kind::Response ? 502 : 400,
               kind_ == Kind::Response ? "upstream closed the connection before the response ended"
                                       : "client closed the connection mid-request"};
  stopped_ = true;
  if (kind_ == Kind::Request) {
    request_cb_->onCodecError(e);
  } else {
    response_cb_->onCodecError(e);
  }
}

namespace {

// A head is sized first, then written straight into the output buffer's free space: one pass
// over the headers to count, one to copy, no intermediate string.
size_t headersSize(const HeaderMap& headers) {
  size_t n = 2;  // the empty line
  for (const auto& e : headers.entries()) n += e.name.size() + e.value.size() + 4;
  return n;
}

inline char* put(char* p, std::string_view s) {
  copyShort(p, s.data(), s.size());
  return p + s.size();
}

char* putHeaders(char* p, const HeaderMap& headers) {
  for (const auto& e : headers.entries()) {
    p = put(p, e.name);
    *p++ = ':';
    *p++ = ' ';
    p = put(p, e.value);
    *p++ = '\r';
    *p++ = '\n';
  }
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

template <class Write>
void writeHead(Buffer& out, size_t size, Write write) {
  evbuffer_iovec v;
  if (evbuffer_reserve_space(out.raw(), static_cast<ev_ssize_t>(size), &v, 1) < 1) abort();
  char* end = write(static_cast<char*>(v.iov_base));
  v.iov_len = static_cast<size_t>(end - static_cast<char*>(v.iov_base));
  evbuffer_commit_space(out.raw(), &v, 1);
}

}  // namespace

void encodeRequestHead(const RequestHeaders& headers, Buffer& out) {
  const size_t size =
      headers.method.size() + 1 + headers.path.size() + 11 + headersSize(headers.headers);
  writeHead(out, size, [&](char* p) {
    p = put(p, headers.method);
    *p++ = ' ';
    p = put(p, headers.path);
    p = put(p, " HTTP/1.1\r\n");
    return putHeaders(p, headers.headers);
  });
}

void encodeResponseHead(const ResponseHeaders& headers, Buffer& out) {
  const int st = headers.status;
  const std::string_view reason =
      headers.reason.empty() ? std::string_view(reasonPhrase(st)) : headers.reason;
  const size_t size = 13 + reason.size() + 2 + headersSize(headers.headers);
  writeHead(out, size, [&](char* p) {
    p = put(p, "HTTP/1.1 ");
    *p++ = static_cast<char>('0' + st / 100 % 10);
    *p++ = static_cast<char>('0' + st / 10 % 10);
    *p++ = static_cast<char>('0' + st % 10);
    *p++ = ' ';
    p = put(p, reason);
    *p++ = '\r';
    *p++ = '\n';
    return putHeaders(p, headers.headers);
  });
}

void encodeChunk(Buffer& data, Buffer& out) {
  if (data.empty()) return;
  char size[24];
  const int n = snprintf(size, sizeof(size), "%zx\r\n", data.length());
  out.add(std::string_view(size, n));
  out.move(data);
  out.add("\r\n");
}

void encodeLastChunk(Buffer& out) { out.add("0\r\n\r\n"); }

void stripHopByHop(HeaderMap& headers) {
  // Tokens of Connection other than close/keep-alive name more headers to remove (rare).
  std::vector<std::string> named;
  bool any = false;
  for (const auto& e : headers.entries()) {
    if (!isFixedHopByHop(e.name)) continue;
    any = true;
    if (e.name != "connection" || e.value == "keep-alive" || e.value == "close") continue;
    std::string_view list = e.value;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view token = trim(list.substr(0, comma));
      if (!token.empty() && !equalsIgnoreCase(token, "close") &&
          !equalsIgnoreCase(token, "keep-alive")) {
        named.emplace_back(token);
        toLowerInPlace(named.back());
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (!any) return;
  if (named.empty()) {
    headers.removeIf([](const HeaderMap::Entry& e) { return isFixedHopByHop(e.name); });
    return;
  }
  headers.removeIf([&](const HeaderMap::Entry& e) {
    return isFixedHopByHop(e.name) || std::find(named.begin(), named.end(), e.name) != named.end();
  });
}

}  // namespace switchyard::http
