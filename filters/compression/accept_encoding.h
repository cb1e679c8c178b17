#pragma once

// Content codings the compression filter produces, and the choice among them for one request by
// its Accept-Encoding field (RFC 9110 section 12.5.3). Pure functions of their inputs; the field
// values come straight from the client, so every byte sequence is handled (a fuzz target checks
// it: tests/fuzz/accept_encoding_fuzz.cc).

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "proxy/http/headers.h"

namespace switchyard::filters::compression {

enum class Coding : uint8_t { Brotli, Gzip };
inline constexpr size_t CodingCount = 2;

// "br", "gzip": the names in Content-Encoding, the configuration and metric labels.
std::string_view codingName(Coding coding);
// The coding named `name` (as in the configuration: lower-case "br" or "gzip"), or nullopt.
std::optional<Coding> codingFromName(std::string_view name);

// What one request's Accept-Encoding says, as weights in thousandths (q=0.5 is 500); -1 where the
// field does not name the coding. Elements that do not parse (a bad q-value) are skipped; a coding
// named twice keeps its first weight; "x-gzip" is "gzip" (RFC 9110 section 8.4.1.3).
struct AcceptedCodings {
  bool present = false;  // the request has the field (an empty one included)
  int16_t brotli = -1;
  int16_t gzip = -1;
  int16_t identity = -1;
  int16_t star = -1;  // "*": every coding not named
};
// Parses every Accept-Encoding line of `headers`, in order, as one list.
AcceptedCodings parseAcceptEncoding(const http::HeaderMap& headers);
// Parses one field value into `out` (elements already seen keep their weight).
void parseAcceptEncodingValue(std::string_view value, AcceptedCodings& out);

// The coding to send among `offered` (in the server's order of preference), or nullopt for the
// identity (no coding):
//   - no Accept-Encoding field: identity (RFC 9110 allows any coding then, but clients that
//     send none are the ones that cannot decode);
//   - each offered coding weighs its own q, else the q of "*", else 0 (not acceptable); the
//     heaviest above 0 wins, ties going to the earlier offered;
//   - identity wins over it only when the client weighs identity (by name or through "*")
//     strictly heavier.
// When nothing offered is acceptable the answer is the identity even if the client refused it
// (`identity;q=0`): an uncompressed response is what the upstream sent.
std::optional<Coding> chooseCoding(const AcceptedCodings& accepted,
                                   std::span<const Coding> offered);

}  // namespace switchyard::filters::compression
