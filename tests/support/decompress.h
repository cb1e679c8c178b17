#pragma once

// Decoders for the tests of response compression: whole bodies, checked strictly (a truncated or
// corrupt stream, or bytes after its end, is an error).

#include <optional>
#include <string>
#include <string_view>

namespace switchyard::test {

// The decoded body, or nullopt when `encoded` is not one complete gzip member.
std::optional<std::string> gunzip(std::string_view encoded);
// The decoded body, or nullopt when `encoded` is not one complete brotli stream.
std::optional<std::string> unbrotli(std::string_view encoded);
// By Content-Encoding name: "gzip", "br", or "" / "identity" (returned as it is).
std::optional<std::string> decodeBody(std::string_view coding, std::string_view encoded);

// Decodes a stream that may stop anywhere: what the bytes so far decode to (nullopt if they are
// corrupt). For checking that a flushed prefix is decodable on its own.
std::optional<std::string> gunzipPrefix(std::string_view encoded);
std::optional<std::string> unbrotliPrefix(std::string_view encoded);

}  // namespace switchyard::test
