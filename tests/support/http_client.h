#pragma once

// A blocking HTTP/1.1 client for tests, over a plain loopback socket, so a test controls every
// byte it sends and sees every byte it gets back. Every read takes a timeout; nothing blocks
// forever.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 0;  // 0: no response (connect failed, timeout, malformed); see `reason`
  std::string reason;
  std::string version;  // "HTTP/1.1"
  Headers headers;      // names lower-cased, values trimmed, in order, duplicates kept
  std::string body;     // decoded when chunked
  bool chunked = false;
  Headers trailers;      // of a chunked body; names lower-cased
  std::string raw_head;  // status line and headers exactly as received, final CRLF included

  // First value of `name` (any case), if present.
  std::optional<std::string> header(std::string_view name) const;
  // Every value of `name` (any case), in order.
  std::vector<std::string> headerValues(std::string_view name) const;
};

class RawConnection {
 public:
  RawConnection() = default;
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Connects to 127.0.0.1:`port`; closes any previous connection first.
  bool connect(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool connected() const { return fd_ >= 0; }
  // Sends all of `bytes`; false on error (e.g. the peer reset the connection).
  bool send(std::string_view bytes);
  // Reads one response. A 1xx interim response is returned on its own; call again for the
  // final one. Bytes after the response stay buffered for the next call. `head_request` means
  // the response has no body whatever its headers say. Bodies are framed by chunked encoding,
  // Content-Length, or else by the peer closing. nullopt on timeout, early close or malformed
  // response; error() says which.
  std::optional<Response> readResponse(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                       bool head_request = false);
  // Everything buffered plus whatever arrives until the peer closes or `timeout` passes.
  std::string readAll(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the peer closes (FIN or RST) within `timeout`. Data that arrives meanwhile is kept
  // for later reads.
  bool closedByPeer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the peer reset the connection (ECONNRESET seen on a read or a send).
  bool wasReset() const { return reset_; }
  // Half-closes: sends FIN, keeps reading.
  void shutdownWrite();
  void close();
  int fd() const { return fd_; }
  const std::string& error() const { return error_; }
  // Bytes received but not yet consumed by a read.
  const std::string& buffered() const { return buffer_; }

 private:
  enum class Fill { Data, Eof, Timeout, Error };
  Fill fill(std::chrono::steady_clock::time_point deadline);
  std::optional<Response> fail(std::string message);

  int fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
  bool reset_ = false;
  std::string error_;
};

// "METHOD path HTTP/1.1" plus `headers`, plus "Host: 127.0.0.1" unless given, plus
// Content-Length when `body` is non-empty and neither Content-Length nor Transfer-Encoding is
// given, then the body.
std::string buildRequest(std::string_view method, std::string_view path,
                         const Headers& headers = {}, std::string_view body = {});

// Opens a connection, sends one keep-alive request, reads the final response (skipping 1xx),
// closes. On failure the Response has status 0 and the reason in `reason`.
Response httpRequest(uint16_t port, std::string_view method, std::string_view path,
                     const Headers& headers = {}, std::string_view body = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
Response httpGet(uint16_t port, std::string_view path, const Headers& headers = {},
                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace switchyard::test
