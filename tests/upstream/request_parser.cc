#include "tests/upstream/request_parser.h"

#include <event2/buffer.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace switchyard::test::upstream {
namespace {

constexpr size_t MaxChunkLineBytes = 4096;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// True if the comma-separated `list` contains `token` (case-insensitive).
bool listContains(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (lower(item) == token) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<uint64_t> parseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string Request::joinedHeader(std::string_view name) const {
  std::string out;
  for (const auto& [n, v] : headers) {
    if (n != name) continue;
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

std::string_view Request::path() const {
  std::string_view t = target;
  if (size_t scheme = t.find("://"); scheme != std::string_view::npos && t.front() != '/') {
    size_t slash = t.find('/', scheme + 3);
    t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
  }
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
  std::string_view t = target;
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

bool Request::keepAlive() const {
  std::string connection = joinedHeader("connection");
  if (listContains(connection, "close")) return false;
  return minor_version >= 1 || listContains(connection, "keep-alive");
}

bool Request::expectsContinue() const {
  auto expect = header("expect");
  return minor_version >= 1 && expect && lower(*expect) == "100-continue";
}

void RequestParser::reset() {
  state_ = State::RequestLine;
  request_ = Request();
  keep_body_ = false;
  head_bytes_ = 0;
  remaining_ = 0;
  error_status_ = 400;
  error_message_.clear();
}

RequestParser::Result RequestParser::fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
  state_ = State::Done;
  return Result::Error;
}

std::optional<std::string> RequestParser::readLine(evbuffer* input, bool& error) {
  const bool in_head =
      state_ == State::RequestLine || state_ == State::Headers || state_ == State::Trailers;
  const size_t limit =
      in_head ? MaxHeadBytes - std::min(head_bytes_, MaxHeadBytes) : MaxChunkLineBytes;
  size_t eol_len = 0;
  evbuffer_ptr eol = evbuffer_search_eol(input, nullptr, &eol_len, EVBUFFER_EOL_LF);
  if (eol.pos < 0) {
    if (evbuffer_get_length(input) > limit) error = true;
    return std::nullopt;
  }
  size_t len = static_cast<size_t>(eol.pos);
  if (len + eol_len > limit) {
    error = true;
    return std::nullopt;
  }
  std::string line(len, '\0');
  evbuffer_remove(input, line.data(), len);
  evbuffer_drain(input, eol_len);
  if (in_head) head_bytes_ += len + eol_len;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

bool RequestParser::parseRequestLine(const std::string& line) {
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return false;
  std::string_view method(line.data(), sp1);
  std::string_view target(line.data() + sp1 + 1, sp2 - sp1 - 1);
  std::string_view version(line.data() + sp2 + 1, line.size() - sp2 - 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), isTokenChar)) return false;
  if (target.empty() || target.find(' ') != std::string_view::npos) return false;
  if (version == "HTTP/1.1") {
    request_.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    request_.minor_version = 0;
  } else {
    return false;
  }
  request_.method = method;
  request_.target = target;
  return true;
}

bool RequestParser::parseHeaderLine(const std::string& line) {
  size_t colon = line.find(':');
  if (colon == 0 || colon == std::string::npos) return false;
  std::string_view name(line.data(), colon);
  if (!std::all_of(name.begin(), name.end(), isTokenChar)) return false;
  std::string_view value = trim(std::string_view(line).substr(colon + 1));
  request_.headers.emplace_back(lower(name), std::string(value));
  return true;
}

bool RequestParser::finishHead() {
  std::string te = request_.joinedHeader("transfer-encoding");
  if (!te.empty()) {
    std::string_view last = te;
    if (size_t comma = last.rfind(','); comma != std::string_view::npos) {
      last.remove_prefix(comma + 1);
    }
    if (lower(trim(last)) != "chunked") return false;
    request_.chunked = true;
    return true;
  }
  std::optional<uint64_t> length;
  for (const auto& [name, value] : request_.headers) {
    if (name != "content-length") continue;
    auto parsed = parseDecimal(value);
    if (!parsed || (length && *length != *parsed)) return false;
    length = parsed;
  }
  request_.content_length = length.value_or(0);
  return true;
}

void RequestParser::consumeBody(evbuffer* input, uint64_t max) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(max, evbuffer_get_length(input)));
  if (n == 0) return;
  if (keep_body_) {
    size_t old = request_.body.size();
    request_.body.resize(old + n);
    evbuffer_remove(input, request_.body.data() + old, n);
  } else {
    evbuffer_drain(input, n);
  }
  request_.body_bytes += n;
  remaining_ -= n;
}

RequestParser::Result RequestParser::parse(evbuffer* input) {
  // Each iteration consumes input or returns, so the loop ends with the buffer.
  while (true) {
    bool too_long = false;
    switch (state_) {
      case State::RequestLine: {
        auto line = readLine(input, too_long);
        if (too_long) return fail(414, "request line too long");
        if (!line) return Result::NeedMore;
        if (line->empty()) {
          head_bytes_ = 0;  // stray CRLF between requests is allowed
          continue;
        }
        if (!parseRequestLine(*line)) return fail(400, "malformed request line");
        state_ = State::Headers;
        break;
      }
      case State::Headers: {
        auto line = readLine(input, too_long);
        if (too_long) return fail(431, "request head too large");
        if (!line) return Result::NeedMore;
        if (!line->empty()) {
          if (line->front() == ' ' || line->front() == '\t') return fail(400, "obs-fold header");
          if (!parseHeaderLine(*line)) return fail(400, "malformed header line");
          if (request_.headers.size() > MaxHeaders) return fail(431, "too many headers");
          break;
        }
        if (!finishHead()) return fail(400, "bad Content-Length or Transfer-Encoding");
        if (request_.chunked) {
          state_ = State::ChunkSize;
        } else {
          state_ = State::Body;
          remaining_ = request_.content_length;
        }
        return Result::HeadComplete;
      }
      case State::Body:
        if (keep_body_ && request_.content_length > MaxKeptBody) {
          return fail(413, "body too large to keep");
        }
        consumeBody(input, remaining_);
        if (remaining_ > 0) return Result::NeedMore;
        state_ = State::Done;
        return Result::MessageComplete;
      case State::ChunkSize: {
        auto line = readLine(input, too_long);
        if (too_long) return fail(400, "chunk size line too long");
        if (!line) return Result::NeedMore;
        std::string_view size_text = trim(std::string_view(*line).substr(0, line->find(';')));
        uint64_t size = 0;
        auto [ptr, ec] =
            std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
        if (size_text.empty() || size_text.size() > 15 || ec != std::errc() ||
            ptr != size_text.data() + size_text.size()) {
          return fail(400, "bad chunk size");
        }
        if (size == 0) {
          state_ = State::Trailers;
        } else {
          if (keep_body_ && request_.body_bytes + size > MaxKeptBody) {
            return fail(413, "body too large to keep");
          }
          remaining_ = size;
          state_ = State::ChunkData;
        }
        break;
      }
      case State::ChunkData:
        consumeBody(input, remaining_);
        if (remaining_ > 0) return Result::NeedMore;
        state_ = State::ChunkEnd;
        break;
      case State::ChunkEnd: {
        auto line = readLine(input, too_long);
        if (too_long || (line && !line->empty())) return fail(400, "chunk not followed by CRLF");
        if (!line) return Result::NeedMore;
        state_ = State::ChunkSize;
        break;
      }
      case State::Trailers: {
        auto line = readLine(input, too_long);
        if (too_long) return fail(431, "trailers too large");
        if (!line) return Result::NeedMore;
        if (line->empty()) {
          state_ = State::Done;
          return Result::MessageComplete;
        }
        if (line->find(':') == std::string::npos) return fail(400, "malformed trailer");
        break;
      }
      case State::Done:
        return Result::MessageComplete;
    }
  }
}

}  // namespace switchyard::test::upstream
