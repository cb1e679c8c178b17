#include "tests/upstream/behaviour.h"

#include <charconv>
#include <vector>

namespace switchyard::test::upstream {
namespace {

constexpr uint64_t MaxDelayMs = 3600 * 1000;

std::optional<uint64_t> parseNumber(std::string_view s) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return segments;
}

Behaviour badRequest(std::string error) {
  Behaviour b;
  b.kind = Behaviour::Kind::BadRequest;
  b.status = 400;
  b.error = std::move(error);
  return b;
}

// Parses the numeric segment `index` of `segments` into `out`.
bool numberAt(const std::vector<std::string_view>& segments, size_t index, uint64_t& out) {
  if (index >= segments.size()) return false;
  auto value = parseNumber(segments[index]);
  if (!value) return false;
  out = *value;
  return true;
}

Behaviour fromPath(std::string_view path, std::string_view query) {
  using Kind = Behaviour::Kind;
  Behaviour b;
  auto segments = splitPath(path);
  if (segments.empty()) return b;
  std::string_view first = segments[0];
  auto sized = [&](Kind kind) {
    b.kind = kind;
    if (!numberAt(segments, 1, b.bytes)) return badRequest(std::string(path) + ": expected /N");
    return b;
  };

  if (first == "status") {
    uint64_t status = 0;
    if (!numberAt(segments, 1, status) || status < 100 || status > 599) {
      return badRequest("expected /status/NNN with 100 <= NNN <= 599");
    }
    b.kind = Kind::Status;
    b.status = static_cast<int>(status);
  } else if (first == "delay") {
    if (!numberAt(segments, 1, b.delay_ms) || b.delay_ms > MaxDelayMs) {
      return badRequest("expected /delay/MS");
    }
  } else if (first == "bytes") {
    return sized(Kind::Bytes);
  } else if (first == "random-bytes") {
    return sized(Kind::RandomBytes);
  } else if (first == "chunked") {
    return sized(Kind::Chunked);
  } else if (first == "close-delimited") {
    return sized(Kind::CloseDelimited);
  } else if (first == "slow-body") {
    b.kind = Kind::SlowBody;
    if (!numberAt(segments, 1, b.bytes) || !numberAt(segments, 2, b.interval_ms) ||
        b.interval_ms > MaxDelayMs) {
      return badRequest("expected /slow-body/N/MS");
    }
  } else if (first == "garbage") {
    b.kind = Kind::Garbage;
  } else if (first == "bad-header") {
    b.kind = Kind::BadHeader;
  } else if (first == "reset") {
    b.kind = Kind::Reset;
  } else if (first == "hang") {
    b.kind = Kind::Hang;
  } else if (first == "echo") {
    b.kind = Kind::Echo;
  } else if (first == "control") {
    b.kind = Kind::Control;
    b.control_action = segments.size() > 1 ? std::string(segments[1]) : std::string();
    b.query = query;
  }
  return b;
}

}  // namespace

std::optional<std::string_view> queryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

Behaviour selectBehaviour(const Request& request) {
  std::string_view path = request.path();
  std::string_view query = request.query();
  if (auto chosen = request.header("x-test-behavior")) {
    size_t q = chosen->find('?');
    path = chosen->substr(0, q);
    query = q == std::string_view::npos ? std::string_view() : chosen->substr(q + 1);
  }
  Behaviour b = fromPath(path, query);
  if (b.kind == Behaviour::Kind::Control || b.kind == Behaviour::Kind::BadRequest) return b;

  if (auto status_text = request.header("x-test-status")) {
    auto status = parseNumber(*status_text);
    if (!status || *status < 100 || *status > 599) return badRequest("bad X-Test-Status");
    b.kind = Behaviour::Kind::Status;
    b.status = static_cast<int>(*status);
  }
  if (auto delay_text = request.header("x-test-delay-ms")) {
    auto delay = parseNumber(*delay_text);
    if (!delay || *delay > MaxDelayMs) return badRequest("bad X-Test-Delay-Ms");
    b.delay_ms += *delay;
  }
  return b;
}

bool CountedMode::consume() {
  int64_t current = remaining_.load();
  // Bounded by contention: each failed CAS means another thread made progress.
  while (current != 0) {
    if (current < 0) return true;
    if (remaining_.compare_exchange_weak(current, current - 1)) return true;
  }
  return false;
}

void SharedState::setFailPath(std::string_view prefix) {
  std::lock_guard<std::mutex> lock(fail_path_mutex_);
  fail_path_ = prefix;
}

bool SharedState::failApplies(std::string_view path) const {
  std::lock_guard<std::mutex> lock(fail_path_mutex_);
  return path.substr(0, fail_path_.size()) == fail_path_;
}

bool statusAllowsBody(int status) { return status >= 200 && status != 204 && status != 304; }

}  // namespace switchyard::test::upstream
