#pragma once

// A minimal blocking HTTP/1.1 client for the background threads that call out: the trace
// exporter (OTLP/HTTP JSON), the rollback steps (webhook, notify) and jwt_authn's JWKS fetches.
// Never used on a worker or the admin thread: every call blocks its thread for at most `timeout`
// (connect, send and the response head together; for httpGet() the whole body). Plain http:// to a
// numeric address or localhost: no DNS lookup can stall it, and no TLS.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::http {

struct HttpUrl {
  std::string host;  // numeric IPv4 or IPv6 (no brackets); "localhost" becomes 127.0.0.1
  uint16_t port = 80;
  std::string path = "/";  // with the query, if any
  std::string text;        // as written
};

// "http://127.0.0.1:8000/deploy/rollback", "http://[::1]:9000/x?y=1", "http://localhost/hook".
// Returns false with `error` set for anything else (https, names to resolve, user info,
// fragments, bad ports).
bool parseHttpUrl(std::string_view text, HttpUrl& out, std::string& error);

struct HttpPostResult {
  int status = 0;         // the response status; 0 when no response head arrived
  std::string error;      // why there is no status (connect refused, timeout, malformed response)
  std::string body;       // the start of the response body (at most 4 KiB for a POST), for the log
  bool complete = false;  // the whole body arrived, within the limit
  bool ok() const { return status >= 200 && status < 300; }
};

// POSTs `body` as application/json with `headers` added and "Connection: close". Waits for the
// response head (and up to 4 KiB of body while the deadline allows); `time` provides the
// deadline's clock. With `abort`, the waits look at it at least every 25 ms and give up once it
// is true ("gave up (shutting down)"), so a shutdown is not held up by a hung peer. Never
// throws.
HttpPostResult httpPostJson(const HttpUrl& url,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            std::string_view body, std::chrono::milliseconds timeout,
                            const common::TimeSource& time,
                            const std::atomic<bool>* abort = nullptr);

// GETs `url` (Accept: application/json), keeping at most `max_body` bytes of the body and waiting
// for all of it within `timeout` (`complete` says whether it came whole). As httpPostJson()
// otherwise: a background thread's call, never on a worker.
HttpPostResult httpGet(const HttpUrl& url, size_t max_body, std::chrono::milliseconds timeout,
                       const common::TimeSource& time, const std::atomic<bool>* abort = nullptr);

// What both of the above do.
HttpPostResult httpRequest(std::string_view method, const HttpUrl& url,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           std::string_view body, size_t max_body,
                           std::chrono::milliseconds timeout, const common::TimeSource& time,
                           const std::atomic<bool>* abort);

}  // namespace switchyard::http
